//! `strip-gps`: removes the GPS tags from a JPEG's EXIF without touching a
//! byte of the compressed pixels. Every GPS entry and the values they point
//! to are zeroed in place and the GPS directory is left empty, so sizes and
//! offsets elsewhere in the file stay valid. Other formats pass unchanged.

use kiln_sdk::{Description, Error, Preprocessor, Settings, UploadInfo};

pub struct StripGps;

const GPS_POINTER: u16 = 0x8825;

/// Byte order of the TIFF structure inside EXIF.
#[derive(Clone, Copy)]
struct Tiff<'a> {
    data: &'a [u8],
    little: bool,
}

impl Tiff<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.data.get(at..at + 2)?;
        Some(if self.little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.data.get(at..at + 4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
}

/// The size in bytes of one value of a TIFF field type.
fn type_size(kind: u16) -> usize {
    match kind {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 => 4,
        5 | 10 | 12 => 8,
        _ => 1,
    }
}

/// Zeroes the GPS directory of the TIFF block `tiff`; returns whether there was one.
fn clear_gps(tiff: &mut [u8]) -> Option<bool> {
    let little = match tiff.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let view = Tiff { data: tiff, little };
    let ifd0 = view.u32(4)? as usize;
    let entries = view.u16(ifd0)? as usize;
    let mut gps = None;
    for i in 0..entries {
        let at = ifd0 + 2 + i * 12;
        if view.u16(at)? == GPS_POINTER {
            gps = Some(view.u32(at + 8)? as usize);
        }
    }
    let Some(gps) = gps else { return Some(false) };
    let count = view.u16(gps)? as usize;
    let mut spans = Vec::new();
    for i in 0..count {
        let at = gps + 2 + i * 12;
        let size = type_size(view.u16(at + 2)?) * view.u32(at + 4)? as usize;
        if size > 4 {
            let offset = view.u32(at + 8)? as usize;
            if offset.checked_add(size)? <= tiff.len() {
                spans.push(offset..offset + size);
            }
        }
        spans.push(at..at + 12);
    }
    spans.push(gps..gps + 2); // the entry count: the directory is now empty
    for span in spans {
        tiff.get_mut(span)?.fill(0);
    }
    Some(true)
}

/// Finds the EXIF segments of a JPEG and clears their GPS directories.
pub fn strip(mut jpeg: Vec<u8>) -> Result<(Vec<u8>, bool), String> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Ok((jpeg, false));
    }
    let mut at = 2;
    let mut cleared = false;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        if marker == 0xDA || marker == 0xD9 {
            break; // image data from here on: nothing more to look at
        }
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let end = at + 2 + length;
        if length < 2 || end > jpeg.len() {
            return Err("the JPEG's segments are malformed".into());
        }
        if marker == 0xE1 && jpeg[at + 4..end].starts_with(b"Exif\0\0") {
            cleared |= clear_gps(&mut jpeg[at + 10..end]).unwrap_or(false);
        }
        at = end;
    }
    Ok((jpeg, cleared))
}

impl Preprocessor for StripGps {
    fn new() -> Self {
        StripGps
    }

    fn describe(&self) -> Description {
        Description::preprocessor(
            "strip-gps",
            env!("CARGO_PKG_VERSION"),
            "Blanks the GPS tags of JPEG uploads in place, leaving every other byte as it was",
        )
    }

    fn preprocess(&self, upload: Vec<u8>, info: &UploadInfo, _config: &Settings) -> Result<Vec<u8>, Error> {
        if info.content_type != "image/jpeg" {
            return Ok(upload);
        }
        let (jpeg, cleared) = strip(upload)?;
        if cleared {
            kiln_sdk::log::info("removed GPS tags");
        }
        Ok(jpeg)
    }
}

kiln_sdk::export_preprocessor!(StripGps);

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG prefix with an EXIF block whose IFD0 points to a GPS IFD with
    /// one rational triple (latitude), in big-endian byte order.
    fn jpeg_with_gps() -> Vec<u8> {
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
        tiff.extend([0, 1]); // IFD0: one entry
        tiff.extend([0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26]); // GPS pointer -> 26
        tiff.extend([0, 0, 0, 0]); // next IFD
        tiff.extend([0, 1]); // GPS IFD at 26: one entry
        tiff.extend([0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 44]); // GPSLatitude, RATIONAL x3 at 44
        tiff.extend([0, 0, 0, 0]);
        tiff.extend([
            0, 0, 0, 52, 0, 0, 0, 1, 0, 0, 0, 30, 0, 0, 0, 1, 0, 0, 0, 15, 0, 0, 0, 1,
        ]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(&tiff);
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        jpeg.extend(((app1.len() + 2) as u16).to_be_bytes());
        jpeg.extend(app1);
        jpeg.extend([0xFF, 0xDA, 0, 2, 1, 2, 3, 0xFF, 0xD9]);
        jpeg
    }

    #[test]
    fn gps_values_are_gone_and_nothing_else_moves() {
        let original = jpeg_with_gps();
        let (stripped, cleared) = strip(original.clone()).unwrap();
        assert!(cleared);
        assert_eq!(stripped.len(), original.len());
        let latitude = [0, 0, 0, 52, 0, 0, 0, 1];
        assert!(original.windows(8).any(|w| w == latitude));
        assert!(!stripped.windows(8).any(|w| w == latitude));
        assert_eq!(
            stripped[stripped.len() - 9..],
            original[original.len() - 9..],
            "image data untouched"
        );
        let (again, cleared) = strip(stripped.clone()).unwrap();
        assert!(!cleared || again == stripped);
    }

    #[test]
    fn other_formats_pass() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        assert_eq!(strip(png.clone()).unwrap().0, png);
    }
}
