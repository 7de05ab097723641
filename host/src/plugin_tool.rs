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
        path: "/plugin-check/sample".into(),
        alt: None,
        labels: Vec::new(),
        tags: Vec::new(),
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
    /// Against `kiln-sdk`, built with cargo.
    Rust,
    /// Against the WIT, built with componentize-py.
    Python,
    /// Against the WIT, built with componentize-js.
    JavaScript,
}

/// The WIT the Python and JavaScript scaffolds build against.
const WIT: &str = include_str!("../../wit/v0.2.0/plugin.wit");

/// Writes a plugin project named `name` of `kind` into `dir` (which must not
/// exist yet); it builds as written and its own test passes. A Rust project
/// depends on the SDK at `sdk`. Returns the files written.
pub fn scaffold(name: &str, kind: Kind, language: Language, dir: &Path, sdk: &Path) -> Result<Vec<PathBuf>, ToolError> {
    if !crate::plugin::is_plugin_name(name) {
        return Err(ToolError::new(format!(
            "{name:?} is not a plugin name: lower-case letters, digits, - and _"
        )));
    }
    if dir.exists() {
        return Err(ToolError::new(format!("{} exists already", dir.display())));
    }
    let files = match language {
        Language::Rust => rust_files(name, kind, dir, sdk)?,
        Language::Python => vec![
            (dir.join("app.py"), fill(python_source(kind), name, kind)),
            (dir.join("test_app.py"), fill(python_test(kind), name, kind)),
            (dir.join("requirements.txt"), "componentize-py==0.25.1\n".to_owned()),
            (dir.join("README.md"), fill(PYTHON_README, name, kind)),
            (dir.join("wit/plugin.wit"), WIT.to_owned()),
            (
                dir.join(".gitignore"),
                "/.venv\n/bindings\n*.wasm\n__pycache__/\n".to_owned(),
            ),
        ],
        Language::JavaScript => vec![
            (dir.join("plugin.js"), fill(js_source(kind), name, kind)),
            (dir.join("plugin.test.js"), fill(js_test(kind), name, kind)),
            (dir.join("package.json"), fill(JS_PACKAGE, name, kind)),
            (dir.join("README.md"), fill(JS_README, name, kind)),
            (dir.join("wit/plugin.wit"), WIT.to_owned()),
            (dir.join(".gitignore"), "/node_modules\n*.wasm\n".to_owned()),
        ],
    };
    let write_error = |path: &Path, e: std::io::Error| ToolError::new(format!("cannot write {}: {e}", path.display()));
    for (path, text) in &files {
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        std::fs::write(path, text).map_err(|e| write_error(path, e))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// `my-plugin` → `MyPlugin`, a type name in every language scaffolded.
fn type_name_of(name: &str) -> String {
    let words: String = name
        .split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    if words.starts_with(|c: char| c.is_ascii_digit()) {
        format!("Plugin{words}")
    } else {
        words
    }
}

/// A template with its placeholders filled in.
fn fill(template: &str, name: &str, kind: Kind) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{file}}", &name.replace('-', "_"))
        .replace("{{kind}}", kind.name())
        .replace("{{Type}}", &type_name_of(name))
}

fn rust_files(name: &str, kind: Kind, dir: &Path, sdk: &Path) -> Result<Vec<(PathBuf, String)>, ToolError> {
    let sdk = sdk
        .canonicalize()
        .map_err(|e| ToolError::new(format!("the SDK is not at {}: {e} (give --sdk)", sdk.display())))?;
    let source = match kind {
        Kind::Transform => RUST_TRANSFORM,
        Kind::Validator => RUST_VALIDATOR,
        Kind::Preprocessor => RUST_PREPROCESSOR,
    };
    let sdk = sdk.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    Ok(vec![
        (
            dir.join("Cargo.toml"),
            fill(RUST_MANIFEST, name, kind).replace("{{sdk}}", &sdk),
        ),
        (dir.join("src/lib.rs"), fill(source, name, kind)),
        (dir.join("README.md"), fill(RUST_README, name, kind)),
        (dir.join(".gitignore"), "/target\n".to_owned()),
    ])
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
kiln plugin check target/wasm32-wasip2/release/{{file}}.wasm
```

Then configure it in Kiln:

```toml
[plugins.{{name}}]
path = "target/wasm32-wasip2/release/{{file}}.wasm"
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
        UploadInfo { content_type: "image/png".into(), width, height: 10, frames: 1, bytes: 100, ..Default::default() }
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
        let info = |bytes| UploadInfo { bytes, ..Default::default() };
        let config = Settings::from_pairs([("max-bytes", "3")]);
        let plugin = {{Type}}::new();
        assert_eq!(plugin.preprocess(vec![1, 2], &info(2), &config), Ok(vec![1, 2]));
        assert!(plugin.preprocess(vec![1; 4], &info(4), &config).is_err());
    }
}
"#;

fn python_source(kind: Kind) -> &'static str {
    match kind {
        Kind::Transform => PYTHON_TRANSFORM,
        Kind::Validator => PYTHON_VALIDATOR,
        Kind::Preprocessor => PYTHON_PREPROCESSOR,
    }
}

fn python_test(kind: Kind) -> &'static str {
    match kind {
        Kind::Transform => PYTHON_TRANSFORM_TEST,
        Kind::Validator => PYTHON_VALIDATOR_TEST,
        Kind::Preprocessor => PYTHON_PREPROCESSOR_TEST,
    }
}

const PYTHON_README: &str = r#"# {{name}}

A Kiln {{kind}} plugin in Python, built with componentize-py against
`wit/plugin.wit` (`kiln:plugin@0.2.0`).

```sh
python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
.venv/bin/componentize-py -d wit -w {{kind}} bindings bindings      # the WIT's types, for the test
PYTHONPATH=bindings python3 -m unittest                             # the logic, natively
.venv/bin/componentize-py -d wit -w {{kind}} componentize app -o {{file}}.wasm
kiln plugin check {{file}}.wasm
```

Then configure it in Kiln:

```toml
[plugins.{{name}}]
path = "{{file}}.wasm"
```
"#;

const PYTHON_TRANSFORM: &str = r#""""{{name}}: brightens or darkens the image by `{{name}}.amount`."""

from wit_world import exports
from wit_world.imports import types


class Transformer(exports.Transformer):
    def describe(self) -> types.Description:
        return types.Description(
            name="{{name}}",
            version="0.1.0",
            kind=types.Kind.TRANSFORM,
            summary="Brightens or darkens the image",
            params=[
                types.Param(
                    name="amount",
                    accepts=types.ParamType_Float(types.FloatRange(min=-1.0, max=1.0)),
                    default="0.2",
                    doc="-1 is black, 0 leaves the image, 1 is white",
                )
            ],
        )

    def transform(self, input, params, config) -> types.Image:
        # Kiln checked `amount` against the description and filled in its default.
        amount = float(dict(params)["amount"])
        target = 0.0 if amount < 0 else 255.0
        table = bytes(round(v + (target - v) * abs(amount)) for v in range(256))
        pixels = bytearray(input.pixels.translate(table))
        pixels[3::4] = input.pixels[3::4]  # alpha stays
        return types.Image(width=input.width, height=input.height, layout=input.layout, pixels=bytes(pixels))
"#;

const PYTHON_TRANSFORM_TEST: &str = r#"import unittest

from app import Transformer
from wit_world.imports import types


def image(pixels):
    return types.Image(width=1, height=1, layout=types.Layout.RGBA8, pixels=bytes(pixels))


class TransformTest(unittest.TestCase):
    def test_zero_leaves_the_image_and_one_is_white(self):
        same = Transformer().transform(image([10, 100, 200, 255]), [("amount", "0")], [])
        self.assertEqual(same.pixels, bytes([10, 100, 200, 255]))
        white = Transformer().transform(image([10, 100, 200, 128]), [("amount", "1")], [])
        self.assertEqual(white.pixels, bytes([255, 255, 255, 128]))

    def test_it_declares_amount(self):
        self.assertEqual([p.name for p in Transformer().describe().params], ["amount"])


if __name__ == "__main__":
    unittest.main()
"#;

const PYTHON_VALIDATOR: &str = r#""""{{name}}: refuses uploads narrower than the config's `min-width`
(default 16 pixels)."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types


class Validation(exports.Validation):
    def describe(self) -> types.Description:
        return types.Description(
            name="{{name}}",
            version="0.1.0",
            kind=types.Kind.VALIDATOR,
            summary="Refuses uploads narrower than min-width",
            params=[],
        )

    def validate(self, upload, info, preview, config) -> types.Verdict:
        text = dict(config).get("min-width", "16")
        if not text.isdigit():
            raise Err(types.Error_Failed(f"config `min-width` must be a whole number, not {text!r}"))
        if info.width < int(text):
            return types.Verdict_Reject(f"the image is {info.width} pixels wide; at least {text} are required")
        return types.Verdict_Accept()
"#;

const PYTHON_VALIDATOR_TEST: &str = r#"import unittest

from app import Validation
from wit_world.imports import types


def info(width):
    return types.UploadInfo(
        content_type="image/png", width=width, height=10, frames=1, bytes=100,
        path="/a", alt=None, labels=[], tags=[],
    )


class ValidateTest(unittest.TestCase):
    def test_narrow_uploads_are_refused(self):
        preview = types.Image(width=1, height=1, layout=types.Layout.RGBA8, pixels=bytes(4))
        config = [("min-width", "20")]
        self.assertIsInstance(Validation().validate(b"", info(30), preview, config), types.Verdict_Accept)
        self.assertIsInstance(Validation().validate(b"", info(10), preview, config), types.Verdict_Reject)


if __name__ == "__main__":
    unittest.main()
"#;

const PYTHON_PREPROCESSOR: &str = r#""""{{name}}: refuses uploads larger than the config's `max-bytes`
(default 10 MB) and keeps every other one as it is."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types


class Preprocessing(exports.Preprocessing):
    def describe(self) -> types.Description:
        return types.Description(
            name="{{name}}",
            version="0.1.0",
            kind=types.Kind.PREPROCESSOR,
            summary="Refuses uploads larger than max-bytes",
            params=[],
        )

    def preprocess(self, upload, info, config) -> bytes:
        most = int(dict(config).get("max-bytes", "10000000"))
        if info.bytes > most:
            raise Err(types.Error_Failed(f"the upload is {info.bytes} bytes; at most {most} are kept"))
        return upload
"#;

const PYTHON_PREPROCESSOR_TEST: &str = r#"import unittest

from app import Preprocessing
from componentize_py_types import Err
from wit_world.imports import types


def info(size):
    return types.UploadInfo(
        content_type="image/png", width=1, height=1, frames=1, bytes=size,
        path="/a", alt=None, labels=[], tags=[],
    )


class PreprocessTest(unittest.TestCase):
    def test_large_uploads_are_refused(self):
        config = [("max-bytes", "3")]
        self.assertEqual(Preprocessing().preprocess(b"ab", info(2), config), b"ab")
        with self.assertRaises(Err):
            Preprocessing().preprocess(b"abcd", info(4), config)


if __name__ == "__main__":
    unittest.main()
"#;

fn js_source(kind: Kind) -> &'static str {
    match kind {
        Kind::Transform => JS_TRANSFORM,
        Kind::Validator => JS_VALIDATOR,
        Kind::Preprocessor => JS_PREPROCESSOR,
    }
}

fn js_test(kind: Kind) -> &'static str {
    match kind {
        Kind::Transform => JS_TRANSFORM_TEST,
        Kind::Validator => JS_VALIDATOR_TEST,
        Kind::Preprocessor => JS_PREPROCESSOR_TEST,
    }
}

const JS_PACKAGE: &str = r#"{
  "name": "{{name}}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {
    "build": "componentize-js plugin.js --wit wit --world-name {{kind}} -d stdio random clocks http fetch-event -o {{file}}.wasm",
    "test": "node --test"
  },
  "devDependencies": {
    "@bytecodealliance/componentize-js": "0.23.0",
    "@bytecodealliance/preview2-shim": "0.25.0"
  }
}
"#;

const JS_README: &str = r#"# {{name}}

A Kiln {{kind}} plugin in JavaScript, built with componentize-js against
`wit/plugin.wit` (`kiln:plugin@0.2.0`).

```sh
npm install
npm test                 # the logic, natively, with node --test
npm run build            # {{file}}.wasm
kiln plugin check {{file}}.wasm
```

Then configure it in Kiln:

```toml
[plugins.{{name}}]
path = "{{file}}.wasm"
```

A call fails by throwing an error whose `payload` is the WIT `error`:
`{ tag: "failed", val: "what went wrong" }`, or
`{ tag: "invalid-param", val: { name, reason } }`.
"#;

const JS_TRANSFORM: &str = r#"// {{name}}: brightens or darkens the image by `{{name}}.amount`.

export const transformer = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      kind: "transform",
      summary: "Brightens or darkens the image",
      params: [
        {
          name: "amount",
          accepts: { tag: "float", val: { min: -1, max: 1 } },
          default: "0.2",
          doc: "-1 is black, 0 leaves the image, 1 is white",
        },
      ],
    };
  },

  transform(input, params, _config) {
    // Kiln checked `amount` against the description and filled in its default.
    const amount = Number(Object.fromEntries(params).amount);
    const target = amount < 0 ? 0 : 255;
    const table = new Uint8Array(256);
    for (let v = 0; v < 256; v++) table[v] = Math.round(v + (target - v) * Math.abs(amount));
    const pixels = input.pixels;
    for (let i = 0; i < pixels.length; i++) {
      if ((i & 3) !== 3) pixels[i] = table[pixels[i]];
    }
    return { width: input.width, height: input.height, layout: "rgba8", pixels };
  },
};
"#;

const JS_TRANSFORM_TEST: &str = r#"import assert from "node:assert/strict";
import { test } from "node:test";
import { transformer } from "./plugin.js";

const image = (pixels) => ({ width: 1, height: 1, layout: "rgba8", pixels: new Uint8Array(pixels) });

test("zero leaves the image, one is white", () => {
  assert.deepEqual([...transformer.transform(image([10, 100, 200, 255]), [["amount", "0"]], []).pixels], [10, 100, 200, 255]);
  assert.deepEqual([...transformer.transform(image([10, 100, 200, 128]), [["amount", "1"]], []).pixels], [255, 255, 255, 128]);
});

test("it declares amount", () => {
  assert.deepEqual(transformer.describe().params.map((p) => p.name), ["amount"]);
});
"#;

const JS_VALIDATOR: &str = r#"// {{name}}: refuses uploads narrower than the config's `min-width`
// (default 16 pixels).

class PluginFailure extends Error {
  constructor(payload) {
    super(payload.val);
    this.payload = payload;
  }
}

export const validation = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      kind: "validator",
      summary: "Refuses uploads narrower than min-width",
      params: [],
    };
  },

  validate(_upload, info, _preview, config) {
    const text = Object.fromEntries(config)["min-width"] ?? "16";
    if (!/^\d+$/.test(text)) {
      throw new PluginFailure({ tag: "failed", val: `config \`min-width\` must be a whole number, not ${text}` });
    }
    if (info.width < Number(text)) {
      return { tag: "reject", val: `the image is ${info.width} pixels wide; at least ${text} are required` };
    }
    return { tag: "accept" };
  },
};
"#;

const JS_VALIDATOR_TEST: &str = r#"import assert from "node:assert/strict";
import { test } from "node:test";
import { validation } from "./plugin.js";

const info = (width) => ({ contentType: "image/png", width, height: 10, frames: 1, bytes: 100n, path: "/a", labels: [], tags: [] });

test("narrow uploads are refused", () => {
  const config = [["min-width", "20"]];
  assert.equal(validation.validate(new Uint8Array(), info(30), null, config).tag, "accept");
  assert.equal(validation.validate(new Uint8Array(), info(10), null, config).tag, "reject");
  assert.throws(() => validation.validate(new Uint8Array(), info(10), null, [["min-width", "x"]]));
});
"#;

const JS_PREPROCESSOR: &str = r#"// {{name}}: refuses uploads larger than the config's `max-bytes`
// (default 10 MB) and keeps every other one as it is.

class PluginFailure extends Error {
  constructor(payload) {
    super(payload.val);
    this.payload = payload;
  }
}

export const preprocessing = {
  describe() {
    return {
      name: "{{name}}",
      version: "0.1.0",
      kind: "preprocessor",
      summary: "Refuses uploads larger than max-bytes",
      params: [],
    };
  },

  preprocess(upload, info, config) {
    const most = BigInt(Object.fromEntries(config)["max-bytes"] ?? "10000000");
    if (info.bytes > most) {
      throw new PluginFailure({ tag: "failed", val: `the upload is ${info.bytes} bytes; at most ${most} are kept` });
    }
    return upload;
  },
};
"#;

const JS_PREPROCESSOR_TEST: &str = r#"import assert from "node:assert/strict";
import { test } from "node:test";
import { preprocessing } from "./plugin.js";

const info = (bytes) => ({ contentType: "image/png", width: 1, height: 1, frames: 1, bytes, path: "/a", labels: [], tags: [] });

test("large uploads are refused", () => {
  const config = [["max-bytes", "3"]];
  assert.deepEqual([...preprocessing.preprocess(new Uint8Array([1, 2]), info(2n), config)], [1, 2]);
  assert.throws(() => preprocessing.preprocess(new Uint8Array(4), info(4n), config));
});
"#;
