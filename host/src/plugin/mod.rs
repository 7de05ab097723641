//! The plugin host: WebAssembly components run under wasmtime (SPEC §5).
//!
//! Four parts, as in Spin's host: [`engine`] configures wasmtime once
//! (component model, pooling allocator, epoch interruption, the on-disk
//! cache of compiled components), [`linker`] states the only things a plugin
//! can reach (WASI with nothing granted, and `host.log`) for every API
//! version the host speaks, [`call`] makes a fresh store and instance for
//! every call, with a memory cap and a deadline, and [`describe`] holds what
//! an API 0.2 plugin says of itself and checks URL parameters against it.
//!
//! Everything here blocks: callers run it on the transform pool. Nothing here
//! knows HTTP.

mod call;
mod describe;
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
pub use describe::{Description, Param, ParamProblem, ParamType};

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

/// Plugin names and their parameters' names: 1 to 64 lower-case letters,
/// digits, `-` and `_`.
pub fn is_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
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
    pub const ALL: [Kind; 3] = [Kind::Transform, Kind::Validator, Kind::Preprocessor];

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
    /// The plugin refused one of its parameters.
    #[error("plugin {name:?}: `{name}.{param}` {reason}")]
    InvalidParam {
        name: String,
        param: String,
        reason: String,
    },
    #[error("plugin {name:?} ran out of time ({limit:?})")]
    Timeout { name: String, limit: Duration },
    #[error("plugin {name:?} ran out of memory (its limit is {limit_mb} MiB)")]
    OutOfMemory { name: String, limit_mb: u32 },
    #[error("plugin {name:?} crashed: {message}")]
    Trap { name: String, message: String },
    /// The plugin ran and returned an error of its own.
    #[error("plugin {name:?}: {message}")]
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
    /// What it says of itself; `None` for API 0.1, which cannot say.
    pub description: Option<Description>,
    /// The largest side a transform's result may have.
    pub max_output_side: u32,
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

/// Every plugin that could not be loaded, one line each.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct LoadErrors(pub Vec<PluginError>);

impl Plugins {
    /// Loads and compiles (or takes from `cache_dir`) every configured
    /// plugin, and asks each API 0.2 plugin to describe itself; every
    /// plugin that cannot be used is reported.
    pub fn load(
        configs: &BTreeMap<String, PluginConfig>,
        cache_dir: &Path,
        max_output_side: u32,
        metrics: Arc<Metrics>,
    ) -> Result<Self, LoadErrors> {
        if configs.is_empty() {
            return Ok(Self::default());
        }
        let everything = |message: String| {
            LoadErrors(vec![PluginError::Load {
                name: "*".into(),
                message,
            }])
        };
        let engine = Arc::new(
            engine::PluginEngine::new(cache_dir)
                .map_err(|e| everything(format!("the plugin engine could not start: {e:#}")))?,
        );
        let linker = linker::linker(&engine.engine).map_err(|e| everything(format!("{e:#}")))?;
        let mut by_name = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, config) in configs {
            let loaded = load_one(name, config, &engine, &linker).map(|(pre, description, sha256)| Plugin {
                name: name.clone(),
                hash: sha256[..16].to_owned(),
                sha256,
                memory_mb: config.memory_mb,
                timeout: Duration::from_millis(config.timeout_ms),
                description,
                max_output_side,
                config: settings(&config.config),
                pre,
                engine: engine.clone(),
                metrics: metrics.clone(),
            });
            match loaded {
                Ok(plugin) => {
                    tracing::info!(
                        plugin = %name,
                        path = %config.path.display(),
                        api = plugin.api_version(),
                        "plugin loaded"
                    );
                    by_name.insert(name.clone(), Arc::new(plugin));
                }
                Err(message) => errors.push(PluginError::Load {
                    name: name.clone(),
                    message,
                }),
            }
        }
        match errors.is_empty() {
            true => Ok(Self { by_name }),
            false => Err(LoadErrors(errors)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.by_name.get(name)
    }

    /// Every plugin, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.by_name.values()
    }

    /// The kinds each plugin can serve as, for checking the path rules.
    pub fn kinds(&self) -> BTreeMap<String, Vec<Kind>> {
        self.by_name
            .iter()
            .map(|(name, plugin)| (name.clone(), plugin.kinds()))
            .collect()
    }
}

/// One plugin's component, description and SHA-256, or what is wrong, in
/// one line.
fn load_one(
    name: &str,
    config: &PluginConfig,
    engine: &engine::PluginEngine,
    linker: &wasmtime::component::Linker<linker::State>,
) -> Result<(linker::Pres, Option<Description>, String), String> {
    let path = config.path.display();
    let wasm = std::fs::read(&config.path).map_err(|e| format!("cannot read {path}: {e}"))?;
    match wasm.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0, 0x01, 0]) => {}
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
            return Err(format!(
                "{path} is a core WebAssembly module, not a component; build it for wasm32-wasip2 \
                 (or wrap it with `wasm-tools component new`)"
            ));
        }
        _ => return Err(format!("{path} is not a WebAssembly component")),
    }
    let sha256 = hex::encode(Sha256::digest(&wasm));
    let component = engine
        .component(&wasm)
        .map_err(|e| format!("{path} does not compile: {}", call::first_line(&format!("{e:#}"))))?;
    let pre = linker::Pres::new(linker, &component).map_err(|unusable| match unusable {
        linker::Unusable::NoKnownExports => format!(
            "{path} exports no kiln:plugin interface of version {}; build it against kiln-sdk or wit/",
            API_VERSIONS.join(" or ")
        ),
        linker::Unusable::SeveralKinds(kinds) => format!(
            "{path} exports {}; a component implements one kind",
            kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(" and ")
        ),
        linker::Unusable::Wasmtime(e) => {
            format!("{path} cannot be linked: {}", call::first_line(&format!("{e:#}")))
        }
    })?;
    let timeout = Duration::from_millis(config.timeout_ms);
    let description = call::describe(&pre, &engine.engine, name, config.memory_mb, timeout)?;
    Ok((pre, description, sha256))
}

/// The `kiln:plugin` versions this host loads, newest first.
pub const API_VERSIONS: [&str; 2] = ["0.2.0", "0.1.0"];

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
        self.kinds().contains(&kind)
    }

    /// The kinds it can serve as: one with API 0.2.
    pub fn kinds(&self) -> Vec<Kind> {
        self.pre.kinds()
    }

    /// The `kiln:plugin` version it was built against.
    pub fn api_version(&self) -> &'static str {
        self.pre.api_version()
    }

    /// `given` checked against its description, canonical, defaults filled
    /// in; as given (sorted) for API 0.1, which declares nothing.
    pub fn canonical_params(&self, given: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, ParamProblem> {
        match &self.description {
            Some(description) => description.canonical_params(given),
            None => Ok(given.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        }
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
            Err(
                PluginError::Failed { .. }
                | PluginError::InvalidParam { .. }
                | PluginError::Load { .. }
                | PluginError::WrongKind { .. },
            ) => "error",
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
