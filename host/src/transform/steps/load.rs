//! Loading: shrink-on-load wherever the plan allows (no source crop, one
//! frame), else a full decode split into frames.

use rs_vips::VipsImage;
use rs_vips::enums::Interpretation;
use rs_vips::voption::{Setter, VOption};

use super::Frames;
use super::Result;
use super::geometry::pre_orientation_size;
use crate::probe::ImageFormat;
use crate::transform::encoded::vips;
use crate::transform::jpeg;
use crate::transform::plan::{Plan, Source};

/// Loads with shrink-on-load when the plan allows, else decodes in full and
/// splits animations into frames.
pub fn load(bytes: &[u8], plan: &Plan, source: &Source) -> Result<Frames> {
    let loader_options = "fail_on=truncated";
    if plan.crop.is_none() && !plan.output.animated {
        if source.format == ImageFormat::Jpeg
            && let Some(image) = load_jpeg_shrunk(bytes, plan, source, loader_options)?
        {
            return Ok(vec![image]);
        }
        // thumbnail picks the cheapest decode (JPEG DCT scaling, WebP and
        // HEIF scaled decode, …) for the size it is asked for.
        let (w, h) = pre_orientation_size(plan, source);
        let image = VipsImage::thumbnail_buffer_with_opts(
            bytes,
            w as i32,
            VOption::new()
                .set("height", h as i32)
                .set("size", "force")
                .set("option_string", loader_options),
        )
        .map_err(vips("load"))?;
        return Ok(vec![image]);
    }
    let options = if plan.output.animated {
        format!("{loader_options},n=-1")
    } else {
        loader_options.to_owned()
    };
    let image = VipsImage::new_from_buffer(bytes, &options).map_err(vips("load"))?;
    let page_height = image.get_page_height();
    if plan.output.animated && page_height > 0 && page_height < image.get_height() {
        let pages = image.get_height() / page_height;
        return (0..pages)
            .map(|i| {
                image
                    .extract_area(0, i * page_height, image.get_width(), page_height)
                    .map_err(vips("load"))
            })
            .collect();
    }
    Ok(vec![image.autorot().map_err(vips("load"))?])
}

/// Loads a JPEG at the largest DCT scale (1/2, 1/4, 1/8) that still covers
/// the target size; the `resize` step does the rest. libvips' `thumbnail`
/// keeps a factor of two above the target for its final resize, so for
/// 2560x1600 → 512x320 it would decode 1280x800 and reduce that by 2.5, a
/// large share of the request (bench/NOTES.md). imgproxy and Pillow's `draft` (thumbor)
/// decode at the full factor, as this does; the scaled IDCT is itself a
/// proper low-pass filter. Images that carry an EXIF orientation keep going
/// through `thumbnail`, which turns them upright while it resizes, and so
/// do CMYK ones, which it brings into sRGB.
fn load_jpeg_shrunk(bytes: &[u8], plan: &Plan, source: &Source, loader_options: &str) -> Result<Option<VipsImage>> {
    let header = VipsImage::new_from_buffer(bytes, loader_options).map_err(vips("load"))?;
    let upright = header.get_int("orientation").unwrap_or(1) <= 1;
    let rgb_or_grey = matches!(
        header.get_interpretation().map_err(vips("load"))?,
        Interpretation::Srgb | Interpretation::BW
    );
    if !upright || !rgb_or_grey {
        return Ok(None);
    }
    let (w, h) = pre_orientation_size(plan, source);
    let shrink = jpeg::shrink_factor((header.get_width() as u32, header.get_height() as u32), (w, h));
    if let Some(image) = jpeg::decode_scaled(bytes, shrink, &header) {
        return Ok(Some(image));
    }
    let image = VipsImage::new_from_buffer(bytes, &format!("{loader_options},access=sequential,shrink={shrink}"))
        .map_err(vips("load"))?;
    Ok(Some(image))
}

#[cfg(test)]
mod tests {
    use rs_vips::voption::{Setter, VOption};

    use super::*;
    use crate::transform::raster::testing::image;
    use crate::transform::steps::testing::{plan, source};

    #[test]
    fn a_jpeg_is_decoded_at_the_dct_scale_that_covers_the_target() {
        crate::transform::init_vips().unwrap();
        let jpeg = image(400, 240, 3, |x, y| vec![x as u8, y as u8, 90])
            .jpegsave_buffer_with_opts(VOption::new().set("Q", 90))
            .unwrap();
        let original = source(ImageFormat::Jpeg, (400, 240), false);
        let loaded = |query: &str| {
            let frames = load(&jpeg, &plan(&original, query), &original).unwrap();
            (frames[0].get_width(), frames[0].get_height())
        };
        assert_eq!(loaded("w=50"), (50, 30), "1/8 covers 50x30 exactly");
        assert_eq!(loaded("w=60"), (100, 60), "1/4: 1/8 would be too small");
        assert_eq!(loaded("w=300"), (400, 240), "no scale covers 300 but the whole");
        assert_eq!(
            loaded("crop=0,0,100,100&w=20"),
            (400, 240),
            "a source crop loads in full"
        );
    }
}
