//! `GET /api/explain?url=` (SPEC §8): what a Kiln URL means, read the way a
//! request for it would be — its path rules, its signature, the entry it
//! selects, its canonical transformation and whether that variant is made —
//! without making anything. A URL Kiln would refuse is explained with the
//! error it would answer, so this answers 200 for any URL under `/assets/`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::assets::parse_fetch_query;
use super::error::ApiError;
use super::management::authorize_admin;
use crate::address::{Address, Ordering};
use crate::auth::signing::{SignatureError, unix_now};
use crate::catalog::Selection;
use crate::config::Signing;

pub async fn explain(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let mut url = None;
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "url" if url.is_none() => url = Some(value.into_owned()),
            "url" => return Err(ApiError::invalid_param("url", "is given twice")),
            other => return Err(ApiError::invalid_param(other, "unknown parameter; explain takes `url`")),
        }
    }
    authorize_admin(&state, &headers, None)?;
    let url = url.ok_or_else(|| ApiError::invalid_param("url", "is required: a Kiln URL under /assets/"))?;
    // The URL explained is bounded by the request's own (`uri_too_long`).
    let (path, query) = split_url(&url)?;
    let raw = path.strip_prefix("/assets/").unwrap_or_default();
    let address = Address::parse(raw).map_err(|e| ApiError::invalid_param("url", e))?;
    Ok(axum::Json(explained(&state, path, query, &address).await).into_response())
}

/// The path (from `/assets/`) and query of `url`, which may be absolute
/// (`https://img.example.com/assets/…`) or start at the path.
fn split_url(url: &str) -> Result<(&str, &str), ApiError> {
    let without_fragment = url.split('#').next().unwrap_or_default();
    let from_path = match without_fragment.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            rest.find('/').map_or("", |at| &rest[at..])
        }
        Some(_) => return Err(ApiError::invalid_param("url", "is not an http(s) URL")),
        None => without_fragment,
    };
    let (path, query) = from_path.split_once('?').unwrap_or((from_path, ""));
    if !path.starts_with("/assets/") {
        return Err(ApiError::invalid_param(
            "url",
            "is not a Kiln asset URL: its path starts with /assets/",
        ));
    }
    Ok((path, query))
}

async fn explained(state: &AppState, path: &str, query: &str, address: &Address) -> Value {
    let resolved = state.0.rules.resolve(&address.path);
    let rules = json!({
        "patterns": resolved.patterns,
        "settings": resolved.settings,
        "max_upload_bytes": resolved.max_upload_bytes,
    });
    let mut answer = json!({
        "path": address.path.to_string(),
        "rules": rules,
    });
    let fetch = match parse_fetch_query(state, query) {
        Ok(fetch) => fetch,
        Err(error) => {
            answer["error"] = error_json(&error);
            return answer;
        }
    };
    let transforming = !fetch.pairs.is_empty();
    answer["signature"] = signature_json(state, resolved.settings.signing, transforming, path, query);
    answer["sign_url"] = sign_url_line(resolved.settings.signing, path, query);
    let selection = Selection {
        ordering: address.selectors.ordering.unwrap_or(Ordering::New),
        labels: fetch.labels.clone(),
    };
    let entry = match state.0.assets.find(&address.path, &selection).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            answer["entry"] = Value::Null;
            answer["error"] =
                json!({"error": "not_found", "message": "no entry at this path matches the URL's selectors"});
            return answer;
        }
        Err(error) => {
            answer["error"] = error_json(&error.into());
            return answer;
        }
    };
    answer["entry"] = crate::views::entry_summary_json(&entry);
    let plan = match state.0.assets.plan(&entry, &fetch.params, &resolved.settings, None) {
        Ok(plan) => plan,
        Err(error) => {
            answer["error"] = error_json(&error.into());
            return answer;
        }
    };
    let key = plan.key(entry.original.has_alpha);
    let cached = match plan.identity {
        true => Ok(true),
        false => state.0.assets.existing(&entry, &plan).await.map(|made| made.is_some()),
    };
    answer["variant"] = json!({
        "transformation": key,
        "original": plan.identity,
        "width": plan.width,
        "height": plan.height,
        "format": plan.output.format.name(),
        "negotiated": plan.negotiated,
        "cached": cached.ok(),
    });
    answer
}

fn error_json(error: &ApiError) -> Value {
    let (code, message) = error.code_and_message();
    json!({"error": code, "message": message})
}

/// Whether the URL needs a signature, carries one, and whether it holds.
fn signature_json(state: &AppState, signing: Signing, transforming: bool, path: &str, query: &str) -> Value {
    let signed = form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "s");
    let required = signing.requires(transforming);
    let checked = (signed || required).then(|| state.0.signer.verify(path, query, unix_now()));
    let (valid, expires, problem, message) = match &checked {
        None => (None, None, None, None),
        Some(Ok(expires)) => (Some(true), *expires, None, None),
        Some(Err(error)) => {
            let (expires, problem) = match error {
                SignatureError::Expired(at) => (Some(*at), "expired"),
                SignatureError::Missing => (None, "missing"),
                _ => (None, "invalid"),
            };
            (Some(false), expires, Some(problem), Some(error.to_string()))
        }
    };
    json!({
        "required": required,
        "signed": signed,
        "valid": valid,
        "expires": expires,
        "problem": problem,
        "message": message,
    })
}

/// The `kiln sign-url` line that makes this URL (without its `s`; with
/// `--ttl` for an `exp` still ahead), where the path signs its URLs.
fn sign_url_line(signing: Signing, path: &str, query: &str) -> Value {
    if signing == Signing::None {
        return Value::Null;
    }
    let mut exp = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            if key == "exp" {
                exp = pair.split_once('=').and_then(|(_, v)| v.parse::<u64>().ok());
            }
            key != "s" && key != "exp"
        })
        .collect();
    let target = match kept.is_empty() {
        true => path.to_owned(),
        false => format!("{path}?{}", kept.join("&")),
    };
    let ttl = exp
        .map(|at| at.saturating_sub(unix_now()))
        .filter(|ttl| *ttl > 0)
        .map(|ttl| format!(" --ttl {ttl}"))
        .unwrap_or_default();
    json!(format!("kiln sign-url '{}'{ttl}", target.replace('\'', "%27")))
}
