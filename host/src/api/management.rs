//! The management API under `/api` (SPEC §8), for keys with the `admin`
//! scope: what operators and the console need beyond the asset URLs —
//! listing entries, an entry's variants, and purging them.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::assets::{not_found, reject_params};
use super::error::ApiError;
use crate::address::{Address, AssetPath, Ordering};
use crate::catalog::{Entries, ListCursor, Selection};
use crate::views::{EntrySummary, VariantView};

/// A page of `GET /api/assets`.
#[derive(Serialize, ToSchema)]
pub struct Listing {
    pub entries: Vec<EntrySummary>,
    /// Give it as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `GET /api/key`: what the presented key may do.
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub name: String,
    /// Any of `read`, `write`, `delete`, `admin`.
    pub scopes: Vec<&'static str>,
    /// The paths the key may touch; `/` for all.
    pub prefix: String,
}

/// An entry's made variants.
#[derive(Serialize, ToSchema)]
pub struct VariantList {
    pub variants: Vec<VariantView>,
}

/// How many variants a purge removed.
#[derive(Serialize, ToSchema)]
pub struct Purged {
    pub purged: usize,
}

/// What `DELETE /api/variants` purged: entries looked at, variants removed.
#[derive(Serialize, ToSchema)]
pub struct PurgedUnder {
    pub entries: u64,
    pub purged: usize,
}

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
    let key = state.presented_key(&headers)?;
    let (mut prefix, mut cursor, mut limit) = (None, None, DEFAULT_LIMIT);
    for (name, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "prefix" => prefix = parse_prefix(&value)?,
            "cursor" => cursor = Some(decode_cursor(&value)?),
            "limit" => limit = parse_limit(&value, MOST)?,
            other => return Err(ApiError::invalid_param(other, "takes prefix, cursor and limit")),
        }
    }
    key.authorize_admin_over(prefix.as_ref())?;
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
    let entries = entries.iter().map(EntrySummary::of).collect();
    Ok(axum::Json(Listing {
        entries,
        next_cursor: next,
    })
    .into_response())
}

/// `GET /api/key`: the presented key's name, scopes and prefix. The one
/// route under `/api` that any valid key may call (it tells a key only about
/// itself), so that the console offers what the key may do.
pub async fn key(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let key = state.presented_key(&headers)?;
    reject_params(uri.query().unwrap_or_default())?;
    Ok(axum::Json(KeyView {
        name: key.name.clone(),
        scopes: key.scopes().iter().map(|scope| scope.name()).collect(),
        prefix: key.prefix().map_or_else(|| "/".to_owned(), ToString::to_string),
    })
    .into_response())
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
    let key = state.presented_key(&headers)?;
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
    key.authorize_admin_over(Some(&address.path))?;
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
        return Ok(axum::Json(Purged { purged }).into_response());
    }
    let entry = assets.find(&address.path, &selection).await?.ok_or_else(missing)?;
    let variants = assets.variants(&entry).await?;
    let variants = variants.iter().map(VariantView::of).collect();
    Ok(axum::Json(VariantList { variants }).into_response())
}

/// `DELETE /api/variants?prefix=`: purges the made variants of every entry
/// at and below `prefix`.
pub async fn purge_under(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let key = state.presented_key(&headers)?;
    let mut prefix = None;
    for (name, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "prefix" => prefix = parse_prefix(&value)?,
            other => return Err(ApiError::invalid_param(other, "takes prefix")),
        }
    }
    let prefix = prefix
        .ok_or_else(|| ApiError::invalid_param("prefix", "is required: the path whose entries' variants to purge"))?;
    key.authorize_admin_over(Some(&prefix))?;
    let (entries, purged) = state.0.assets.purge_variants(Entries::Under(&prefix)).await?;
    Ok(axum::Json(PurgedUnder { entries, purged }).into_response())
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

/// The last entry of a page, `{path}:{entry}`: the next page starts after
/// it. Any such key is a place in the order, so any is a valid cursor.
fn encode_cursor((path, entry): &ListCursor) -> String {
    format!("{path}:{entry}")
}

fn decode_cursor(cursor: &str) -> Result<ListCursor, ApiError> {
    let invalid = || ApiError::invalid_param("cursor", "is not `{path}:{entry}`, as `next_cursor` hands out");
    let (path, entry) = cursor.rsplit_once(':').ok_or_else(invalid)?;
    let path = AssetPath::parse(path).map_err(|_| invalid())?;
    let entry = Some(entry)
        .filter(|digits| (1..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(invalid)?;
    Ok((path.as_str().to_owned(), entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let cursor = ("users/1/avatar".to_owned(), 7);
        assert_eq!(decode_cursor(&encode_cursor(&cursor)).unwrap(), cursor);
        assert_eq!(encode_cursor(&cursor), "users/1/avatar:7");
        for forged in [
            "",
            "!!!",
            "../x:1",
            "a:minus",
            "a:+1",
            "a:",
            ":1",
            "a:12345678901234567890",
            "a/:1",
        ] {
            assert!(decode_cursor(forged).is_err(), "{forged}");
        }
    }
}
