//! JPEG in and out through libjpeg-turbo's own TurboJPEG API, for the common
//! case: an upright 8-bit RGB or grey JPEG decoded at a DCT scale, and an
//! 8-bit sRGB or grey result written with no metadata.
//!
//! The `turbojpeg` crate builds libjpeg-turbo 3.1 from its published source
//! and links it statically; its symbols stay inside `kiln` (not exported), so
//! libvips keeps Debian's libjpeg-turbo 2.1 for everything else. It is here
//! because it decodes at a scale and encodes faster than libvips 8.14's
//! `jpegload`/`jpegsave` (bench/NOTES.md has the figures). Both
//! libraries run the same libjpeg code paths (islow DCT, fancy upsampling,
//! standard quantisation tables, `jpeg_simple_progression`), so the pixels
//! and the files are libvips' own, give or take a rounding.
//!
//! Anything else — CMYK, 12-bit, lossless or arithmetic-coded JPEGs, a
//! libjpeg warning (a truncated file, say), metadata to keep — returns `None`
//! and libvips does the work, with its own checks and messages. A TurboJPEG
//! decode cannot be killed by the pool's watchdog; it is bounded by the
//! upload's pixel limit, checked before the original was stored.

use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Coding, Interpretation};
use turbojpeg::{Colorspace, Compressor, DecompressHeader, Decompressor, Image, PixelFormat, ScalingFactor, Subsamp};

use super::raster::{self, Watch};
use crate::probe::MAX_JPEG_SCANS;

/// `bytes` decoded at 1/`shrink` of its size, with every metadata field of
/// `header` (libvips' header-only view of the same bytes), as libvips'
/// `jpegload` with `shrink` would give it; `None` when TurboJPEG cannot or
/// should not decode it here.
pub fn decode_scaled(bytes: &[u8], shrink: u32, header: &VipsImage) -> Option<VipsImage> {
    let (mut decompressor, jpeg) = decompressor(bytes)?;
    let (format, interpretation) = match jpeg.colorspace {
        Colorspace::YCbCr | Colorspace::RGB => (PixelFormat::RGB, Interpretation::Srgb),
        Colorspace::Gray => (PixelFormat::GRAY, Interpretation::BW),
        _ => return None,
    };
    let scaled = scale(&mut decompressor, &jpeg, shrink)?;
    let pitch = scaled.width.checked_mul(format.size())?;
    let mut pixels = vec![0u8; pitch.checked_mul(scaled.height)?];
    let image = Image {
        pixels: &mut pixels[..],
        width: scaled.width,
        pitch,
        height: scaled.height,
        format,
    };
    // Warnings count as failures here: libvips then decides, with
    // `fail_on=truncated`, which of them a request may live with.
    decompressor.decompress(bytes, image).ok()?;
    let size = (u32::try_from(scaled.width).ok()?, u32::try_from(scaled.height).ok()?);
    let bands = format.size() as i32;
    raster::from_pixels(&pixels, size, bands, interpretation, header).ok()
}

/// A decompressor with the header of `bytes` read, when TurboJPEG is to
/// decode them here at all: not lossless, not arithmetic-coded.
pub fn decompressor(bytes: &[u8]) -> Option<(Decompressor, DecompressHeader)> {
    let mut decompressor = Decompressor::new().ok()?;
    let header = decompressor.read_header(bytes).ok()?;
    if header.is_lossless || header.is_arithmetic {
        return None;
    }
    // Uploads are refused past this many scans; kept here too, because
    // nothing can interrupt a decode.
    decompressor.set_scan_limit(MAX_JPEG_SCANS).ok()?;
    Some((decompressor, header))
}

/// Sets `decompressor` to decode at 1/`shrink`; the header at that scale.
pub fn scale(decompressor: &mut Decompressor, header: &DecompressHeader, shrink: u32) -> Option<DecompressHeader> {
    let scale = ScalingFactor::new(1, shrink as usize);
    decompressor.set_scaling_factor(scale).ok()?;
    Some(header.scaled(scale))
}

/// `image` as a JPEG with no metadata at `quality`, as libvips' `jpegsave`
/// with `strip`, `optimize_coding` and its default chroma subsampling (none
/// from quality 90) writes it; `None` unless `image` is 8-bit sRGB or grey
/// without alpha.
pub fn encode(image: &VipsImage, quality: i32, progressive: bool, watch: Watch) -> Option<rs_vips::Result<Vec<u8>>> {
    let (format, subsampling) = match (image.get_bands(), image.get_interpretation().ok()?) {
        (3, Interpretation::Srgb) => (PixelFormat::RGB, subsampling(quality)),
        (1, Interpretation::BW) => (PixelFormat::GRAY, Subsamp::Gray),
        _ => return None,
    };
    if image.get_format().ok()? != BandFormat::Uchar || image.get_coding().ok()? != Coding::None {
        return None;
    }
    let (width, height) = (image.get_width() as usize, image.get_height() as usize);
    let compressed = raster::with_pixels(image, watch, |pixels| {
        compress(pixels, (width, height), format, subsampling, quality, progressive)
    });
    Some(compressed.and_then(|compressed| {
        compressed.map_err(|e| rs_vips::error::Error::OperationError(format!("could not encode JPEG: {e}")))
    }))
}

/// The colour subsampling of a colour JPEG at `quality`, as libvips'
/// `jpegsave` picks it: halved each way below quality 90, full from 90.
pub fn subsampling(quality: i32) -> Subsamp {
    if quality >= 90 { Subsamp::None } else { Subsamp::Sub2x2 }
}

/// `pixels`, `width`x`height` of `format`, as `encode` writes them.
pub fn compress(
    pixels: &[u8],
    (width, height): (usize, usize),
    format: PixelFormat,
    subsampling: Subsamp,
    quality: i32,
    progressive: bool,
) -> turbojpeg::Result<Vec<u8>> {
    let pitch = width * format.size();
    // TurboJPEG panics on a short buffer; a wrong one is an error here.
    if pixels.len() != pitch * height {
        return Err(turbojpeg::Error::OutOfBounds);
    }
    let mut compressor = Compressor::new()?;
    compressor.set_quality(quality)?;
    compressor.set_subsamp(subsampling)?;
    compressor.set_optimize(true)?;
    compressor.set_progressive(progressive)?;
    compressor.compress_to_vec(Image {
        pixels,
        width,
        pitch,
        height,
        format,
    })
}

/// The largest DCT scale-down that leaves both sides at least their target.
pub(super) fn shrink_factor((width, height): (u32, u32), (w, h): (u32, u32)) -> u32 {
    match (width / w.max(1)).min(height / h.max(1)) {
        8.. => 8,
        4..8 => 4,
        2..4 => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use rs_vips::voption::{Setter, VOption};

    use super::*;
    use crate::transform::raster::testing::{differences, image, no_watch};

    #[test]
    fn shrink_factor_leaves_both_sides_at_least_their_target() {
        let photo = (2560, 1600);
        assert_eq!(
            shrink_factor(photo, (512, 320)),
            4,
            "the benchmark's 2560x1600 → 512x320"
        );
        assert_eq!(shrink_factor(photo, (320, 200)), 8);
        assert_eq!(shrink_factor(photo, (100, 63)), 8, "never more than libjpeg's 1/8");
        assert_eq!(shrink_factor(photo, (1280, 800)), 2);
        assert_eq!(shrink_factor(photo, (1281, 800)), 1, "one side short of 1/2");
        assert_eq!(shrink_factor(photo, (5120, 3200)), 1, "enlarging");
        assert_eq!(
            shrink_factor(photo, (100, 1600)),
            1,
            "fill: the less shrunk side decides"
        );
        assert_eq!(
            shrink_factor(photo, (0, 0)),
            8,
            "a degenerate target does not divide by zero"
        );
    }

    /// A 400x240 photo-like JPEG (gradients, an edge, noise-free), with an
    /// XMP packet to carry, and the given libvips `jpegsave` options.
    fn photo_jpeg(bands: i32, options: VOption) -> Vec<u8> {
        let mut image = image(400, 240, bands, |x, y| {
            let edge = if x < 190 { 0 } else { 70 };
            let rgb = [(x * 255 / 399) as u8, (y * 255 / 239) as u8, (100 + edge) as u8];
            rgb[..bands as usize].to_vec()
        });
        image
            .set_blob_copy("xmp-data", b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
            .unwrap();
        image.jpegsave_buffer_with_opts(options).unwrap()
    }

    /// The libjpeg-turbo Kiln links decodes baseline, progressive, restart
    /// and truncated JPEGs as libjpeg-turbo 3.1.0 does, so that an update
    /// of the crate that changes decoded pixels (and so every cached
    /// variant's bytes) is noticed. Each fixture (tests/fixtures/jpeg-decode)
    /// is decoded at 1/8, 1/4, 1/2 and 1, to RGB and to YUV planes, and the
    /// SHA-256 of all of it is the one turbojpeg-sys 1.2.0 gives.
    #[test]
    fn libjpeg_turbo_decodes_as_3_1_0_does() {
        use sha2::{Digest, Sha256};
        let cases = [
            (
                "cups-progressive.jpg",
                "6db6856b478a1f1b569f2da859570f3da4775817b96b75000d46142e3e0ae95c",
            ),
            (
                "cups-split-bands.jpg",
                "196d493fa69be2f91d80e89d6a7325a7e0d3c73e830249fa3ef30614ef0f9783",
            ),
            (
                "cups-approx-restart.jpg",
                "446368f65b1e03fe32f4fa25a9afce18aeb774711e875ad5978b583dcb2f12ca",
            ),
            (
                "cups-progressive-444.jpg",
                "d31c7da6d66b974d8ea46d3e8f239cf5d2b82c004b61097155aaf51efb2ae957",
            ),
            (
                "cups-grey-progressive.jpg",
                "247b2b355c69eb3cd13ceecaaf0cd892d432d92a5e7efbbe6394c3ef0c3cddfc",
            ),
            (
                "cups-baseline.jpg",
                "5d836b30d1b85737df8be57dfb0630a8c9379aa9d6a0b58a62ce631215a070ea",
            ),
            (
                "cups-baseline-422-restart.jpg",
                "4093a0ff3f0e0fadba20af750aa2a6bba5d9774ac3622f6500d9748699334d50",
            ),
            (
                "cups-progressive-truncated.jpg",
                "dbee06c18dbffdeb918b7927610addec2fd2eec408e4bdbb2f04f55cc74fe8b2",
            ),
        ];
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/jpeg-decode");
        for (name, expected) in cases {
            let bytes = std::fs::read(fixtures.join(name)).unwrap();
            let truncated = name.contains("truncated");
            let mut hash = Sha256::new();
            for denom in [8, 4, 2, 1] {
                let (mut decompressor, header) = decompressor(&bytes).unwrap();
                let scaled = scale(&mut decompressor, &header, denom).unwrap();
                let (width, height) = (scaled.width, scaled.height);
                let mut rgb = vec![0u8; width * 3 * height];
                let image = Image {
                    pixels: &mut rgb[..],
                    width,
                    pitch: width * 3,
                    height,
                    format: PixelFormat::RGB,
                };
                let decoded = decompressor.decompress(&bytes, image);
                assert_eq!(decoded.is_err(), truncated, "{name} at 1/{denom}: {decoded:?}");
                hash.update(rgb.as_slice());
                let mut planes = vec![0u8; turbojpeg::yuv_pixels_len(width, 1, height, header.subsamp).unwrap()];
                let image = turbojpeg::YuvImage {
                    pixels: &mut planes[..],
                    width,
                    align: 1,
                    height,
                    subsamp: header.subsamp,
                };
                let decoded = decompressor.decompress_to_yuv(&bytes, image);
                assert_eq!(decoded.is_err(), truncated, "{name} at 1/{denom}: {decoded:?}");
                hash.update(planes.as_slice());
            }
            assert_eq!(format!("{:x}", hash.finalize()), expected, "{name}");
        }
    }

    #[test]
    fn decodes_as_libvips_jpegload_does_at_every_scale() {
        crate::transform::init_vips().unwrap();
        for (bands, progressive) in [(3, false), (3, true), (1, false)] {
            let bytes = photo_jpeg(bands, VOption::new().set("Q", 85).set("interlace", progressive));
            let header = VipsImage::new_from_buffer(&bytes, "").unwrap();
            for shrink in [1, 2, 4, 8] {
                let ours = decode_scaled(&bytes, shrink, &header).expect("TurboJPEG decodes it");
                let theirs = VipsImage::new_from_buffer(&bytes, &format!("shrink={shrink}")).unwrap();
                let case = format!("{bands} bands, progressive {progressive}, shrink {shrink}");
                assert_eq!(
                    (ours.get_width(), ours.get_height(), ours.get_bands()),
                    (theirs.get_width(), theirs.get_height(), theirs.get_bands()),
                    "{case}"
                );
                assert_eq!(ours.get_interpretation().unwrap(), theirs.get_interpretation().unwrap());
                let (ours_pixels, theirs_pixels) = (
                    raster::pixels(&ours, &no_watch).unwrap(),
                    raster::pixels(&theirs, &no_watch).unwrap(),
                );
                let (mean, max) = differences(&ours_pixels, &theirs_pixels);
                assert!(max <= 1 && mean < 0.01, "{case}: mean {mean}, max {max}");
                assert_eq!(
                    ours.get_blob("xmp-data").unwrap(),
                    theirs.get_blob("xmp-data").unwrap(),
                    "{case}: metadata carried"
                );
                assert_eq!(ours.get_xres(), theirs.get_xres());
            }
        }
    }

    #[test]
    fn leaves_to_libvips_what_turbojpeg_should_not_decode() {
        crate::transform::init_vips().unwrap();
        let bytes = photo_jpeg(3, VOption::new());
        let header = VipsImage::new_from_buffer(&bytes, "").unwrap();
        let truncated = &bytes[..bytes.len() * 2 / 3];
        assert!(
            decode_scaled(truncated, 2, &header).is_none(),
            "truncated: libjpeg warns"
        );
        assert!(decode_scaled(b"\xff\xd8\xff\xe0 not a JPEG", 2, &header).is_none());
        let cmyk = VipsImage::new_from_buffer(&bytes, "")
            .unwrap()
            .icc_transform_with_opts("cmyk", VOption::new().set("input_profile", "srgb"))
            .unwrap()
            .jpegsave_buffer()
            .unwrap();
        let cmyk_header = VipsImage::new_from_buffer(&cmyk, "").unwrap();
        assert_eq!(cmyk_header.get_bands(), 4);
        assert!(decode_scaled(&cmyk, 2, &cmyk_header).is_none(), "CMYK");
    }

    #[test]
    fn encodes_as_libvips_jpegsave_does_without_metadata() {
        crate::transform::init_vips().unwrap();
        for (bands, quality, progressive, subsampling) in [
            (3, 80, true, "4:2:0"),
            (3, 80, false, "4:2:0"),
            (3, 90, false, "4:4:4"),
            (1, 75, true, "4:4:4"),
        ] {
            let case = format!("{bands} bands, q{quality}, progressive {progressive}");
            let source = VipsImage::new_from_buffer(&photo_jpeg(bands, VOption::new().set("Q", 100)), "").unwrap();
            let ours = encode(&source, quality, progressive, &no_watch)
                .expect("TurboJPEG encodes it")
                .unwrap();
            let theirs = source
                .jpegsave_buffer_with_opts(
                    VOption::new()
                        .set("Q", quality)
                        .set("strip", true)
                        .set("optimize_coding", true)
                        .set("interlace", progressive),
                )
                .unwrap();
            let size_ratio = ours.len() as f64 / theirs.len() as f64;
            assert!(
                (0.97..1.03).contains(&size_ratio),
                "{case}: {} vs {} bytes",
                ours.len(),
                theirs.len()
            );
            let (ours, theirs) = (
                VipsImage::new_from_buffer(&ours, "").unwrap(),
                VipsImage::new_from_buffer(&theirs, "").unwrap(),
            );
            assert_eq!(
                ours.get_int("jpeg-multiscan").unwrap(),
                i32::from(progressive),
                "{case}"
            );
            if bands == 3 {
                assert_eq!(ours.get_string("jpeg-chroma-subsample").unwrap(), subsampling, "{case}");
            }
            for field in ["xmp-data", "exif-data", "icc-profile-data"] {
                assert_eq!(ours.get_typeof(field).unwrap_or(0), 0, "{case}: no {field}");
            }
            let (mean, max) = differences(
                &raster::pixels(&ours, &no_watch).unwrap(),
                &raster::pixels(&theirs, &no_watch).unwrap(),
            );
            assert!(mean < 0.05 && max <= 2, "{case}: mean {mean}, max {max}");
        }
    }

    #[test]
    fn leaves_to_libvips_what_it_cannot_encode() {
        crate::transform::init_vips().unwrap();
        let source = VipsImage::new_from_buffer(&photo_jpeg(3, VOption::new()), "").unwrap();
        let with_alpha = source.bandjoin_const(&[255.0]).unwrap();
        assert!(encode(&with_alpha, 80, false, &no_watch).is_none(), "alpha");
        let wide = source.cast(BandFormat::Ushort).unwrap();
        assert!(encode(&wide, 80, false, &no_watch).is_none(), "16 bits");
        let cmyk = source
            .icc_transform_with_opts("cmyk", VOption::new().set("input_profile", "srgb"))
            .unwrap();
        assert!(encode(&cmyk, 80, false, &no_watch).is_none(), "CMYK");
    }
}
