//! `/console` (SPEC §8): the web console's files, built from `console/` and
//! embedded in the binary, so the page works with no network beyond Kiln.
//! The page is a client of the public API like any other; nothing here
//! knows what it shows.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "$EMBEDDED_CONSOLE_DIR"]
struct Files;

/// Only Kiln's own origin: no script, style, font or image from anywhere
/// else, and no framing. `blob:` and `data:` images are the previews and
/// placeholders the page draws itself.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/console`: to `/console/`, so that the page's relative URLs resolve under it.
pub async fn bare(method: Method) -> Response {
    match method {
        Method::GET | Method::HEAD => Redirect::permanent("/console/").into_response(),
        _ => ApiError::MethodNotAllowed { allow: "GET, HEAD" }.into_response(),
    }
}

/// `/console/` and `/console/{file}`: the embedded files; the page's own
/// routes live in the fragment, so every other name is a 404.
pub async fn file(method: Method, headers: HeaderMap, uri: axum::http::Uri) -> Result<Response, ApiError> {
    if !matches!(method, Method::GET | Method::HEAD) {
        return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
    }
    let name = match uri.path().strip_prefix("/console/").unwrap_or_default() {
        "" => "index.html",
        name => name,
    };
    let file = Files::get(name).ok_or_else(|| ApiError::NotFound(format!("the console has no file {name:?}")))?;
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        let mut head = StatusCode::OK.into_response();
        head.headers_mut()
            .insert(header::CONTENT_LENGTH, file.data.len().into());
        head
    } else {
        file.data.into_owned().into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

/// The console is built of few kinds of file; anything else is served as bytes.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") | Some("map") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_embedded() {
        let page = Files::get("index.html").expect("index.html is embedded");
        assert!(std::str::from_utf8(&page.data).is_ok_and(|text| text.contains("Kiln")));
        assert_eq!(content_type("console.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
