//! The JSON an asset path answers: an entry's metadata and the URLs minted
//! for its variants.

use std::borrow::Cow;

use axum::http::HeaderMap;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::catalog::Entry;
use crate::config::Signing;
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

/// An entry's metadata, the JSON the API and webhooks share.
pub use crate::views::entry_json as metadata_json;
