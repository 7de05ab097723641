//! Writes what this process counted for the usage API (`metrics::Tally`)
//! to the catalog, where every process's counts add up: every
//! `analytics.flush-seconds` and once more at shutdown, never on a
//! request's path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::catalog::{Catalog, Timestamp, UsageBatch};
use crate::metrics::{Counts, Metrics};

/// How often, how many distinct paths a day the catalog keeps, and for how
/// many days.
#[derive(Debug, Clone, Copy)]
pub struct Writing {
    pub every: Duration,
    pub most_a_day: i64,
    pub retention_days: i64,
}

/// How often days past the retention are forgotten.
const PRUNE: Duration = Duration::from_secs(3600);

pub async fn run(catalog: Arc<dyn Catalog>, metrics: Arc<Metrics>, writing: Writing, mut stop: watch::Receiver<bool>) {
    if !metrics.tally.is_enabled() {
        return;
    }
    // One batch the catalog refused, tried again with the next.
    let mut unwritten: Option<UsageBatch> = None;
    let mut pruned = Instant::now() - PRUNE;
    loop {
        if pruned.elapsed() >= PRUNE {
            pruned = Instant::now();
            let today = Timestamp::now().day();
            if let Err(error) = catalog.prune_usage(today - writing.retention_days).await {
                tracing::warn!(%error, "could not forget usage past its retention");
            }
        }
        let stopping = tokio::select! {
            _ = stop.changed() => true,
            _ = tokio::time::sleep(writing.every) => false,
        };
        for batch in unwritten
            .take()
            .into_iter()
            .chain([batch(metrics.tally.drain(), writing.most_a_day)])
        {
            if batch.is_empty() {
                continue;
            }
            if let Err(error) = catalog.add_usage(&batch).await {
                if unwritten.is_some() {
                    tracing::error!(%error, "usage counts could not be written twice running; dropping the older batch");
                } else {
                    tracing::warn!(%error, "usage counts could not be written; trying again with the next batch");
                }
                unwritten = Some(batch);
            }
        }
        if stopping || *stop.borrow() {
            return;
        }
    }
}

fn batch(counts: Counts, most_a_day: i64) -> UsageBatch {
    UsageBatch {
        most_a_day,
        prefixes: counts.prefixes.into_iter().collect(),
        entries: counts.entries.into_iter().collect(),
        missing: counts.missing.into_iter().collect(),
        plugin_calls: counts.plugin_calls.into_iter().collect(),
        plugin_durations: counts.plugin_durations.into_iter().collect(),
    }
}
