//! The SQLite catalog: the embedded default, one file, WAL mode.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool};

use super::entry_cache::EntryCache;
use super::rows::{
    COLUMNS, ListCursor, VARIANT_COLUMNS, entry_from_row, entry_query, job_from_row, list_query, to_json,
    variant_from_row,
};
use super::{
    Catalog, CatalogError, Deleted, Entry, EntryMetadata, Job, LeaseToken, NewJob, Selection, Timestamp, Variant,
    VariantClaim,
};
use crate::address::AssetPath;
use crate::store::ObjectKey;

pub struct SqliteCatalog {
    pool: SqlitePool,
    entries: EntryCache,
    /// An exclusive lock on `{database}.lock`, held while the catalog lives:
    /// one process per SQLite file, which is what makes `entries` sound.
    /// (A separate file, because closing any descriptor of the database
    /// itself would drop SQLite's own POSIX locks.)
    _one_process: Option<std::fs::File>,
}

impl SqliteCatalog {
    pub async fn open(url: &str, max_connections: Option<u32>) -> Result<Self, CatalogError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable across application crashes and
            // loses at most the last transactions on power loss.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let file = options.get_filename();
        if let Some(parent) = file.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| CatalogError::Database(sqlx::Error::Io(e)))?;
        }
        let one_process = if file.as_os_str() == ":memory:" {
            None
        } else {
            Some(lock_exclusively(file)?)
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.unwrap_or(8))
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            entries: EntryCache::new(),
            _one_process: one_process,
        })
    }

    async fn query_entry(&self, path: &AssetPath, selection: &Selection) -> Result<Option<Entry>, CatalogError> {
        let row = entry_query::<Sqlite>(path, selection)
            .build()
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(entry_from_row).transpose()
    }
}

fn lock_exclusively(database: &std::path::Path) -> Result<std::fs::File, CatalogError> {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    let io = |e| CatalogError::Database(sqlx::Error::Io(e));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(io)?;
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => CatalogError::InUse(database.display().to_string()),
        std::fs::TryLockError::Error(e) => io(e),
    })?;
    Ok(file)
}

/// Deletes the entries matched by `condition` (over columns `path` and
/// `entry`) and their variants in one transaction, returning every object
/// they owned.
async fn delete_where(pool: &SqlitePool, condition: &str, binds: &[Bind]) -> Result<Vec<Deleted>, CatalogError> {
    let of_entries = condition.replace("path", "e.path").replace("entry", "e.entry");
    let select_variants = format!(
        "SELECT v.path, v.entry, v.object_key, v.bucket FROM variants v \
         JOIN entries e ON e.path = v.path AND e.entry = v.entry \
         WHERE v.object_key IS NOT NULL AND {of_entries}"
    );
    let delete_variants = format!(
        "DELETE FROM variants WHERE EXISTS (SELECT 1 FROM entries e WHERE e.path = variants.path \
         AND e.entry = variants.entry AND {of_entries})"
    );
    let delete_entries = format!("DELETE FROM entries WHERE {condition} RETURNING {COLUMNS}");
    let mut tx = pool.begin().await?;
    let variant_rows = bind_all(sqlx::query(&select_variants), binds)
        .fetch_all(&mut *tx)
        .await?;
    bind_all(sqlx::query(&delete_variants), binds).execute(&mut *tx).await?;
    let entry_rows = bind_all(sqlx::query(&delete_entries), binds)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut deleted: Vec<Deleted> = entry_rows
        .iter()
        .map(|row| {
            entry_from_row(row).map(|entry| Deleted {
                objects: vec![entry.original.object_key.clone()],
                entry,
            })
        })
        .collect::<Result<_, _>>()?;
    for row in &variant_rows {
        let (path, number, key): (String, i64, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let bucket: Option<String> = row.try_get(3)?;
        let owner = deleted
            .iter_mut()
            .find(|d| d.entry.path.as_str() == path && d.entry.entry as i64 == number);
        if let (Some(owner), Some(key)) = (owner, ObjectKey::parse(bucket.as_deref(), &key)) {
            owner.objects.push(key);
        }
    }
    Ok(deleted)
}

enum Bind {
    Text(String),
    Int(i64),
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Int(n) => query.bind(*n),
        };
    }
    query
}

async fn replace_labels(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    id: i64,
    metadata: &EntryMetadata,
) -> Result<(), CatalogError> {
    sqlx::query("DELETE FROM entry_labels WHERE entry_id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for (key, value) in &metadata.labels {
        sqlx::query("INSERT INTO entry_labels (entry_id, key, value) VALUES (?, ?, ?)")
            .bind(id)
            .bind(key)
            .bind(value)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl Catalog for SqliteCatalog {
    async fn ping(&self) -> Result<(), CatalogError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn allocate_entry(&self, path: &AssetPath) -> Result<u64, CatalogError> {
        let next: i64 = sqlx::query_scalar(
            "INSERT INTO asset_paths (path, last_entry) VALUES (?, 1) \
             ON CONFLICT (path) DO UPDATE SET last_entry = last_entry + 1 RETURNING last_entry",
        )
        .bind(path.as_str())
        .fetch_one(&self.pool)
        .await?;
        u64::try_from(next).map_err(|_| CatalogError::Corrupt("asset_paths.last_entry".into()))
    }

    async fn insert_entry(&self, entry: &Entry, jobs: &[NewJob]) -> Result<(), CatalogError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO entries (path, entry, alt, labels, tags, content_type, width, height, bytes, sha256, \
             object_key, bucket, created_at, modified_at, has_alpha, pages, colour, lqip) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(entry.path.as_str())
        .bind(entry.entry as i64)
        .bind(&entry.metadata.alt)
        .bind(to_json(&entry.metadata.labels))
        .bind(to_json(&entry.metadata.tags))
        .bind(&entry.original.content_type)
        .bind(entry.original.width)
        .bind(entry.original.height)
        .bind(entry.original.bytes as i64)
        .bind(&entry.original.sha256)
        .bind(entry.original.object_key.as_str())
        .bind(entry.original.object_key.bucket())
        .bind(entry.created_at.0)
        .bind(entry.modified_at.0)
        .bind(entry.original.has_alpha)
        .bind(entry.original.pages)
        .bind(entry.original.colour.name())
        .bind(entry.lqip.as_ref().map(to_json))
        .fetch_one(&mut *tx)
        .await?;
        replace_labels(&mut tx, id, &entry.metadata).await?;
        for job in jobs {
            sqlx::query("INSERT INTO jobs (kind, payload, run_at, created_at) VALUES (?, ?, ?, ?)")
                .bind(job.kind)
                .bind(&job.payload)
                .bind(entry.created_at.0)
                .bind(entry.created_at.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.entries.invalidate();
        Ok(())
    }

    async fn find_entry(&self, path: &AssetPath, selection: &Selection) -> Result<Option<Arc<Entry>>, CatalogError> {
        let generation = match self.entries.get(path, selection) {
            Ok(answer) => return Ok(answer),
            Err(generation) => generation,
        };
        let answer = self.query_entry(path, selection).await?.map(Arc::new);
        self.entries.keep(path, selection, generation, &answer);
        Ok(answer)
    }

    async fn list_entries(
        &self,
        prefix: Option<&AssetPath>,
        after: Option<&ListCursor>,
        limit: u32,
    ) -> Result<Vec<Entry>, CatalogError> {
        let rows = list_query::<Sqlite>(prefix, after, limit)
            .build()
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn update_metadata(
        &self,
        path: &AssetPath,
        entry: u64,
        metadata: &EntryMetadata,
        now: Timestamp,
    ) -> Result<Option<Entry>, CatalogError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE entries SET alt = ?, labels = ?, tags = ?, modified_at = MAX(?, modified_at + 1) \
             WHERE path = ? AND entry = ? RETURNING id, {COLUMNS}"
        ))
        .bind(&metadata.alt)
        .bind(to_json(&metadata.labels))
        .bind(to_json(&metadata.tags))
        .bind(now.0)
        .bind(path.as_str())
        .bind(entry as i64)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        replace_labels(&mut tx, row.try_get("id")?, metadata).await?;
        tx.commit().await?;
        self.entries.invalidate();
        entry_from_row(&row).map(Some)
    }

    async fn delete_entry(&self, path: &AssetPath, entry: u64) -> Result<Option<Deleted>, CatalogError> {
        let binds = [Bind::Text(path.as_str().to_owned()), Bind::Int(entry as i64)];
        let deleted = delete_where(&self.pool, "path = ? AND entry = ?", &binds).await;
        self.entries.invalidate();
        Ok(deleted?.into_iter().next())
    }

    async fn delete_tree(&self, path: &AssetPath) -> Result<Vec<Deleted>, CatalogError> {
        // Paths below `p` are exactly those in ["p/", "p0"): '0' follows '/' in ASCII.
        let binds = [
            Bind::Text(path.as_str().to_owned()),
            Bind::Text(format!("{}/", path.as_str())),
            Bind::Text(format!("{}0", path.as_str())),
        ];
        let deleted = delete_where(&self.pool, "(path = ? OR (path >= ? AND path < ?))", &binds).await;
        self.entries.invalidate();
        deleted
    }

    async fn find_variant(&self, path: &AssetPath, entry: u64, key: &str) -> Result<Option<Variant>, CatalogError> {
        let row = sqlx::query(&format!(
            "SELECT {VARIANT_COLUMNS} FROM variants WHERE path = ? AND entry = ? AND key = ? AND state = 'ready'"
        ))
        .bind(path.as_str())
        .bind(entry as i64)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(variant_from_row).transpose()
    }

    async fn claim_variant(
        &self,
        path: &AssetPath,
        entry: u64,
        key: &str,
        lease: Duration,
    ) -> Result<VariantClaim, CatalogError> {
        // Inserting a pending row, or taking over one whose lease has
        // passed, is the claim; SQLite runs the statement atomically.
        let (token, now) = (LeaseToken::new(), Timestamp::now());
        let claimed = sqlx::query(
            "INSERT INTO variants (path, entry, key, state, lease_until, lease_token, created_at) \
             VALUES (?, ?, ?, 'pending', ?, ?, ?) \
             ON CONFLICT (path, entry, key) DO UPDATE \
             SET lease_until = excluded.lease_until, lease_token = excluded.lease_token \
             WHERE variants.state = 'pending' AND variants.lease_until < ? RETURNING key",
        )
        .bind(path.as_str())
        .bind(entry as i64)
        .bind(key)
        .bind(now.after(lease).0)
        .bind(token.0)
        .bind(now.0)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        if claimed.is_some() {
            return Ok(VariantClaim::Claimed(token));
        }
        Ok(match self.find_variant(path, entry, key).await? {
            Some(variant) => VariantClaim::Ready(variant),
            None => VariantClaim::Busy,
        })
    }

    async fn complete_variant(
        &self,
        path: &AssetPath,
        entry: u64,
        variant: &Variant,
        token: LeaseToken,
    ) -> Result<bool, CatalogError> {
        let done = sqlx::query(
            "UPDATE variants SET state = 'ready', content_type = ?, width = ?, height = ?, bytes = ?, \
             sha256 = ?, object_key = ?, bucket = ?, created_at = ?, lease_token = NULL \
             WHERE path = ? AND entry = ? AND key = ? AND state = 'pending' AND lease_token = ?",
        )
        .bind(&variant.content_type)
        .bind(variant.width)
        .bind(variant.height)
        .bind(variant.bytes as i64)
        .bind(&variant.sha256)
        .bind(variant.object_key.as_str())
        .bind(variant.object_key.bucket())
        .bind(variant.created_at.0)
        .bind(path.as_str())
        .bind(entry as i64)
        .bind(&variant.key)
        .bind(token.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn abandon_variant(
        &self,
        path: &AssetPath,
        entry: u64,
        key: &str,
        token: LeaseToken,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            "DELETE FROM variants WHERE path = ? AND entry = ? AND key = ? AND state = 'pending' \
             AND lease_token = ?",
        )
        .bind(path.as_str())
        .bind(entry as i64)
        .bind(key)
        .bind(token.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn count_variants(&self, path: &AssetPath, entry: u64) -> Result<u64, CatalogError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM variants WHERE path = ? AND entry = ?")
            .bind(path.as_str())
            .bind(entry as i64)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn list_variants(&self, path: &AssetPath, entry: u64) -> Result<Vec<Variant>, CatalogError> {
        let rows = sqlx::query(&format!(
            "SELECT {VARIANT_COLUMNS} FROM variants WHERE path = ? AND entry = ? AND state = 'ready' \
             ORDER BY created_at, key"
        ))
        .bind(path.as_str())
        .bind(entry as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(variant_from_row).collect()
    }

    async fn claim_job(&self, lock: Duration) -> Result<Option<Job>, CatalogError> {
        let (token, now) = (LeaseToken::new(), Timestamp::now());
        let row = sqlx::query(
            "UPDATE jobs SET locked_until = ?, lock_token = ?, attempts = attempts + 1 WHERE id = ( \
               SELECT id FROM jobs WHERE state = 'queued' AND run_at <= ? \
               AND (locked_until IS NULL OR locked_until < ?) ORDER BY run_at, id LIMIT 1) \
             RETURNING id, kind, payload, attempts",
        )
        .bind(now.after(lock).0)
        .bind(token.0)
        .bind(now.0)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|row| job_from_row(row, token)).transpose()
    }

    async fn finish_job(&self, job: &Job) -> Result<bool, CatalogError> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = ? AND lock_token = ?")
            .bind(job.id)
            .bind(job.lock.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn retry_job(&self, job: &Job, delay: Duration, error: &str) -> Result<bool, CatalogError> {
        let done = sqlx::query(
            "UPDATE jobs SET run_at = ?, locked_until = NULL, lock_token = NULL, last_error = ? \
             WHERE id = ? AND lock_token = ?",
        )
        .bind(Timestamp::now().after(delay).0)
        .bind(error)
        .bind(job.id)
        .bind(job.lock.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_job(&self, job: &Job, error: &str) -> Result<bool, CatalogError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'failed', locked_until = NULL, lock_token = NULL, last_error = ? \
             WHERE id = ? AND lock_token = ?",
        )
        .bind(error)
        .bind(job.id)
        .bind(job.lock.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
