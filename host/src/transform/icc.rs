//! ICC profiles: just enough of the format to tell an sRGB profile, which
//! both the pipeline and the planar shortcut treat as no profile at all.

/// Whether an ICC profile is an RGB profile describing itself as sRGB
/// (`sRGB IEC61966-2.1` and its variants), as imgproxy decides too. Reads the
/// `desc` tag in its v2 (`desc`) or v4 (`mluc`) form.
pub(super) fn is_srgb_profile(icc: &[u8]) -> bool {
    let u32_at = |at: usize| -> Option<usize> {
        let b = icc.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let description = || -> Option<String> {
        if icc.get(16..20)? != b"RGB " {
            return None;
        }
        let tags = u32_at(128)?.min(256);
        let (offset, size) = (0..tags).find_map(|i| {
            let at = 132 + i * 12;
            (icc.get(at..at + 4)? == b"desc").then(|| Some((u32_at(at + 4)?, u32_at(at + 8)?)))?
        })?;
        let tag = icc.get(offset..offset.checked_add(size)?)?;
        match tag.get(0..4)? {
            b"desc" => {
                let length = u32_at(offset + 8)?.min(tag.len().saturating_sub(12));
                Some(String::from_utf8_lossy(tag.get(12..12 + length)?).into_owned())
            }
            b"mluc" => {
                let record = 16;
                let (length, start) = (u32_at(offset + record + 4)?, u32_at(offset + record + 8)?);
                let text = tag.get(start..start.checked_add(length)?)?;
                let units: Vec<u16> = text.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                Some(String::from_utf16_lossy(&units))
            }
            _ => None,
        }
    };
    description().is_some_and(|d| d.trim_start().starts_with("sRGB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v2 profile of colour space `space` whose only tag is `desc`.
    fn profile(space: &[u8; 4], description: &str) -> Vec<u8> {
        let mut icc = vec![0u8; 128];
        icc[16..20].copy_from_slice(space);
        icc.extend_from_slice(&1u32.to_be_bytes());
        let text = format!("{description}\0");
        let size = 12 + text.len();
        icc.extend_from_slice(b"desc");
        icc.extend_from_slice(&144u32.to_be_bytes());
        icc.extend_from_slice(&(size as u32).to_be_bytes());
        icc.extend_from_slice(b"desc\0\0\0\0");
        icc.extend_from_slice(&(text.len() as u32).to_be_bytes());
        icc.extend_from_slice(text.as_bytes());
        icc
    }

    #[test]
    fn srgb_profiles_are_recognised() {
        assert!(is_srgb_profile(&profile(b"RGB ", "sRGB IEC61966-2.1")));
        assert!(!is_srgb_profile(&profile(b"RGB ", "Display P3")));
        assert!(!is_srgb_profile(&profile(b"CMYK", "sRGB IEC61966-2.1")));
        assert!(!is_srgb_profile(&profile(b"RGB ", "sRGB")[..150]));
        assert!(!is_srgb_profile(b"short"));
    }
}
