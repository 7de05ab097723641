//! The catalog: every entry's number, metadata and where its bytes are.
//!
//! [`Catalog`] is the whole interface, implemented once in `sql.rs` over
//! either backend: SQLite, the embedded default, or PostgreSQL. What differs
//! between them (placeholders, the clock, `SKIP LOCKED`, how a variant's key
//! is indexed) is a small `Dialect`; each backend owns its migrations.
//! Coordination between processes (entry numbers, single flight, jobs) goes
//! through the catalog, never through process memory.

mod change;
mod entry_cache;
mod outbox;
pub use change::{Announce, Change, NewMessage};
pub use outbox::{Message, Outbox, Settlement};
mod postgres;
mod rows;
pub use rows::ListCursor;
mod sql;
mod sqlite;
mod usage;
pub use usage::{Day, OTHER, Ranking, Usage, UsageBatch};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::address::{AssetPath, Ordering};
use crate::metrics::Metrics;
use crate::probe::{Lqip, SourceColour};
use crate::store::ObjectKey;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("catalog migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A row holds something this version cannot read back.
    #[error("catalog row is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported catalog URL {0:?}: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    /// Another process has the SQLite file open.
    #[error(
        "another kiln process is using the SQLite catalog {0}; SQLite serves one process — \
         run several on PostgreSQL (docs/deploy.md)"
    )]
    InUse(String),
}

impl CatalogError {
    /// The database could not be reached in time, as opposed to refusing or
    /// failing a statement.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Database(
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}

/// How long a request waits for a catalog connection before it is answered
/// `503 unavailable`: sqlx's default of 30 s would hold every request that
/// long while the database is down.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

const MILLIS_A_DAY: i64 = 86_400_000;

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    /// This instant plus `duration`.
    pub fn after(self, duration: std::time::Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// The UTC day this instant falls on.
    pub fn day(self) -> Day {
        self.0.div_euclid(MILLIS_A_DAY)
    }

    /// The first instant of `day`.
    pub fn of_day(day: Day) -> Self {
        Self(day.saturating_mul(MILLIS_A_DAY))
    }

    /// This instant less `duration`.
    pub fn before(self, duration: std::time::Duration) -> Self {
        Self(
            self.0
                .saturating_sub(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    pub fn to_system_time(self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.0.max(0) as u64)
    }

    /// RFC 3339 in UTC with exactly three fractional digits, so that the
    /// strings sort as the instants do.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
            return String::new();
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

/// What a client may set on an entry: replaced whole by PUT. Label keys
/// and tags are 1 to 256 characters, label values up to 256, none of them
/// with control characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryMetadata {
    #[serde(default)]
    #[schema(schema_with = metadata_schema::alt)]
    pub alt: Option<String>,
    #[serde(default)]
    #[schema(schema_with = metadata_schema::labels)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    #[schema(schema_with = metadata_schema::tags)]
    pub tags: Vec<String>,
}

/// The schemas of `EntryMetadata`'s fields, from the bounds `validate` holds
/// them to, for the HTTP API's OpenAPI document.
pub mod metadata_schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};

    use super::{MAX_ALT_CHARS, MAX_LABEL_CHARS, MAX_LABELS, MAX_TAGS};

    /// No control characters (`char::is_control`), `min..=MAX_LABEL_CHARS` of them.
    fn text(min: usize) -> ObjectBuilder {
        let pattern = format!(r"^[^\u0000-\u001F\u007F-\u009F]{{{min},{MAX_LABEL_CHARS}}}$");
        ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern))
    }

    pub fn alt() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .max_length(Some(MAX_ALT_CHARS))
            .description(Some("Text for `alt` attributes and download names."))
    }

    pub fn labels() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(text(1)))
            .additional_properties(Some(text(0)))
            .max_properties(Some(MAX_LABELS))
            .description(Some("What `label:{key}={value}` filters select by."))
    }

    pub fn tags() -> ArrayBuilder {
        ArrayBuilder::new().items(text(1)).max_items(Some(MAX_TAGS))
    }
}

pub const MAX_ALT_CHARS: usize = 2000;
pub const MAX_LABELS: usize = 64;
pub const MAX_TAGS: usize = 64;
pub const MAX_LABEL_CHARS: usize = 256;

impl EntryMetadata {
    /// Checks the bounds that keep metadata rows small and printable.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(alt) = &self.alt
            && alt.chars().count() > MAX_ALT_CHARS
        {
            return Err(format!("alt is longer than {MAX_ALT_CHARS} characters"));
        }
        if self.labels.len() > MAX_LABELS {
            return Err(format!("at most {MAX_LABELS} labels are allowed"));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(format!("at most {MAX_TAGS} tags are allowed"));
        }
        let texts = self.labels.iter().flat_map(|(k, v)| [k, v]).chain(&self.tags);
        for text in texts {
            if text.chars().count() > MAX_LABEL_CHARS || text.chars().any(char::is_control) {
                return Err(format!(
                    "labels and tags must be at most {MAX_LABEL_CHARS} characters with no control characters"
                ));
            }
        }
        if self.labels.keys().chain(&self.tags).any(|s| s.is_empty()) {
            return Err("label keys and tags may not be empty".into());
        }
        Ok(())
    }
}

/// The stored original of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// Hex SHA-256 of the bytes: also the strong ETag.
    pub sha256: String,
    pub object_key: ObjectKey,
    pub has_alpha: bool,
    /// Frames of an animation; 1 for a still image.
    pub pages: u32,
    pub colour: SourceColour,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: AssetPath,
    pub entry: u64,
    pub metadata: EntryMetadata,
    pub original: Original,
    pub lqip: Option<Lqip>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
    /// How many times its variants were purged.
    pub purges: u64,
}

/// A cached transformation of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The canonical transformation (see `transform::Plan::key`).
    pub key: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub sha256: String,
    pub object_key: ObjectKey,
    pub created_at: Timestamp,
}

/// The token of a lease on a variant or a job: completing or giving up the
/// work names it, so a holder whose lease lapsed and was taken over cannot
/// finish, or undo, the work of the one who took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseToken(pub i64);

impl LeaseToken {
    pub fn new() -> Self {
        Self(rand::random())
    }
}

impl Default for LeaseToken {
    fn default() -> Self {
        Self::new()
    }
}

/// The answer to a claim on a missing variant.
#[derive(Debug, Clone)]
pub enum VariantClaim {
    /// Someone already made it.
    Ready(Variant),
    /// The caller holds the lease and must make it.
    Claimed(LeaseToken),
    /// Another process holds a live lease; wait and ask again.
    Busy,
}

/// Which entries an operation on several means.
#[derive(Debug, Clone, Copy)]
pub enum Entries<'a> {
    One(&'a AssetPath, u64),
    /// Every entry at and below a path.
    Under(&'a AssetPath),
}

/// What a purge removed.
#[derive(Debug, Clone, Default)]
pub struct Purged {
    pub entries: u64,
    pub objects: Vec<ObjectKey>,
}

/// What a delete removed: the entry and every object it owned.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub entry: Entry,
    pub objects: Vec<ObjectKey>,
}

/// A job taken from the durable queue.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// Including this one.
    pub attempts: u32,
    /// This taking's lock.
    pub lock: LeaseToken,
}

/// A job to queue with the change that asks for it.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: String,
}

/// Which entry a read means: an ordering plus labels it must carry.
#[derive(Debug, Clone)]
pub struct Selection {
    pub ordering: Ordering,
    pub labels: Vec<(String, String)>,
}

/// Everything the catalog keeps: entries, variants and jobs here, the
/// webhook outbox in [`Outbox`], counters in [`Usage`].
#[async_trait]
pub trait Catalog: Outbox + Usage + Send + Sync {
    async fn ping(&self) -> Result<(), CatalogError>;

    /// Takes the next entry number at `path`. Numbers are unique under
    /// concurrency and never handed out twice, even after deletes.
    async fn allocate_entry(&self, path: &AssetPath) -> Result<u64, CatalogError>;

    /// Records an entry whose number came from [`Catalog::allocate_entry`]
    /// and whose original is already in the object store, with the jobs it
    /// asks for, in one transaction: an entry is never without its jobs.
    async fn insert_entry(&self, entry: &Entry, jobs: &[NewJob]) -> Result<(), CatalogError>;

    /// Shared, because the SQLite catalog hands out the answers it keeps.
    async fn find_entry(&self, path: &AssetPath, selection: &Selection) -> Result<Option<Arc<Entry>>, CatalogError>;

    /// Entries at and below `prefix` (all without one) in (path, entry)
    /// order, after `after`, at most `limit`.
    async fn list_entries(
        &self,
        prefix: Option<&AssetPath>,
        after: Option<&ListCursor>,
        limit: u32,
    ) -> Result<Vec<Entry>, CatalogError>;

    /// Replaces an entry's metadata and bumps `modified_at`.
    async fn update_metadata(
        &self,
        path: &AssetPath,
        entry: u64,
        metadata: &EntryMetadata,
        now: Timestamp,
    ) -> Result<Option<Entry>, CatalogError>;

    /// Deletes an entry and its variants' rows, returning the objects to remove.
    async fn delete_entry(&self, path: &AssetPath, entry: u64) -> Result<Option<Deleted>, CatalogError>;

    /// Deletes every entry at and below `path`, returning what was deleted.
    async fn delete_tree(&self, path: &AssetPath) -> Result<Vec<Deleted>, CatalogError>;

    /// Deletes the made variants of `entries` and counts a purge on each
    /// entry, in one transaction, returning the objects the variants had
    /// (none is made again from a purged row) and how many entries it found.
    async fn purge_variants(&self, entries: Entries<'_>) -> Result<Purged, CatalogError>;

    async fn find_variant(&self, path: &AssetPath, entry: u64, key: &str) -> Result<Option<Variant>, CatalogError>;

    /// Takes the lease on a missing variant for `lease`, unless it is ready
    /// or another live lease holds it. Exactly one caller across all
    /// processes gets [`VariantClaim::Claimed`] until the lease passes. On
    /// PostgreSQL the lease runs on the database's clock, so processes whose
    /// clocks differ still agree on it.
    async fn claim_variant(
        &self,
        path: &AssetPath,
        entry: u64,
        key: &str,
        lease: Duration,
    ) -> Result<VariantClaim, CatalogError>;

    /// Records a variant made under the lease `token`; its object is already
    /// stored. `false`: the lease lapsed and another holder took it over, so
    /// nothing was recorded.
    async fn complete_variant(
        &self,
        path: &AssetPath,
        entry: u64,
        variant: &Variant,
        token: LeaseToken,
    ) -> Result<bool, CatalogError>;

    /// Gives up the lease `token` after a failure, so that the next request
    /// tries again; a lease taken over since is left alone. A `failure` (an
    /// error code) is announced as `variant.failed`; a transient one (the
    /// server was busy) is not.
    async fn abandon_variant(
        &self,
        path: &AssetPath,
        entry: u64,
        key: &str,
        token: LeaseToken,
        failure: Option<&str>,
    ) -> Result<(), CatalogError>;

    async fn list_variants(&self, path: &AssetPath, entry: u64) -> Result<Vec<Variant>, CatalogError>;

    /// How many variants an entry has, being made or made.
    async fn count_variants(&self, path: &AssetPath, entry: u64) -> Result<u64, CatalogError>;

    /// Jobs queued or running, not failed for good.
    async fn queued_jobs(&self) -> Result<u64, CatalogError>;

    /// Queues jobs to run as soon as a runner is free.
    async fn queue_jobs(&self, jobs: &[NewJob]) -> Result<(), CatalogError>;

    /// Takes the next due job, locking it for `lock` (on PostgreSQL by the
    /// database's clock); a job whose lock has passed (its taker died) is
    /// due again.
    async fn claim_job(&self, lock: Duration) -> Result<Option<Job>, CatalogError>;

    /// The following each act only while `job`'s lock is still the one it
    /// was taken with; `false` when another runner has taken it since.
    async fn finish_job(&self, job: &Job) -> Result<bool, CatalogError>;

    /// Puts a job back to run again after `delay`.
    async fn retry_job(&self, job: &Job, delay: Duration, error: &str) -> Result<bool, CatalogError>;

    /// Gives up on a job; it stays in the table, marked failed.
    async fn fail_job(&self, job: &Job, error: &str) -> Result<bool, CatalogError>;
}

/// Opens the catalog a database URL names and brings its schema up to date;
/// `announce` says which webhook messages its changes write, `metrics`
/// counts its operations.
pub async fn open(
    url: &str,
    max_connections: Option<u32>,
    announce: Arc<dyn Announce>,
    metrics: Arc<Metrics>,
) -> Result<Arc<dyn Catalog>, CatalogError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::open(url, max_connections, announce, metrics).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::open(url, max_connections, announce, metrics).await?))
    } else {
        Err(CatalogError::UnsupportedUrl(url.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Announces every change to one endpoint, `e`.
    struct Everything;

    impl Announce for Everything {
        fn messages(&self, change: &Change<'_>) -> Vec<NewMessage> {
            vec![NewMessage {
                endpoint: "e".into(),
                message_id: format!("msg_{}", rand::random::<u32>()),
                event: change.event(),
                body: change.path().as_str().to_owned(),
            }]
        }
    }

    /// Runs `check` on a fresh SQLite catalog, and on a fresh PostgreSQL
    /// database when `E2E_POSTGRES` names a server (`make test` does).
    async fn on_every_catalog<F, Fut>(check: F)
    where
        F: Fn(Arc<dyn Catalog>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("kiln.db").display());
        let metrics = Arc::new(Metrics::new());
        check(open(&url, None, Arc::new(Everything), metrics.clone()).await.unwrap()).await;
        let Some(server) = std::env::var("E2E_POSTGRES").ok().filter(|s| !s.is_empty()) else {
            return;
        };
        let name = format!("kiln_unit_{:016x}", rand::random::<u64>());
        let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        let catalog = open(&format!("{server}/{name}"), Some(2), Arc::new(Everything), metrics)
            .await
            .unwrap();
        check(catalog).await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&admin)
            .await
            .unwrap();
    }

    fn variant(key: &str) -> Variant {
        Variant {
            key: key.to_owned(),
            content_type: "image/webp".into(),
            width: 1,
            height: 1,
            bytes: 1,
            sha256: "00".into(),
            object_key: ObjectKey::parse(None, "a/-/1/v").unwrap(),
            created_at: Timestamp::now(),
        }
    }

    #[tokio::test]
    async fn a_lapsed_lease_cannot_complete_or_undo_the_work_of_its_successor() {
        on_every_catalog(|catalog| async move {
            let path = AssetPath::parse("a").unwrap();
            let key = format!("w=1&{}", "x".repeat(4000));
            let lapsed = Duration::ZERO;
            let VariantClaim::Claimed(first) = catalog.claim_variant(&path, 1, &key, lapsed).await.unwrap() else {
                panic!("the first claim takes the lease")
            };
            tokio::time::sleep(Duration::from_millis(5)).await;
            let VariantClaim::Claimed(second) = catalog
                .claim_variant(&path, 1, &key, Duration::from_secs(60))
                .await
                .unwrap()
            else {
                panic!("a lapsed lease is taken over")
            };
            assert_ne!(first, second);
            assert!(matches!(
                catalog
                    .claim_variant(&path, 1, &key, Duration::from_secs(60))
                    .await
                    .unwrap(),
                VariantClaim::Busy
            ));
            catalog.abandon_variant(&path, 1, &key, first, None).await.unwrap();
            assert!(
                !catalog.complete_variant(&path, 1, &variant(&key), first).await.unwrap(),
                "the first holder lost its lease"
            );
            assert!(
                catalog
                    .complete_variant(&path, 1, &variant(&key), second)
                    .await
                    .unwrap()
            );
            assert!(matches!(
                catalog.claim_variant(&path, 1, &key, lapsed).await.unwrap(),
                VariantClaim::Ready(_)
            ));
            assert_eq!(catalog.count_variants(&path, 1).await.unwrap(), 1);
        })
        .await;
    }

    /// A new entry at `path`, numbered but not inserted.
    async fn new_entry(catalog: &dyn Catalog, path: &str) -> Entry {
        let path = AssetPath::parse(path).unwrap();
        let now = Timestamp::now();
        let number = catalog.allocate_entry(&path).await.unwrap();
        Entry {
            original: Original {
                content_type: "image/png".into(),
                width: 1,
                height: 1,
                bytes: 1,
                sha256: "00".into(),
                object_key: ObjectKey::parse(None, &format!("{}/-/{number}/original", path.as_str())).unwrap(),
                has_alpha: false,
                pages: 1,
                colour: SourceColour::Srgb,
            },
            path,
            entry: number,
            metadata: EntryMetadata::default(),
            lqip: None,
            created_at: now,
            modified_at: now,
            purges: 0,
        }
    }

    #[tokio::test]
    async fn a_change_writes_its_message_which_one_claim_at_a_time_delivers() {
        on_every_catalog(|catalog| async move {
            let first_entry = new_entry(catalog.as_ref(), "a").await;
            catalog.insert_entry(&first_entry, &[]).await.unwrap();
            let lock = Duration::from_secs(60);
            let busy = ["e".to_owned()];
            assert!(
                catalog.claim_message(lock, &busy).await.unwrap().is_none(),
                "a busy endpoint's messages wait"
            );
            let first = catalog
                .claim_message(lock, &[])
                .await
                .unwrap()
                .expect("written with the entry");
            assert_eq!(
                (first.event.as_str(), first.body.as_str(), first.attempts),
                ("asset.created", "a", 1)
            );
            assert!(catalog.claim_message(lock, &[]).await.unwrap().is_none(), "locked");
            let retry = Settlement::Retry(Duration::ZERO);
            assert!(catalog.settle_message(&first, retry, "HTTP 500").await.unwrap());
            tokio::time::sleep(Duration::from_millis(5)).await;
            let second = catalog.claim_message(lock, &[]).await.unwrap().expect("due again");
            assert_eq!(
                (second.message_id.as_str(), second.attempts),
                (first.message_id.as_str(), 2)
            );
            assert!(
                !catalog
                    .settle_message(&first, Settlement::Delivered, "late")
                    .await
                    .unwrap(),
                "a lapsed lock settles nothing"
            );
            assert!(
                catalog
                    .settle_message(&second, Settlement::Gone, "HTTP 410")
                    .await
                    .unwrap()
            );

            let later = new_entry(catalog.as_ref(), "b").await;
            catalog.insert_entry(&later, &[]).await.unwrap();
            assert!(
                catalog.claim_message(lock, &[]).await.unwrap().is_none(),
                "the endpoint is disabled"
            );
            let states = catalog.endpoint_states().await.unwrap();
            assert_eq!(states.len(), 1);
            assert!(states[0].disabled_at.is_some());
            assert_eq!(
                (states[0].pending, states[0].last_outcome.as_deref()),
                (1, Some("HTTP 410"))
            );

            assert_eq!(
                catalog.replay_messages("e", Timestamp(0)).await.unwrap(),
                1,
                "the failed one"
            );
            let mut bodies = Vec::new();
            while let Some(message) = catalog.claim_message(lock, &[]).await.unwrap() {
                bodies.push(message.body.clone());
                catalog
                    .settle_message(&message, Settlement::Delivered, "HTTP 200")
                    .await
                    .unwrap();
            }
            bodies.sort();
            assert_eq!(bodies, ["a", "b"], "enabled again, both are sent");
            assert_eq!(catalog.prune_messages(Timestamp::now().after(lock)).await.unwrap(), 2);
        })
        .await;
    }

    #[tokio::test]
    async fn usage_batches_add_up_within_a_bound_a_day_and_are_forgotten_in_time() {
        on_every_catalog(|catalog| async move {
            let batch = |paths: &[&str]| UsageBatch {
                most_a_day: 2,
                prefixes: paths.iter().map(|p| ((10, (*p).to_owned()), (1, 100))).collect(),
                missing: paths.iter().map(|p| ((10, (*p).to_owned()), 1)).collect(),
                ..UsageBatch::default()
            };
            catalog.add_usage(&batch(&["a", "b"])).await.unwrap();
            catalog.add_usage(&batch(&["a", "c", "d"])).await.unwrap();
            let days = catalog.traffic(None, 0, 20).await.unwrap();
            assert_eq!((days.len(), days[0].requests, days[0].bytes), (1, 5, 500));
            let a = catalog.traffic(Some("a"), 0, 20).await.unwrap();
            assert_eq!(a[0].requests, 2, "a kept its own row");
            let missing = catalog.top(Ranking::Missing, 0, 20, 10).await.unwrap();
            let counts: Vec<(&str, u64)> = missing.iter().map(|m| (m.path.as_str(), m.requests)).collect();
            assert_eq!(
                counts,
                [("(other)", 2), ("a", 2), ("b", 1)],
                "c and d came past the bound"
            );
            catalog.prune_usage(11).await.unwrap();
            assert!(catalog.traffic(None, 0, 20).await.unwrap().is_empty());
            assert!(catalog.top(Ranking::Missing, 0, 20, 10).await.unwrap().is_empty());
        })
        .await;
    }

    #[tokio::test]
    async fn a_job_is_settled_only_under_the_lock_it_was_taken_with() {
        on_every_catalog(|catalog| async move {
            let entry = new_entry(catalog.as_ref(), "a").await;
            let job = NewJob {
                kind: "test",
                payload: "{}".into(),
            };
            catalog.insert_entry(&entry, &[job]).await.unwrap();
            let first = catalog
                .claim_job(Duration::ZERO)
                .await
                .unwrap()
                .expect("queued with the entry");
            tokio::time::sleep(Duration::from_millis(5)).await;
            let second = catalog
                .claim_job(Duration::from_secs(60))
                .await
                .unwrap()
                .expect("its lock lapsed");
            assert_eq!((first.id, second.attempts), (second.id, 2));
            assert!(catalog.claim_job(Duration::from_secs(60)).await.unwrap().is_none());
            assert!(
                !catalog.finish_job(&first).await.unwrap(),
                "a lapsed lock settles nothing"
            );
            assert!(!catalog.retry_job(&first, Duration::ZERO, "late").await.unwrap());
            assert!(catalog.finish_job(&second).await.unwrap());
            assert!(catalog.claim_job(Duration::ZERO).await.unwrap().is_none());
        })
        .await;
    }

    #[test]
    fn timestamps_are_fixed_width_and_sort() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(1_700_000_000_100).to_rfc3339(), "2023-11-14T22:13:20.100Z");
        let (a, b) = (
            Timestamp(1_700_000_000_100).to_rfc3339(),
            Timestamp(1_700_000_000_102).to_rfc3339(),
        );
        assert!(a < b);
    }
}
