//! `/assets/{path}[/-/{selectors}]`: every method on asset paths (SPEC §2).
//!
//! One handler takes every method so that the path is parsed from the raw
//! request URI exactly once, and so that the methods a URL allows follow from
//! its selectors.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::delivery::{self, Precondition, Representation};
use super::error::ApiError;
use super::upload::{self, Upload};
use crate::address::{Address, AssetPath, Ordering, ReturnFormat, Selectors};
use crate::assets::DeleteTarget;
use crate::auth::Scope;
use crate::catalog::{Entry, EntryMetadata, Selection};
use crate::probe::ImageFormat;

pub async fn without_path() -> ApiError {
    ApiError::bad_request(
        "invalid_path",
        "the asset path is empty; use /assets/{path}",
    )
}

pub async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
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
            fetch(&state, address, query, &headers, method == Method::HEAD).await
        }
        Method::POST => create(&state, &address.path, query, &headers, body).await,
        Method::PUT => update(&state, address, query, &headers, body).await,
        _ => delete(&state, address, query, &headers).await,
    }
}

/// Which methods a URL of this shape accepts.
fn allowed_methods(selectors: &Selectors) -> Result<&'static str, ApiError> {
    let entry_only =
        matches!(selectors.ordering, Some(Ordering::Entry(_))) && selectors.format.is_none();
    Ok(if selectors.recursive {
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

fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scope: Scope,
    path: &AssetPath,
) -> Result<(), ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let key = state.0.keys.authenticate(authorization)?;
    key.authorize(scope, path)?;
    Ok(())
}

/// Writes take no query parameters (yet: signed uploads will add `exp` and `s`).
fn reject_params(query: &str) -> Result<(), ApiError> {
    match form_urlencoded::parse(query.as_bytes()).next() {
        Some((key, _)) => Err(ApiError::invalid_param(
            &key,
            "this request takes no query parameters",
        )),
        None => Ok(()),
    }
}

/// Reads `label:{key}={value}` filters; anything else is an unknown parameter.
fn parse_fetch_params(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut labels = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.strip_prefix("label:") {
            Some("") => {
                return Err(ApiError::invalid_param(
                    &key,
                    "a label filter needs a key: label:{key}={value}",
                ));
            }
            Some(label) => labels.push((label.to_owned(), value.into_owned())),
            None => {
                return Err(ApiError::invalid_param(
                    &key,
                    "unknown parameter; this version accepts only label:{key}={value} filters",
                ));
            }
        }
    }
    Ok(labels)
}

async fn fetch(
    state: &AppState,
    address: Address,
    query: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    let labels = parse_fetch_params(query)?;
    let selection = Selection {
        ordering: address.selectors.ordering.unwrap_or(Ordering::New),
        labels,
    };
    let resolved = state.0.rules.resolve(&address.path);
    let entry = state
        .0
        .assets
        .find(&address.path, &selection)
        .await?
        .ok_or_else(|| not_found(&address.path, &selection))?;
    let format = address
        .selectors
        .format
        .unwrap_or(resolved.settings.return_format);
    let entry_url = format!(
        "{}/assets/{}/-/entry/{}/content",
        state.base_url(headers),
        entry.path.as_str(),
        entry.entry
    );
    match format {
        ReturnFormat::Metadata => Ok(axum::Json(metadata_json(&entry)).into_response()),
        ReturnFormat::Link => Ok(axum::Json(json!({
            "url": entry_url,
            "width": entry.original.width,
            "height": entry.original.height,
            "content_type": entry.original.content_type,
            "alt": entry.metadata.alt,
            "lqip": null,
        }))
        .into_response()),
        ReturnFormat::Redirect => {
            // Only the `entry` strategy exists so far; see config::RedirectStrategy.
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            let location =
                HeaderValue::from_str(&entry_url).map_err(|e| ApiError::Internal(e.to_string()))?;
            response.headers_mut().insert(header::LOCATION, location);
            if let Ok(value) = HeaderValue::from_str(&resolved.settings.cache_control) {
                response.headers_mut().insert(header::CACHE_CONTROL, value);
            }
            Ok(response)
        }
        ReturnFormat::Content | ReturnFormat::Download => {
            let disposition = (format == ReturnFormat::Download).then(|| {
                delivery::attachment(
                    entry.metadata.alt.as_deref(),
                    entry.path.last_segment(),
                    ImageFormat::from_mime(&entry.original.content_type),
                )
            });
            let representation = Representation {
                etag: format!(
                    "\"{}\"",
                    &entry.original.sha256[..entry.original.sha256.len().min(32)]
                ),
                last_modified: entry.created_at.to_system_time(),
                content_type: entry.original.content_type.clone(),
                cache_control: resolved.settings.cache_control.clone(),
                length: entry.original.bytes,
                disposition,
            };
            if let Precondition::NotModified(response) = representation.check(headers) {
                return Ok(response);
            }
            if head {
                return Ok(representation.head());
            }
            let bytes = state.0.assets.read_original(&entry).await?;
            representation.send(headers, bytes)
        }
    }
}

fn not_found(path: &AssetPath, selection: &Selection) -> ApiError {
    let which = match selection.ordering {
        Ordering::Entry(n) => format!("no entry {n}"),
        _ => "no entries".to_owned(),
    };
    let labels = if selection.labels.is_empty() {
        ""
    } else {
        " carrying those labels"
    };
    ApiError::NotFound(format!("{path} has {which}{labels}"))
}

pub fn metadata_json(entry: &Entry) -> serde_json::Value {
    json!({
        "path": entry.path.to_string(),
        "entry": entry.entry,
        "alt": entry.metadata.alt,
        "labels": entry.metadata.labels,
        "tags": entry.metadata.tags,
        "created_at": entry.created_at.to_rfc3339(),
        "modified_at": entry.modified_at.to_rfc3339(),
        "original": {
            "content_type": entry.original.content_type,
            "width": entry.original.width,
            "height": entry.original.height,
            "bytes": entry.original.bytes,
            "sha256": entry.original.sha256,
        },
        "lqip": null,
        "variants": [],
    })
}

async fn create(
    state: &AppState,
    path: &AssetPath,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(state, headers, Scope::Write, path)?;
    reject_params(query)?;
    let resolved = state.0.rules.resolve(path);
    let limits = &state.0.config.limits;
    let upload = upload::read_upload(
        headers,
        body,
        resolved.max_upload_bytes,
        limits.max_json_bytes,
    )
    .await?;
    let (bytes, metadata) = match upload {
        Upload::Image { bytes, metadata } => (bytes, metadata),
        Upload::FromUrl(request) => {
            request
                .metadata
                .validate()
                .map_err(|m| ApiError::bad_request("invalid_metadata", m))?;
            return Err(ApiError::Forbidden {
                code: "url_not_allowed",
                message: format!(
                    "ingest from {:?} is refused: URL ingest is not enabled on this server; upload the bytes instead",
                    crate::address::truncate(&request.url, 200)
                ),
            });
        }
    };
    metadata
        .validate()
        .map_err(|m| ApiError::bad_request("invalid_metadata", m))?;
    let entry = state
        .0
        .assets
        .ingest(path, bytes, metadata, &resolved.settings)
        .await?;
    let location = format!("/assets/{}/-/entry/{}", entry.path.as_str(), entry.entry);
    let mut response = (StatusCode::CREATED, axum::Json(metadata_json(&entry))).into_response();
    let location =
        HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

async fn update(
    state: &AppState,
    address: Address,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(state, headers, Scope::Write, &address.path)?;
    reject_params(query)?;
    let Some(Ordering::Entry(number)) = address.selectors.ordering else {
        return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
    };
    let metadata: EntryMetadata =
        upload::read_json(headers, body, state.0.config.limits.max_json_bytes).await?;
    metadata
        .validate()
        .map_err(|m| ApiError::bad_request("invalid_metadata", m))?;
    let entry = state
        .0
        .assets
        .update_metadata(&address.path, number, &metadata)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{} has no entry {number}", address.path)))?;
    Ok(axum::Json(metadata_json(&entry)).into_response())
}

async fn delete(
    state: &AppState,
    address: Address,
    query: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    authorize(state, headers, Scope::Delete, &address.path)?;
    reject_params(query)?;
    let target = match address.selectors.ordering {
        _ if address.selectors.recursive => DeleteTarget::Tree,
        Some(Ordering::Entry(n)) => DeleteTarget::Entry(n),
        _ => DeleteTarget::Newest,
    };
    let deleted = state.0.assets.delete(&address.path, target).await?;
    if deleted.is_empty() {
        return Err(ApiError::NotFound(format!(
            "nothing to delete at {}",
            address.path
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
