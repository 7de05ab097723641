//! What a transformation makes, and how it fails: shared by the pipeline
//! and the planar shortcut, neither of which depends on the other for it.

use crate::plugin::PluginError;

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// The encoded result of a plan.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Where the time went, stage by stage (`Server-Timing`).
    pub timings: Timings,
}

/// Stages of making a variant and how long each took, in order; a plugin's
/// stage is `plugin-{name}`.
#[derive(Debug, Clone, Default)]
pub struct Timings(pub Vec<(String, Duration)>);

impl Timings {
    pub fn add(&mut self, stage: impl Into<String>, took: Duration) {
        self.0.push((stage.into(), took));
    }
}

/// Runs `work`, adding its time to `timings` as `stage`.
pub(super) fn timed<T>(timings: &RefCell<Timings>, stage: &str, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    timings.borrow_mut().add(stage, started.elapsed());
    result
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// libvips refused or failed; the message is libvips' own.
    #[error("libvips failed at the {step} step: {message}")]
    Vips { step: &'static str, message: String },
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// Names the step a libvips error came from, with libvips' own message.
pub(super) fn vips(step: &'static str) -> impl Fn(rs_vips::error::Error) -> PipelineError {
    move |error| PipelineError::Vips {
        step,
        message: error.to_string().replace("vips error: ", ""),
    }
}
