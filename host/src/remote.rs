//! URL ingest (SPEC §6): fetching an original from a URL without letting the
//! URL reach what it should not.
//!
//! Every hop (the first URL and each redirect, followed by hand) must be
//! `http`/`https` to an allowed domain and port (an entry without a port
//! allows only the scheme's default one). Addresses are checked where they are
//! used: the client's DNS resolver drops every resolved address that is
//! loopback, private, link-local (cloud metadata lives there), multicast or
//! otherwise special, unless `ingest.allowed-networks` holds it, so a name
//! that resolves differently on a second lookup (DNS rebinding) gains
//! nothing; IP literals, which skip the resolver, are checked before the
//! request. Proxies from the environment are ignored. The whole fetch has one
//! deadline and the body one size limit, counted while it streams.
//!
//! What a failure tells the client is Kiln's own summary: which addresses a
//! name resolved to, and whether a port refused or dropped the connection,
//! go to the log only, so ingest cannot be used to map a network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{StatusCode, Url};

use serde::{Deserialize, Serialize};

/// URL ingest (`POST` with JSON `{"url": …}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Hosts URLs may name: `images.example.com`, or `*.example.com` for
    /// its subdomains, each on the scheme's default port unless the entry
    /// names one (`origin.example.com:8080`) or any (`:*`). Empty: URL
    /// ingest is off.
    pub allowed_domains: Vec<String>,
    /// Networks exempt from the ban on loopback, private, link-local and
    /// other special addresses, e.g. `["10.20.0.0/16"]` for an internal origin.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// The whole fetch, redirects and body included.
    pub timeout_ms: u64,
    pub max_redirects: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            allowed_domains: Vec::new(),
            allowed_networks: Vec::new(),
            timeout_ms: 10_000,
            max_redirects: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("URL ingest is not enabled on this server ([ingest] allowed-domains is empty); upload the bytes instead")]
    Disabled,
    #[error("{0:?} is not a valid absolute URL")]
    BadUrl(String),
    #[error("only http and https URLs can be fetched, not {0:?}")]
    Scheme(String),
    #[error("the host and port {0:?} are not in [ingest] allowed-domains")]
    Domain(String),
    /// `addresses` is for the log, never for the client.
    #[error("{host} resolves only to addresses that may not be fetched")]
    Address { host: String, addresses: String },
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
    #[error("the remote server answered {0}")]
    Status(StatusCode),
    #[error("the remote body is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the fetch took longer than {0:?}")]
    Timeout(Duration),
    /// The detail is for the log, never for the client.
    #[error("the remote server could not be reached, or it broke off the transfer")]
    Failed(String),
}

impl FetchError {
    /// Whether the URL itself is refused, as opposed to a fetch that failed.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::Disabled | Self::Scheme(_) | Self::Domain(_) | Self::Address { .. }
        )
    }
}

/// Fetches originals from allowed URLs.
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    domains: Vec<AllowedDomain>,
    max_redirects: u32,
    timeout: Duration,
}

/// One `ingest.allowed-domains` entry: `host`, `*.parent`, either with
/// `:port` or `:*`; without a port only the scheme's default port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedDomain {
    /// Lower case, without a trailing dot; `*.` kept for subdomain patterns.
    pattern: String,
    port: AllowedPort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AllowedPort {
    SchemeDefault,
    Only(u16),
    Any,
}

impl AllowedDomain {
    /// Parses an entry; `None` if it is not a host name pattern with an optional port.
    pub fn parse(entry: &str) -> Option<Self> {
        let (host, port) = match entry.rsplit_once(':') {
            Some((host, "*")) => (host, AllowedPort::Any),
            Some((host, port)) => (host, AllowedPort::Only(port.parse().ok().filter(|p| *p > 0)?)),
            None => (entry, AllowedPort::SchemeDefault),
        };
        let name = host.strip_prefix("*.").unwrap_or(host);
        let valid = !name.is_empty()
            && name
                .split('.')
                .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        valid.then(|| Self {
            pattern: host.trim_end_matches('.').to_ascii_lowercase(),
            port,
        })
    }

    fn matches(&self, host: &str, port: u16, default_port: u16) -> bool {
        let host_matches = match self.pattern.strip_prefix("*.") {
            Some(parent) => host
                .strip_suffix(parent)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => self.pattern == host,
        };
        let port_matches = match self.port {
            AllowedPort::SchemeDefault => port == default_port,
            AllowedPort::Only(allowed) => port == allowed,
            AllowedPort::Any => true,
        };
        host_matches && port_matches
    }
}

/// Which resolved addresses may be connected to.
#[derive(Debug)]
struct AddressPolicy {
    allowed_networks: Vec<IpNet>,
}

impl AddressPolicy {
    fn allows(&self, address: IpAddr) -> bool {
        !is_special(address) || self.allowed_networks.iter().any(|net| net.contains(&address))
    }
}

/// Addresses no URL from outside should reach: loopback, private,
/// link-local (169.254.169.254 and other metadata services), carrier-grade
/// NAT, multicast, reserved and unspecified, and their IPv4-mapped and NAT64
/// spellings in IPv6.
pub fn is_special(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_special_v4(v4);
            }
            let segments = v6.segments();
            let embedded = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                Ipv4Addr::new(a, b, c, d)
            };
            // 64:ff9b::/96 (NAT64) embeds an IPv4 address in its last 32 bits.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_special_v4(embedded(segments[6], segments[7]));
            }
            // 6to4 (2002::/16) embeds one in bits 16 to 48.
            if segments[0] == 0x2002 {
                return is_special_v4(embedded(segments[1], segments[2]));
            }
            segments[..6] == [0; 6] // ::/96: IPv4-compatible (deprecated), ::1 and ::
                || segments[..3] == [0x64, 0xff9b, 1] // 64:ff9b:1::/48, local-use NAT64
                || segments[..2] == [0x2001, 0] // Teredo, which tunnels to any IPv4 address
                || segments[..4] == [0x100, 0, 0, 0] // discard-only
                || v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254
                || (segments[0] & 0xffc0) == 0xfe80 // link-local
                || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || segments[0] == 0x2001 && segments[1] == 0xdb8 // documentation
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
        }
    }
}

fn is_special_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
}

/// The system resolver, minus the addresses the policy refuses.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved.iter().copied().filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                let addresses = resolved
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                tracing::warn!(%host, %addresses, "ingest refused: no allowed address");
                return Err(
                    Box::new(FetchError::Address { host, addresses }) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl Fetcher {
    pub fn new(config: &IngestConfig) -> Result<Self, FetchError> {
        let policy = Arc::new(AddressPolicy {
            allowed_networks: config.allowed_networks.clone(),
        });
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
            .connect_timeout(timeout)
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        Ok(Self {
            client,
            policy,
            domains: config
                .allowed_domains
                .iter()
                .map(|entry| AllowedDomain::parse(entry).ok_or_else(|| FetchError::Domain(entry.clone())))
                .collect::<Result<_, _>>()?,
            max_redirects: config.max_redirects,
            timeout,
        })
    }

    fn domain_allowed(&self, host: &str, port: u16, default_port: u16) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains
            .iter()
            .any(|allowed| allowed.matches(&host, port, default_port))
    }

    /// Checks one hop before it is requested.
    fn check(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme(url.scheme().to_owned()));
        }
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.to_owned(),
            Some(url::Host::Ipv4(v4)) => v4.to_string(),
            Some(url::Host::Ipv6(v6)) => v6.to_string(),
            None => return Err(FetchError::BadUrl(url.to_string())),
        };
        let default_port = if url.scheme() == "https" { 443 } else { 80 };
        let port = url.port().unwrap_or(default_port);
        if !self.domain_allowed(&host, port, default_port) {
            return Err(FetchError::Domain(format!("{host}:{port}")));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(address) = literal
            && !self.policy.allows(address)
        {
            tracing::warn!(%address, "ingest refused: address literal not allowed");
            return Err(FetchError::Address {
                host,
                addresses: address.to_string(),
            });
        }
        Ok(())
    }

    /// The body at `url`, at most `limit` bytes, following redirects that
    /// pass the same checks.
    pub async fn fetch(&self, url: &str, limit: u64) -> Result<Bytes, FetchError> {
        if self.domains.is_empty() {
            return Err(FetchError::Disabled);
        }
        let url = Url::parse(url).map_err(|_| FetchError::BadUrl(crate::address::truncate(url, 200)))?;
        tokio::time::timeout(self.timeout, self.follow(url, limit))
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))?
    }

    async fn follow(&self, mut url: Url, limit: u64) -> Result<Bytes, FetchError> {
        let mut redirects = 0;
        loop {
            self.check(&url)?;
            let response = self.client.get(url.clone()).send().await.map_err(request_failed)?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or(FetchError::Status(status))?;
                url = url
                    .join(location)
                    .map_err(|_| FetchError::BadUrl(crate::address::truncate(location, 200)))?;
                redirects += 1;
                if redirects > self.max_redirects {
                    return Err(FetchError::TooManyRedirects(self.max_redirects));
                }
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status));
            }
            return read_limited(response, limit).await;
        }
    }
}

async fn read_limited(mut response: reqwest::Response, limit: u64) -> Result<Bytes, FetchError> {
    if response.content_length().is_some_and(|length| length > limit) {
        return Err(FetchError::TooLarge(limit));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(FetchError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A refused address surfaces from inside reqwest's connector: find it in
/// the error's causes.
fn request_failed(error: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(FetchError::Address { host, addresses }) = cause.downcast_ref::<FetchError>() {
            return FetchError::Address {
                host: host.clone(),
                addresses: addresses.clone(),
            };
        }
        source = cause.source();
    }
    let detail = crate::error_chain::of(&error);
    tracing::warn!(%detail, "ingest fetch failed");
    FetchError::Failed(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses() {
        for special in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::7f00:1",
            "::a9fe:a9fe",
            "64:ff9b:1::1",
            "64:ff9b:1:ffff::8.8.8.8",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
        ] {
            assert!(is_special(special.parse().unwrap()), "{special}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_special(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn domains_and_networks() {
        let fetcher = Fetcher::new(&IngestConfig {
            allowed_domains: vec![
                "images.example.com".into(),
                "*.cdn.example.com".into(),
                "origin.example.com:8443".into(),
                "any.example.com:*".into(),
            ],
            allowed_networks: vec!["10.0.0.0/8".parse().unwrap()],
            ..IngestConfig::default()
        })
        .unwrap();
        let allowed = |host: &str, port: u16| fetcher.domain_allowed(host, port, 443);
        assert!(allowed("images.example.com", 443));
        assert!(allowed("IMAGES.example.com.", 443));
        assert!(
            !allowed("images.example.com", 22),
            "no port named: the scheme's default only"
        );
        assert!(allowed("a.cdn.example.com", 443));
        assert!(!allowed("cdn.example.com", 443));
        assert!(!allowed("images.example.com.evil.net", 443));
        assert!(!allowed("evilcdn.example.com", 443));
        assert!(allowed("origin.example.com", 8443));
        assert!(!allowed("origin.example.com", 443));
        assert!(allowed("any.example.com", 6379));
        for bad in ["http://x", "a:b", "a:0", "a:70000", "[::1]", ""] {
            assert_eq!(AllowedDomain::parse(bad), None, "{bad}");
        }
        assert!(fetcher.policy.allows("10.2.3.4".parse().unwrap()));
        assert!(!fetcher.policy.allows("127.0.0.1".parse().unwrap()));
        let check = |url: &str| fetcher.check(&Url::parse(url).unwrap());
        assert!(matches!(check("file:///etc/passwd"), Err(FetchError::Scheme(_))));
        assert!(matches!(check("http://evil.net/"), Err(FetchError::Domain(_))));
        assert!(check("https://images.example.com/a.jpg").is_ok());
        assert!(matches!(
            check("https://images.example.com:8080/a.jpg"),
            Err(FetchError::Domain(_))
        ));
        assert!(check("http://origin.example.com:8443/a.jpg").is_ok());
    }
}
