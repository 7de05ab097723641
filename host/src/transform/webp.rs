//! Lossy WebP out through libwebp 1.6 directly, for the common case: one
//! 8-bit sRGB frame, with or without alpha, written with no metadata.
//!
//! The `libwebp-sys` crate builds libwebp from its own copy of the source
//! (`host/vendor/libwebp-sys`: patched for a faster encoder that writes the
//! same bytes) and links it statically; its symbols stay inside `kiln` (not
//! exported), so libvips keeps Debian's libwebp 1.2.4 for everything else.
//! The encoder's settings are libvips' `webpsave` ones (default preset at the
//! requested quality, effort 4, alpha at quality 100, no sharp YUV), so the
//! files are the ones libvips would write, from a newer libwebp: measured in
//! bench/NOTES.md.
//!
//! Anything else — lossless, animations, grey or 16-bit images, metadata to
//! keep — returns `None` and libvips writes it. Unlike a TurboJPEG call, an
//! encode here stops when the pool's watchdog kills it: libwebp asks its
//! progress hook after every row of macroblocks.

use std::ffi::{c_int, c_void};

use libwebp_sys::{
    WEBP_ENCODER_ABI_VERSION, WebPConfig, WebPConfigInitInternal, WebPEncCSP, WebPEncode, WebPEncodingError,
    WebPMemoryWrite, WebPMemoryWriter, WebPMemoryWriterClear, WebPMemoryWriterInit, WebPPicture, WebPPictureFree,
    WebPPictureImportRGB, WebPPictureImportRGBA, WebPPictureImportRGBX, WebPPictureInitInternal, WebPPreset,
    WebPValidateConfig,
};
use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Coding, Interpretation};

use super::raster::{self, Watch};

/// libvips' `webpsave` default effort, which Kiln keeps for every WebP.
pub const EFFORT: c_int = 4;

/// `image` as a lossy WebP with no metadata at `quality`; `None` unless it
/// is one 8-bit sRGB frame of three bands, or four with alpha.
pub fn encode(image: &VipsImage, quality: i32, watch: Watch) -> Option<rs_vips::Result<Vec<u8>>> {
    let bands = image.get_bands();
    let alpha = match bands {
        3 => false,
        4 if image.hasalpha() => true,
        _ => return None,
    };
    let page_height = image.get_page_height();
    let one_frame = page_height <= 0 || page_height == image.get_height();
    if !one_frame
        || image.get_interpretation().ok()? != Interpretation::Srgb
        || image.get_format().ok()? != BandFormat::Uchar
        || image.get_coding().ok()? != Coding::None
    {
        return None;
    }
    let (width, height) = (image.get_width(), image.get_height());
    let encoded = raster::with_pixels(image, watch, |pixels| {
        let pixels = if alpha {
            Pixels::Rgba(pixels)
        } else {
            Pixels::Rgb(pixels)
        };
        encode_watched(pixels, (width, height), quality, watch)
    });
    Some(encoded.and_then(|encoded| {
        encoded.map_err(|e| rs_vips::error::Error::OperationError(format!("could not encode WebP: {e}")))
    }))
}

/// Asks libwebp to stop once the watchdog has killed the request.
extern "C" fn progress(_percent: c_int, picture: *const WebPPicture) -> c_int {
    // SAFETY: `user_data` is null or the kill switch `encode_pixels` set,
    // which outlives the `WebPEncode` call that calls this hook.
    let killed = unsafe {
        let kill_switch = (*picture).user_data.cast::<VipsImage>();
        !kill_switch.is_null() && raster::is_killed(&*kill_switch)
    };
    c_int::from(!killed)
}

/// The samples libwebp encodes.
pub(super) enum Pixels<'a> {
    /// Interleaved 8-bit sRGB.
    Rgb(&'a [u8]),
    /// Interleaved 8-bit sRGB with alpha.
    Rgba(&'a [u8]),
    /// Interleaved 8-bit sRGB with a fourth byte that is not read.
    Rgbx(&'a [u8]),
    /// VP8's own planes: limited-range BT.601 Y, and U and V at half the
    /// width and height (rounded up), rows unpadded.
    Yuv420 { y: &'a [u8], u: &'a [u8], v: &'a [u8] },
}

impl Pixels<'_> {
    /// Whether the buffers hold exactly the samples of a `width`x`height` image.
    fn fit(&self, (width, height): (i32, i32)) -> bool {
        let (width, height) = (u64::from(width.max(0) as u32), u64::from(height.max(0) as u32));
        let len = |samples: &[u8]| samples.len() as u64;
        match self {
            Pixels::Rgb(rgb) => len(rgb) == width * height * 3,
            Pixels::Rgba(rgba) | Pixels::Rgbx(rgba) => len(rgba) == width * height * 4,
            Pixels::Yuv420 { y, u, v } => {
                let chroma = width.div_ceil(2) * height.div_ceil(2);
                len(y) == width * height && len(u) == chroma && len(v) == chroma
            }
        }
    }
}

/// Interleaved 8-bit sRGB samples (`alpha`: four a pixel, else three) as a
/// lossy WebP at `quality`, without a watchdog: for the fuzz target, which
/// drives libwebp's encoder with sizes and contents of its choosing.
pub fn encode_samples(samples: &[u8], size: (i32, i32), alpha: bool, quality: i32) -> Result<Vec<u8>, String> {
    let pixels = if alpha {
        Pixels::Rgba(samples)
    } else {
        Pixels::Rgb(samples)
    };
    encode_pixels(pixels, size, quality, None)
}

/// `pixels` encoded under the watchdog: from here it stops the encoder
/// through a kill flag of its own, which the progress hook reads.
pub(super) fn encode_watched(pixels: Pixels, size: (i32, i32), quality: i32, watch: Watch) -> Result<Vec<u8>, String> {
    let kill_switch = VipsImage::new();
    watch(&kill_switch);
    encode_pixels(pixels, size, quality, Some(&kill_switch))
}

fn encode_pixels(
    pixels: Pixels,
    (width, height): (i32, i32),
    quality: i32,
    kill_switch: Option<&VipsImage>,
) -> Result<Vec<u8>, String> {
    if width <= 0 || height <= 0 || width.checked_mul(4).is_none() || !pixels.fit((width, height)) {
        return Err("the buffer does not match the image's size".into());
    }
    // SAFETY: WebPConfig and WebPPicture are plain C structs that their
    // `Init` functions fill in whole before anything reads them; the buffers
    // of `pixels` hold exactly the image's samples (checked above) and are
    // only read: during the import, or, for planes, by the encoder, which
    // writes to a YUV picture's planes only to smooth transparent areas, and
    // this picture has no alpha plane. The memory writer owns what the
    // encoder writes until it is copied out and cleared, and the picture's
    // own buffers are freed on every path.
    unsafe {
        let mut config: WebPConfig = std::mem::zeroed();
        let preset = WebPPreset::WEBP_PRESET_DEFAULT;
        if WebPConfigInitInternal(&mut config, preset, quality as f32, WEBP_ENCODER_ABI_VERSION as c_int) == 0 {
            return Err("libwebp refused its configuration".into());
        }
        config.method = EFFORT;
        config.alpha_quality = 100;
        if WebPValidateConfig(&config) == 0 {
            return Err("libwebp refused its configuration".into());
        }
        let mut picture: WebPPicture = std::mem::zeroed();
        if WebPPictureInitInternal(&mut picture, WEBP_ENCODER_ABI_VERSION as c_int) == 0 {
            return Err("libwebp refused its picture".into());
        }
        picture.width = width;
        picture.height = height;
        let imported = match pixels {
            Pixels::Rgba(rgba) => WebPPictureImportRGBA(&mut picture, rgba.as_ptr(), width * 4),
            Pixels::Rgbx(rgbx) => WebPPictureImportRGBX(&mut picture, rgbx.as_ptr(), width * 4),
            Pixels::Rgb(rgb) => WebPPictureImportRGB(&mut picture, rgb.as_ptr(), width * 3),
            Pixels::Yuv420 { y, u, v } => {
                picture.use_argb = 0;
                picture.colorspace = WebPEncCSP::WEBP_YUV420;
                picture.y = y.as_ptr().cast_mut();
                picture.u = u.as_ptr().cast_mut();
                picture.v = v.as_ptr().cast_mut();
                picture.y_stride = width;
                picture.uv_stride = (width + 1) / 2;
                1
            }
        };
        if imported == 0 {
            WebPPictureFree(&mut picture);
            return Err("out of memory".into());
        }
        let mut writer: WebPMemoryWriter = std::mem::zeroed();
        WebPMemoryWriterInit(&mut writer);
        picture.writer = Some(WebPMemoryWrite);
        picture.custom_ptr = (&raw mut writer).cast::<c_void>();
        picture.progress_hook = Some(progress);
        picture.user_data = kill_switch.map_or(std::ptr::null_mut(), |switch| {
            std::ptr::from_ref(switch).cast_mut().cast::<c_void>()
        });
        let encoded = WebPEncode(&config, &mut picture) != 0;
        let error = picture.error_code;
        WebPPictureFree(&mut picture);
        let result = if encoded && !writer.mem.is_null() {
            Ok(std::slice::from_raw_parts(writer.mem, writer.size).to_vec())
        } else if error == WebPEncodingError::VP8_ENC_ERROR_USER_ABORT {
            Err("stopped at the time limit".into())
        } else {
            Err(format!("{error:?}"))
        };
        WebPMemoryWriterClear(&mut writer);
        result
    }
}

#[cfg(test)]
mod tests {
    use rs_vips::voption::{Setter, VOption};

    use super::*;
    use crate::transform::raster::testing::{differences, image, no_watch};

    /// A 400x240 photo-like frame: gradients, an edge, and grain (a fixed
    /// pseudo-random texture) that the encoder has to spend bits on, so that
    /// file sizes say something.
    fn photo(bands: i32) -> VipsImage {
        image(400, 240, bands, |x, y| {
            let edge = if x < 190 { 0 } else { 70 };
            let grain = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(2_246_822_519) >> 27;
            let base = [x * 200 / 399, y * 200 / 239, 90 + edge];
            let mut pixel: Vec<u8> = base.iter().map(|&c| (c + grain) as u8).collect();
            if bands == 4 {
                pixel.push(if x < 40 { 0 } else { 255 });
            }
            pixel
        })
    }

    fn decoded(webp: &[u8]) -> VipsImage {
        VipsImage::new_from_buffer(webp, "").unwrap()
    }

    #[test]
    fn writes_what_libvips_webpsave_writes() {
        crate::transform::init_vips().unwrap();
        for (bands, quality) in [(3, 80), (3, 40), (3, 95), (4, 80)] {
            let frame = photo(bands);
            let ours = encode(&frame, quality, &no_watch).expect("an sRGB frame").unwrap();
            let theirs = frame
                .webpsave_buffer_with_opts(
                    VOption::new()
                        .set("Q", quality)
                        .set("effort", EFFORT)
                        .set("strip", true),
                )
                .unwrap();
            let case = format!("{bands} bands, quality {quality}");
            let size = ours.len() as f64 / theirs.len() as f64;
            assert!(
                (0.85..1.15).contains(&size),
                "{case}: {} against {} bytes",
                ours.len(),
                theirs.len()
            );
            let (ours, theirs) = (decoded(&ours), decoded(&theirs));
            assert_eq!(
                (ours.get_width(), ours.get_height(), ours.get_bands()),
                (theirs.get_width(), theirs.get_height(), theirs.get_bands()),
                "{case}"
            );
            let (ours, theirs) = (
                raster::pixels(&ours, &no_watch).unwrap(),
                raster::pixels(&theirs, &no_watch).unwrap(),
            );
            let (mean, _) = differences(&ours, &theirs);
            assert!(mean < 1.0, "{case}: mean difference {mean}");
            let original = raster::pixels(&frame, &no_watch).unwrap();
            let (our_error, their_error) = (differences(&ours, &original).0, differences(&theirs, &original).0);
            assert!(
                our_error < their_error * 1.1 + 0.1,
                "{case}: as faithful as libvips' file: {our_error} against {their_error}"
            );
        }
    }

    #[test]
    fn writes_no_metadata_and_keeps_alpha() {
        crate::transform::init_vips().unwrap();
        let mut frame = photo(4);
        frame
            .set_blob_copy("xmp-data", b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
            .unwrap();
        let webp = encode(&frame, 80, &no_watch).unwrap().unwrap();
        assert!(!webp.windows(4).any(|w| w == b"XMP " || w == b"EXIF" || w == b"ICCP"));
        let back = decoded(&webp);
        assert!(back.hasalpha());
        let pixels = raster::pixels(&back, &no_watch).unwrap();
        assert_eq!(pixels[3], 0, "the transparent strip stays transparent");
        assert_eq!(pixels[(200 * 4) + 3], 255);
    }

    #[test]
    fn leaves_to_libvips_what_it_should_not_encode() {
        crate::transform::init_vips().unwrap();
        let grey = image(8, 8, 1, |_, _| vec![128]);
        assert!(encode(&grey, 80, &no_watch).is_none(), "grey");
        let wide = photo(3).cast(BandFormat::Ushort).unwrap();
        assert!(encode(&wide, 80, &no_watch).is_none(), "16-bit");
        let mut frames =
            VipsImage::arrayjoin_with_opts(&[photo(3), photo(3)], VOption::new().set("across", 1)).unwrap();
        frames.set_int("page-height", 240).unwrap();
        assert!(encode(&frames, 80, &no_watch).is_none(), "an animation");
    }

    /// The libwebp Kiln links (host/vendor/libwebp-sys, with or without the
    /// `patched-libwebp` feature) writes the very bytes the published
    /// libwebp-sys 0.14.4 writes with Kiln's settings: photos
    /// (the JPEG decode fixtures, 203x131) and a synthetic frame with grain,
    /// as RGB, RGBA and YUV planes, at several qualities. The expected hash
    /// is the unpatched library's.
    #[test]
    fn libwebp_encodes_as_the_published_one() {
        use sha2::{Digest, Sha256};
        crate::transform::init_vips().unwrap();
        let kill_switch = VipsImage::new();
        let mut hash = Sha256::new();
        let mut encode_into_hash = |pixels: Pixels, size: (i32, i32), quality: i32| {
            let webp = encode_pixels(pixels, size, quality, Some(&kill_switch)).unwrap();
            hash.update((webp.len() as u64).to_le_bytes());
            hash.update(&webp);
        };
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/jpeg-decode");
        for name in ["cups-baseline.jpg", "cups-progressive-444.jpg", "cups-split-bands.jpg"] {
            let jpeg = std::fs::read(fixtures.join(name)).unwrap();
            let rgb = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB).unwrap();
            let size = (rgb.width as i32, rgb.height as i32);
            for quality in [5, 30, 80, 95, 100] {
                encode_into_hash(Pixels::Rgb(&rgb.pixels), size, quality);
            }
            let rgba: Vec<u8> = rgb
                .pixels
                .chunks(3)
                .enumerate()
                .flat_map(|(i, p)| [p[0], p[1], p[2], if i % 203 < 50 { (i % 256) as u8 } else { 255 }])
                .collect();
            encode_into_hash(Pixels::Rgba(&rgba), size, 80);
        }
        let (width, height) = (400u32, 240u32);
        let grain =
            |x: u32, y: u32| (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(2_246_822_519) >> 27;
        let y: Vec<u8> = (0..height)
            .flat_map(|y| (0..width).map(move |x| (x * 200 / width + y * 20 / height + grain(x, y)) as u8))
            .collect();
        let (chroma_width, chroma_height) = (width.div_ceil(2), height.div_ceil(2));
        let u: Vec<u8> = (0..chroma_width * chroma_height)
            .map(|i| (100 + (i % chroma_width) / 4 + grain(i, 7) / 2) as u8)
            .collect();
        let v: Vec<u8> = (0..chroma_width * chroma_height)
            .map(|i| (150 - (i / chroma_width) / 3 + grain(3, i) / 2) as u8)
            .collect();
        for quality in [20, 80] {
            encode_into_hash(
                Pixels::Yuv420 { y: &y, u: &u, v: &v },
                (width as i32, height as i32),
                quality,
            );
        }
        assert_eq!(
            format!("{:x}", hash.finalize()),
            "a896873bdd6c9b0375c5a42c6c00251854cd322fd024422b1b977c19dfc1a25a"
        );
    }

    #[test]
    fn stops_when_the_watchdog_kills_it() {
        crate::transform::init_vips().unwrap();
        let frame = photo(3);
        let kill = |image: &VipsImage| {
            // The frame's render must finish; the encode after it must stop.
            if image.get_width() != 400 {
                image.set_kill(true);
            }
        };
        let result = encode(&frame, 80, &kill).unwrap();
        assert!(result.unwrap_err().to_string().contains("time limit"));
    }
}
