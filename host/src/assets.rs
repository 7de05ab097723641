//! Operations on entries — ingest an upload, find, read, update, delete —
//! composed from the probe, the catalog and the object store.
//!
//! This is what the HTTP layer (and later the CLI and the job runner) calls;
//! it knows nothing of HTTP. Ordering between catalog and store is chosen so
//! that a failure halfway leaves at worst an orphaned object, never a catalog
//! row whose bytes are missing.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::address::AssetPath;
use crate::catalog::{Catalog, CatalogError, Entry, EntryMetadata, Original, Selection, Timestamp};
use crate::config::PathSettings;
use crate::probe::{self, ImageFormat, ProbeError};
use crate::store::{ObjectKey, ObjectStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The upload is not an acceptable image; nothing was stored.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The upload is a valid image of a type the path does not accept.
    #[error("{} uploads are not allowed at this path; allowed: {}", .format.mime(), .allowed.join(", "))]
    TypeNotAllowed {
        format: ImageFormat,
        allowed: Vec<String>,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a DELETE removes.
#[derive(Debug, Clone, Copy)]
pub enum DeleteTarget {
    Newest,
    Entry(u64),
    Tree,
}

#[derive(Clone)]
pub struct Assets {
    catalog: Arc<dyn Catalog>,
    store: Arc<dyn ObjectStore>,
}

impl Assets {
    pub fn new(catalog: Arc<dyn Catalog>, store: Arc<dyn ObjectStore>) -> Self {
        Self { catalog, store }
    }

    /// Checks an upload and, if it is acceptable, stores it as the next entry at `path`.
    pub async fn ingest(
        &self,
        path: &AssetPath,
        bytes: Bytes,
        metadata: EntryMetadata,
        settings: &PathSettings,
    ) -> Result<Entry, AssetError> {
        let info = probe::probe(&bytes)?;
        if !settings.allows(info.format) {
            return Err(AssetError::TypeNotAllowed {
                format: info.format,
                allowed: settings.allowed_content_types.clone(),
            });
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let number = self.catalog.allocate_entry(path).await?;
        let object_key = ObjectKey::original(path, number);
        let now = Timestamp::now();
        let entry = Entry {
            path: path.clone(),
            entry: number,
            metadata,
            original: Original {
                content_type: info.format.mime().to_owned(),
                width: info.width,
                height: info.height,
                bytes: bytes.len() as u64,
                sha256,
                object_key: object_key.clone(),
            },
            created_at: now,
            modified_at: now,
        };
        self.store.put(&object_key, bytes).await?;
        if let Err(error) = self.catalog.insert_entry(&entry).await {
            self.discard(&object_key).await;
            return Err(error.into());
        }
        tracing::info!(path = %path, entry = number, content_type = %entry.original.content_type, "entry stored");
        Ok(entry)
    }

    pub async fn find(
        &self,
        path: &AssetPath,
        selection: &Selection,
    ) -> Result<Option<Entry>, AssetError> {
        Ok(self.catalog.find_entry(path, selection).await?)
    }

    pub async fn read_original(&self, entry: &Entry) -> Result<Bytes, AssetError> {
        Ok(self.store.get(&entry.original.object_key).await?)
    }

    pub async fn update_metadata(
        &self,
        path: &AssetPath,
        entry: u64,
        metadata: &EntryMetadata,
    ) -> Result<Option<Entry>, AssetError> {
        Ok(self
            .catalog
            .update_metadata(path, entry, metadata, Timestamp::now())
            .await?)
    }

    /// Deletes entries and then their objects; returns what was deleted.
    pub async fn delete(
        &self,
        path: &AssetPath,
        target: DeleteTarget,
    ) -> Result<Vec<Entry>, AssetError> {
        let deleted = match target {
            DeleteTarget::Tree => self.catalog.delete_tree(path).await?,
            DeleteTarget::Entry(n) => self
                .catalog
                .delete_entry(path, n)
                .await?
                .into_iter()
                .collect(),
            DeleteTarget::Newest => {
                let newest = Selection {
                    ordering: crate::address::Ordering::New,
                    labels: Vec::new(),
                };
                match self.catalog.find_entry(path, &newest).await? {
                    Some(entry) => self
                        .catalog
                        .delete_entry(path, entry.entry)
                        .await?
                        .into_iter()
                        .collect(),
                    None => Vec::new(),
                }
            }
        };
        for entry in &deleted {
            self.discard(&entry.original.object_key).await;
        }
        Ok(deleted)
    }

    /// Removes an object whose catalog row is gone or was never written. A
    /// failure only leaks storage, so it is logged rather than returned.
    async fn discard(&self, key: &ObjectKey) {
        if let Err(error) = self.store.delete(key).await {
            tracing::warn!(%key, %error, "could not delete object; it is orphaned");
        }
    }

    pub async fn ready(&self) -> Result<(), AssetError> {
        self.catalog.ping().await?;
        self.store.ping().await?;
        Ok(())
    }
}
