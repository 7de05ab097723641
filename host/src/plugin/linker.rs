//! The linker: everything a plugin can import — WASI with nothing granted
//! (no preopened directories, no environment, no network, frozen clocks,
//! stdout and stderr discarded) and `kiln:plugin/host` for logging.

use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, StoreLimits};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::Kind;

pub mod bindings {
    pub mod transform {
        wasmtime::component::bindgen!({ world: "transform", path: "../wit" });
    }
    pub mod validator {
        wasmtime::component::bindgen!({
            world: "validator",
            path: "../wit",
            with: {
                "kiln:plugin/host": super::transform::kiln::plugin::host,
                "kiln:plugin/types": super::transform::kiln::plugin::types,
            },
        });
    }
    pub mod preprocessor {
        wasmtime::component::bindgen!({
            world: "preprocessor",
            path: "../wit",
            with: {
                "kiln:plugin/host": super::transform::kiln::plugin::host,
                "kiln:plugin/types": super::transform::kiln::plugin::types,
            },
        });
    }
}

use bindings::preprocessor::PreprocessorPre;
use bindings::transform::TransformPre;
use bindings::transform::kiln::plugin::host;
use bindings::validator::ValidatorPre;

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

impl host::Host for State {
    fn log(&mut self, level: host::Level, message: String) {
        let message: String = message.chars().take(2000).collect();
        let plugin = self.plugin.as_str();
        match level {
            host::Level::Debug => tracing::debug!(plugin, "{message}"),
            host::Level::Info => tracing::info!(plugin, "{message}"),
            host::Level::Warn => tracing::warn!(plugin, "{message}"),
            host::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl bindings::transform::kiln::plugin::types::Host for State {}

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
    bindings::transform::Transform::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// A component pre-instantiated once for each kind it can serve as.
pub struct Pres {
    pub transform: Option<TransformPre<State>>,
    pub validator: Option<ValidatorPre<State>>,
    pub preprocessor: Option<PreprocessorPre<State>>,
}

impl Pres {
    pub fn new(linker: &Linker<State>, component: &Component) -> wasmtime::Result<Self> {
        let instance = linker.instantiate_pre(component)?;
        Ok(Self {
            transform: TransformPre::new(instance.clone()).ok(),
            validator: ValidatorPre::new(instance.clone()).ok(),
            preprocessor: PreprocessorPre::new(instance).ok(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.transform.is_none() && self.validator.is_none() && self.preprocessor.is_none()
    }

    pub fn has(&self, kind: Kind) -> bool {
        match kind {
            Kind::Transform => self.transform.is_some(),
            Kind::Validator => self.validator.is_some(),
            Kind::Preprocessor => self.preprocessor.is_some(),
        }
    }
}
