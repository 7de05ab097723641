//! The structural walk of each container: markers, chunks, blocks and boxes
//! read with bounds checks, so that truncated and corrupted files are
//! refused before a decoder sees them.

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
pub fn check_jpeg(data: &[u8]) -> Check {
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
pub fn check_png(data: &[u8]) -> Check {
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
pub fn check_gif(data: &[u8]) -> Check {
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
pub fn check_webp(data: &[u8]) -> Check {
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
pub fn check_isobmff(data: &[u8], needs_media: bool) -> Check {
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
pub fn heif_primary_size(data: &[u8]) -> Option<(u32, u32)> {
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

pub fn check_jxl(data: &[u8]) -> Check {
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
pub fn check_tiff(data: &[u8]) -> Check {
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
