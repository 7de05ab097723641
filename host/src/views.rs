//! The JSON shapes of entries and variants: one contract for the HTTP API's
//! answers and the webhooks' event data.

use serde_json::json;

use crate::catalog::{Entry, Variant};
use crate::plugin::Plugin;

/// An entry as the API's `metadata` answers it and webhooks' `asset.*`
/// events send it, with its made `variants`.
pub fn entry_json(entry: &Entry, variants: &[Variant]) -> serde_json::Value {
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
        "variants": variants.iter().map(variant_json).collect::<Vec<_>>(),
    })
}

/// An entry's metadata without its variants: listings and webhooks, which
/// do not look them up.
pub fn entry_summary_json(entry: &Entry) -> serde_json::Value {
    let mut json = entry_json(entry, &[]);
    if let Some(object) = json.as_object_mut() {
        object.remove("variants");
    }
    json
}

/// A made variant: its canonical transformation and what it is.
pub fn variant_json(variant: &Variant) -> serde_json::Value {
    json!({
        "transformation": variant.key,
        "content_type": variant.content_type,
        "width": variant.width,
        "height": variant.height,
        "bytes": variant.bytes,
        "created_at": variant.created_at.to_rfc3339(),
    })
}

/// A plugin as `GET /plugins` and `GET /api/plugins` show it: its name in
/// the config, the API it was built against, and what it says of itself.
pub fn plugin_json(plugin: &Plugin) -> serde_json::Value {
    let description = plugin.description.as_ref();
    json!({
        "name": plugin.name,
        "api_version": plugin.api_version(),
        "kinds": plugin.kinds().iter().map(|kind| kind.name()).collect::<Vec<_>>(),
        "version": description.map(|d| &d.version),
        "summary": description.map(|d| &d.summary),
        "params": description.map_or(&[][..], |d| d.params.as_slice()),
    })
}
