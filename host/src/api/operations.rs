//! The operator's part of `/api` (SPEC §8), for keys with the `admin`
//! scope: usage (storage, traffic per day, the top entries and missing
//! paths), plugins with their calls, webhook endpoints with their state, and
//! replays. What it reads was added up across processes in the catalog.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::management::{parse_limit, parse_prefix};
use crate::catalog::{Day, OTHER, Ranking, Timestamp};
use crate::metrics::bucket_ceiling;

/// The longest period one usage question may cover.
const MOST_DAYS: i64 = 366;
/// The period asked about when none is given: the last 30 days.
const DEFAULT_DAYS: i64 = 30;
/// Rows a top list answers unless `limit` says otherwise, and at most.
const DEFAULT_TOP: u32 = 10;
const MOST_TOP: u32 = 100;

/// The Unix epoch as a Julian day.
const EPOCH_JULIAN_DAY: i32 = 2_440_588;

fn parse_day(param: &str, value: &str) -> Result<Day, ApiError> {
    let invalid = || ApiError::invalid_param(param, "must be a date, YYYY-MM-DD");
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(invalid());
    }
    let mut parts = value.splitn(3, '-');
    let mut number = || {
        parts
            .next()
            .and_then(|part| part.parse::<i32>().ok())
            .ok_or_else(invalid)
    };
    let (year, month, day) = (number()?, number()?, number()?);
    let month = u8::try_from(month).ok().and_then(|m| time::Month::try_from(m).ok());
    let date = month
        .and_then(|month| time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok())
        .ok_or_else(invalid)?;
    Ok(Day::from(date.to_julian_day() - EPOCH_JULIAN_DAY))
}

fn format_day(day: Day) -> String {
    match i32::try_from(day)
        .ok()
        .and_then(|day| time::Date::from_julian_day(day + EPOCH_JULIAN_DAY).ok())
    {
        Some(date) => format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()),
        None => day.to_string(),
    }
}

/// `from` and `to` (inclusive), checked; the last 30 days by default.
fn period(from: Option<Day>, to: Option<Day>) -> Result<(Day, Day), ApiError> {
    let to = to.unwrap_or_else(|| Timestamp::now().day());
    let from = from.unwrap_or(to - (DEFAULT_DAYS - 1));
    if from > to {
        return Err(ApiError::invalid_param("from", "must not be after to"));
    }
    if to - from >= MOST_DAYS {
        return Err(ApiError::invalid_param(
            "from",
            format!("the period may cover at most {MOST_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// A path or prefix as the API shows paths, with a leading slash; the
/// bucket of everything past a bound as it is.
fn shown(path: &str) -> String {
    if path == OTHER {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// A request that takes no parameters, from a key with `admin` over every path.
fn admin_without_params(state: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> Result<(), ApiError> {
    let key = state.presented_key(headers)?;
    super::assets::reject_params(uri.query().unwrap_or_default())?;
    Ok(key.authorize_admin_over(None)?)
}

fn query_pairs(uri: &axum::http::Uri) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
}

/// `GET /api/usage`: storage now and traffic per day (`from`, `to` inclusive).
#[derive(Serialize, ToSchema)]
pub struct Usage {
    /// The prefix asked about, without slashes; null for every path.
    prefix: Option<String>,
    #[schema(format = Date)]
    from: String,
    #[schema(format = Date)]
    to: String,
    storage: Storage,
    /// Traffic is counted per prefix of `analytics.prefix-depth` segments:
    /// the prefix whose traffic is shown, null for all.
    traffic_prefix: Option<String>,
    traffic: Traffic,
}

#[derive(Serialize, ToSchema)]
struct Storage {
    originals: Stored,
    variants: Stored,
}

#[derive(Serialize, ToSchema)]
struct Stored {
    count: u64,
    bytes: u64,
}

#[derive(Serialize, ToSchema)]
struct Traffic {
    requests: u64,
    bytes: u64,
    days: Vec<TrafficDay>,
}

#[derive(Serialize, ToSchema)]
struct TrafficDay {
    #[schema(format = Date)]
    day: String,
    requests: u64,
    bytes: u64,
}

/// `GET /api/usage/top`: the most requested entries, and the paths most
/// often asked for that found nothing.
#[derive(Serialize, ToSchema)]
pub struct Top {
    #[schema(format = Date)]
    from: String,
    #[schema(format = Date)]
    to: String,
    entries: Vec<TopEntry>,
    not_found: Vec<TopPath>,
}

#[derive(Serialize, ToSchema)]
struct TopEntry {
    /// With a leading slash; `other` gathers what is past the tally's bound.
    path: String,
    entry: u64,
    requests: u64,
}

#[derive(Serialize, ToSchema)]
struct TopPath {
    path: String,
    requests: u64,
}

/// `GET /api/plugins`.
#[derive(Serialize, ToSchema)]
pub struct PluginsWithStats {
    plugins: Vec<PluginStats>,
}

/// A plugin, its limits, and every process's calls of it.
#[derive(Serialize, ToSchema)]
struct PluginStats {
    #[serde(flatten)]
    plugin: crate::views::PluginView,
    sha256: String,
    memory_mb: u64,
    timeout_ms: u64,
    calls: u64,
    /// Calls by outcome other than `ok`: `timeout`, `trap`, `error` …
    failures: BTreeMap<String, u64>,
    /// Milliseconds, the ceiling of the duration bucket; null before any call.
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

/// `GET /api/webhooks`.
#[derive(Serialize, ToSchema)]
pub struct Webhooks {
    webhooks: Vec<WebhookState>,
}

/// A configured endpoint with what the outbox knows of it.
#[derive(Serialize, ToSchema)]
struct WebhookState {
    name: String,
    /// Without its query or credentials, which may hold secrets.
    url: Option<String>,
    events: Vec<String>,
    paths: Vec<String>,
    /// `enabled`, or `disabled` after the endpoint answered `410`.
    #[schema(example = "enabled")]
    state: &'static str,
    #[schema(format = DateTime)]
    disabled_at: Option<String>,
    pending: u64,
    #[schema(format = DateTime)]
    oldest_pending: Option<String>,
    #[schema(format = DateTime)]
    last_attempt_at: Option<String>,
    last_outcome: Option<String>,
}

/// `POST /api/webhooks/{name}/replay`: messages queued again.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    queued: u64,
}

/// `GET /api/usage?prefix=&from=&to=`: what is stored at and below `prefix`
/// now, and per day the requests and bytes served under it.
pub async fn usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let (mut prefix, mut from, mut to) = (None, None, None);
    let key = state.presented_key(&headers)?;
    for (name, value) in query_pairs(&uri) {
        match name.as_ref() {
            "prefix" => prefix = parse_prefix(&value)?,
            "from" => from = Some(parse_day("from", &value)?),
            "to" => to = Some(parse_day("to", &value)?),
            other => return Err(ApiError::invalid_param(other, "takes prefix, from and to")),
        }
    }
    key.authorize_admin_over(prefix.as_ref())?;
    let (from, to) = period(from, to)?;
    let catalog = state.0.assets.catalog();
    let storage = catalog.storage(prefix.as_ref()).await?;
    // Traffic is kept per prefix of `analytics.prefix-depth` segments.
    let tally = &state.0.assets.transformer().metrics().tally;
    let counted_under = prefix.as_ref().map(|prefix| tally.prefix(prefix.as_str()));
    let days = catalog.traffic(counted_under, from, to).await?;
    let (requests, bytes) = days
        .iter()
        .fold((0, 0), |(r, b), day| (r + day.requests, b + day.bytes));
    let days = days
        .iter()
        .map(|day| TrafficDay {
            day: format_day(day.day),
            requests: day.requests,
            bytes: day.bytes,
        })
        .collect();
    Ok(axum::Json(Usage {
        prefix: prefix.as_ref().map(|p| p.to_string()),
        from: format_day(from),
        to: format_day(to),
        storage: Storage {
            originals: Stored {
                count: storage.originals,
                bytes: storage.original_bytes,
            },
            variants: Stored {
                count: storage.variants,
                bytes: storage.variant_bytes,
            },
        },
        traffic_prefix: counted_under.map(shown),
        traffic: Traffic { requests, bytes, days },
    })
    .into_response())
}

/// `GET /api/usage/top?from=&to=&limit=`: the most requested entries and the
/// most frequent paths that found nothing.
pub async fn top(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let (mut from, mut to, mut limit) = (None, None, DEFAULT_TOP);
    let key = state.presented_key(&headers)?;
    for (name, value) in query_pairs(&uri) {
        match name.as_ref() {
            "from" => from = Some(parse_day("from", &value)?),
            "to" => to = Some(parse_day("to", &value)?),
            "limit" => limit = parse_limit(&value, MOST_TOP)?,
            other => return Err(ApiError::invalid_param(other, "takes from, to and limit")),
        }
    }
    key.authorize_admin_over(None)?;
    let (from, to) = period(from, to)?;
    let catalog = state.0.assets.catalog();
    let entries = catalog.top(Ranking::Entries, from, to, limit).await?;
    let missing = catalog.top(Ranking::Missing, from, to, limit).await?;
    let entries = entries
        .iter()
        .map(|e| TopEntry {
            path: shown(&e.path),
            entry: e.entry,
            requests: e.requests,
        })
        .collect();
    let not_found = missing
        .iter()
        .map(|m| TopPath {
            path: shown(&m.path),
            requests: m.requests,
        })
        .collect();
    Ok(axum::Json(Top {
        from: format_day(from),
        to: format_day(to),
        entries,
        not_found,
    })
    .into_response())
}

/// `GET /api/plugins`: each configured plugin, what it is, and every
/// process's calls of it.
pub async fn plugins(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    admin_without_params(&state, &headers, &uri)?;
    let stats = state.0.assets.catalog().plugin_stats().await?;
    let plugins = state
        .0
        .assets
        .transformer()
        .plugins()
        .iter()
        .map(|plugin| {
            let stats = stats.iter().find(|s| s.plugin == plugin.name);
            let calls: u64 = stats.map_or(0, |s| s.calls.iter().map(|(_, n)| n).sum());
            let failures = stats
                .map(|s| {
                    s.calls
                        .iter()
                        .filter(|(outcome, _)| outcome != "ok")
                        .map(|(outcome, n)| (outcome.clone(), *n))
                        .collect()
                })
                .unwrap_or_default();
            let durations = stats.map(|s| s.durations.as_slice()).unwrap_or_default();
            PluginStats {
                plugin: crate::views::PluginView::of(plugin),
                sha256: plugin.sha256.clone(),
                memory_mb: u64::from(plugin.memory_mb),
                timeout_ms: u64::try_from(plugin.timeout.as_millis()).unwrap_or(u64::MAX),
                calls,
                failures,
                p50_ms: percentile(durations, 0.50),
                p99_ms: percentile(durations, 0.99),
            }
        })
        .collect();
    Ok(axum::Json(PluginsWithStats { plugins }).into_response())
}

/// The `q` quantile of calls counted by duration bucket, in milliseconds:
/// the ceiling of the bucket it falls in (so never an underestimate).
fn percentile(buckets: &[(u32, u64)], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    let mut sorted = buckets.to_vec();
    sorted.sort_unstable();
    for (bucket, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some((bucket_ceiling(bucket).as_secs_f64() * 1e5).round() / 100.0);
        }
    }
    None
}

/// `GET /api/webhooks`: each configured endpoint with what the outbox knows
/// of it.
pub async fn webhooks(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    admin_without_params(&state, &headers, &uri)?;
    let states = state.0.assets.catalog().endpoint_states().await?;
    let time = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339);
    let webhooks = state
        .0
        .config
        .webhooks
        .iter()
        .map(|webhook| {
            let known = states.iter().find(|s| s.name == webhook.name);
            WebhookState {
                name: webhook.name.clone(),
                url: reqwest::Url::parse(&webhook.url).ok().map(|mut url| {
                    url.set_query(None);
                    let _ = url.set_password(None);
                    let _ = url.set_username("");
                    url.to_string()
                }),
                events: webhook.events.clone(),
                paths: webhook.paths.clone(),
                state: if known.is_some_and(|k| k.disabled_at.is_some()) {
                    "disabled"
                } else {
                    "enabled"
                },
                disabled_at: time(known.and_then(|k| k.disabled_at)),
                pending: known.map_or(0, |k| k.pending),
                oldest_pending: time(known.and_then(|k| k.oldest_pending)),
                last_attempt_at: time(known.and_then(|k| k.last_attempt_at)),
                last_outcome: known.and_then(|k| k.last_outcome.clone()),
            }
        })
        .collect();
    Ok(axum::Json(Webhooks { webhooks }).into_response())
}

/// `POST /api/webhooks/{name}/replay?since=`: queues every settled message
/// to the endpoint written since then again (same `webhook-id`s), and
/// enables it if a `410` disabled it.
pub async fn replay(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    if method != Method::POST {
        return Err(ApiError::MethodNotAllowed { allow: "POST" });
    }
    let name = uri
        .path()
        .strip_prefix("/api/webhooks/")
        .and_then(|rest| rest.strip_suffix("/replay"))
        .unwrap_or_default();
    let mut since = None;
    let key = state.presented_key(&headers)?;
    for (name, value) in query_pairs(&uri) {
        match name.as_ref() {
            "since" => since = Some(parse_instant(&value)?),
            other => return Err(ApiError::invalid_param(other, "takes since")),
        }
    }
    key.authorize_admin_over(None)?;
    if !state.0.config.webhooks.iter().any(|webhook| webhook.name == name) {
        return Err(ApiError::NotFound(
            "no webhook endpoint is configured by that name".into(),
        ));
    }
    let since = since.ok_or_else(|| {
        ApiError::invalid_param(
            "since",
            "is required: replay the messages written since when (RFC 3339 or a date)",
        )
    })?;
    let queued = state.0.assets.catalog().replay_messages(name, since).await?;
    Ok(axum::Json(Replayed { queued }).into_response())
}

/// An RFC 3339 instant, or a date (its midnight, UTC).
fn parse_instant(value: &str) -> Result<Timestamp, ApiError> {
    if let Ok(at) = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339) {
        return Ok(Timestamp(
            i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
        ));
    }
    parse_day("since", value)
        .map(Timestamp::of_day)
        .map_err(|_| ApiError::invalid_param("since", "must be an RFC 3339 time or a date, YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_refuse_what_is_no_date() {
        assert_eq!(parse_day("from", "1970-01-01").unwrap(), 0);
        assert_eq!(format_day(parse_day("from", "2026-12-07").unwrap()), "2026-12-07");
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2026-02-30",
            "x-y-z",
            "2026-1-1-1",
            "2026-1-01",
            "+202-01-01",
        ] {
            assert!(parse_day("from", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_instant("1970-01-02").unwrap(), Timestamp(86_400_000));
        assert_eq!(parse_instant("1970-01-01T00:00:01.5Z").unwrap(), Timestamp(1500));
    }

    #[test]
    fn percentiles_are_bucket_ceilings() {
        assert_eq!(percentile(&[], 0.5), None);
        let buckets = [(40, 98), (60, 2)];
        let p50 = percentile(&buckets, 0.5).unwrap();
        let p99 = percentile(&buckets, 0.99).unwrap();
        assert!((p50 - bucket_ceiling(40).as_secs_f64() * 1000.0).abs() < 0.01, "{p50}");
        assert!((p99 - bucket_ceiling(60).as_secs_f64() * 1000.0).abs() < 0.01, "{p99}");
    }
}
