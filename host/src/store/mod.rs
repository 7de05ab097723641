//! The object store: where the bytes of originals (and, later, variants) live.
//!
//! [`ObjectStore`] is the whole interface the rest of Kiln sees; the
//! filesystem store is the embedded default and an S3 store is a second
//! implementation of the same trait. Keys are validated [`ObjectKey`]s, so no
//! implementation ever sees `..`, an absolute path or an empty segment.

mod fs;

use async_trait::async_trait;
use bytes::Bytes;

use crate::address::AssetPath;

pub use fs::FsStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {0} does not exist")]
    NotFound(String),
    #[error("object store I/O failed for {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

/// A key inside the store: `/`-separated segments of `[A-Za-z0-9._~-]`, none
/// of them `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// The key of entry `entry`'s original at `path`. The `-` segment can
    /// never be part of an asset path, so these keys never collide with
    /// another path's.
    pub fn original(path: &AssetPath, entry: u64) -> Self {
        Self(format!("{}/-/{entry}/original", path.as_str()))
    }

    /// The key of a variant of entry `entry` at `path`; `hash` names the
    /// canonical transformation.
    pub fn variant(path: &AssetPath, entry: u64, hash: &str) -> Self {
        Self(format!("{}/-/{entry}/{hash}", path.as_str()))
    }

    /// Re-validates a key read back from the catalog.
    pub fn parse(key: &str) -> Option<Self> {
        let valid = !key.is_empty()
            && key.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-'))
            });
        valid.then(|| Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `bytes` under `key`. Readers see either the old object or the
    /// whole new one, never a partial write.
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), StoreError>;
    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError>;
    /// Removes `key`; removing a missing object is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError>;
    /// Checks that the store can be reached and written to.
    async fn ping(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let path = AssetPath::parse("users/1/avatar").unwrap();
        assert_eq!(ObjectKey::original(&path, 3).as_str(), "users/1/avatar/-/3/original");
        assert!(ObjectKey::parse("users/1/avatar/-/3/original").is_some());
        for bad in ["", "/a", "a/", "a//b", "a/../b", "..", ".", "a\\b", "a/b c", "a/%2e"] {
            assert!(ObjectKey::parse(bad).is_none(), "{bad:?}");
        }
    }
}
