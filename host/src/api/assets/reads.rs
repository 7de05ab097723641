//! GET and HEAD: an entry's bytes, a variant made or found, metadata and
//! links, under the path's signing and on-demand rules.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::address::{Address, AssetPath, Ordering, ReturnFormat};
use crate::api::AppState;
use crate::api::delivery::{self, Precondition, Representation};
use crate::api::error::ApiError;
use crate::assets::{Rendition, StoreLink};
use crate::auth::Scope;
use crate::auth::signing::unix_now;
use crate::catalog::{Entry, Selection};
use crate::config::{OnDemand, PathSettings, RedirectStrategy, Signing};
use crate::probe::ImageFormat;
use crate::transform::{Params, Plan, Timings};
use crate::views::EntryView;

use super::access::authorize;
use super::views::{Link, MintedUrl, variant_url};

/// Checks the signature a read needs under the path's `signing` mode; an
/// API key with the `read` scope for the path may stand in for it, so back
/// ends can read without signing. Answers until when the request is valid:
/// the signed `exp`, which every URL minted for it inherits.
pub fn check_signature(
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

/// A fetch's query, split into label filters and transformation parameters.
pub struct FetchQuery<'a> {
    pub labels: Vec<(String, String)>,
    /// Transformation parameters as sent (decoded), for stable links;
    /// borrowed from the URL unless they had to be decoded.
    pub pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub params: Params,
}

/// SPEC §2: more label filters than this is `400 invalid_param`.
pub const MAX_LABEL_FILTERS: usize = 16;

pub fn parse_fetch_query<'a>(state: &AppState, query: &'a str) -> Result<FetchQuery<'a>, ApiError> {
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
            // The signature and its expiry belong to the URL, not to the
            // transformation; a malformed expiry is refused even where no
            // signature is needed, as any other malformed parameter is.
            None if key == "exp" && value.parse::<u64>().is_err() => {
                return Err(ApiError::invalid_param("exp", "must be a Unix time in seconds"));
            }
            None if key == "s" || key == "exp" => {}
            None => pairs.push((key, value)),
        }
    }
    let explicit = Params::parse(
        pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
        state.0.config.limits.params(),
    )?;
    let params = state
        .0
        .profiles
        .apply(explicit)
        .map_err(|why| ApiError::invalid_param("profile", why))?;
    Ok(FetchQuery { labels, pairs, params })
}

/// Enforces the path's `on-demand` mode before anything is made.
pub async fn check_on_demand(
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
pub fn served_content_type<'a>(entry: &'a Entry, plan: &Plan) -> &'a str {
    if plan.identity {
        entry.original.content_type.as_str()
    } else {
        plan.output.format.mime()
    }
}

/// The path's `max-output-pixels`, for anything but the original itself.
pub fn check_output_pixels(settings: &PathSettings, plan: &Plan) -> Result<(), ApiError> {
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
pub struct FetchRequest<'a> {
    /// The path as sent, still percent-encoded: what a signature covers.
    pub raw_path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub head: bool,
}

pub async fn fetch(state: &AppState, address: Address, request: FetchRequest<'_>) -> Result<Response, ApiError> {
    let mut query = parse_fetch_query(state, request.query)?;
    let resolved = state.0.rules.resolve(&address.path);
    let expires = check_signature(state, resolved.settings.signing, &request, &query, &address.path)?;
    let FetchRequest { headers, head, .. } = request;
    let selection = Selection {
        ordering: address.selectors.ordering.unwrap_or(Ordering::New),
        labels: std::mem::take(&mut query.labels),
    };
    let looking_up = std::time::Instant::now();
    let tally = &state.0.assets.transformer().metrics().tally;
    let Some(entry) = state.0.assets.find(&address.path, &selection).await? else {
        tally.missing(address.path.as_str());
        return Err(not_found(&address.path, &selection));
    };
    let looked_up = looking_up.elapsed();
    let format = address.selectors.format.unwrap_or(resolved.settings.return_format);
    if format == ReturnFormat::Metadata {
        let variants = state.0.assets.variants(&entry).await?;
        return Ok(axum::Json(EntryView::of(&entry, &variants)).into_response());
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
        ReturnFormat::Metadata | ReturnFormat::Link => axum::Json(Link {
            url: url()?,
            width: plan.width,
            height: plan.height,
            content_type: content_type.to_owned(),
            alt: entry.metadata.alt.clone(),
            lqip: entry.lqip.clone(),
        })
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
    let sent = match head {
        true => None,
        false => response.headers().get(header::CONTENT_LENGTH),
    };
    let sent = sent.and_then(|length| length.to_str().ok()?.parse().ok());
    tally.served(entry.path.as_str(), entry.entry, sent.unwrap_or(0));
    Ok(response)
}

/// Sends the original or a variant with validators, ranges and cache status.
pub async fn deliver(
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
pub fn server_timing(timings: &Timings) -> String {
    let stages: Vec<String> = timings
        .0
        .iter()
        .map(|(stage, took)| format!("{stage};dur={:.1}", took.as_secs_f64() * 1000.0))
        .collect();
    stages.join(", ")
}

pub fn not_found(path: &AssetPath, selection: &Selection) -> ApiError {
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
