//! POST, PUT and DELETE: uploads, metadata, batch variants and deletes.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::address::{Address, AssetPath, Ordering};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::upload::{self, Upload};
use crate::assets::DeleteTarget;
use crate::auth::Scope;
use crate::catalog::{EntryMetadata, Selection};
use crate::views::EntryView;

use super::access::{authorize, authorize_upload, reject_params, within_body_timeout};
use super::reads::{check_output_pixels, not_found, parse_fetch_query, served_content_type};
use super::views::{MadeVariant, MadeVariants, MintedUrl, variant_url};

pub async fn create(
    state: &AppState,
    path: &AssetPath,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize_upload(state, headers, path, query)?;
    let resolved = state.0.rules.resolve(path);
    let limits = &state.0.config.limits;
    let reading = upload::read_upload(headers, body, resolved.max_upload_bytes, limits.max_json_bytes);
    let upload = within_body_timeout(state, reading).await?;
    let (bytes, metadata) = match upload {
        Upload::Image { bytes, metadata } => (bytes, metadata),
        Upload::FromUrl { url, metadata } => {
            metadata
                .validate()
                .map_err(|m| ApiError::bad_request("invalid_metadata", m))?;
            let bytes = state.0.fetcher.fetch(&url, resolved.max_upload_bytes).await?;
            (bytes, metadata)
        }
    };
    metadata
        .validate()
        .map_err(|m| ApiError::bad_request("invalid_metadata", m))?;
    let eager = eager_profiles(state, query)?;
    let entry = state
        .0
        .assets
        .ingest(path, bytes, metadata, &resolved.settings, &eager)
        .await?;
    let location = format!("/assets/{}/-/entry/{}", entry.path.as_str(), entry.entry);
    let mut response = (StatusCode::CREATED, axum::Json(EntryView::of(&entry, &[]))).into_response();
    let location = HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// What a write to one entry (`PUT …/-/entry/{n}`, `POST …/-/entry/{n}/variants`)
/// starts with: a `write` key for the path, no query, the entry's number,
/// and its JSON body read within the limits.
/// Variants one `POST …/-/entry/{n}/variants` may ask for.
pub const MOST_VARIANTS: usize = 32;

/// `POST …/-/entry/{n}/variants`: the variants to make, each a query string.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantBatch {
    #[schema(example = json!(["w=300&format=webp", "profile=thumb"]), min_items = 1, max_items = 32)]
    pub variants: Vec<String>,
}

pub async fn entry_write<T: serde::de::DeserializeOwned>(
    state: &AppState,
    address: &Address,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(u64, T), ApiError> {
    authorize(state, headers, Scope::Write, &address.path)?;
    reject_params(query)?;
    let Some(Ordering::Entry(number)) = address.selectors.ordering else {
        return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
    };
    let reading = upload::read_json(headers, body, state.0.config.limits.max_json_bytes);
    Ok((number, within_body_timeout(state, reading).await?))
}

/// Profiles an upload's `?eager=a,b` queues for its entry, besides the path's
/// own `eager-variants`.
pub fn eager_profiles(state: &AppState, query: &str) -> Result<Vec<String>, ApiError> {
    const MOST: usize = 16;
    let mut names: Vec<String> = Vec::new();
    for (_, value) in form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k == "eager") {
        for name in value.split(',').filter(|n| !n.is_empty()) {
            if !state.0.profiles.contains(name) {
                return Err(ApiError::invalid_param(
                    "eager",
                    format!(
                        "there is no profile {:?}; see GET /profiles",
                        crate::address::truncate(name, 64)
                    ),
                ));
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
    }
    if names.len() > MOST {
        return Err(ApiError::invalid_param("eager", format!("at most {MOST} profiles")));
    }
    Ok(names)
}

/// `POST /assets/{path}/-/entry/{n}/variants` with `{"variants": [query, …]}`:
/// every variant planned first (so one bad query makes nothing), then made
/// one after another; answers their links in order.
pub async fn make_variants(
    state: &AppState,
    address: Address,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // `async=true` queues them for the job runner instead of making them now.
    let mut queue = false;
    let rest = {
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match (key.as_ref(), value.as_ref()) {
                ("async", "true") => queue = true,
                ("async", "false") => queue = false,
                ("async", _) => return Err(ApiError::invalid_param("async", "must be true or false")),
                _ => {
                    rest.append_pair(&key, &value);
                }
            }
        }
        rest.finish()
    };
    let (number, batch): (u64, VariantBatch) = entry_write(state, &address, &rest, headers, body).await?;
    if batch.variants.is_empty() || batch.variants.len() > MOST_VARIANTS {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!(
                "`variants` lists 1 to {MOST_VARIANTS} transformations, e.g. [\"w=300&format=webp\", \"profile=thumb\"]"
            ),
        ));
    }
    let selection = Selection {
        ordering: Ordering::Entry(number),
        labels: Vec::new(),
    };
    let entry = state
        .0
        .assets
        .find(&address.path, &selection)
        .await?
        .ok_or_else(|| not_found(&address.path, &selection))?;
    let resolved = state.0.rules.resolve(&address.path);
    let mut planned = Vec::with_capacity(batch.variants.len());
    for (i, variant) in batch.variants.iter().enumerate() {
        let in_list = |error: ApiError| match error {
            ApiError::BadRequest { code, message } => ApiError::BadRequest {
                code,
                message: format!("variants[{i}]: {message}"),
            },
            other => other,
        };
        let query = parse_fetch_query(state, variant).map_err(in_list)?;
        if !query.labels.is_empty() {
            return Err(in_list(ApiError::invalid_param(
                "label:",
                "a variant names no label filter",
            )));
        }
        let plan = state
            .0
            .assets
            .plan(&entry, &query.params, &resolved.settings, None)
            .map_err(|e| in_list(e.into()))?;
        check_output_pixels(&resolved.settings, &plan).map_err(in_list)?;
        planned.push((query.pairs, plan));
    }
    let minted = MintedUrl {
        signing: resolved.settings.signing,
        expires: None,
    };
    if queue {
        state.0.assets.queue_variants(&entry, &batch.variants).await?;
    }
    let mut links = Vec::with_capacity(planned.len());
    for (pairs, plan) in &planned {
        if !queue {
            state.0.assets.render(&entry, plan).await?;
        }
        links.push(MadeVariant {
            url: variant_url(state, headers, minted, &entry, pairs, plan)?,
            width: plan.width,
            height: plan.height,
            content_type: served_content_type(&entry, plan).to_owned(),
        });
    }
    let status = if queue { StatusCode::ACCEPTED } else { StatusCode::OK };
    let made = MadeVariants {
        variants: links,
        queued: queue,
    };
    Ok((status, axum::Json(made)).into_response())
}

pub async fn update(
    state: &AppState,
    address: Address,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (number, metadata): (u64, EntryMetadata) = entry_write(state, &address, query, headers, body).await?;
    metadata
        .validate()
        .map_err(|m| ApiError::bad_request("invalid_metadata", m))?;
    let entry = state
        .0
        .assets
        .update_metadata(&address.path, number, &metadata)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{} has no entry {number}", address.path)))?;
    let variants = state.0.assets.variants(&entry).await?;
    Ok(axum::Json(EntryView::of(&entry, &variants)).into_response())
}

pub async fn delete(
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
        return Err(ApiError::NotFound(format!("nothing to delete at {}", address.path)));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
