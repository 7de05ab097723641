//! The PostgreSQL catalog: for several Kiln processes sharing one database.
//! Coordination relies on single-statement upserts, `FOR UPDATE SKIP
//! LOCKED`, and the database's clock.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sha2::Digest;
use sqlx::postgres::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};

use super::sql::{Dialect, SqlCatalog};
use super::{Announce, CatalogError};
use crate::metrics::Metrics;

pub type PostgresCatalog = SqlCatalog<PostgresDialect>;

pub struct PostgresDialect;

/// The database's clock in Unix milliseconds.
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

impl Dialect for PostgresDialect {
    type Db = Postgres;
    const GREATEST: &'static str = "GREATEST";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const KEY_COLUMNS: &'static str = "key, key_hash";
    const KEY_CONFLICT: &'static str = "key_hash";

    fn push_now(query: &mut QueryBuilder<'_, Postgres>, offset: Duration) {
        query.push(NOW);
        if !offset.is_zero() {
            query
                .push(" + ")
                .push_bind(i64::try_from(offset.as_millis()).unwrap_or(i64::MAX));
        }
    }

    fn push_key_values(query: &mut QueryBuilder<'_, Postgres>, key: &str) {
        query.push_bind(key.to_owned()).push(", ").push_bind(key_hash(key));
    }

    fn push_key_match(query: &mut QueryBuilder<'_, Postgres>, key: &str) {
        query.push(" AND key_hash = ").push_bind(key_hash(key));
    }
    fn fetch<'a>(
        connection: &'a mut PgConnection,
        query: &'a mut QueryBuilder<'_, Postgres>,
    ) -> BoxFuture<'a, Result<Vec<<Postgres as sqlx::Database>::Row>, sqlx::Error>> {
        Box::pin(query.build().fetch_all(connection))
    }
}

/// Variants are indexed by the SHA-256 of their key, which can outgrow a
/// btree entry.
fn key_hash(key: &str) -> Vec<u8> {
    sha2::Sha256::digest(key.as_bytes()).to_vec()
}

/// Connects to the PostgreSQL catalog at `url` and brings its schema up to
/// date.
pub async fn open(
    url: &str,
    max_connections: Option<u32>,
    announce: Arc<dyn Announce>,
    metrics: Arc<Metrics>,
) -> Result<PostgresCatalog, CatalogError> {
    // A statement that hangs (a database that stopped answering without
    // closing its connections) is cut off rather than holding a request.
    let options = PgConnectOptions::from_str(url)?.options([("statement_timeout", "15000")]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.unwrap_or(16))
        .acquire_timeout(super::ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    sqlx::migrate!("migrations/postgres").run(&pool).await?;
    Ok(SqlCatalog::new(pool, None, announce, metrics, None))
}
