//! Images made on the spot, so that tests need no files for the common formats.

use std::io::Cursor;

fn encode(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

fn gradient(width: u32, height: u32, seed: u8) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8 ^ seed, (y * 5) as u8, seed.wrapping_mul(3)])
    }))
}

/// A PNG whose bytes differ with `seed`.
pub fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    encode(gradient(width, height, seed), image::ImageFormat::Png)
}

pub fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    encode(gradient(width, height, seed), image::ImageFormat::Jpeg)
}

pub fn gif(width: u32, height: u32) -> Vec<u8> {
    encode(gradient(width, height, 1), image::ImageFormat::Gif)
}

/// A PNG of noise, which does not compress: its size is about 3 bytes a pixel.
pub fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let image = image::RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    encode(image::DynamicImage::ImageRgb8(image), image::ImageFormat::Png)
}

/// A PNG whose left half is red and right half blue, so flips and turns show.
pub fn halves(width: u32, height: u32) -> Vec<u8> {
    encode(red_and_blue(width, height), image::ImageFormat::Png)
}

/// The same as a JPEG.
pub fn halves_jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(red_and_blue(width, height), image::ImageFormat::Jpeg)
}

fn red_and_blue(width: u32, height: u32) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    }))
}

/// Decodes any format Kiln writes, all frames, with libvips.
pub fn decode(bytes: &[u8]) -> rs_vips::VipsImage {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| rs_vips::Vips::init("kiln-tests").expect("libvips"));
    // Only the multi-page loaders take `n`.
    rs_vips::VipsImage::new_from_buffer(bytes, "n=-1")
        .or_else(|_| rs_vips::VipsImage::new_from_buffer(bytes, ""))
        .expect("the response decodes")
}

/// The pixel at (x, y) of a decoded image, every band.
pub fn pixel(image: &rs_vips::VipsImage, x: i32, y: i32) -> Vec<f64> {
    image.getpoint(x, y).expect("getpoint")
}
