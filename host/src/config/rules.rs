//! `[[paths]]` rules: which apply to an asset path, and what they add up to.
//!
//! Patterns are globs over the asset path with its leading slash: `*` matches
//! one segment, `**` any number of segments (zero included), and `/**` is the
//! root. Every matching rule applies, less specific first, so a more specific
//! rule overrides a broader one. Specificity is, in order: more literal
//! segments, then more segments in all; equal rules keep their order in the
//! file. Tables merge deeply; lists and scalars are replaced (an empty list
//! clears).

use std::collections::BTreeMap;
use std::sync::Arc;

use globset::{GlobSet, GlobSetBuilder};
use quick_cache::sync::Cache;
use serde::{Deserialize, Serialize};

use super::{ConfigError, LimitsConfig, PathRuleConfig, Profiles};
use crate::address::{AssetPath, ReturnFormat};
use crate::plugin::Kind;

/// Each configured plugin and the kinds it can serve as.
pub type PluginKinds = BTreeMap<String, Vec<Kind>>;
use crate::probe::ImageFormat;

/// The settings that apply to one asset path once every matching rule is merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PathSettings {
    /// MIME types accepted as uploads, checked against the sniffed type.
    #[serde(default = "default_formats")]
    pub allowed_content_types: Vec<String>,
    /// The largest upload accepted; defaults to `limits.max-upload-bytes`.
    #[serde(default)]
    pub max_upload_bytes: Option<u64>,
    #[serde(default = "default_cache_control")]
    pub cache_control: String,
    /// The return format when a URL names none.
    #[serde(default = "default_return_format")]
    pub return_format: ReturnFormat,
    #[serde(default)]
    pub redirect: RedirectSettings,
    /// Which reads need a signed URL.
    #[serde(default)]
    pub signing: Signing,
    /// The bucket that holds the originals uploaded here and their variants
    /// (S3 store); without it, `storage.bucket`.
    #[serde(default)]
    pub bucket: Option<String>,
    /// Profiles made by the job queue right after each upload.
    #[serde(default)]
    pub eager_variants: Vec<String>,
    /// Turns each upload into the stored original.
    #[serde(default)]
    pub preprocess: Option<Preprocess>,
    /// Placeholders computed at upload.
    #[serde(default)]
    pub lqip: Vec<LqipKind>,
    #[serde(default)]
    pub on_demand: OnDemand,
    /// Validator plugins every upload must pass, in order.
    #[serde(default)]
    pub validators: Vec<String>,
    /// Preprocessor plugins every upload goes through, in order.
    #[serde(default)]
    pub preprocessors: Vec<String>,
    /// Transform plugins applied to every variant, after any `fx`.
    #[serde(default)]
    pub transforms: Vec<String>,
    /// The plugins URLs may name in `fx`.
    #[serde(default)]
    pub allowed_fx: Vec<String>,
    /// The most pixels (width x height) a variant made here may have; without
    /// it, `limits.max-output-dimension` on each side is the only bound.
    #[serde(default)]
    pub max_output_pixels: Option<u64>,
}

/// `preprocess = { max-width, max-height, format, q, strip }`. The original
/// is only ever shrunk to fit, never enlarged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Preprocess {
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub format: Option<String>,
    pub q: Option<u8>,
    pub strip: Option<String>,
}

impl Preprocess {
    /// The transformation for an original of `width`x`height`.
    pub fn params(
        &self,
        width: u32,
        height: u32,
        limits: crate::transform::ParamLimits,
    ) -> Result<crate::transform::Params, crate::transform::ParamError> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let too_wide = self.max_width.is_some_and(|max| width > max);
        let too_tall = self.max_height.is_some_and(|max| height > max);
        if too_wide || too_tall {
            if let Some(max) = self.max_width {
                pairs.push(("w", max.min(width).to_string()));
            }
            if let Some(max) = self.max_height {
                pairs.push(("h", max.min(height).to_string()));
            }
        }
        if let Some(format) = &self.format {
            pairs.push(("format", format.clone()));
        }
        if let Some(q) = self.q {
            pairs.push(("q", q.to_string()));
        }
        if let Some(strip) = &self.strip {
            pairs.push(("strip", strip.clone()));
        }
        crate::transform::Params::parse(pairs.iter().map(|(k, v)| (*k, v.as_str())), limits)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LqipKind {
    Blurhash,
    Thumbhash,
}

/// What URLs may ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnDemand {
    /// Any transformation.
    #[default]
    Enabled,
    /// Only `profile=NAME`, nothing else.
    ProfilesOnly,
    /// Only variants that already exist (e.g. eager ones) and originals.
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RedirectSettings {
    #[serde(default)]
    pub strategy: RedirectStrategy,
    /// How long a presigned URL stays valid.
    #[serde(default = "default_presigned_ttl")]
    pub ttl_seconds: u64,
    /// For `template`: the URL with `{bucket}` and `{key}` in it, e.g.
    /// `https://cdn.example.com/{bucket}/{key}`.
    #[serde(default)]
    pub template: Option<String>,
}

impl Default for RedirectSettings {
    fn default() -> Self {
        Self {
            strategy: RedirectStrategy::default(),
            ttl_seconds: default_presigned_ttl(),
            template: None,
        }
    }
}

fn default_presigned_ttl() -> u64 {
    3600
}

/// `signing` on a path rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signing {
    /// No read needs a signature.
    #[default]
    None,
    /// Only reads with transformation parameters do.
    Transforms,
    /// Every read does.
    All,
}

impl Signing {
    /// Whether a read with (or without) transformation parameters needs a signature.
    pub fn requires(self, has_transformation: bool) -> bool {
        match self {
            Signing::None => false,
            Signing::Transforms => has_transformation,
            Signing::All => true,
        }
    }
}

/// Where `redirect` sends the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedirectStrategy {
    /// The stable `/-/entry/{n}/content` URL of the entry.
    #[default]
    Entry,
    /// A presigned URL of the object in the S3 store, valid for `ttl-seconds`.
    Presigned,
    /// `template` with the object's bucket and key filled in, e.g. a CDN
    /// in front of the bucket.
    Template,
}

/// The default `allowed-content-types`: every raster format. SVG must be named.
fn default_formats() -> Vec<String> {
    ImageFormat::ALL
        .iter()
        .filter(|f| f.allowed_by_default())
        .map(|f| f.mime().to_owned())
        .collect()
}

fn default_cache_control() -> String {
    "public, max-age=3600".into()
}

fn default_return_format() -> ReturnFormat {
    ReturnFormat::Content
}

impl Default for PathSettings {
    fn default() -> Self {
        Self {
            allowed_content_types: default_formats(),
            max_upload_bytes: None,
            cache_control: default_cache_control(),
            return_format: default_return_format(),
            redirect: RedirectSettings::default(),
            signing: Signing::None,
            bucket: None,
            eager_variants: Vec::new(),
            preprocess: None,
            lqip: Vec::new(),
            on_demand: OnDemand::Enabled,
            validators: Vec::new(),
            preprocessors: Vec::new(),
            transforms: Vec::new(),
            allowed_fx: Vec::new(),
            max_output_pixels: None,
        }
    }
}

impl PathSettings {
    /// Settings that let nothing through: no upload type is accepted, every
    /// read needs a signature, and nothing is made on demand.
    fn closed() -> Self {
        Self {
            allowed_content_types: Vec::new(),
            max_upload_bytes: Some(0),
            signing: Signing::All,
            on_demand: OnDemand::Disabled,
            ..Self::default()
        }
    }

    fn from_table(table: toml::Table) -> Result<Self, String> {
        Self::checked(table, None)
    }

    /// Parses and checks a table; with `context`, also the references to
    /// profiles and the preprocessing parameters.
    fn checked(table: toml::Table, context: Option<(&Profiles, &LimitsConfig, &PluginKinds)>) -> Result<Self, String> {
        let settings: PathSettings = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        for mime in &settings.allowed_content_types {
            if ImageFormat::from_mime(mime).is_none() {
                return Err(format!(
                    "allowed-content-types: {mime:?} is not a supported image type; use any of {}",
                    ImageFormat::ALL.map(ImageFormat::mime).join(", ")
                ));
            }
        }
        if settings.max_upload_bytes == Some(0) {
            return Err("max-upload-bytes must be at least 1".into());
        }
        if settings.max_output_pixels == Some(0) {
            return Err("max-output-pixels must be at least 1".into());
        }
        if settings.cache_control.chars().any(|c| c.is_control()) {
            return Err("cache-control may not contain control characters".into());
        }
        if let Some(bucket) = &settings.bucket
            && !crate::store::valid_bucket_name(bucket)
        {
            return Err(format!(
                "bucket: {bucket:?} is not a valid bucket name (3 to 63 of a-z, 0-9, . and -)"
            ));
        }
        let redirect = &settings.redirect;
        if !(1..=7 * 24 * 3600).contains(&redirect.ttl_seconds) {
            return Err("redirect.ttl-seconds must be 1..=604800 (S3 allows presigned URLs for at most 7 days)".into());
        }
        if let Some(template) = &redirect.template {
            let url = template.starts_with("https://") || template.starts_with("http://");
            if !url || !template.contains("{key}") || template.chars().any(|c| c.is_control() || c == ' ') {
                return Err(format!(
                    "redirect.template {template:?} must be an http(s) URL containing {{key}} \
                     (and optionally {{bucket}})"
                ));
            }
        }
        if redirect.strategy == RedirectStrategy::Template && redirect.template.is_none() {
            return Err("redirect: strategy \"template\" needs redirect.template".into());
        }
        if let Some((profiles, limits, plugins)) = context {
            for (key, names, kind) in [
                ("validators", &settings.validators, Kind::Validator),
                ("preprocessors", &settings.preprocessors, Kind::Preprocessor),
                ("transforms", &settings.transforms, Kind::Transform),
                ("allowed-fx", &settings.allowed_fx, Kind::Transform),
            ] {
                for name in names {
                    let kinds = plugins
                        .get(name)
                        .ok_or_else(|| format!("{key}: there is no plugin {name:?} in [plugins]"))?;
                    if !kinds.contains(&kind) {
                        let is = kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(" and ");
                        return Err(format!("{key}: plugin {name:?} is a {is}, not a {}", kind.name()));
                    }
                }
            }
            if let Some(name) = settings.eager_variants.iter().find(|name| !profiles.contains(name)) {
                return Err(format!("eager-variants: there is no profile {name:?}"));
            }
            if let Some(preprocess) = &settings.preprocess {
                preprocess
                    .params(u32::MAX, u32::MAX, limits.params())
                    .map_err(|e| format!("preprocess: {e}"))?;
            }
        }
        Ok(settings)
    }

    pub fn allows(&self, format: ImageFormat) -> bool {
        self.allowed_content_types.iter().any(|m| m == format.mime())
    }
}

struct CompiledRule {
    pattern: String,
    table: toml::Table,
    specificity: (usize, usize),
}

/// How many distinct sets of matching rules keep their merged settings.
/// A set is named by which rules matched, not by the path, so a handful of
/// rules make only a handful of sets; the bound is for configs with many.
const RESOLVED_SETS: usize = 1024;

/// Every `[[paths]]` rule, compiled and sorted less specific first.
pub struct PathRules {
    rules: Vec<CompiledRule>,
    /// Every rule's globs in one set, matched in one pass.
    globs: GlobSet,
    /// The rule (index into `rules`) each glob in `globs` belongs to.
    glob_rule: Vec<usize>,
    /// Merging and validating the tables is most of what resolving costs and
    /// depends only on which rules matched, so it is done once per set.
    resolved: Cache<Vec<usize>, Arc<ResolvedRules>>,
    default_max_upload_bytes: u64,
}

/// What [`PathRules::resolve`] found for one path.
#[derive(Debug)]
pub struct ResolvedRules {
    /// The patterns that matched, in the order they were applied.
    pub patterns: Vec<String>,
    pub settings: PathSettings,
    pub max_upload_bytes: u64,
}

impl PathRules {
    pub fn compile(
        rules: &[PathRuleConfig],
        limits: &LimitsConfig,
        profiles: &Profiles,
        plugins: &PluginKinds,
    ) -> Result<Self, ConfigError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let invalid = |why: String| ConfigError::Invalid(format!("paths[{i}] (pattern {:?}): {why}", rule.pattern));
            let globs = crate::address::path_globs(&rule.pattern).map_err(invalid)?;
            let segments: Vec<&str> = rule.pattern.split('/').skip(1).collect();
            let literal = segments.iter().filter(|s| !s.contains(['*', '?', '[', '{'])).count();
            let counted = segments.iter().filter(|s| **s != "**").count();
            compiled.push((
                CompiledRule {
                    pattern: rule.pattern.clone(),
                    table: rule.settings.clone(),
                    specificity: (literal, counted),
                },
                globs,
            ));
        }
        compiled.sort_by_key(|(rule, _)| rule.specificity); // stable: file order breaks ties
        // Each rule is checked as it applies: merged over the broader rules
        // that match its own paths, so that it may rely on their keys, and
        // so that the error names the rule that breaks the merge.
        for (index, (rule, _)) in compiled.iter().enumerate() {
            let sample = sample_path(&rule.pattern);
            let mut merged = toml::Table::new();
            for (broader, globs) in &compiled[..index] {
                let applies = sample
                    .as_deref()
                    .is_some_and(|path| globs.iter().any(|g| g.compile_matcher().is_match(path)));
                if applies {
                    merge(&mut merged, &broader.table);
                }
            }
            merge(&mut merged, &rule.table);
            PathSettings::checked(merged, Some((profiles, limits, plugins)))
                .map_err(|why| ConfigError::Invalid(format!("paths (pattern {:?}): {why}", rule.pattern)))?;
        }
        let mut set = GlobSetBuilder::new();
        let mut glob_rule = Vec::new();
        for (index, (_, globs)) in compiled.iter().enumerate() {
            for glob in globs {
                set.add(glob.clone());
                glob_rule.push(index);
            }
        }
        let globs = set
            .build()
            .map_err(|e| ConfigError::Invalid(format!("paths: invalid pattern: {e}")))?;
        Ok(Self {
            rules: compiled.into_iter().map(|(rule, _)| rule).collect(),
            globs,
            glob_rule,
            resolved: Cache::new(RESOLVED_SETS),
            default_max_upload_bytes: limits.max_upload_bytes,
        })
    }

    /// Merges every rule matching `path` over the defaults.
    pub fn resolve(&self, path: &AssetPath) -> Arc<ResolvedRules> {
        let target = path.to_string();
        let mut matched: Vec<usize> = self
            .globs
            .matches(&target)
            .into_iter()
            .map(|g| self.glob_rule[g])
            .collect();
        matched.sort_unstable();
        matched.dedup();
        if let Some(resolved) = self.resolved.get(&matched) {
            return resolved;
        }
        let resolved = Arc::new(self.merge_rules(&matched));
        self.resolved.insert(matched, resolved.clone());
        resolved
    }

    /// `matched` holds rule indices in ascending order, which is the order they apply in.
    fn merge_rules(&self, matched: &[usize]) -> ResolvedRules {
        let mut merged = toml::Table::new();
        let mut patterns = Vec::with_capacity(matched.len());
        for rule in matched.iter().map(|&i| &self.rules[i]) {
            merge(&mut merged, &rule.table);
            patterns.push(rule.pattern.clone());
        }
        // Every rule was validated at start as merged over the broader rules
        // its own paths match; a combination no sample path showed could
        // still fail. Then the path fails closed: nothing is accepted, every
        // read must be signed, nothing is made on demand.
        let settings = PathSettings::from_table(merged).unwrap_or_else(|error| {
            tracing::error!(%error, ?patterns, "merged path rules did not validate; the path is closed");
            PathSettings::closed()
        });
        let max_upload_bytes = settings.max_upload_bytes.unwrap_or(self.default_max_upload_bytes);
        ResolvedRules {
            patterns,
            settings,
            max_upload_bytes,
        }
    }
}

/// A path the pattern matches (`*` and `**` as one segment), where its
/// segments are plain enough to make one.
fn sample_path(pattern: &str) -> Option<String> {
    let segments: Option<Vec<&str>> = pattern
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|segment| match segment {
            "*" | "**" => Some("sample"),
            literal if !literal.contains(['*', '?', '[', '{']) => Some(literal),
            _ => None,
        })
        .collect();
    segments.map(|s| {
        if s.is_empty() {
            "/sample".to_owned()
        } else {
            format!("/{}", s.join("/"))
        }
    })
}

/// Deep merge: tables merge key by key, everything else is replaced.
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(over)) => merge(base, over),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> PathRules {
        let config = crate::config::Config::from_toml(text).unwrap();
        PathRules::compile(
            &config.paths,
            &config.limits,
            &config.profiles().unwrap(),
            &config.plugin_kinds(),
        )
        .unwrap()
    }

    fn resolve(rules: &PathRules, path: &str) -> Arc<ResolvedRules> {
        rules.resolve(&AssetPath::parse(path).unwrap())
    }

    #[test]
    fn a_rule_is_checked_as_merged_over_the_broader_rules_it_meets() {
        // The specific rule names only the strategy; the template comes from
        // the broader rule that also applies to its paths.
        let merged = rules(
            r#"
            [[paths]]
            pattern = "/cdn/**"
            redirect = { template = "https://cdn.example.com/{key}" }
            [[paths]]
            pattern = "/cdn/*/hero"
            redirect = { strategy = "template" }
            "#,
        );
        let hero = resolve(&merged, "cdn/a/hero");
        assert_eq!(hero.settings.redirect.strategy, RedirectStrategy::Template);
        // Alone, or beside a broader rule that does not reach it, it fails.
        let text = r#"
            [[paths]]
            pattern = "/elsewhere/**"
            redirect = { template = "https://cdn.example.com/{key}" }
            [[paths]]
            pattern = "/cdn/*/hero"
            redirect = { strategy = "template" }
            "#;
        let error = crate::config::Config::from_toml(text).unwrap_err().to_string();
        assert!(error.contains("/cdn/*/hero"), "{error}");
    }

    #[test]
    fn settings_that_do_not_merge_close_the_path() {
        let closed = PathSettings::closed();
        assert!(closed.allowed_content_types.is_empty());
        assert_eq!(closed.signing, Signing::All);
        assert_eq!(closed.on_demand, OnDemand::Disabled);
        assert_eq!(closed.max_upload_bytes, Some(0));
    }

    #[test]
    fn globs() {
        let rules = rules(
            r#"
            [[paths]]
            pattern = "/**"
            cache-control = "root"
            [[paths]]
            pattern = "/users/*"
            cache-control = "one-below-users"
            [[paths]]
            pattern = "/users/**"
            max-upload-bytes = 10
            [[paths]]
            pattern = "/users/*/avatar"
            cache-control = "avatar"
            "#,
        );
        for (path, patterns) in [
            ("x", vec!["/**"]),
            ("users", vec!["/**", "/users/**"]),
            ("users/1", vec!["/**", "/users/**", "/users/*"]),
            ("users/1/avatar", vec!["/**", "/users/**", "/users/*/avatar"]),
            ("users/1/avatar/big", vec!["/**", "/users/**"]),
            ("usersx/1", vec!["/**"]),
        ] {
            assert_eq!(resolve(&rules, path).patterns, patterns, "{path}");
        }
        assert_eq!(resolve(&rules, "users/1/avatar").settings.cache_control, "avatar");
        assert_eq!(resolve(&rules, "users/1").settings.cache_control, "one-below-users");
        assert_eq!(resolve(&rules, "users/1").max_upload_bytes, 10);
        assert_eq!(resolve(&rules, "x").max_upload_bytes, 32 * 1024 * 1024);
    }

    #[test]
    fn paths_matching_the_same_rules_share_one_resolution() {
        let rules = rules(
            r#"
            [[paths]]
            pattern = "/users/**"
            cache-control = "users"
            [[paths]]
            pattern = "/users/*/avatar"
            cache-control = "avatar"
            "#,
        );
        let first = resolve(&rules, "users/1/avatar");
        let second = resolve(&rules, "users/2/avatar");
        assert!(Arc::ptr_eq(&first, &second));
        // Asked again after others were resolved, each path still gets its own set's answer.
        let other = resolve(&rules, "users/1/banner");
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(other.settings.cache_control, "users");
        assert_eq!(resolve(&rules, "users/3/avatar").settings.cache_control, "avatar");
        assert!(resolve(&rules, "elsewhere").patterns.is_empty());
    }

    #[test]
    fn specific_rules_win_whatever_the_file_order() {
        let rules = rules(
            r#"
            [[paths]]
            pattern = "/a/b/c"
            cache-control = "exact"
            [[paths]]
            pattern = "/a/*/c"
            cache-control = "star"
            [[paths]]
            pattern = "/a/**"
            cache-control = "deep"
            "#,
        );
        let resolved = resolve(&rules, "a/b/c");
        assert_eq!(resolved.patterns, ["/a/**", "/a/*/c", "/a/b/c"]);
        assert_eq!(resolved.settings.cache_control, "exact");
    }

    #[test]
    fn tables_merge_lists_replace() {
        let mut base: toml::Table = toml::from_str(
            r#"
            list = [1, 2]
            scalar = "a"
            [table]
            keep = 1
            change = 1
            [table.inner]
            deep = true
            "#,
        )
        .unwrap();
        let over: toml::Table = toml::from_str(
            r#"
            list = []
            [table]
            change = 2
            added = 3
            [table.inner]
            other = false
            "#,
        )
        .unwrap();
        merge(&mut base, &over);
        let expected: toml::Table = toml::from_str(
            r#"
            list = []
            scalar = "a"
            [table]
            keep = 1
            change = 2
            added = 3
            [table.inner]
            deep = true
            other = false
            "#,
        )
        .unwrap();
        assert_eq!(base, expected);
    }

    #[test]
    fn an_empty_list_clears() {
        let rules = rules(
            r#"
            [[paths]]
            pattern = "/**"
            allowed-content-types = ["image/png"]
            [[paths]]
            pattern = "/locked/**"
            allowed-content-types = []
            "#,
        );
        assert!(resolve(&rules, "x").settings.allows(ImageFormat::Png));
        assert!(!resolve(&rules, "x").settings.allows(ImageFormat::Jpeg));
        assert!(!resolve(&rules, "locked/x").settings.allows(ImageFormat::Png));
        assert!(resolve(&rules, "elsewhere").settings.allows(ImageFormat::Png));
    }

    #[test]
    fn svg_only_where_named() {
        let rules = rules(
            r#"
            [[paths]]
            pattern = "/icons/**"
            allowed-content-types = ["image/svg+xml", "image/png"]
            "#,
        );
        assert!(resolve(&rules, "icons/a").settings.allows(ImageFormat::Svg));
        assert!(!resolve(&rules, "photos/a").settings.allows(ImageFormat::Svg));
    }

    #[test]
    fn defaults_without_rules() {
        let rules = rules("");
        let resolved = resolve(&rules, "a/b");
        assert!(resolved.patterns.is_empty());
        for format in ImageFormat::ALL {
            assert_eq!(
                resolved.settings.allows(format),
                format != ImageFormat::Svg,
                "{format:?}"
            );
        }
        assert_eq!(resolved.settings.return_format, ReturnFormat::Content);
    }
}
