//! The plan's plugin transforms, run on 8-bit sRGB RGBA copies of the
//! frames, and the way back into libvips.

use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Interpretation};

use super::{Context, Frames, Result};
use crate::plugin::{PluginImage, Transformed};
use crate::transform::encoded::{PipelineError, timed, vips};
use crate::transform::raster::{self, Watch, pixels};

/// Runs the plan's plugin transforms on 8-bit sRGB RGBA copies of the frames.
pub fn plugins(cx: &Context, frames: Frames) -> Result<Frames> {
    if cx.plan.fx.is_empty() {
        return Ok(frames);
    }
    let mut out = Vec::with_capacity(frames.len());
    for image in frames {
        let had_alpha = image.hasalpha();
        let current = rgba8(&image, cx.watch).map_err(vips("plugins"))?;
        // Even an unchanged result is taken back from its RGBA: `image` may
        // read its source sequentially, and `rgba8` has read it already.
        let result = run_plugins(cx, current)?;
        out.push(from_rgba8(result.image, had_alpha, &image).map_err(vips("plugins"))?);
    }
    Ok(out)
}

/// One frame through the plan's plugin transforms, in order; `changed` when
/// any of them changed it.
pub fn run_plugins(cx: &Context, mut image: PluginImage) -> Result<Transformed> {
    let mut changed = false;
    for step in &cx.plan.fx {
        let plugin = cx.plugins.get(&step.name).ok_or_else(|| PipelineError::Vips {
            step: "plugins",
            message: format!("plugin {:?} is not loaded", step.name),
        })?;
        let stage = format!("plugin-{}", step.name);
        let result = timed(cx.timings, &stage, || plugin.transform(image, &step.params))?;
        image = result.image;
        changed |= result.changed;
    }
    Ok(Transformed { image, changed })
}

/// A plugin's result back in libvips, with the metadata of the `frame` it
/// was made from. The alpha band was added only for the plugins: when the
/// frame had none and they left every pixel opaque, it is dropped while the
/// pixels are still ours, so the output looks as without them.
pub fn from_rgba8(image: PluginImage, had_alpha: bool, frame: &VipsImage) -> rs_vips::Result<VipsImage> {
    let opaque = !had_alpha && image.is_opaque();
    let PluginImage {
        width,
        height,
        mut pixels,
    } = image;
    let bands = if opaque {
        let count = pixels.len() / 4;
        for i in 0..count {
            pixels.copy_within(i * 4..i * 4 + 3, i * 3);
        }
        pixels.truncate(count * 3);
        3
    } else {
        4
    };
    raster::from_pixels(&pixels, (width, height), bands, Interpretation::Srgb, frame)
}

/// The frame as 8-bit sRGB RGBA, the one layout plugins receive. The usual
/// frame, 8-bit sRGB just resized in Kiln's memory, gets its alpha band in
/// one pass over its pixels where they are; anything else goes through
/// libvips first. (A libvips `bandjoin` and a render cost more than the
/// no-op plugin's whole call: bench/NOTES.md.)
pub fn rgba8(image: &VipsImage, watch: Watch) -> rs_vips::Result<PluginImage> {
    let (width, height) = (image.get_width() as u32, image.get_height() as u32);
    let srgb8 = is_srgb8(image)?;
    let pixels = match image.get_bands() {
        3 if srgb8 => raster::with_pixels(image, watch, |rgb| {
            let mut rgba = vec![255; rgb.len() / 3 * 4];
            for (to, from) in rgba.chunks_exact_mut(4).zip(rgb.chunks_exact(3)) {
                to[..3].copy_from_slice(from);
            }
            rgba
        })?,
        4 if srgb8 && image.hasalpha() => raster::with_pixels(image, watch, <[u8]>::to_vec)?,
        _ => pixels(&to_rgba8(image)?, watch)?,
    };
    Ok(PluginImage { width, height, pixels })
}

/// Whether `image` already is 8-bit sRGB, the colour plugins receive.
pub fn is_srgb8(image: &VipsImage) -> rs_vips::Result<bool> {
    Ok(image.get_interpretation()? == Interpretation::Srgb && image.get_format()? == BandFormat::Uchar)
}

/// The frame as 8-bit sRGB with alpha, converted by libvips.
pub fn to_rgba8(image: &VipsImage) -> rs_vips::Result<VipsImage> {
    let srgb = if is_srgb8(image)? {
        image.clone()
    } else {
        image.colourspace(Interpretation::Srgb)?.cast(BandFormat::Uchar)?
    };
    if srgb.hasalpha() {
        Ok(srgb)
    } else {
        srgb.bandjoin_const(&[255.0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rs_vips::voption::{Setter, VOption};

    #[test]
    fn plugin_results_keep_alpha_only_when_it_is_needed() {
        crate::transform::init_vips().unwrap();
        let image = |pixels: Vec<u8>| PluginImage {
            width: 2,
            height: 1,
            pixels,
        };
        let mut frame = VipsImage::new_from_memory_copy(&[0; 6], 2, 1, 3, BandFormat::Uchar).unwrap();
        frame.set_blob_copy("xmp-data", b"<x:xmpmeta/>").unwrap();
        let pixels = |image: &VipsImage| pixels(image, &|_| {});
        let opaque = from_rgba8(image(vec![1, 2, 3, 255, 4, 5, 6, 255]), false, &frame).unwrap();
        assert_eq!(opaque.get_bands(), 3, "an opaque result of an opaque frame");
        assert_eq!(pixels(&opaque).unwrap(), [1, 2, 3, 4, 5, 6]);
        let kept = from_rgba8(image(vec![1, 2, 3, 255, 4, 5, 6, 255]), true, &frame).unwrap();
        assert_eq!(
            pixels(&kept).unwrap(),
            [1, 2, 3, 255, 4, 5, 6, 255],
            "the frame had alpha"
        );
        let holed = from_rgba8(image(vec![1, 2, 3, 255, 4, 5, 6, 0]), false, &frame).unwrap();
        assert_eq!(
            pixels(&holed).unwrap(),
            [1, 2, 3, 255, 4, 5, 6, 0],
            "the plugin made a hole"
        );
        assert_eq!(holed.get_interpretation().unwrap(), Interpretation::Srgb);
        assert_eq!(
            holed.get_blob("xmp-data").unwrap(),
            b"<x:xmpmeta/>",
            "the frame's metadata goes on"
        );
    }

    #[test]
    fn plugins_get_rgba_of_every_frame() {
        crate::transform::init_vips().unwrap();
        let no_watch = |_: &VipsImage| {};
        let rgb = VipsImage::new_from_memory_copy(&[1, 2, 3, 4, 5, 6], 2, 1, 3, BandFormat::Uchar)
            .unwrap()
            .copy_with_opts(VOption::new().set("interpretation", "srgb"))
            .unwrap();
        let rgba = rgba8(&rgb, &no_watch).unwrap();
        assert_eq!((rgba.width, rgba.height), (2, 1));
        assert_eq!(rgba.pixels, [1, 2, 3, 255, 4, 5, 6, 255], "opaque alpha added");
        let grey = VipsImage::new_from_memory_copy(&[9, 200], 2, 1, 1, BandFormat::Uchar)
            .unwrap()
            .copy_with_opts(VOption::new().set("interpretation", "b-w"))
            .unwrap();
        assert_eq!(
            rgba8(&grey, &no_watch).unwrap().pixels,
            [9, 9, 9, 255, 200, 200, 200, 255]
        );
        let with_alpha = rgb.bandjoin_const(&[128.0]).unwrap();
        assert_eq!(
            rgba8(&with_alpha, &no_watch).unwrap().pixels,
            [1, 2, 3, 128, 4, 5, 6, 128]
        );
    }
}
