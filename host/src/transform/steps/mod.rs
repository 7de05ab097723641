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

/// Runs steps on frames made in the tests, for the plan a query means.
#[cfg(test)]
pub mod testing {
    use std::cell::RefCell;

    use rs_vips::VipsImage;

    use super::{Context, Frames, Step};
    use crate::plugin::Plugins;
    use crate::probe::{ImageFormat, SourceColour};
    use crate::transform::encoded::Timings;
    use crate::transform::params::{ParamLimits, Params};
    use crate::transform::plan::{Plan, Source};

    /// An sRGB source of `width`x`height` in `format`.
    pub fn source(format: ImageFormat, (width, height): (u32, u32), has_alpha: bool) -> Source {
        Source {
            format,
            width,
            height,
            has_alpha,
            pages: 1,
            colour: SourceColour::Srgb,
        }
    }

    pub fn plan(source: &Source, query: &str) -> Plan {
        let pairs: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
        let params = Params::parse(pairs, ParamLimits { max_dimension: 8192 }).unwrap();
        Plan::new(&params, source, None, 8192, Vec::new()).unwrap()
    }

    /// `steps` in order on `frame`, as the pipeline runs them.
    pub fn run(steps: &[Step], plan: &Plan, source: &Source, frame: VipsImage) -> VipsImage {
        crate::transform::init_vips().unwrap();
        let (plugins, timings) = (Plugins::default(), RefCell::new(Timings::default()));
        let context = Context {
            plan,
            source,
            plugins: &plugins,
            watch: &|_| {},
            timings: &timings,
        };
        let mut frames: Frames = vec![frame];
        for step in steps {
            frames = step(&context, frames).unwrap();
        }
        frames.remove(0)
    }
}
