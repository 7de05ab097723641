//! Geometry: the source crop, the resize, orientation, the extract that
//! fits a box, and the padding around it.

use rs_vips::enums::{Angle, Direction};
use rs_vips::voption::{Setter, VOption};

use super::{Context, Frames, Result, map};
use crate::transform::plan::Extract;
use crate::transform::plan::{Plan, Source};
use crate::transform::resample;

pub fn crop(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let Some(r) = plan.crop else { return Ok(frames) };
    map(frames, "crop", |image| {
        image.extract_area(r.x as i32, r.y as i32, r.width as i32, r.height as i32)
    })
}

/// Resizes images that were not already resized while loading: 8-bit
/// downscales in Kiln's own memory ([`resample::downscale`]), the rest in libvips.
pub fn resize(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let source = cx.source;
    let (w, h) = pre_orientation_size(plan, source);
    map(frames, "resize", |image| {
        if image.get_width() as u32 == w && image.get_height() as u32 == h {
            return Ok(image.clone());
        }
        if let Some(resized) = resample::downscale(image, (w, h), cx.watch)? {
            return Ok(resized);
        }
        image.thumbnail_image_with_opts(w as i32, VOption::new().set("height", h as i32).set("size", "force"))
    })
}

pub fn orient(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let o = plan.orientation;
    if o.is_identity() {
        return Ok(frames);
    }
    map(frames, "orient", |image| {
        let mirrored = if o.mirror {
            image.flip(Direction::Horizontal)?
        } else {
            image.clone()
        };
        match o.quarter_turns {
            1 => mirrored.rot(Angle::D90),
            2 => mirrored.rot(Angle::D180),
            3 => mirrored.rot(Angle::D270),
            _ => Ok(mirrored),
        }
    })
}

pub fn extract(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    match plan.extract {
        None => Ok(frames),
        Some(Extract::Area(r)) => map(frames, "extract", |image| {
            image.extract_area(r.x as i32, r.y as i32, r.width as i32, r.height as i32)
        }),
        Some(Extract::Smart {
            width,
            height,
            attention,
        }) => map(frames, "extract", |image| {
            let interesting = if attention { "attention" } else { "entropy" };
            // Smart crop reads the image more than once, which a sequential
            // shrink-on-load cannot serve; the image is already resized, so
            // holding it in memory is cheap.
            image.copy_memory()?.smartcrop_with_opts(
                width as i32,
                height as i32,
                VOption::new().set("interesting", interesting),
            )
        }),
    }
}

pub fn embed(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let Some(e) = plan.embed else { return Ok(frames) };
    let [r, g, b, a] = plan.background.map(f64::from);
    let transparent = a < 255.0 && plan.output.format.has_alpha();
    map(frames, "embed", |image| {
        let bands = image.get_bands();
        let grey = bands <= 2;
        let image = if transparent && !image.hasalpha() {
            image.bandjoin_const(&[255.0])?
        } else {
            image.clone()
        };
        let mut background = if grey { vec![(r + g + b) / 3.0] } else { vec![r, g, b] };
        if image.hasalpha() {
            background.push(if transparent { a } else { 255.0 });
        }
        image.embed_with_opts(
            e.left as i32,
            e.top as i32,
            e.width as i32,
            e.height as i32,
            VOption::new()
                .set("extend", "background")
                .set("background", background.as_slice()),
        )
    })
}

/// The size to resize to before the plan's orientation is applied.
pub fn pre_orientation_size(plan: &Plan, source: &Source) -> (u32, u32) {
    let (w, h) = plan.resize.unwrap_or_else(|| {
        let (cw, ch) = plan.crop.map_or((source.width, source.height), |r| (r.width, r.height));
        if plan.orientation.swaps_axes() {
            (ch, cw)
        } else {
            (cw, ch)
        }
    });
    if plan.orientation.swaps_axes() { (h, w) } else { (w, h) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ImageFormat;
    use crate::transform::raster::testing::image;
    use crate::transform::steps::testing::{plan, run, source};

    const ALL: &[crate::transform::steps::Step] = &[crop, resize, orient, extract, embed];

    fn size(query: &str, (width, height): (u32, u32)) -> (i32, i32) {
        let original = source(ImageFormat::Png, (width, height), false);
        let frame = image(width, height, 3, |x, y| vec![x as u8, y as u8, 0]);
        let done = run(ALL, &plan(&original, query), &original, frame);
        (done.get_width(), done.get_height())
    }

    #[test]
    fn crops_resizes_turns_and_pads_to_the_planned_size() {
        assert_eq!(size("w=20", (80, 40)), (20, 10), "fit inside");
        assert_eq!(size("w=20&h=20&fit=cover", (80, 40)), (20, 20), "cover crops");
        assert_eq!(size("w=20&h=20&fit=contain", (80, 40)), (20, 20), "contain pads");
        assert_eq!(size("crop=10,0,30,40", (80, 40)), (30, 40), "a source crop");
        assert_eq!(size("r=90", (80, 40)), (40, 80), "a quarter turn");
        assert_eq!(size("pad=5", (80, 40)), (90, 50), "padding on every side");
    }

    #[test]
    fn a_flip_mirrors_the_pixels() {
        let original = source(ImageFormat::Png, (4, 1), false);
        let frame = image(4, 1, 3, |x, _| vec![x as u8 * 60, 0, 0]);
        let flipped = run(ALL, &plan(&original, "f=h"), &original, frame);
        let pixels = crate::transform::raster::pixels(&flipped, &|_| {}).unwrap();
        assert_eq!(pixels.iter().step_by(3).copied().collect::<Vec<_>>(), [180, 120, 60, 0]);
    }
}
