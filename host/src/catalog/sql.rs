//! The one implementation of [`Catalog`], generic over the backend: every
//! statement is written once, built by `QueryBuilder`, and the few places
//! where SQLite and PostgreSQL differ are asked of a [`Dialect`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::{ColumnIndex, Database, Decode, Encode, Pool, QueryBuilder, Row, Type};

use super::change::{Announce, Change, NewMessage};
use super::entry_cache::EntryCache;
use super::rows::{
    COLUMNS, ListCursor, VARIANT_COLUMNS, entry_from_row, entry_query, job_from_row, list_query, to_json,
    variant_from_row,
};
use super::{
    Catalog, CatalogError, Deleted, Entries, Entry, EntryMetadata, Job, LeaseToken, NewJob, Purged, Selection,
    Timestamp, Variant, VariantClaim,
};
use crate::address::AssetPath;
use crate::metrics::{CatalogLabels, Metrics, OperationLabels};
use crate::store::ObjectKey;

/// What differs between the SQL of the catalog's backends.
pub trait Dialect: Send + Sync + 'static {
    type Db: Database;

    /// The larger of two integers: `MAX` or `GREATEST`.
    const GREATEST: &'static str;

    /// Starts a transaction that will write. SQLite's `BEGIN IMMEDIATE`
    /// takes the write lock first, waiting for it under the busy timeout; a
    /// plain `BEGIN` that reads and then writes cannot wait when another
    /// writer committed in between, and fails with "database is locked".
    const BEGIN_WRITE: &'static str;

    /// Ends the subquery that picks a job to claim: PostgreSQL skips rows
    /// another transaction holds; SQLite runs one writer at a time.
    const SKIP_LOCKED: &'static str;

    /// The columns of `variants` that hold a key, and the unique ones among
    /// them that a claim's upsert conflicts on.
    const KEY_COLUMNS: &'static str;
    const KEY_CONFLICT: &'static str;

    /// Pushes the time `offset` from now in Unix milliseconds: the
    /// database's clock where several processes share it, so that leases
    /// and locks mean the same to all of them.
    fn push_now(query: &mut QueryBuilder<'_, Self::Db>, offset: Duration);

    /// Pushes the values of [`Dialect::KEY_COLUMNS`] for `key`.
    fn push_key_values(query: &mut QueryBuilder<'_, Self::Db>, key: &str);

    /// Pushes `AND` and the condition that a variant row has `key`.
    fn push_key_match(query: &mut QueryBuilder<'_, Self::Db>, key: &str);

    /// Runs `query` on `connection`, returning the rows it answers. (Asked
    /// of the dialect because sqlx can shorten the lifetime of a query's
    /// arguments only where it knows the backend.)
    fn fetch<'a>(
        connection: &'a mut <Self::Db as Database>::Connection,
        query: &'a mut QueryBuilder<'_, Self::Db>,
    ) -> BoxFuture<'a, Result<Vec<RowOf<Self>>, sqlx::Error>>;
}

pub type RowOf<D> = <<D as Dialect>::Db as Database>::Row;

/// A catalog in a SQL database reached through `D`.
pub struct SqlCatalog<D: Dialect> {
    pool: Pool<D::Db>,
    /// Only where one process makes every write (see `entry_cache`).
    entries: Option<EntryCache>,
    /// What webhooks hear of the changes made here.
    announce: Arc<dyn Announce>,
    metrics: Arc<Metrics>,
    /// Held for as long as the catalog lives (the SQLite file's lock).
    _guard: Option<std::fs::File>,
}

impl<D: Dialect> SqlCatalog<D> {
    pub fn new(
        pool: Pool<D::Db>,
        entries: Option<EntryCache>,
        announce: Arc<dyn Announce>,
        metrics: Arc<Metrics>,
        guard: Option<std::fs::File>,
    ) -> Self {
        Self {
            pool,
            entries,
            announce,
            metrics,
            _guard: guard,
        }
    }

    /// A transaction for a change (see [`Dialect::BEGIN_WRITE`]).
    pub(super) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, D::Db>, sqlx::Error> {
        self.pool.begin_with(D::BEGIN_WRITE).await
    }

    /// Runs the catalog operation `operation`, counting it by its outcome
    /// and timing it.
    pub(super) async fn metered<T>(
        &self,
        operation: &'static str,
        work: impl std::future::Future<Output = Result<T, CatalogError>>,
    ) -> Result<T, CatalogError> {
        let started = std::time::Instant::now();
        let result = work.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(error) if error.is_unavailable() => "unavailable",
            Err(_) => "error",
        };
        let labels = OperationLabels { operation };
        self.metrics
            .catalog_duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .catalog_operations
            .get_or_create(&CatalogLabels { operation, outcome })
            .inc();
        result
    }

    /// The rows `query` answers, on a connection of the pool.
    pub(super) async fn rows(&self, query: &mut QueryBuilder<'_, D::Db>) -> Result<Vec<RowOf<D>>, CatalogError> {
        let mut connection = self.pool.acquire().await?;
        Ok(D::fetch(&mut connection, query).await?)
    }

    /// The one row `query` answers.
    pub(super) async fn one(&self, query: &mut QueryBuilder<'_, D::Db>) -> Result<RowOf<D>, CatalogError> {
        Ok(first(self.rows(query).await?)?)
    }

    /// The first row `query` answers, if any.
    pub(super) async fn row(&self, query: &mut QueryBuilder<'_, D::Db>) -> Result<Option<RowOf<D>>, CatalogError> {
        Ok(self.rows(query).await?.into_iter().next())
    }

    fn entries_changed(&self) {
        if let Some(entries) = &self.entries {
            entries.invalidate();
        }
    }
}

/// Pushes `AND` and the condition that selects `entries` on the columns of
/// the entries table named `alias`.
pub(super) fn push_entries<DB>(entries: Entries<'_>, query: &mut QueryBuilder<'_, DB>, alias: &str)
where
    DB: Database,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    match entries {
        Entries::One(path, entry) => {
            query
                .push(format!(" AND {alias}.path = "))
                .push_bind(path.as_str().to_owned());
            query.push(format!(" AND {alias}.entry = ")).push_bind(entry as i64);
        }
        Entries::Under(path) => {
            // Paths below `p` are exactly those in ["p/", "p0"): '0' follows '/' in ASCII.
            let path = path.as_str();
            query.push(format!(" AND ({alias}.path = ")).push_bind(path.to_owned());
            query
                .push(format!(" OR ({alias}.path >= "))
                .push_bind(format!("{path}/"));
            query
                .push(format!(" AND {alias}.path < "))
                .push_bind(format!("{path}0"));
            query.push("))");
        }
    }
}

#[async_trait]
impl<D: Dialect> Catalog for SqlCatalog<D>
where
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db> + ColumnIndex<RowOf<D>>,
    usize: ColumnIndex<RowOf<D>>,
{
    async fn ping(&self) -> Result<(), CatalogError> {
        self.metered("ping", async {
            self.rows(&mut QueryBuilder::new("SELECT 1")).await?;
            Ok(())
        })
        .await
    }

    async fn allocate_entry(&self, path: &AssetPath) -> Result<u64, CatalogError> {
        self.metered("allocate_entry", async {
            let mut query = QueryBuilder::new("INSERT INTO asset_paths (path, last_entry) VALUES (");
            query
                .push_bind(path.as_str().to_owned())
                .push(", 1) ON CONFLICT (path) DO UPDATE ");
            query.push("SET last_entry = asset_paths.last_entry + 1 RETURNING last_entry");
            let next: i64 = self.one(&mut query).await?.try_get(0)?;
            u64::try_from(next).map_err(|_| CatalogError::Corrupt("asset_paths.last_entry".into()))
        })
        .await
    }

    async fn insert_entry(&self, entry: &Entry, jobs: &[NewJob]) -> Result<(), CatalogError> {
        self.metered("insert_entry", async {
            let original = &entry.original;
            let mut query = QueryBuilder::new(format!("INSERT INTO entries ({COLUMNS}) VALUES ("));
            let mut values = query.separated(", ");
            values.push_bind(entry.path.as_str().to_owned());
            values.push_bind(entry.entry as i64);
            values.push_bind(entry.metadata.alt.clone());
            values.push_bind(to_json(&entry.metadata.labels));
            values.push_bind(to_json(&entry.metadata.tags));
            values.push_bind(original.content_type.clone());
            values.push_bind(i64::from(original.width));
            values.push_bind(i64::from(original.height));
            values.push_bind(original.bytes as i64);
            values.push_bind(original.sha256.clone());
            values.push_bind(original.object_key.as_str().to_owned());
            values.push_bind(original.object_key.bucket().map(str::to_owned));
            values.push_bind(entry.created_at.0);
            values.push_bind(entry.modified_at.0);
            values.push_bind(original.has_alpha);
            values.push_bind(i64::from(original.pages));
            values.push_bind(original.colour.name().to_owned());
            values.push_bind(entry.lqip.as_ref().map(to_json));
            values.push_bind(entry.purges as i64);
            query.push(") RETURNING id");

            let mut tx = self.begin_write().await?;
            let id: i64 = first(D::fetch(&mut tx, &mut query).await?)?.try_get(0)?;
            replace_labels::<D>(&mut tx, id, &entry.metadata).await?;
            insert_jobs::<D>(&mut tx, jobs).await?;
            write_messages::<D>(&mut tx, self.announce.messages(&Change::AssetCreated(entry))).await?;
            tx.commit().await?;
            self.entries_changed();
            Ok(())
        })
        .await
    }

    async fn find_entry(&self, path: &AssetPath, selection: &Selection) -> Result<Option<Arc<Entry>>, CatalogError> {
        // An answer remembered in memory is not an operation of the database.
        let generation = match self.entries.as_ref().map(|entries| entries.get(path, selection)) {
            Some(Ok(answer)) => return Ok(answer),
            Some(Err(generation)) => Some(generation),
            None => None,
        };
        self.metered("find_entry", async {
            let row = self.row(&mut entry_query::<D::Db>(path, selection)).await?;
            let answer = row.as_ref().map(entry_from_row).transpose()?.map(Arc::new);
            if let (Some(entries), Some(generation)) = (&self.entries, generation) {
                entries.keep(path, selection, generation, &answer);
            }
            Ok(answer)
        })
        .await
    }

    async fn list_entries(
        &self,
        prefix: Option<&AssetPath>,
        after: Option<&ListCursor>,
        limit: u32,
    ) -> Result<Vec<Entry>, CatalogError> {
        self.metered("list_entries", async {
            let rows = self.rows(&mut list_query::<D::Db>(prefix, after, limit)).await?;
            rows.iter().map(entry_from_row).collect()
        })
        .await
    }

    async fn update_metadata(
        &self,
        path: &AssetPath,
        entry: u64,
        metadata: &EntryMetadata,
        now: Timestamp,
    ) -> Result<Option<Entry>, CatalogError> {
        self.metered("update_metadata", async {
            let mut query = QueryBuilder::new("UPDATE entries SET alt = ");
            query.push_bind(metadata.alt.clone());
            query.push(", labels = ").push_bind(to_json(&metadata.labels));
            query.push(", tags = ").push_bind(to_json(&metadata.tags));
            // Strictly later than before, so that `modified` selects it even
            // within one millisecond of the last change.
            query.push(format!(", modified_at = {}(", D::GREATEST)).push_bind(now.0);
            query
                .push(", modified_at + 1) WHERE path = ")
                .push_bind(path.as_str().to_owned());
            query.push(" AND entry = ").push_bind(entry as i64);
            query.push(format!(" RETURNING id, {COLUMNS}"));

            let mut tx = self.begin_write().await?;
            let Some(row) = D::fetch(&mut tx, &mut query).await?.into_iter().next() else {
                return Ok(None);
            };
            replace_labels::<D>(&mut tx, row.try_get("id")?, metadata).await?;
            let updated = entry_from_row(&row)?;
            write_messages::<D>(&mut tx, self.announce.messages(&Change::AssetUpdated(&updated))).await?;
            tx.commit().await?;
            self.entries_changed();
            Ok(Some(updated))
        })
        .await
    }

    async fn delete_entry(&self, path: &AssetPath, entry: u64) -> Result<Option<Deleted>, CatalogError> {
        self.metered("delete_entry", async {
            Ok(self.delete(Entries::One(path, entry)).await?.into_iter().next())
        })
        .await
    }

    async fn delete_tree(&self, path: &AssetPath) -> Result<Vec<Deleted>, CatalogError> {
        self.metered("delete_tree", async { self.delete(Entries::Under(path)).await })
            .await
    }

    async fn purge_variants(&self, entries: Entries<'_>) -> Result<Purged, CatalogError> {
        self.metered("purge_variants", async {
            // Only made variants: one being made under a lease is finished by
            // its maker from the same original, as the next request would.
            let mut delete_variants = QueryBuilder::new(
                "DELETE FROM variants WHERE state = 'ready' AND EXISTS (SELECT 1 FROM entries e \
                 WHERE e.path = variants.path AND e.entry = variants.entry",
            );
            push_entries(entries, &mut delete_variants, "e");
            delete_variants.push(") RETURNING object_key, bucket");
            let mut count_purge = QueryBuilder::new("UPDATE entries SET purges = purges + 1 WHERE 1 = 1");
            push_entries(entries, &mut count_purge, "entries");
            count_purge.push(" RETURNING entry");

            let mut tx = self.begin_write().await?;
            let variant_rows = D::fetch(&mut tx, &mut delete_variants).await?;
            let entry_rows = D::fetch(&mut tx, &mut count_purge).await?;
            tx.commit().await?;
            self.entries_changed();
            let mut objects = Vec::with_capacity(variant_rows.len());
            for row in &variant_rows {
                let (key, bucket): (Option<String>, Option<String>) = (row.try_get(0)?, row.try_get(1)?);
                if let Some(key) = key.and_then(|key| ObjectKey::parse(bucket.as_deref(), &key)) {
                    objects.push(key);
                }
            }
            Ok(Purged {
                entries: entry_rows.len() as u64,
                objects,
            })
        })
        .await
    }

    async fn find_variant(&self, path: &AssetPath, entry: u64, key: &str) -> Result<Option<Variant>, CatalogError> {
        self.metered("find_variant", async {
            let mut query = QueryBuilder::new(format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE path = "));
            query.push_bind(path.as_str().to_owned());
            query.push(" AND entry = ").push_bind(entry as i64);
            D::push_key_match(&mut query, key);
            query.push(" AND state = 'ready'");
            let row = self.row(&mut query).await?;
            row.as_ref().map(variant_from_row).transpose()
        })
        .await
    }

    async fn claim_variant(
        &self,
        path: &AssetPath,
        entry: u64,
        key: &str,
        lease: Duration,
    ) -> Result<VariantClaim, CatalogError> {
        self.metered("claim_variant", async {
            // Inserting a pending row, or taking over one whose lease has
            // passed, is the claim: one statement, which takes the row's lock,
            // so exactly one of any concurrent claims returns a row.
            let token = LeaseToken::new();
            let mut query = QueryBuilder::new(format!(
                "INSERT INTO variants (path, entry, {}, state, lease_until, lease_token, created_at) VALUES (",
                D::KEY_COLUMNS
            ));
            query.push_bind(path.as_str().to_owned()).push(", ");
            query.push_bind(entry as i64).push(", ");
            D::push_key_values(&mut query, key);
            query.push(", 'pending', ");
            D::push_now(&mut query, lease);
            query.push(", ").push_bind(token.0).push(", ");
            D::push_now(&mut query, Duration::ZERO);
            query.push(format!(
                ") ON CONFLICT (path, entry, {}) DO UPDATE \
                 SET lease_until = excluded.lease_until, lease_token = excluded.lease_token \
                 WHERE variants.state = 'pending' AND variants.lease_until < ",
                D::KEY_CONFLICT
            ));
            D::push_now(&mut query, Duration::ZERO);
            query.push(" RETURNING lease_token");
            if self.row(&mut query).await?.is_some() {
                return Ok(VariantClaim::Claimed(token));
            }
            Ok(match self.find_variant(path, entry, key).await? {
                Some(variant) => VariantClaim::Ready(variant),
                None => VariantClaim::Busy,
            })
        })
        .await
    }

    async fn complete_variant(
        &self,
        path: &AssetPath,
        entry: u64,
        variant: &Variant,
        token: LeaseToken,
    ) -> Result<bool, CatalogError> {
        self.metered("complete_variant", async {
            let mut query = QueryBuilder::new("UPDATE variants SET state = 'ready', content_type = ");
            query.push_bind(variant.content_type.clone());
            query.push(", width = ").push_bind(i64::from(variant.width));
            query.push(", height = ").push_bind(i64::from(variant.height));
            query.push(", bytes = ").push_bind(variant.bytes as i64);
            query.push(", sha256 = ").push_bind(variant.sha256.clone());
            query
                .push(", object_key = ")
                .push_bind(variant.object_key.as_str().to_owned());
            query
                .push(", bucket = ")
                .push_bind(variant.object_key.bucket().map(str::to_owned));
            query.push(", created_at = ").push_bind(variant.created_at.0);
            query.push(", lease_token = NULL");
            push_pending_lease::<D>(&mut query, path, entry, &variant.key, token);

            let mut tx = self.begin_write().await?;
            let recorded = !D::fetch(&mut tx, &mut query).await?.is_empty();
            if recorded {
                let change = Change::VariantCreated { path, entry, variant };
                write_messages::<D>(&mut tx, self.announce.messages(&change)).await?;
            }
            tx.commit().await?;
            Ok(recorded)
        })
        .await
    }

    async fn abandon_variant(
        &self,
        path: &AssetPath,
        entry: u64,
        key: &str,
        token: LeaseToken,
        failure: Option<&str>,
    ) -> Result<(), CatalogError> {
        self.metered("abandon_variant", async {
            let mut query = QueryBuilder::new("DELETE FROM variants");
            push_pending_lease::<D>(&mut query, path, entry, key, token);

            let mut tx = self.begin_write().await?;
            let abandoned = !D::fetch(&mut tx, &mut query).await?.is_empty();
            if let (true, Some(error)) = (abandoned, failure) {
                let change = Change::VariantFailed {
                    path,
                    entry,
                    key,
                    error,
                };
                write_messages::<D>(&mut tx, self.announce.messages(&change)).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn count_variants(&self, path: &AssetPath, entry: u64) -> Result<u64, CatalogError> {
        self.metered("count_variants", async {
            let mut query = QueryBuilder::new("SELECT COUNT(*) FROM variants WHERE path = ");
            query.push_bind(path.as_str().to_owned());
            query.push(" AND entry = ").push_bind(entry as i64);
            let count: i64 = self.one(&mut query).await?.try_get(0)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn list_variants(&self, path: &AssetPath, entry: u64) -> Result<Vec<Variant>, CatalogError> {
        self.metered("list_variants", async {
            let mut query = QueryBuilder::new(format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE path = "));
            query.push_bind(path.as_str().to_owned());
            query.push(" AND entry = ").push_bind(entry as i64);
            query.push(" AND state = 'ready' ORDER BY created_at, key");
            let rows = self.rows(&mut query).await?;
            rows.iter().map(variant_from_row).collect()
        })
        .await
    }

    async fn queued_jobs(&self) -> Result<u64, CatalogError> {
        self.metered("queued_jobs", async {
            let mut query = QueryBuilder::new("SELECT COUNT(*) FROM jobs WHERE state = 'queued'");
            let count: i64 = self.one(&mut query).await?.try_get(0)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn queue_jobs(&self, jobs: &[NewJob]) -> Result<(), CatalogError> {
        self.metered("queue_jobs", async {
            let mut tx = self.begin_write().await?;
            insert_jobs::<D>(&mut tx, jobs).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn claim_job(&self, lock: Duration) -> Result<Option<Job>, CatalogError> {
        self.metered("claim_job", async {
            let token = LeaseToken::new();
            let mut query = QueryBuilder::new("UPDATE jobs SET locked_until = ");
            D::push_now(&mut query, lock);
            query.push(", lock_token = ").push_bind(token.0);
            query.push(
                ", attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= ",
            );
            D::push_now(&mut query, Duration::ZERO);
            query.push(" AND (locked_until IS NULL OR locked_until < ");
            D::push_now(&mut query, Duration::ZERO);
            query.push(format!(") ORDER BY run_at, id LIMIT 1{}) ", D::SKIP_LOCKED));
            query.push("RETURNING id, kind, payload, attempts");
            let row = self.row(&mut query).await?;
            row.as_ref().map(|row| job_from_row(row, token)).transpose()
        })
        .await
    }

    async fn finish_job(&self, job: &Job) -> Result<bool, CatalogError> {
        self.metered("finish_job", async {
            let mut query = QueryBuilder::new("DELETE FROM jobs");
            push_job_lock(&mut query, job);
            Ok(self.row(&mut query).await?.is_some())
        })
        .await
    }

    async fn retry_job(&self, job: &Job, delay: Duration, error: &str) -> Result<bool, CatalogError> {
        self.metered("retry_job", async {
            let mut query = QueryBuilder::new("UPDATE jobs SET run_at = ");
            D::push_now(&mut query, delay);
            query.push(", locked_until = NULL, lock_token = NULL, last_error = ");
            query.push_bind(error.to_owned());
            push_job_lock(&mut query, job);
            Ok(self.row(&mut query).await?.is_some())
        })
        .await
    }

    async fn fail_job(&self, job: &Job, error: &str) -> Result<bool, CatalogError> {
        self.metered("fail_job", async {
            let mut query = QueryBuilder::new(
                "UPDATE jobs SET state = 'failed', locked_until = NULL, lock_token = NULL, last_error = ",
            );
            query.push_bind(error.to_owned());
            push_job_lock(&mut query, job);
            Ok(self.row(&mut query).await?.is_some())
        })
        .await
    }
}

/// Pushes the condition that selects the pending variant `key` while it is
/// still held under `token`.
fn push_pending_lease<D: Dialect>(
    query: &mut QueryBuilder<'_, D::Db>,
    path: &AssetPath,
    entry: u64,
    key: &str,
    token: LeaseToken,
) where
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
{
    query.push(" WHERE path = ").push_bind(path.as_str().to_owned());
    query.push(" AND entry = ").push_bind(entry as i64);
    D::push_key_match(query, key);
    query
        .push(" AND state = 'pending' AND lease_token = ")
        .push_bind(token.0);
    query.push(" RETURNING entry");
}

/// Pushes the condition that selects `job` while it is still held under
/// the lock it was taken with.
fn push_job_lock<DB>(query: &mut QueryBuilder<'_, DB>, job: &Job)
where
    DB: Database,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    query.push(" WHERE id = ").push_bind(job.id);
    query.push(" AND lock_token = ").push_bind(job.lock.0);
    query.push(" RETURNING id");
}

/// Writes `messages` on `tx`, in the transaction of their change.
async fn write_messages<D: Dialect>(
    tx: &mut <D::Db as Database>::Connection,
    messages: Vec<NewMessage>,
) -> Result<(), CatalogError>
where
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
{
    // Bounded batches: a tree deleted at once announces one message per entry.
    for batch in messages.chunks(500) {
        let now = Timestamp::now().0;
        let mut query = QueryBuilder::new(
            "INSERT INTO webhook_messages (endpoint, message_id, event, body, next_attempt_at, created_at) ",
        );
        query.push_values(batch, |mut row, message| {
            row.push_bind(message.endpoint.clone())
                .push_bind(message.message_id.clone())
                .push_bind(message.event.to_owned())
                .push_bind(message.body.clone())
                .push_bind(now)
                .push_bind(now);
        });
        D::fetch(tx, &mut query).await?;
    }
    Ok(())
}

async fn insert_jobs<D: Dialect>(tx: &mut <D::Db as Database>::Connection, jobs: &[NewJob]) -> Result<(), CatalogError>
where
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
{
    for job in jobs {
        let mut query = QueryBuilder::new("INSERT INTO jobs (kind, payload, run_at, created_at) VALUES (");
        query.push_bind(job.kind.to_owned()).push(", ");
        query.push_bind(job.payload.clone()).push(", ");
        D::push_now(&mut query, Duration::ZERO);
        query.push(", ");
        D::push_now(&mut query, Duration::ZERO);
        query.push(")");
        D::fetch(tx, &mut query).await?;
    }
    Ok(())
}

async fn replace_labels<D: Dialect>(
    tx: &mut <D::Db as Database>::Connection,
    id: i64,
    metadata: &EntryMetadata,
) -> Result<(), CatalogError>
where
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
{
    let mut query = QueryBuilder::new("DELETE FROM entry_labels WHERE entry_id = ");
    query.push_bind(id);
    D::fetch(tx, &mut query).await?;
    if metadata.labels.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::new("INSERT INTO entry_labels (entry_id, key, value) ");
    query.push_values(&metadata.labels, |mut row, (key, value)| {
        row.push_bind(id).push_bind(key.clone()).push_bind(value.clone());
    });
    D::fetch(tx, &mut query).await?;
    Ok(())
}

/// The first of `rows`, which a statement always answers.
pub(super) fn first<R>(rows: Vec<R>) -> Result<R, sqlx::Error> {
    rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

impl<D: Dialect> SqlCatalog<D>
where
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> bool: Decode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> &'q str: ColumnIndex<RowOf<D>>,
    usize: ColumnIndex<RowOf<D>>,
{
    /// Deletes the `doomed` entries and their variants in one transaction,
    /// returning every object they owned.
    async fn delete(&self, doomed: Entries<'_>) -> Result<Vec<Deleted>, CatalogError> {
        let mut select_variants = QueryBuilder::new(
            "SELECT v.path, v.entry, v.object_key, v.bucket FROM variants v \
             JOIN entries e ON e.path = v.path AND e.entry = v.entry WHERE v.object_key IS NOT NULL",
        );
        push_entries(doomed, &mut select_variants, "e");
        let mut delete_variants = QueryBuilder::new(
            "DELETE FROM variants WHERE EXISTS (SELECT 1 FROM entries e \
             WHERE e.path = variants.path AND e.entry = variants.entry",
        );
        push_entries(doomed, &mut delete_variants, "e");
        delete_variants.push(")");
        let mut delete_entries = QueryBuilder::new("DELETE FROM entries WHERE 1 = 1");
        push_entries(doomed, &mut delete_entries, "entries");
        delete_entries.push(format!(" RETURNING {COLUMNS}"));

        let mut tx = self.begin_write().await?;
        let variant_rows = D::fetch(&mut tx, &mut select_variants).await?;
        D::fetch(&mut tx, &mut delete_variants).await?;
        let entry_rows = D::fetch(&mut tx, &mut delete_entries).await?;
        let mut deleted: Vec<Deleted> = entry_rows
            .iter()
            .map(|row| {
                entry_from_row(row).map(|entry| Deleted {
                    objects: vec![entry.original.object_key.clone()],
                    entry,
                })
            })
            .collect::<Result<_, _>>()?;
        let messages = deleted
            .iter()
            .flat_map(|gone| self.announce.messages(&Change::AssetDeleted(&gone.entry)))
            .collect();
        write_messages::<D>(&mut tx, messages).await?;
        tx.commit().await?;
        self.entries_changed();

        for row in &variant_rows {
            let (path, number): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            let (key, bucket): (String, Option<String>) = (row.try_get(2)?, row.try_get(3)?);
            let owner = deleted
                .iter_mut()
                .find(|d| d.entry.path.as_str() == path && d.entry.entry as i64 == number);
            if let (Some(owner), Some(key)) = (owner, ObjectKey::parse(bucket.as_deref(), &key)) {
                owner.objects.push(key);
            }
        }
        Ok(deleted)
    }
}
