//! Who may do what at a path: API keys, signed upload URLs, and the bounds
//! every write shares.

use std::time::Duration;

use axum::http::HeaderMap;

use crate::address::AssetPath;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::auth::Scope;
use crate::auth::signing::{SignatureError, unix_now};

pub fn authorize(state: &AppState, headers: &HeaderMap, scope: Scope, path: &AssetPath) -> Result<(), ApiError> {
    state.presented_key(headers)?.authorize(scope, path)?;
    Ok(())
}

/// A POST is allowed by an API key with the `write` scope, or by a signed
/// upload URL (`prefix`, `exp`, `s`) for a prefix that holds the path.
pub fn authorize_upload(state: &AppState, headers: &HeaderMap, path: &AssetPath, query: &str) -> Result<(), ApiError> {
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

/// Bounds the reading of a request body by `limits.body-timeout-ms`.
pub async fn within_body_timeout<T>(
    state: &AppState,
    reading: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let limit_ms = state.0.config.limits.body_timeout_ms;
    tokio::time::timeout(Duration::from_millis(limit_ms), reading)
        .await
        .map_err(|_| ApiError::RequestTimeout(format!("the request body did not arrive within {limit_ms} ms")))?
}

/// Writes take no query parameters (signed uploads aside).
pub fn reject_params(query: &str) -> Result<(), ApiError> {
    match form_urlencoded::parse(query.as_bytes()).next() {
        Some((key, _)) => Err(ApiError::invalid_param(&key, "this request takes no query parameters")),
        None => Ok(()),
    }
}
