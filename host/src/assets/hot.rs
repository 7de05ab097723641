//! What was served recently, kept in memory so that a variant asked for again
//! costs one catalog lookup — for the entry, which another process may have
//! replaced or deleted — and neither a second lookup nor a store read; and
//! the originals variants were made from, so the next variant of one does
//! not read it from the store again.
//!
//! Both maps are keyed by content, never by location alone: a variant row by
//! the identity of its entry (path, number, creation time, original's
//! SHA-256, how many times its variants were purged) and the plan, bytes by
//! their SHA-256 and object key. Ready variants never change while their
//! entry lives, an entry that is deleted and made again at the same number
//! has another creation time, and a purge counts up on the entry's row,
//! which every process reads before it looks here; so nothing here can go
//! stale in a way that serves wrong bytes or a purged variant.

use std::sync::Arc;

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};

use crate::catalog::{Entry, Variant};
use crate::store::ObjectKey;

/// Objects larger than this are read from the store each time: they would
/// push many small variants out for one large original.
const MAX_OBJECT_BYTES: u64 = 2 * 1024 * 1024;

/// Bytes of variant rows kept, whatever `memory-bytes` says: bounded by
/// size, as a row's plan key grows with the parameters a URL names.
const VARIANT_ROW_BYTES: u64 = 8 * 1024 * 1024;
/// Roughly how many rows fit, for the cache's sizing: a few hundred bytes each.
const ESTIMATED_VARIANT_ROWS: usize = 16 * 1024;

#[derive(Clone)]
struct RowSize;

impl Weighter<VariantId, Arc<Variant>> for RowSize {
    fn weight(&self, id: &VariantId, variant: &Arc<Variant>) -> u64 {
        const FIXED: usize = 256;
        let variant = &**variant;
        (FIXED
            + id.path.len()
            + id.sha256.len()
            + id.plan.len()
            + variant.key.len()
            + variant.content_type.len()
            + variant.sha256.len()
            + variant.object_key.as_str().len()) as u64
    }
}

#[derive(Clone)]
struct ByLength;

impl Weighter<ObjectId, Bytes> for ByLength {
    fn weight(&self, id: &ObjectId, bytes: &Bytes) -> u64 {
        (id.sha256.len() + id.key.as_str().len() + bytes.len()) as u64
    }
}

pub struct HotCache {
    /// `None` when `cache.memory-bytes` is 0.
    objects: Option<Cache<ObjectId, Bytes, ByLength>>,
    variants: Cache<VariantId, Arc<Variant>, RowSize>,
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
            variants: Cache::with_weighter(ESTIMATED_VARIANT_ROWS, VARIANT_ROW_BYTES, RowSize),
        }
    }

    pub fn variant(&self, entry: &Entry, plan_key: &str) -> Option<Arc<Variant>> {
        self.variants.get(&VariantIdRef::new(entry, plan_key))
    }

    pub fn keep_variant(&self, entry: &Entry, variant: &Arc<Variant>) {
        let id = VariantIdRef::new(entry, &variant.key).to_owned();
        self.variants.insert(id, variant.clone());
    }

    pub fn object(&self, key: &ObjectKey, sha256: &str) -> Option<Bytes> {
        self.objects.as_ref()?.get(&ObjectIdRef { sha256, key })
    }

    pub fn keep_object(&self, key: &ObjectKey, sha256: &str, bytes: &Bytes) {
        if let Some(objects) = &self.objects
            && (bytes.len() as u64) <= MAX_OBJECT_BYTES
        {
            objects.insert(ObjectIdRef { sha256, key }.to_owned(), bytes.clone());
        }
    }
}

// The maps are looked up with borrowed twins of their keys, so a hit builds
// no string. Each twin derives `Hash` over the same fields in the same order
// (`&str` hashes as `String` does), which keeps the two hashes equal.

#[derive(PartialEq, Eq, Hash)]
struct VariantId {
    path: String,
    entry: u64,
    created_at: i64,
    purges: u64,
    sha256: String,
    plan: String,
}

#[derive(Hash)]
struct VariantIdRef<'a> {
    path: &'a str,
    entry: u64,
    created_at: i64,
    purges: u64,
    sha256: &'a str,
    plan: &'a str,
}

impl<'a> VariantIdRef<'a> {
    fn new(entry: &'a Entry, plan: &'a str) -> Self {
        Self {
            path: entry.path.as_str(),
            entry: entry.entry,
            created_at: entry.created_at.0,
            purges: entry.purges,
            sha256: &entry.original.sha256,
            plan,
        }
    }

    fn to_owned(&self) -> VariantId {
        VariantId {
            path: self.path.to_owned(),
            entry: self.entry,
            created_at: self.created_at,
            purges: self.purges,
            sha256: self.sha256.to_owned(),
            plan: self.plan.to_owned(),
        }
    }
}

impl Equivalent<VariantId> for VariantIdRef<'_> {
    fn equivalent(&self, id: &VariantId) -> bool {
        self.entry == id.entry
            && self.created_at == id.created_at
            && self.purges == id.purges
            && self.plan == id.plan
            && self.path == id.path
            && self.sha256 == id.sha256
    }
}

#[derive(PartialEq, Eq, Hash)]
struct ObjectId {
    sha256: String,
    key: ObjectKey,
}

#[derive(Hash)]
struct ObjectIdRef<'a> {
    sha256: &'a str,
    key: &'a ObjectKey,
}

impl ObjectIdRef<'_> {
    fn to_owned(&self) -> ObjectId {
        ObjectId {
            sha256: self.sha256.to_owned(),
            key: self.key.clone(),
        }
    }
}

impl Equivalent<ObjectId> for ObjectIdRef<'_> {
    fn equivalent(&self, id: &ObjectId) -> bool {
        self.sha256 == id.sha256 && *self.key == id.key
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, RandomState};

    use super::*;

    #[test]
    fn borrowed_ids_hash_and_compare_as_their_owned_twins() {
        let hasher = RandomState::new();
        let owned = VariantId {
            path: "a/b".into(),
            entry: 3,
            created_at: 17,
            purges: 0,
            sha256: "ff".into(),
            plan: "resize=1x1".into(),
        };
        let borrowed = VariantIdRef {
            path: "a/b",
            entry: 3,
            created_at: 17,
            purges: 0,
            sha256: "ff",
            plan: "resize=1x1",
        };
        assert_eq!(hasher.hash_one(&owned), hasher.hash_one(&borrowed));
        assert!(borrowed.equivalent(&owned));
        assert!(!VariantIdRef { entry: 4, ..borrowed }.equivalent(&owned));
        assert!(!VariantIdRef { purges: 1, ..borrowed }.equivalent(&owned));
        assert!(
            !VariantIdRef {
                plan: "resize=1x2",
                ..borrowed
            }
            .equivalent(&owned)
        );

        let key = ObjectKey::parse(None, "a/b/-/3/original").unwrap();
        let owned = ObjectId {
            sha256: "ff".into(),
            key: key.clone(),
        };
        let borrowed = ObjectIdRef {
            sha256: "ff",
            key: &key,
        };
        assert_eq!(hasher.hash_one(&owned), hasher.hash_one(&borrowed));
        assert!(borrowed.equivalent(&owned));
        assert!(
            !ObjectIdRef {
                sha256: "fe",
                key: &key
            }
            .equivalent(&owned)
        );
    }
}
