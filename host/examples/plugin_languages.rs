//! The price of a plugin by the language it was written in: for each
//! no-op transform given (Rust, Python, JavaScript), the first load (compile
//! with Cranelift), a later load (from the on-disk cache), one call on a
//! 1x1 image (mostly instantiation) and calls on the 512x320 frame `make
//! bench` hands plugins; then what checking URL parameters against a
//! description costs a request.
//!
//! `make bench-plugins`, or:
//! cargo run --release --example plugin_languages -- NOOP.wasm NOOP_PY.wasm NOOP_JS.wasm WATERMARK.wasm

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use kiln::internals::{Metrics, PluginConfig, PluginImage, Plugins};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |p: f64| ms(samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)]);
    (at(0.5), at(0.99))
}

fn load(path: &Path, cache: &Path) -> anyhow::Result<(Plugins, Duration)> {
    let configs = BTreeMap::from([(
        "plugin".to_owned(),
        PluginConfig {
            path: path.into(),
            memory_mb: 256,
            timeout_ms: 60_000,
            config: toml::Table::new(),
        },
    )]);
    let started = Instant::now();
    let plugins = Plugins::load(&configs, cache, 8192, std::sync::Arc::new(Metrics::new()))?;
    Ok((plugins, started.elapsed()))
}

fn main() -> anyhow::Result<()> {
    kiln::keep_image_buffers_out_of_arenas();
    let paths: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        paths.len() >= 2,
        "usage: plugin_languages NOOP.wasm… WATERMARK.wasm (the last one's description is checked)"
    );
    let (noops, described) = paths.split_at(paths.len() - 1);
    println!("| component | size | first load (compile) | later load (cache) | 1x1 call | 512x320 no-op p50 | p99 |");
    println!("|---|---|---|---|---|---|---|");
    for path in noops {
        let path = Path::new(path);
        let size = std::fs::metadata(path)?.len() as f64 / 1e6;
        let cache = tempfile::tempdir()?;
        let (_, first) = load(path, cache.path())?;
        let (plugins, later) = load(path, cache.path())?;
        let plugin = plugins.get("plugin").ok_or_else(|| anyhow::anyhow!("not loaded"))?;
        let tiny = PluginImage {
            width: 1,
            height: 1,
            pixels: vec![128; 4],
        };
        let started = Instant::now();
        plugin.transform(tiny, &[])?;
        let one = started.elapsed();
        let frame = PluginImage {
            width: 512,
            height: 320,
            pixels: vec![128; 512 * 320 * 4],
        };
        let calls = 200;
        let mut samples = Vec::new();
        for call in 0..calls {
            let input = frame.clone();
            let started = Instant::now();
            let output = plugin.transform(input, &[])?;
            // The first calls fill the pool and the allocator: left out.
            if call >= calls / 10 {
                samples.push(started.elapsed());
            }
            anyhow::ensure!(output.image == frame, "the no-op plugin changed its input");
        }
        let (p50, p99) = percentiles(samples);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        println!(
            "| {name} | {size:.1} MB | {:.0} ms | {:.1} ms | {:.2} ms | {p50:.3} ms | {p99:.3} ms |",
            ms(first),
            ms(later),
            ms(one)
        );
    }

    let cache = tempfile::tempdir()?;
    let (plugins, _) = load(Path::new(&described[0]), cache.path())?;
    let plugin = plugins.get("plugin").ok_or_else(|| anyhow::anyhow!("not loaded"))?;
    let given: BTreeMap<String, String> = [("text", "Kiln"), ("opacity", "0.80"), ("position", "nw")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let rounds = 200_000;
    let started = Instant::now();
    for _ in 0..rounds {
        let checked = plugin.canonical_params(std::hint::black_box(&given));
        std::hint::black_box(checked.map_err(|problem| anyhow::anyhow!(problem.message))?);
    }
    let each = started.elapsed().as_secs_f64() * 1e9 / f64::from(rounds);
    let declared = plugin.description.as_ref().map_or(0, |d| d.params.len());
    println!(
        "\nchecking 3 URL parameters against a description of {declared} (canonical values, defaults filled): \
         {each:.0} ns a request"
    );
    Ok(())
}
