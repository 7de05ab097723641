//! `GET /api/explain?url=` (SPEC §8): what a Kiln URL means, read the way a
//! request for it would be — its path rules, its signature, the entry it
//! selects, its canonical transformation and whether that variant is made —
//! without making anything. A URL Kiln would refuse is explained with the
//! error it would answer, so this answers 200 for any URL under `/assets/`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::assets::parse_fetch_query;
use super::error::ApiError;
use crate::address::{Address, Ordering};
use crate::auth::signing::{SignatureError, unix_now};
use crate::catalog::Selection;
use crate::config::{PathSettings, Signing};
use crate::views::EntrySummary;

/// What a URL means. Only `path` and `rules` are always there: the rest
/// stops where Kiln would stop, with `error` saying what it would answer.
#[derive(Serialize, ToSchema)]
pub struct Explanation {
    pub path: String,
    pub rules: Rules,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureCheck>,
    /// The `kiln sign-url` command that makes this URL, where the path signs URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_url: Option<Option<String>>,
    /// The entry the URL selects; null when none does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<Option<EntrySummary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantExplained>,
    /// The error Kiln would answer for this URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Refusal>,
}

/// The path rules that apply, merged.
#[derive(Serialize, ToSchema)]
pub struct Rules {
    /// The `[[paths]]` patterns that matched, in the order they apply.
    pub patterns: Vec<String>,
    /// The merged settings, as `[[paths]]` keys.
    #[schema(value_type = Object)]
    pub settings: PathSettings,
    pub max_upload_bytes: u64,
}

/// Whether the URL needs a signature, carries one, and whether it holds.
#[derive(Serialize, ToSchema)]
pub struct SignatureCheck {
    pub required: bool,
    pub signed: bool,
    /// Null when there was nothing to check.
    pub valid: Option<bool>,
    /// The signed `exp`, unix seconds.
    pub expires: Option<u64>,
    /// `missing`, `invalid` or `expired`.
    pub problem: Option<&'static str>,
    pub message: Option<String>,
}

/// The variant the URL names.
#[derive(Serialize, ToSchema)]
pub struct VariantExplained {
    /// The canonical transformation: the variant's key.
    pub transformation: String,
    /// True when the URL is served the original's bytes.
    pub original: bool,
    pub width: u32,
    pub height: u32,
    pub format: &'static str,
    /// True when `format=auto` chose the format (here without an `Accept`).
    pub negotiated: bool,
    /// Whether the variant is made; null when the store could not say.
    pub cached: Option<bool>,
}

/// An error as Kiln would answer it.
#[derive(Serialize, ToSchema)]
pub struct Refusal {
    pub error: &'static str,
    pub message: String,
}

pub async fn explain(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let key = state.presented_key(&headers)?;
    let mut url = None;
    for (name, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "url" if url.is_none() => url = Some(value.into_owned()),
            "url" => return Err(ApiError::invalid_param("url", "is given twice")),
            other => return Err(ApiError::invalid_param(other, "unknown parameter; explain takes `url`")),
        }
    }
    key.authorize_admin_over(None)?;
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
    let (origin, from_path) = crate::address::split_origin(without_fragment);
    if let Some((scheme, _)) = origin.split_once("://")
        && !scheme.eq_ignore_ascii_case("http")
        && !scheme.eq_ignore_ascii_case("https")
    {
        return Err(ApiError::invalid_param("url", "is not an http(s) URL"));
    }
    let (path, query) = from_path.split_once('?').unwrap_or((from_path, ""));
    if !path.starts_with("/assets/") {
        return Err(ApiError::invalid_param(
            "url",
            "is not a Kiln asset URL: its path starts with /assets/",
        ));
    }
    Ok((path, query))
}

async fn explained(state: &AppState, path: &str, query: &str, address: &Address) -> Explanation {
    let resolved = state.0.rules.resolve(&address.path);
    let signing = resolved.settings.signing;
    let mut answer = Explanation {
        path: address.path.to_string(),
        rules: Rules {
            patterns: resolved.patterns.clone(),
            settings: resolved.settings.clone(),
            max_upload_bytes: resolved.max_upload_bytes,
        },
        signature: None,
        sign_url: None,
        entry: None,
        variant: None,
        error: None,
    };
    let fetch = match parse_fetch_query(state, query) {
        Ok(fetch) => fetch,
        Err(error) => {
            answer.error = Some(refusal(&error));
            return answer;
        }
    };
    let transforming = !fetch.pairs.is_empty();
    answer.signature = Some(signature_check(state, signing, transforming, path, query));
    answer.sign_url = Some(sign_url_line(signing, path, query));
    let selection = Selection {
        ordering: address.selectors.ordering.unwrap_or(Ordering::New),
        labels: fetch.labels.clone(),
    };
    let entry = match state.0.assets.find(&address.path, &selection).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            answer.entry = Some(None);
            answer.error = Some(Refusal {
                error: "not_found",
                message: "no entry at this path matches the URL's selectors".into(),
            });
            return answer;
        }
        Err(error) => {
            answer.error = Some(refusal(&error.into()));
            return answer;
        }
    };
    answer.entry = Some(Some(EntrySummary::of(&entry)));
    let plan = match state.0.assets.plan(&entry, &fetch.params, &answer.rules.settings, None) {
        Ok(plan) => plan,
        Err(error) => {
            answer.error = Some(refusal(&error.into()));
            return answer;
        }
    };
    let key = plan.key(entry.original.has_alpha);
    let cached = match plan.identity {
        true => Ok(true),
        false => state.0.assets.existing(&entry, &plan).await.map(|made| made.is_some()),
    };
    answer.variant = Some(VariantExplained {
        transformation: key,
        original: plan.identity,
        width: plan.width,
        height: plan.height,
        format: plan.output.format.name(),
        negotiated: plan.negotiated,
        cached: cached.ok(),
    });
    answer
}

fn refusal(error: &ApiError) -> Refusal {
    let (error, message) = error.code_and_message();
    Refusal { error, message }
}

fn signature_check(state: &AppState, signing: Signing, transforming: bool, path: &str, query: &str) -> SignatureCheck {
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
    SignatureCheck {
        required,
        signed,
        valid,
        expires,
        problem,
        message,
    }
}

/// The `kiln sign-url` line that makes this URL (without its `s`; with
/// `--ttl` for an `exp` still ahead), where the path signs its URLs.
fn sign_url_line(signing: Signing, path: &str, query: &str) -> Option<String> {
    if signing == Signing::None {
        return None;
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
    Some(format!("kiln sign-url '{}'{ttl}", target.replace('\'', "%27")))
}
