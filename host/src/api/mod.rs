//! The HTTP edge: routes, state, and the translation between HTTP and the
//! domain. Handlers parse and authorise, then call [`crate::assets`]; they
//! never touch SQL or files themselves.

mod assets;
mod console;
mod delivery;
mod error;
mod explain;
mod management;
mod openapi;
mod operations;
mod request_id;
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::assets::Assets;
use crate::auth::KeyRing;
use crate::auth::signing::Signer;
use crate::config::{Config, PathRules, Profiles};
use crate::metrics::{HttpLabels, RouteLabels};
use crate::plugin::Kind;
use crate::remote::Fetcher;

pub use error::ApiError;
pub use openapi::document_json as openapi_json;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    rules: Arc<PathRules>,
    profiles: Profiles,
    assets: Assets,
    keys: KeyRing,
    signer: Signer,
    fetcher: Fetcher,
    hosts: AllowedHosts,
    /// Where the server listens, for requests without a `Host`.
    listening: SocketAddr,
}

/// Who may do what, and what the server may fetch on a client's behalf.
pub struct Access {
    pub keys: KeyRing,
    pub signer: Signer,
    pub fetcher: Fetcher,
}

impl AppState {
    pub fn new(
        config: Config,
        rules: Arc<PathRules>,
        profiles: Profiles,
        assets: Assets,
        access: Access,
        listening: SocketAddr,
    ) -> Self {
        let Access { keys, signer, fetcher } = access;
        let hosts = AllowedHosts::new(&config.server.allowed_hosts, listening);
        Self(Arc::new(Inner {
            config,
            rules,
            profiles,
            assets,
            keys,
            signer,
            fetcher,
            hosts,
            listening,
        }))
    }

    /// The key the request presents, or `401`. Handlers check it before
    /// they read the query, so that a caller without a key learns nothing
    /// from the answers; its scopes are checked once the query says which
    /// paths the request touches.
    fn presented_key(&self, headers: &HeaderMap) -> Result<&crate::auth::ApiKey, ApiError> {
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        Ok(self.0.keys.authenticate(authorization)?)
    }

    /// Base of absolute URLs: `server.public-url`, else the request's Host
    /// when it is one of `server.allowed-hosts`. A Host is the client's to
    /// choose: trusted blindly, it would put an attacker's domain into
    /// links and cacheable redirects.
    fn base_url(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        if let Some(url) = &self.0.config.server.public_url {
            return Ok(url.clone());
        }
        let Some(host) = headers.get(header::HOST) else {
            return Ok(format!("http://{}", self.0.listening));
        };
        match host.to_str().ok().filter(|host| self.0.hosts.allows(host)) {
            Some(host) => Ok(format!("http://{host}")),
            None => Err(ApiError::bad_request(
                "invalid_host",
                "the Host header is not one this server builds URLs for; \
                 configure server.public-url or server.allowed-hosts",
            )),
        }
    }
}

/// `server.allowed-hosts`: lower-case names, each with a port or for any port.
struct AllowedHosts(Vec<(String, Option<u16>)>);

impl AllowedHosts {
    fn new(configured: &[String], listening: SocketAddr) -> Self {
        let defaults = [listening.to_string(), "localhost".to_owned()];
        let entries = if configured.is_empty() {
            &defaults[..]
        } else {
            configured
        };
        Self(
            entries
                .iter()
                .filter_map(|entry| crate::address::split_host(entry))
                .collect(),
        )
    }

    fn allows(&self, host: &str) -> bool {
        crate::address::split_host(host).is_some_and(|(name, port)| {
            self.0
                .iter()
                .any(|(allowed, allowed_port)| *allowed == name && allowed_port.is_none_or(|p| Some(p) == port))
        })
    }
}

/// Request headers accepted; more is `431` (hyper's own limit is set above
/// it, so that Kiln answers, in JSON).
pub const MAX_HEADERS: usize = 64;
/// Bytes of all request header names and values together.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Bytes of the request target (path and query).
const MAX_URI_BYTES: usize = 8 * 1024;

/// Refuses oversized request heads before any handler parses them, in
/// Kiln's JSON like every other error.
async fn request_limits(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let uri_bytes = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return error::error_response(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            &format!("the URL is {uri_bytes} bytes; at most {MAX_URI_BYTES} are accepted"),
        );
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return error::error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            &format!("at most {MAX_HEADERS} request headers of {MAX_HEADER_BYTES} bytes in all are accepted"),
        );
    }
    next.run(request).await
}

/// The outermost layer: the request's id (`request_id.rs`), and, unless
/// `metrics.enabled` is off, its count by route template, method and
/// status, with its time and the body bytes it announces. One layer for
/// both, since each layer costs every request. Labels come from fixed sets,
/// so counting allocates nothing.
async fn edge(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !state.0.config.metrics.enabled {
        return request_id::run(request, next).await;
    }
    let matched = request.extensions().get::<axum::extract::MatchedPath>();
    let (route_index, route) = matched
        .and_then(|path| ROUTES.iter().enumerate().find(|(_, route)| **route == path.as_str()))
        .map_or((ROUTES.len(), "unmatched"), |(index, route)| (index, *route));
    let (method_index, method) = match *request.method() {
        Method::GET => (0, "GET"),
        Method::HEAD => (1, "HEAD"),
        Method::POST => (2, "POST"),
        Method::PUT => (3, "PUT"),
        Method::DELETE => (4, "DELETE"),
        _ => (5, "other"),
    };
    let started = std::time::Instant::now();
    let response = request_id::run(request, next).await;
    let metrics = state.0.assets.transformer().metrics();
    let sent = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    metrics.bytes_served.inc_by(sent.unwrap_or(0));
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    metrics.observe_http_duration(route_index, method_index, &RouteLabels { route, method }, elapsed);
    metrics.count_http_request(route_index, method_index, &HttpLabels { route, method, status });
    response
}

/// `GET /metrics` on the main listener: a key with the `admin` scope.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    state.presented_key(&headers)?.authorize_admin()?;
    Ok(metrics_text(&state))
}

fn metrics_text(state: &AppState) -> Response {
    let transformer = state.0.assets.transformer();
    transformer.record_load();
    let text = transformer.metrics().render();
    let content_type = HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// A signed URL lives at most a year.
const MOST_TTL: u64 = 365 * 24 * 3600;

/// `POST /api/sign`: the URL to sign and how long it may live.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SignRequest {
    /// An asset URL or path, with its transformation parameters.
    #[schema(
        example = "/assets/users/123/avatar?w=300",
        pattern = r"^([^/?#]*://[^/]*)?/assets/[\s\S]*$"
    )]
    url: String,
    /// Seconds until it expires (`exp`); without it, it never does.
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 1, maximum = 31_536_000)]
    ttl: Option<u64>,
}

/// A whole number of seconds: JSON Schema counts `600.0` as an integer, and
/// so may the client's JSON library.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    use serde::de::Error;
    let Some(seconds) = Option::<f64>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = seconds.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&seconds);
    whole
        .then_some(Some(seconds as u64))
        .ok_or_else(|| D::Error::custom("`ttl` is a whole number of seconds"))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct SignedUrl {
    url: String,
}

/// `/health` and `/ready`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Status {
    #[schema(example = "ok")]
    status: &'static str,
}

/// `GET /plugins`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct PublicPlugins {
    plugins: Vec<crate::views::PluginView>,
}

/// `POST /api/sign` (`admin`): `{"url", "ttl"?}` → `{"url"}` signed with the
/// first signing key, so front ends never hold one.
async fn sign(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> Result<Response, ApiError> {
    state.presented_key(&headers)?.authorize_admin()?;
    let request: SignRequest = upload::read_json(&headers, body, state.0.config.limits.max_json_bytes).await?;
    if request.ttl.is_some_and(|ttl| ttl == 0 || ttl > MOST_TTL) {
        return Err(ApiError::invalid_param(
            "ttl",
            format!("must be 1 to {MOST_TTL} seconds"),
        ));
    }
    let signed = state
        .0
        .signer
        .sign_url(&request.url, request.ttl, crate::auth::signing::unix_now())
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    Ok(axum::Json(SignedUrl { url: signed }).into_response())
}

async fn only_post() -> ApiError {
    ApiError::MethodNotAllowed { allow: "POST" }
}

/// What `metrics.listen` serves: `/metrics` alone, without a key.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { metrics_text(&state) }),
        )
        .fallback(no_route)
        .with_state(state)
}

/// Every route template, as the request metrics name them (fewer than
/// `metrics::MOST_ROUTES`, which leaves one for `unmatched`).
const ROUTES: [&str; 23] = [
    "/health",
    "/metrics",
    "/ready",
    "/profiles",
    "/plugins",
    "/api/assets",
    "/api/assets/{*rest}",
    "/api/variants",
    "/api/sign",
    "/api/usage",
    "/api/usage/top",
    "/api/plugins",
    "/api/webhooks",
    "/api/webhooks/{name}/replay",
    "/api/explain",
    "/api/key",
    "/openapi.json",
    "/console",
    "/console/",
    "/console/{*file}",
    "/assets",
    "/assets/",
    "/assets/{*rest}",
];

const _: () = assert!(ROUTES.len() < crate::metrics::MOST_ROUTES);

pub fn router(state: AppState) -> Router {
    let [
        health_route,
        metrics_route,
        ready_route,
        profiles_route,
        public_plugins_route,
        list_route,
        entry_variants_route,
        variants_route,
        sign_route,
        usage_route,
        top_route,
        plugins_route,
        webhooks_route,
        replay_route,
        explain_route,
        key_route,
        openapi_route,
        console_bare,
        console_index,
        console_file,
        bare,
        bare_slash,
        assets_route,
    ] = ROUTES;
    Router::new()
        .route(health_route, get(health).fallback(only_get))
        .route(metrics_route, get(metrics).fallback(only_get))
        .route(list_route, get(management::list_assets).fallback(only_get))
        .route(entry_variants_route, any(management::entry_variants))
        .route(variants_route, delete(management::purge_under).fallback(only_delete))
        .route(sign_route, post(sign).fallback(only_post))
        .route(usage_route, get(operations::usage).fallback(only_get))
        .route(top_route, get(operations::top).fallback(only_get))
        .route(plugins_route, get(operations::plugins).fallback(only_get))
        .route(webhooks_route, get(operations::webhooks).fallback(only_get))
        .route(replay_route, any(operations::replay))
        .route(explain_route, get(explain::explain).fallback(only_get))
        .route(key_route, get(management::key).fallback(only_get))
        .route(openapi_route, get(openapi::serve).fallback(only_get))
        .route(console_bare, any(console::bare))
        .route(console_index, any(console::file))
        .route(console_file, any(console::file))
        .route(ready_route, get(ready).fallback(only_get))
        .route(profiles_route, get(profiles).fallback(only_get))
        .route(public_plugins_route, get(public_plugins).fallback(only_get))
        .route(bare, any(assets::without_path))
        .route(bare_slash, any(assets::without_path))
        .route(assets_route, any(assets::handle))
        .fallback(no_route)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a request handler panicked".into()).into_response()
        }))
        .layer(axum::middleware::from_fn(request_limits))
        .layer(TraceLayer::new_for_http().make_span_with(request_id::span))
        // Outside the trace layer, whose span names the id this sets.
        .layer(axum::middleware::from_fn_with_state(state.clone(), edge))
        // Browsers must take every body for what its Content-Type says,
        // never sniff an uploaded image into HTML.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}

async fn health() -> Response {
    axum::Json(Status { status: "ok" }).into_response()
}

/// How long `/ready` waits for the catalog and the store (SPEC §8: within 2 s).
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(1500);

async fn ready(State(state): State<AppState>) -> Response {
    let checked = tokio::time::timeout(READY_WITHIN, state.0.assets.ready()).await;
    match checked {
        Ok(Ok(())) => axum::Json(Status { status: "ready" }).into_response(),
        Ok(Err(error)) => not_ready(&error.to_string()),
        Err(_) => not_ready("the catalog or the store did not answer in time"),
    }
}

fn not_ready(why: &str) -> Response {
    tracing::warn!(error = why, "not ready");
    let mut response = error::error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "the catalog or the object store cannot be reached; see the server log",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// The configured profiles, as written in the config.
async fn profiles(State(state): State<AppState>) -> Response {
    axum::Json(&state.0.config.profiles).into_response()
}

/// `GET /plugins`: the transforms URLs may name, with the parameters they
/// declare, so that front ends can draw controls for them. A plugin built
/// against API 0.1 declares nothing (`summary` null, no `params`).
async fn public_plugins(State(state): State<AppState>) -> Response {
    let plugins: Vec<_> = state
        .0
        .assets
        .transformer()
        .plugins()
        .iter()
        .filter(|plugin| plugin.is(Kind::Transform))
        .map(|plugin| crate::views::PluginView::of(plugin))
        .collect();
    axum::Json(PublicPlugins { plugins }).into_response()
}

async fn only_delete() -> ApiError {
    ApiError::MethodNotAllowed { allow: "DELETE" }
}

async fn only_get() -> ApiError {
    ApiError::MethodNotAllowed { allow: "GET, HEAD" }
}

async fn no_route() -> ApiError {
    ApiError::NotFound("no such route; assets live under /assets/{path}".into())
}
