//! `/assets/{path}[/-/{selectors}]`: every method on asset paths (SPEC §2).
//!
//! One handler takes every method so that the path is parsed from the raw
//! request URI exactly once, and so that the methods a URL allows follow from
//! its selectors.

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::delivery::{self, Precondition, Representation};
use super::error::ApiError;
use super::upload::{self, Upload};
use crate::address::{Address, AssetPath, Ordering, ReturnFormat, Selectors};
use crate::assets::{DeleteTarget, Rendition, StoreLink};
use crate::auth::Scope;
use crate::auth::signing::{SignatureError, unix_now};
use crate::catalog::{Entry, EntryMetadata, Selection, Variant};
use crate::config::{OnDemand, PathSettings, RedirectStrategy, Signing};
use crate::probe::ImageFormat;
use crate::transform::{Params, Plan, Timings};

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

fn authorize(state: &AppState, headers: &HeaderMap, scope: Scope, path: &AssetPath) -> Result<(), ApiError> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let key = state.0.keys.authenticate(authorization)?;
    key.authorize(scope, path)?;
    Ok(())
}

/// A POST is allowed by an API key with the `write` scope, or by a signed
/// upload URL (`prefix`, `exp`, `s`) for a prefix that holds the path.
fn authorize_upload(state: &AppState, headers: &HeaderMap, path: &AssetPath, query: &str) -> Result<(), ApiError> {
    let signed = form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "s");
    if !signed {
        authorize(state, headers, Scope::Write, path)?;
        return match form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k != "eager") {
            Some((key, _)) => Err(ApiError::invalid_param(
                &key,
                "an upload takes no query parameter but eager",
            )),
            None => Ok(()),
        };
    }
    if !state.0.signer.is_configured() {
        return Err(SignatureError::Invalid.into());
    }
    if let Some((key, _)) =
        form_urlencoded::parse(query.as_bytes()).find(|(k, _)| !matches!(k.as_ref(), "prefix" | "exp" | "s" | "eager"))
    {
        return Err(ApiError::invalid_param(
            &key,
            "a signed upload URL takes only prefix, exp and s (and eager)",
        ));
    }
    Ok(state.0.signer.verify_upload(path, query, unix_now())?)
}

/// Checks the signature a read needs under the path's `signing` mode; an
/// API key with the `read` scope for the path may stand in for it, so back
/// ends can read without signing. Answers until when the request is valid:
/// the signed `exp`, which every URL minted for it inherits.
fn check_signature(
    state: &AppState,
    mode: Signing,
    request: &FetchRequest<'_>,
    query: &FetchQuery<'_>,
    path: &AssetPath,
) -> Result<Option<u64>, ApiError> {
    if !mode.requires(!query.pairs.is_empty()) {
        return Ok(None);
    }
    let signed = form_urlencoded::parse(request.query.as_bytes()).any(|(k, _)| k == "s");
    if !signed && request.headers.contains_key(header::AUTHORIZATION) {
        authorize(state, request.headers, Scope::Read, path)?;
        return Ok(None);
    }
    Ok(state.0.signer.verify(request.raw_path, request.query, unix_now())?)
}

/// Bounds the reading of a request body by `limits.body-timeout-ms`.
async fn within_body_timeout<T>(
    state: &AppState,
    reading: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let limit_ms = state.0.config.limits.body_timeout_ms;
    tokio::time::timeout(Duration::from_millis(limit_ms), reading)
        .await
        .map_err(|_| ApiError::RequestTimeout(format!("the request body did not arrive within {limit_ms} ms")))?
}

/// Writes take no query parameters (signed uploads aside).
fn reject_params(query: &str) -> Result<(), ApiError> {
    match form_urlencoded::parse(query.as_bytes()).next() {
        Some((key, _)) => Err(ApiError::invalid_param(&key, "this request takes no query parameters")),
        None => Ok(()),
    }
}

/// A fetch's query, split into label filters and transformation parameters.
struct FetchQuery<'a> {
    labels: Vec<(String, String)>,
    /// Transformation parameters as sent (decoded), for stable links;
    /// borrowed from the URL unless they had to be decoded.
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    params: Params,
}

/// SPEC §2: more label filters than this is `400 invalid_param`.
const MAX_LABEL_FILTERS: usize = 16;

fn parse_fetch_query<'a>(state: &AppState, query: &'a str) -> Result<FetchQuery<'a>, ApiError> {
    let mut labels = Vec::new();
    let mut pairs = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.strip_prefix("label:") {
            Some("") => {
                return Err(ApiError::invalid_param(
                    &key,
                    "a label filter needs a key: label:{key}={value}",
                ));
            }
            Some(_) if labels.len() == MAX_LABEL_FILTERS => {
                return Err(ApiError::invalid_param(
                    &key,
                    format!("at most {MAX_LABEL_FILTERS} label filters may be given"),
                ));
            }
            Some(label) => labels.push((label.to_owned(), value.into_owned())),
            // The signature and its expiry belong to the URL, not to the transformation.
            None if key == "s" || key == "exp" => {}
            None => pairs.push((key, value)),
        }
    }
    let explicit = Params::parse(
        pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
        state.0.config.limits.params(),
    )?;
    let params = match &explicit.profile {
        Some(name) => match state.0.profiles.get(name) {
            Some(profile) => profile.overlaid_with(&explicit),
            None => {
                return Err(ApiError::invalid_param(
                    "profile",
                    format!("there is no profile {name:?}; see GET /profiles"),
                ));
            }
        },
        None => explicit,
    };
    Ok(FetchQuery { labels, pairs, params })
}

/// Enforces the path's `on-demand` mode before anything is made.
async fn check_on_demand(
    state: &AppState,
    mode: OnDemand,
    query: &FetchQuery<'_>,
    entry: &Entry,
    plan: &Plan,
) -> Result<(), ApiError> {
    let refuse = |code: &'static str, message: &str| {
        Err(ApiError::Forbidden {
            code,
            message: message.into(),
        })
    };
    match mode {
        OnDemand::Enabled => Ok(()),
        OnDemand::ProfilesOnly if query.pairs.iter().all(|(k, _)| k == "profile") => Ok(()),
        OnDemand::ProfilesOnly => refuse(
            "on_demand_restricted",
            "this path serves only named profiles: use ?profile=NAME alone",
        ),
        OnDemand::Disabled if plan.identity => Ok(()),
        OnDemand::Disabled => match state.0.assets.existing(entry, plan).await? {
            Some(_) => Ok(()),
            None => refuse(
                "on_demand_disabled",
                "this path serves originals and eager variants only",
            ),
        },
    }
}

/// The content type of what `plan` serves of `entry`: the original's, or
/// the variant's output format.
fn served_content_type<'a>(entry: &'a Entry, plan: &Plan) -> &'a str {
    if plan.identity {
        entry.original.content_type.as_str()
    } else {
        plan.output.format.mime()
    }
}

/// The path's `max-output-pixels`, for anything but the original itself.
fn check_output_pixels(settings: &PathSettings, plan: &Plan) -> Result<(), ApiError> {
    match settings.max_output_pixels {
        Some(limit) if !plan.identity && u64::from(plan.width) * u64::from(plan.height) > limit => {
            Err(ApiError::invalid_param(
                "w",
                format!(
                    "the result would be {}x{}, more than the {limit} pixels this path allows",
                    plan.width, plan.height
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// What a GET or HEAD brings besides its address.
struct FetchRequest<'a> {
    /// The path as sent, still percent-encoded: what a signature covers.
    raw_path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    head: bool,
}

async fn fetch(state: &AppState, address: Address, request: FetchRequest<'_>) -> Result<Response, ApiError> {
    let mut query = parse_fetch_query(state, request.query)?;
    let resolved = state.0.rules.resolve(&address.path);
    let expires = check_signature(state, resolved.settings.signing, &request, &query, &address.path)?;
    let FetchRequest { headers, head, .. } = request;
    let selection = Selection {
        ordering: address.selectors.ordering.unwrap_or(Ordering::New),
        labels: std::mem::take(&mut query.labels),
    };
    let looking_up = std::time::Instant::now();
    let entry = state
        .0
        .assets
        .find(&address.path, &selection)
        .await?
        .ok_or_else(|| not_found(&address.path, &selection))?;
    let looked_up = looking_up.elapsed();
    let format = address.selectors.format.unwrap_or(resolved.settings.return_format);
    if format == ReturnFormat::Metadata {
        let variants = state.0.assets.variants(&entry).await?;
        return Ok(axum::Json(metadata_json(&entry, &variants)).into_response());
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let plan = state.0.assets.plan(&entry, &query.params, &resolved.settings, accept)?;
    check_output_pixels(&resolved.settings, &plan)?;
    check_on_demand(state, resolved.settings.on_demand, &query, &entry, &plan).await?;
    // Only links and entry redirects name the URL; content is sent without building it.
    let minted = MintedUrl {
        signing: resolved.settings.signing,
        expires,
    };
    let url = || variant_url(state, headers, minted, &entry, &query.pairs, &plan);
    let content_type = served_content_type(&entry, &plan);
    let mut response = match format {
        ReturnFormat::Metadata | ReturnFormat::Link => axum::Json(json!({
            "url": url()?,
            "width": plan.width,
            "height": plan.height,
            "content_type": content_type,
            "alt": entry.metadata.alt,
            "lqip": entry.lqip,
        }))
        .into_response(),
        ReturnFormat::Redirect => {
            let redirect = &resolved.settings.redirect;
            let assets = &state.0.assets;
            let (location, cache_control) = match redirect.strategy {
                RedirectStrategy::Entry => (url()?, resolved.settings.cache_control.clone()),
                RedirectStrategy::Template => {
                    let template = redirect.template.as_deref().unwrap_or_default();
                    let location = assets.store_link(&entry, &plan, StoreLink::Template(template)).await?;
                    (location, resolved.settings.cache_control.clone())
                }
                RedirectStrategy::Presigned => {
                    // Never longer than the signed request that asked for it.
                    let ttl_seconds = match expires {
                        Some(exp) => redirect.ttl_seconds.min(exp.saturating_sub(unix_now()).max(1)),
                        None => redirect.ttl_seconds,
                    };
                    let ttl = Duration::from_secs(ttl_seconds);
                    let location = assets.store_link(&entry, &plan, StoreLink::Presigned(ttl)).await?;
                    // A cached redirect must not outlive the URL it points to.
                    (location, format!("private, max-age={}", ttl_seconds / 2))
                }
            };
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            let location = HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?;
            response.headers_mut().insert(header::LOCATION, location);
            if let Ok(value) = HeaderValue::from_str(&cache_control) {
                response.headers_mut().insert(header::CACHE_CONTROL, value);
            }
            response
        }
        ReturnFormat::Content | ReturnFormat::Download => {
            let mut rendition = state.0.assets.render(&entry, &plan).await?;
            if let Rendition::Fresh(_, _, timings) = &mut rendition {
                timings.0.insert(0, ("catalog".into(), looked_up));
            }
            deliver(
                state,
                &entry,
                rendition,
                format,
                &resolved.settings.cache_control,
                headers,
                head,
            )
            .await?
        }
    };
    if plan.negotiated {
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
    }
    Ok(response)
}

/// Sends the original or a variant with validators, ranges and cache status.
async fn deliver(
    state: &AppState,
    entry: &Entry,
    rendition: Rendition,
    format: ReturnFormat,
    cache_control: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    let (content_type, sha256, created, length, object, bytes, cache) = match &rendition {
        Rendition::Original => {
            let o = &entry.original;
            (
                &o.content_type,
                &o.sha256,
                entry.created_at,
                o.bytes,
                &o.object_key,
                None,
                "hit",
            )
        }
        Rendition::Cached(v) => (
            &v.content_type,
            &v.sha256,
            v.created_at,
            v.bytes,
            &v.object_key,
            None,
            "hit",
        ),
        Rendition::Fresh(v, bytes, _) => (
            &v.content_type,
            &v.sha256,
            v.created_at,
            v.bytes,
            &v.object_key,
            Some(bytes.clone()),
            "miss",
        ),
    };
    let disposition = (format == ReturnFormat::Download).then(|| {
        delivery::attachment(
            entry.metadata.alt.as_deref(),
            entry.path.last_segment(),
            ImageFormat::from_mime(content_type),
        )
    });
    let representation = Representation {
        etag: delivery::etag(sha256),
        last_modified: created.to_system_time(),
        content_type,
        cache_control,
        length,
        disposition,
    };
    let mut response = match representation.check(headers) {
        Precondition::NotModified(response) => response,
        Precondition::Send if head => representation.head(),
        Precondition::Send => {
            let bytes = match bytes {
                Some(bytes) => bytes,
                None => state.0.assets.read(object, sha256).await?,
            };
            representation.send(headers, bytes)?
        }
    };
    response
        .headers_mut()
        .insert("kiln-cache", HeaderValue::from_static(cache));
    if let Rendition::Fresh(_, _, timings) = &rendition
        && let Ok(value) = HeaderValue::from_str(&server_timing(timings))
    {
        response.headers_mut().insert("server-timing", value);
    }
    Ok(response)
}

/// `Server-Timing` for a variant made for this request: each stage in
/// milliseconds, so a browser's dev tools show where the time went.
fn server_timing(timings: &Timings) -> String {
    let stages: Vec<String> = timings
        .0
        .iter()
        .map(|(stage, took)| format!("{stage};dur={:.1}", took.as_secs_f64() * 1000.0))
        .collect();
    stages.join(", ")
}

/// How a minted URL is signed: as the path's `signing` asks, and expiring
/// no later than the request that asked for it.
#[derive(Clone, Copy)]
struct MintedUrl {
    signing: Signing,
    expires: Option<u64>,
}

/// The absolute, stable URL of this entry and variant: the entry pinned,
/// parameters sorted, a negotiated format written out, and signed where the
/// path's `signing` will ask for a signature.
fn variant_url(
    state: &AppState,
    headers: &HeaderMap,
    minted: MintedUrl,
    entry: &Entry,
    pairs: &[(Cow<'_, str>, Cow<'_, str>)],
    plan: &Plan,
) -> Result<String, ApiError> {
    let base = state.base_url(headers)?;
    let mut pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if plan.negotiated {
        for (key, value) in &mut pairs {
            if key == "format" {
                *value = plan.output.format.name().to_owned();
            }
        }
    }
    let signed = minted.signing.requires(!pairs.is_empty());
    if let Some(exp) = minted.expires.filter(|_| signed) {
        pairs.push(("exp".to_owned(), exp.to_string()));
    }
    pairs.sort();
    let path = format!("/assets/{}/-/entry/{}/content", entry.path.as_str(), entry.entry);
    if signed && let Some(url) = state.0.signer.signed_url(&path, &pairs) {
        return Ok(format!("{base}{url}"));
    }
    let mut url = format!("{base}{path}");
    if !pairs.is_empty() {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        url.push('?');
        url.push_str(&query);
    }
    Ok(url)
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

pub fn metadata_json(entry: &Entry, variants: &[Variant]) -> serde_json::Value {
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
        "lqip": entry.lqip,
        "variants": variants.iter().map(|v| json!({
            "transformation": v.key,
            "content_type": v.content_type,
            "width": v.width,
            "height": v.height,
            "bytes": v.bytes,
            "created_at": v.created_at.to_rfc3339(),
        })).collect::<Vec<_>>(),
    })
}

async fn create(
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
        Upload::FromUrl(request) => {
            request
                .metadata
                .validate()
                .map_err(|m| ApiError::bad_request("invalid_metadata", m))?;
            let bytes = state.0.fetcher.fetch(&request.url, resolved.max_upload_bytes).await?;
            (bytes, request.metadata)
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
    let mut response = (StatusCode::CREATED, axum::Json(metadata_json(&entry, &[]))).into_response();
    let location = HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// What a write to one entry (`PUT …/-/entry/{n}`, `POST …/-/entry/{n}/variants`)
/// starts with: a `write` key for the path, no query, the entry's number,
/// and its JSON body read within the limits.
async fn entry_write<T: serde::de::DeserializeOwned>(
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
fn eager_profiles(state: &AppState, query: &str) -> Result<Vec<String>, ApiError> {
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
async fn make_variants(
    state: &AppState,
    address: Address,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    /// Variants one request may ask for.
    const MOST: usize = 32;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        variants: Vec<String>,
    }
    let (number, batch): (u64, Batch) = entry_write(state, &address, query, headers, body).await?;
    if batch.variants.is_empty() || batch.variants.len() > MOST {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("`variants` lists 1 to {MOST} transformations, e.g. [\"w=300&format=webp\", \"profile=thumb\"]"),
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
    let mut links = Vec::with_capacity(planned.len());
    for (pairs, plan) in &planned {
        state.0.assets.render(&entry, plan).await?;
        links.push(json!({
            "url": variant_url(state, headers, minted, &entry, pairs, plan)?,
            "width": plan.width,
            "height": plan.height,
            "content_type": served_content_type(&entry, plan),
        }));
    }
    Ok(axum::Json(json!({ "variants": links })).into_response())
}

async fn update(
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
    Ok(axum::Json(metadata_json(&entry, &variants)).into_response())
}

async fn delete(state: &AppState, address: Address, query: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
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
