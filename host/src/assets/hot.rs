//! What was served recently, kept in memory so that a variant asked for again
//! costs one catalog lookup — for the entry, which another process may have
//! replaced or deleted — and neither a second lookup nor a store read; and
//! the originals variants were made from, so the next variant of one does
//! not read it from the store again.
//!
//! Both maps are keyed by content, never by location alone: a variant row by
//! the identity of its entry (path, number, creation time, original's
//! SHA-256) and the plan, bytes by their SHA-256 and object key. Ready
//! variants never change while their entry lives, and an entry that is
//! deleted and made again at the same number has another creation time, so
//! nothing here can go stale in a way that serves wrong bytes.

use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::catalog::{Entry, Variant};
use crate::store::ObjectKey;

/// Objects larger than this are read from the store each time: they would
/// push many small variants out for one large original.
const MAX_OBJECT_BYTES: u64 = 2 * 1024 * 1024;

/// Variant rows kept, whatever `memory-bytes` says; each is a few hundred bytes.
const VARIANT_ROWS: usize = 16 * 1024;

#[derive(Clone)]
struct ByLength;

impl Weighter<String, Bytes> for ByLength {
    fn weight(&self, key: &String, bytes: &Bytes) -> u64 {
        (key.len() + bytes.len()) as u64
    }
}

pub struct HotCache {
    /// `None` when `cache.memory-bytes` is 0.
    objects: Option<Cache<String, Bytes, ByLength>>,
    variants: Cache<String, Variant>,
}

impl HotCache {
    pub fn new(memory_bytes: u64) -> Self {
        let objects = (memory_bytes > 0).then(|| {
            // quick_cache sizes its tables from an item estimate: variants
            // of a few tens of kilobytes are the common case.
            let estimated = (memory_bytes / (32 * 1024)).clamp(16, 1 << 20) as usize;
            Cache::with_weighter(estimated, memory_bytes, ByLength)
        });
        Self {
            objects,
            variants: Cache::new(VARIANT_ROWS),
        }
    }

    pub fn variant(&self, entry: &Entry, plan_key: &str) -> Option<Variant> {
        self.variants.get(&variant_key(entry, plan_key))
    }

    pub fn keep_variant(&self, entry: &Entry, variant: &Variant) {
        self.variants.insert(variant_key(entry, &variant.key), variant.clone());
    }

    pub fn object(&self, key: &ObjectKey, sha256: &str) -> Option<Bytes> {
        self.objects.as_ref()?.get(&object_key(key, sha256))
    }

    pub fn keep_object(&self, key: &ObjectKey, sha256: &str, bytes: &Bytes) {
        if let Some(objects) = &self.objects
            && (bytes.len() as u64) <= MAX_OBJECT_BYTES
        {
            objects.insert(object_key(key, sha256), bytes.clone());
        }
    }
}

fn variant_key(entry: &Entry, plan_key: &str) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{plan_key}",
        entry.path.as_str(),
        entry.entry,
        entry.created_at.0,
        entry.original.sha256
    )
}

fn object_key(key: &ObjectKey, sha256: &str) -> String {
    format!("{sha256}\n{key}")
}
