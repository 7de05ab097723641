//! Image transformations on libvips (SPEC §3, §4): parameters, canonical
//! plans, the pipeline, and the bounded pool they run on.
//!
//! **Invariant:** libvips work only ever runs inside [`Transformer`]'s pool,
//! on blocking threads, at most one job per permit; the async runtime never
//! decodes or encodes. This module knows nothing of HTTP or storage.

mod encode;
mod encoded;
mod icc;
mod jpeg;
mod params;
mod pipeline;
mod plan;
mod planar;
mod pool;
mod raster;
mod resample;
mod steps;
mod webp;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Interpretation};
use rs_vips::voption::{Setter, VOption};

pub use encoded::{Encoded, PipelineError, Timings};
pub use params::{OutputFormat, ParamError, ParamLimits, Params};
pub use plan::{FxStep, Plan, Source};
pub use pool::{PoolError, Queue};
pub use webp::encode_samples as encode_webp;

use crate::metrics::{FormatLabels, Metrics, TransformLabels};
use crate::plugin::{PluginError, PluginImage, Plugins};
use crate::probe::{ImageFormat, ImageInfo, Lqip, SourceColour};

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The original is larger than `limits.max-input-pixels`.
    #[error("the image is {width}x{height}, more than the {limit} pixels allowed")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the images the SVG embeds have {pixels} pixels together, more than the {limit} allowed")]
    TooManyEmbeddedPixels { pixels: u64, limit: u64 },
    #[error("the image has {frames} frames, more than the {limit} allowed")]
    TooManyFrames { frames: u32, limit: u32 },
    /// The result asked for would hold more memory than all transformations may.
    #[error(
        "making this result would hold about {needed_mib} MiB, more than the {budget_mib} MiB allowed for all \
         transformations at once; ask for fewer pixels"
    )]
    ResultTooLarge { needed_mib: u64, budget_mib: u64 },
    #[error("libvips could not start: {0}")]
    Init(String),
}

impl TransformError {
    /// Kiln's error code for a transformation that could not be done, or
    /// `None` when it was only refused for now (every worker was busy).
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            Self::Pool(PoolError::Overloaded | PoolError::WaitedTooLong(_)) => return None,
            Self::Pipeline(PipelineError::Plugin(PluginError::InvalidParam { .. })) => "invalid_param",
            Self::Pipeline(PipelineError::Plugin(_)) => "plugin_failed",
            Self::Pipeline(PipelineError::Vips { .. }) => "transform_failed",
            Self::TooManyPixels { .. }
            | Self::TooManyEmbeddedPixels { .. }
            | Self::ResultTooLarge { .. }
            | Self::Pool(PoolError::TooLarge { .. }) => "image_too_large",
            Self::TooManyFrames { .. } => "too_many_frames",
            Self::Pool(PoolError::TimedOut(_)) => "transform_timeout",
            Self::Pool(PoolError::Crashed(_)) | Self::Init(_) => "internal",
        })
    }
}

/// Limits on transformation work, from `[limits]`.
#[derive(Debug, Clone, Copy)]
pub struct TransformLimits {
    pub max_input_pixels: u64,
    pub max_dimension: u32,
    pub max_frames: u32,
    pub timeout: Duration,
    /// Concurrent transformations; 0 means two per core.
    pub workers: usize,
    /// What running transformations may hold between them, by their
    /// estimate ([`Transformer::admissible`]); 0 means 64 MiB per core.
    pub memory_bytes: u64,
    /// Transformations allowed to wait for a worker, and for how long, before 503.
    pub queue: pool::Queue,
}

/// Which placeholders to compute.
#[derive(Debug, Clone, Copy, Default)]
pub struct LqipKinds {
    pub blurhash: bool,
    pub thumbhash: bool,
}

/// What the upload-time inspection learned.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub source: Source,
    pub lqip: Option<Lqip>,
    /// A small RGBA copy for validators, when asked for.
    pub preview: Option<PluginImage>,
}

pub struct Transformer {
    pool: pool::Pool,
    limits: TransformLimits,
    plugins: Arc<Plugins>,
    metrics: Arc<Metrics>,
}

fn init_vips() -> Result<(), TransformError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        rs_vips::Vips::init("kiln").map_err(|e| e.to_string())?;
        // Parallelism comes from the pool, a job or two per core; libvips'
        // own worker threads on top would only oversubscribe the cores.
        rs_vips::Vips::concurrency_set(1);
        // Every variant is made once and stored: libvips' operation cache
        // would only hold memory.
        rs_vips::Vips::cache_set_max(0);
        // Only the loaders of the formats Kiln accepts may run: every other
        // loader (ImageMagick, PDF, MATLAB, …) is blocked, whatever the
        // bytes claim to be. SVG bytes only get this far at paths that
        // accept SVG; librsvg, loading from memory, fetches nothing and
        // runs no script.
        raster::block_operation("VipsForeignLoad", true)?;
        for loader in ALLOWED_LOADERS {
            raster::block_operation(loader, false)?;
        }
        Ok(())
    })
    .clone()
    .map_err(TransformError::Init)
}

/// The libvips loader classes of JPEG, PNG, WebP, GIF, AVIF/HEIC, JPEG XL, TIFF and SVG.
const ALLOWED_LOADERS: [&str; 8] = [
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadWebp",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadHeif",
    "VipsForeignLoadJxl",
    "VipsForeignLoadTiff",
    "VipsForeignLoadSvg",
];

impl Transformer {
    pub fn new(limits: TransformLimits, plugins: Plugins, metrics: Arc<Metrics>) -> Result<Self, TransformError> {
        init_vips()?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // One job per core left the cores partly idle (bench/NOTES.md): a
        // job waits on libvips' own threads and its caller on the store and
        // catalog. Two per core, as imgproxy's default, keeps them busy, and
        // the memory budget, not the worker count, bounds the peak.
        let workers = match limits.workers {
            0 => 2 * cores,
            n => n,
        };
        let memory = match limits.memory_bytes {
            0 => 64 * 1024 * 1024 * cores as u64,
            n => n,
        };
        Ok(Self {
            pool: pool::Pool::new(workers, memory, limits.queue, limits.timeout),
            limits,
            plugins: Arc::new(plugins),
            metrics,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Sets the pool's gauges, for a scrape.
    pub fn record_load(&self) {
        let (busy, waiting) = self.pool.load();
        self.metrics.pool_busy.set(busy as i64);
        self.metrics.pool_waiting.set(waiting as i64);
    }

    /// Counts one transformation by its format and outcome.
    fn record<T>(&self, format: &'static str, started: Instant, result: &Result<T, TransformError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(TransformError::Pool(PoolError::Overloaded | PoolError::WaitedTooLong(_))) => {
                self.metrics.pool_rejections.inc();
                "overloaded"
            }
            Err(TransformError::Pool(PoolError::TimedOut(_))) => "timeout",
            Err(
                TransformError::ResultTooLarge { .. }
                | TransformError::TooManyPixels { .. }
                | TransformError::TooManyEmbeddedPixels { .. }
                | TransformError::TooManyFrames { .. }
                | TransformError::Pool(PoolError::TooLarge { .. }),
            ) => "too_large",
            Err(_) => "failed",
        };
        self.metrics
            .transforms
            .get_or_create(&TransformLabels { format, outcome })
            .inc();
        self.metrics
            .transform_duration
            .get_or_create(&FormatLabels { format })
            .observe(started.elapsed().as_secs_f64());
    }

    pub fn param_limits(&self) -> ParamLimits {
        ParamLimits {
            max_dimension: self.limits.max_dimension,
        }
    }

    pub fn limits(&self) -> &TransformLimits {
        &self.limits
    }

    pub fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    /// Runs a validator or preprocessor on the pool: plugin calls block.
    pub async fn run_plugin<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Plugins) -> Result<T, PluginError> + Send + 'static,
    ) -> Result<T, TransformError> {
        let plugins = self.plugins.clone();
        Ok(self
            .pool
            .run(0, move |_| call(&plugins))
            .await?
            .map_err(PipelineError::Plugin)?)
    }

    /// Checks the pixel and frame limits against what a header says.
    pub fn check_limits(&self, width: u32, height: u32, frames: u32) -> Result<(), TransformError> {
        let limit = self.limits.max_input_pixels;
        if u64::from(width) * u64::from(height) > limit {
            return Err(TransformError::TooManyPixels { width, height, limit });
        }
        if frames > self.limits.max_frames {
            return Err(TransformError::TooManyFrames {
                frames,
                limit: self.limits.max_frames,
            });
        }
        Ok(())
    }

    /// Reads what planning needs from an upload, decoding a small thumbnail
    /// on the way (which proves the pixel data decodes) and computing the
    /// placeholders asked for.
    pub async fn inspect(
        &self,
        bytes: Bytes,
        info: ImageInfo,
        lqip: LqipKinds,
        preview: bool,
    ) -> Result<Inspection, TransformError> {
        self.check_limits(info.width, info.height, 1)?;
        // An SVG's embedded images are decoded whole when it renders.
        if info.embedded_pixels > self.limits.max_input_pixels {
            return Err(TransformError::TooManyEmbeddedPixels {
                pixels: info.embedded_pixels,
                limit: self.limits.max_input_pixels,
            });
        }
        // An original larger than the whole budget runs alone (see `admissible`).
        let memory = original_bytes(info.width, info.height, 1).min(self.pool.memory_bytes());
        let inspection = self
            .pool
            .run(memory, move |watchdog| {
                inspect_blocking(&bytes, info, lqip, preview, &|image| watchdog.watch(image))
            })
            .await??;
        let source = &inspection.source;
        self.check_limits(source.width, source.height, source.pages)?;
        Ok(inspection)
    }

    /// Carries out `plan` on an original.
    pub async fn render(&self, bytes: Bytes, plan: Plan, source: Source) -> Result<Encoded, TransformError> {
        let (format, started) = (plan.output.format.name(), Instant::now());
        let result = self.render_counted(bytes, plan, source).await;
        self.record(format, started, &result);
        result
    }

    async fn render_counted(&self, bytes: Bytes, plan: Plan, source: Source) -> Result<Encoded, TransformError> {
        self.check_limits(source.width, source.height, source.pages)?;
        let memory = self.admissible(&plan, &source)?;
        let plugins = self.plugins.clone();
        let submitted = Instant::now();
        let (encoded, queued) = self
            .pool
            .run(memory, move |watchdog| {
                let queued = submitted.elapsed();
                let encoded = pipeline::run(&bytes, &plan, &source, &plugins, &|image| watchdog.watch(image));
                (encoded, queued)
            })
            .await?;
        let mut encoded = encoded?;
        encoded.timings.0.insert(0, ("queue".into(), queued));
        Ok(encoded)
    }

    /// Whether `plan` fits the memory budget at all.
    pub fn can_make(&self, plan: &Plan, source: &Source) -> bool {
        self.admissible(plan, source).is_ok()
    }

    /// What the pool is asked to admit for `plan`. The result's share is what
    /// a client chooses by its parameters: more than the whole budget is
    /// refused. The original's share is bounded by `max-input-pixels`, the
    /// operator's choice: an original larger than the budget runs alone.
    fn admissible(&self, plan: &Plan, source: &Source) -> Result<u64, TransformError> {
        let budget = self.pool.memory_bytes();
        let result = result_bytes(plan, source);
        if result > budget {
            return Err(TransformError::ResultTooLarge {
                needed_mib: result.div_ceil(1 << 20),
                budget_mib: budget >> 20,
            });
        }
        Ok(original_bytes(source.width, source.height, frames_kept(plan, source))
            .saturating_add(result)
            .min(budget))
    }
}

/// What decoding `frames` frames of a `width`x`height` original may hold at
/// its peak: four bytes a pixel of every frame. That covers a frame decoded
/// whole (RGBA), and libjpeg's coefficients of a whole progressive JPEG
/// (three bytes a pixel at 4:2:0), which it keeps even when it decodes at 1/8.
fn original_bytes(width: u32, height: u32, frames: u32) -> u64 {
    u64::from(width) * u64::from(height) * 4 * u64::from(frames.max(1))
}

/// The frames a plan decodes and makes: every one of an animation kept as
/// one, else one.
fn frames_kept(plan: &Plan, source: &Source) -> u32 {
    if plan.output.animated { source.pages.max(1) } else { 1 }
}

/// What the steps after decoding may hold for `plan` at their peak: a step's
/// RGBA input and output of the largest frame the plan makes (the resized
/// image before a crop, or the padded canvas), plus the encoder's own
/// buffers, for every frame kept. The encoders differ most, so each is
/// counted at the worst peak per result pixel measured for it (bench/NOTES.md,
/// "Hostile-but-valid traffic").
fn result_bytes(plan: &Plan, source: &Source) -> u64 {
    let bytes_per_pixel: u64 = match plan.output.format {
        OutputFormat::Avif => 112,
        OutputFormat::Jxl => 44,
        OutputFormat::Heic => 24,
        OutputFormat::Jpeg | OutputFormat::Png | OutputFormat::Webp | OutputFormat::Gif => 14,
    };
    let area = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
    let largest = area((plan.width, plan.height)).max(plan.resize.map_or(0, area));
    largest
        .saturating_mul(bytes_per_pixel)
        .saturating_mul(u64::from(frames_kept(plan, source)))
}

/// The longer side of the preview validators receive.
pub const PREVIEW_SIZE: i32 = 256;

/// An image file as the 8-bit RGBA frame plugins receive, fitted within
/// `longest` pixels a side (for `kiln plugin check`, off the server).
pub fn decode_rgba(bytes: &[u8], longest: u32) -> Result<PluginImage, TransformError> {
    init_vips()?;
    let side = longest.min(i32::MAX as u32) as i32;
    let fitted =
        VipsImage::thumbnail_buffer_with_opts(bytes, side, VOption::new().set("height", side).set("size", "down"))
            .map_err(encoded::vips("decode"))?;
    let rgba = steps::plugins::to_rgba8(&fitted).map_err(encoded::vips("decode"))?;
    let (width, height) = (rgba.get_width() as u32, rgba.get_height() as u32);
    let pixels = raster::pixels(&rgba, &|_| {}).map_err(encoded::vips("decode"))?;
    Ok(PluginImage { width, height, pixels })
}

/// RGBA pixels as a PNG (for `kiln plugin check`).
pub fn encode_png(image: &PluginImage) -> Result<Vec<u8>, TransformError> {
    init_vips()?;
    let (width, height) = (image.width as i32, image.height as i32);
    VipsImage::new_from_memory_copy(&image.pixels, width, height, 4, BandFormat::Uchar)
        .and_then(|frame| frame.copy_with_opts(VOption::new().set("interpretation", "srgb")))
        .and_then(|frame| frame.write_to_buffer(".png"))
        .map_err(|error| TransformError::Pipeline(encoded::vips("encode")(error)))
}

fn inspect_blocking(
    bytes: &[u8],
    info: ImageInfo,
    lqip: LqipKinds,
    preview: bool,
    watch: raster::Watch,
) -> Result<Inspection, PipelineError> {
    let header = VipsImage::new_from_buffer(bytes, "").map_err(encoded::vips("inspect"))?;
    let pages = header.get_int("n-pages").unwrap_or(1).max(1) as u32;
    let colour = match header.get_interpretation().map_err(encoded::vips("inspect"))? {
        Interpretation::Srgb | Interpretation::Rgb => SourceColour::Srgb,
        Interpretation::BW => SourceColour::Gray,
        Interpretation::Cmyk => SourceColour::Cmyk,
        _ => SourceColour::Other,
    };
    // An SVG's size is whatever librsvg makes of it; the probe's reading of
    // the root element only filters out the absurd before this point.
    let (width, height) = if info.format == ImageFormat::Svg {
        (header.get_width() as u32, header.get_height() as u32)
    } else {
        (info.width, info.height)
    };
    let source = Source {
        format: info.format,
        width,
        height,
        has_alpha: header.hasalpha(),
        pages,
        colour,
    };
    // Decoding a small thumbnail walks all of the compressed data, so damage
    // that the structural probe cannot see fails the upload here.
    let thumb = VipsImage::thumbnail_buffer_with_opts(
        bytes,
        64,
        VOption::new()
            .set("height", 64)
            .set("option_string", "fail_on=truncated"),
    )
    .map_err(encoded::vips("decode"))?
    .colourspace(Interpretation::Srgb)
    .map_err(encoded::vips("decode"))?;
    let thumb = if thumb.hasalpha() {
        thumb
    } else {
        thumb.bandjoin_const(&[255.0]).map_err(encoded::vips("decode"))?
    };
    let (w, h) = (thumb.get_width() as u32, thumb.get_height() as u32);
    let rgba = raster::pixels(&thumb, watch).map_err(encoded::vips("decode"))?;
    if rgba.len() != (w * h * 4) as usize {
        return Err(PipelineError::Vips {
            step: "decode",
            message: "the thumbnail has an unexpected layout".into(),
        });
    }
    let lqip = (lqip.blurhash || lqip.thumbhash).then(|| Lqip {
        blurhash: lqip
            .blurhash
            .then(|| blurhash::encode(4, 3, w, h, &rgba).ok())
            .flatten(),
        thumbhash: lqip.thumbhash.then(|| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .encode(thumbhash::rgba_to_thumb_hash(w as usize, h as usize, &rgba))
        }),
    });
    let preview = if preview {
        let small = VipsImage::thumbnail_buffer_with_opts(
            bytes,
            PREVIEW_SIZE,
            VOption::new()
                .set("height", PREVIEW_SIZE)
                .set("option_string", "fail_on=truncated"),
        )
        .and_then(|image| steps::plugins::to_rgba8(&image))
        .map_err(encoded::vips("preview"))?;
        Some(PluginImage {
            width: small.get_width() as u32,
            height: small.get_height() as u32,
            pixels: raster::pixels(&small, watch).map_err(encoded::vips("preview"))?,
        })
    } else {
        None
    };
    Ok(Inspection { source, lqip, preview })
}

/// The image libraries in this build and their versions, for `kiln version`:
/// Debian's libvips (linked), and the libjpeg-turbo and libwebp built in.
pub fn codec_versions() -> Vec<(&'static str, String)> {
    // "8.14.1-Tue Feb 28 …": the version, without its build date.
    let libvips = rs_vips::Vips::version_string()
        .ok()
        .and_then(|text| text.split('-').next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    // SAFETY: a pure function of the linked library, with no arguments.
    let webp = unsafe { libwebp_sys::WebPGetEncoderVersion() };
    let libwebp = format!("{}.{}.{}", (webp >> 16) & 0xff, (webp >> 8) & 0xff, webp & 0xff);
    vec![
        ("libvips", libvips),
        ("libjpeg-turbo", env!("BUILT_LIBJPEG_TURBO_VERSION").to_owned()),
        ("libwebp", libwebp),
    ]
}
