//! Reading catalog rows, shared by every backend: both store the same
//! columns, and sqlx decodes them alike.

use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

use super::{CatalogError, Entry, EntryMetadata, Job, LeaseToken, Original, Selection, Timestamp, Variant};
use crate::address::{AssetPath, Ordering};
use crate::probe::SourceColour;
use crate::store::ObjectKey;

pub const COLUMNS: &str = "path, entry, alt, labels, tags, content_type, width, height, bytes, sha256, \
                       object_key, bucket, created_at, modified_at, has_alpha, pages, colour, lqip, purges";

pub const VARIANT_COLUMNS: &str = "key, content_type, width, height, bytes, sha256, object_key, bucket, created_at";

/// The query that finds the entry `selection` means at `path`: the same SQL
/// on every backend, placeholders written by `QueryBuilder`.
pub fn entry_query<'a, DB>(path: &'a AssetPath, selection: &'a Selection) -> QueryBuilder<'a, DB>
where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM entries e WHERE e.path = "));
    query.push_bind(path.as_str());
    if let Ordering::Entry(n) = selection.ordering {
        query.push(" AND e.entry = ").push_bind(n as i64);
    }
    for (key, value) in &selection.labels {
        query.push(" AND EXISTS (SELECT 1 FROM entry_labels l WHERE l.entry_id = e.id AND l.key = ");
        query
            .push_bind(key.as_str())
            .push(" AND l.value = ")
            .push_bind(value.as_str())
            .push(")");
    }
    query.push(match selection.ordering {
        Ordering::Modified => " ORDER BY e.modified_at DESC, e.entry DESC LIMIT 1",
        Ordering::New | Ordering::Entry(_) => " ORDER BY e.entry DESC LIMIT 1",
    });
    query
}

/// Where a listing of entries resumes: after this path and entry number.
pub type ListCursor = (String, u64);

/// Entries at and below `prefix` (every entry without one), in the order of
/// (path, entry), after `after`, at most `limit`: keyset paging, so a page
/// costs its own size and inserts elsewhere do not shift it.
pub fn list_query<'a, DB>(
    prefix: Option<&'a AssetPath>,
    after: Option<&'a ListCursor>,
    limit: u32,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM entries e WHERE 1 = 1"));
    if let Some(prefix) = prefix {
        // Paths below `p` are exactly those in ["p/", "p0"): '0' follows '/' in ASCII.
        query.push(" AND (e.path = ").push_bind(prefix.as_str());
        query.push(" OR (e.path >= ").push_bind(format!("{}/", prefix.as_str()));
        query
            .push(" AND e.path < ")
            .push_bind(format!("{}0", prefix.as_str()))
            .push("))");
    }
    if let Some((path, entry)) = after {
        query.push(" AND (e.path > ").push_bind(path.as_str());
        query.push(" OR (e.path = ").push_bind(path.as_str());
        query.push(" AND e.entry > ").push_bind(*entry as i64).push("))");
    }
    query
        .push(" ORDER BY e.path, e.entry LIMIT ")
        .push_bind(i64::from(limit));
    query
}

pub fn entry_from_row<R>(row: &R) -> Result<Entry, CatalogError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let corrupt = |what: &str| CatalogError::Corrupt(what.to_owned());
    let path: String = row.try_get("path")?;
    let labels: String = row.try_get("labels")?;
    let tags: String = row.try_get("tags")?;
    let object_key: String = row.try_get("object_key")?;
    let bucket: Option<String> = row.try_get("bucket")?;
    let lqip: Option<String> = row.try_get("lqip")?;
    let colour: String = row.try_get("colour")?;
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
            object_key: ObjectKey::parse(bucket.as_deref(), &object_key).ok_or_else(|| corrupt("object_key"))?,
            has_alpha: row.try_get("has_alpha")?,
            pages: u32::try_from(number("pages")?).map_err(|_| corrupt("pages"))?,
            colour: SourceColour::from_name(&colour),
        },
        lqip: lqip
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|_| corrupt("lqip"))?,
        created_at: Timestamp(row.try_get("created_at")?),
        modified_at: Timestamp(row.try_get("modified_at")?),
        purges: number("purges")?,
    })
}

pub fn variant_from_row<R>(row: &R) -> Result<Variant, CatalogError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let corrupt = |what: &str| CatalogError::Corrupt(format!("variants.{what}"));
    let number = |column: &str| -> Result<u64, CatalogError> {
        u64::try_from(row.try_get::<i64, _>(column)?).map_err(|_| corrupt(column))
    };
    let object_key: String = row.try_get("object_key")?;
    let bucket: Option<String> = row.try_get("bucket")?;
    Ok(Variant {
        key: row.try_get("key")?,
        content_type: row.try_get("content_type")?,
        width: u32::try_from(number("width")?).map_err(|_| corrupt("width"))?,
        height: u32::try_from(number("height")?).map_err(|_| corrupt("height"))?,
        bytes: number("bytes")?,
        sha256: row.try_get("sha256")?,
        object_key: ObjectKey::parse(bucket.as_deref(), &object_key).ok_or_else(|| corrupt("object_key"))?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

/// A job just claimed under `lock`, from the row its claim returned.
pub fn job_from_row<R>(row: &R, lock: LeaseToken) -> Result<Job, CatalogError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        lock,
    })
}

pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Maps of strings and lists of strings always serialise.
    serde_json::to_string(value).unwrap_or_default()
}
