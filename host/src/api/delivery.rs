//! Sending bytes: strong ETags, `Last-Modified`, `Cache-Control`, `304` for
//! `If-None-Match` / `If-Modified-Since`, single `Range` requests with
//! `If-Range`, HEAD without reading the object, and download filenames.

use std::time::SystemTime;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use super::error::ApiError;
use crate::probe::ImageFormat;

/// The `Content-Security-Policy` of SVG originals, as GitHub serves raw SVG.
const SVG_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// Everything about a response body that is known before reading it.
pub struct Representation<'a> {
    /// A quoted strong entity tag.
    pub etag: HeaderValue,
    pub last_modified: SystemTime,
    pub content_type: &'a str,
    pub cache_control: &'a str,
    pub length: u64,
    /// `Content-Disposition` for downloads.
    pub disposition: Option<String>,
}

/// Headers a response with a body carries, reserved at once rather than
/// grown one insert at a time.
const ENTITY_HEADERS: usize = 12;

/// The outcome of the conditional headers, decided before any bytes are read.
pub enum Precondition {
    NotModified(Response),
    Send,
}

impl Representation<'_> {
    pub fn check(&self, request: &HeaderMap) -> Precondition {
        if self.not_modified(request) {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            self.validators(response.headers_mut());
            Precondition::NotModified(response)
        } else {
            Precondition::Send
        }
    }

    fn not_modified(&self, request: &HeaderMap) -> bool {
        // If-None-Match takes precedence; If-Modified-Since is ignored when it is present.
        if let Some(value) = request.get(header::IF_NONE_MATCH) {
            return value
                .to_str()
                .is_ok_and(|list| etag_list_matches(list, self.etag_str()));
        }
        request
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| whole_seconds(self.last_modified) <= since)
    }

    fn etag_str(&self) -> &str {
        self.etag.to_str().unwrap_or_default()
    }

    fn validators(&self, headers: &mut HeaderMap) {
        headers.insert(header::ETAG, self.etag.clone());
        set(
            headers,
            header::LAST_MODIFIED,
            httpdate::fmt_http_date(self.last_modified),
        );
        set(headers, header::CACHE_CONTROL, self.cache_control);
    }

    /// Headers for a HEAD request: everything a GET would send but the body.
    pub fn head(&self) -> Response {
        let mut response = Response::new(Body::empty());
        self.entity_headers(response.headers_mut(), self.length);
        response
    }

    fn entity_headers(&self, headers: &mut HeaderMap, length: u64) {
        headers.reserve(ENTITY_HEADERS);
        self.validators(headers);
        let format = ImageFormat::from_mime(self.content_type);
        // Kiln's own formats have static types, which need no copy.
        match format {
            Some(format) => {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.mime()));
            }
            None => set(headers, header::CONTENT_TYPE, self.content_type),
        }
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if format == Some(ImageFormat::Svg) {
            // An SVG opened on its own is a document that could run script
            // in this origin; the sandbox makes it an inert picture.
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(SVG_POLICY));
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(disposition) = &self.disposition {
            set(headers, header::CONTENT_DISPOSITION, disposition.as_str());
        }
    }

    /// The full body, or the one range asked for.
    pub fn send(&self, request: &HeaderMap, bytes: Bytes) -> Result<Response, ApiError> {
        let total = bytes.len() as u64;
        let range = match self.requested_range(request) {
            Some(range) => {
                let parsed = http_range_header::parse_range_header(range)
                    .ok()
                    .map(|ranges| ranges.validate(total));
                match parsed {
                    // Several ranges are answered with the whole body, as RFC 9110 allows.
                    Some(Ok(ranges)) if ranges.len() == 1 => Some(ranges[0].clone()),
                    Some(Ok(_)) | None => None,
                    Some(Err(_)) => return Err(ApiError::RangeNotSatisfiable { length: total }),
                }
            }
            None => None,
        };
        let Some(range) = range else {
            let mut response = Response::new(Body::from(bytes));
            self.entity_headers(response.headers_mut(), total);
            return Ok(response);
        };
        let (start, end) = (*range.start(), *range.end());
        let part = bytes.slice(start as usize..=end as usize);
        let mut response = Response::new(Body::from(part));
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        self.entity_headers(response.headers_mut(), end - start + 1);
        set(
            response.headers_mut(),
            header::CONTENT_RANGE,
            format!("bytes {start}-{end}/{total}"),
        );
        Ok(response)
    }

    /// The Range header, unless an If-Range validator says the client's copy is stale.
    fn requested_range<'a>(&self, request: &'a HeaderMap) -> Option<&'a str> {
        let range = request.get(header::RANGE)?.to_str().ok()?;
        match request.get(header::IF_RANGE).map(|v| v.to_str()) {
            None => Some(range),
            Some(Ok(validator)) if validator.trim() == self.etag_str() => Some(range),
            Some(Ok(validator)) => httpdate::parse_http_date(validator)
                .ok()
                .filter(|date| *date == whole_seconds(self.last_modified))
                .map(|_| range),
            Some(Err(_)) => None,
        }
    }
}

/// Sets a header whose value is only known at run time, dropping it if it
/// is not a valid header value. A `String` becomes the value without a copy.
fn set<V: TryInto<HeaderValue>>(headers: &mut HeaderMap, name: header::HeaderName, value: V) {
    if let Ok(value) = value.try_into() {
        headers.insert(name, value);
    }
}

/// The strong ETag of content whose hex SHA-256 is `sha256`.
pub fn etag(sha256: &str) -> HeaderValue {
    let mut tag = String::with_capacity(34);
    tag.push('"');
    tag.push_str(&sha256[..sha256.len().min(32)]);
    tag.push('"');
    // Hex digits between quotes are always a valid value.
    HeaderValue::try_from(tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

fn whole_seconds(time: SystemTime) -> SystemTime {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
}

/// Weak comparison, as RFC 9110 prescribes for If-None-Match.
fn etag_list_matches(list: &str, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == ours)
}

/// Characters that must be percent-encoded in an RFC 5987 `filename*` value.
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `Content-Disposition: attachment` with a filename from `alt` or the last
/// path segment, ending in the extension of the content.
pub fn attachment(alt: Option<&str>, last_segment: &str, format: Option<ImageFormat>) -> String {
    let base = alt
        .map(|alt| {
            alt.chars()
                .map(|c| {
                    if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                        c
                    } else {
                        '-'
                    }
                })
                .take(100)
                .collect::<String>()
        })
        .map(|name| name.trim_matches(['-', '.']).to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| last_segment.to_owned());
    let name = match format {
        Some(format) => {
            let (stem, extension) = base.rsplit_once('.').unwrap_or((&base, ""));
            let extension = extension.to_ascii_lowercase();
            if format.extensions().contains(&extension.as_str()) {
                base.clone()
            } else if ImageFormat::ALL
                .iter()
                .any(|f| f.extensions().contains(&extension.as_str()))
            {
                format!("{stem}.{}", format.extension())
            } else {
                format!("{base}.{}", format.extension())
            }
        }
        None => base,
    };
    let ascii: String = name.chars().map(|c| if c.is_ascii() { c } else { '_' }).collect();
    let encoded = percent_encoding::utf8_percent_encode(&name, ATTR_CHAR);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_matching() {
        assert!(etag_list_matches("\"abc\"", "\"abc\""));
        assert!(etag_list_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_list_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_list_matches("*", "\"abc\""));
        assert!(!etag_list_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn download_names() {
        let jpeg = Some(ImageFormat::Jpeg);
        let name = |alt, segment| attachment(alt, segment, jpeg);
        assert!(name(None, "avatar").contains("filename=\"avatar.jpg\""));
        assert!(name(None, "photo.jpeg").contains("filename=\"photo.jpeg\""));
        assert!(name(None, "photo.png").contains("filename=\"photo.jpg\""));
        assert!(name(Some("A red kite"), "x").contains("filename=\"A-red-kite.jpg\""));
        assert!(name(Some("\"; evil=1"), "x").contains("filename=\"evil-1.jpg\""));
        assert!(name(Some("   "), "seg").contains("filename=\"seg.jpg\""));
        let unicode = name(Some("Straße"), "x");
        assert!(unicode.contains("filename=\"Stra_e.jpg\""), "{unicode}");
        assert!(unicode.contains("filename*=UTF-8''Stra%C3%9Fe.jpg"), "{unicode}");
    }
}
