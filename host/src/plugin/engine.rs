//! The wasmtime engine: configured once, shared by every plugin.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use super::MAX_MEMORY_MB;

/// How often the epoch advances: the granularity of plugin deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Instances that may exist at once across all plugins.
const POOL_INSTANCES: u32 = 64;

pub struct PluginEngine {
    pub engine: Engine,
    cache_dir: PathBuf,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl PluginEngine {
    pub fn new(cache_dir: &Path) -> wasmtime::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 8)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 4)
            .total_stacks(POOL_INSTANCES)
            .max_memory_size(MAX_MEMORY_MB as usize * 1024 * 1024)
            // Keeping pages resident between instances spares the page
            // faults of re-touching memory on every call.
            .linear_memory_keep_resident(32 * 1024 * 1024)
            .table_keep_resident(64 * 1024)
            // Where Linux has PAGEMAP_SCAN (6.7 on), only the pages a call
            // wrote are reset, not all of the memory it could reach.
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            // Plugin memories are small and capped per store; explicit bounds
            // checks keep each pool slot's virtual reservation small.
            .memory_reservation(u64::from(MAX_MEMORY_MB) * 1024 * 1024)
            .memory_guard_size(64 * 1024)
            .memory_reservation_for_growth(0)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.weak(), stop_ticker.clone());
        std::fs::create_dir_all(cache_dir)?;
        Ok(Self {
            engine,
            cache_dir: cache_dir.to_owned(),
            stop_ticker,
        })
    }

    /// Compiles `wasm`, or loads it from the on-disk cache, keyed by the
    /// wasm's hash and everything about the engine that affects its code.
    pub fn component(&self, wasm: &[u8]) -> wasmtime::Result<Component> {
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut engine_hash);
        let name = format!(
            "{}-{:016x}.cwasm",
            hex::encode(&Sha256::digest(wasm)[..16]),
            engine_hash.finish()
        );
        let cached = self.cache_dir.join(name);
        if cached.is_file() {
            // SAFETY: the file was written by `Component::serialize` of an
            // engine with the same compatibility hash, into Kiln's own data
            // directory; deserialising is only unsafe for untrusted input.
            match unsafe { Component::deserialize_file(&self.engine, &cached) } {
                Ok(component) => return Ok(component),
                Err(error) => {
                    let path = cached.display();
                    tracing::warn!(%error, %path, "recompiling a plugin: the cached copy is unusable");
                }
            }
        }
        let component = Component::new(&self.engine, wasm)?;
        let serialized = component.serialize()?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.cache_dir)?;
        std::io::Write::write_all(&mut temp, &serialized)?;
        temp.persist(&cached).map_err(|e| e.error)?;
        Ok(component)
    }
}

/// One thread per engine advances the epoch; it ends with the engine.
fn spawn_ticker(engine: wasmtime::EngineWeak, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("kiln-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
        .unwrap_or_else(|error| tracing::error!(%error, "no epoch ticker: plugin deadlines will not fire"));
}
