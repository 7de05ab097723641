//! The object store: where the bytes of originals and variants live.
//!
//! [`ObjectStore`] is the whole interface the rest of Kiln sees; the
//! filesystem store is the embedded default and the S3 store is a second
//! implementation of the same trait. Keys are validated [`ObjectKey`]s, so no
//! implementation ever sees `..`, an absolute path or an empty segment.
//!
//! A key may name a bucket (from the path rule in force when the original was
//! uploaded); without one the store's default bucket holds it. The bucket is
//! recorded with the key in the catalog, so changing the rule later does not
//! lose older objects. Variants live in their original's bucket.

mod fs;
mod metered;
mod s3;

use async_trait::async_trait;
use bytes::Bytes;

use crate::address::AssetPath;

pub use fs::FsStore;
pub use metered::MeteredStore;
pub use s3::{MIN_PART_BYTES, S3Settings, S3Store};

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
    #[error("S3 request for {key} failed: {message}")]
    S3 { key: String, message: String },
    /// The store did not answer (connection refused or timed out).
    #[error("the object store cannot be reached ({key}): {message}")]
    Unavailable { key: String, message: String },
    #[error("this object store cannot hand out presigned URLs")]
    PresignUnsupported,
}

impl StoreError {
    /// The store could not be reached, as opposed to refusing a request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// A key inside the store: `/`-separated segments of `[A-Za-z0-9._~-]`, none
/// of them `.` or `..`, and the bucket that holds it (`None`: the store's
/// default bucket).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    bucket: Option<String>,
    key: String,
}

impl ObjectKey {
    /// The key of entry `entry`'s original at `path`. The `-` segment can
    /// never be part of an asset path, so these keys never collide with
    /// another path's, whatever bucket they are in.
    pub fn original(bucket: Option<&str>, path: &AssetPath, entry: u64) -> Self {
        Self {
            bucket: bucket.map(str::to_owned),
            key: format!("{}/-/{entry}/original", path.as_str()),
        }
    }

    /// The key of a variant of `original`'s entry, in the original's bucket;
    /// `hash` names the canonical transformation.
    pub fn variant(original: &ObjectKey, path: &AssetPath, entry: u64, hash: &str) -> Self {
        Self {
            bucket: original.bucket.clone(),
            key: format!("{}/-/{entry}/{hash}", path.as_str()),
        }
    }

    /// Re-validates a key (and its bucket) read back from the catalog.
    pub fn parse(bucket: Option<&str>, key: &str) -> Option<Self> {
        let valid = !key.is_empty()
            && key.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-'))
            })
            && bucket.is_none_or(valid_bucket_name);
        valid.then(|| Self {
            bucket: bucket.map(str::to_owned),
            key: key.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }

    pub fn bucket(&self) -> Option<&str> {
        self.bucket.as_deref()
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.bucket {
            Some(bucket) => write!(f, "{bucket}:{}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// S3's rules for bucket names, which every S3-compatible store accepts:
/// 3 to 63 of `[a-z0-9.-]`, starting and ending with a letter or digit.
pub fn valid_bucket_name(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-'))
        && edge(name.chars().next())
        && edge(name.chars().last())
        && !name.contains("..")
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `bytes` under `key` as `content_type` (which stores that serve
    /// objects themselves, through presigned or template redirects, send).
    /// Readers see either the old object or the whole new one, never a
    /// partial write.
    async fn put(&self, key: &ObjectKey, bytes: Bytes, content_type: &str) -> Result<(), StoreError>;
    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError>;
    /// Removes `key`; removing a missing object is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError>;
    /// Checks that the store can be reached and written to.
    async fn ping(&self) -> Result<(), StoreError>;
    /// A URL that lets anyone holding it read `key` directly from the store
    /// for `ttl`.
    async fn presigned_get(&self, key: &ObjectKey, ttl: std::time::Duration) -> Result<String, StoreError> {
        let _ = (key, ttl);
        Err(StoreError::PresignUnsupported)
    }
    /// The bucket that holds `key`, as `redirect` templates name it.
    fn bucket_of<'a>(&'a self, key: &'a ObjectKey) -> &'a str {
        key.bucket().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let path = AssetPath::parse("users/1/avatar").unwrap();
        let original = ObjectKey::original(Some("media"), &path, 3);
        assert_eq!(original.as_str(), "users/1/avatar/-/3/original");
        assert_eq!(ObjectKey::variant(&original, &path, 3, "ab").bucket(), Some("media"));
        assert!(ObjectKey::parse(None, "users/1/avatar/-/3/original").is_some());
        for bad in ["", "/a", "a/", "a//b", "a/../b", "..", ".", "a\\b", "a/b c", "a/%2e"] {
            assert!(ObjectKey::parse(None, bad).is_none(), "{bad:?}");
        }
        for bucket in ["media", "my-bucket.eu", "a1b"] {
            assert!(valid_bucket_name(bucket), "{bucket}");
        }
        for bucket in ["ab", "Media", "-media", "media-", "a..b", "me_dia", &"a".repeat(64)] {
            assert!(!valid_bucket_name(bucket), "{bucket}");
            assert!(ObjectKey::parse(Some(bucket), "a").is_none());
        }
    }
}
