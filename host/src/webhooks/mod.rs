//! Webhooks (SPEC §8): which endpoints hear of which changes, and the
//! messages they are sent, signed as the Standard Webhooks specification
//! says so that any of its libraries verifies them.
//!
//! [`Webhooks`] is the catalog's [`Announce`]: the catalog writes what it
//! answers in the transaction of the change. `deliver.rs` sends them.

mod deliver;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use globset::{GlobSet, GlobSetBuilder};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

pub use deliver::run;

use crate::catalog::{Announce, Change, NewMessage, Timestamp};
use crate::secret::Secret;
use crate::views::{EntrySummary, VariantView};

/// The events an endpoint may ask for.
pub const EVENTS: [&str; 5] = [
    "asset.created",
    "asset.updated",
    "asset.deleted",
    "variant.created",
    "variant.failed",
];

/// Messages are kept this long: settled ones for replays, owed ones for
/// their retries; then they are forgotten, which bounds the outbox whatever
/// its endpoints do.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// One `[[webhooks]]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WebhookConfig {
    /// Names the endpoint in `/api/webhooks` and the metrics.
    pub name: String,
    pub url: String,
    /// `whsec_` and the base64 of 16 to 64 random bytes (`kiln
    /// generate-secret --webhook` or any Standard Webhooks library).
    pub secret: Secret,
    /// Which of [`EVENTS`] it hears of.
    pub events: Vec<String>,
    /// Path patterns as in `[[paths]]` (`/users/**`); empty: every path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The waits before each retry, in seconds: after the first attempt
    /// fails, the first wait, and so on; when they run out, the message
    /// fails. Each wait is varied by up to a fifth either way.
    #[serde(default = "default_schedule")]
    pub retry_schedule_seconds: Vec<f64>,
    /// How long one attempt may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_schedule() -> Vec<f64> {
    vec![5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
}

fn default_timeout_ms() -> u64 {
    15_000
}

/// A configured endpoint, checked and compiled.
pub struct Endpoint {
    pub name: String,
    url: reqwest::Url,
    key: Vec<u8>,
    events: Vec<&'static str>,
    paths: Option<GlobSet>,
    schedule: Vec<Duration>,
    timeout: Duration,
}

impl Endpoint {
    fn compile(config: &WebhookConfig) -> Result<Self, String> {
        let name = &config.name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
        {
            return Err(format!(
                "webhooks: name {name:?} must be 1 to 64 of lower-case letters, digits, - and _"
            ));
        }
        let at = |key: &str| format!("webhooks ({name:?}).{key}");
        let url = reqwest::Url::parse(&config.url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| format!("{}: {:?} is not an http(s) URL", at("url"), config.url))?;
        let key = config
            .secret
            .expose()
            .strip_prefix("whsec_")
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .filter(|key| (16..=64).contains(&key.len()))
            .ok_or_else(|| format!("{}: must be whsec_ and the base64 of 16 to 64 bytes", at("secret")))?;
        if config.events.is_empty() {
            return Err(format!("{}: name at least one of {}", at("events"), EVENTS.join(", ")));
        }
        let events = config
            .events
            .iter()
            .map(|event| {
                EVENTS
                    .iter()
                    .find(|known| *known == event)
                    .copied()
                    .ok_or_else(|| format!("{}: {event:?} is not one of {}", at("events"), EVENTS.join(", ")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let paths = if config.paths.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for pattern in &config.paths {
                for glob in crate::address::path_globs(pattern).map_err(|e| format!("{}: {e}", at("paths")))? {
                    set.add(glob);
                }
            }
            Some(set.build().map_err(|e| format!("{}: {e}", at("paths")))?)
        };
        let schedule = config
            .retry_schedule_seconds
            .iter()
            .map(|&seconds| {
                (seconds.is_finite() && seconds > 0.0 && seconds <= RETENTION.as_secs_f64())
                    .then(|| Duration::from_secs_f64(seconds))
            })
            .collect::<Option<Vec<_>>>()
            .filter(|schedule| schedule.len() <= 20)
            .ok_or_else(|| {
                format!(
                    "{}: at most 20 waits, each over 0 and at most 7 days",
                    at("retry-schedule-seconds")
                )
            })?;
        if !(1..=60_000).contains(&config.timeout_ms) {
            return Err(format!("{}: must be 1 to 60000", at("timeout-ms")));
        }
        Ok(Self {
            name: name.clone(),
            url,
            key,
            events,
            paths,
            schedule,
            timeout: Duration::from_millis(config.timeout_ms),
        })
    }

    fn hears(&self, change: &Change<'_>) -> bool {
        self.events.contains(&change.event())
            && self
                .paths
                .as_ref()
                .is_none_or(|paths| paths.is_match(change.path().to_string()))
    }

    /// `webhook-signature`: `v1,` and the base64 of HMAC-SHA256 over
    /// `{id}.{timestamp}.{body}`.
    pub fn signature(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(format!("{message_id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// Every configured endpoint.
pub struct Webhooks {
    endpoints: Vec<Endpoint>,
}

impl Webhooks {
    /// Checks and compiles `[[webhooks]]`; the error names the key.
    pub fn compile(configs: &[WebhookConfig]) -> Result<Self, String> {
        let endpoints = configs.iter().map(Endpoint::compile).collect::<Result<Vec<_>, _>>()?;
        for (i, endpoint) in endpoints.iter().enumerate() {
            if endpoints[..i].iter().any(|other| other.name == endpoint.name) {
                return Err(format!("webhooks: the name {:?} is used twice", endpoint.name));
            }
        }
        Ok(Self { endpoints })
    }

    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|endpoint| endpoint.name == name)
    }
}

impl Announce for Webhooks {
    fn messages(&self, change: &Change<'_>) -> Vec<NewMessage> {
        let listeners: Vec<&Endpoint> = self.endpoints.iter().filter(|e| e.hears(change)).collect();
        if listeners.is_empty() {
            return Vec::new();
        }
        let body = json!({
            "type": change.event(),
            "timestamp": Timestamp::now().to_rfc3339(),
            "data": data(change),
        })
        .to_string();
        listeners
            .into_iter()
            .map(|endpoint| NewMessage {
                endpoint: endpoint.name.clone(),
                message_id: format!("msg_{:032x}", rand::random::<u128>()),
                event: change.event(),
                body: body.clone(),
            })
            .collect()
    }
}

/// The `data` of an event's body: an entry as the API's metadata shows it
/// (without its variants); a variant with the entry it belongs to.
fn data(change: &Change<'_>) -> serde_json::Value {
    match *change {
        Change::AssetCreated(entry) | Change::AssetUpdated(entry) | Change::AssetDeleted(entry) => {
            serde_json::to_value(EntrySummary::of(entry)).unwrap_or_default()
        }
        Change::VariantCreated { path, entry, variant } => json!({
            "path": path.to_string(),
            "entry": entry,
            "variant": VariantView::of(variant),
        }),
        Change::VariantFailed {
            path,
            entry,
            key,
            error,
        } => json!({
            "path": path.to_string(),
            "entry": entry,
            "transformation": key,
            "error": error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> WebhookConfig {
        toml::from_str(text).unwrap()
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn signs_as_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let endpoint = Endpoint::compile(&config(&format!(
            "name = \"a\"\nurl = \"http://x\"\nsecret = \"{SECRET}\"\nevents = [\"asset.created\"]"
        )))
        .unwrap();
        let signature = endpoint.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn refuses_what_cannot_work_naming_the_key() {
        for (text, key) in [
            (
                "name = \"A\"\nurl = \"http://x\"\nsecret = \"S\"\nevents = [\"asset.created\"]",
                "name",
            ),
            (
                "name = \"a\"\nurl = \"ftp://x\"\nsecret = \"S\"\nevents = [\"asset.created\"]",
                "url",
            ),
            (
                "name = \"a\"\nurl = \"http://x\"\nsecret = \"whsec_!!\"\nevents = [\"asset.created\"]",
                "secret",
            ),
            (
                "name = \"a\"\nurl = \"http://x\"\nsecret = \"S\"\nevents = [\"asset.moved\"]",
                "events",
            ),
            (
                "name = \"a\"\nurl = \"http://x\"\nsecret = \"S\"\nevents = []",
                "events",
            ),
            (
                "name = \"a\"\nurl = \"http://x\"\nsecret = \"S\"\nevents = [\"asset.created\"]\npaths = [\"users\"]",
                "paths",
            ),
            (
                "name = \"a\"\nurl = \"http://x\"\nsecret = \"S\"\nevents = [\"asset.created\"]\nretry-schedule-seconds = [0]",
                "retry-schedule-seconds",
            ),
        ] {
            let text = text.replace("\"S\"", &format!("\"{SECRET}\""));
            let error = Endpoint::compile(&config(&text)).err().expect(&text);
            assert!(error.contains(key), "{text}: {error}");
        }
    }
}
