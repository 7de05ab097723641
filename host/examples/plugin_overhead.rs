//! Measures the plugin boundary: a fresh instance per call, and a no-op
//! transform of a 1 MP RGBA image (4 MB in, 4 MB out).
//!
//! `make bench-plugins`, or:
//! cargo run --release --example plugin_overhead -- target/wasm/wasm32-wasip2/release/noop.wasm

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kiln::plugin::{PluginConfig, PluginImage, Plugins};

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
    let plugins = Plugins::load(&configs, cache.path())?;
    println!("load and compile: {:.1} ms", ms(started.elapsed()));
    let plugin = plugins.get("noop").ok_or_else(|| anyhow::anyhow!("not loaded"))?;

    let tiny = PluginImage {
        width: 1,
        height: 1,
        pixels: vec![0; 4],
    };
    let mut samples = Vec::new();
    for i in 0..3000 {
        let input = tiny.clone();
        let started = Instant::now();
        plugin.transform(input, &[])?;
        if i >= 200 {
            samples.push(started.elapsed());
        }
    }
    println!("instantiate + call, 1x1:      {}", percentiles(samples));

    let megapixel = PluginImage {
        width: 1000,
        height: 1000,
        pixels: vec![128; 4_000_000],
    };
    let mut samples = Vec::new();
    for i in 0..300 {
        let input = megapixel.clone();
        let started = Instant::now();
        let output = plugin.transform(input, &[])?;
        if i >= 20 {
            samples.push(started.elapsed());
        }
        assert_eq!(output.pixels.len(), 4_000_000);
    }
    println!("no-op transform, 1000x1000:   {}", percentiles(samples));

    let mut samples = Vec::new();
    for _ in 0..300 {
        let started = Instant::now();
        let copy = megapixel.pixels.clone();
        let again = copy.clone();
        std::hint::black_box(again);
        samples.push(started.elapsed());
    }
    println!("two plain 4 MB copies:        {}", percentiles(samples));
    Ok(())
}
