//! Secrets from the configuration: signing keys, the S3 secret, a database
//! URL with its password. Owned by no module that uses one, so that each can
//! hold its own settings without reaching back into `config`.

use serde::{Deserialize, Serialize};

/// A configured secret (signing key, S3 secret, database URL with its
/// password): `Debug` never shows it, and [`Config::redacted`] blanks it
/// before the config is printed. It serializes as itself, since figment
/// merges the embedded defaults through serialization.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub const REDACTED: &'static str = "<redacted>";

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}
