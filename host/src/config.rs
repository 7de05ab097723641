//! Configuration: one TOML file, every key overridable from the environment,
//! embedded defaults when there is no file at all (SPEC §9).
//!
//! Loading validates everything up front — including each `[[paths]]` rule on
//! its own — so an invalid config fails at start with a message naming the
//! key, never later on a request. Path rules live in [`rules`].

#[cfg(test)]
mod documented;
mod rules;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use rules::{LqipKind, OnDemand, PathRules, PathSettings, Preprocess, RedirectStrategy, ResolvedRules, Signing};

pub use crate::auth::ApiKeyConfig;
pub use crate::remote::IngestConfig;
pub use crate::secret::Secret;
pub use crate::store::S3Settings;
use crate::transform::{ParamLimits, Params};
pub use crate::webhooks::WebhookConfig;

/// Environment variables that configure Kiln start with this prefix;
/// `__` separates nesting levels and `_` stands for `-` in key names.
pub const ENV_PREFIX: &str = "KILN_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file, an environment override, or a value in either is invalid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        // figment reports each problem with its key path and its source
        // (file or environment variable); keep all of them.
        // Kiln uses no figment profiles, so the implicit `default.` prefix is noise.
        let messages: Vec<String> = error
            .into_iter()
            .map(|e| e.to_string().replace("key \"default.", "key \""))
            .collect();
        Self::Invalid(messages.join("; "))
    }
}

/// A database URL with any password in it replaced.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!(
                "{scheme}://{user}:{}@{host}{}",
                Secret::REDACTED,
                &rest[authority_end..]
            )
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded defaults keep their state: the SQLite catalog, the
    /// filesystem store and the development key's hash.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    pub cache: CacheConfig,
    pub signing: SigningConfig,
    pub ingest: IngestConfig,
    pub api_keys: Vec<ApiKeyConfig>,
    /// Named transformations: `[profiles.thumbnail] w = 300 …`.
    pub profiles: BTreeMap<String, BTreeMap<String, toml::Value>>,
    /// WebAssembly plugins: `[plugins.watermark] path = "…"`.
    pub plugins: BTreeMap<String, crate::plugin::PluginConfig>,
    pub paths: Vec<PathRuleConfig>,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub analytics: AnalyticsConfig,
    pub webhooks: Vec<WebhookConfig>,
}

/// `[analytics]`: the usage counters behind `/api/usage` (SPEC §8).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Count requests and bytes served per day and path prefix, entry and
    /// path not found; `false` counts nothing.
    pub enabled: bool,
    /// Segments of an asset path that make the prefix its requests are
    /// counted under: 2 counts `users/123/avatar` under `users/123`.
    pub prefix_depth: usize,
    /// How often each process adds what it counted to the catalog.
    pub flush_seconds: f64,
    /// Distinct prefixes, entries and paths not found the catalog keeps a
    /// day, each; requests past them count under `(other)`.
    pub max_paths_per_day: u32,
    /// Days of per-day counts kept; older days are forgotten.
    pub retention_days: u32,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            prefix_depth: 2,
            flush_seconds: 5.0,
            max_paths_per_day: 10_000,
            retention_days: 400,
        }
    }
}

/// `[metrics]`: where `GET /metrics` is served besides the main listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Count every HTTP request by route, method and status, with its
    /// latency and body bytes; `false` leaves the request series empty
    /// (the other series count as part of the work they count).
    pub enabled: bool,
    /// An address of its own, e.g. `127.0.0.1:9100`, where `/metrics` needs
    /// no key (keep it off the public network); on the main listener it
    /// always needs a key with the `admin` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

/// `[log]`: how the server writes its log (to stderr). Which lines are
/// written is `KILN_LOG` (a tracing filter, default `info`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line, the request's span (its id) included.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            cache: CacheConfig::default(),
            signing: SigningConfig::default(),
            ingest: IngestConfig::default(),
            api_keys: Vec::new(),
            profiles: BTreeMap::new(),
            plugins: BTreeMap::new(),
            paths: Vec::new(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            analytics: AnalyticsConfig::default(),
            webhooks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Base of the absolute URLs Kiln hands out (`link`, `redirect`);
    /// without it they are built from the request's `Host` header, when
    /// that is one of `allowed-hosts`.
    pub public_url: Option<String>,
    /// `Host` values trusted to build absolute URLs when `public-url` is
    /// unset: `name` (any port) or `name:port`. Empty means the address
    /// Kiln listens on and `localhost`. Any other Host asking for an
    /// absolute URL gets `400 invalid_host`.
    pub allowed_hosts: Vec<String>,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_grace_seconds: u64,
    /// How long a client may take to send a request's line and headers,
    /// and how long a keep-alive connection may sit idle between requests.
    pub header_timeout_ms: u64,
    /// Connections open at once; more clients wait to be accepted.
    pub max_connections: usize,
    /// Threads of the async runtime (HTTP, catalog, store); 0 means half the
    /// cores, at least one. Transformations run on their own pool.
    pub io_threads: usize,
}

impl ServerConfig {
    /// The async runtime's thread count. Its threads only move requests
    /// and bytes about, so the cores go to the transform pool: on 2 cores,
    /// one thread instead of two answered cached variants with less CPU and
    /// made cold transforms faster (fewer cross-thread wake-ups;
    /// bench/NOTES.md).
    pub fn io_threads(&self) -> usize {
        match self.io_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            allowed_hosts: Vec::new(),
            shutdown_grace_seconds: 30,
            header_timeout_ms: 30_000,
            max_connections: 1024,
            io_threads: 0,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` (default: `{data-dir}/kiln.db`) or `postgres://…`;
    /// a secret, as it may hold a password.
    pub url: Option<Secret>,
    pub max_connections: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum StorageConfig {
    /// Objects as files under `root` (default: `{data-dir}/objects`). Path
    /// rules' `bucket` does not apply: every key holds its asset path, so
    /// one directory tree serves them all.
    Fs {
        // Skipped when absent so that the embedded defaults, which every
        // config merges over, add no `root` to an S3 section.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root: Option<PathBuf>,
    },
    /// Objects in S3 or an S3-compatible store.
    S3(S3Settings),
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self::Fs { root: None }
    }
}

/// What each process keeps in memory between requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Bytes of recently served variants and originals (each up to 2 MiB)
    /// kept in memory, so that hot ones skip the object store. 0 turns it off.
    pub memory_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            memory_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SigningConfig {
    /// HMAC keys in hex (`kiln generate-secret`); the first signs, all verify.
    pub keys: Vec<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// The largest upload accepted where no path rule says otherwise.
    pub max_upload_bytes: u64,
    /// The largest JSON body (metadata updates, URL ingest requests).
    pub max_json_bytes: u64,
    /// How long a client may take to send a request body (a slow client gets 408).
    pub body_timeout_ms: u64,
    /// Originals with more pixels (width x height of one frame) are refused,
    /// checked from the header before any decoding.
    pub max_input_pixels: u64,
    /// The largest width or height a transformation may produce.
    pub max_output_dimension: u32,
    /// Originals with more animation frames are refused.
    pub max_frames: u32,
    /// A transformation running longer is stopped and answered with 422.
    pub transform_timeout_ms: u64,
    /// Transformations run at once; 0 means two per core.
    pub transform_workers: usize,
    /// MiB that running transformations may hold between them, by their
    /// estimate (four bytes a pixel of the original's decoded frames, ten a
    /// pixel of the result's, more for AVIF, JPEG XL and HEIC); 0 means 64
    /// per core. A result that alone
    /// needs more is refused with 422.
    pub transform_memory_mb: u64,
    /// Transformations that may wait for a worker before requests get 503.
    pub transform_queue: usize,
    /// How long a transformation may wait for a worker before its request gets 503.
    pub transform_queue_wait_ms: u64,
    /// Variants one entry may have; a request for one more is refused with
    /// 422. Bounds what unsigned URLs can make a path store.
    pub max_variants_per_entry: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 32 * 1024 * 1024,
            max_json_bytes: 64 * 1024,
            body_timeout_ms: 60_000,
            max_input_pixels: 100_000_000,
            max_output_dimension: 8192,
            max_frames: 500,
            transform_timeout_ms: 30_000,
            transform_workers: 0,
            transform_memory_mb: 0,
            transform_queue: 32,
            transform_queue_wait_ms: 10_000,
            max_variants_per_entry: 200,
        }
    }
}

impl LimitsConfig {
    pub fn params(&self) -> ParamLimits {
        ParamLimits {
            max_dimension: self.max_output_dimension,
        }
    }

    pub fn transform(&self) -> crate::transform::TransformLimits {
        crate::transform::TransformLimits {
            max_input_pixels: self.max_input_pixels,
            max_dimension: self.max_output_dimension,
            max_frames: self.max_frames,
            timeout: std::time::Duration::from_millis(self.transform_timeout_ms),
            workers: self.transform_workers,
            memory_bytes: self.transform_memory_mb.saturating_mul(1024 * 1024),
            queue: crate::transform::Queue {
                length: self.transform_queue,
                wait: std::time::Duration::from_millis(self.transform_queue_wait_ms),
            },
        }
    }
}

/// The configured profiles, parsed.
#[derive(Debug, Clone, Default)]
pub struct Profiles(BTreeMap<String, Params>);

impl Profiles {
    pub fn get(&self, name: &str) -> Option<&Params> {
        self.0.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// `explicit` laid over the profile it names, if it names one.
    pub fn apply(&self, explicit: Params) -> Result<Params, String> {
        match &explicit.profile {
            Some(name) => self
                .get(name)
                .map(|profile| profile.overlaid_with(&explicit))
                .ok_or_else(|| format!("there is no profile {name:?}; see GET /profiles")),
            None => Ok(explicit),
        }
    }
}

/// One `[[paths]]` table: a pattern and the settings it applies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathRuleConfig {
    pub pattern: String,
    #[serde(flatten)]
    pub settings: toml::Table,
}

impl Config {
    /// Loads the embedded defaults, then `file` if given, then `KILN_*` overrides.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::Missing(file.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(environment());
        let config: Config = figment.extract()?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a config from TOML text with no environment overrides.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.server.public_url {
            let valid = (url.starts_with("http://") || url.starts_with("https://"))
                && !url.ends_with('/')
                && !url.contains(['?', '#', ' ']);
            if !valid {
                return Err(ConfigError::Invalid(format!(
                    "server.public-url {url:?} must be an http(s) URL without a trailing slash, query or fragment"
                )));
            }
        }
        if let Some(host) = self
            .server
            .allowed_hosts
            .iter()
            .find(|host| crate::address::split_host(host).is_none())
        {
            return Err(ConfigError::Invalid(format!(
                "server.allowed-hosts: {host:?} is not a host name with an optional :port"
            )));
        }
        for (key, zero) in [
            ("header-timeout-ms", self.server.header_timeout_ms == 0),
            ("max-connections", self.server.max_connections == 0),
        ] {
            if zero {
                return Err(ConfigError::Invalid(format!("server.{key} must be at least 1")));
            }
        }
        if let Some(url) = &self.database.url
            && !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| url.expose().starts_with(scheme))
        {
            return Err(ConfigError::Invalid(format!(
                "database.url {:?}: use sqlite://FILE or postgres://USER@HOST/DATABASE",
                without_password(url.expose())
            )));
        }
        for (key, zero) in [
            ("max-upload-bytes", self.limits.max_upload_bytes == 0),
            ("max-input-pixels", self.limits.max_input_pixels == 0),
            ("max-output-dimension", self.limits.max_output_dimension == 0),
            ("max-frames", self.limits.max_frames == 0),
            ("transform-timeout-ms", self.limits.transform_timeout_ms == 0),
            ("body-timeout-ms", self.limits.body_timeout_ms == 0),
            ("transform-queue-wait-ms", self.limits.transform_queue_wait_ms == 0),
            ("max-variants-per-entry", self.limits.max_variants_per_entry == 0),
        ] {
            if zero {
                return Err(ConfigError::Invalid(format!("limits.{key} must be at least 1")));
            }
        }
        let profiles = self.profiles()?;
        for (name, plugin) in &self.plugins {
            if !crate::plugin::is_plugin_name(name) {
                return Err(ConfigError::Invalid(format!(
                    "plugins.{name}: a plugin name is lower-case letters, digits, - and _"
                )));
            }
            if !(1..=crate::plugin::MAX_MEMORY_MB).contains(&plugin.memory_mb) {
                return Err(ConfigError::Invalid(format!(
                    "plugins.{name}.memory-mb must be 1..={}",
                    crate::plugin::MAX_MEMORY_MB
                )));
            }
            if plugin.timeout_ms == 0 {
                return Err(ConfigError::Invalid(format!(
                    "plugins.{name}.timeout-ms must be at least 1"
                )));
            }
        }
        for (i, key) in self.api_keys.iter().enumerate() {
            crate::auth::ApiKey::from_config(key)
                .map_err(|e| ConfigError::Invalid(format!("api-keys[{i}] ({:?}): {e}", key.name)))?;
        }
        if let StorageConfig::S3(s3) = &self.storage {
            if !crate::store::valid_bucket_name(&s3.bucket) {
                return Err(ConfigError::Invalid(format!(
                    "storage.bucket {:?} is not a valid bucket name (3 to 63 of a-z, 0-9, . and -)",
                    s3.bucket
                )));
            }
            if s3.multipart_part_bytes < crate::store::MIN_PART_BYTES {
                return Err(ConfigError::Invalid(format!(
                    "storage.multipart-part-bytes must be at least {} (S3's smallest part)",
                    crate::store::MIN_PART_BYTES
                )));
            }
            if s3.access_key_id.is_some() != s3.secret_access_key.is_some() {
                return Err(ConfigError::Invalid(
                    "storage.access-key-id and storage.secret-access-key go together".into(),
                ));
            }
        }
        let signer = self.signer()?;
        for domain in &self.ingest.allowed_domains {
            if crate::remote::AllowedDomain::parse(domain).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "ingest.allowed-domains: {domain:?} is not a host name (or *.host.name), \
                     with an optional :port or :*"
                )));
            }
        }
        if self.ingest.timeout_ms == 0 {
            return Err(ConfigError::Invalid("ingest.timeout-ms must be at least 1".into()));
        }
        PathRules::compile(&self.paths, &self.limits, &profiles, &self.plugin_kinds())?;
        crate::webhooks::Webhooks::compile(&self.webhooks).map_err(ConfigError::Invalid)?;
        if !(1..=32).contains(&self.analytics.prefix_depth) {
            return Err(ConfigError::Invalid("analytics.prefix-depth must be 1 to 32".into()));
        }
        if !(self.analytics.flush_seconds >= 0.05 && self.analytics.flush_seconds <= 3600.0) {
            return Err(ConfigError::Invalid(
                "analytics.flush-seconds must be 0.05 to 3600".into(),
            ));
        }
        if self.analytics.max_paths_per_day == 0 || self.analytics.retention_days == 0 {
            return Err(ConfigError::Invalid(
                "analytics.max-paths-per-day and analytics.retention-days must be at least 1".into(),
            ));
        }
        if !signer.is_configured()
            && let Some(rule) = self.paths.iter().find(|rule| {
                let signing = rule.settings.get("signing").and_then(toml::Value::as_str);
                signing.is_some_and(|mode| mode != "none")
            })
        {
            return Err(ConfigError::Invalid(format!(
                "paths (pattern {:?}): signing needs [signing] keys (make one with `kiln generate-secret`)",
                rule.pattern
            )));
        }
        if matches!(self.storage, StorageConfig::Fs { .. })
            && let Some(rule) = self.paths.iter().find(|rule| {
                let strategy = rule.settings.get("redirect").and_then(|r| r.get("strategy"));
                strategy.and_then(toml::Value::as_str) == Some("presigned")
            })
        {
            return Err(ConfigError::Invalid(format!(
                "paths (pattern {:?}): redirect strategy \"presigned\" needs storage kind \"s3\"",
                rule.pattern
            )));
        }
        Ok(())
    }

    pub fn signer(&self) -> Result<crate::auth::signing::Signer, ConfigError> {
        let keys: Vec<&str> = self.signing.keys.iter().map(Secret::expose).collect();
        crate::auth::signing::Signer::from_hex(&keys).map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// Every configured plugin with every kind, as far as the config alone
    /// can tell; once loaded, `Plugins::kinds` tells the truth.
    pub fn plugin_kinds(&self) -> BTreeMap<String, Vec<crate::plugin::Kind>> {
        self.plugins
            .keys()
            .map(|name| (name.clone(), crate::plugin::Kind::ALL.to_vec()))
            .collect()
    }

    /// Parses `[profiles.*]` with the same rules as URL parameters.
    pub fn profiles(&self) -> Result<Profiles, ConfigError> {
        let mut parsed = BTreeMap::new();
        for (name, table) in &self.profiles {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            {
                return Err(ConfigError::Invalid(format!(
                    "profiles.{name}: a profile name is letters, digits, - and _"
                )));
            }
            let params = Params::from_profile(table, self.limits.params())
                .map_err(|e| ConfigError::Invalid(format!("profiles.{name}.{}: {}", e.param, e.message)))?;
            parsed.insert(name.clone(), params);
        }
        Ok(Profiles(parsed))
    }

    pub fn database_url(&self) -> String {
        self.database
            .url
            .as_ref()
            .map(|url| url.expose().to_owned())
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("kiln.db").display()))
    }

    /// This config with every secret blanked, for printing (`kiln config check`).
    pub fn redacted(&self) -> Self {
        let mut config = self.clone();
        let blank = || Secret::from(Secret::REDACTED);
        for key in &mut config.signing.keys {
            *key = blank();
        }
        if let StorageConfig::S3(s3) = &mut config.storage
            && let Some(secret) = &mut s3.secret_access_key
        {
            *secret = blank();
        }
        if let Some(url) = &mut config.database.url {
            *url = Secret::from(without_password(url.expose()).as_str());
        }
        for webhook in &mut config.webhooks {
            webhook.secret = blank();
        }
        config
    }
}

fn environment() -> Env {
    Env::prefixed(ENV_PREFIX)
        // KILN_CONFIG names the file and KILN_LOG the log filter: neither is a key.
        .ignore(&["config", "log"])
        .map(|key| key.as_str().replace("__", ".").replace('_', "-").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite://./data/kiln.db");
        assert!(matches!(config.storage, StorageConfig::Fs { root: None }));
        assert_eq!(config.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn io_threads_default_to_half_the_cores_and_can_be_set() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let default = Config::from_toml("").unwrap().server.io_threads();
        assert_eq!(default, (cores / 2).max(1));
        let set = Config::from_toml("[server]\nio-threads = 3").unwrap();
        assert_eq!(set.server.io_threads(), 3);
        assert!(Config::from_toml("[server]\nio-threads = -1").is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_printing() {
        let text = "[signing]\nkeys = [\"00112233445566778899aabbccddeeff\"]\n\
                    [[webhooks]]\nname = \"app\"\nurl = \"http://app\"\nevents = [\"asset.created\"]\n\
                    secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
                    [database]\nurl = \"postgres://kiln:hunter2@db:5432/kiln?sslmode=require\"\n\
                    [storage]\nkind = \"s3\"\nbucket = \"media\"\naccess-key-id = \"AKID\"\n\
                    secret-access-key = \"s3cr3t-value\"\n";
        let config = Config::from_toml(text).unwrap();
        let printed = toml::to_string_pretty(&config.redacted()).unwrap();
        let debug = format!("{config:?}");
        for secret in [
            "00112233445566778899aabbccddeeff",
            "hunter2",
            "s3cr3t-value",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert!(!printed.contains(secret), "{secret} printed: {printed}");
            assert!(!debug.contains(secret), "{secret} in Debug: {debug}");
        }
        assert!(
            printed.contains("postgres://kiln:<redacted>@db:5432/kiln?sslmode=require"),
            "{printed}"
        );
        assert!(printed.contains("AKID"), "the key id is not a secret");
        assert!(config.signer().unwrap().is_configured(), "the real key still signs");
        let bad = Config::from_toml("[database]\nurl = \"mysql://u:hunter2@h/d\"").unwrap_err();
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            ("[server]\nlisten = 12", "listen"),
            ("[server]\nbogus = 1", "bogus"),
            ("[limits]\nmax-upload-bytes = \"big\"", "max-upload-bytes"),
            ("[storage]\nkind = \"ftp\"", "ftp"),
            ("[storage]\nkind = \"s3\"\nbucket = \"Media\"", "storage.bucket"),
            (
                "[storage]\nkind = \"s3\"\nbucket = \"media\"\nendpoit = \"x\"",
                "endpoit",
            ),
            (
                "[storage]\nkind = \"s3\"\nbucket = \"media\"\naccess-key-id = \"x\"",
                "secret-access-key",
            ),
            (
                "[[paths]]\npattern = \"/**\"\nredirect = { strategy = \"presigned\" }",
                "presigned",
            ),
            (
                "[[paths]]\npattern = \"/**\"\nredirect = { strategy = \"template\" }",
                "redirect.template",
            ),
            (
                "[[paths]]\npattern = \"/**\"\nredirect = { template = \"https://cdn/{bucket}\" }",
                "{key}",
            ),
            ("[[paths]]\npattern = \"/**\"\nbucket = \"UPPER\"", "bucket"),
            ("[signing]\nkeys = [\"nothex\"]", "signing.keys[0]"),
            ("[ingest]\nallowed-domains = [\"http://x\"]", "http://x"),
            ("[server]\nallowed-hosts = [\"a.example:http\"]", "allowed-hosts"),
            ("[server]\nallowed-hosts = [\"a b\"]", "allowed-hosts"),
            ("[ingest]\nallowed-networks = [\"10.0.0.0/33\"]", "allowed-networks"),
            ("[[paths]]\npattern = \"/**\"\nsigning = \"all\"", "[signing] keys"),
            ("[[paths]]\npattern = \"/**\"\nsigning = \"some\"", "some"),
            ("[[paths]]\npattern = \"/**\"\ncache-control = 5", "cache-control"),
            ("[[paths]]\npattern = \"/**\"\nmax-upload-bytez = 5", "max-upload-bytez"),
            ("[[paths]]\npattern = \"users/*\"", "users/*"),
            (
                "[[paths]]\npattern = \"/**\"\nallowed-content-types = [\"text/html\"]",
                "text/html",
            ),
            (
                "[[api-keys]]\nname = \"ci\"\nsha256 = \"abc\"\nscopes = [\"read\"]",
                "sha256",
            ),
            (
                "[[api-keys]]\nname = \"ci\"\nsha256 = \"abc\"\nscopes = [\"fly\"]",
                "fly",
            ),
            ("unknown-section = 1", "unknown-section"),
            (
                "[[webhooks]]\nname = \"app\"\nurl = \"http://app\"\nsecret = \"x\"\nevents = []",
                "webhooks",
            ),
        ] {
            let error = Config::from_toml(text).expect_err(text).to_string();
            assert!(
                error.contains(key),
                "{text:?} gave {error:?}, which does not name {key:?}"
            );
        }
    }
}
