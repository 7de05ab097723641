//! What an upload really is: its format sniffed from the bytes, its size read
//! from the header, and a structural walk of the container that catches
//! truncated and corrupted files — all without decoding a single pixel.
//!
//! Headers sent by the client are never consulted here.

use std::io::Cursor;

mod svg;

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
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

type Check = Result<(), &'static str>;

/// A bounds-checked reader over the upload.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    fn at(data: &'a [u8], pos: usize) -> Self {
        Self { data, pos }
    }
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or("the file ends early")?;
        let slice = &self.data[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
    fn skip(&mut self, n: usize) -> Check {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u16_be(&mut self) -> Result<u16, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32_be(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u32_le(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64_be(&mut self) -> Result<u64, &'static str> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
}

/// The most scans a JPEG may have. Encoders write at most a few dozen
/// (libjpeg's progression has 10); every scan is a pass over the whole image,
/// so a few kilobytes of thousands of empty scans keep libjpeg busy for
/// minutes in one call that nothing can interrupt.
pub const MAX_JPEG_SCANS: u32 = 100;

/// Walks the marker segments and the entropy-coded scans up to EOI. Segment
/// lengths are followed rather than searched for, so an EOI inside an EXIF
/// thumbnail does not make a truncated file look complete.
fn check_jpeg(data: &[u8]) -> Check {
    let mut r = Bytes::at(data, 2);
    let mut seen_frame = false;
    let mut scans = 0;
    loop {
        if r.u8()? != 0xFF {
            return Err("a marker is missing where one was expected");
        }
        let mut marker = r.u8()?;
        while marker == 0xFF {
            marker = r.u8()?; // fill bytes
        }
        match marker {
            0xD9 => {
                return if seen_frame {
                    Ok(())
                } else {
                    Err("the file has no image frame")
                };
            }
            0xD0..=0xD7 | 0x01 => continue,
            0x00 => return Err("a stray 0xFF00 sequence stands where a marker belongs"),
            _ => {}
        }
        let length = r.u16_be()? as usize;
        if length < 2 {
            return Err("a segment has an impossible length");
        }
        r.skip(length - 2)?;
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            seen_frame = true;
        }
        if marker == 0xDA {
            if !seen_frame {
                return Err("a scan comes before the frame header");
            }
            scans += 1;
            if scans > MAX_JPEG_SCANS {
                return Err("the file has more than 100 scans");
            }
            // Entropy-coded data runs to the next marker that is neither a
            // stuffed 0xFF00 nor a restart marker.
            loop {
                let rest = &data[r.pos..];
                let Some(offset) = rest.iter().position(|b| *b == 0xFF) else {
                    return Err("the file ends inside the image data");
                };
                match rest.get(offset + 1) {
                    None => return Err("the file ends inside the image data"),
                    Some(0x00 | 0xD0..=0xD7 | 0xFF) => r.pos += offset + 1,
                    Some(_) => {
                        r.pos += offset;
                        break;
                    }
                }
            }
        }
    }
}

/// Walks the chunks, checking each CRC, up to IEND.
fn check_png(data: &[u8]) -> Check {
    let mut r = Bytes::at(data, 8);
    let mut first = true;
    let mut seen_data = false;
    loop {
        let length = r.u32_be()? as usize;
        let typed = r.take(4 + length)?;
        let crc = r.u32_be()?;
        if crc32fast::hash(typed) != crc {
            return Err("a chunk's checksum does not match");
        }
        let kind = &typed[..4];
        if first && kind != b"IHDR" {
            return Err("the first chunk is not IHDR");
        }
        first = false;
        match kind {
            b"IDAT" => seen_data = true,
            b"IEND" => {
                return if seen_data {
                    Ok(())
                } else {
                    Err("the file has no image data")
                };
            }
            _ => {}
        }
    }
}

/// Walks the blocks up to the trailer.
fn check_gif(data: &[u8]) -> Check {
    let mut r = Bytes::at(data, 10);
    let flags = r.u8()?;
    r.skip(2)?;
    if flags & 0x80 != 0 {
        r.skip(3 << ((flags & 0x07) + 1))?;
    }
    let mut frames = 0u32;
    loop {
        match r.u8()? {
            0x3B => {
                return if frames > 0 {
                    Ok(())
                } else {
                    Err("the file has no image")
                };
            }
            0x21 => {
                r.skip(1)?;
                skip_gif_sub_blocks(&mut r)?;
            }
            0x2C => {
                r.skip(8)?;
                let local = r.u8()?;
                if local & 0x80 != 0 {
                    r.skip(3 << ((local & 0x07) + 1))?;
                }
                r.skip(1)?; // LZW minimum code size
                skip_gif_sub_blocks(&mut r)?;
                frames += 1;
            }
            _ => return Err("an unknown block type"),
        }
    }
}

fn skip_gif_sub_blocks(r: &mut Bytes) -> Check {
    loop {
        let size = r.u8()? as usize;
        if size == 0 {
            return Ok(());
        }
        r.skip(size)?;
    }
}

/// Checks the RIFF size against the file and walks the chunks inside it.
fn check_webp(data: &[u8]) -> Check {
    let mut r = Bytes::at(data, 4);
    let riff_size = r.u32_le()? as usize;
    let end = riff_size.checked_add(8).ok_or("the RIFF size is impossible")?;
    if end > data.len() {
        return Err("the file is shorter than its RIFF header says");
    }
    let mut r = Bytes::at(&data[..end], 12);
    let mut seen_image = false;
    while r.remaining() > 0 {
        let kind = r.take(4)?;
        let size = r.u32_le()? as usize;
        r.skip(size + (size & 1))?;
        if matches!(kind, b"VP8 " | b"VP8L" | b"ANMF") {
            seen_image = true;
        }
    }
    if seen_image {
        Ok(())
    } else {
        Err("the file has no image data")
    }
}

/// Walks the top-level boxes of an ISO base media file (AVIF, HEIC, JPEG XL
/// container): every box must fit in the file.
fn check_isobmff(data: &[u8], needs_media: bool) -> Check {
    let mut r = Bytes::at(data, 0);
    let (mut seen_meta, mut seen_mdat) = (false, false);
    while r.remaining() > 0 {
        let start = r.pos;
        let size = r.u32_be()? as u64;
        let kind = r.take(4)?;
        let size = match size {
            0 => (data.len() - start) as u64,
            1 => r.u64_be()?,
            n => n,
        };
        let header = (r.pos - start) as u64;
        if size < header {
            return Err("a box has an impossible size");
        }
        let body = usize::try_from(size - header).map_err(|_| "a box has an impossible size")?;
        r.skip(body)?;
        match kind {
            b"meta" => seen_meta = true,
            b"mdat" => seen_mdat = true,
            _ => {}
        }
    }
    if needs_media && !(seen_meta && seen_mdat) {
        return Err("the file lacks its meta or mdat box");
    }
    Ok(())
}

/// The child boxes of an ISO BMFF box body, as (type, body) pairs; stops at
/// the first box that does not fit.
fn boxes(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut r = Bytes::at(data, 0);
    std::iter::from_fn(move || {
        let start = r.pos;
        let size = r.u32_be().ok()? as u64;
        let kind = r.take(4).ok()?;
        let size = match size {
            0 => (data.len() - start) as u64,
            1 => r.u64_be().ok()?,
            n => n,
        };
        let body_len = usize::try_from(size.checked_sub((r.pos - start) as u64)?).ok()?;
        Some((kind, r.take(body_len).ok()?))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| *k == kind).map(|(_, body)| body)
}

/// Width and height of a HEIF/AVIF file's primary item, as displayed (an
/// `irot` of 90 or 270 degrees swaps them).
fn heif_primary_size(data: &[u8]) -> Option<(u32, u32)> {
    let meta = child(data, b"meta")?.get(4..)?; // skip the full-box header
    let pitm = child(meta, b"pitm")?;
    let mut r = Bytes::at(pitm, 4);
    let primary = if *pitm.first()? == 0 {
        u32::from(r.u16_be().ok()?)
    } else {
        r.u32_be().ok()?
    };
    let iprp = child(meta, b"iprp")?;
    let properties: Vec<(&[u8], &[u8])> = boxes(child(iprp, b"ipco")?).collect();
    let ipma = child(iprp, b"ipma")?;
    let (version, wide_index) = (ipma.first()?, ipma.get(3)? & 1 == 1);
    let mut r = Bytes::at(ipma, 4);
    let mut size = None;
    let mut rotation = 0;
    for _ in 0..r.u32_be().ok()? {
        let item = if *version < 1 {
            u32::from(r.u16_be().ok()?)
        } else {
            r.u32_be().ok()?
        };
        for _ in 0..r.u8().ok()? {
            let index = if wide_index {
                usize::from(r.u16_be().ok()? & 0x7FFF)
            } else {
                usize::from(r.u8().ok()? & 0x7F)
            };
            if item != primary || index == 0 {
                continue;
            }
            match properties.get(index - 1)? {
                (b"ispe", body) => {
                    let mut p = Bytes::at(body, 4);
                    size = Some((p.u32_be().ok()?, p.u32_be().ok()?));
                }
                (b"irot", body) => rotation = body.first()? & 3,
                _ => {}
            }
        }
    }
    let (width, height) = size?;
    Some(if rotation % 2 == 1 {
        (height, width)
    } else {
        (width, height)
    })
}

fn check_jxl(data: &[u8]) -> Check {
    if data.starts_with(&[0xFF, 0x0A]) {
        // A bare codestream carries no length to check against; libvips
        // finds damage inside it when the pixels are decoded.
        return if data.len() > 2 {
            Ok(())
        } else {
            Err("the file ends early")
        };
    }
    check_isobmff(data, false)
}

/// Checks that the first directory, every value array it points to, and the
/// strips or tiles lie inside the file.
fn check_tiff(data: &[u8]) -> Check {
    let little = data.starts_with(b"II");
    let u16_at = |pos: usize| -> Result<u16, &'static str> {
        let b = data.get(pos..pos + 2).ok_or("the file ends early")?;
        Ok(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |pos: usize| -> Result<u32, &'static str> {
        let b = data.get(pos..pos + 4).ok_or("the file ends early")?;
        let b = [b[0], b[1], b[2], b[3]];
        Ok(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let ifd = u32_at(4)? as usize;
    let count = u16_at(ifd)? as usize;
    let mut offsets = None;
    let mut lengths = None;
    for i in 0..count {
        let at = ifd + 2 + i * 12;
        let tag = u16_at(at)?;
        let kind = u16_at(at + 2)?;
        let n = u32_at(at + 4)? as usize;
        // Every value array too large to sit in its entry (ICC profile, XMP,
        // EXIF, strip tables…) must lie inside the file.
        let type_size: usize = match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 | 13 => 4,
            5 | 10 | 12 => 8,
            _ => 0,
        };
        let size = n.checked_mul(type_size).ok_or("a tag's values are out of range")?;
        if size > 4 {
            let start = u32_at(at + 8)? as usize;
            if start.checked_add(size).is_none_or(|end| end > data.len()) {
                return Err("the file ends before a tag's values");
            }
        }
        // Values of strip/tile tags are SHORT (3) or LONG (4); inline when they fit in 4 bytes.
        let width = match kind {
            3 => 2,
            4 => 4,
            _ => continue,
        };
        let values_at = if n * width <= 4 {
            at + 8
        } else {
            u32_at(at + 8)? as usize
        };
        let read = |j: usize| -> Result<usize, &'static str> {
            Ok(if width == 2 {
                u16_at(values_at + j * 2)? as usize
            } else {
                u32_at(values_at + j * 4)? as usize
            })
        };
        match tag {
            273 | 324 => offsets = Some((n, values_at, width)),
            279 | 325 => lengths = Some((n, values_at, width)),
            _ => continue,
        }
        // Touch the last value so an out-of-file value array is caught.
        if n > 0 {
            read(n - 1)?;
        }
    }
    u32_at(ifd + 2 + count * 12)?; // offset of the next directory
    let (Some(offsets), Some(lengths)) = (offsets, lengths) else {
        return Err("the first directory has no strips or tiles");
    };
    if offsets.0 != lengths.0 {
        return Err("strip offsets and lengths disagree");
    }
    let value = |(_, at, width): (usize, usize, usize), j: usize| -> Result<usize, &'static str> {
        Ok(if width == 2 {
            u16_at(at + j * 2)? as usize
        } else {
            u32_at(at + j * 4)? as usize
        })
    };
    for j in 0..offsets.0 {
        let end = value(offsets, j)?
            .checked_add(value(lengths, j)?)
            .ok_or("a strip is out of range")?;
        if end > data.len() {
            return Err("the file ends before its image data");
        }
    }
    Ok(())
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
