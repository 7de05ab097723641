//! API keys: who may write, and where (SPEC §6).
//!
//! Keys are configured by their SHA-256 only; a presented key is hashed and
//! compared in constant time against every configured hash. With no
//! `[[api-keys]]` at all, a development key is made on first start, its hash
//! kept under the data directory, and the key itself printed once.

pub mod signing;

use std::path::Path;

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::address::AssetPath;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Read,
    Write,
    Delete,
    Admin,
}

impl Scope {
    const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Delete, Scope::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Delete => "delete",
            Scope::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this request needs an API key: send `Authorization: Bearer <key>`")]
    MissingKey,
    #[error("the API key is not valid")]
    InvalidKey,
    #[error("the API key {key:?} lacks the `{}` scope", scope.name())]
    MissingScope { key: String, scope: Scope },
    #[error("the API key {key:?} may only touch paths under {prefix}")]
    OutsidePrefix { key: String, prefix: String },
}

#[derive(Debug, thiserror::Error)]
pub enum KeyConfigError {
    #[error("sha256 must be 64 hex digits (the SHA-256 of the key, not the key)")]
    BadHash,
    #[error("prefix {0:?} must start with `/`, e.g. \"/\" or \"/users\"")]
    BadPrefix(String),
    #[error("scopes is empty: give at least one of read, write, delete, admin")]
    NoScopes,
}

/// One `[[api-keys]]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub name: String,
    /// Hex SHA-256 of the key; the key itself is never configured.
    pub sha256: String,
    pub scopes: Vec<crate::auth::Scope>,
    #[serde(default = "root_prefix")]
    pub prefix: String,
}

fn root_prefix() -> String {
    "/".into()
}

/// One configured key.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub name: String,
    hash: [u8; 32],
    scopes: Vec<Scope>,
    /// The path the key is confined to, without leading or trailing slashes; `None` is the root.
    prefix: Option<AssetPath>,
}

impl ApiKey {
    pub fn from_config(config: &ApiKeyConfig) -> Result<Self, KeyConfigError> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(config.sha256.trim(), &mut hash).map_err(|_| KeyConfigError::BadHash)?;
        if config.scopes.is_empty() {
            return Err(KeyConfigError::NoScopes);
        }
        let Some(stripped) = config.prefix.strip_prefix('/') else {
            return Err(KeyConfigError::BadPrefix(config.prefix.clone()));
        };
        let stripped = stripped.trim_end_matches('/');
        let prefix = if stripped.is_empty() {
            None
        } else {
            Some(AssetPath::parse(stripped).map_err(|_| KeyConfigError::BadPrefix(config.prefix.clone()))?)
        };
        Ok(Self {
            name: config.name.clone(),
            hash,
            scopes: config.scopes.clone(),
            prefix,
        })
    }

    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The path the key is confined to; `None` is every path.
    pub fn prefix(&self) -> Option<&AssetPath> {
        self.prefix.as_ref()
    }

    /// Checks that this key may use `scope` on `path` (and everything below it).
    /// For what belongs to no asset path (`/metrics`, `/api`): the `admin` scope.
    pub fn authorize_admin(&self) -> Result<(), AuthError> {
        if self.scopes.contains(&Scope::Admin) {
            Ok(())
        } else {
            Err(AuthError::MissingScope {
                key: self.name.clone(),
                scope: Scope::Admin,
            })
        }
    }

    /// For `/api` over a subtree: the `admin` scope, and a prefix that holds
    /// `path` (`None`: every path, which only a key for the root may see).
    pub fn authorize_admin_over(&self, path: Option<&AssetPath>) -> Result<(), AuthError> {
        match (path, &self.prefix) {
            (Some(path), _) => self.authorize(Scope::Admin, path),
            (None, None) => self.authorize_admin(),
            (None, Some(prefix)) => Err(AuthError::OutsidePrefix {
                key: self.name.clone(),
                prefix: prefix.to_string(),
            }),
        }
    }

    pub fn authorize(&self, scope: Scope, path: &AssetPath) -> Result<(), AuthError> {
        if !self.scopes.contains(&scope) {
            return Err(AuthError::MissingScope {
                key: self.name.clone(),
                scope,
            });
        }
        match &self.prefix {
            Some(prefix) if !path.is_within(prefix) => Err(AuthError::OutsidePrefix {
                key: self.name.clone(),
                prefix: prefix.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

/// Every key the server accepts.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<ApiKey>,
}

/// A development key made on this start; it is shown once and never stored.
pub struct NewDevelopmentKey(pub String);

const DEV_KEY_FILE: &str = "dev-api-key.sha256";

impl KeyRing {
    /// The configured keys or, with none configured, the development key
    /// whose hash lives in `data_dir` (made now if there is none yet).
    pub fn load(configured: &[ApiKeyConfig], data_dir: &Path) -> anyhow::Result<(Self, Option<NewDevelopmentKey>)> {
        if !configured.is_empty() {
            let keys = configured.iter().map(ApiKey::from_config).collect::<Result<_, _>>()?;
            return Ok((Self { keys }, None));
        }
        let file = data_dir.join(DEV_KEY_FILE);
        let (hash, created) = match std::fs::read_to_string(&file) {
            Ok(text) => (text.trim().to_owned(), None),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = generate_key("kiln_dev_");
                let hash = key_hash(&key);
                std::fs::create_dir_all(data_dir)?;
                std::fs::write(&file, format!("{hash}\n"))?;
                (hash, Some(NewDevelopmentKey(key)))
            }
            Err(error) => return Err(anyhow::anyhow!("reading {}: {error}", file.display())),
        };
        let key = ApiKey::from_config(&ApiKeyConfig {
            name: "development".into(),
            sha256: hash,
            scopes: Scope::ALL.to_vec(),
            prefix: "/".into(),
        })
        .map_err(|e| anyhow::anyhow!("{}: {e}; delete it to make a new development key", file.display()))?;
        Ok((Self { keys: vec![key] }, created))
    }

    /// Finds the key presented in an `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<&ApiKey, AuthError> {
        let header = authorization.ok_or(AuthError::MissingKey)?;
        let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::InvalidKey)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::InvalidKey);
        }
        let presented: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        // Compare against every key so timing says nothing about which matched.
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.hash.ct_eq(&presented)) {
                found = Some(key);
            }
        }
        found.ok_or(AuthError::InvalidKey)
    }
}

/// What `[[api-keys]]` holds of a key: the hex SHA-256 of its text.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A random secret with a readable prefix: 32 bytes, base64url.
pub fn generate_key(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(prefix: &str, scopes: &[Scope]) -> KeyRing {
        let config = ApiKeyConfig {
            name: "ci".into(),
            sha256: hex::encode(Sha256::digest(b"secret")),
            scopes: scopes.to_vec(),
            prefix: prefix.into(),
        };
        KeyRing::load(&[config], Path::new("/nonexistent")).unwrap().0
    }

    #[test]
    fn authenticate() {
        let ring = ring("/", &[Scope::Write]);
        assert!(ring.authenticate(Some("Bearer secret")).is_ok());
        assert!(ring.authenticate(Some("bearer secret")).is_ok());
        assert_eq!(ring.authenticate(None).unwrap_err(), AuthError::MissingKey);
        for bad in ["Bearer wrong", "secret", "Basic secret", "Bearer", ""] {
            assert_eq!(
                ring.authenticate(Some(bad)).unwrap_err(),
                AuthError::InvalidKey,
                "{bad}"
            );
        }
    }

    #[test]
    fn scopes_and_prefixes() {
        let path = |p| AssetPath::parse(p).unwrap();
        let ring = ring("/users/", &[Scope::Write]);
        let key = ring.authenticate(Some("Bearer secret")).unwrap();
        assert!(key.authorize(Scope::Write, &path("users/1")).is_ok());
        assert!(key.authorize(Scope::Write, &path("users")).is_ok());
        assert!(matches!(
            key.authorize(Scope::Write, &path("usersx")),
            Err(AuthError::OutsidePrefix { .. })
        ));
        assert!(matches!(
            key.authorize(Scope::Delete, &path("users/1")),
            Err(AuthError::MissingScope { .. })
        ));
    }

    #[test]
    fn development_key_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let (ring, created) = KeyRing::load(&[], dir.path()).unwrap();
        let key = created.expect("a new key on first start").0;
        assert!(ring.authenticate(Some(&format!("Bearer {key}"))).is_ok());
        let stored = std::fs::read_to_string(dir.path().join(DEV_KEY_FILE)).unwrap();
        assert!(!stored.contains(&key), "only the hash is kept");
        let (again, created) = KeyRing::load(&[], dir.path()).unwrap();
        assert!(created.is_none());
        assert!(again.authenticate(Some(&format!("Bearer {key}"))).is_ok());
    }
}
