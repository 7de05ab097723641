//! Every raw libvips call Kiln makes, each with its safety argument: pixels
//! in Kiln's own memory (a libvips image rendered into a buffer, or read
//! where libvips holds it; a buffer turned back into a libvips image that
//! carries the metadata of the frame it came from), metadata field names,
//! and blocking loaders. Everything else reaches libvips through rs-vips'
//! safe API.

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

/// Whether the watchdog has killed `image`'s evaluation. The flag is read as
/// libvips' own evaluation reads it, without `vips_image_iskilled`, which
/// would also leave an error message on this thread.
pub fn is_killed(image: &VipsImage) -> bool {
    // SAFETY: `image` is a live, referenced libvips image; `kill` is a plain
    // int that other threads only ever set, hence the volatile read.
    unsafe { std::ptr::read_volatile(&(*image.as_mut_ptr()).kill) != 0 }
}

/// Blocks or unblocks a libvips operation class (a loader) by name.
pub fn block_operation(class: &str, blocked: bool) -> Result<(), String> {
    let name = std::ffi::CString::new(class).map_err(|e| e.to_string())?;
    // SAFETY: sets a flag on a libvips operation class by name; the string
    // outlives the call.
    unsafe { rs_vips::bindings::vips_operation_block_set(name.as_ptr(), i32::from(blocked)) };
    Ok(())
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

    use super::testing::no_watch;
    use super::*;

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
