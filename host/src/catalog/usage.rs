//! Usage kept in the catalog, so that what every process counted adds up:
//! requests and bytes per day and path prefix, the entries asked for and the
//! paths not found per day, plugin calls and their durations. Processes add
//! to it in batches (`usage.rs` at the crate root); nothing a client sends
//! grows it past a bound a day.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

use super::sql::{Dialect, RowOf, SqlCatalog, first, push_entries};
use super::{CatalogError, Entries};
use crate::address::AssetPath;
pub use crate::metrics::{Day, OTHER};

/// What one process counted since its last batch.
#[derive(Debug, Clone, Default)]
pub struct UsageBatch {
    /// Distinct prefixes, entries and missing paths kept a day, each
    /// (`analytics.max-paths-per-day`); the rest count under [`OTHER`].
    pub most_a_day: i64,
    /// (day, prefix) → requests, bytes.
    pub prefixes: Vec<((Day, String), (u64, u64))>,
    /// (day, path, entry) → requests.
    pub entries: Vec<((Day, String, u64), u64)>,
    /// (day, path) → requests that found nothing.
    pub missing: Vec<((Day, String), u64)>,
    /// (plugin, outcome) → calls.
    pub plugin_calls: Vec<((String, &'static str), u64)>,
    /// (plugin, duration bucket) → calls.
    pub plugin_durations: Vec<((String, u32), u64)>,
}

impl UsageBatch {
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
            && self.entries.is_empty()
            && self.missing.is_empty()
            && self.plugin_calls.is_empty()
            && self.plugin_durations.is_empty()
    }
}

/// Originals and variants kept under a prefix.
#[derive(Debug, Clone, Copy, Default)]
pub struct Storage {
    pub originals: u64,
    pub original_bytes: u64,
    pub variants: u64,
    pub variant_bytes: u64,
}

/// Requests and bytes served on one day.
#[derive(Debug, Clone, Copy)]
pub struct DayTraffic {
    pub day: Day,
    pub requests: u64,
    pub bytes: u64,
}

/// Which ranking [`Usage::top`] answers.
#[derive(Debug, Clone, Copy)]
pub enum Ranking {
    Entries,
    Missing,
}

/// A path (and for entries its number) with its requests in a period.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub path: String,
    pub entry: u64,
    pub requests: u64,
}

/// Every process's calls of one plugin.
#[derive(Debug, Clone, Default)]
pub struct PluginStats {
    pub plugin: String,
    /// Outcome → calls.
    pub calls: Vec<(String, u64)>,
    /// Duration bucket → calls.
    pub durations: Vec<(u32, u64)>,
}

#[async_trait]
pub trait Usage: Send + Sync {
    /// Adds a batch, in one transaction.
    async fn add_usage(&self, batch: &UsageBatch) -> Result<(), CatalogError>;

    /// Originals and made variants at and below `prefix` (all without one).
    async fn storage(&self, prefix: Option<&AssetPath>) -> Result<Storage, CatalogError>;

    /// Per day in `from..=to`, the requests and bytes counted under the
    /// prefixes at and below `prefix` (all without one).
    async fn traffic(&self, prefix: Option<&str>, from: Day, to: Day) -> Result<Vec<DayTraffic>, CatalogError>;

    /// The most requested entries, or paths not found, in `from..=to`.
    async fn top(&self, ranking: Ranking, from: Day, to: Day, limit: u32) -> Result<Vec<Ranked>, CatalogError>;

    async fn plugin_stats(&self) -> Result<Vec<PluginStats>, CatalogError>;

    /// Forgets the per-day counts of days before `before`.
    async fn prune_usage(&self, before: Day) -> Result<(), CatalogError>;
}

#[async_trait]
impl<D: Dialect> Usage for SqlCatalog<D>
where
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> &'q str: ColumnIndex<RowOf<D>>,
    usize: ColumnIndex<RowOf<D>>,
{
    async fn add_usage(&self, batch: &UsageBatch) -> Result<(), CatalogError> {
        self.metered("add_usage", async {
            let mut tx = self.begin_write().await?;
            let most = batch.most_a_day;
            let mut bounded = Bounded::<D>::new(
                most,
                "usage_daily",
                "prefix",
                "requests = usage_daily.requests + excluded.requests, bytes = usage_daily.bytes + excluded.bytes",
            );
            for ((day, prefix), (requests, bytes)) in &batch.prefixes {
                let row = [("day", *day), ("requests", *requests as i64), ("bytes", *bytes as i64)];
                bounded.add(&mut tx, *day, None, prefix, &row).await?;
            }
            bounded.finish(&mut tx).await?;
            for (kind, counted) in [
                (
                    "entry",
                    batch
                        .entries
                        .iter()
                        .map(|((day, path, entry), n)| (*day, path, *entry, *n))
                        .collect::<Vec<_>>(),
                ),
                (
                    "missing",
                    batch
                        .missing
                        .iter()
                        .map(|((day, path), n)| (*day, path, 0, *n))
                        .collect(),
                ),
            ] {
                let mut bounded = Bounded::<D>::new(
                    most,
                    "usage_paths",
                    "path",
                    "requests = usage_paths.requests + excluded.requests",
                );
                for (day, path, entry, requests) in counted {
                    let row = [("day", day), ("entry", entry as i64), ("requests", requests as i64)];
                    bounded.add(&mut tx, day, Some(kind), path, &row).await?;
                }
                bounded.finish(&mut tx).await?;
            }
            for ((plugin, outcome), calls) in &batch.plugin_calls {
                let mut query = QueryBuilder::new("INSERT INTO plugin_calls (plugin, outcome, calls) VALUES (");
                query
                    .push_bind(plugin.clone())
                    .push(", ")
                    .push_bind((*outcome).to_owned());
                query.push(", ").push_bind(*calls as i64);
                query.push(") ON CONFLICT (plugin, outcome) DO UPDATE SET calls = plugin_calls.calls + excluded.calls");
                D::fetch(&mut tx, &mut query).await?;
            }
            for ((plugin, bucket), calls) in &batch.plugin_durations {
                let mut query = QueryBuilder::new("INSERT INTO plugin_durations (plugin, bucket, calls) VALUES (");
                query.push_bind(plugin.clone()).push(", ").push_bind(i64::from(*bucket));
                query.push(", ").push_bind(*calls as i64);
                query.push(
                    ") ON CONFLICT (plugin, bucket) DO UPDATE SET calls = plugin_durations.calls + excluded.calls",
                );
                D::fetch(&mut tx, &mut query).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn storage(&self, prefix: Option<&AssetPath>) -> Result<Storage, CatalogError> {
        self.metered("storage", async {
            let mut originals =
                QueryBuilder::new("SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM entries WHERE 1 = 1");
            let mut variants = QueryBuilder::new(
                "SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM variants WHERE state = 'ready'",
            );
            if let Some(prefix) = prefix {
                push_entries(Entries::Under(prefix), &mut originals, "entries");
                push_entries(Entries::Under(prefix), &mut variants, "variants");
            }
            let count = |row: &RowOf<D>| -> Result<(u64, u64), CatalogError> {
                let (n, bytes): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
                Ok((n.max(0) as u64, bytes.max(0) as u64))
            };
            let (originals, original_bytes) = count(&self.one(&mut originals).await?)?;
            let (variants, variant_bytes) = count(&self.one(&mut variants).await?)?;
            Ok(Storage {
                originals,
                original_bytes,
                variants,
                variant_bytes,
            })
        })
        .await
    }

    async fn traffic(&self, prefix: Option<&str>, from: Day, to: Day) -> Result<Vec<DayTraffic>, CatalogError> {
        self.metered("traffic", async {
            let mut query = QueryBuilder::new(
                "SELECT day, CAST(SUM(requests) AS BIGINT), CAST(SUM(bytes) AS BIGINT) FROM usage_daily WHERE day >= ",
            );
            query.push_bind(from).push(" AND day <= ").push_bind(to);
            if let Some(prefix) = prefix {
                query.push(" AND (prefix = ").push_bind(prefix.to_owned());
                query.push(" OR (prefix >= ").push_bind(format!("{prefix}/"));
                query.push(" AND prefix < ").push_bind(format!("{prefix}0")).push("))");
            }
            query.push(" GROUP BY day ORDER BY day");
            let rows = self.rows(&mut query).await?;
            rows.iter()
                .map(|row| {
                    Ok(DayTraffic {
                        day: row.try_get(0)?,
                        requests: row.try_get::<i64, _>(1)?.max(0) as u64,
                        bytes: row.try_get::<i64, _>(2)?.max(0) as u64,
                    })
                })
                .collect()
        })
        .await
    }

    async fn top(&self, ranking: Ranking, from: Day, to: Day, limit: u32) -> Result<Vec<Ranked>, CatalogError> {
        self.metered("top", async {
            let kind = match ranking {
                Ranking::Entries => "entry",
                Ranking::Missing => "missing",
            };
            let mut query = QueryBuilder::new(
                "SELECT path, entry, CAST(SUM(requests) AS BIGINT) AS total FROM usage_paths WHERE kind = ",
            );
            query.push_bind(kind.to_owned());
            query
                .push(" AND day >= ")
                .push_bind(from)
                .push(" AND day <= ")
                .push_bind(to);
            query.push(" GROUP BY path, entry ORDER BY total DESC, path, entry LIMIT ");
            query.push_bind(i64::from(limit));
            let rows = self.rows(&mut query).await?;
            rows.iter()
                .map(|row| {
                    Ok(Ranked {
                        path: row.try_get(0)?,
                        entry: row.try_get::<i64, _>(1)?.max(0) as u64,
                        requests: row.try_get::<i64, _>(2)?.max(0) as u64,
                    })
                })
                .collect()
        })
        .await
    }

    async fn plugin_stats(&self) -> Result<Vec<PluginStats>, CatalogError> {
        self.metered("plugin_stats", async {
            let mut calls =
                QueryBuilder::new("SELECT plugin, outcome, calls FROM plugin_calls ORDER BY plugin, outcome");
            let mut durations =
                QueryBuilder::new("SELECT plugin, bucket, calls FROM plugin_durations ORDER BY plugin, bucket");
            let mut stats: Vec<PluginStats> = Vec::new();
            let mut of = |plugin: String| -> usize {
                match stats.iter().position(|s| s.plugin == plugin) {
                    Some(at) => at,
                    None => {
                        stats.push(PluginStats {
                            plugin,
                            ..PluginStats::default()
                        });
                        stats.len() - 1
                    }
                }
            };
            let mut counted = Vec::new();
            for row in self.rows(&mut calls).await? {
                let at = of(row.try_get(0)?);
                counted.push((
                    at,
                    row.try_get::<String, _>(1)?,
                    row.try_get::<i64, _>(2)?.max(0) as u64,
                ));
            }
            let mut timed = Vec::new();
            for row in self.rows(&mut durations).await? {
                let at = of(row.try_get(0)?);
                let bucket = u32::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0);
                timed.push((at, bucket, row.try_get::<i64, _>(2)?.max(0) as u64));
            }
            for (at, outcome, n) in counted {
                stats[at].calls.push((outcome, n));
            }
            for (at, bucket, n) in timed {
                stats[at].durations.push((bucket, n));
            }
            Ok(stats)
        })
        .await
    }

    async fn prune_usage(&self, before: Day) -> Result<(), CatalogError> {
        self.metered("prune_usage", async {
            let mut tx = self.begin_write().await?;
            for table in ["usage_daily", "usage_paths"] {
                let mut query = QueryBuilder::new(format!("DELETE FROM {table} WHERE day < "));
                query.push_bind(before);
                D::fetch(&mut tx, &mut query).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// A day, and the kind of row where a table holds several.
type Group = (Day, Option<&'static str>);

/// Adds rows to a table of counts whose distinct keys a day are bounded:
/// past `most` a day, a key without a row of its own is added to the
/// day's [`OTHER`] row instead.
struct Bounded<D: Dialect> {
    most: i64,
    table: &'static str,
    key: &'static str,
    add: &'static str,
    /// Rows each group had, as last counted.
    rows: Vec<(Group, i64)>,
    /// What goes to each group's OTHER row: its columns' sums.
    other: Vec<(Group, Vec<(&'static str, i64)>)>,
    _dialect: std::marker::PhantomData<D>,
}

impl<D: Dialect> Bounded<D>
where
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    usize: ColumnIndex<RowOf<D>>,
{
    fn new(most: i64, table: &'static str, key: &'static str, add: &'static str) -> Self {
        Self {
            most,
            table,
            key,
            add,
            rows: Vec::new(),
            other: Vec::new(),
            _dialect: std::marker::PhantomData,
        }
    }

    async fn add(
        &mut self,
        tx: &mut <D::Db as Database>::Connection,
        day: i64,
        kind: Option<&'static str>,
        key: &str,
        values: &[(&'static str, i64)],
    ) -> Result<(), CatalogError> {
        let group = (day, kind);
        let rows = match self.rows.iter().find(|(g, _)| *g == group) {
            Some((_, rows)) => *rows,
            None => {
                let mut query = QueryBuilder::new(format!("SELECT COUNT(*) FROM {} WHERE day = ", self.table));
                query.push_bind(day);
                push_kind(&mut query, kind);
                let rows: i64 = first(D::fetch(tx, &mut query).await?)?.try_get(0)?;
                self.rows.push((group, rows));
                rows
            }
        };
        if rows < self.most {
            self.upsert(tx, kind, key, values).await?;
            if let Some((_, rows)) = self.rows.iter_mut().find(|(g, _)| *g == group) {
                *rows += 1;
            }
            return Ok(());
        }
        // Full: only keys that already have a row of their own keep counting there.
        let mut query = QueryBuilder::new(format!("UPDATE {} SET ", self.table));
        let mut sets = query.separated(", ");
        for (column, value) in values
            .iter()
            .filter(|(column, _)| *column != "day" && *column != "entry")
        {
            sets.push(format!("{column} = {column} + "));
            sets.push_bind_unseparated(*value);
        }
        query.push(" WHERE day = ").push_bind(day);
        push_kind(&mut query, kind);
        query.push(format!(" AND {} = ", self.key)).push_bind(key.to_owned());
        if let Some((_, entry)) = values.iter().find(|(column, _)| *column == "entry") {
            query.push(" AND entry = ").push_bind(*entry);
        }
        query.push(format!(" RETURNING {}", self.key));
        if D::fetch(tx, &mut query).await?.is_empty() {
            let sums = match self.other.iter_mut().find(|(g, _)| *g == group) {
                Some((_, sums)) => sums,
                None => {
                    self.other.push((group, Vec::new()));
                    let last = self.other.len() - 1;
                    &mut self.other[last].1
                }
            };
            for &(column, value) in values.iter().filter(|(column, _)| *column != "day") {
                let value = if column == "entry" { 0 } else { value };
                match sums.iter_mut().find(|(c, _)| *c == column) {
                    Some((_, sum)) => *sum += value,
                    None => sums.push((column, value)),
                }
            }
        }
        Ok(())
    }

    async fn upsert(
        &self,
        tx: &mut <D::Db as Database>::Connection,
        kind: Option<&'static str>,
        key: &str,
        values: &[(&'static str, i64)],
    ) -> Result<(), CatalogError> {
        let columns: Vec<&str> = values.iter().map(|(column, _)| *column).collect();
        let kind_column = if kind.is_some() { "kind, " } else { "" };
        let mut query = QueryBuilder::new(format!(
            "INSERT INTO {} ({kind_column}{}, {}) VALUES (",
            self.table,
            self.key,
            columns.join(", ")
        ));
        if let Some(kind) = kind {
            query.push_bind(kind.to_owned()).push(", ");
        }
        query.push_bind(key.to_owned());
        for (_, value) in values {
            query.push(", ").push_bind(*value);
        }
        let conflict = match (kind, columns.contains(&"entry")) {
            (Some(_), true) => format!("day, kind, {}, entry", self.key),
            (Some(_), false) => format!("day, kind, {}", self.key),
            (None, _) => format!("day, {}", self.key),
        };
        query.push(format!(") ON CONFLICT ({conflict}) DO UPDATE SET {}", self.add));
        D::fetch(tx, &mut query).await?;
        Ok(())
    }

    /// Adds what overflowed to each day's OTHER row.
    async fn finish(self, tx: &mut <D::Db as Database>::Connection) -> Result<(), CatalogError> {
        for ((day, kind), sums) in &self.other {
            let mut values = vec![("day", *day)];
            values.extend(sums.iter().copied());
            self.upsert(tx, *kind, OTHER, &values).await?;
        }
        Ok(())
    }
}

fn push_kind<DB: Database>(query: &mut QueryBuilder<'_, DB>, kind: Option<&'static str>)
where
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    if let Some(kind) = kind {
        query.push(" AND kind = ").push_bind(kind.to_owned());
    }
}
