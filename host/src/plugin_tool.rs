//! The plugin author's commands: `kiln plugin check` runs a component once
//! as the server would, and `kiln plugin new` scaffolds a project. Both
//! work on local files; nothing here serves HTTP.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::plugin::{Plugin, PluginConfig, PluginImage, Plugins, UploadFacts, Verdict};

pub use crate::plugin::Kind;
use crate::probe;
use crate::transform::{self, PREVIEW_SIZE};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(String);

impl ToolError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What `kiln plugin check` was asked.
pub struct CheckRequest {
    pub wasm: PathBuf,
    /// The image to run on; a generated 512x320 sample without one.
    pub image: Option<PathBuf>,
    /// `-p key=value`, the parameters without the plugin's prefix.
    pub params: Vec<(String, String)>,
    /// Where the result goes; `<wasm stem>.check.<ext>` beside the working
    /// directory without one.
    pub out: Option<PathBuf>,
}

/// Loads every configured plugin as `serve` would (compiled into a
/// temporary cache) and checks the path rules against their kinds: every
/// problem is one line of the error. Returns how many plugins loaded.
pub fn check_configured(config: &Config) -> Result<usize, ToolError> {
    let cache = tempfile::tempdir().map_err(|e| ToolError::new(format!("no temporary directory: {e}")))?;
    let plugins = Plugins::load(
        &config.plugins,
        cache.path(),
        config.limits.max_output_dimension,
        Arc::new(Metrics::new()),
    )
    .map_err(|e| ToolError::new(e.to_string()))?;
    let profiles = config.profiles().map_err(|e| ToolError::new(e.to_string()))?;
    crate::config::PathRules::compile(&config.paths, &config.limits, &profiles, &plugins.kinds())
        .map_err(|e| ToolError::new(e.to_string()))?;
    Ok(plugins.iter().count())
}

/// A plugin name made from a file name: `my_plugin.wasm` → `my-plugin`.
fn name_of(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin");
    let name: String = stem
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(64)
        .collect();
    if name.is_empty() { "plugin".into() } else { name }
}

/// The `[plugins.*]` entry of `config` for this file, if any: its limits
/// and config are the server's.
fn configured(config: &Config, wasm: &Path) -> Option<PluginConfig> {
    let wanted = wasm.canonicalize().ok()?;
    config
        .plugins
        .values()
        .find(|plugin| plugin.path.canonicalize().ok().as_ref() == Some(&wanted))
        .cloned()
}

/// Loads the component as the server would, prints what it says of itself,
/// runs it once and writes the result; the report is returned.
pub fn check(config: &Config, request: &CheckRequest) -> Result<String, ToolError> {
    let name = name_of(&request.wasm);
    let plugin_config = configured(config, &request.wasm).unwrap_or_else(|| PluginConfig {
        path: request.wasm.clone(),
        memory_mb: 64,
        timeout_ms: 1000,
        config: toml::Table::new(),
    });
    let cache = tempfile::tempdir().map_err(|e| ToolError::new(format!("no temporary directory: {e}")))?;
    let plugins = Plugins::load(
        &BTreeMap::from([(name.clone(), plugin_config)]),
        cache.path(),
        config.limits.max_output_dimension,
        Arc::new(Metrics::new()),
    )
    .map_err(|e| ToolError::new(e.to_string()))?;
    let plugin = plugins
        .get(&name)
        .ok_or_else(|| ToolError::new("the plugin did not load"))?;
    let mut report = describe(plugin, &request.wasm);
    let upload = match &request.image {
        Some(path) => {
            std::fs::read(path).map_err(|e| ToolError::new(format!("cannot read {}: {e}", path.display())))?
        }
        None => transform::encode_png(&sample(512, 320)).map_err(|e| ToolError::new(e.to_string()))?,
    };
    let image_error = |e: transform::TransformError| ToolError::new(format!("the image cannot be decoded: {e}"));
    let kind = plugin.kinds().first().copied().unwrap_or(Kind::Transform);
    let started = Instant::now();
    let out = match kind {
        Kind::Transform => {
            let frame = transform::decode_rgba(&upload, config.limits.max_output_dimension).map_err(image_error)?;
            let given: BTreeMap<String, String> = request.params.iter().cloned().collect();
            let params = plugin.canonical_params(&given).map_err(|problem| {
                ToolError::new(format!("invalid_param `{name}.{}`: {}", problem.key, problem.message))
            })?;
            let (width, height) = (frame.width, frame.height);
            let result = plugin
                .transform(frame, &params)
                .map_err(|e| ToolError::new(e.to_string()))?;
            let shown: Vec<String> = params.iter().map(|(k, v)| format!("{name}.{k}={v}")).collect();
            let _ = writeln!(
                report,
                "ran: transform of {width}x{height} with [{}] -> {}x{} in {:.1} ms",
                shown.join(" "),
                result.image.width,
                result.image.height,
                started.elapsed().as_secs_f64() * 1000.0
            );
            Some((
                transform::encode_png(&result.image).map_err(|e| ToolError::new(e.to_string()))?,
                "png",
            ))
        }
        Kind::Validator => {
            let preview = transform::decode_rgba(&upload, PREVIEW_SIZE as u32).map_err(image_error)?;
            let verdict = plugin
                .validate(&upload, &facts(&upload)?, preview)
                .map_err(|e| ToolError::new(e.to_string()))?;
            let said = match verdict {
                Verdict::Accept => "accept".to_owned(),
                Verdict::Reject(reason) => format!("reject: {reason}"),
            };
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            let _ = writeln!(report, "ran: validate -> {said} in {elapsed:.1} ms");
            None
        }
        Kind::Preprocessor => {
            let replaced = plugin
                .preprocess(&upload, &facts(&upload)?)
                .map_err(|e| ToolError::new(e.to_string()))?;
            let format = probe::sniff(&replaced)
                .ok_or_else(|| ToolError::new("the preprocessor returned bytes that are not an image Kiln accepts"))?;
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            let _ = writeln!(
                report,
                "ran: preprocess of {} bytes -> {} bytes of {} in {elapsed:.1} ms",
                upload.len(),
                replaced.len(),
                format.mime()
            );
            Some((replaced, format.extension()))
        }
    };
    if let Some((bytes, extension)) = out {
        let path = request
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{name}.check.{extension}")));
        std::fs::write(&path, bytes).map_err(|e| ToolError::new(format!("cannot write {}: {e}", path.display())))?;
        let _ = writeln!(report, "wrote: {}", path.display());
    }
    Ok(report)
}

fn facts(upload: &[u8]) -> Result<UploadFacts, ToolError> {
    let info = probe::probe(upload).map_err(|e| ToolError::new(format!("the image is not one Kiln accepts: {e}")))?;
    Ok(UploadFacts {
        content_type: info.format.mime().to_owned(),
        width: info.width,
        height: info.height,
        frames: 1,
        bytes: upload.len() as u64,
    })
}

/// The description, one line a field and a line a parameter.
fn describe(plugin: &Plugin, wasm: &Path) -> String {
    let kinds: Vec<&str> = plugin.kinds().iter().map(|k| k.name()).collect();
    let mut text = format!(
        "{}: kiln:plugin@{}, {}, sha256 {}\n",
        wasm.display(),
        plugin.api_version(),
        kinds.join(" and "),
        plugin.sha256
    );
    let Some(description) = &plugin.description else {
        text.push_str("(API 0.1.0 has no describe: parameters are not checked)\n");
        return text;
    };
    let _ = writeln!(text, "name: {} {}", description.name, description.version);
    let _ = writeln!(text, "summary: {}", description.summary);
    for param in &description.params {
        let accepts = match &param.accepts {
            crate::plugin::ParamType::Int { min, max } => format!("int {min}..={max}"),
            crate::plugin::ParamType::Float { min, max } => format!("float {min}..={max}"),
            crate::plugin::ParamType::Bool => "bool".into(),
            crate::plugin::ParamType::Colour => "colour".into(),
            crate::plugin::ParamType::Enum { choices } => format!("enum {}", choices.join("|")),
            crate::plugin::ParamType::String { max_length } => format!("string ≤{max_length}"),
        };
        let default = param.default.as_deref().map(|d| format!(" = {d}")).unwrap_or_default();
        let _ = writeln!(text, "param {}: {accepts}{default} — {}", param.name, param.doc);
    }
    text
}

/// A sample photo-like frame: smooth gradients, a hard edge, some alpha-free
/// texture, so most transforms show what they do.
fn sample(width: u32, height: u32) -> PluginImage {
    let mut pixels = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let disc = ((fx - 0.65).powi(2) + (fy - 0.45).powi(2)).sqrt() < 0.2;
            let texture = (((x / 8) + (y / 8)) % 2) as f32 * 18.0;
            let (r, g, b) = if disc {
                (235.0, 190.0 - texture, 60.0)
            } else {
                (40.0 + 150.0 * fx + texture, 90.0 + 120.0 * fy, 200.0 - 120.0 * fx)
            };
            pixels.extend([r as u8, g as u8, b as u8, 255]);
        }
    }
    PluginImage { width, height, pixels }
}

/// The languages `kiln plugin new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
}

/// Writes a plugin project named `name` of `kind` into `dir` (which must not
/// exist yet), depending on the SDK at `sdk`; it builds as written and its
/// own test passes. Returns the files written.
pub fn scaffold(name: &str, kind: Kind, language: Language, dir: &Path, sdk: &Path) -> Result<Vec<PathBuf>, ToolError> {
    if !crate::transform::is_plugin_name(name) {
        return Err(ToolError::new(format!(
            "{name:?} is not a plugin name: lower-case letters, digits, - and _"
        )));
    }
    if dir.exists() {
        return Err(ToolError::new(format!("{} exists already", dir.display())));
    }
    let Language::Rust = language;
    let sdk = sdk
        .canonicalize()
        .map_err(|e| ToolError::new(format!("the SDK is not at {}: {e} (give --sdk)", sdk.display())))?;
    let crate_name = name.replace('-', "_");
    let type_name: String = name
        .split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let type_name = if type_name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("Plugin{type_name}")
    } else {
        type_name
    };
    let source = match kind {
        Kind::Transform => RUST_TRANSFORM,
        Kind::Validator => RUST_VALIDATOR,
        Kind::Preprocessor => RUST_PREPROCESSOR,
    }
    .replace("{{name}}", name)
    .replace("{{Type}}", &type_name);
    let manifest = RUST_MANIFEST.replace("{{name}}", name).replace(
        "{{sdk}}",
        &sdk.display().to_string().replace('\\', "\\\\").replace('"', "\\\""),
    );
    let readme = RUST_README
        .replace("{{name}}", name)
        .replace("{{crate}}", &crate_name)
        .replace("{{kind}}", kind.name());
    let files = [
        (dir.join("Cargo.toml"), manifest),
        (dir.join("src/lib.rs"), source),
        (dir.join("README.md"), readme),
        (dir.join(".gitignore"), "/target\n".to_owned()),
    ];
    let write_error = |path: &Path, e: std::io::Error| ToolError::new(format!("cannot write {}: {e}", path.display()));
    std::fs::create_dir_all(dir.join("src")).map_err(|e| write_error(dir, e))?;
    for (path, text) in &files {
        std::fs::write(path, text).map_err(|e| write_error(path, e))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

const RUST_MANIFEST: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the component; rlib: `cargo test` of the logic, natively.
crate-type = ["cdylib", "rlib"]

[dependencies]
kiln-sdk = { path = "{{sdk}}" }

# A plugin is a project of its own.
[workspace]

[profile.release]
opt-level = 3
lto = true
strip = true
"#;

const RUST_README: &str = r#"# {{name}}

A Kiln {{kind}} plugin.

```sh
cargo test                                           # the logic, natively
cargo build --release --target wasm32-wasip2          # the component
kiln plugin check target/wasm32-wasip2/release/{{crate}}.wasm
```

Then configure it in Kiln:

```toml
[plugins.{{name}}]
path = "target/wasm32-wasip2/release/{{crate}}.wasm"
```
"#;

const RUST_TRANSFORM: &str = r#"//! `{{name}}`: brightens or darkens the image by `{{name}}.amount`.

use kiln_sdk::{Description, Error, Image, Param, Params, Settings, Transform};

const AMOUNT: Param<f64> = Param::float("amount", -1.0, 1.0)
    .default(0.2)
    .doc("-1 is black, 0 leaves the image, 1 is white");

struct {{Type}};

impl Transform for {{Type}} {
    fn new() -> Self {
        {{Type}}
    }

    fn describe(&self) -> Description {
        Description::transform("{{name}}", env!("CARGO_PKG_VERSION"), "Brightens or darkens the image").param(&AMOUNT)
    }

    fn transform(&self, mut image: Image, params: &Params, _config: &Settings) -> Result<Image, Error> {
        let amount = params.get(&AMOUNT)? as f32;
        let target = if amount < 0.0 { 0.0 } else { 255.0 };
        for pixel in image.pixels.chunks_exact_mut(4) {
            for channel in &mut pixel[..3] {
                let value = f32::from(*channel);
                *channel = (value + (target - value) * amount.abs()).round() as u8;
            }
        }
        Ok(image)
    }
}

kiln_sdk::export_transform!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_leaves_the_image_and_out_of_range_names_the_parameter() {
        let image = Image::new(1, 1, vec![10, 100, 200, 255]).unwrap();
        let plugin = {{Type}}::new();
        let same = plugin.transform(image.clone(), &Params::from_pairs([("amount", "0")]), &Settings::default());
        assert_eq!(same.unwrap(), image);
        let white = plugin.transform(image.clone(), &Params::from_pairs([("amount", "1")]), &Settings::default());
        assert_eq!(white.unwrap().pixel(0, 0), [255, 255, 255, 255]);
        let error = plugin
            .transform(image, &Params::from_pairs([("amount", "2")]), &Settings::default())
            .unwrap_err();
        assert!(matches!(error, Error::InvalidParam { ref name, .. } if name == "amount"), "{error}");
    }
}
"#;

const RUST_VALIDATOR: &str = r#"//! `{{name}}`: refuses uploads narrower than the config's `min-width`
//! (default 16 pixels).

use kiln_sdk::{Description, Error, Image, Settings, UploadInfo, Validator, Verdict};

struct {{Type}};

impl Validator for {{Type}} {
    fn new() -> Self {
        {{Type}}
    }

    fn describe(&self) -> Description {
        Description::validator("{{name}}", env!("CARGO_PKG_VERSION"), "Refuses uploads narrower than min-width")
    }

    fn validate(&self, _upload: &[u8], info: &UploadInfo, _preview: Image, config: &Settings) -> Result<Verdict, Error> {
        let min_width: u32 = config.parse_or("min-width", 16)?;
        Ok(if info.width < min_width {
            Verdict::Reject(format!("the image is {} pixels wide; at least {min_width} are required", info.width))
        } else {
            Verdict::Accept
        })
    }
}

kiln_sdk::export_validator!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;

    fn info(width: u32) -> UploadInfo {
        UploadInfo { content_type: "image/png".into(), width, height: 10, frames: 1, bytes: 100 }
    }

    #[test]
    fn narrow_uploads_are_refused() {
        let preview = Image::new(1, 1, vec![0; 4]).unwrap();
        let config = Settings::from_pairs([("min-width", "20")]);
        let plugin = {{Type}}::new();
        assert_eq!(plugin.validate(&[], &info(30), preview.clone(), &config), Ok(Verdict::Accept));
        assert!(matches!(plugin.validate(&[], &info(10), preview, &config), Ok(Verdict::Reject(_))));
    }
}
"#;

const RUST_PREPROCESSOR: &str = r#"//! `{{name}}`: refuses uploads larger than the config's `max-bytes`
//! (default 10 MB) and keeps every other one as it is.

use kiln_sdk::{Description, Error, Preprocessor, Settings, UploadInfo};

struct {{Type}};

impl Preprocessor for {{Type}} {
    fn new() -> Self {
        {{Type}}
    }

    fn describe(&self) -> Description {
        Description::preprocessor("{{name}}", env!("CARGO_PKG_VERSION"), "Refuses uploads larger than max-bytes")
    }

    fn preprocess(&self, upload: Vec<u8>, info: &UploadInfo, config: &Settings) -> Result<Vec<u8>, Error> {
        let most: u64 = config.parse_or("max-bytes", 10_000_000)?;
        if info.bytes > most {
            return Err(Error::failed(format!("the upload is {} bytes; at most {most} are kept", info.bytes)));
        }
        Ok(upload)
    }
}

kiln_sdk::export_preprocessor!({{Type}});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_uploads_are_refused() {
        let info = |bytes| UploadInfo { content_type: "image/png".into(), width: 1, height: 1, frames: 1, bytes };
        let config = Settings::from_pairs([("max-bytes", "3")]);
        let plugin = {{Type}}::new();
        assert_eq!(plugin.preprocess(vec![1, 2], &info(2), &config), Ok(vec![1, 2]));
        assert!(plugin.preprocess(vec![1; 4], &info(4), &config).is_err());
    }
}
"#;
