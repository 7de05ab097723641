//! Signed URLs and signed upload URLs (SPEC §6).
//!
//! A signed URL carries `s = base64url-nopad(HMAC-SHA256(key, path + "?" +
//! canonical query))`, where `path` is the request path as sent and the
//! canonical query is every parameter but `s`, decoded, sorted by key (then
//! value), re-encoded with everything but RFC 3986's unreserved characters
//! percent-encoded (upper-case hex), as `k=v` joined by `&`. Re-encoding
//! makes the signature independent of how a client chose to escape.
//!
//! A signed upload URL lets whoever holds it POST under one path prefix until
//! it expires: `?prefix=/users/123&exp=UNIX&s=…`, with `s` over
//! `"POST\n" + prefix + "\n" + exp`.
//!
//! Several keys may be configured: the first signs, every one verifies, so a
//! new key can be put first while URLs signed with the old one still work.
//! Comparison is constant-time (`Mac::verify_slice`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;

use crate::address::AssetPath;

type HmacSha256 = Hmac<Sha256>;

/// Everything but `A-Z a-z 0-9 - . _ ~` is escaped.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("this URL needs a signature: add `s` (see `kiln sign-url`)")]
    Missing,
    #[error("the URL's signature does not match it")]
    Invalid,
    #[error("the URL expired at {0} (unix seconds)")]
    Expired(u64),
    #[error("`exp` must be unix seconds")]
    BadExpiry,
    #[error("the signed upload URL is for paths under {0}")]
    OutsidePrefix(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("signing.keys[{0}] must be hex, at least 16 bytes (make one with `kiln generate-secret`)")]
    Invalid(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlSigningError {
    #[error("the URL is not an asset URL: its path must start with /assets/")]
    NotAnAssetUrl,
    #[error("no [signing] keys are configured; make one with `kiln generate-secret`")]
    NoKey,
}

/// The configured signing keys; the first signs.
#[derive(Debug, Clone, Default)]
pub struct Signer {
    keys: Vec<Vec<u8>>,
}

impl Signer {
    pub fn from_hex(keys: &[impl AsRef<str>]) -> Result<Self, SigningKeyError> {
        let keys = keys
            .iter()
            .enumerate()
            .map(|(i, key)| match hex::decode(key.as_ref().trim()) {
                Ok(bytes) if bytes.len() >= 16 => Ok(bytes),
                _ => Err(SigningKeyError::Invalid(i)),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty()
    }

    /// HMAC takes keys of any length, so this is always `Some`.
    fn mac(key: &[u8], message: &str) -> Option<HmacSha256> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).ok()?;
        mac.update(message.as_bytes());
        Some(mac)
    }

    fn sign_message(&self, message: &str) -> Option<String> {
        let mac = Self::mac(self.keys.first()?, message)?;
        Some(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn verify_message(&self, message: &str, signature: &str) -> Result<(), SignatureError> {
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| SignatureError::Invalid)?;
        let valid = self
            .keys
            .iter()
            .filter_map(|key| Self::mac(key, message))
            .any(|mac| mac.verify_slice(&signature).is_ok());
        if valid { Ok(()) } else { Err(SignatureError::Invalid) }
    }

    /// `s` for `path` (as sent, starting with `/assets/`) and its query
    /// pairs (decoded; any `s` among them is ignored). `None` without keys.
    pub fn sign(&self, path: &str, pairs: &[(String, String)]) -> Option<String> {
        self.sign_message(&signed_text(path, pairs))
    }

    /// `path` with its query and signature appended, as a client would send it.
    pub fn signed_url(&self, path: &str, pairs: &[(String, String)]) -> Option<String> {
        let signature = self.sign(path, pairs)?;
        let query = canonical_query(pairs);
        Some(if query.is_empty() {
            format!("{path}?s={signature}")
        } else {
            format!("{path}?{query}&s={signature}")
        })
    }

    /// Signs `url` (absolute, or a path with its query), keeping any scheme
    /// and host in front, replacing an `s` it had, and with `ttl` setting
    /// `exp` to `now + ttl`; the CLI's `sign-url` and `POST /api/sign`.
    pub fn sign_url(&self, url: &str, ttl: Option<u64>, now: u64) -> Result<String, UrlSigningError> {
        let (origin, rest) = crate::address::split_origin(url);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !path.starts_with("/assets/") {
            return Err(UrlSigningError::NotAnAssetUrl);
        }
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k != "s" && (ttl.is_none() || k != "exp"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some(ttl) = ttl {
            pairs.push(("exp".into(), now.saturating_add(ttl).to_string()));
        }
        let signed = self.signed_url(path, &pairs).ok_or(UrlSigningError::NoKey)?;
        Ok(format!("{origin}{signed}"))
    }

    /// Checks the signature and expiry of a request for `path` with the raw
    /// query `query`, at `now` (unix seconds); answers the expiry it signs, if any.
    pub fn verify(&self, path: &str, query: &str, now: u64) -> Result<Option<u64>, SignatureError> {
        let pairs = decoded_pairs(query);
        let signature = pairs
            .iter()
            .find(|(k, _)| k == "s")
            .map(|(_, v)| v.as_str())
            .ok_or(SignatureError::Missing)?;
        self.verify_message(&signed_text(path, &pairs), signature)?;
        check_expiry(&pairs, now)
    }

    /// The query of a signed upload URL for paths under `prefix` until `exp`.
    pub fn upload_query(&self, prefix: &str, exp: u64) -> Option<String> {
        let signature = self.sign_message(&upload_text(prefix, exp))?;
        let prefix = utf8_percent_encode(prefix, ESCAPED);
        Some(format!("prefix={prefix}&exp={exp}&s={signature}"))
    }

    /// Checks a signed upload URL's `prefix`, `exp` and `s` for a POST to `path`.
    pub fn verify_upload(&self, path: &AssetPath, query: &str, now: u64) -> Result<(), SignatureError> {
        let pairs = decoded_pairs(query);
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let (Some(prefix), Some(exp), Some(signature)) = (get("prefix"), get("exp"), get("s")) else {
            return Err(SignatureError::Missing);
        };
        let exp: u64 = exp.parse().map_err(|_| SignatureError::BadExpiry)?;
        self.verify_message(&upload_text(prefix, exp), signature)?;
        if now > exp {
            return Err(SignatureError::Expired(exp));
        }
        let within = match prefix.trim_matches('/') {
            "" => true,
            inner => AssetPath::parse(inner).is_ok_and(|prefix| path.is_within(&prefix)),
        };
        if within {
            Ok(())
        } else {
            Err(SignatureError::OutsidePrefix(prefix.to_owned()))
        }
    }
}

fn check_expiry(pairs: &[(String, String)], now: u64) -> Result<Option<u64>, SignatureError> {
    match pairs.iter().find(|(k, _)| k == "exp") {
        None => Ok(None),
        Some((_, exp)) => {
            let exp: u64 = exp.parse().map_err(|_| SignatureError::BadExpiry)?;
            if now > exp {
                Err(SignatureError::Expired(exp))
            } else {
                Ok(Some(exp))
            }
        }
    }
}

fn decoded_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Every pair but `s`, sorted, re-encoded, joined.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != "s").collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, ESCAPED),
                utf8_percent_encode(v, ESCAPED)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn signed_text(path: &str, pairs: &[(String, String)]) -> String {
    format!("{path}?{}", canonical_query(pairs))
}

fn upload_text(prefix: &str, exp: u64) -> String {
    format!("POST\n{prefix}\n{exp}")
}

/// The time `exp` is compared with.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `bytes` random bytes in hex, for `[signing] keys`.
pub fn generate_secret(bytes: usize) -> String {
    let mut secret = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    hex::encode(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn canonical_form_ignores_order_escaping_and_s() {
        assert_eq!(
            canonical_query(&pairs(&[("w", "256"), ("format", "webp"), ("s", "x"), ("bg", "#fff")])),
            "bg=%23fff&format=webp&w=256"
        );
        let signer = Signer::from_hex(&["00112233445566778899aabbccddeeff"]).unwrap();
        let s = signer.sign("/assets/a", &pairs(&[("w", "256"), ("h", "10")])).unwrap();
        let now = 0;
        assert_eq!(signer.verify("/assets/a", &format!("h=10&w=256&s={s}"), now), Ok(None));
        assert_eq!(
            signer.verify("/assets/a", &format!("w=%32%35%36&h=10&s={s}"), now),
            Ok(None)
        );
        assert_eq!(
            signer.verify("/assets/a", &format!("w=257&h=10&s={s}"), now),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            signer.verify("/assets/b", &format!("w=256&h=10&s={s}"), now),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            signer.verify("/assets/a", "w=256&h=10", now),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn every_key_verifies_and_the_first_signs() {
        let old = Signer::from_hex(&["aa".repeat(16)]).unwrap();
        let both = Signer::from_hex(&["bb".repeat(16), "aa".repeat(16)]).unwrap();
        let url = old.signed_url("/assets/a", &[]).unwrap();
        let query = url.split_once('?').unwrap().1;
        assert_eq!(both.verify("/assets/a", query, 0), Ok(None));
        assert_ne!(both.sign("/assets/a", &[]), old.sign("/assets/a", &[]));
    }

    #[test]
    fn expiry_is_checked_after_the_signature() {
        let signer = Signer::from_hex(&["aa".repeat(16)]).unwrap();
        let url = signer.signed_url("/assets/a", &pairs(&[("exp", "100")])).unwrap();
        let query = url.split_once('?').unwrap().1;
        assert_eq!(signer.verify("/assets/a", query, 100), Ok(Some(100)));
        assert_eq!(
            signer.verify("/assets/a", query, 101),
            Err(SignatureError::Expired(100))
        );
        let pushed = query.replace("exp=100", "exp=999");
        assert_eq!(signer.verify("/assets/a", &pushed, 101), Err(SignatureError::Invalid));
    }

    #[test]
    fn upload_urls_are_bound_to_their_prefix_and_expiry() {
        let signer = Signer::from_hex(&["aa".repeat(16)]).unwrap();
        let query = signer.upload_query("/users/1", 100).unwrap();
        let inside = AssetPath::parse("users/1/avatar").unwrap();
        let outside = AssetPath::parse("users/12").unwrap();
        assert_eq!(signer.verify_upload(&inside, &query, 50), Ok(()));
        assert_eq!(
            signer.verify_upload(&outside, &query, 50),
            Err(SignatureError::OutsidePrefix("/users/1".into()))
        );
        assert_eq!(
            signer.verify_upload(&inside, &query, 101),
            Err(SignatureError::Expired(100))
        );
        let widened = query.replace("prefix=%2Fusers%2F1", "prefix=%2F");
        assert_eq!(
            signer.verify_upload(&inside, &widened, 50),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn keys_must_be_long_hex() {
        assert!(Signer::from_hex(&["zz"]).is_err());
        assert!(Signer::from_hex(&["aa".repeat(8)]).is_err());
        assert_eq!(generate_secret(32).len(), 64);
    }
}
