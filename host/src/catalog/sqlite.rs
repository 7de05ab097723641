//! The SQLite catalog: the embedded default, one file, WAL mode, one
//! process.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite};

use super::entry_cache::EntryCache;
use super::sql::{Dialect, SqlCatalog};
use super::{Announce, CatalogError, Timestamp};
use crate::metrics::Metrics;

pub type SqliteCatalog = SqlCatalog<SqliteDialect>;

pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = Sqlite;
    const GREATEST: &'static str = "MAX";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const SKIP_LOCKED: &'static str = "";
    const KEY_COLUMNS: &'static str = "key";
    const KEY_CONFLICT: &'static str = "key";

    /// This process's clock: it is the only one that uses the file.
    fn push_now(query: &mut QueryBuilder<'_, Sqlite>, offset: Duration) {
        query.push_bind(Timestamp::now().after(offset).0);
    }

    fn push_key_values(query: &mut QueryBuilder<'_, Sqlite>, key: &str) {
        query.push_bind(key.to_owned());
    }

    fn push_key_match(query: &mut QueryBuilder<'_, Sqlite>, key: &str) {
        query.push(" AND key = ").push_bind(key.to_owned());
    }
    fn fetch<'a>(
        connection: &'a mut SqliteConnection,
        query: &'a mut QueryBuilder<'_, Sqlite>,
    ) -> BoxFuture<'a, Result<Vec<<Sqlite as sqlx::Database>::Row>, sqlx::Error>> {
        Box::pin(query.build().fetch_all(connection))
    }
}

/// Opens (creating it if missing) the SQLite catalog at `url` and brings
/// its schema up to date.
pub async fn open(
    url: &str,
    max_connections: Option<u32>,
    announce: Arc<dyn Announce>,
    metrics: Arc<Metrics>,
) -> Result<SqliteCatalog, CatalogError> {
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
    // One process per SQLite file, which is what makes the entry cache sound.
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
    Ok(SqlCatalog::new(
        pool,
        Some(EntryCache::new()),
        announce,
        metrics,
        one_process,
    ))
}

/// Takes an exclusive lock on `{database}.lock`, held while the catalog
/// lives. (A separate file, because closing any descriptor of the database
/// itself would drop SQLite's own POSIX locks.)
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
