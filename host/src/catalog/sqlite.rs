//! The SQLite catalog: the embedded default, one file, WAL mode.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::{Catalog, CatalogError, Entry, EntryMetadata, Original, Selection, Timestamp};
use crate::address::{AssetPath, Ordering};
use crate::store::ObjectKey;

pub struct SqliteCatalog {
    pool: SqlitePool,
}

const COLUMNS: &str = "path, entry, alt, labels, tags, content_type, width, height, bytes, sha256, \
                       object_key, created_at, modified_at";

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
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| CatalogError::Database(sqlx::Error::Io(e)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.unwrap_or(8))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

fn entry_from_row(row: &SqliteRow) -> Result<Entry, CatalogError> {
    let corrupt = |what: &str| CatalogError::Corrupt(what.to_owned());
    let path: String = row.try_get("path")?;
    let labels: String = row.try_get("labels")?;
    let tags: String = row.try_get("tags")?;
    let object_key: String = row.try_get("object_key")?;
    let number = |column: &str| -> Result<u64, CatalogError> {
        u64::try_from(row.try_get::<i64, _>(column)?).map_err(|_| corrupt(column))
    };
    Ok(Entry {
        path: AssetPath::parse(&path).map_err(|_| corrupt("path"))?,
        entry: number("entry")?,
        metadata: EntryMetadata {
            alt: row.try_get("alt")?,
            labels: serde_json::from_str(&labels).map_err(|_| corrupt("labels"))?,
            tags: serde_json::from_str(&tags).map_err(|_| corrupt("tags"))?,
        },
        original: Original {
            content_type: row.try_get("content_type")?,
            width: u32::try_from(number("width")?).map_err(|_| corrupt("width"))?,
            height: u32::try_from(number("height")?).map_err(|_| corrupt("height"))?,
            bytes: number("bytes")?,
            sha256: row.try_get("sha256")?,
            object_key: ObjectKey::parse(&object_key).ok_or_else(|| corrupt("object_key"))?,
        },
        created_at: Timestamp(row.try_get("created_at")?),
        modified_at: Timestamp(row.try_get("modified_at")?),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Maps of strings and lists of strings always serialise.
    serde_json::to_string(value).unwrap_or_default()
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

    async fn insert_entry(&self, entry: &Entry) -> Result<(), CatalogError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO entries (path, entry, alt, labels, tags, content_type, width, height, bytes, sha256, \
             object_key, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        .bind(entry.created_at.0)
        .bind(entry.modified_at.0)
        .fetch_one(&mut *tx)
        .await?;
        replace_labels(&mut tx, id, &entry.metadata).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_entry(
        &self,
        path: &AssetPath,
        selection: &Selection,
    ) -> Result<Option<Entry>, CatalogError> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM entries e WHERE e.path = "));
        query.push_bind(path.as_str());
        if let Ordering::Entry(n) = selection.ordering {
            query.push(" AND e.entry = ").push_bind(n as i64);
        }
        for (key, value) in &selection.labels {
            query.push(
                " AND EXISTS (SELECT 1 FROM entry_labels l WHERE l.entry_id = e.id AND l.key = ",
            );
            query
                .push_bind(key)
                .push(" AND l.value = ")
                .push_bind(value)
                .push(")");
        }
        query.push(match selection.ordering {
            Ordering::Modified => " ORDER BY e.modified_at DESC, e.entry DESC LIMIT 1",
            Ordering::New | Ordering::Entry(_) => " ORDER BY e.entry DESC LIMIT 1",
        });
        let row = query.build().fetch_optional(&self.pool).await?;
        row.as_ref().map(entry_from_row).transpose()
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
        entry_from_row(&row).map(Some)
    }

    async fn delete_entry(
        &self,
        path: &AssetPath,
        entry: u64,
    ) -> Result<Option<Entry>, CatalogError> {
        let row = sqlx::query(&format!(
            "DELETE FROM entries WHERE path = ? AND entry = ? RETURNING {COLUMNS}"
        ))
        .bind(path.as_str())
        .bind(entry as i64)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(entry_from_row).transpose()
    }

    async fn delete_tree(&self, path: &AssetPath) -> Result<Vec<Entry>, CatalogError> {
        // Paths below `p` are exactly those in ["p/", "p0"): '0' follows '/' in ASCII.
        let rows = sqlx::query(&format!(
            "DELETE FROM entries WHERE path = ? OR (path >= ? AND path < ?) RETURNING {COLUMNS}"
        ))
        .bind(path.as_str())
        .bind(format!("{}/", path.as_str()))
        .bind(format!("{}0", path.as_str()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }
}
