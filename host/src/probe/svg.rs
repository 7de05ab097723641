//! SVG documents: recognised by their root element, checked to be whole
//! XML, and measured from the root's `width`, `height` and `viewBox` the way
//! libvips' `svgload` (librsvg, 72 dpi) sizes them.
//!
//! The checks here are deliberately stricter than librsvg: a document that
//! declares entities is refused (no billion laughs, no external entities),
//! and one with neither absolute dimensions nor a viewBox is refused too,
//! since librsvg would size it by the bounding box of its contents — which
//! a few bytes can make as large as they like.
//!
//! Filter effects are refused outright: librsvg renders them in process and
//! cannot be interrupted, and a few bytes of them (`feMorphology` with a
//! large radius) keep a worker busy for minutes, while others make librsvg
//! abort the whole process. Images embedded as `data:` URIs are measured
//! from their headers and their pixels reported, so the caller counts them
//! against the same pixel limit as the document; anything embedded that is
//! not a plain raster image (another SVG, say) is refused.

use quick_xml::events::{BytesStart, Event};
use svgtypes::{Length, LengthUnit, ViewBox};

/// The resolution libvips renders SVG at unless told otherwise.
const DPI: f64 = 72.0;

/// Whether the bytes are text that opens like an SVG document. Only the
/// prologue and the root element's name are read.
pub fn looks_like_svg(bytes: &[u8]) -> bool {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(text.len());
    if text.get(start) != Some(&b'<') {
        return false;
    }
    // The root must appear soon; a prologue longer than this is not a
    // drawing anyone exports.
    let head = &text[..text.len().min(start + 64 * 1024)];
    let head = match std::str::from_utf8(head) {
        Ok(head) => head,
        Err(e) => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(head) => head,
            Err(_) => return false,
        },
    };
    let mut reader = quick_xml::Reader::from_str(head);
    loop {
        match reader.read_event() {
            Ok(Event::Start(root) | Event::Empty(root)) => return is_svg_root(&root),
            Ok(Event::Decl(_) | Event::Comment(_) | Event::DocType(_) | Event::PI(_)) => {}
            Ok(Event::Text(text)) if text.trim().is_empty() => {}
            _ => return false,
        }
    }
}

fn is_svg_root(root: &BytesStart<'_>) -> bool {
    root.local_name().as_ref() == "svg"
}

/// What the walk learned: the document's size, and the pixels of every
/// image embedded in it together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    pub width: u32,
    pub height: u32,
    pub embedded_pixels: u64,
}

/// Refuses filter effects and measures an embedded image; the pixels it adds.
fn check_element(element: &BytesStart<'_>, in_style: &mut bool) -> Result<u64, &'static str> {
    const NO_FILTERS: &str = "SVG filter effects are not accepted";
    let name = element.local_name();
    let name: &str = name.as_ref();
    if name == "filter" || name.starts_with("fe") {
        return Err(NO_FILTERS);
    }
    *in_style = name == "style";
    let mut pixels = 0;
    for attribute in element.attributes().flatten() {
        let key = attribute.key.local_name();
        let value: &str = attribute.value.as_ref();
        match key.as_ref() {
            "filter" if !value.trim().eq_ignore_ascii_case("none") => return Err(NO_FILTERS),
            "style" if mentions_filter(value) => return Err(NO_FILTERS),
            "href" if name == "image" && value.starts_with("data:") => {
                pixels += embedded_pixels(value.as_bytes())?;
            }
            _ => {}
        }
    }
    Ok(pixels)
}

/// Whether CSS text names the `filter` property, in any case.
fn mentions_filter(css: &str) -> bool {
    css.to_ascii_lowercase().contains("filter")
}

/// The pixels of a `data:` URI's raster image, from its header alone.
fn embedded_pixels(uri: &[u8]) -> Result<u64, &'static str> {
    use base64::Engine;
    const NOT_RASTER: &str = "an embedded image is not a PNG, JPEG, GIF or WebP image";
    let comma = uri.iter().position(|b| *b == b',').ok_or(NOT_RASTER)?;
    let (header, payload) = (&uri[..comma], &uri[comma + 1..]);
    if !header.ends_with(b";base64") {
        return Err(NOT_RASTER);
    }
    let payload: Vec<u8> = payload.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&payload)
        .map_err(|_| "an embedded image's base64 is damaged")?;
    let raster = matches!(
        super::sniff(&bytes),
        Some(super::ImageFormat::Png | super::ImageFormat::Jpeg | super::ImageFormat::Gif | super::ImageFormat::Webp)
    );
    let size = imagesize::blob_size(&bytes).ok().filter(|_| raster).ok_or(NOT_RASTER)?;
    Ok(size.width as u64 * size.height as u64)
}

/// Walks the whole document and measures it: `Err` says why it is refused.
pub fn check_and_measure(bytes: &[u8]) -> Result<Measured, &'static str> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(text).map_err(|_| "the document is not UTF-8 text")?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    let mut size = None;
    let (mut embedded_pixels, mut in_style) = (0u64, false);
    loop {
        let event = reader.read_event().map_err(|_| "the document is not well-formed XML")?;
        match event {
            Event::DocType(doctype) if doctype.to_ascii_uppercase().contains("<!ENTITY") => {
                return Err("the document declares entities, which are not accepted");
            }
            Event::GeneralRef(reference) => {
                let known = if reference.is_char_ref() {
                    reference.resolve_char_ref().is_ok_and(|c| c.is_some())
                } else {
                    matches!(&*reference, "lt" | "gt" | "amp" | "apos" | "quot")
                };
                if !known {
                    return Err("the document refers to an undeclared entity");
                }
            }
            Event::Start(ref element) | Event::Empty(ref element) if depth == 0 && size.is_none() => {
                if !is_svg_root(element) {
                    return Err("the root element is not <svg>");
                }
                size = Some(measure(element)?);
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::Start(_) if depth == 0 => return Err("the document has more than one root element"),
            Event::Empty(_) if depth == 0 => return Err("the document has more than one root element"),
            Event::Start(ref element) => {
                depth += 1;
                embedded_pixels = embedded_pixels.saturating_add(check_element(element, &mut in_style)?);
            }
            Event::Empty(ref element) => {
                embedded_pixels = embedded_pixels.saturating_add(check_element(element, &mut in_style)?);
                in_style = false;
            }
            Event::Text(ref text) if in_style && mentions_filter(text.as_ref()) => {
                return Err("SVG filter effects are not accepted");
            }
            Event::CData(ref text) if in_style && mentions_filter(text.as_ref()) => {
                return Err("SVG filter effects are not accepted");
            }
            Event::End(_) => {
                in_style = false;
                depth = depth.checked_sub(1).ok_or("an end tag has no start tag")?;
            }
            Event::Text(text) if depth == 0 && !text.trim().is_empty() => {
                return Err("text stands outside the root element");
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth > 0 {
        return Err("the document ends inside an element");
    }
    let (width, height) = size.ok_or("the document has no root element")?;
    Ok(Measured {
        width,
        height,
        embedded_pixels,
    })
}

/// The root's size in pixels at 72 dpi: absolute `width` and `height`, else
/// the viewBox's (librsvg's intrinsic size, in that order).
fn measure(root: &BytesStart<'_>) -> Result<(u32, u32), &'static str> {
    let attribute = |name: &str| -> Option<String> {
        root.attributes()
            .flatten()
            .find(|a| a.key.local_name().as_ref() == name && a.key.prefix().is_none())
            .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
            .map(|v| v.trim().to_owned())
    };
    let length = |name: &str| {
        attribute(name)
            .and_then(|v| v.parse::<Length>().ok())
            .and_then(to_pixels)
    };
    let view_box = attribute("viewBox")
        .and_then(|v| v.parse::<ViewBox>().ok())
        .filter(|b| b.w > 0.0 && b.h > 0.0);
    let (width, height) = match (length("width"), length("height"), view_box) {
        (Some(w), Some(h), _) => (w, h),
        (_, _, Some(b)) => (b.w, b.h),
        _ => return Err("the <svg> element has neither absolute width and height nor a viewBox"),
    };
    let pixels = |v: f64| {
        let v = v.round();
        if v >= 1.0 && v <= f64::from(u32::MAX) {
            Some(v as u32)
        } else {
            None
        }
    };
    match (pixels(width), pixels(height)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err("the <svg> element's size is zero or out of range"),
    }
}

/// An absolute length in pixels; relative ones (`%`, `em`, `ex`) have no
/// size of their own here.
fn to_pixels(length: Length) -> Option<f64> {
    let per_unit = match length.unit {
        LengthUnit::None | LengthUnit::Px => 1.0,
        LengthUnit::In => DPI,
        LengthUnit::Cm => DPI / 2.54,
        LengthUnit::Mm => DPI / 25.4,
        LengthUnit::Pt => DPI / 72.0,
        LengthUnit::Pc => DPI / 6.0,
        LengthUnit::Em | LengthUnit::Ex | LengthUnit::Percent => return None,
    };
    Some(length.number * per_unit).filter(|v| v.is_finite() && *v > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = r#"xmlns="http://www.w3.org/2000/svg""#;

    fn svg(attributes: &str, body: &str) -> Vec<u8> {
        format!("<svg {NS} {attributes}>{body}</svg>").into_bytes()
    }

    fn size(bytes: &[u8]) -> Result<(u32, u32), &'static str> {
        check_and_measure(bytes).map(|m| (m.width, m.height))
    }

    #[test]
    fn filters_are_refused_and_embedded_images_counted() {
        let square = "width=\"10\" height=\"10\"";
        for body in [
            "<filter id='f'><feMorphology radius='300'/></filter><rect filter='url(#f)'/>",
            "<feGaussianBlur stdDeviation='9'/>",
            "<rect width='5' height='5' filter='url(#x)'/>",
            "<rect width='5' height='5' style='fill:red; FILTER: blur(300px)'/>",
            "<style>rect { filter: blur(300px) }</style><rect/>",
            "<style><![CDATA[ rect { filter: drop-shadow(0 0 9px red) } ]]></style>",
            "<image href='data:image/svg+xml;base64,PHN2Zy8+' width='1' height='1'/>",
            "<image href='data:image/png,notbase64'/>",
            "<image href='data:image/png;base64,!!!'/>",
        ] {
            assert!(check_and_measure(&svg(square, body)).is_err(), "{body}");
        }
        // A 16000x16000 PNG's header, which is all that is measured.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&16000u32.to_be_bytes());
        png.extend_from_slice(&16000u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        use base64::Engine;
        let uri = base64::engine::general_purpose::STANDARD.encode(&png);
        let body =
            format!("<image href='data:image/png;base64,{uri}'/><image xlink:href='data:image/png;base64,{uri}'/>");
        let doc = format!("<svg {NS} xmlns:xlink='http://www.w3.org/1999/xlink' {square}>{body}</svg>");
        let measured = check_and_measure(doc.as_bytes()).unwrap();
        assert_eq!(measured.embedded_pixels, 2 * 16000 * 16000);
        let plain = svg(
            square,
            "<rect width='5' height='5' filter='none' style='fill:blue'/><style>rect{}</style>",
        );
        assert_eq!(check_and_measure(&plain).unwrap().embedded_pixels, 0);
    }

    #[test]
    fn recognised_through_prologues() {
        let doc = format!(
            "\u{feff}  <?xml version=\"1.0\"?>\n<!-- made by hand -->\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n<svg {NS} width=\"10\" height=\"20\"/>"
        );
        assert!(looks_like_svg(doc.as_bytes()));
        assert_eq!(size(doc.as_bytes()), Ok((10, 20)));
        let prefixed = r#"<svg:svg xmlns:svg="http://www.w3.org/2000/svg" width="3" height="4"/>"#;
        assert!(looks_like_svg(prefixed.as_bytes()));
        for other in [
            &b"<html><svg/></html>"[..],
            b"hello",
            b"<?xml version='1.0'?><rss/>",
            b"",
        ] {
            assert!(!looks_like_svg(other), "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn measured_as_librsvg_does_at_72_dpi() {
        let cases = [
            (r#"width="120" height="80""#, (120, 80)),
            (r#"width="120px" height="80.4px" viewBox="0 0 1 1""#, (120, 80)),
            (r#"width="1in" height="2.54cm""#, (72, 72)),
            (r#"width="72pt" height="6pc""#, (72, 72)),
            (r#"width="100%" height="100%" viewBox="0 0 300 200""#, (300, 200)),
            (r#"viewBox="-10 -10 64,48""#, (64, 48)),
            (r#"width="5em" viewBox="0 0 30 20""#, (30, 20)),
        ];
        for (attributes, size) in cases {
            assert_eq!(self::size(&svg(attributes, "")), Ok(size), "{attributes}");
        }
        for attributes in [
            "",
            r#"width="100%" height="100%""#,
            r#"width="10" height="0""#,
            r#"viewBox="0 0 0 10""#,
            r#"width="1e12" height="1e12""#,
        ] {
            assert!(size(&svg(attributes, "")).is_err(), "{attributes}");
        }
    }

    #[test]
    fn broken_or_dangerous_documents_are_refused() {
        let whole = svg(r#"width="10" height="10""#, "<g><rect width='1' height='1'/></g>");
        assert!(check_and_measure(&whole).is_ok());
        for cut in 1..whole.len() {
            assert!(check_and_measure(&whole[..cut]).is_err(), "cut at {cut}");
        }
        let laughs = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE svg [<!ENTITY a \"lol\"><!ENTITY b \"&a;&a;&a;\">]><svg {NS} width=\"1\" height=\"1\"><text>&b;</text></svg>"
        );
        assert!(check_and_measure(laughs.as_bytes()).is_err());
        let external = format!(
            "<!DOCTYPE svg [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><svg {NS} width=\"1\" height=\"1\"><text>&x;</text></svg>"
        );
        assert!(check_and_measure(external.as_bytes()).is_err());
        let undeclared = svg(r#"width="1" height="1""#, "<text>&nbsp;</text>");
        assert!(check_and_measure(&undeclared).is_err());
        let escaped = svg(r#"width="1" height="1""#, "<text>&lt;&#169;&#x2603;</text>");
        assert!(check_and_measure(&escaped).is_ok());
        let two_roots = [svg(r#"width="1" height="1""#, ""), svg(r#"width="1" height="1""#, "")].concat();
        assert!(check_and_measure(&two_roots).is_err());
        assert!(check_and_measure(b"<svg width='1' height='1'>\xff</svg>").is_err());
    }
}
