//! The shortcut for the request Kiln serves most: a JPEG photo shrunk to fit
//! a box and written as a JPEG or a lossy WebP with no metadata.
//!
//! Both formats store a Y plane and two colour planes (Cb and Cr, or VP8's
//! U and V), usually with the colour halved each way; so the planes go from
//! one file to the other without becoming RGB. TurboJPEG decodes them at the
//! DCT scale, each plane is resized at its own resolution (Lanczos 3, as
//! [`resample::downscale`](super::resample::downscale)), and TurboJPEG or
//! libwebp encodes them as they are. That skips the decoder's chroma
//! upsampling and YCbCr→RGB conversion, the encoder's conversion back and
//! its chroma downsampling, two of the three full-size bands of the resize,
//! and libvips' header read, image objects and metadata copies: measured in
//! bench/NOTES.md.
//!
//! Only a plan that asks for nothing more takes it (no crop, orientation,
//! effect, padding or other output format; sRGB; every metadata stripped),
//! for an original that needs nothing more: an upright 8-bit YCbCr JPEG,
//! Huffman-coded, with no ICC profile or an sRGB one, that decodes without a
//! libjpeg warning. Anything else returns `None` before any work that
//! matters, and the pipeline does it, with libvips' checks and messages. A
//! plan with plugins takes it too: the resized planes become the plugins'
//! RGBA frame, and what they return, when opaque, goes straight to the
//! encoder (else through the pipeline's steps after the plugins), so a
//! plugin in the chain adds its call and two colour conversions at the
//! output size, not a slower way to and from the plugins. When the plugins
//! hand the frame back as it was, the planes are encoded as without them.
//! As in `jpeg.rs`, a TurboJPEG call cannot be killed by the pool's
//! watchdog; it is bounded by the upload's pixel limit.

use std::borrow::Cow;
use std::ffi::c_int;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{PixelType, ResizeAlg, ResizeOptions, Resizer};
use turbojpeg::{Colorspace, Compressor, PixelFormat, Subsamp, YuvImage, YuvPlanesImage, raw};
use zune_core::bytestream::ZCursor;
use zune_core::options::DecoderOptions;

use super::encoded::{Encoded, PipelineError, Timings};
use super::icc::is_srgb_profile;
use super::params::{ColourSpace, OutputFormat, Strip};
use super::plan::{Plan, Source};
use super::raster::Watch;
use super::resample;
use super::{jpeg, webp};
use crate::plugin::PluginImage;
use crate::probe::ImageFormat;

type Result<T> = std::result::Result<T, PipelineError>;

/// What the plan writes, when it is one of the two this path can.
#[derive(Debug, Clone, Copy)]
enum Output {
    Jpeg { quality: i32, progressive: bool },
    Webp { quality: i32 },
}

impl Output {
    /// The colour subsampling of the result: JPEG's as libvips writes it;
    /// VP8 always halves the colour each way.
    fn subsampling(self) -> Subsamp {
        match self {
            Output::Jpeg { quality, .. } => jpeg::subsampling(quality),
            Output::Webp { .. } => Subsamp::Sub2x2,
        }
    }
}

/// One plane of samples, `width` by `height`, rows unpadded.
struct Plane {
    samples: Vec<u8>,
    width: u32,
    height: u32,
}

/// A JPEG decoded and shrunk to the plan's size on its planes, ready to be
/// encoded, or turned into the RGBA frame plugins take.
pub struct Shrunk {
    planes: [Plane; 3],
    output: Output,
    size: (u32, u32),
}

/// The JPEG `bytes` shrunk on their planes for `plan`; `None` when the plan
/// or the original needs anything this path does not do.
pub fn shrink(bytes: &[u8], plan: &Plan, source: &Source) -> Option<Shrunk> {
    let (output, size) = simple(plan, source)?;
    if !upright_srgb(bytes) {
        return None;
    }
    let planes = decode_resized(bytes, size, output.subsampling())?;
    Some(Shrunk { planes, output, size })
}

impl Shrunk {
    /// The planes as the 8-bit sRGB RGBA frame plugins take, at the plan's size.
    pub fn rgba(&self) -> Option<PluginImage> {
        let [y, u, v] = &self.planes;
        Some(PluginImage {
            width: self.size.0,
            height: self.size.1,
            pixels: rgba([y, u, v], self.output.subsampling())?,
        })
    }

    /// The planes encoded as the plan asks.
    pub fn encode(self, watch: Watch) -> Result<Encoded> {
        let Shrunk { planes, output, size } = self;
        let bytes = match output {
            Output::Jpeg { quality, progressive } => {
                let [y, u, v] = &planes;
                encode_jpeg([y, u, v], quality, progressive, output.subsampling())
            }
            Output::Webp { quality } => encode_webp(planes, quality, watch),
        }?;
        Ok(Encoded {
            bytes,
            width: size.0,
            height: size.1,
            timings: Timings::default(),
        })
    }

    /// An opaque frame the plugins made from these planes, encoded as the
    /// plan asks, straight from its RGBA (the encoders skip the fourth
    /// byte); `None` for a frame with transparency, which must go through
    /// the pipeline's steps after the plugins (flattening, for one).
    pub fn encode_frame(&self, frame: &PluginImage, watch: Watch) -> Option<Result<Encoded>> {
        if !frame.is_opaque() {
            return None;
        }
        let (width, height, output) = (frame.width, frame.height, self.output);
        let bytes = match output {
            Output::Jpeg { quality, progressive } => jpeg::compress(
                &frame.pixels,
                (width as usize, height as usize),
                PixelFormat::RGBX,
                output.subsampling(),
                quality,
                progressive,
            )
            .map_err(|e| encode_failed("JPEG", e)),
            Output::Webp { quality } => webp::encode_watched(
                webp::Pixels::Rgbx(&frame.pixels),
                webp_size(width, height),
                quality,
                watch,
            )
            .map_err(|e| encode_failed("WebP", e)),
        };
        Some(bytes.map(|bytes| Encoded {
            bytes,
            width,
            height,
            timings: Timings::default(),
        }))
    }
}

/// The output and the size to shrink to, when the plan asks for nothing else.
fn simple(plan: &Plan, source: &Source) -> Option<(Output, (u32, u32))> {
    let o = &plan.output;
    let only_a_shrink = source.format == ImageFormat::Jpeg
        && source.pages <= 1
        && plan.crop.is_none()
        && plan.orientation.is_identity()
        && plan.extract.is_none()
        && plan.blur.is_none()
        && plan.sharpen.is_none()
        && plan.filter.is_none()
        && plan.embed.is_none()
        && !o.animated
        && !o.lossless
        && o.strip == Strip::ALL
        && o.colour == ColourSpace::Srgb;
    if !only_a_shrink {
        return None;
    }
    let quality = i32::from(o.quality?);
    let output = match o.format {
        OutputFormat::Jpeg => Output::Jpeg {
            quality,
            progressive: o.progressive,
        },
        OutputFormat::Webp => Output::Webp { quality },
        _ => return None,
    };
    let (width, height) = plan.resize?;
    let shrinking = width > 0 && height > 0 && width <= source.width && height <= source.height;
    shrinking.then_some((output, (width, height)))
}

/// Whether the JPEG needs no turning (no EXIF orientation, or 1) and no
/// colour conversion (no ICC profile, or an sRGB one). Only the markers
/// before the first scan are read; an EXIF block that cannot be read counts
/// as one that might turn the image.
fn upright_srgb(bytes: &[u8]) -> bool {
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    if decoder.decode_headers().is_err() {
        return false;
    }
    let upright = decoder.exif().is_none_or(|tiff| {
        exif::Reader::new().read_raw(tiff.clone()).is_ok_and(|exif| {
            exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
                .is_none_or(|field| field.value.get_uint(0).is_some_and(|o| o <= 1))
        })
    });
    upright && decoder.icc_profile().is_none_or(|icc| is_srgb_profile(&icc))
}

/// The Y, Cb and Cr planes of the JPEG at `size`, the colour planes
/// subsampled as `subsampling`; `None` when TurboJPEG cannot or should not
/// decode it (see the module's doc).
fn decode_resized(bytes: &[u8], size: (u32, u32), subsampling: Subsamp) -> Option<[Plane; 3]> {
    let (mut decompressor, header) = jpeg::decompressor(bytes)?;
    let subsamp = header.subsamp;
    if header.colorspace != Colorspace::YCbCr || matches!(subsamp, Subsamp::Gray | Subsamp::Unknown) {
        return None;
    }
    let full = (u32::try_from(header.width).ok()?, u32::try_from(header.height).ok()?);
    let scaled = jpeg::scale(&mut decompressor, &header, jpeg::shrink_factor(full, size))?;
    let layout = YuvImage {
        pixels: (),
        width: scaled.width,
        align: 1,
        height: scaled.height,
        subsamp,
    };
    let (luma_size, chroma_size) = (layout.y_size(), layout.uv_size());
    let (luma_len, chroma_len) = (luma_size.0 * luma_size.1, chroma_size.0 * chroma_size.1);
    let mut pixels = vec![0u8; luma_len + 2 * chroma_len];
    // Warnings count as failures here: libvips then decides, with
    // `fail_on=truncated`, which of them a request may live with.
    decompressor
        .decompress_to_yuv(
            bytes,
            YuvImage {
                pixels: &mut pixels[..],
                width: scaled.width,
                align: 1,
                height: scaled.height,
                subsamp,
            },
        )
        .ok()?;
    let (luma, chroma) = pixels.split_at(luma_len);
    let (cb, cr) = chroma.split_at(chroma_len);
    let picture = (scaled.width as f64, scaled.height as f64);
    let (from_x, from_y) = (subsamp.width() as f64, subsamp.height() as f64);
    let (to_x, to_y) = factors(subsampling);
    let chroma_to = (size.0.div_ceil(to_x), size.1.div_ceil(to_y));
    // The result's colour samples cover whole pairs of pixels, one column or
    // row past the picture when its side is odd; the source area they are
    // made from is scaled to match, as far as the source plane reaches.
    let chroma_area = (
        (f64::from(chroma_to.0 * to_x) * picture.0 / f64::from(size.0) / from_x).min(chroma_size.0 as f64),
        (f64::from(chroma_to.1 * to_y) * picture.1 / f64::from(size.1) / from_y).min(chroma_size.1 as f64),
    );
    let mut resizer = Resizer::new();
    let lanczos3 = resample::lanczos3();
    let mut resize = |samples: &[u8], stored: (usize, usize), area: (f64, f64), to: (u32, u32)| {
        let stored = (u32::try_from(stored.0).ok()?, u32::try_from(stored.1).ok()?);
        let from = ImageRef::new(stored.0, stored.1, samples, PixelType::U8).ok()?;
        let mut resized = Image::new(to.0, to.1, PixelType::U8);
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(lanczos3))
            .crop(0.0, 0.0, area.0, area.1);
        resizer.resize(&from, &mut resized, &options).ok()?;
        Some(Plane {
            samples: resized.into_vec(),
            width: to.0,
            height: to.1,
        })
    };
    Some([
        resize(luma, luma_size, picture, size)?,
        resize(cb, chroma_size, chroma_area, chroma_to)?,
        resize(cr, chroma_size, chroma_area, chroma_to)?,
    ])
}

/// Y, Cb and Cr planes, the colour ones subsampled as `subsampling`, as
/// 8-bit sRGB RGBA, converted (and the colour upsampled) as libjpeg does when
/// it decodes.
fn rgba([y, u, v]: [&Plane; 3], subsampling: Subsamp) -> Option<Vec<u8>> {
    let (width, height) = (i32::try_from(y.width).ok()?, i32::try_from(y.height).ok()?);
    let (x, y_factor) = factors(subsampling);
    let expected = (y.width.div_ceil(x), y.height.div_ceil(y_factor));
    let chroma_fits = |plane: &Plane| {
        (plane.width, plane.height) == expected && plane.samples.len() == (expected.0 * expected.1) as usize
    };
    if !chroma_fits(u) || !chroma_fits(v) || y.samples.len() != (y.width * y.height) as usize {
        return None;
    }
    let (luma, luma_stride) = luma_in_whole_samples(y, u, subsampling);
    // Not zeroed first: TurboJPEG writes every byte, and zeroing the frame
    // was a tenth of a no-op plugin's cost (bench/NOTES.md).
    let len = y.samples.len().checked_mul(4)?;
    let mut rgba = Vec::<u8>::with_capacity(len);
    let planes = [luma.as_ptr(), u.samples.as_ptr(), v.samples.as_ptr()];
    let strides = [i32::try_from(luma_stride).ok()?, u.width as i32, v.width as i32];
    // SAFETY: the handle is made, used and destroyed here alone; the planes
    // hold exactly what planes of this subsampling and size take at these
    // strides (checked and padded above), and `rgba` has room for `width *
    // 4 * height` bytes, the destination at that pitch, every one of which
    // a successful decode writes; only then is its length set. TurboJPEG
    // only reads the planes.
    unsafe {
        let handle = raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as c_int);
        if handle.is_null() {
            return None;
        }
        let decoded = raw::tj3Set(handle, raw::TJPARAM_TJPARAM_SUBSAMP as c_int, subsampling as c_int) == 0
            && raw::tj3DecodeYUVPlanes8(
                handle,
                planes.as_ptr(),
                strides.as_ptr(),
                rgba.as_mut_ptr(),
                width,
                width * 4,
                height,
                raw::TJPF_TJPF_RGBA,
            ) == 0;
        raw::tj3Destroy(handle);
        if decoded {
            rgba.set_len(len);
        }
        decoded.then_some(rgba)
    }
}

/// The planes as a JPEG with no metadata, as `jpeg::encode` writes one.
fn encode_jpeg([y, u, v]: [&Plane; 3], quality: i32, progressive: bool, subsamp: Subsamp) -> Result<Vec<u8>> {
    let (luma, stride) = luma_in_whole_samples(y, u, subsamp);
    let planes = YuvPlanesImage {
        y_plane: &luma[..],
        u_plane: &u.samples[..],
        v_plane: &v.samples[..],
        width: y.width as usize,
        height: y.height as usize,
        y_stride: stride as usize,
        u_stride: u.width as usize,
        v_stride: v.width as usize,
        subsamp,
    };
    let compressed = Compressor::new().and_then(|mut compressor| {
        compressor.set_quality(quality)?;
        compressor.set_optimize(true)?;
        compressor.set_progressive(progressive)?;
        compressor.compress_yuv_planes_to_vec(&planes)
    });
    compressed.map_err(|e| encode_failed("JPEG", e))
}

/// Horizontal and vertical colour subsampling factors.
fn factors(subsampling: Subsamp) -> (u32, u32) {
    (subsampling.width() as u32, subsampling.height() as u32)
}

/// The luma plane as TurboJPEG reads it beside colour planes like `chroma`:
/// in whole colour samples, so with an odd side one more column or row,
/// repeated from the edge; and its stride.
fn luma_in_whole_samples<'a>(luma: &'a Plane, chroma: &Plane, subsampling: Subsamp) -> (Cow<'a, [u8]>, u32) {
    let (x, y) = factors(subsampling);
    let stride = chroma.width * x;
    (padded(luma, (stride, chroma.height * y)), stride)
}

/// `plane`'s samples grown to `width`x`height` by repeating its last column
/// and row.
fn padded(plane: &Plane, (width, height): (u32, u32)) -> Cow<'_, [u8]> {
    if (width, height) == (plane.width, plane.height) {
        return Cow::Borrowed(&plane.samples);
    }
    let (width, height) = (width as usize, height as usize);
    let mut samples = Vec::with_capacity(width * height);
    for row in plane.samples.chunks_exact(plane.width as usize) {
        samples.extend_from_slice(row);
        samples.resize(samples.len() + width - row.len(), row.last().copied().unwrap_or(0));
    }
    let last_row = samples.len().saturating_sub(width);
    for _ in plane.height as usize..height {
        samples.extend_from_within(last_row..last_row + width);
    }
    Cow::Owned(samples)
}

/// The planes as a lossy WebP with no metadata, as `webp::encode` writes one:
/// JPEG's full-range YCbCr mapped to VP8's limited range first.
fn encode_webp([mut y, mut u, mut v]: [Plane; 3], quality: i32, watch: Watch) -> Result<Vec<u8>> {
    for sample in &mut y.samples {
        *sample = LIMITED_LUMA[usize::from(*sample)];
    }
    for sample in u.samples.iter_mut().chain(v.samples.iter_mut()) {
        *sample = LIMITED_CHROMA[usize::from(*sample)];
    }
    let pixels = webp::Pixels::Yuv420 {
        y: &y.samples,
        u: &u.samples,
        v: &v.samples,
    };
    webp::encode_watched(pixels, webp_size(y.width, y.height), quality, watch).map_err(|e| encode_failed("WebP", e))
}

/// A size as libwebp takes it; one past its range fails its size check.
fn webp_size(width: u32, height: u32) -> (i32, i32) {
    (
        i32::try_from(width).unwrap_or(i32::MAX),
        i32::try_from(height).unwrap_or(i32::MAX),
    )
}

fn encode_failed(format: &str, error: impl std::fmt::Display) -> PipelineError {
    PipelineError::Vips {
        step: "encode",
        message: format!("could not encode {format}: {error}"),
    }
}

/// Full-range (JPEG) luma, 0–255, in BT.601's limited range, 16–235.
static LIMITED_LUMA: [u8; 256] = limited(16, 219);
/// Full-range chroma, 0–255 around 128, in BT.601's limited range, 16–240.
static LIMITED_CHROMA: [u8; 256] = limited(128, 224);

/// The map of full-range samples onto `span` steps: from 16 for luma, and
/// about the middle, `128`, for chroma.
const fn limited(origin: i32, span: i32) -> [u8; 256] {
    let mut map = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let from = if origin == 128 { i as i32 - 128 } else { i as i32 };
        let scaled = from * span;
        // Rounded half away from zero; integer division truncates towards it.
        let rounded = if scaled >= 0 {
            (scaled + 127) / 255
        } else {
            -((-scaled + 127) / 255)
        };
        map[i] = (origin + rounded) as u8;
        i += 1;
    }
    map
}

#[cfg(test)]
mod tests {
    use rs_vips::VipsImage;
    use rs_vips::enums::Interpretation;
    use rs_vips::voption::{Setter, VOption};

    use super::*;
    use crate::probe::SourceColour;
    use crate::transform::params::{ParamLimits, Params};
    use crate::transform::plan::FxStep;
    use crate::transform::raster::pixels;
    use crate::transform::raster::testing::{differences, image, no_watch};

    /// A 1280x800 photo-like frame: gradients, an edge, a coloured disc and
    /// a fine texture, so that colour edges and detail show a bad resize.
    fn photo() -> VipsImage {
        image(1280, 800, 3, |x, y| {
            let grain = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(2_246_822_519) >> 28;
            let (dx, dy) = (x as i32 - 800, y as i32 - 400);
            if dx * dx + dy * dy < 150 * 150 {
                return vec![220, 40, (30 + grain) as u8];
            }
            let edge = if x < 500 { 0 } else { 60 };
            vec![
                (x * 180 / 1279 + grain) as u8,
                (y * 200 / 799) as u8,
                (90 + edge + grain) as u8,
            ]
        })
    }

    /// At quality 85, where libvips halves the colour unless told not to.
    fn jpeg_of(image: &VipsImage, options: VOption) -> Vec<u8> {
        image.jpegsave_buffer_with_opts(options.set("Q", 85)).unwrap()
    }

    fn source_of(bytes: &[u8]) -> Source {
        let header = VipsImage::new_from_buffer(bytes, "").unwrap();
        Source {
            format: ImageFormat::Jpeg,
            width: header.get_width() as u32,
            height: header.get_height() as u32,
            has_alpha: false,
            pages: 1,
            colour: SourceColour::Srgb,
        }
    }

    fn plan(source: &Source, query: &str, fx: Vec<FxStep>) -> Plan {
        let pairs = query.split('&').filter_map(|p| p.split_once('='));
        let params = Params::parse(pairs, ParamLimits { max_dimension: 8192 }).unwrap();
        Plan::new(&params, source, None, 8192, fx).unwrap()
    }

    fn shrunk(bytes: &[u8], query: &str) -> Option<Encoded> {
        let source = source_of(bytes);
        let plan = plan(&source, query, Vec::new());
        shrink(bytes, &plan, &source).map(|shrunk| shrunk.encode(&no_watch).unwrap())
    }

    #[test]
    fn shrinks_as_libvips_does() {
        crate::transform::init_vips().unwrap();
        let original = photo();
        let mut tagged = original
            .icc_transform_with_opts("srgb", VOption::new().set("input_profile", "srgb"))
            .unwrap();
        tagged
            .set_blob_copy("xmp-data", b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
            .unwrap();
        let cases = [
            (
                "4:2:0 with XMP and an sRGB profile",
                jpeg_of(&tagged, VOption::new()),
                "4:2:0",
            ),
            (
                "4:4:4",
                jpeg_of(&original, VOption::new().set("subsample_mode", "off")),
                "4:4:4",
            ),
            (
                "progressive 4:2:0",
                jpeg_of(&original, VOption::new().set("interlace", true)),
                "4:2:0",
            ),
        ];
        for (case, bytes, subsampling) in cases {
            let header = VipsImage::new_from_buffer(&bytes, "").unwrap();
            assert_eq!(
                header.get_string("jpeg-chroma-subsample").unwrap(),
                subsampling,
                "{case}"
            );
            for (query, (width, height), quality) in [
                ("w=300&h=300&fit=inside&format=jpeg&q=80", (300, 188), 80),
                (
                    "w=301&h=301&fit=inside&format=jpeg&q=95&progressive=true",
                    (301, 188),
                    95,
                ),
                ("w=640&h=640&fit=inside&format=jpeg&q=70", (640, 400), 70),
                ("w=333&h=333&fit=inside&format=webp&q=80", (333, 208), 80),
                ("w=1279&h=1279&fit=inside&format=webp&q=90", (1279, 799), 90),
            ] {
                let case = format!("{case}, {query}");
                let ours = shrunk(&bytes, query).unwrap_or_else(|| panic!("{case}: takes the planar path"));
                assert_eq!((ours.width, ours.height), (width, height), "{case}");
                // What the pipeline would do: libvips' shrink, then its saver.
                let shrunk = VipsImage::thumbnail_buffer_with_opts(
                    &bytes,
                    width as i32,
                    VOption::new().set("height", height as i32).set("size", "force"),
                )
                .and_then(|image| image.copy_memory())
                .unwrap();
                // libvips 8.14's `webpsave` keeps the ICC profile even with `strip`.
                let mut untagged = shrunk.copy().unwrap();
                if untagged.get_typeof("icc-profile-data").unwrap_or(0) != 0 {
                    untagged.remove("icc-profile-data").unwrap();
                }
                let options = VOption::new().set("Q", quality).set("strip", true);
                let theirs = if query.contains("webp") {
                    untagged
                        .webpsave_buffer_with_opts(options.set("effort", webp::EFFORT))
                        .unwrap()
                } else {
                    untagged
                        .jpegsave_buffer_with_opts(options.set("optimize_coding", true).set("interlace", true))
                        .unwrap()
                };
                let size = ours.bytes.len() as f64 / theirs.len() as f64;
                assert!(
                    (0.85..1.15).contains(&size),
                    "{case}: {} against {} bytes",
                    ours.bytes.len(),
                    theirs.len()
                );
                let decoded = VipsImage::new_from_buffer(&ours.bytes, "").unwrap();
                assert_eq!(
                    (decoded.get_width(), decoded.get_height()),
                    (width as i32, height as i32)
                );
                assert_eq!(decoded.get_interpretation().unwrap(), Interpretation::Srgb, "{case}");
                for field in ["xmp-data", "exif-data", "icc-profile-data"] {
                    assert_eq!(decoded.get_typeof(field).unwrap_or(0), 0, "{case}: no {field}");
                }
                if !query.contains("webp") {
                    let expected = if quality >= 90 { "4:4:4" } else { "4:2:0" };
                    assert_eq!(decoded.get_string("jpeg-chroma-subsample").unwrap(), expected, "{case}");
                }
                let reference = pixels(&shrunk, &no_watch).unwrap();
                let error = |file: &[u8]| {
                    let decoded = VipsImage::new_from_buffer(file, "").unwrap();
                    differences(&pixels(&decoded, &no_watch).unwrap(), &reference).0
                };
                let (our_error, their_error) = (error(&ours.bytes), error(&theirs));
                assert!(
                    our_error < their_error * 1.15 + 0.15,
                    "{case}: as faithful as libvips' file: {our_error} against {their_error}"
                );
            }
        }
    }

    #[test]
    fn odd_sizes_keep_colour_in_place() {
        crate::transform::init_vips().unwrap();
        // Left half red, right half blue: the colour edge must stay where
        // the luma edge is, at every odd size and subsampling.
        let halves = image(1000, 600, 3, |x, _| {
            if x < 500 { vec![200, 30, 30] } else { vec![30, 30, 200] }
        });
        let bytes = jpeg_of(&halves, VOption::new());
        for query in [
            "w=251&h=251&fit=inside&format=jpeg&q=80",
            "w=251&h=251&fit=inside&format=webp&q=80",
        ] {
            let ours = shrunk(&bytes, query).unwrap();
            let decoded = VipsImage::new_from_buffer(&ours.bytes, "").unwrap();
            let rgb = pixels(&decoded, &no_watch).unwrap();
            let width = decoded.get_width() as usize;
            let row = &rgb[width * 3 * 75..width * 3 * 76];
            let red = |x: usize| (row[x * 3], row[x * 3 + 2]);
            assert!(
                red(20).0 > 150 && red(20).1 < 80,
                "{query}: red on the left: {:?}",
                red(20)
            );
            assert!(
                red(width - 1).0 < 80 && red(width - 1).1 > 150,
                "{query}: blue at the right edge"
            );
            assert!(red(width / 2 + 6).1 > 150, "{query}: blue just past the middle");
        }
    }

    #[test]
    fn leaves_the_rest_to_the_pipeline() {
        crate::transform::init_vips().unwrap();
        let original = photo();
        let bytes = jpeg_of(&original, VOption::new());
        let query = "w=300&h=300&fit=inside&format=jpeg&q=80";
        assert!(shrunk(&bytes, query).is_some(), "the plain case does take it");

        let mut turned = original.copy().unwrap();
        turned.set_int("orientation", 6).unwrap();
        let turned = jpeg_of(&turned, VOption::new());
        let header = VipsImage::new_from_buffer(&turned, "").unwrap();
        assert_eq!(header.get_int("orientation").unwrap(), 6);
        assert!(shrunk(&turned, query).is_none(), "EXIF orientation");

        let p3 = original
            .icc_transform_with_opts("p3", VOption::new().set("input_profile", "srgb"))
            .unwrap();
        assert!(
            shrunk(&jpeg_of(&p3, VOption::new()), query).is_none(),
            "a Display P3 profile"
        );
        let grey = original.colourspace(Interpretation::BW).unwrap();
        assert!(shrunk(&jpeg_of(&grey, VOption::new()), query).is_none(), "grey");
        let cmyk = original
            .icc_transform_with_opts("cmyk", VOption::new().set("input_profile", "srgb"))
            .unwrap();
        assert!(shrunk(&jpeg_of(&cmyk, VOption::new()), query).is_none(), "CMYK");
        assert!(
            shrunk(&bytes[..bytes.len() / 2], query).is_none(),
            "truncated: libjpeg warns"
        );

        for other in [
            "w=300&h=300&fit=inside&format=png",
            "w=300&h=300&fit=inside&format=webp&lossless=true",
            "w=300&h=300&fit=inside&format=jpeg&blur=2",
            "w=300&h=300&fit=inside&format=jpeg&filter=sepia",
            "w=300&h=300&fit=inside&format=jpeg&r=90",
            "w=300&h=300&fit=inside&format=jpeg&strip=none",
            "w=300&h=300&fit=inside&format=jpeg&cs=p3",
            "w=300&h=300&fit=inside&format=jpeg&pad=10",
            "w=300&h=300&fit=contain&format=jpeg",
            "w=300&h=300&fit=cover&format=jpeg",
            "crop=0,0,600,600&w=300&format=jpeg",
        ] {
            assert!(shrunk(&bytes, other).is_none(), "{other}");
        }
    }

    #[test]
    fn hands_plugins_an_rgba_frame_at_the_planned_size() {
        crate::transform::init_vips().unwrap();
        let bytes = jpeg_of(&photo(), VOption::new());
        let source = source_of(&bytes);
        let theirs =
            VipsImage::thumbnail_buffer_with_opts(&bytes, 301, VOption::new().set("height", 188).set("size", "force"))
                .unwrap()
                .bandjoin_const(&[255.0])
                .unwrap();
        let theirs = pixels(&theirs, &no_watch).unwrap();
        for subsampling in [Subsamp::None, Subsamp::Sub2x2] {
            let [y, u, v] = decode_resized(&bytes, (301, 188), subsampling).unwrap();
            let frame = rgba([&y, &u, &v], subsampling).unwrap();
            // The buffer is not zeroed first: every byte must come from the decode.
            assert!(
                frame.chunks_exact(4).all(|pixel| pixel[3] == 255),
                "{subsampling:?}: alpha left unwritten"
            );
            let (mean, _) = differences(&frame, &theirs);
            assert!(mean < 2.0, "{subsampling:?}: mean difference {mean}");
        }
        // The frame the plugins get is the planes' at the planned size.
        let plan = plan(&source, "w=300&h=300&fit=inside&format=jpeg&q=80", Vec::new());
        let frame = shrink(&bytes, &plan, &source)
            .expect("takes the planar path")
            .rgba()
            .unwrap();
        assert_eq!((frame.width, frame.height), (300, 188));
    }

    #[test]
    fn full_range_maps_onto_the_limited_range() {
        assert_eq!((LIMITED_LUMA[0], LIMITED_LUMA[128], LIMITED_LUMA[255]), (16, 126, 235));
        assert_eq!(
            (LIMITED_CHROMA[0], LIMITED_CHROMA[128], LIMITED_CHROMA[255]),
            (16, 128, 240)
        );
        assert!(LIMITED_LUMA.windows(2).all(|w| w[0] <= w[1]));
        assert!(LIMITED_CHROMA.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn padding_repeats_the_last_column_and_row() {
        let plane = Plane {
            samples: vec![1, 2, 3, 4, 5, 6],
            width: 3,
            height: 2,
        };
        assert_eq!(&padded(&plane, (4, 3))[..], &[1, 2, 3, 3, 4, 5, 6, 6, 4, 5, 6, 6]);
        assert_eq!(&padded(&plane, (3, 2))[..], &plane.samples[..]);
    }
}
