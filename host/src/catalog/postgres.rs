//! The PostgreSQL catalog: for several Kiln processes sharing one database.
//! The same tables and behaviour as the SQLite catalog; coordination relies
//! on single-statement upserts and `FOR UPDATE SKIP LOCKED`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row};

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

pub struct PostgresCatalog {
    pool: PgPool,
}

impl PostgresCatalog {
    pub async fn open(url: &str, max_connections: Option<u32>) -> Result<Self, CatalogError> {
        // A statement that hangs (a database that stopped answering without
        // closing its connections) is cut off rather than holding a request.
        let options = PgConnectOptions::from_str(url)?.options([("statement_timeout", "15000")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.unwrap_or(16))
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

/// Deletes the entries matched by `condition` (over columns `path` and
/// `entry`) and their variants in one transaction, returning every object
/// they owned.
async fn delete_where(pool: &PgPool, condition: &str, binds: &[Bind]) -> Result<Vec<Deleted>, CatalogError> {
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

/// The database's clock in Unix milliseconds: leases and job locks are
/// timed by it, so that processes whose own clocks differ agree on them.
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Variants are indexed by the SHA-256 of their key, which can outgrow a
/// btree entry.
fn key_hash(key: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).to_vec()
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Int(n) => query.bind(*n),
        };
    }
    query
}

async fn replace_labels(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    id: i64,
    metadata: &EntryMetadata,
) -> Result<(), CatalogError> {
    sqlx::query("DELETE FROM entry_labels WHERE entry_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for (key, value) in &metadata.labels {
        sqlx::query("INSERT INTO entry_labels (entry_id, key, value) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(key)
            .bind(value)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl Catalog for PostgresCatalog {
    async fn ping(&self) -> Result<(), CatalogError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn allocate_entry(&self, path: &AssetPath) -> Result<u64, CatalogError> {
        let next: i64 = sqlx::query_scalar(
            "INSERT INTO asset_paths (path, last_entry) VALUES ($1, 1) \
             ON CONFLICT (path) DO UPDATE SET last_entry = asset_paths.last_entry + 1 RETURNING last_entry",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id",
        )
        .bind(entry.path.as_str())
        .bind(entry.entry as i64)
        .bind(&entry.metadata.alt)
        .bind(to_json(&entry.metadata.labels))
        .bind(to_json(&entry.metadata.tags))
        .bind(&entry.original.content_type)
        .bind(i64::from(entry.original.width))
        .bind(i64::from(entry.original.height))
        .bind(entry.original.bytes as i64)
        .bind(&entry.original.sha256)
        .bind(entry.original.object_key.as_str())
        .bind(entry.original.object_key.bucket())
        .bind(entry.created_at.0)
        .bind(entry.modified_at.0)
        .bind(entry.original.has_alpha)
        .bind(i64::from(entry.original.pages))
        .bind(entry.original.colour.name())
        .bind(entry.lqip.as_ref().map(to_json))
        .fetch_one(&mut *tx)
        .await?;
        replace_labels(&mut tx, id, &entry.metadata).await?;
        for job in jobs {
            sqlx::query(&format!(
                "INSERT INTO jobs (kind, payload, run_at, created_at) VALUES ($1, $2, {NOW}, {NOW})"
            ))
            .bind(job.kind)
            .bind(&job.payload)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn find_entry(&self, path: &AssetPath, selection: &Selection) -> Result<Option<Arc<Entry>>, CatalogError> {
        let row = entry_query::<Postgres>(path, selection)
            .build()
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|row| entry_from_row(row).map(Arc::new)).transpose()
    }

    async fn list_entries(
        &self,
        prefix: Option<&AssetPath>,
        after: Option<&ListCursor>,
        limit: u32,
    ) -> Result<Vec<Entry>, CatalogError> {
        let rows = list_query::<Postgres>(prefix, after, limit)
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
            "UPDATE entries SET alt = $1, labels = $2, tags = $3, modified_at = GREATEST($4, modified_at + 1) \
             WHERE path = $5 AND entry = $6 RETURNING id, {COLUMNS}"
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
        entry_from_row(&row).map(Some)
    }

    async fn delete_entry(&self, path: &AssetPath, entry: u64) -> Result<Option<Deleted>, CatalogError> {
        let binds = [Bind::Text(path.as_str().to_owned()), Bind::Int(entry as i64)];
        Ok(delete_where(&self.pool, "path = $1 AND entry = $2", &binds)
            .await?
            .into_iter()
            .next())
    }

    async fn delete_tree(&self, path: &AssetPath) -> Result<Vec<Deleted>, CatalogError> {
        // Paths below `p` are exactly those in ["p/", "p0"): '0' follows '/' in ASCII.
        let binds = [
            Bind::Text(path.as_str().to_owned()),
            Bind::Text(format!("{}/", path.as_str())),
            Bind::Text(format!("{}0", path.as_str())),
        ];
        delete_where(&self.pool, "(path = $1 OR (path >= $2 AND path < $3))", &binds).await
    }

    async fn find_variant(&self, path: &AssetPath, entry: u64, key: &str) -> Result<Option<Variant>, CatalogError> {
        let row = sqlx::query(&format!(
            "SELECT {VARIANT_COLUMNS} FROM variants \
             WHERE path = $1 AND entry = $2 AND key_hash = $3 AND state = 'ready'"
        ))
        .bind(path.as_str())
        .bind(entry as i64)
        .bind(key_hash(key))
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
        // passed, is the claim: the upsert takes the row lock, so exactly
        // one of any concurrent claims returns a row. Times are the
        // database's, shared by every process.
        let token = LeaseToken::new();
        let claimed = sqlx::query(&format!(
            "INSERT INTO variants (path, entry, key, key_hash, state, lease_until, lease_token, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', {NOW} + $5, $6, {NOW}) \
             ON CONFLICT (path, entry, key_hash) DO UPDATE \
             SET lease_until = excluded.lease_until, lease_token = excluded.lease_token \
             WHERE variants.state = 'pending' AND variants.lease_until < {NOW} RETURNING key"
        ))
        .bind(path.as_str())
        .bind(entry as i64)
        .bind(key)
        .bind(key_hash(key))
        .bind(millis(lease))
        .bind(token.0)
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
            "UPDATE variants SET state = 'ready', content_type = $1, width = $2, height = $3, bytes = $4, \
             sha256 = $5, object_key = $6, bucket = $7, created_at = $8, lease_token = NULL \
             WHERE path = $9 AND entry = $10 AND key_hash = $11 AND state = 'pending' AND lease_token = $12",
        )
        .bind(&variant.content_type)
        .bind(i64::from(variant.width))
        .bind(i64::from(variant.height))
        .bind(variant.bytes as i64)
        .bind(&variant.sha256)
        .bind(variant.object_key.as_str())
        .bind(variant.object_key.bucket())
        .bind(variant.created_at.0)
        .bind(path.as_str())
        .bind(entry as i64)
        .bind(key_hash(&variant.key))
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
            "DELETE FROM variants WHERE path = $1 AND entry = $2 AND key_hash = $3 AND state = 'pending' \
             AND lease_token = $4",
        )
        .bind(path.as_str())
        .bind(entry as i64)
        .bind(key_hash(key))
        .bind(token.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn count_variants(&self, path: &AssetPath, entry: u64) -> Result<u64, CatalogError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM variants WHERE path = $1 AND entry = $2")
            .bind(path.as_str())
            .bind(entry as i64)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn list_variants(&self, path: &AssetPath, entry: u64) -> Result<Vec<Variant>, CatalogError> {
        let rows = sqlx::query(&format!(
            "SELECT {VARIANT_COLUMNS} FROM variants WHERE path = $1 AND entry = $2 AND state = 'ready' \
             ORDER BY created_at, key"
        ))
        .bind(path.as_str())
        .bind(entry as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(variant_from_row).collect()
    }

    async fn claim_job(&self, lock: Duration) -> Result<Option<Job>, CatalogError> {
        let token = LeaseToken::new();
        let row = sqlx::query(&format!(
            "UPDATE jobs SET locked_until = {NOW} + $1, lock_token = $2, attempts = attempts + 1 WHERE id = ( \
               SELECT id FROM jobs WHERE state = 'queued' AND run_at <= {NOW} \
               AND (locked_until IS NULL OR locked_until < {NOW}) ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, kind, payload, attempts"
        ))
        .bind(millis(lock))
        .bind(token.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|row| job_from_row(row, token)).transpose()
    }

    async fn finish_job(&self, job: &Job) -> Result<bool, CatalogError> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND lock_token = $2")
            .bind(job.id)
            .bind(job.lock.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn retry_job(&self, job: &Job, delay: Duration, error: &str) -> Result<bool, CatalogError> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET run_at = {NOW} + $1, locked_until = NULL, lock_token = NULL, last_error = $2 \
             WHERE id = $3 AND lock_token = $4"
        ))
        .bind(millis(delay))
        .bind(error)
        .bind(job.id)
        .bind(job.lock.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_job(&self, job: &Job, error: &str) -> Result<bool, CatalogError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'failed', locked_until = NULL, lock_token = NULL, last_error = $1 \
             WHERE id = $2 AND lock_token = $3",
        )
        .bind(error)
        .bind(job.id)
        .bind(job.lock.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
