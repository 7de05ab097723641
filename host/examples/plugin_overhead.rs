//! Measures the plugin boundary: a fresh instance per call, and a no-op
//! transform of the 512x320 frame `make bench` hands plugins and of a 1 MP
//! RGBA image (4 MB in, 4 MB out), and the 512x320 one on every core at once.
//!
//! `make bench-plugins`, or:
//! cargo run --release --example plugin_overhead -- target/wasm/wasm32-wasip2/release/noop.wasm

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kiln::internals::{Metrics, PluginConfig, PluginImage, Plugins};

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    format!(
        "p50 {:>8.3} ms  p99 {:>8.3} ms  (n={})",
        ms(at(0.5)),
        ms(at(0.99)),
        samples.len()
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    // The allocator as `kiln serve` sets it: without it every lifted result
    // is a fresh mapping faulted in page by page (0.38 ms instead of 0.08 ms
    // at 512x320), a cost the server does not pay.
    kiln::keep_image_buffers_out_of_arenas();
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: plugin_overhead NOOP.wasm"))?;
    let cache = tempfile::tempdir()?;
    let mut configs = BTreeMap::new();
    configs.insert(
        "noop".to_owned(),
        PluginConfig {
            path: path.into(),
            memory_mb: 64,
            timeout_ms: 10_000,
            config: toml::Table::new(),
        },
    );
    let started = Instant::now();
    let plugins = Plugins::load(&configs, cache.path(), 8192, std::sync::Arc::new(Metrics::new()))?;
    println!("load and compile: {:.1} ms", ms(started.elapsed()));
    let plugin = plugins.get("noop").ok_or_else(|| anyhow::anyhow!("not loaded"))?;

    let timings = [
        ("instantiate + call, 1x1:     ", 1, 1, 3000),
        // The frame (d) of `make bench` hands the plugin: 2560x1600 fit to 512x512.
        ("no-op transform, 512x320:    ", 512, 320, 2000),
        ("no-op transform, 1000x1000:  ", 1000, 1000, 300),
    ];
    for (label, width, height, calls) in timings {
        let image = PluginImage {
            width,
            height,
            pixels: vec![128; (width * height * 4) as usize],
        };
        let mut samples = Vec::new();
        for call in 0..calls {
            let input = image.clone();
            let started = Instant::now();
            let output = plugin.transform(input, &[])?;
            // The first calls fill the pool and the allocator: left out.
            if call >= calls / 15 {
                samples.push(started.elapsed());
            }
            anyhow::ensure!(
                output.image == image && !output.changed,
                "the no-op plugin changed its input"
            );
        }
        println!("{label} {}", percentiles(samples));
    }

    // The server calls plugins on every core at once, where what one call
    // does to the address space (wasmtime's mprotect of grown memory) costs
    // the others too.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let image = PluginImage {
        width: 512,
        height: 320,
        pixels: vec![128; 512 * 320 * 4],
    };
    let samples = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut samples = Vec::new();
                    for call in 0..2000 {
                        let started = Instant::now();
                        plugin.transform(image.clone(), &[])?;
                        if call >= 100 {
                            samples.push(started.elapsed());
                        }
                    }
                    anyhow::Ok(samples)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().map_err(|_| anyhow::anyhow!("a worker panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    println!(
        "no-op transform, 512x320, on {threads} threads: {}",
        percentiles(samples.concat())
    );

    let megapixel = vec![128u8; 4_000_000];
    let mut samples = Vec::new();
    for _ in 0..300 {
        let started = Instant::now();
        let copy = megapixel.clone();
        let again = copy.clone();
        std::hint::black_box(again);
        samples.push(started.elapsed());
    }
    println!("two plain 4 MB copies:        {}", percentiles(samples));
    Ok(())
}
