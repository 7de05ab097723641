//! The HTTP edge: routes, state, and the translation between HTTP and the
//! domain. Handlers parse and authorise, then call [`crate::assets`]; they
//! never touch SQL or files themselves.

mod assets;
mod delivery;
mod error;
mod upload;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::assets::Assets;
use crate::auth::KeyRing;
use crate::auth::signing::Signer;
use crate::config::{Config, PathRules, Profiles};
use crate::remote::Fetcher;

pub use error::ApiError;

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
}

/// Who may do what, and what the server may fetch on a client's behalf.
pub struct Access {
    pub keys: KeyRing,
    pub signer: Signer,
    pub fetcher: Fetcher,
}

impl AppState {
    pub fn new(config: Config, rules: Arc<PathRules>, profiles: Profiles, assets: Assets, access: Access) -> Self {
        let Access { keys, signer, fetcher } = access;
        Self(Arc::new(Inner {
            config,
            rules,
            profiles,
            assets,
            keys,
            signer,
            fetcher,
        }))
    }

    /// Base of absolute URLs: `server.public-url`, else the request's Host.
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.0.config.server.public_url {
            return url.clone();
        }
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
        match host {
            Some(host) => format!("http://{host}"),
            None => format!("http://{}", self.0.config.server.listen),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health).fallback(only_get))
        .route("/ready", get(ready).fallback(only_get))
        .route("/profiles", get(profiles).fallback(only_get))
        .route("/assets", any(assets::without_path))
        .route("/assets/", any(assets::without_path))
        .route("/assets/{*rest}", any(assets::handle))
        .fallback(no_route)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a request handler panicked".into()).into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn health() -> Response {
    axum::Json(serde_json::json!({ "status": "ok" })).into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.0.assets.ready().await {
        Ok(()) => axum::Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready");
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
    }
}

/// The configured profiles, as written in the config.
async fn profiles(State(state): State<AppState>) -> Response {
    axum::Json(&state.0.config.profiles).into_response()
}

async fn only_get() -> ApiError {
    ApiError::MethodNotAllowed { allow: "GET, HEAD" }
}

async fn no_route() -> ApiError {
    ApiError::NotFound("no such route; assets live under /assets/{path}".into())
}
