//! What the server counts for `GET /metrics` (SPEC §8), in the OpenMetrics
//! text format Prometheus scrapes.
//!
//! One [`Metrics`] per server, so that tests starting many servers each see
//! their own. Every label has a bounded set of values: route templates,
//! methods, status codes, output formats, outcomes, cache layers. Never an
//! asset path or a parameter.
//!
//! **Invariant:** this module imports nothing else of Kiln; the modules that
//! count take an `Arc<Metrics>`.

mod tally;
pub use tally::{Counts, Day, OTHER, Tally, bucket_ceiling};

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template (`/assets/{*rest}`), or `unmatched`.
    pub route: &'static str,
    /// A standard method, or `other`.
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransformLabels {
    /// The output format (`jpeg`, `webp`, …), or `inspect` for the decode at upload.
    pub format: &'static str,
    /// `ok`, `too_large`, `overloaded`, `timeout`, `failed`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FormatLabels {
    pub format: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    /// Where a variant was found: `memory`, `catalog`, or `made` (a miss).
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// A configured plugin's name.
    pub plugin: String,
    /// `ok`, `error`, `timeout`, `out_of_memory`, `trap`, `bad_output`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginNameLabels {
    pub plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    /// `put`, `get`, `delete`, `ping`, `presign`.
    pub operation: &'static str,
    /// `ok`, `not_found`, `unavailable`, `error`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CatalogLabels {
    /// The catalog's method: `find_entry`, `claim_variant`, …
    pub operation: &'static str,
    /// `ok`, `unavailable`, `error`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// `done`, `retried`, `failed` (for good).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// A configured endpoint's name.
    pub endpoint: String,
    /// `delivered`, `rejected` (another status), `gone` (410), `timeout`,
    /// `unreachable`, `unconfigured`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

/// Route templates and methods `Metrics::http_duration_of` can index.
pub const MOST_ROUTES: usize = 32;
pub const METHODS: usize = 6;
/// The statuses whose request counters are resolved once per route and method.
const COMMON_STATUSES: [u16; 12] = [200, 201, 202, 204, 304, 400, 401, 403, 404, 422, 429, 503];

fn duration_histogram() -> Histogram {
    // 1 ms to ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// `http_duration`'s histograms by route and method index, resolved
    /// once: a family's look-up (a lock and a hash) on every request is a
    /// visible share of a cached variant's cost.
    http_duration_by_index: Vec<std::sync::OnceLock<Histogram>>,
    /// `http_requests`' counters by route, method and common status,
    /// resolved once for the same reason.
    http_requests_by_index: Vec<std::sync::OnceLock<Counter>>,
    pub bytes_served: Counter,
    pub transforms: Family<TransformLabels, Counter>,
    pub transform_duration: Family<FormatLabels, Histogram, fn() -> Histogram>,
    pub variant_lookups: Family<LookupLabels, Counter>,
    pub pool_busy: Gauge,
    pub pool_waiting: Gauge,
    pub pool_rejections: Counter,
    pub plugin_calls: Family<PluginLabels, Counter>,
    pub plugin_duration: Family<PluginNameLabels, Histogram, fn() -> Histogram>,
    pub store_operations: Family<StoreLabels, Counter>,
    pub store_duration: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub catalog_operations: Family<CatalogLabels, Counter>,
    pub catalog_duration: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub jobs: Family<JobLabels, Counter>,
    /// Jobs queued and not yet done, as last counted.
    pub jobs_queued: Gauge,
    pub webhook_deliveries: Family<WebhookLabels, Counter>,
    pub outbox_depth: Gauge,
    pub outbox_oldest_age: Gauge<f64, AtomicU64>,
    /// What the usage API adds up across processes.
    pub tally: Tally,
    resident_bytes: Gauge,
    cpu_seconds: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::with_tally(Tally::default())
    }

    pub fn with_tally(tally: Tally) -> Self {
        let mut registry = Registry::with_prefix("kiln");
        let metrics = Self {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(duration_histogram),
            http_duration_by_index: (0..MOST_ROUTES * METHODS).map(|_| std::sync::OnceLock::new()).collect(),
            http_requests_by_index: (0..MOST_ROUTES * METHODS * COMMON_STATUSES.len())
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            bytes_served: Counter::default(),
            transforms: Family::default(),
            transform_duration: Family::new_with_constructor(duration_histogram),
            variant_lookups: Family::default(),
            pool_busy: Gauge::default(),
            pool_waiting: Gauge::default(),
            pool_rejections: Counter::default(),
            plugin_calls: Family::default(),
            plugin_duration: Family::new_with_constructor(duration_histogram),
            store_operations: Family::default(),
            store_duration: Family::new_with_constructor(duration_histogram),
            catalog_operations: Family::default(),
            catalog_duration: Family::new_with_constructor(duration_histogram),
            jobs: Family::default(),
            jobs_queued: Gauge::default(),
            webhook_deliveries: Family::default(),
            outbox_depth: Gauge::default(),
            outbox_oldest_age: Gauge::default(),
            tally,
            resident_bytes: Gauge::default(),
            cpu_seconds: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("http_requests", "HTTP requests answered", metrics.http_requests.clone());
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request",
            Unit::Seconds,
            metrics.http_duration.clone(),
        );
        registry.register_with_unit("served", "Body bytes sent", Unit::Bytes, metrics.bytes_served.clone());
        registry.register(
            "transforms",
            "Transformations by output format and outcome",
            metrics.transforms.clone(),
        );
        registry.register_with_unit(
            "transform_duration",
            "Time a transformation took, waiting for a worker included",
            Unit::Seconds,
            metrics.transform_duration.clone(),
        );
        registry.register(
            "variant_lookups",
            "Variants asked for, by where they were found (made: a miss)",
            metrics.variant_lookups.clone(),
        );
        registry.register(
            "pool_busy_workers",
            "Transformation workers at work",
            metrics.pool_busy.clone(),
        );
        registry.register(
            "pool_waiting",
            "Transformations waiting for a worker",
            metrics.pool_waiting.clone(),
        );
        registry.register(
            "pool_rejections",
            "Transformations refused with 503: queue full or waited too long",
            metrics.pool_rejections.clone(),
        );
        registry.register(
            "plugin_calls",
            "Plugin calls by plugin and outcome",
            metrics.plugin_calls.clone(),
        );
        registry.register_with_unit(
            "plugin_call_duration",
            "Time a plugin call took",
            Unit::Seconds,
            metrics.plugin_duration.clone(),
        );
        registry.register(
            "store_operations",
            "Object store operations by operation and outcome",
            metrics.store_operations.clone(),
        );
        registry.register_with_unit(
            "store_operation_duration",
            "Time an object store operation took",
            Unit::Seconds,
            metrics.store_duration.clone(),
        );
        registry.register(
            "catalog_operations",
            "Catalog operations by operation and outcome",
            metrics.catalog_operations.clone(),
        );
        registry.register_with_unit(
            "catalog_operation_duration",
            "Time a catalog operation took",
            Unit::Seconds,
            metrics.catalog_duration.clone(),
        );
        registry.register("jobs", "Jobs run from the queue, by outcome", metrics.jobs.clone());
        registry.register(
            "jobs_queued",
            "Jobs waiting in the queue or running",
            metrics.jobs_queued.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook attempts by endpoint and outcome",
            metrics.webhook_deliveries.clone(),
        );
        registry.register(
            "webhook_outbox_depth",
            "Webhook messages waiting to be delivered",
            metrics.outbox_depth.clone(),
        );
        registry.register_with_unit(
            "webhook_outbox_oldest_age",
            "Age of the oldest webhook message waiting to be delivered",
            Unit::Seconds,
            metrics.outbox_oldest_age.clone(),
        );
        registry.register_with_unit(
            "process_resident_memory",
            "Resident set size of the process",
            Unit::Bytes,
            metrics.resident_bytes.clone(),
        );
        registry.register_with_unit(
            "process_cpu",
            "CPU time the process has used",
            Unit::Seconds,
            metrics.cpu_seconds.clone(),
        );
        Self { registry, ..metrics }
    }

    /// Observes `seconds` in the `http_duration` histogram of `labels`,
    /// whose route is at `route_index` of at most [`MOST_ROUTES`] and whose
    /// method is at `method_index` of [`METHODS`].
    pub fn observe_http_duration(&self, route_index: usize, method_index: usize, labels: &RouteLabels, seconds: f64) {
        match self.http_duration_by_index.get(route_index * METHODS + method_index) {
            Some(slot) if method_index < METHODS => slot
                .get_or_init(|| self.http_duration.get_or_create(labels).clone())
                .observe(seconds),
            _ => self.http_duration.get_or_create(labels).observe(seconds),
        }
    }

    /// Counts a request in `http_requests` under `labels`, whose route and
    /// method are at `route_index` and `method_index` as for
    /// [`Metrics::observe_http_duration`].
    pub fn count_http_request(&self, route_index: usize, method_index: usize, labels: &HttpLabels) {
        let slot = COMMON_STATUSES
            .iter()
            .position(|status| *status == labels.status)
            .filter(|_| method_index < METHODS)
            .and_then(|status_index| {
                self.http_requests_by_index
                    .get((route_index * METHODS + method_index) * COMMON_STATUSES.len() + status_index)
            });
        match slot {
            Some(slot) => slot
                .get_or_init(|| self.http_requests.get_or_create(labels).clone())
                .inc(),
            None => self.http_requests.get_or_create(labels).inc(),
        };
    }

    /// The OpenMetrics text of everything counted, the process's memory and
    /// CPU read now.
    pub fn render(&self) -> String {
        if let Some((resident, cpu)) = process_usage() {
            self.resident_bytes.set(resident);
            self.cpu_seconds.set(cpu);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Resident bytes and CPU seconds of this process, from `/proc/self`.
fn process_usage() -> Option<(i64, f64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let (page_size, ticks_per_second) =
        unsafe { (libc::sysconf(libc::_SC_PAGESIZE), libc::sysconf(libc::_SC_CLK_TCK)) };
    Some((pages * page_size, ticks / ticks_per_second as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_counted() {
        let metrics = Metrics::new();
        let labels = HttpLabels {
            route: "/health",
            method: "GET",
            status: 200,
        };
        metrics.http_requests.get_or_create(&labels).inc_by(2);
        // Once through the resolved counter, once with an uncommon status.
        metrics.count_http_request(0, 0, &labels);
        let teapot = HttpLabels { status: 418, ..labels };
        metrics.count_http_request(0, 0, &teapot);
        metrics.count_http_request(MOST_ROUTES, METHODS, &teapot);
        let text = metrics.render();
        assert!(
            text.contains(r#"kiln_http_requests_total{route="/health",method="GET",status="200"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"kiln_http_requests_total{route="/health",method="GET",status="418"} 2"#),
            "{text}"
        );
        assert!(text.contains("kiln_process_resident_memory_bytes "), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
