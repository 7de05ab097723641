//! The changes the catalog records that webhooks may announce, and the
//! messages announcing one: written by the catalog in the change's own
//! transaction (see `outbox.rs`).

use super::{Entry, Variant};
use crate::address::AssetPath;

/// A change that webhooks may announce (SPEC §8's events).
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    AssetCreated(&'a Entry),
    AssetUpdated(&'a Entry),
    AssetDeleted(&'a Entry),
    VariantCreated {
        path: &'a AssetPath,
        entry: u64,
        variant: &'a Variant,
    },
    VariantFailed {
        path: &'a AssetPath,
        entry: u64,
        key: &'a str,
        /// Kiln's error code for why.
        error: &'a str,
    },
}

impl Change<'_> {
    /// The event's type, as webhooks name it.
    pub fn event(&self) -> &'static str {
        match self {
            Self::AssetCreated(_) => "asset.created",
            Self::AssetUpdated(_) => "asset.updated",
            Self::AssetDeleted(_) => "asset.deleted",
            Self::VariantCreated { .. } => "variant.created",
            Self::VariantFailed { .. } => "variant.failed",
        }
    }

    pub fn path(&self) -> &AssetPath {
        match self {
            Self::AssetCreated(entry) | Self::AssetUpdated(entry) | Self::AssetDeleted(entry) => &entry.path,
            Self::VariantCreated { path, .. } | Self::VariantFailed { path, .. } => path,
        }
    }
}

/// One message to one endpoint, to write with the change it announces.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub endpoint: String,
    /// Stable across every attempt (the `webhook-id`).
    pub message_id: String,
    pub event: &'static str,
    pub body: String,
}

/// Which messages a change sends.
pub trait Announce: Send + Sync {
    fn messages(&self, change: &Change<'_>) -> Vec<NewMessage>;
}
