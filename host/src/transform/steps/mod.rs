//! The steps of the native pipeline, one module each by what they do to
//! the frames; `pipeline::STEPS` puts them in order. Every step takes the
//! frames so far and returns new ones, and does nothing when the plan does
//! not ask for it.

pub mod colour;
pub mod effects;
pub mod geometry;
pub mod load;
pub mod plugins;

use std::cell::RefCell;

use rs_vips::VipsImage;

use super::encoded::{PipelineError, Timings, vips};
use super::plan::{Plan, Source};
use super::raster::Watch;
use crate::plugin::Plugins;

pub type Result<T> = std::result::Result<T, PipelineError>;

/// The images being worked on: one, or one per frame of an animation.
pub type Frames = Vec<VipsImage>;

/// What every step can see.
pub struct Context<'a> {
    pub plan: &'a Plan,
    pub source: &'a Source,
    pub plugins: &'a Plugins,
    pub watch: Watch<'a>,
    pub timings: &'a RefCell<Timings>,
}

pub type Step = fn(&Context, Frames) -> Result<Frames>;

pub fn map(frames: Frames, step: &'static str, f: impl Fn(&VipsImage) -> rs_vips::Result<VipsImage>) -> Result<Frames> {
    frames.iter().map(|image| f(image).map_err(vips(step))).collect()
}
