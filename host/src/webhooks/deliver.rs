//! Sends the outbox's messages. Every process runs one deliverer; a message
//! is claimed by locking its row, so each attempt is made by exactly one
//! process, and one whose process dies is claimed again when its lock
//! lapses. Attempts run concurrently, off every request's path, so a slow or
//! dead endpoint holds only its own messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Endpoint, RETENTION, Webhooks};
use crate::catalog::{Catalog, Message, Settlement, Timestamp};
use crate::metrics::{Metrics, WebhookLabels};

/// How often an idle deliverer looks for due messages.
const POLL: Duration = Duration::from_millis(250);
/// Attempts in flight at once, across all endpoints and to one endpoint: a
/// dead endpoint's messages hold only their own share.
const IN_FLIGHT: usize = 16;
const IN_FLIGHT_TO_ONE: usize = 4;
/// How often the outbox gauges are read and settled messages pruned.
const CENSUS: Duration = Duration::from_secs(5);
const PRUNE: Duration = Duration::from_secs(3600);
/// The longest wait a `Retry-After` may ask for.
const MOST_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

pub async fn run(
    catalog: Arc<dyn Catalog>,
    webhooks: Arc<Webhooks>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "webhooks cannot be sent: no HTTP client");
            return;
        }
    };
    let mut attempts = JoinSet::new();
    // Attempts in flight to each endpoint.
    let mut sending: HashMap<String, usize> = HashMap::new();
    let (mut census, mut pruned) = (Instant::now() - CENSUS, Instant::now() - PRUNE);
    while !*stop.borrow() {
        while let Some(done) = attempts.try_join_next() {
            finished(&mut sending, done);
        }
        if census.elapsed() >= CENSUS {
            census = Instant::now();
            take_census(catalog.as_ref(), &metrics).await;
        }
        if pruned.elapsed() >= PRUNE {
            pruned = Instant::now();
            match catalog.prune_messages(Timestamp::now().before(RETENTION)).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "forgot webhook messages past their retention"),
                Err(error) => tracing::warn!(%error, "could not prune the webhook outbox"),
            }
        }
        let mut claimed = false;
        if attempts.len() < IN_FLIGHT {
            // The lock outlasts the longest attempt with room to spare.
            let busy: Vec<String> = sending
                .iter()
                .filter(|(_, n)| **n >= IN_FLIGHT_TO_ONE)
                .map(|(endpoint, _)| endpoint.clone())
                .collect();
            match catalog.claim_message(Duration::from_secs(90), &busy).await {
                Ok(Some(message)) => {
                    claimed = true;
                    *sending.entry(message.endpoint.clone()).or_default() += 1;
                    let (catalog, webhooks, metrics, client) =
                        (catalog.clone(), webhooks.clone(), metrics.clone(), client.clone());
                    attempts.spawn(async move {
                        let endpoint = message.endpoint.clone();
                        attempt(catalog.as_ref(), &webhooks, &metrics, &client, message).await;
                        endpoint
                    });
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "webhook outbox unavailable"),
            }
        }
        if !claimed {
            tokio::select! {
                _ = stop.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
                Some(done) = attempts.join_next(), if !attempts.is_empty() => finished(&mut sending, done),
            }
        }
    }
    // An attempt cut short here stays locked until its lock lapses, then is
    // made again, with the same webhook-id.
}

/// Counts an attempt to its endpoint as ended.
fn finished(sending: &mut HashMap<String, usize>, done: Result<String, tokio::task::JoinError>) {
    // A task that panicked is not counted down: its endpoint keeps one slot fewer.
    if let Ok(endpoint) = done
        && let Some(n) = sending.get_mut(&endpoint)
    {
        *n -= 1;
        if *n == 0 {
            sending.remove(&endpoint);
        }
    }
}

async fn take_census(catalog: &dyn Catalog, metrics: &Metrics) {
    let Ok(states) = catalog.endpoint_states().await else {
        return;
    };
    let depth: u64 = states.iter().map(|state| state.pending).sum();
    let oldest = states.iter().filter_map(|state| state.oldest_pending).min();
    metrics.outbox_depth.set(i64::try_from(depth).unwrap_or(i64::MAX));
    let age = oldest.map_or(0.0, |oldest| (Timestamp::now().0 - oldest.0).max(0) as f64 / 1000.0);
    metrics.outbox_oldest_age.set(age);
}

/// Makes one attempt at `message` and records how it went.
async fn attempt(
    catalog: &dyn Catalog,
    webhooks: &Webhooks,
    metrics: &Metrics,
    client: &reqwest::Client,
    message: Message,
) {
    let (settlement, outcome, label) = match webhooks.endpoint(&message.endpoint) {
        Some(endpoint) => send(client, endpoint, &message).await,
        None => (
            Settlement::Failed,
            "the endpoint is no longer configured".to_owned(),
            "unconfigured",
        ),
    };
    metrics
        .webhook_deliveries
        .get_or_create(&WebhookLabels {
            endpoint: message.endpoint.clone(),
            outcome: label,
        })
        .inc();
    match &settlement {
        Settlement::Delivered => {
            tracing::info!(endpoint = %message.endpoint, id = %message.message_id, event = %message.event, "webhook delivered")
        }
        Settlement::Retry(wait) => {
            tracing::warn!(endpoint = %message.endpoint, id = %message.message_id, %outcome, retry_in = ?wait, "webhook attempt failed")
        }
        Settlement::Failed | Settlement::Gone => {
            tracing::error!(endpoint = %message.endpoint, id = %message.message_id, %outcome, "webhook message failed for good")
        }
    }
    match catalog.settle_message(&message, settlement, &outcome).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(id = %message.message_id, "webhook message lock was taken over"),
        Err(error) => tracing::warn!(%error, id = %message.message_id, "could not record a webhook attempt"),
    }
}

/// Posts `message` to `endpoint`: how it settles, the outcome in words for
/// `/api/webhooks`, and the metrics' label.
async fn send(client: &reqwest::Client, endpoint: &Endpoint, message: &Message) -> (Settlement, String, &'static str) {
    let timestamp = Timestamp::now().0 / 1000;
    let request = client
        .post(endpoint.url.clone())
        .timeout(endpoint.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &message.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            endpoint.signature(&message.message_id, timestamp, &message.body),
        )
        .body(message.body.clone());
    let (outcome, label, retry_after) = match request.send().await {
        Ok(response) if response.status().is_success() => {
            return (
                Settlement::Delivered,
                format!("HTTP {}", response.status().as_u16()),
                "delivered",
            );
        }
        Ok(response) if response.status() == reqwest::StatusCode::GONE => {
            return (Settlement::Gone, "HTTP 410: endpoint disabled".into(), "gone");
        }
        Ok(response) => (
            format!("HTTP {}", response.status().as_u16()),
            "rejected",
            retry_after(response.headers()),
        ),
        Err(error) if error.is_timeout() => (format!("no answer within {:?}", endpoint.timeout), "timeout", None),
        Err(_) => ("could not connect".to_owned(), "unreachable", None),
    };
    // The first attempt is not in the schedule: attempt n waits the nth wait.
    let settlement = match endpoint.schedule.get(message.attempts.saturating_sub(1) as usize) {
        Some(&wait) => Settlement::Retry(retry_after.unwrap_or_else(|| jittered(wait))),
        None => Settlement::Failed,
    };
    (settlement, outcome, label)
}

/// A `Retry-After` of seconds or an HTTP date, capped.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(MOST_RETRY_AFTER))
}

/// `wait`, varied by up to a fifth either way, so that the retries of many
/// messages that failed together do not arrive together.
fn jittered(wait: Duration) -> Duration {
    wait.mul_f64(0.8 + 0.4 * rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_is_capped() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(reqwest::header::RETRY_AFTER, "99999999".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MOST_RETRY_AFTER));
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        headers.insert(reqwest::header::RETRY_AFTER, later.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..1000 {
            let wait = jittered(Duration::from_secs(100));
            assert!(wait >= Duration::from_secs(80) && wait <= Duration::from_secs(120));
        }
    }
}
