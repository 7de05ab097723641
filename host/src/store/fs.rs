//! The filesystem store: one file per object under a root directory.
//!
//! Writes go to a temporary file in `{root}/-`, are fsynced, then renamed
//! into place and the directory fsynced, so a crash leaves either the old
//! object or the new one. Keys are [`ObjectKey`]s, whose segments cannot
//! climb out of the root.
//!
//! **Invariant:** the store's own files never share the key space. Every key
//! begins with an asset path, whose first segment is never exactly `-`, so
//! no upload or delete can reach the staging directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectKey, ObjectStore, StoreError};

/// The staging directory's name: a segment no asset path can start with.
const STAGING: &str = "-";

pub struct FsStore {
    root: PathBuf,
    temp: PathBuf,
}

impl FsStore {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let temp = root.join(STAGING);
        std::fs::create_dir_all(&temp)?;
        Ok(Self { root, temp })
    }

    fn file(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }
}

fn io(key: &ObjectKey) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        key: key.to_string(),
        source,
    }
}

fn blocking_failed(key: &ObjectKey, error: tokio::task::JoinError) -> StoreError {
    StoreError::Io {
        key: key.to_string(),
        source: std::io::Error::other(error),
    }
}

fn write_atomically(temp_dir: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = target
        .parent()
        .ok_or_else(|| std::io::Error::other("object key has no parent"))?;
    std::fs::create_dir_all(parent)?;
    let mut temp = tempfile::NamedTempFile::new_in(temp_dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(target).map_err(|e| e.error)?;
    std::fs::File::open(parent)?.sync_all()
}

/// Removes the directories a deleted object leaves empty, up to the root.
fn prune_empty_dirs(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(current) = dir {
        if current == root || !current.starts_with(root) || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}

#[async_trait]
impl ObjectStore for FsStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes, _content_type: &str) -> Result<(), StoreError> {
        let (temp, target) = (self.temp.clone(), self.file(key));
        tokio::task::spawn_blocking(move || write_atomically(&temp, &target, &bytes))
            .await
            .map_err(|e| blocking_failed(key, e))?
            .map_err(io(key))
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        match tokio::fs::read(self.file(key)).await {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound(key.to_string())),
            Err(e) => Err(io(key)(e)),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let (root, file) = (self.root.clone(), self.file(key));
        tokio::task::spawn_blocking(move || match std::fs::remove_file(&file) {
            Ok(()) => {
                prune_empty_dirs(&root, &file);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| blocking_failed(key, e))?
        .map_err(io(key))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let temp = self.temp.clone();
        let key = ObjectKey {
            bucket: None,
            key: STAGING.into(),
        };
        tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(temp).map(drop))
            .await
            .map_err(|e| blocking_failed(&key, e))?
            .map_err(io(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let key = ObjectKey::parse(None, "a/b/-/1/original").unwrap();
        store.put(&key, Bytes::from_static(b"one"), "image/png").await.unwrap();
        store.put(&key, Bytes::from_static(b"two"), "image/png").await.unwrap();
        assert_eq!(store.get(&key).await.unwrap(), Bytes::from_static(b"two"));
        store.delete(&key).await.unwrap();
        store.delete(&key).await.unwrap();
        assert!(matches!(store.get(&key).await, Err(StoreError::NotFound(_))));
        assert!(!dir.path().join("a").exists(), "empty directories are pruned");
        assert_eq!(
            std::fs::read_dir(dir.path().join(STAGING)).unwrap().count(),
            0,
            "no temp files left"
        );
        store.ping().await.unwrap();
    }
}
