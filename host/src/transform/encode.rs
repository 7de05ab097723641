//! Encoding the finished frames: joined back into one image for an
//! animation, then written by libjpeg-turbo or libwebp directly where Kiln
//! has a faster path and nothing is to be kept, else by libvips' savers
//! after the metadata the plan strips is removed.

use rs_vips::VipsImage;
use rs_vips::voption::{Setter, VOption};

use super::encoded::{PipelineError, vips};
use super::params::{ColourSpace, OutputFormat, Strip};
use super::plan::Plan;
use super::raster::{Watch, field_names};
use super::steps::Frames;
use super::{jpeg, webp};

type Result<T> = std::result::Result<T, PipelineError>;

/// Joins animation frames back into one tall image with `page-height` set.
pub fn join(frames: Frames, plan: &Plan) -> Result<VipsImage> {
    let Some(first) = frames.first() else {
        return Err(PipelineError::Vips {
            step: "join",
            message: "no frames".into(),
        });
    };
    if frames.len() == 1 || !plan.output.animated {
        return Ok(first.clone());
    }
    let page_height = first.get_height();
    let mut joined = VipsImage::arrayjoin_with_opts(&frames, VOption::new().set("across", 1)).map_err(vips("join"))?;
    joined.set_int("page-height", page_height).map_err(vips("join"))?;
    Ok(joined)
}

/// Removes the metadata the plan strips, before a libvips saver writes it.
/// The orientation tag always goes: the pixels were already turned upright.
fn strip(plan: &Plan, image: VipsImage) -> Result<VipsImage> {
    let mut image = image.copy().map_err(vips("strip"))?;
    let strip = plan.output.strip;
    let fields = field_names(&image);
    for name in fields {
        let exif = name == "exif-data" || name.starts_with("exif-");
        let remove = name == "orientation"
            || (strip.exif && exif)
            || (strip.gps && name.starts_with("exif-ifd3-"))
            || (strip.xmp && name == "xmp-data")
            || (strip.iptc && name == "iptc-data");
        if remove {
            image.remove(name.as_bytes()).map_err(vips("strip"))?;
        }
    }
    if !strip.exif && image.get_typeof("exif-ifd0-Orientation").unwrap_or(0) != 0 {
        image.remove("exif-ifd0-Orientation").map_err(vips("strip"))?;
    }
    Ok(image)
}

pub fn encode(plan: &Plan, image: &VipsImage, watch: Watch) -> Result<Vec<u8>> {
    let o = &plan.output;
    let quality = i32::from(o.quality.unwrap_or(100));
    // libvips 8.14 writes a fresh EXIF block (resolution tags) even after
    // every EXIF field is removed; only the saver's own `strip` writes none.
    // It drops the ICC profile too, so it is used only when none is kept.
    let strip_all = o.strip == Strip::ALL && o.colour != ColourSpace::P3;
    if o.format == OutputFormat::Jpeg
        && strip_all
        && let Some(encoded) = jpeg::encode(image, quality, o.progressive, watch)
    {
        return encoded.map_err(vips("encode"));
    }
    if o.format == OutputFormat::Webp
        && strip_all
        && !o.lossless
        && let Some(encoded) = webp::encode(image, quality, watch)
    {
        return encoded.map_err(vips("encode"));
    }
    // Only libvips' savers write metadata, so only they need it stripped.
    let image = &strip(plan, image.clone())?;
    let options = || VOption::new().set("strip", strip_all);
    let lossy = || options().set("Q", quality).set("lossless", o.lossless);
    let saved = match o.format {
        OutputFormat::Jpeg => image.jpegsave_buffer_with_opts(
            options()
                .set("Q", quality)
                .set("optimize_coding", true)
                .set("interlace", o.progressive),
        ),
        OutputFormat::Png => {
            image.pngsave_buffer_with_opts(options().set("compression", 6).set("interlace", o.progressive))
        }
        OutputFormat::Webp => image.webpsave_buffer_with_opts(lossy().set("effort", webp::EFFORT)),
        // libaom and x265 at their fastest useful settings: AVIF/HEIC
        // encoding otherwise dominates a cold request.
        OutputFormat::Avif => image.heifsave_buffer_with_opts(lossy().set("compression", "av1").set("effort", 2)),
        OutputFormat::Heic => image.heifsave_buffer_with_opts(lossy().set("compression", "hevc").set("effort", 2)),
        OutputFormat::Jxl => image.jxlsave_buffer_with_opts(lossy().set("effort", 4)),
        OutputFormat::Gif => image.gifsave_buffer_with_opts(options().set("interlace", o.progressive)),
    };
    saved.map_err(vips("encode"))
}
