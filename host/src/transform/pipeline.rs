//! The native pipeline: a [`Plan`] carried out on libvips.
//!
//! The whole order of processing is the one list [`STEPS`]; each step takes
//! the frames so far and returns new ones, and does nothing when the plan
//! does not ask for it. Work is lazy until [`encode`], where libvips pulls
//! pixels through the whole chain at once, except where pixels must be in
//! Kiln's own memory: a downscale ([`raster::downscale`]) and the plugins
//! render everything before them there. Loading is shrink-on-load wherever
//! the plan allows (no source crop, one frame).
//!
//! A plan that only shrinks a JPEG into a JPEG or WebP is first offered to
//! [`planar::shrink`], which does it without RGB or libvips.
//!
//! Everything here is blocking and must run on the transform pool, never on
//! the async runtime.

use rs_vips::VipsImage;
use rs_vips::enums::{Angle, BandFormat, Direction, Interpretation, OperationRelational};
use rs_vips::voption::{Setter, VOption};

use std::cell::RefCell;

use super::encoded::{Encoded, PipelineError, Timings, timed, vips};
use super::icc::is_srgb_profile;
use super::params::{ColourSpace, Filter, OutputFormat, Strip};
use super::plan::{Extract, Plan, Source};
use super::raster::{self, Watch, field_names, pixels};
use super::{jpeg, planar, webp};
use crate::plugin::{PluginImage, Plugins, Transformed};
use crate::probe::ImageFormat;

type Result<T> = std::result::Result<T, PipelineError>;

/// The images being worked on: one, or one per frame of an animation.
type Frames = Vec<VipsImage>;

/// What every step can see.
struct Context<'a> {
    plan: &'a Plan,
    source: &'a Source,
    plugins: &'a Plugins,
    watch: Watch<'a>,
    timings: &'a RefCell<Timings>,
}

type Step = fn(&Context, Frames) -> Result<Frames>;

/// The order of processing, after loading and before encoding.
const STEPS: &[(&str, Step)] = &[
    ("import colour", import_colour),
    ("crop", crop),
    ("resize", resize),
    ("orient", orient),
    ("extract", extract),
    ("blur", blur),
    ("sharpen", sharpen),
    ("filter", filter),
    ("embed", embed),
    ("plugins", plugins),
    ("flatten", flatten),
    ("export colour", export_colour),
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
    let frames = load(bytes, plan, source)?;
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

/// Loads with shrink-on-load when the plan allows, else decodes in full and
/// splits animations into frames.
fn load(bytes: &[u8], plan: &Plan, source: &Source) -> Result<Frames> {
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
/// 2560x1600 → 512x320 it decodes 1280x800 and reduces that by 2.5: ~5 ms of
/// a ~27 ms request (bench/NOTES.md). imgproxy and Pillow's `draft` (thumbor)
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

/// The size to resize to before the plan's orientation is applied.
fn pre_orientation_size(plan: &Plan, source: &Source) -> (u32, u32) {
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

fn map(frames: Frames, step: &'static str, f: impl Fn(&VipsImage) -> rs_vips::Result<VipsImage>) -> Result<Frames> {
    frames.iter().map(|image| f(image).map_err(vips(step))).collect()
}

/// Brings every image into 8-bit sRGB (or grey) through its ICC profile,
/// unless the output keeps the original's colour space.
fn import_colour(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    map(frames, "import colour", |image| {
        let interpretation = image.get_interpretation()?;
        let has_profile = image.get_typeof("icc-profile-data").unwrap_or(0) != 0;
        // Only JPEG can carry CMYK; every other output gets sRGB.
        let cmyk_unwritable = interpretation == Interpretation::Cmyk && plan.output.format != OutputFormat::Jpeg;
        let keep = plan.output.colour == ColourSpace::Origin && !cmyk_unwritable;
        if keep {
            return Ok(image.clone());
        }
        match interpretation {
            Interpretation::Cmyk => image.icc_transform_with_opts(
                "srgb",
                VOption::new()
                    .set("embedded", true)
                    .set("input_profile", "cmyk")
                    .set("intent", "relative"),
            ),
            Interpretation::Srgb | Interpretation::BW if !has_profile => Ok(image.clone()),
            // Most photos carry the standard sRGB profile: converting sRGB to
            // sRGB through lcms cost ~10% of a cold JPEG transform (`make
            // bench`, perf), for no change. Dropping the profile is exact.
            Interpretation::Srgb
                if image
                    .get_blob("icc-profile-data")
                    .is_ok_and(|icc| is_srgb_profile(&icc)) =>
            {
                let mut untagged = image.copy()?;
                untagged.remove("icc-profile-data")?;
                Ok(untagged)
            }
            Interpretation::Srgb | Interpretation::Rgb | Interpretation::BW if has_profile => {
                let mut converted = image
                    .icc_transform_with_opts("srgb", VOption::new().set("embedded", true).set("intent", "relative"))?;
                converted.remove("icc-profile-data")?;
                Ok(converted)
            }
            Interpretation::Grey16 | Interpretation::BW => image.colourspace(Interpretation::BW),
            _ => image.colourspace(Interpretation::Srgb),
        }
    })
}

fn crop(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let Some(r) = plan.crop else { return Ok(frames) };
    map(frames, "crop", |image| {
        image.extract_area(r.x as i32, r.y as i32, r.width as i32, r.height as i32)
    })
}

/// Resizes images that were not already resized while loading: 8-bit
/// downscales in Kiln's own memory ([`raster::downscale`]), the rest in libvips.
fn resize(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let source = cx.source;
    let (w, h) = pre_orientation_size(plan, source);
    map(frames, "resize", |image| {
        if image.get_width() as u32 == w && image.get_height() as u32 == h {
            return Ok(image.clone());
        }
        if let Some(resized) = raster::downscale(image, (w, h), cx.watch)? {
            return Ok(resized);
        }
        image.thumbnail_image_with_opts(w as i32, VOption::new().set("height", h as i32).set("size", "force"))
    })
}

fn orient(cx: &Context, frames: Frames) -> Result<Frames> {
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

fn extract(cx: &Context, frames: Frames) -> Result<Frames> {
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

fn blur(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let Some(sigma) = plan.blur else { return Ok(frames) };
    map(frames, "blur", |image| image.gaussblur(sigma))
}

fn sharpen(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let Some(sigma) = plan.sharpen else { return Ok(frames) };
    map(frames, "sharpen", |image| {
        image.sharpen_with_opts(VOption::new().set("sigma", sigma))
    })
}

/// Splits off alpha so that colour operations see colour bands only.
fn split_alpha(image: &VipsImage) -> rs_vips::Result<(VipsImage, Option<VipsImage>)> {
    if !image.hasalpha() {
        return Ok((image.clone(), None));
    }
    let bands = image.get_bands();
    let colour = image.extract_band_with_opts(0, VOption::new().set("n", bands - 1))?;
    Ok((colour, Some(image.extract_band(bands - 1)?)))
}

fn rejoin_alpha(colour: VipsImage, alpha: Option<VipsImage>) -> rs_vips::Result<VipsImage> {
    match alpha {
        Some(alpha) => colour.bandjoin_with(alpha),
        None => Ok(colour),
    }
}

fn filter(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let Some(filter) = plan.filter else { return Ok(frames) };
    map(frames, "filter", |image| {
        let (colour, alpha) = split_alpha(image)?;
        let grey = colour.colourspace(Interpretation::BW)?;
        let filtered = match filter {
            Filter::Grayscale => grey.colourspace(Interpretation::Srgb)?,
            Filter::Bw => grey
                .relational_const(OperationRelational::Moreeq, &[128.0])?
                .colourspace(Interpretation::Srgb)?,
            Filter::Sepia => {
                let rgb = grey.colourspace(Interpretation::Srgb)?;
                let matrix = VipsImage::new_matrix_from_array(
                    3,
                    3,
                    &[0.393, 0.769, 0.189, 0.349, 0.686, 0.168, 0.272, 0.534, 0.131],
                )?;
                rgb.recomb(&matrix)?.cast(BandFormat::Uchar)?
            }
        };
        rejoin_alpha(filtered, alpha)
    })
}

fn embed(cx: &Context, frames: Frames) -> Result<Frames> {
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

/// Runs the plan's plugin transforms on 8-bit sRGB RGBA copies of the frames.
fn plugins(cx: &Context, frames: Frames) -> Result<Frames> {
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
fn run_plugins(cx: &Context, mut image: PluginImage) -> Result<Transformed> {
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
fn from_rgba8(image: PluginImage, had_alpha: bool, frame: &VipsImage) -> rs_vips::Result<VipsImage> {
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
fn rgba8(image: &VipsImage, watch: Watch) -> rs_vips::Result<PluginImage> {
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
fn is_srgb8(image: &VipsImage) -> rs_vips::Result<bool> {
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

fn flatten(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    if plan.output.format.has_alpha() {
        return Ok(frames);
    }
    let [r, g, b, _] = plan.background.map(f64::from);
    map(frames, "flatten", |image| {
        if !image.hasalpha() {
            return Ok(image.clone());
        }
        let background = if image.get_bands() <= 2 {
            vec![(r + g + b) / 3.0]
        } else {
            vec![r, g, b]
        };
        image.flatten_with_opts(VOption::new().set("background", background.as_slice()))
    })
}

/// Converts from the working sRGB to the colour space asked for.
fn export_colour(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    match plan.output.colour {
        ColourSpace::Srgb | ColourSpace::Origin => Ok(frames),
        ColourSpace::Gray => map(frames, "export colour", |image| image.colourspace(Interpretation::BW)),
        ColourSpace::P3 => map(frames, "export colour", |image| {
            let (colour, alpha) = split_alpha(image)?;
            let colour = if colour.get_bands() < 3 {
                colour.colourspace(Interpretation::Srgb)?
            } else {
                colour
            };
            let p3 = colour.icc_transform_with_opts(
                "p3",
                VOption::new().set("input_profile", "srgb").set("intent", "relative"),
            )?;
            rejoin_alpha(p3, alpha)
        }),
    }
}

/// Joins animation frames back into one tall image with `page-height` set.
fn join(frames: Frames, plan: &Plan) -> Result<VipsImage> {
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

fn encode(plan: &Plan, image: &VipsImage, watch: Watch) -> Result<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
