//! Reading upload bodies: raw bytes, `multipart/form-data` with a `file` and
//! an optional `metadata` part, or JSON asking for a URL to be ingested.
//!
//! Every body is read as a stream against a byte limit, so an oversized
//! upload is refused as soon as it passes the limit instead of after it has
//! been buffered whole.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;

use super::error::ApiError;
use crate::catalog::{EntryMetadata, metadata_schema};

/// Room for multipart boundaries, part headers and the metadata part.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub enum Upload {
    Image { bytes: Bytes, metadata: EntryMetadata },
    FromUrl { url: String, metadata: EntryMetadata },
}

/// `POST` with `application/json`: the original fetched from a URL (one
/// `[remote]` allows), and the entry's metadata. The fields are
/// `EntryMetadata`'s spelled out, since serde's `flatten` cannot refuse
/// unknown fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlIngest {
    pub url: String,
    #[serde(default)]
    #[schema(schema_with = metadata_schema::alt)]
    pub alt: Option<String>,
    #[serde(default)]
    #[schema(schema_with = metadata_schema::labels)]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    #[schema(schema_with = metadata_schema::tags)]
    pub tags: Vec<String>,
}

/// The media type of a request without its parameters, lower-cased.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

pub async fn read_upload(headers: &HeaderMap, body: Body, limit: u64, json_limit: u64) -> Result<Upload, ApiError> {
    match media_type(headers).as_str() {
        "multipart/form-data" => read_multipart(headers, body, limit).await,
        "application/json" => {
            let bytes = read_limited(headers, body, json_limit).await?;
            let UrlIngest { url, alt, labels, tags } = parse_json(&bytes)?;
            let metadata = EntryMetadata { alt, labels, tags };
            Ok(Upload::FromUrl { url, metadata })
        }
        _ => Ok(Upload::Image {
            bytes: read_limited(headers, body, limit).await?,
            metadata: EntryMetadata::default(),
        }),
    }
}

/// Reads a JSON body (metadata updates) within the JSON limit.
pub async fn read_json<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<T, ApiError> {
    let media = media_type(headers);
    if !media.is_empty() && media != "application/json" {
        return Err(ApiError::UnsupportedMediaType(format!(
            "this request takes application/json, not {}",
            crate::address::truncate(&media, 64)
        )));
    }
    parse_json(&read_limited(headers, body, limit).await?)
}

fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request("invalid_body", json_problem("the JSON body", &e)))
}

/// What is wrong with a JSON document, in Kiln's words and with where.
fn json_problem(what: &str, error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let problem = match error.classify() {
        Category::Syntax | Category::Io => "is not valid JSON",
        Category::Eof => "ends too early",
        Category::Data => "has a field that is not accepted or a value of the wrong type",
    };
    format!(
        "{what} {problem} (at line {}, column {}); send {{\"alt\", \"labels\", \"tags\"}} (and \"url\" to ingest)",
        error.line(),
        error.column()
    )
}

/// Collects a body, failing with 413 as soon as it passes `limit`.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, ApiError> {
    if declared_length(headers).is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut stream = body.into_data_stream();
    let mut collected = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            tracing::debug!(%error, "request body broke off");
            ApiError::bad_request("invalid_body", "the body could not be read: the connection broke off")
        })?;
        if (collected.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(collected.freeze())
}

async fn read_multipart(headers: &HeaderMap, body: Body, limit: u64) -> Result<Upload, ApiError> {
    let invalid = |message: String| ApiError::bad_request("invalid_body", message);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| invalid("multipart/form-data needs a boundary parameter".into()))?;
    let whole = limit + MULTIPART_OVERHEAD;
    if declared_length(headers).is_some_and(|length| length > whole) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let constraints = multer::Constraints::new()
        .allowed_fields(vec!["file", "metadata"])
        .size_limit(
            multer::SizeLimit::new()
                .whole_stream(whole)
                .per_field(limit)
                .for_field("metadata", MULTIPART_OVERHEAD),
        );
    let mut multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut file = None;
    let mut metadata = None;
    let multipart_error = |error: multer::Error| match error {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            ApiError::PayloadTooLarge { limit }
        }
        multer::Error::UnknownField { field_name } => invalid(format!(
            "unexpected multipart part {:?}; send a `file` part and optionally a `metadata` part",
            crate::address::truncate(field_name.as_deref().unwrap_or(""), 64)
        )),
        other => {
            tracing::debug!(error = %other, "malformed multipart body");
            invalid("the multipart body is malformed: check its boundary and part headers".into())
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        let slot = if name == "file" { &mut file } else { &mut metadata };
        if slot.replace(bytes).is_some() {
            return Err(invalid(format!("the multipart body has more than one `{name}` part")));
        }
    }
    let bytes = file.ok_or_else(|| invalid("the multipart body has no `file` part".into()))?;
    let metadata = match metadata {
        Some(json) => serde_json::from_slice(&json)
            .map_err(|e| ApiError::bad_request("invalid_metadata", json_problem("the `metadata` part", &e)))?,
        None => EntryMetadata::default(),
    };
    Ok(Upload::Image { bytes, metadata })
}
