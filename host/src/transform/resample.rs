//! The downscale that runs on pixels in Kiln's own memory.
//!
//! Debian's libvips 8.14 reduces with plain C loops, several times slower
//! than fast_image_resize's SIMD convolution (bench/NOTES.md has the
//! figures). So 8-bit downscales leave libvips for that one step: the frame
//! is rendered (its decode runs then), resized here, and handed back.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{Filter, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Coding};

use super::raster::{Watch, from_pixels, with_pixels};

/// Lanczos 3, the kernel of every downscale here: fast_image_resize's own
/// `FilterType::Lanczos3` weighs each tap as sinc(x)·sinc(x/3) with two
/// calls to libm's `sin`, and the weights are worked out afresh for each
/// plane of each request: a visible share of a cold request's CPU
/// (bench/NOTES.md). [`lanczos3_weight`] is the same function from one
/// polynomial sine.
pub fn lanczos3() -> FilterType {
    Filter::new("Lanczos3", lanczos3_weight, 3.0)
        .map(FilterType::Custom)
        .unwrap_or(FilterType::Lanczos3)
}

/// sinc(x)·sinc(x/3) on (−3, 3), else 0. With t = πx/3 and s = sin t,
/// sin(πx) = sin 3t = 3s − 4s³, so one sine serves both factors; that sine
/// is a Taylor polynomial on [0, π/2], where its first dropped term is
/// below 3e-16, so a weight is off libm's by ~1e-14 at most — far below the
/// fixed-point steps (2^-22 at the finest) that fast_image_resize rounds
/// the weights to for 8-bit samples.
fn lanczos3_weight(x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    if !(-3.0..3.0).contains(&x) {
        return 0.0;
    }
    if x == 0.0 {
        return 1.0;
    }
    let t = x.abs() * (PI / 3.0);
    let u = if t > FRAC_PI_2 { PI - t } else { t };
    let u2 = u * u;
    // 1/(2k+1)! with alternating signs, highest first, in Horner's order.
    const TERMS: [f64; 10] = [
        -1.0 / 121_645_100_408_832_000.0,
        1.0 / 355_687_428_096_000.0,
        -1.0 / 1_307_674_368_000.0,
        1.0 / 6_227_020_800.0,
        -1.0 / 39_916_800.0,
        1.0 / 362_880.0,
        -1.0 / 5_040.0,
        1.0 / 120.0,
        -1.0 / 6.0,
        1.0,
    ];
    let s = u * TERMS.iter().fold(0.0, |sum, &term| sum * u2 + term);
    let sin_pi_x = s * (3.0 - 4.0 * s * s);
    sin_pi_x * s / (x.abs() * PI * t)
}

/// `image` reduced to exactly `width`x`height` with Lanczos 3 (libvips'
/// default kernel), alpha premultiplied while filtering, as libvips does;
/// `None` when this cannot be done here (enlarging, more than 8 bits, coded
/// pixels, CMYK), and libvips resizes.
pub fn downscale(image: &VipsImage, (width, height): (u32, u32), watch: Watch) -> rs_vips::Result<Option<VipsImage>> {
    let (from_width, from_height) = (image.get_width() as u32, image.get_height() as u32);
    let shrinking = width > 0 && height > 0 && width <= from_width && height <= from_height;
    let bands = image.get_bands();
    let pixel_type = match bands {
        1 => PixelType::U8,
        2 if image.hasalpha() => PixelType::U8x2,
        3 => PixelType::U8x3,
        4 if image.hasalpha() => PixelType::U8x4,
        _ => return Ok(None),
    };
    if !shrinking || image.get_format()? != BandFormat::Uchar || image.get_coding()? != Coding::None {
        return Ok(None);
    }
    let resized = with_pixels(image, watch, |source| {
        let source = ImageRef::new(from_width, from_height, source, pixel_type).map_err(|e| e.to_string())?;
        let mut resized = Image::new(width, height, pixel_type);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(lanczos3()));
        Resizer::new()
            .resize(&source, &mut resized, &options)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(resized.into_vec())
    })?
    .map_err(|e| rs_vips::error::Error::OperationError(format!("could not resize: {e}")))?;
    let interpretation = image.get_interpretation()?;
    from_pixels(&resized, (width, height), bands, interpretation, image).map(Some)
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use rs_vips::voption::{Setter, VOption};

    use rs_vips::enums::Interpretation;

    use super::*;
    use crate::transform::raster::pixels;
    use crate::transform::raster::testing::{differences, image, no_watch};

    #[test]
    fn lanczos3_weights_are_the_two_sine_ones() {
        let reference = |x: f64| {
            let sinc = |x: f64| if x == 0.0 { 1.0 } else { (x * PI).sin() / (x * PI) };
            if (-3.0..3.0).contains(&x) {
                sinc(x) * sinc(x / 3.0)
            } else {
                0.0
            }
        };
        let mut worst = 0.0f64;
        for i in -350_000..=350_000 {
            let x = f64::from(i) / 100_000.0;
            worst = worst.max((lanczos3_weight(x) - reference(x)).abs());
        }
        assert!(worst < 1e-13, "worst difference {worst:e}");
        assert_eq!(lanczos3_weight(0.0), 1.0);
        assert_eq!((lanczos3_weight(3.0), lanczos3_weight(-3.0)), (0.0, 0.0));
        assert!(lanczos3_weight(2.999_999).abs() < 1e-6);
    }

    #[test]
    fn lanczos3_resizes_as_fast_image_resizes_own() {
        // Noise, the hardest case for a rounding to come out another way.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise = |len: usize| {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 56) as u8
                })
                .collect::<Vec<u8>>()
        };
        for (from, to, pixel_type, bands) in [
            ((640, 400), (512, 320), PixelType::U8, 1),
            ((320, 200), (256, 160), PixelType::U8, 1),
            ((2560, 1600), (301, 188), PixelType::U8x3, 3),
            ((999, 701), (998, 33), PixelType::U8x4, 4),
            ((97, 61), (13, 60), PixelType::U8x2, 2),
        ] {
            let samples = noise(from.0 as usize * from.1 as usize * bands);
            let source = ImageRef::new(from.0, from.1, &samples, pixel_type).unwrap();
            let resize = |filter| {
                let mut resized = Image::new(to.0, to.1, pixel_type);
                let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
                Resizer::new().resize(&source, &mut resized, &options).unwrap();
                resized.into_vec()
            };
            assert!(resize(lanczos3()) == resize(FilterType::Lanczos3), "{from:?} → {to:?}");
        }
    }

    #[test]
    fn downscales_as_libvips_does_and_keeps_the_metadata() {
        crate::transform::init_vips().unwrap();
        // Smooth gradients with one hard edge, as in a photo.
        let mut photo = image(640, 400, 3, |x, y| {
            let edge = if x < 300 { 0 } else { 60 };
            vec![(x * 255 / 639) as u8, (y * 255 / 399) as u8, (120 + edge) as u8]
        });
        photo.set_blob_copy("exif-data", b"Exif\0\0not parsed").unwrap();
        photo.set_string("kiln-test", "carried").unwrap();
        let photo = photo.copy_with_opts(VOption::new().set("xres", 11.8)).unwrap();

        let ours = downscale(&photo, (512, 320), &no_watch).unwrap().unwrap();
        assert_eq!((ours.get_width(), ours.get_height(), ours.get_bands()), (512, 320, 3));
        assert_eq!(ours.get_interpretation().unwrap(), Interpretation::Srgb);
        assert_eq!(ours.get_blob("exif-data").unwrap(), b"Exif\0\0not parsed");
        assert_eq!(ours.get_string("kiln-test").unwrap(), "carried");
        assert_eq!(ours.get_xres(), 11.8);

        let theirs = photo
            .thumbnail_image_with_opts(512, VOption::new().set("height", 320).set("size", "force"))
            .unwrap();
        let (ours, theirs) = (pixels(&ours, &no_watch).unwrap(), pixels(&theirs, &no_watch).unwrap());
        let (mean, max) = differences(&ours, &theirs);
        assert!(mean < 0.5, "mean difference from libvips' reduce {mean}");
        assert!(max <= 8, "no pixel far from libvips' reduce: {max}");
    }

    #[test]
    fn transparent_pixels_do_not_bleed_their_colour() {
        crate::transform::init_vips().unwrap();
        // Opaque white on the left, fully transparent "red" on the right.
        let half = image(64, 8, 4, |x, _| if x < 32 { vec![255; 4] } else { vec![255, 0, 0, 0] });
        let small = downscale(&half, (16, 2), &no_watch).unwrap().unwrap();
        let rgba = pixels(&small, &no_watch).unwrap();
        for pixel in rgba.chunks_exact(4).filter(|p| p[3] > 0) {
            assert_eq!(&pixel[..3], [255, 255, 255], "{pixel:?}");
        }
        let grey_alpha = image(8, 8, 2, |x, _| vec![200, if x < 4 { 255 } else { 0 }]);
        assert_eq!(
            downscale(&grey_alpha, (4, 4), &no_watch).unwrap().unwrap().get_bands(),
            2
        );
    }

    #[test]
    fn leaves_to_libvips_what_it_cannot_do() {
        crate::transform::init_vips().unwrap();
        let small = image(8, 8, 3, |_, _| vec![1, 2, 3]);
        assert!(downscale(&small, (16, 16), &no_watch).unwrap().is_none(), "enlarging");
        assert!(
            downscale(&small, (16, 4), &no_watch).unwrap().is_none(),
            "enlarging one side"
        );
        let cmyk = image(8, 8, 4, |_, _| vec![1, 2, 3, 4])
            .copy_with_opts(VOption::new().set("interpretation", "cmyk"))
            .unwrap();
        assert!(downscale(&cmyk, (4, 4), &no_watch).unwrap().is_none(), "CMYK");
        let wide = small.cast(BandFormat::Ushort).unwrap();
        assert!(downscale(&wide, (4, 4), &no_watch).unwrap().is_none(), "16 bits");
    }
}
