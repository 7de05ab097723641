//! Pixels in Kiln's own memory: a libvips image rendered into a buffer, a
//! buffer turned back into a libvips image that carries the metadata of the
//! frame it came from, and the downscale that runs on such buffers.
//!
//! Debian's libvips 8.14 reduces with plain C loops, several times slower
//! than fast_image_resize's SIMD convolution (bench/NOTES.md has the
//! figures). So 8-bit downscales leave libvips for that one step: the frame is rendered
//! (its decode runs then), resized here, and handed back.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{Filter, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Coding, Interpretation};

/// Hands the image about to be computed to the pool's watchdog, so that a
/// transformation past its time limit is killed wherever it is.
pub type Watch<'a> = &'a dyn Fn(&VipsImage);

fn failed(what: &str) -> rs_vips::error::Error {
    let detail = rs_vips::Vips::error_buffer().unwrap_or_default();
    // SAFETY: clears libvips' per-thread error buffer, just read.
    unsafe { rs_vips::bindings::vips_error_clear() };
    rs_vips::error::Error::OperationError(format!("{what}: {detail}"))
}

/// Calls `f` with the pixels of `image`: straight from libvips' memory when
/// the image already is one buffer of pixels (what [`from_pixels`] and the
/// decoders of `jpeg.rs` make), else rendered by [`pixels`] first. Most
/// frames reach the encoders and the plugins as such a buffer, and reading it
/// in place spares a libvips evaluation (its thread pool, a copy) per step.
pub fn with_pixels<R>(image: &VipsImage, watch: Watch, f: impl FnOnce(&[u8]) -> R) -> rs_vips::Result<R> {
    if let Some(pixels) = in_memory(image) {
        return Ok(f(pixels));
    }
    Ok(f(&pixels(image, watch)?))
}

/// How many bytes the pixels of `image` take, unpadded; `None` past `usize`.
fn byte_size(image: &VipsImage) -> Option<usize> {
    let format = image.get_format().ok()? as i32;
    // SAFETY: a pure function of the band format.
    let sample = unsafe { rs_vips::bindings::vips_format_sizeof(format) } as usize;
    [image.get_width(), image.get_height(), image.get_bands()]
        .iter()
        .try_fold(sample, |size, &n| size.checked_mul(usize::try_from(n).ok()?))
}

/// The pixels of an image that libvips holds as one uncoded buffer in memory.
fn in_memory(image: &VipsImage) -> Option<&[u8]> {
    use rs_vips::bindings::{VipsImageType_VIPS_IMAGE_SETBUF, VipsImageType_VIPS_IMAGE_SETBUF_FOREIGN};
    let size = byte_size(image)?;
    // SAFETY: an image of type SETBUF or SETBUF_FOREIGN holds its pixels in
    // `data`, band-interleaved rows with no padding, exactly `size` bytes for
    // its header; the buffer lives as long as the image, which the borrow of
    // `image` keeps referenced, and libvips never writes to an image that has
    // been handed out as an input.
    unsafe {
        let raw = &*image.as_mut_ptr();
        let memory =
            raw.dtype == VipsImageType_VIPS_IMAGE_SETBUF || raw.dtype == VipsImageType_VIPS_IMAGE_SETBUF_FOREIGN;
        if !memory || raw.data.is_null() || raw.Coding != Coding::None as i32 {
            return None;
        }
        Some(std::slice::from_raw_parts(raw.data.cast_const(), size))
    }
}

/// The rendered pixels of `image`, computed straight into the returned
/// buffer: one pass through the pipeline and no copy after it. (rs-vips'
/// `write_to_memory` copies the result twice, and makes a slice of the NULL
/// libvips returns when decoding fails part-way, which aborts the process —
/// found by the hostile-input suite with a damaged JXL.)
pub fn pixels(image: &VipsImage, watch: Watch) -> rs_vips::Result<Vec<u8>> {
    let (width, height, bands) = (image.get_width(), image.get_height(), image.get_bands());
    let format = image.get_format()? as i32;
    let size = byte_size(image).ok_or_else(|| failed("could not render the image"))?;
    let mut buffer = vec![0u8; size];
    // SAFETY: as libvips' own `vips_image_write_to_memory`: `target` is an
    // image over `buffer`, exactly `size` bytes for its dimensions, and it is
    // only written through while `vips_image_write` runs. The watchdog may
    // keep a reference to it afterwards, but only ever sets its kill flag: an
    // image over foreign memory never reads, writes or frees that memory
    // unless computed again. `image` stays referenced by the caller.
    unsafe {
        let raw = rs_vips::bindings::vips_image_new_from_memory(
            buffer.as_mut_ptr().cast(),
            size,
            width,
            height,
            bands,
            format,
        );
        if raw.is_null() {
            return Err(failed("could not render the image"));
        }
        let target = VipsImage::from(raw);
        watch(&target);
        if rs_vips::bindings::vips_image_write(image.as_mut_ptr(), target.as_mut_ptr()) != 0 {
            return Err(failed("could not render the image"));
        }
    }
    Ok(buffer)
}

/// 8-bit pixels, `bands` per pixel, as a libvips image with the given
/// interpretation and every metadata field of `like` (EXIF, XMP, IPTC, ICC
/// profile, resolution), as a libvips operation would have passed them on.
pub fn from_pixels(
    pixels: &[u8],
    (width, height): (u32, u32),
    bands: i32,
    interpretation: Interpretation,
    like: &VipsImage,
) -> rs_vips::Result<VipsImage> {
    let image = VipsImage::new_from_memory_copy(pixels, width as i32, height as i32, bands, BandFormat::Uchar)?;
    // SAFETY: `image` was just made and nothing else has seen it; libvips'
    // own operations set these header fields of their new outputs the same way.
    unsafe {
        let header = &mut *image.as_mut_ptr();
        header.Type = interpretation as _;
        header.Xres = like.get_xres();
        header.Yres = like.get_yres();
    }
    // The fields of an image made from bare memory are the header's own
    // (width, bands, format, …); every other field of `like` is metadata.
    let header = field_names(&image);
    for name in field_names(like) {
        if header.contains(&name) {
            continue;
        }
        let name = std::ffi::CString::new(name).map_err(|e| rs_vips::error::Error::OperationError(e.to_string()))?;
        // SAFETY: a zeroed GValue is G_VALUE_INIT; vips_image_get initialises
        // it with a copy of the field, vips_image_set copies it again onto
        // `image` (ours alone: nothing else has seen it yet), and the copy is
        // released with g_value_unset.
        unsafe {
            let mut value: rs_vips::bindings::GValue = std::mem::zeroed();
            if rs_vips::bindings::vips_image_get(like.as_mut_ptr(), name.as_ptr(), &mut value) != 0 {
                return Err(failed("could not read metadata"));
            }
            rs_vips::bindings::vips_image_set(image.as_mut_ptr(), name.as_ptr(), &mut value);
            rs_vips::bindings::g_value_unset(&mut value);
        }
    }
    Ok(image)
}

/// Every metadata field name on `image`.
pub fn field_names(image: &VipsImage) -> Vec<String> {
    // SAFETY: vips_image_get_fields returns a NULL-terminated, newly
    // allocated array of strings that we copy and then free with g_strfreev.
    unsafe {
        let fields = rs_vips::bindings::vips_image_get_fields(image.as_mut_ptr());
        if fields.is_null() {
            return Vec::new();
        }
        let mut names = Vec::new();
        let mut i = 0;
        while !(*fields.add(i)).is_null() {
            names.push(std::ffi::CStr::from_ptr(*fields.add(i)).to_string_lossy().into_owned());
            i += 1;
        }
        rs_vips::bindings::g_strfreev(fields);
        names
    }
}

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

/// Images and comparisons for the tests of this module and of `jpeg.rs`.
#[cfg(test)]
pub(super) mod testing {
    use rs_vips::VipsImage;
    use rs_vips::enums::BandFormat;
    use rs_vips::voption::{Setter, VOption};

    pub fn no_watch(_: &VipsImage) {}

    /// A `width`x`height` image whose pixels are `pixel(x, y)`.
    pub fn image(width: u32, height: u32, bands: i32, pixel: impl Fn(u32, u32) -> Vec<u8>) -> VipsImage {
        let mut pixels = Vec::new();
        for y in 0..height {
            for x in 0..width {
                pixels.extend(pixel(x, y));
            }
        }
        let interpretation = if bands <= 2 { "b-w" } else { "srgb" };
        VipsImage::new_from_memory_copy(&pixels, width as i32, height as i32, bands, BandFormat::Uchar)
            .unwrap()
            .copy_with_opts(VOption::new().set("interpretation", interpretation))
            .unwrap()
    }

    /// The mean and the largest difference between two equally long buffers.
    pub fn differences(a: &[u8], b: &[u8]) -> (f64, u8) {
        assert_eq!(a.len(), b.len());
        let sum: u64 = a.iter().zip(b).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
        let max = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
        (sum as f64 / a.len() as f64, max)
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use rs_vips::voption::{Setter, VOption};

    use super::testing::{differences, image, no_watch};
    use super::*;

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

    #[test]
    fn pixels_already_in_memory_are_read_where_they_are() {
        crate::transform::init_vips().unwrap();
        let pixels: Vec<u8> = (0..15u8).flat_map(|i| [i % 5, i / 5, 7]).collect();
        let frame = VipsImage::new_from_memory_copy(&pixels, 5, 3, 3, BandFormat::Uchar).unwrap();
        // SAFETY: `frame` is a memory image, whose data libvips hands out as is.
        let data = unsafe { rs_vips::bindings::vips_image_get_data(frame.as_mut_ptr()) }.cast::<u8>();
        let (address, seen) = with_pixels(&frame, &no_watch, |p| (p.as_ptr(), p.to_vec())).unwrap();
        assert_eq!(address, data, "no copy of a buffer libvips already holds");
        assert_eq!(seen, pixels);
        assert_eq!(seen, super::pixels(&frame, &no_watch).unwrap());
        let flipped = frame.flip(rs_vips::enums::Direction::Horizontal).unwrap();
        let rendered = with_pixels(&flipped, &no_watch, <[u8]>::to_vec).unwrap();
        assert_eq!(&rendered[..3], &[4, 0, 7], "a lazy image is rendered first");
        assert_eq!(rendered.len(), 5 * 3 * 3);
    }
}
