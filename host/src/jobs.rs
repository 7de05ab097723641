//! The job runner: takes jobs from the durable queue in the catalog and runs
//! them (today: variants made off the request path — an upload's eager
//! profiles, batches asked for with `?async=true`).
//!
//! Every process runs one. A job is taken by locking its row, so each run of
//! a job happens in exactly one process; a failed job is retried with
//! exponential backoff, and a process that dies mid-job leaves a lock that
//! lapses, after which another runner takes the job again. Nothing about
//! jobs lives in process memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::address::{AssetPath, Ordering};
use crate::assets::{Assets, EAGER_VARIANT_JOB, EagerVariant};
use crate::catalog::{Job, Selection};
use crate::config::{PathRules, Profiles};
use crate::metrics::JobLabels;
use crate::transform::Params;

/// How often an idle runner looks for due jobs.
const POLL: Duration = Duration::from_millis(250);
/// How often the queue's depth is counted for the metrics.
const COUNT_EVERY: Duration = Duration::from_secs(5);
/// Attempts before a job is marked failed.
const MAX_ATTEMPTS: u32 = 5;

pub async fn run(assets: Assets, profiles: Profiles, rules: Arc<PathRules>, mut stop: watch::Receiver<bool>) {
    let mut counted = Instant::now() - COUNT_EVERY;
    while !*stop.borrow() {
        if counted.elapsed() >= COUNT_EVERY {
            counted = Instant::now();
            if let Ok(queued) = assets.catalog().queued_jobs().await {
                let gauge = &assets.transformer().metrics().jobs_queued;
                gauge.set(i64::try_from(queued).unwrap_or(i64::MAX));
            }
        }
        let worked = match take_one(&assets, &profiles, &rules).await {
            Ok(worked) => worked,
            Err(error) => {
                tracing::warn!(%error, "job queue unavailable");
                false
            }
        };
        if !worked {
            tokio::select! {
                _ = stop.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// Runs the next due job, if there is one; true when one ran.
async fn take_one(
    assets: &Assets,
    profiles: &Profiles,
    rules: &PathRules,
) -> Result<bool, crate::catalog::CatalogError> {
    let catalog = assets.catalog();
    // The lock outlasts a transformation's time limit with room to spare.
    let lock = assets.transformer().limits().timeout * 3 + Duration::from_secs(10);
    let Some(job) = catalog.claim_job(lock).await? else {
        return Ok(false);
    };
    let (outcome, settled) = match perform(assets, profiles, rules, &job).await {
        Ok(()) => ("done", catalog.finish_job(&job).await?),
        Err(error) if job.attempts >= MAX_ATTEMPTS => {
            tracing::error!(job = job.id, kind = %job.kind, %error, "job failed for good");
            ("failed", catalog.fail_job(&job, &error).await?)
        }
        Err(error) => {
            let backoff = Duration::from_secs(1 << job.attempts.min(10));
            tracing::warn!(job = job.id, kind = %job.kind, %error, retry_in = ?backoff, "job failed; will retry");
            ("retried", catalog.retry_job(&job, backoff, &error).await?)
        }
    };
    let jobs = &assets.transformer().metrics().jobs;
    jobs.get_or_create(&JobLabels { outcome }).inc();
    if !settled {
        tracing::warn!(job = job.id, kind = %job.kind, "job lock was taken over; its new holder settles it");
    }
    Ok(true)
}

async fn perform(assets: &Assets, profiles: &Profiles, rules: &PathRules, job: &Job) -> Result<(), String> {
    match job.kind.as_str() {
        EAGER_VARIANT_JOB => {
            let task: EagerVariant = serde_json::from_str(&job.payload).map_err(|e| format!("bad payload: {e}"))?;
            let path = AssetPath::parse(&task.path).map_err(|e| e.to_string())?;
            let selection = Selection {
                ordering: Ordering::Entry(task.entry),
                labels: Vec::new(),
            };
            let Some(entry) = assets.find(&path, &selection).await.map_err(|e| e.to_string())? else {
                return Ok(()); // deleted since: nothing left to make
            };
            let query = match task.profile {
                Some(profile) if task.query.is_empty() => format!("profile={profile}"),
                _ => task.query,
            };
            let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
            let explicit = Params::parse(
                pairs.iter().map(|(key, value)| (key.as_ref(), value.as_ref())),
                assets.transformer().param_limits(),
            )
            .map_err(|e| format!("{}: {}", e.param, e.message))?;
            let params = profiles.apply(explicit)?;
            // Planned exactly as a request for the same query would be, path
            // transforms included, so that the request finds this variant.
            let resolved = rules.resolve(&path);
            let plan = assets
                .plan(&entry, &params, &resolved.settings, None)
                .map_err(|e| e.to_string())?;
            assets.render(&entry, &plan).await.map_err(|e| e.to_string())?;
            Ok(())
        }
        other => Err(format!("unknown job kind {other:?}")),
    }
}
