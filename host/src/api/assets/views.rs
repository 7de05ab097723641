//! The JSON an asset path answers: an entry's metadata and the URLs minted
//! for its variants.

use std::borrow::Cow;

use axum::http::HeaderMap;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::catalog::Entry;
use crate::config::Signing;
use crate::probe::Lqip;
use crate::transform::Plan;

/// How a minted URL is signed: as the path's `signing` asks, and expiring
/// no later than the request that asked for it.
#[derive(Clone, Copy)]
pub struct MintedUrl {
    pub signing: Signing,
    pub expires: Option<u64>,
}

/// The absolute, stable URL of this entry and variant: the entry pinned,
/// parameters sorted, a negotiated format written out, and signed where the
/// path's `signing` will ask for a signature.
pub fn variant_url(
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

/// `link`: where a variant lives and what it is.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Link {
    /// Absolute and stable: this entry and variant, signed where the path signs.
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
    pub alt: Option<String>,
    pub lqip: Option<Lqip>,
}

/// A variant made (or queued) by `POST …/-/entry/{n}/variants`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MadeVariant {
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
}

/// `POST …/-/entry/{n}/variants`: a link per variant asked for, in order.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MadeVariants {
    pub variants: Vec<MadeVariant>,
    /// True when `?async=true` queued them as jobs instead.
    pub queued: bool,
}
