//! Asset addresses: the asset path and the selectors that follow the `-`
//! separator segment in `/assets/{path}/-/{selectors}`.
//!
//! Parsing works on the path exactly as the client sent it, before any
//! percent-decoding: the allowed characters never need encoding, so a `%`
//! anywhere is refused rather than decoded into something that could smuggle a
//! slash, a dot segment or a NUL into the path.
//!
//! This module knows nothing of HTTP or storage.

use std::fmt;

use globset::{Glob, GlobBuilder};

/// At most this many segments in an asset path.
pub const MAX_SEGMENTS: usize = 32;
/// At most this many bytes in an asset path (segments and the slashes between them).
pub const MAX_PATH_BYTES: usize = 1024;
/// The segment that separates the asset path from its selectors.
pub const SEPARATOR: &str = "-";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The asset path breaks one of the rules of SPEC §2.
    #[error("{0}")]
    InvalidPath(String),
    /// A selector after `-` is unknown, repeated or malformed.
    #[error("{0}")]
    InvalidSelector(String),
}

/// A validated asset path, stored without its leading slash: `users/123/avatar`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetPath(String);

impl AssetPath {
    /// Parses a path given without its leading slash.
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let segments: Vec<&str> = raw.split('/').collect();
        validate_segments(&segments)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn last_segment(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// True when `self` is `other` or lies below it.
    pub fn is_within(&self, other: &AssetPath) -> bool {
        self.0 == other.0 || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for AssetPath {
    /// Paths are shown the way users write them in URLs and config: with a leading slash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

fn validate_segments(segments: &[&str]) -> Result<(), AddressError> {
    let invalid = |why: String| Err(AddressError::InvalidPath(why));
    if segments.is_empty() || segments == [""] {
        return invalid("the asset path is empty; use /assets/{path}".into());
    }
    if segments.len() > MAX_SEGMENTS {
        return invalid(format!(
            "the asset path has {} segments; at most {MAX_SEGMENTS} are allowed",
            segments.len()
        ));
    }
    let bytes = segments.iter().map(|s| s.len()).sum::<usize>() + segments.len() - 1;
    if bytes > MAX_PATH_BYTES {
        return invalid(format!(
            "the asset path is {bytes} bytes long; at most {MAX_PATH_BYTES} are allowed"
        ));
    }
    for segment in segments {
        match *segment {
            "" => {
                return invalid("the asset path has an empty segment (a doubled or trailing slash)".into());
            }
            "." | ".." => {
                return invalid(format!("the asset path may not contain a `{segment}` segment"));
            }
            SEPARATOR => {
                return invalid("the segment `-` is reserved as the selector separator".into());
            }
            _ => {}
        }
        if let Some(bad) = segment.chars().find(|c| !is_path_char(*c)) {
            return invalid(if bad == '%' {
                "percent-encoded characters are not allowed in asset paths".into()
            } else {
                format!("the character {bad:?} is not allowed in asset paths; use A-Z a-z 0-9 . _ ~ -")
            });
        }
    }
    Ok(())
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')
}

/// Which entry at a path a request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ordering {
    /// The newest created entry.
    New,
    /// The most recently modified entry.
    Modified,
    /// Entry number `n`.
    Entry(u64),
}

/// How a fetched entry is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReturnFormat {
    Content,
    Link,
    Redirect,
    Download,
    #[serde(alias = "info")]
    Metadata,
}

/// Selectors given after the separator; `None` means the request left the group open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selectors {
    pub ordering: Option<Ordering>,
    pub format: Option<ReturnFormat>,
    /// `recursive`: only meaningful for DELETE.
    pub recursive: bool,
    /// `variants`: after `entry/{n}`, for POST (make variants now).
    pub variants: bool,
}

impl Selectors {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A parsed `/assets/...` request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub path: AssetPath,
    pub selectors: Selectors,
}

impl Address {
    /// Parses the part of the raw request path after `/assets/`.
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let mut segments = raw.split('/');
        let path_segments: Vec<&str> = segments.by_ref().take_while(|s| *s != SEPARATOR).collect();
        validate_segments(&path_segments)?;
        let path = AssetPath(path_segments.join("/"));
        let rest: Vec<&str> = segments.collect();
        let separator_present = path_segments.len() < raw.split('/').count();
        let selectors = if separator_present {
            parse_selectors(&rest)?
        } else {
            Selectors::default()
        };
        Ok(Self { path, selectors })
    }
}

fn parse_selectors(tokens: &[&str]) -> Result<Selectors, AddressError> {
    let invalid = |why: String| Err(AddressError::InvalidSelector(why));
    if tokens.is_empty() || tokens == [""] {
        return invalid("the separator `-` must be followed by selectors, e.g. /-/entry/2/metadata".into());
    }
    let mut selectors = Selectors::default();
    let mut tokens = tokens.iter();
    while let Some(&token) = tokens.next() {
        let ordering = match token {
            "new" => Some(Ordering::New),
            "modified" => Some(Ordering::Modified),
            "entry" => {
                let Some(number) = tokens.next() else {
                    return invalid("`entry` must be followed by an entry number, e.g. entry/3".into());
                };
                Some(Ordering::Entry(parse_entry_number(number)?))
            }
            _ => None,
        };
        if let Some(ordering) = ordering {
            if selectors.ordering.replace(ordering).is_some() {
                return invalid("at most one ordering selector (new, modified, entry/{n}) is allowed".into());
            }
            continue;
        }
        let format = match token {
            "content" => ReturnFormat::Content,
            "link" => ReturnFormat::Link,
            "redirect" => ReturnFormat::Redirect,
            "download" => ReturnFormat::Download,
            "metadata" | "info" => ReturnFormat::Metadata,
            "recursive" => {
                if std::mem::replace(&mut selectors.recursive, true) {
                    return invalid("`recursive` is given twice".into());
                }
                continue;
            }
            "variants" => {
                if std::mem::replace(&mut selectors.variants, true) {
                    return invalid("`variants` is given twice".into());
                }
                continue;
            }
            "" => return invalid("selectors may not contain an empty segment".into()),
            other => {
                return invalid(format!(
                    "unknown selector {:?}; expected new, modified, entry/{{n}}, content, link, redirect, \
                     download, metadata, info, variants or recursive",
                    truncate(other, 64)
                ));
            }
        };
        if selectors.format.replace(format).is_some() {
            return invalid(
                "at most one return format (content, link, redirect, download, metadata) is allowed".into(),
            );
        }
    }
    Ok(selectors)
}

fn parse_entry_number(raw: &str) -> Result<u64, AddressError> {
    let parsed = if raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0') {
        raw.parse::<u64>().ok()
    } else {
        None
    };
    parsed.filter(|n| *n <= i64::MAX as u64).ok_or_else(|| {
        AddressError::InvalidSelector(format!(
            "entry number {:?} is not a positive whole number",
            truncate(raw, 32)
        ))
    })
}

/// Shortens client-supplied text before it is echoed in an error message.
pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        text.chars().take(max_chars).chain("…".chars()).collect()
    }
}

/// An absolute URL's origin (`https://img.example.com`) and the rest, or
/// `("", url)` for a URL that starts at its path. Only what comes before any
/// `/`, `?` or `#` can be a scheme, so a `://` in a query is not taken for one.
pub fn split_origin(url: &str) -> (&str, &str) {
    let scheme_end = url.find("://").filter(|&at| !url[..at].contains(['/', '?', '#']));
    match scheme_end {
        Some(at) => {
            let path_start = url[at + 3..].find('/').map_or(url.len(), |i| at + 3 + i);
            url.split_at(path_start)
        }
        None => ("", url),
    }
}

/// `name[:port]` (`[v6]:port` for IPv6) as a lower-case name and a port;
/// `None` for anything that is not a plain host.
pub fn split_host(host: &str) -> Option<(String, Option<u16>)> {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') || name.ends_with(']') => (name, Some(port.parse().ok()?)),
        _ => (host, None),
    };
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    plain.then(|| (name.to_ascii_lowercase(), port))
}

/// The globs of a path pattern (`[[paths]]`, webhooks' `paths`): matched
/// against an asset path with a leading slash, `*` one segment, `**` any
/// number, zero included.
pub fn path_globs(pattern: &str) -> Result<Vec<Glob>, String> {
    if !pattern.starts_with('/') {
        return Err("a pattern must start with `/` (use `/**` for every path)".into());
    }
    let glob = |p: &str| -> Result<Glob, String> {
        GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("invalid pattern: {e}"))
    };
    let mut globs = vec![glob(pattern)?];
    // `**` may match zero segments: `/users/**` covers `/users` itself, and `/**` everything.
    if let Some(prefix) = pattern.strip_suffix("/**") {
        globs.push(glob(if prefix.is_empty() { "/**" } else { prefix })?);
    }
    Ok(globs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_split_off_only_before_the_path() {
        assert_eq!(
            split_origin("https://img.example.com/assets/a?w=1"),
            ("https://img.example.com", "/assets/a?w=1")
        );
        assert_eq!(
            split_origin("/assets/a?next=http://b/c"),
            ("", "/assets/a?next=http://b/c")
        );
        assert_eq!(split_origin("http://host"), ("http://host", ""));
        assert_eq!(split_origin("a?x://b/c"), ("", "a?x://b/c"));
    }

    #[test]
    fn hosts_split_into_a_name_and_a_port() {
        assert_eq!(
            split_host("Images.Example.com"),
            Some(("images.example.com".into(), None))
        );
        assert_eq!(split_host("localhost:8080"), Some(("localhost".into(), Some(8080))));
        assert_eq!(split_host("[::1]:80"), Some(("[::1]".into(), Some(80))));
        for bad in ["", "a b", "a:port", "a:99999", "evil.example/x", "a@b"] {
            assert_eq!(split_host(bad), None, "{bad}");
        }
    }

    fn parse(raw: &str) -> Result<Address, AddressError> {
        Address::parse(raw)
    }

    #[test]
    fn valid_paths() {
        for raw in ["a", "users/123/avatar", "A-b_c.d~e/f", "..a/b..", "x.jpg", "-a/b-"] {
            let address = parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(address.path.as_str(), raw);
            assert!(address.selectors.is_empty());
        }
        let deepest = vec!["s"; MAX_SEGMENTS].join("/");
        assert!(parse(&deepest).is_ok());
        let longest = "a".repeat(MAX_PATH_BYTES);
        assert!(parse(&longest).is_ok());
    }

    #[test]
    fn invalid_paths() {
        let too_deep = vec!["s"; MAX_SEGMENTS + 1].join("/");
        let too_long = "a".repeat(MAX_PATH_BYTES + 1);
        for raw in [
            "", "/", "a//b", "a/", "/a", ".", "a/./b", "a/..", "..", "-", "a%2Fb", "a%2e%2e", "%00", "a%41", "a b",
            "a\\b", "ü", "a?b", "a:b", "a@b", "a+b", "a*b", &too_deep, &too_long,
        ] {
            match parse(raw) {
                Err(AddressError::InvalidPath(_)) => {}
                other => panic!("{raw:?} should be an invalid path, got {other:?}"),
            }
        }
    }

    #[test]
    fn selectors_in_any_order() {
        let a = parse("p/-/entry/3/metadata").unwrap();
        let b = parse("p/-/metadata/entry/3").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.selectors.ordering, Some(Ordering::Entry(3)));
        assert_eq!(a.selectors.format, Some(ReturnFormat::Metadata));
        assert_eq!(
            parse("p/-/info").unwrap().selectors.format,
            Some(ReturnFormat::Metadata)
        );
        assert_eq!(
            parse("p/q/-/modified").unwrap().selectors.ordering,
            Some(Ordering::Modified)
        );
        assert_eq!(
            parse("p/-/new/link").unwrap().selectors.format,
            Some(ReturnFormat::Link)
        );
        assert!(parse("p/-/recursive").unwrap().selectors.recursive);
        for (raw, format) in [
            ("content", ReturnFormat::Content),
            ("download", ReturnFormat::Download),
            ("redirect", ReturnFormat::Redirect),
        ] {
            assert_eq!(parse(&format!("x/-/{raw}")).unwrap().selectors.format, Some(format));
        }
    }

    #[test]
    fn invalid_selectors() {
        for raw in [
            "p/-",
            "p/-/",
            "p/-/bogus",
            "p/-/entry",
            "p/-/entry/0",
            "p/-/entry/01",
            "p/-/entry/-1",
            "p/-/entry/+1",
            "p/-/entry/1.5",
            "p/-/entry/99999999999999999999",
            "p/-/entry/9223372036854775808",
            "p/-/new/modified",
            "p/-/entry/1/new",
            "p/-/content/link",
            "p/-/metadata/info",
            "p/-/recursive/recursive",
            "p/-/content/",
            "p/-/content//link",
        ] {
            match parse(raw) {
                Err(AddressError::InvalidSelector(_)) => {}
                other => panic!("{raw:?} should be an invalid selector, got {other:?}"),
            }
        }
        assert_eq!(
            parse("p/-/entry/9223372036854775807").unwrap().selectors.ordering,
            Some(Ordering::Entry(i64::MAX as u64))
        );
    }

    #[test]
    fn within() {
        let p = |s| AssetPath::parse(s).unwrap();
        assert!(p("users/1/avatar").is_within(&p("users")));
        assert!(p("users").is_within(&p("users")));
        assert!(!p("users2").is_within(&p("users")));
        assert!(!p("users").is_within(&p("users/1")));
        assert_eq!(p("users/1/avatar").last_segment(), "avatar");
        assert_eq!(p("users/1/avatar").to_string(), "/users/1/avatar");
    }
}
