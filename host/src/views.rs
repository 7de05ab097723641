//! The JSON shapes of entries, variants and plugins: one contract for the
//! HTTP API's answers, the webhooks' event data and the OpenAPI document,
//! which is derived from these types (`api/openapi.rs`).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::{Entry, Variant};
use crate::plugin::{Param, Plugin};
use crate::probe::Lqip;

/// An entry's metadata without its variants, as listings and webhooks'
/// `asset.*` events show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntrySummary {
    /// The asset path, without `/assets/`.
    #[schema(example = "users/123/avatar")]
    pub path: String,
    /// The entry's number at its path: 1, 2, 3 … never reused.
    #[schema(minimum = 1)]
    pub entry: u64,
    pub alt: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tags: Vec<String>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub modified_at: String,
    pub original: OriginalView,
    /// Placeholders computed at upload, where the path asks for them.
    pub lqip: Option<Lqip>,
}

/// The stored original of an entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct OriginalView {
    #[schema(example = "image/jpeg")]
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
}

/// An entry as `metadata` answers it: its summary and its made variants.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    #[serde(flatten)]
    pub summary: EntrySummary,
    pub variants: Vec<VariantView>,
}

/// A made variant: its canonical transformation and what it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantView {
    /// The canonical transformation, which is the variant's key.
    #[schema(example = "format=webp&w=300")]
    pub transformation: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A plugin as `GET /plugins` and `GET /api/plugins` show it: its name in
/// the config, the API it was built against, and what it says of itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginView {
    pub name: String,
    #[schema(example = "0.2.0")]
    pub api_version: &'static str,
    /// `transform`, `validator` or `preprocessor` (an API 0.1 component may be several).
    pub kinds: Vec<&'static str>,
    /// Null for a plugin built against API 0.1, which describes nothing.
    pub version: Option<String>,
    pub summary: Option<String>,
    /// The `{plugin}.{key}` parameters URLs may give it.
    pub params: Vec<Param>,
}

impl EntrySummary {
    pub fn of(entry: &Entry) -> Self {
        Self {
            path: entry.path.to_string(),
            entry: entry.entry,
            alt: entry.metadata.alt.clone(),
            labels: entry.metadata.labels.clone(),
            tags: entry.metadata.tags.clone(),
            created_at: entry.created_at.to_rfc3339(),
            modified_at: entry.modified_at.to_rfc3339(),
            original: OriginalView {
                content_type: entry.original.content_type.clone(),
                width: entry.original.width,
                height: entry.original.height,
                bytes: entry.original.bytes,
                sha256: entry.original.sha256.clone(),
            },
            lqip: entry.lqip.clone(),
        }
    }
}

impl EntryView {
    pub fn of(entry: &Entry, variants: &[Variant]) -> Self {
        Self {
            summary: EntrySummary::of(entry),
            variants: variants.iter().map(VariantView::of).collect(),
        }
    }
}

impl VariantView {
    pub fn of(variant: &Variant) -> Self {
        Self {
            transformation: variant.key.clone(),
            content_type: variant.content_type.clone(),
            width: variant.width,
            height: variant.height,
            bytes: variant.bytes,
            created_at: variant.created_at.to_rfc3339(),
        }
    }
}

impl PluginView {
    pub fn of(plugin: &Plugin) -> Self {
        let description = plugin.description.as_ref();
        Self {
            name: plugin.name.clone(),
            api_version: plugin.api_version(),
            kinds: plugin.kinds().iter().map(|kind| kind.name()).collect(),
            version: description.map(|d| d.version.clone()),
            summary: description.map(|d| d.summary.clone()),
            params: description.map(|d| d.params.clone()).unwrap_or_default(),
        }
    }
}
