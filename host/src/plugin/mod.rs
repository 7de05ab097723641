//! The plugin host: WebAssembly components run under wasmtime (SPEC §5).
//!
//! Three parts, as in Spin's host: [`engine`] configures wasmtime once
//! (component model, pooling allocator, epoch interruption, the on-disk
//! cache of compiled components), [`linker`] states the only things a plugin
//! can reach (WASI with nothing granted, and `host.log`), and [`call`] makes a
//! fresh store and instance for every call, with a memory cap and a deadline.
//!
//! Everything here blocks: callers run it on the transform pool. Nothing here
//! knows HTTP.

mod call;
mod engine;
mod linker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::metrics::{Metrics, PluginLabels, PluginNameLabels};

pub use call::{PluginImage, Transformed, UploadFacts};

/// `[plugins.NAME]` in the config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PluginConfig {
    /// The `.wasm` component, relative to the working directory.
    pub path: PathBuf,
    /// The most linear memory one call may use.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// The most time one call may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Handed to every call as text key-value pairs.
    #[serde(default)]
    pub config: toml::Table,
}

fn default_memory_mb() -> u32 {
    64
}

fn default_timeout_ms() -> u64 {
    1000
}

/// The upper bound on `memory-mb`, which sizes the pooling allocator's slots.
pub const MAX_MEMORY_MB: u32 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transform,
    Validator,
    Preprocessor,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Transform => "transform",
            Kind::Validator => "validator",
            Kind::Preprocessor => "preprocessor",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {name:?}: {message}")]
    Load { name: String, message: String },
    #[error("plugin {name:?} is not a {}", kind.name())]
    WrongKind { name: String, kind: Kind },
    #[error("plugin {name:?} ran out of time ({limit:?})")]
    Timeout { name: String, limit: Duration },
    #[error("plugin {name:?} ran out of memory (its limit is {limit_mb} MiB)")]
    OutOfMemory { name: String, limit_mb: u32 },
    #[error("plugin {name:?} crashed: {message}")]
    Trap { name: String, message: String },
    /// The plugin ran and returned an error of its own.
    #[error("plugin {name:?} failed: {message}")]
    Failed { name: String, message: String },
    /// The plugin returned something the host cannot use.
    #[error("plugin {name:?} returned an invalid result: {message}")]
    BadOutput { name: String, message: String },
}

/// A validator's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Reject(String),
}

/// One loaded plugin: its identity and a pre-instantiated component per kind.
pub struct Plugin {
    pub name: String,
    /// The first 16 hex digits of the SHA-256 of the `.wasm`: part of every
    /// variant key, so a new build makes new variants.
    pub hash: String,
    /// The SHA-256 of the `.wasm`, whole, in hex.
    pub sha256: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    config: Vec<(String, String)>,
    pre: linker::Pres,
    engine: Arc<engine::PluginEngine>,
    metrics: Arc<Metrics>,
}

/// Every configured plugin, loaded and ready.
#[derive(Clone, Default)]
pub struct Plugins {
    by_name: BTreeMap<String, Arc<Plugin>>,
}

impl Plugins {
    /// Loads and compiles (or takes from `cache_dir`) every configured plugin.
    pub fn load(
        configs: &BTreeMap<String, PluginConfig>,
        cache_dir: &Path,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PluginError> {
        if configs.is_empty() {
            return Ok(Self::default());
        }
        let engine = Arc::new(engine::PluginEngine::new(cache_dir).map_err(|e| PluginError::Load {
            name: "*".into(),
            message: format!("the plugin engine could not start: {e:#}"),
        })?);
        let linker = linker::linker(&engine.engine).map_err(|e| PluginError::Load {
            name: "*".into(),
            message: format!("{e:#}"),
        })?;
        let mut by_name = BTreeMap::new();
        for (name, config) in configs {
            let load_error = |message: String| PluginError::Load {
                name: name.clone(),
                message,
            };
            let wasm = std::fs::read(&config.path)
                .map_err(|e| load_error(format!("cannot read {}: {e}", config.path.display())))?;
            let sha256 = hex::encode(Sha256::digest(&wasm));
            let hash = sha256[..16].to_owned();
            let component = engine.component(&wasm).map_err(|e| load_error(format!("{e:#}")))?;
            let pre = linker::Pres::new(&linker, &component).map_err(|e| load_error(format!("{e:#}")))?;
            if pre.is_empty() {
                return Err(load_error(format!(
                    "{} exports no kiln:plugin@{API_VERSION} interface; was it built against another kiln-sdk?",
                    config.path.display()
                )));
            }
            by_name.insert(
                name.clone(),
                Arc::new(Plugin {
                    name: name.clone(),
                    hash,
                    sha256,
                    memory_mb: config.memory_mb,
                    timeout: Duration::from_millis(config.timeout_ms),
                    config: settings(&config.config),
                    pre,
                    engine: engine.clone(),
                    metrics: metrics.clone(),
                }),
            );
            tracing::info!(plugin = %name, path = %config.path.display(), "plugin loaded");
        }
        Ok(Self { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.by_name.get(name)
    }

    /// Every plugin, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.by_name.values()
    }
}

/// The `kiln:plugin` version this host speaks.
pub const API_VERSION: &str = "0.1.0";

/// A TOML table as the text pairs plugins receive.
fn settings(table: &toml::Table) -> Vec<(String, String)> {
    table
        .iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

impl Plugin {
    pub fn is(&self, kind: Kind) -> bool {
        self.pre.has(kind)
    }

    /// The kinds it can serve as.
    pub fn kinds(&self) -> Vec<Kind> {
        [Kind::Transform, Kind::Validator, Kind::Preprocessor]
            .into_iter()
            .filter(|kind| self.is(*kind))
            .collect()
    }

    /// Runs the plugin as a transform.
    pub fn transform(&self, image: PluginImage, params: &[(String, String)]) -> Result<Transformed, PluginError> {
        self.counted(|| call::transform(self, image, params))
    }

    pub fn validate(&self, upload: &[u8], facts: &UploadFacts, preview: PluginImage) -> Result<Verdict, PluginError> {
        self.counted(|| call::validate(self, upload, facts, preview))
    }

    pub fn preprocess(&self, upload: &[u8], facts: &UploadFacts) -> Result<Vec<u8>, PluginError> {
        self.counted(|| call::preprocess(self, upload, facts))
    }

    /// Runs `call`, counting it by its outcome and timing it.
    fn counted<T>(&self, call: impl FnOnce() -> Result<T, PluginError>) -> Result<T, PluginError> {
        let started = std::time::Instant::now();
        let result = call();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(PluginError::Timeout { .. }) => "timeout",
            Err(PluginError::OutOfMemory { .. }) => "out_of_memory",
            Err(PluginError::Trap { .. }) => "trap",
            Err(PluginError::BadOutput { .. }) => "bad_output",
            Err(PluginError::Failed { .. } | PluginError::Load { .. } | PluginError::WrongKind { .. }) => "error",
        };
        let took = started.elapsed();
        self.metrics.tally.plugin_call(&self.name, outcome, took);
        let plugin = self.name.clone();
        self.metrics
            .plugin_duration
            .get_or_create(&PluginNameLabels { plugin: plugin.clone() })
            .observe(took.as_secs_f64());
        self.metrics
            .plugin_calls
            .get_or_create(&PluginLabels { plugin, outcome })
            .inc();
        result
    }
}
