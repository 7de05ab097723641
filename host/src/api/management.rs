//! The management API under `/api` (SPEC §8), for keys with the `admin`
//! scope: what operators and the console need beyond the asset URLs —
//! listing entries, an entry's variants, and purging them.

use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::AppState;
use super::assets::{metadata_json, not_found, reject_params};
use super::error::ApiError;
use crate::address::{Address, AssetPath, Ordering};
use crate::catalog::{Entries, ListCursor, Selection};
use crate::views::entry_summary_json;

/// Entries a page lists unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: u32 = 100;
const MOST: u32 = 1000;

/// `GET /api/assets?prefix=&cursor=&limit=`: entries at and below `prefix`,
/// in path and entry order, a page at a time; `next_cursor` resumes after
/// the page (null on the last), unmoved by entries added elsewhere.
pub async fn list_assets(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let (mut prefix, mut cursor, mut limit) = (None, None, DEFAULT_LIMIT);
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "prefix" => prefix = parse_prefix(&value)?,
            "cursor" => cursor = Some(decode_cursor(&value)?),
            "limit" => limit = parse_limit(&value, MOST)?,
            other => return Err(ApiError::invalid_param(other, "takes prefix, cursor and limit")),
        }
    }
    authorize_admin(&state, &headers, prefix.as_ref())?;
    let entries = state
        .0
        .assets
        .catalog()
        .list_entries(prefix.as_ref(), cursor.as_ref(), limit)
        .await?;
    let next = (entries.len() == limit as usize)
        .then(|| {
            entries
                .last()
                .map(|e| encode_cursor(&(e.path.as_str().to_owned(), e.entry)))
        })
        .flatten();
    let listed: Vec<serde_json::Value> = entries.iter().map(entry_summary_json).collect();
    Ok(axum::Json(json!({ "entries": listed, "next_cursor": next })).into_response())
}

/// `GET /api/key`: the presented key's name, scopes and prefix. The one
/// route under `/api` that any valid key may call (it tells a key only about
/// itself), so that the console offers what the key may do.
pub async fn key(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    reject_params(uri.query().unwrap_or_default())?;
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let key = state.0.keys.authenticate(authorization)?;
    let scopes: Vec<&str> = key.scopes().iter().map(|scope| scope.name()).collect();
    let prefix = key.prefix().map_or_else(|| "/".to_owned(), ToString::to_string);
    Ok(axum::Json(json!({ "name": key.name, "scopes": scopes, "prefix": prefix })).into_response())
}

/// `GET /api/assets/{path}/-/entry/{n}/variants`: the entry's made
/// variants; `DELETE` on the same URL purges them, so the next request for
/// each makes it again.
pub async fn entry_variants(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let allow = "GET, HEAD, DELETE";
    if !matches!(method, Method::GET | Method::HEAD | Method::DELETE) {
        return Err(ApiError::MethodNotAllowed { allow });
    }
    let raw = uri.path().strip_prefix("/api/assets/").unwrap_or_default();
    let address = Address::parse(raw)?;
    let selectors = &address.selectors;
    let number = match selectors.ordering {
        Some(Ordering::Entry(n)) if selectors.variants && selectors.format.is_none() && !selectors.recursive => n,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_selector",
                "the management API names an entry's variants as /api/assets/{path}/-/entry/{n}/variants",
            ));
        }
    };
    reject_params(uri.query().unwrap_or_default())?;
    authorize_admin(&state, &headers, Some(&address.path))?;
    let assets = &state.0.assets;
    let selection = Selection {
        ordering: Ordering::Entry(number),
        labels: Vec::new(),
    };
    let missing = || not_found(&address.path, &selection);
    if method == Method::DELETE {
        let (found, purged) = assets.purge_variants(Entries::One(&address.path, number)).await?;
        if found == 0 {
            return Err(missing());
        }
        return Ok(axum::Json(json!({ "purged": purged })).into_response());
    }
    let entry = assets.find(&address.path, &selection).await?.ok_or_else(missing)?;
    let variants = assets.variants(&entry).await?;
    let listed = metadata_json(&entry, &variants)["variants"].take();
    Ok(axum::Json(json!({ "variants": listed })).into_response())
}

/// `DELETE /api/variants?prefix=`: purges the made variants of every entry
/// at and below `prefix`.
pub async fn purge_under(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let mut prefix = None;
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "prefix" => prefix = parse_prefix(&value)?,
            other => return Err(ApiError::invalid_param(other, "takes prefix")),
        }
    }
    let prefix = prefix
        .ok_or_else(|| ApiError::invalid_param("prefix", "is required: the path whose entries' variants to purge"))?;
    authorize_admin(&state, &headers, Some(&prefix))?;
    let (entries, purged) = state.0.assets.purge_variants(Entries::Under(&prefix)).await?;
    Ok(axum::Json(json!({ "entries": entries, "purged": purged })).into_response())
}

/// A `limit` parameter: 1 to `most`.
pub fn parse_limit(value: &str, most: u32) -> Result<u32, ApiError> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=most).contains(n))
        .ok_or_else(|| ApiError::invalid_param("limit", format!("must be 1 to {most}")))
}

/// A `prefix` parameter: an asset path, slashes around it ignored; empty
/// means every path.
pub fn parse_prefix(value: &str) -> Result<Option<AssetPath>, ApiError> {
    match value.trim_matches('/') {
        "" => Ok(None),
        path => AssetPath::parse(path)
            .map(Some)
            .map_err(|e| ApiError::invalid_param("prefix", e)),
    }
}

pub fn authorize_admin(state: &AppState, headers: &HeaderMap, over: Option<&AssetPath>) -> Result<(), ApiError> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    state.0.keys.authenticate(authorization)?.authorize_admin_over(over)?;
    Ok(())
}

fn encode_cursor((path, entry): &ListCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{path}\n{entry}"))
}

fn decode_cursor(cursor: &str) -> Result<ListCursor, ApiError> {
    let invalid = || ApiError::invalid_param("cursor", "is not a cursor this server handed out");
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(text).map_err(|_| invalid())?;
    let (path, entry) = text.split_once('\n').ok_or_else(invalid)?;
    let path = AssetPath::parse(path).map_err(|_| invalid())?;
    Ok((path.as_str().to_owned(), entry.parse().map_err(|_| invalid())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let cursor = ("users/1/avatar".to_owned(), 7);
        assert_eq!(decode_cursor(&encode_cursor(&cursor)).unwrap(), cursor);
        for forged in [
            "",
            "!!!",
            &URL_SAFE_NO_PAD.encode("../x\n1"),
            &URL_SAFE_NO_PAD.encode("a\nminus"),
        ] {
            assert!(decode_cursor(forged).is_err(), "{forged}");
        }
    }
}
