//! The native pipeline: a [`Plan`] carried out on libvips.
//!
//! The whole order of processing is the one list [`STEPS`] of the steps in
//! `steps/`, between loading (`steps::load`) and encoding (`encode.rs`).
//! Work is lazy until the encode, where libvips pulls pixels through the
//! whole chain at once, except where pixels must be in Kiln's own memory: a
//! downscale (`resample::downscale`) and the plugins render everything before
//! them there.
//!
//! A plan that only shrinks a JPEG into a JPEG or WebP is first offered to
//! [`planar::shrink`], which does it without RGB or libvips.
//!
//! Everything here is blocking and must run on the transform pool, never on
//! the async runtime.

use std::cell::RefCell;

use rs_vips::VipsImage;

use super::encode::{encode, join};
use super::encoded::{Encoded, Timings, timed, vips};
use super::plan::{Plan, Source};
use super::planar;
use super::raster::Watch;
use super::steps::plugins::{from_rgba8, run_plugins};
use super::steps::{Context, Frames, Result, Step, colour, effects, geometry, load, plugins};
use crate::plugin::{PluginImage, Plugins};

/// The order of processing, after loading and before encoding.
const STEPS: &[(&str, Step)] = &[
    ("import colour", colour::import_colour),
    ("crop", geometry::crop),
    ("resize", geometry::resize),
    ("orient", geometry::orient),
    ("extract", geometry::extract),
    ("blur", effects::blur),
    ("sharpen", effects::sharpen),
    ("filter", effects::filter),
    ("embed", geometry::embed),
    ("plugins", plugins::plugins),
    ("flatten", colour::flatten),
    ("export colour", colour::export_colour),
];

/// Runs `plan` on the original `bytes`. `watch` receives every image just
/// before its pixels are computed, so a watchdog can kill the evaluation.
/// The result carries where the time went: `decode`, each `plugin-{name}`,
/// and `encode` (with it, every lazy libvips step the encoder pulls through).
pub fn run(bytes: &[u8], plan: &Plan, source: &Source, plugins: &Plugins, watch: Watch) -> Result<Encoded> {
    let timings = RefCell::new(Timings::default());
    let mut encoded = run_timed(bytes, plan, source, plugins, watch, &timings)?;
    encoded.timings = timings.into_inner();
    Ok(encoded)
}

fn run_timed(
    bytes: &[u8],
    plan: &Plan,
    source: &Source,
    plugins: &Plugins,
    watch: Watch,
    timings: &RefCell<Timings>,
) -> Result<Encoded> {
    let context = Context {
        plan,
        source,
        plugins,
        watch,
        timings,
    };
    // A planar attempt that declines counts in the decode that follows it.
    let decoding = std::time::Instant::now();
    if let Some(shrunk) = planar::shrink(bytes, plan, source) {
        timings.borrow_mut().add("decode", decoding.elapsed());
        if plan.fx.is_empty() {
            return timed(timings, "encode", || shrunk.encode(watch));
        }
        // With plugins, the planes become their RGBA frame. A frame handed
        // back unchanged is encoded from the planes, as without plugins;
        // an opaque one straight from its RGBA; one with transparency goes
        // through the steps after the plugins.
        if let Some(frame) = shrunk.rgba() {
            let result = run_plugins(&context, frame)?;
            if !result.changed {
                return timed(timings, "encode", || shrunk.encode(watch));
            }
            if let Some(encoded) = timed(timings, "encode", || shrunk.encode_frame(&result.image, watch)) {
                return encoded;
            }
            return run_after_plugins(&context, result.image);
        }
    }
    let frames = load::load(bytes, plan, source)?;
    timings.borrow_mut().add("decode", decoding.elapsed());
    finish(&context, frames, STEPS)
}

/// The rest of the pipeline for a frame made from `planar.rs`'s planes and
/// run through the plugins: 8-bit sRGB RGBA, every step up to and with the plugins done.
fn run_after_plugins(context: &Context, frame: PluginImage) -> Result<Encoded> {
    // No metadata to carry: the plans `planar.rs` takes strip all of it.
    let frame = from_rgba8(frame, false, &VipsImage::new()).map_err(vips("plugins"))?;
    let after_plugins = STEPS
        .iter()
        .position(|(name, _)| *name == "plugins")
        .map_or(0, |i| i + 1);
    finish(context, vec![frame], &STEPS[after_plugins..])
}

/// Runs `steps` on `frames` and encodes the result.
fn finish(cx: &Context, mut frames: Frames, steps: &[(&str, Step)]) -> Result<Encoded> {
    for (_, step) in steps {
        frames = step(cx, frames)?;
    }
    let image = join(frames, cx.plan)?;
    (cx.watch)(&image);
    let (width, height) = (image.get_width() as u32, frame_height(&image));
    let bytes = timed(cx.timings, "encode", || encode(cx.plan, &image, cx.watch))?;
    Ok(Encoded {
        bytes,
        width,
        height,
        timings: Timings::default(),
    })
}

fn frame_height(image: &VipsImage) -> u32 {
    let page = image.get_page_height();
    if page > 0 && image.get_height() % page == 0 {
        page as u32
    } else {
        image.get_height() as u32
    }
}
