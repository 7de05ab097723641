//! What this process counted for the usage API since it last wrote to the
//! catalog: requests and bytes per day and path prefix, requests per entry
//! and per path not found, plugin calls and their durations. Unlike the
//! Prometheus series these are keyed by paths, so every map is bounded: a
//! key past the bound is counted under [`OTHER`].
//!
//! Counting takes one short lock; `usage.rs` drains the tally every few
//! seconds, off the request path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Stands for every key past a map's bound (no asset path can be written so).
pub const OTHER: &str = "(other)";

/// Distinct keys each map holds between two drains.
const MOST_KEYS: usize = 5_000;

/// Days since the Unix epoch, in UTC.
pub type Day = i64;

/// A duration's bucket: a quarter of a binary order of magnitude of
/// microseconds, so p50 and p99 come out within 19%.
pub fn duration_bucket(duration: Duration) -> u32 {
    let micros = duration.as_micros().max(1) as f64;
    (micros.log2() * 4.0).floor() as u32
}

/// The longest duration that falls in `bucket`.
pub fn bucket_ceiling(bucket: u32) -> Duration {
    Duration::from_micros(2f64.powf(f64::from(bucket + 1) / 4.0) as u64)
}

/// What a tally counted, flattened for the catalog.
#[derive(Debug, Default)]
pub struct Counts {
    pub prefixes: HashMap<(Day, String), (u64, u64)>,
    pub entries: HashMap<(Day, String, u64), u64>,
    pub missing: HashMap<(Day, String), u64>,
    pub plugin_calls: HashMap<(String, &'static str), u64>,
    pub plugin_durations: HashMap<(String, u32), u64>,
}

/// Counts by day and path, looked up by `&str` so that counting a path
/// seen before allocates nothing, with foldhash rather than SipHash (the
/// keys are the server's own paths, and this runs on every read); at most
/// [`MOST_KEYS`] paths, then [`OTHER`].
struct ByPath<V> {
    days: HashMap<Day, HashMap<String, V, Fast>, Fast>,
    keys: usize,
}

type Fast = foldhash::fast::RandomState;

impl<V: Default> Default for ByPath<V> {
    fn default() -> Self {
        Self {
            days: HashMap::default(),
            keys: 0,
        }
    }
}

impl<V: Default> ByPath<V> {
    fn add(&mut self, day: Day, path: &str, by: impl FnOnce(&mut V)) {
        let paths = self.days.entry(day).or_default();
        if let Some(value) = paths.get_mut(path) {
            return by(value);
        }
        let key = if self.keys < MOST_KEYS { path } else { OTHER };
        match paths.get_mut(key) {
            Some(value) => by(value),
            None => {
                self.keys += 1;
                by(paths.entry(key.to_owned()).or_default());
            }
        }
    }

    fn flatten(self) -> impl Iterator<Item = (Day, String, V)> {
        self.days
            .into_iter()
            .flat_map(|(day, paths)| paths.into_iter().map(move |(path, value)| (day, path, value)))
    }
}

#[derive(Default)]
struct Tallied {
    prefixes: ByPath<(u64, u64)>,
    /// Per path, its entries' requests.
    entries: ByPath<Vec<(u64, u64)>>,
    missing: ByPath<u64>,
    plugin_calls: HashMap<(String, &'static str), u64>,
    plugin_durations: HashMap<(String, u32), u64>,
}

pub struct Tally {
    counts: Mutex<Tallied>,
    /// Segments of a path that make its prefix (`analytics.prefix-depth`).
    depth: usize,
    enabled: bool,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new(2, true)
    }
}

impl Tally {
    pub fn new(depth: usize, enabled: bool) -> Self {
        Self {
            counts: Mutex::new(Tallied::default()),
            depth: depth.max(1),
            enabled,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The prefix requests under `path` are counted at.
    pub fn prefix<'a>(&self, path: &'a str) -> &'a str {
        match path.match_indices('/').nth(self.depth - 1) {
            Some((end, _)) => &path[..end],
            None => path,
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Tallied> {
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An entry at `path` was served with `bytes` of body.
    pub fn served(&self, path: &str, entry: u64, bytes: u64) {
        if !self.enabled {
            return;
        }
        let day = today();
        let prefix = self.prefix(path);
        let mut counts = self.counts();
        counts.prefixes.add(day, prefix, |(requests, sent)| {
            *requests += 1;
            *sent += bytes;
        });
        counts.entries.add(day, path, |entries| {
            // A path has few entries asked for; past 64, they count as entry 0.
            let entry = if entries.len() < 64 { entry } else { 0 };
            match entries.iter_mut().find(|(n, _)| *n == entry) {
                Some((_, requests)) => *requests += 1,
                None => entries.push((entry, 1)),
            }
        });
    }

    /// Nothing was found at `path`.
    pub fn missing(&self, path: &str) {
        if !self.enabled {
            return;
        }
        let day = today();
        self.counts().missing.add(day, path, |n| *n += 1);
    }

    /// A call of a configured plugin ended with `outcome` after `took`.
    pub fn plugin_call(&self, plugin: &str, outcome: &'static str, took: Duration) {
        if !self.enabled {
            return;
        }
        let mut counts = self.counts();
        // Plugin names come from the configuration, so these maps stay small.
        *counts.plugin_calls.entry((plugin.to_owned(), outcome)).or_default() += 1;
        *counts
            .plugin_durations
            .entry((plugin.to_owned(), duration_bucket(took)))
            .or_default() += 1;
    }

    /// Everything counted since the last drain.
    pub fn drain(&self) -> Counts {
        let tallied = std::mem::take(&mut *self.counts());
        let mut counts = Counts {
            plugin_calls: tallied.plugin_calls,
            plugin_durations: tallied.plugin_durations,
            ..Counts::default()
        };
        counts.prefixes.extend(
            tallied
                .prefixes
                .flatten()
                .map(|(day, prefix, value)| ((day, prefix), value)),
        );
        for (day, path, entries) in tallied.entries.flatten() {
            for (entry, requests) in entries {
                *counts.entries.entry((day, path.clone(), entry)).or_default() += requests;
            }
        }
        counts
            .missing
            .extend(tallied.missing.flatten().map(|(day, path, n)| ((day, path), n)));
        counts
    }
}

fn today() -> Day {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (since.as_secs() / 86_400) as Day
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_keep_the_configured_segments() {
        let tally = Tally::new(2, true);
        assert_eq!(tally.prefix("users/123/avatar"), "users/123");
        assert_eq!(tally.prefix("users/123"), "users/123");
        assert_eq!(tally.prefix("logo"), "logo");
        assert_eq!(Tally::new(1, true).prefix("users/123/avatar"), "users");
    }

    #[test]
    fn a_flood_of_distinct_paths_is_bounded() {
        let tally = Tally::new(2, true);
        for n in 0..(MOST_KEYS + 500) {
            tally.missing(&format!("nothing/{n}"));
            tally.served(&format!("p{n}/x/y"), 1, 10);
        }
        let counts = tally.drain();
        assert_eq!(counts.missing.len(), MOST_KEYS + 1);
        assert_eq!(counts.prefixes.len(), MOST_KEYS + 1);
        let day = today();
        assert_eq!(counts.missing[&(day, OTHER.to_owned())], 500);
        assert_eq!(counts.prefixes[&(day, OTHER.to_owned())], (500, 5000));
        assert!(tally.drain().missing.is_empty(), "a drain empties the tally");
    }

    #[test]
    fn buckets_bound_their_durations() {
        for micros in [1, 7, 250, 1_000, 123_456, 30_000_000] {
            let took = Duration::from_micros(micros);
            let ceiling = bucket_ceiling(duration_bucket(took));
            assert!(
                ceiling >= took && ceiling.as_secs_f64() <= took.as_secs_f64() * 1.2 + 1e-6,
                "{micros}"
            );
        }
    }

    #[test]
    fn a_disabled_tally_counts_nothing() {
        let tally = Tally::new(2, false);
        tally.served("a/b", 1, 1);
        tally.missing("a/c");
        tally.plugin_call("p", "ok", Duration::from_millis(1));
        let counts = tally.drain();
        assert!(counts.prefixes.is_empty() && counts.missing.is_empty() && counts.plugin_calls.is_empty());
    }
}
