//! The linker: everything a plugin can import — WASI with nothing granted
//! (no preopened directories, no environment, no network, frozen clocks,
//! stdout and stderr discarded) and `kiln:plugin/host` for logging.

use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, StoreLimits};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::Kind;

/// One module per world of the WIT at `$path`, the worlds sharing its
/// `types` and `host`.
macro_rules! worlds {
    ($path:literal) => {
        pub mod transform {
            wasmtime::component::bindgen!({ world: "transform", path: $path });
        }
        pub mod validator {
            wasmtime::component::bindgen!({
                world: "validator",
                path: $path,
                with: {
                    "kiln:plugin/host": super::transform::kiln::plugin::host,
                    "kiln:plugin/types": super::transform::kiln::plugin::types,
                },
            });
        }
        pub mod preprocessor {
            wasmtime::component::bindgen!({
                world: "preprocessor",
                path: $path,
                with: {
                    "kiln:plugin/host": super::transform::kiln::plugin::host,
                    "kiln:plugin/types": super::transform::kiln::plugin::types,
                },
            });
        }
        pub use transform::kiln::plugin::{host, types};
    };
}

/// Host bindings for every released `kiln:plugin` version.
pub mod bindings {
    pub mod v1 {
        worlds!("../wit/v0.1.0");
    }
    pub mod v2 {
        worlds!("../wit/v0.2.0");
    }
}

use bindings::{v1, v2};

/// What one call's store holds.
pub struct State {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub plugin: String,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl State {
    fn log(&self, level: &'static str, message: String) {
        let message: String = message.chars().take(2000).collect();
        let plugin = self.plugin.as_str();
        match level {
            "debug" => tracing::debug!(plugin, "{message}"),
            "info" => tracing::info!(plugin, "{message}"),
            "warn" => tracing::warn!(plugin, "{message}"),
            _ => tracing::error!(plugin, "{message}"),
        }
    }
}

impl v1::host::Host for State {
    fn log(&mut self, level: v1::host::Level, message: String) {
        let level = match level {
            v1::host::Level::Debug => "debug",
            v1::host::Level::Info => "info",
            v1::host::Level::Warn => "warn",
            v1::host::Level::Error => "error",
        };
        State::log(self, level, message);
    }
}

impl v2::host::Host for State {
    fn log(&mut self, level: v2::host::Level, message: String) {
        let level = match level {
            v2::host::Level::Debug => "debug",
            v2::host::Level::Info => "info",
            v2::host::Level::Warn => "warn",
            v2::host::Level::Error => "error",
        };
        State::log(self, level, message);
    }
}

impl v1::types::Host for State {}
impl v2::types::Host for State {}

/// A clock stuck at the Unix epoch: plugins must give the same output for
/// the same input, since their results are cached forever.
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A WASI context that grants nothing.
pub fn sealed_wasi() -> WasiCtx {
    WasiCtx::builder().wall_clock(Frozen).monotonic_clock(Frozen).build()
}

pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    v1::transform::Transform::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)?;
    v2::transform::Transform::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// A component pre-instantiated for what it exports: with API 0.2, exactly
/// one kind; with 0.1, every kind it has (the 0.1 SDK exported all three).
pub enum Pres {
    V1 {
        transform: Option<v1::transform::TransformPre<State>>,
        validator: Option<v1::validator::ValidatorPre<State>>,
        preprocessor: Option<v1::preprocessor::PreprocessorPre<State>>,
    },
    Transform(v2::transform::TransformPre<State>),
    Validator(v2::validator::ValidatorPre<State>),
    Preprocessor(v2::preprocessor::PreprocessorPre<State>),
}

/// Why a component cannot be used.
pub enum Unusable {
    /// It exports no `kiln:plugin` interface of a version the host speaks.
    NoKnownExports,
    /// It exports more than one kind of API 0.2.
    SeveralKinds(Vec<Kind>),
    Wasmtime(wasmtime::Error),
}

impl Pres {
    pub fn new(linker: &Linker<State>, component: &Component) -> Result<Self, Unusable> {
        let instance = linker.instantiate_pre(component).map_err(Unusable::Wasmtime)?;
        let mut current = Vec::new();
        if let Ok(pre) = v2::transform::TransformPre::new(instance.clone()) {
            current.push(Pres::Transform(pre));
        }
        if let Ok(pre) = v2::validator::ValidatorPre::new(instance.clone()) {
            current.push(Pres::Validator(pre));
        }
        if let Ok(pre) = v2::preprocessor::PreprocessorPre::new(instance.clone()) {
            current.push(Pres::Preprocessor(pre));
        }
        if current.len() > 1 {
            return Err(Unusable::SeveralKinds(current.iter().flat_map(Pres::kinds).collect()));
        }
        if let Some(pres) = current.pop() {
            return Ok(pres);
        }
        let legacy = Pres::V1 {
            transform: v1::transform::TransformPre::new(instance.clone()).ok(),
            validator: v1::validator::ValidatorPre::new(instance.clone()).ok(),
            preprocessor: v1::preprocessor::PreprocessorPre::new(instance).ok(),
        };
        if legacy.kinds().is_empty() {
            return Err(Unusable::NoKnownExports);
        }
        Ok(legacy)
    }

    /// The `kiln:plugin` version the component was built against.
    pub fn api_version(&self) -> &'static str {
        match self {
            Pres::V1 { .. } => "0.1.0",
            _ => "0.2.0",
        }
    }

    /// The kinds it can serve as.
    pub fn kinds(&self) -> Vec<Kind> {
        match self {
            Pres::V1 {
                transform,
                validator,
                preprocessor,
            } => [
                (transform.is_some(), Kind::Transform),
                (validator.is_some(), Kind::Validator),
                (preprocessor.is_some(), Kind::Preprocessor),
            ]
            .into_iter()
            .filter_map(|(has, kind)| has.then_some(kind))
            .collect(),
            Pres::Transform(_) => vec![Kind::Transform],
            Pres::Validator(_) => vec![Kind::Validator],
            Pres::Preprocessor(_) => vec![Kind::Preprocessor],
        }
    }
}
