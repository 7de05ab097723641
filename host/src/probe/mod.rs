//! What an upload really is: its format sniffed from the bytes, its size read
//! from the header, and a structural walk of the container that catches
//! truncated and corrupted files — all without decoding a single pixel.
//!
//! Headers sent by the client are never consulted here.

use std::io::Cursor;

mod structure;
mod svg;

pub use structure::MAX_JPEG_SCANS;
use structure::{
    check_gif, check_isobmff, check_jpeg, check_jxl, check_png, check_tiff, check_webp, heif_primary_size,
};

/// The image formats Kiln accepts as originals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
    Avif,
    Heic,
    Jxl,
    Tiff,
    /// Accepted only where a path names it: it is rasterised for every
    /// variant, and served as itself only under a sandboxing CSP.
    Svg,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 9] = [
        Self::Jpeg,
        Self::Png,
        Self::Webp,
        Self::Gif,
        Self::Avif,
        Self::Heic,
        Self::Jxl,
        Self::Tiff,
        Self::Svg,
    ];

    /// Whether a path accepts this format when its config names none.
    pub fn allowed_by_default(self) -> bool {
        self != Self::Svg
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
            Self::Avif => "image/avif",
            Self::Heic => "image/heic",
            Self::Jxl => "image/jxl",
            Self::Tiff => "image/tiff",
            Self::Svg => "image/svg+xml",
        }
    }

    pub fn from_mime(mime: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.mime() == mime)
    }

    /// The file extension used for downloads.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Gif => "gif",
            Self::Avif => "avif",
            Self::Heic => "heic",
            Self::Jxl => "jxl",
            Self::Tiff => "tiff",
            Self::Svg => "svg",
        }
    }

    /// Every extension a file of this format is commonly given.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Jpeg => &["jpg", "jpeg", "jpe", "jfif"],
            Self::Tiff => &["tiff", "tif"],
            Self::Heic => &["heic", "heif"],
            _ => std::slice::from_ref(match self {
                Self::Png => &"png",
                Self::Webp => &"webp",
                Self::Gif => &"gif",
                Self::Avif => &"avif",
                Self::Svg => &"svg",
                _ => &"jxl",
            }),
        }
    }
}

/// The colour model of an original, as libvips reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceColour {
    Srgb,
    Gray,
    Cmyk,
    /// Anything else (16-bit, Lab, …): always converted for output.
    Other,
}

impl SourceColour {
    pub fn name(self) -> &'static str {
        match self {
            Self::Srgb => "srgb",
            Self::Gray => "gray",
            Self::Cmyk => "cmyk",
            Self::Other => "other",
        }
    }

    pub fn from_name(name: &str) -> Self {
        match name {
            "srgb" => Self::Srgb,
            "gray" => Self::Gray,
            "cmyk" => Self::Cmyk,
            _ => Self::Other,
        }
    }
}

/// Low-quality image placeholders, computed at upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Lqip {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blurhash: Option<String>,
    /// Base64 (standard alphabet, padded) of the ThumbHash bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbhash: Option<String>,
}

/// What the probe learned about an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    /// Width as displayed, i.e. after EXIF orientation.
    pub width: u32,
    /// Height as displayed, i.e. after EXIF orientation.
    pub height: u32,
    /// Pixels of the images an SVG embeds, which its rendering decodes too
    /// (0 for every other format).
    pub embedded_pixels: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the upload is empty")]
    Empty,
    /// The bytes are not one of the supported formats, whatever the headers said.
    #[error("the bytes are not a supported image (JPEG, PNG, WebP, GIF, AVIF, HEIC, JPEG XL, TIFF or SVG)")]
    Unrecognised,
    /// The bytes start like `format` but are cut short or damaged.
    #[error("the {} file is truncated or corrupt: {reason}", .format.mime())]
    Broken { format: ImageFormat, reason: &'static str },
}

/// Sniffs, measures and structurally checks an upload.
pub fn probe(bytes: &[u8]) -> Result<ImageInfo, ProbeError> {
    if bytes.is_empty() {
        return Err(ProbeError::Empty);
    }
    let format = sniff(bytes).ok_or(ProbeError::Unrecognised)?;
    let broken = |reason| ProbeError::Broken { format, reason };
    if format == ImageFormat::Svg {
        let measured = svg::check_and_measure(bytes).map_err(broken)?;
        return Ok(ImageInfo {
            format,
            width: measured.width,
            height: measured.height,
            embedded_pixels: measured.embedded_pixels,
        });
    }
    let structure = match format {
        ImageFormat::Jpeg => check_jpeg(bytes),
        ImageFormat::Png => check_png(bytes),
        ImageFormat::Gif => check_gif(bytes),
        ImageFormat::Webp => check_webp(bytes),
        ImageFormat::Avif | ImageFormat::Heic => check_isobmff(bytes, true),
        ImageFormat::Jxl => check_jxl(bytes),
        ImageFormat::Tiff => check_tiff(bytes),
        ImageFormat::Svg => Ok(()),
    };
    structure.map_err(broken)?;
    let (width, height) = match format {
        // imagesize takes the first `ispe` box it meets, which in a grid
        // image is a tile's; the primary item's is the one that counts.
        ImageFormat::Avif | ImageFormat::Heic => {
            heif_primary_size(bytes).ok_or(broken("the primary image has no readable dimensions"))?
        }
        _ => {
            let size = imagesize::blob_size(bytes).map_err(|_| broken("the header has no readable dimensions"))?;
            (
                u32::try_from(size.width).map_err(|_| broken("the width does not fit 32 bits"))?,
                u32::try_from(size.height).map_err(|_| broken("the height does not fit 32 bits"))?,
            )
        }
    };
    if width == 0 || height == 0 {
        return Err(broken("the header gives a zero dimension"));
    }
    let (width, height) = if exif_orientation(bytes).is_some_and(|o| (5..=8).contains(&o)) {
        (height, width)
    } else {
        (width, height)
    };
    Ok(ImageInfo {
        format,
        width,
        height,
        embedded_pixels: 0,
    })
}

/// The format the bytes announce in their magic numbers, if supported.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    use imagesize::{Compression, ImageType};
    // imagesize recognises more formats than Kiln accepts; those map to None.
    // It knows no SVG, which is text and recognised by its root element.
    let Ok(kind) = imagesize::image_type(bytes) else {
        return svg::looks_like_svg(bytes).then_some(ImageFormat::Svg);
    };
    match kind {
        ImageType::Jpeg => Some(ImageFormat::Jpeg),
        ImageType::Png => Some(ImageFormat::Png),
        ImageType::Gif => Some(ImageFormat::Gif),
        ImageType::Webp => Some(ImageFormat::Webp),
        ImageType::Heif(Compression::Av1) => Some(ImageFormat::Avif),
        ImageType::Heif(Compression::Hevc) => Some(ImageFormat::Heic),
        ImageType::Jxl => Some(ImageFormat::Jxl),
        ImageType::Tiff => Some(ImageFormat::Tiff),
        _ => None,
    }
}

fn exif_orientation(bytes: &[u8]) -> Option<u32> {
    let exif = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)).ok()?;
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?
        .value
        .get_uint(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `make fuzz` (target `sniff`): an empty `pitm` box panicked.
    #[test]
    fn heif_with_an_empty_primary_item_box() {
        let mut file = Vec::new();
        file.extend_from_slice(b"\0\0\0\x14ftypheic\0\0\0\0mif1");
        file.extend_from_slice(b"\0\0\0\x14meta\0\0\0\0\0\0\0\x08pitm");
        file.extend_from_slice(b"\0\0\0\x08mdat");
        assert_eq!(heif_primary_size(&file), None);
        assert!(probe(&file).is_err());
    }

    #[test]
    fn jpeg_with_more_scans_than_any_encoder_writes() {
        let jpeg = encode(image::ImageFormat::Jpeg);
        let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let (head, scan) = (&jpeg[..sos], &jpeg[sos..jpeg.len() - 2]);
        let with_scans = |n: usize| [head.to_vec(), scan.repeat(n), vec![0xFF, 0xD9]].concat();
        assert_eq!(check_jpeg(&with_scans(MAX_JPEG_SCANS as usize)), Ok(()));
        assert_eq!(
            check_jpeg(&with_scans(MAX_JPEG_SCANS as usize + 1)),
            Err("the file has more than 100 scans")
        );
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn encode(format: image::ImageFormat) -> Vec<u8> {
        let image = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 5, y as u8 * 7, 90]));
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(image)
            .write_to(&mut out, format)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn recognises_and_measures() {
        for (format, expected) in [
            (image::ImageFormat::Png, ImageFormat::Png),
            (image::ImageFormat::Jpeg, ImageFormat::Jpeg),
            (image::ImageFormat::Gif, ImageFormat::Gif),
            (image::ImageFormat::WebP, ImageFormat::Webp),
        ] {
            let info = probe(&encode(format)).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(
                info,
                ImageInfo {
                    format: expected,
                    width: 40,
                    height: 30,
                    embedded_pixels: 0,
                }
            );
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        for format in [
            image::ImageFormat::Png,
            image::ImageFormat::Jpeg,
            image::ImageFormat::Gif,
            image::ImageFormat::WebP,
        ] {
            let bytes = encode(format);
            for cut in 1..bytes.len() {
                assert!(
                    probe(&bytes[..cut]).is_err(),
                    "{format:?} cut at {cut} of {} was accepted",
                    bytes.len()
                );
            }
        }
    }

    #[test]
    fn corrupted_png_is_refused() {
        let mut bytes = png(16, 16);
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        assert!(matches!(
            probe(&bytes),
            Err(ProbeError::Broken {
                format: ImageFormat::Png,
                ..
            })
        ));
    }

    #[test]
    fn not_images() {
        assert_eq!(probe(b""), Err(ProbeError::Empty));
        for bytes in [
            &b"hello, this is text"[..],
            b"<html><body><svg xmlns='http://www.w3.org/2000/svg'/></body></html>",
            b"%PDF-1.4",
            &[0u8; 64],
        ] {
            assert_eq!(probe(bytes), Err(ProbeError::Unrecognised));
        }
    }

    #[test]
    fn mime_round_trip() {
        for format in ImageFormat::ALL {
            assert_eq!(ImageFormat::from_mime(format.mime()), Some(format));
            assert!(format.extensions().contains(&format.extension()));
        }
    }
}
