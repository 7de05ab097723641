//! `/assets/{path}[/-/{selectors}]`: every method on asset paths (SPEC §2).
//!
//! One handler takes every method so that the path is parsed from the raw
//! request URI exactly once, and so that the methods a URL allows follow from
//! its selectors. Reads (`reads.rs`) and writes (`writes.rs`) check access
//! through `access.rs` and answer JSON views from `views.rs`.

mod access;
mod reads;
mod views;
mod writes;

pub use access::reject_params;
pub use reads::{not_found, parse_fetch_query};
pub use views::{Link, MadeVariants};
pub use writes::{MOST_VARIANTS, VariantBatch};

use reads::{FetchRequest, fetch};
use writes::{create, delete, make_variants, update};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;
use crate::address::{Address, Ordering, Selectors};

pub async fn without_path() -> ApiError {
    ApiError::bad_request("invalid_path", "the asset path is empty; use /assets/{path}")
}

pub async fn handle(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    // Taken apart rather than extracted piecewise, which would copy the headers.
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    // The router matched on `/assets/`, so the prefix is there; the raw,
    // still percent-encoded path is what gets validated.
    let raw = uri.path().strip_prefix("/assets/").unwrap_or_default();
    let address = Address::parse(raw)?;
    let allow = allowed_methods(&address.selectors)?;
    if !allow.split(", ").any(|m| m == method.as_str()) {
        return Err(ApiError::MethodNotAllowed { allow });
    }
    let query = uri.query().unwrap_or_default();
    match method {
        Method::GET | Method::HEAD => {
            let request = FetchRequest {
                raw_path: uri.path(),
                query,
                headers: &headers,
                head: method == Method::HEAD,
            };
            fetch(&state, address, request).await
        }
        Method::POST if address.selectors.variants => make_variants(&state, address, query, &headers, body).await,
        Method::POST => create(&state, &address.path, query, &headers, body).await,
        Method::PUT => update(&state, address, query, &headers, body).await,
        _ => delete(&state, address, query, &headers).await,
    }
}

/// Which methods a URL of this shape accepts.
fn allowed_methods(selectors: &Selectors) -> Result<&'static str, ApiError> {
    let entry_only = matches!(selectors.ordering, Some(Ordering::Entry(_))) && selectors.format.is_none();
    Ok(if selectors.variants {
        if !entry_only || selectors.recursive {
            return Err(ApiError::bad_request(
                "invalid_selector",
                "`variants` follows an entry alone: POST /assets/{path}/-/entry/{n}/variants",
            ));
        }
        "POST"
    } else if selectors.recursive {
        if selectors.ordering.is_some() || selectors.format.is_some() {
            return Err(ApiError::bad_request(
                "invalid_selector",
                "`recursive` stands alone: DELETE /assets/{path}/-/recursive",
            ));
        }
        "DELETE"
    } else if selectors.is_empty() {
        "GET, HEAD, POST, DELETE"
    } else if entry_only {
        "GET, HEAD, PUT, DELETE"
    } else {
        "GET, HEAD"
    })
}
