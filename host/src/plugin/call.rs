//! One call: a fresh store with the plugin's memory cap and deadline, a
//! fresh instance from the pooling allocator, the call, and a strict check
//! of what came back. Whatever the plugin does, only this call fails.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimitsBuilder, Trap};

use super::describe::{Description, Param, ParamType};
use super::engine::EPOCH_TICK;
use super::linker::bindings::{v1, v2};
use super::linker::{Pres, State, sealed_wasi};
use super::{Kind, Plugin, PluginError, Verdict};

/// 8-bit RGBA pixels handed to or taken from a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl PluginImage {
    /// Whether every pixel's alpha is 255. The alphas are and-ed over whole
    /// pixels in blocks, which the compiler vectorises; a byte-wise scan with
    /// an early exit cost every plugin call measurably (bench/NOTES.md).
    pub fn is_opaque(&self) -> bool {
        let opaque = |block: &[u8]| {
            let and = block.chunks_exact(4).fold(u32::MAX, |all, pixel| {
                all & u32::from_le_bytes([pixel[0], pixel[1], pixel[2], pixel[3]])
            });
            and >> 24 == 0xff
        };
        let mut blocks = self.pixels.chunks_exact(256);
        blocks.all(opaque) && opaque(blocks.remainder())
    }
}

/// A transform's result, and whether it differs from the frame the plugin
/// was given. A plugin that hands its input back as it was lets the planar
/// path go on from the decoder's planes, so the output is the same as
/// without the plugin and the conversion back from RGBA is spared.
#[derive(Debug)]
pub struct Transformed {
    pub image: PluginImage,
    pub changed: bool,
}

/// What validators and preprocessors are told about an upload.
#[derive(Debug, Clone)]
pub struct UploadFacts {
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub bytes: u64,
    /// The asset path with its leading slash (told to API 0.2 plugins only,
    /// as are the metadata below).
    pub path: String,
    pub alt: Option<String>,
    pub labels: Vec<(String, String)>,
    pub tags: Vec<String>,
}

fn store(plugin: &Plugin) -> Store<State> {
    new_store(&plugin.engine.engine, &plugin.name, plugin.memory_mb, plugin.timeout)
}

/// A store for one call: `memory_mb` of linear memory at most, and a
/// deadline `timeout` from now.
pub(super) fn new_store(engine: &wasmtime::Engine, name: &str, memory_mb: u32, timeout: Duration) -> Store<State> {
    let limits = StoreLimitsBuilder::new()
        .memory_size(memory_mb as usize * 1024 * 1024)
        .trap_on_grow_failure(true)
        .build();
    let state = State {
        wasi: sealed_wasi(),
        table: ResourceTable::new(),
        limits,
        plugin: name.to_owned(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limits);
    let ticks = (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    store
}

/// Names a wasmtime failure: deadline, memory cap, or any other trap.
fn classify(plugin: &Plugin, error: wasmtime::Error) -> PluginError {
    let name = plugin.name.clone();
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return PluginError::Timeout {
                name,
                limit: plugin.timeout,
            };
        }
        Some(Trap::OutOfFuel) => {
            return PluginError::Trap {
                name,
                message: "it ran out of fuel".into(),
            };
        }
        _ => {}
    }
    let detail = format!("{error:#}");
    if detail.contains("growing memory") || detail.contains("memory allocation") || detail.contains("memory limit") {
        return PluginError::OutOfMemory {
            name,
            limit_mb: plugin.memory_mb,
        };
    }
    tracing::warn!(plugin = %name, %detail, "plugin trapped");
    // The trap's kind in wasmtime's fixed wording ("call stack exhausted"
    // said as people say it); the backtrace under it is the plugin's
    // internals and stays in the log.
    let message = match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => "stack overflow".to_owned(),
        Some(Trap::UnreachableCodeReached) => "it panicked or reached unreachable code".to_owned(),
        Some(Trap::MemoryOutOfBounds) => "it accessed memory out of bounds".to_owned(),
        Some(trap) => trap.to_string(),
        None => "it stopped unexpectedly".into(),
    };
    PluginError::Trap { name, message }
}

fn wrong_kind(plugin: &Plugin, kind: Kind) -> PluginError {
    PluginError::WrongKind {
        name: plugin.name.clone(),
        kind,
    }
}

/// A plugin's own error, kept to 500 characters.
fn failed(plugin: &Plugin, message: String) -> PluginError {
    PluginError::Failed {
        name: plugin.name.clone(),
        message: message.chars().take(500).collect(),
    }
}

/// A 0.2 error of a validator or preprocessor, which have no URL
/// parameters: whatever it says, the plugin failed.
fn v2_failure(plugin: &Plugin, error: v2::types::Error) -> PluginError {
    match error {
        v2::types::Error::InvalidParam(v2::types::InvalidParam { name, reason }) => {
            failed(plugin, format!("`{name}` {reason}"))
        }
        v2::types::Error::Failed(message) => failed(plugin, message),
    }
}

fn v2_error(plugin: &Plugin, error: v2::types::Error) -> PluginError {
    match error {
        v2::types::Error::InvalidParam(v2::types::InvalidParam { name, reason }) => PluginError::InvalidParam {
            name: plugin.name.clone(),
            param: name.chars().take(64).collect(),
            reason: reason.chars().take(500).collect(),
        },
        v2::types::Error::Failed(message) => failed(plugin, message),
    }
}

/// The image conversion into one API version's types.
macro_rules! to_wit_image {
    ($version:ident, $image:expr) => {{
        let image: PluginImage = $image;
        $version::types::Image {
            width: image.width,
            height: image.height,
            layout: $version::types::Layout::Rgba8,
            pixels: image.pixels,
        }
    }};
}

fn v1_info(facts: &UploadFacts) -> v1::types::UploadInfo {
    v1::types::UploadInfo {
        content_type: facts.content_type.clone(),
        width: facts.width,
        height: facts.height,
        frames: facts.frames,
        bytes: facts.bytes,
    }
}

fn v2_info(facts: &UploadFacts) -> v2::types::UploadInfo {
    v2::types::UploadInfo {
        content_type: facts.content_type.clone(),
        width: facts.width,
        height: facts.height,
        frames: facts.frames,
        bytes: facts.bytes,
        path: facts.path.clone(),
        alt: facts.alt.clone(),
        labels: facts.labels.clone(),
        tags: facts.tags.clone(),
    }
}

pub fn transform(plugin: &Plugin, image: PluginImage, params: &[(String, String)]) -> Result<Transformed, PluginError> {
    let mut store = store(plugin);
    let (input_size, input) = ((image.width, image.height), image);
    let (output, input_pixels) = match &plugin.pre {
        Pres::Transform(pre) => {
            let bindings = pre.instantiate(&mut store).map_err(|e| classify(plugin, e))?;
            let input = to_wit_image!(v2, input);
            let result = bindings
                .kiln_plugin_transformer()
                .call_transform(&mut store, &input, &params.to_vec(), &plugin.config)
                .map_err(|e| classify(plugin, e))?;
            let output = result.map_err(|e| v2_error(plugin, e))?;
            ((output.width, output.height, output.pixels), input.pixels)
        }
        Pres::V1 {
            transform: Some(pre), ..
        } => {
            let bindings = pre.instantiate(&mut store).map_err(|e| classify(plugin, e))?;
            let input = to_wit_image!(v1, input);
            let result = bindings
                .kiln_plugin_transformer()
                .call_transform(&mut store, &input, &params.to_vec(), &plugin.config)
                .map_err(|e| classify(plugin, e))?;
            let output = result.map_err(|message| failed(plugin, message))?;
            ((output.width, output.height, output.pixels), input.pixels)
        }
        _ => return Err(wrong_kind(plugin, Kind::Transform)),
    };
    let (w, h, pixels) = output;
    let bad = |message: String| PluginError::BadOutput {
        name: plugin.name.clone(),
        message,
    };
    let most = plugin.max_output_side;
    if w == 0 || h == 0 || w > most || h > most {
        return Err(bad(format!(
            "an image of {w}x{h}; results are 1 to {most} pixels a side (limits.max-output-dimension)"
        )));
    }
    let expected = u64::from(w) * u64::from(h) * 4;
    if pixels.len() as u64 != expected {
        return Err(bad(format!(
            "{} bytes of pixels for {w}x{h} RGBA, which needs {expected}",
            pixels.len()
        )));
    }
    // A memcmp of the frame, which stops at the first difference, against
    // the encoder's colour conversion it can save.
    let changed = (w, h) != input_size || pixels != input_pixels;
    Ok(Transformed {
        image: PluginImage {
            width: w,
            height: h,
            pixels,
        },
        changed,
    })
}

pub fn validate(
    plugin: &Plugin,
    upload: &[u8],
    facts: &UploadFacts,
    preview: PluginImage,
) -> Result<Verdict, PluginError> {
    let mut store = store(plugin);
    let reject = |reason: String| Verdict::Reject(reason.chars().take(500).collect());
    match &plugin.pre {
        Pres::Validator(pre) => {
            let bindings = pre.instantiate(&mut store).map_err(|e| classify(plugin, e))?;
            let preview = to_wit_image!(v2, preview);
            let verdict = bindings
                .kiln_plugin_validation()
                .call_validate(&mut store, upload, &v2_info(facts), &preview, &plugin.config)
                .map_err(|e| classify(plugin, e))?
                .map_err(|e| v2_failure(plugin, e))?;
            Ok(match verdict {
                v2::types::Verdict::Accept => Verdict::Accept,
                v2::types::Verdict::Reject(reason) => reject(reason),
            })
        }
        Pres::V1 {
            validator: Some(pre), ..
        } => {
            let bindings = pre.instantiate(&mut store).map_err(|e| classify(plugin, e))?;
            let preview = to_wit_image!(v1, preview);
            let verdict = bindings
                .kiln_plugin_validation()
                .call_validate(&mut store, upload, &v1_info(facts), &preview, &plugin.config)
                .map_err(|e| classify(plugin, e))?;
            Ok(match verdict {
                v1::types::Verdict::Accept => Verdict::Accept,
                v1::types::Verdict::Reject(reason) => reject(reason),
            })
        }
        _ => Err(wrong_kind(plugin, Kind::Validator)),
    }
}

pub fn preprocess(plugin: &Plugin, upload: &[u8], facts: &UploadFacts) -> Result<Vec<u8>, PluginError> {
    let mut store = store(plugin);
    match &plugin.pre {
        Pres::Preprocessor(pre) => {
            let bindings = pre.instantiate(&mut store).map_err(|e| classify(plugin, e))?;
            bindings
                .kiln_plugin_preprocessing()
                .call_preprocess(&mut store, upload, &v2_info(facts), &plugin.config)
                .map_err(|e| classify(plugin, e))?
                .map_err(|e| v2_failure(plugin, e))
        }
        Pres::V1 {
            preprocessor: Some(pre),
            ..
        } => {
            let bindings = pre.instantiate(&mut store).map_err(|e| classify(plugin, e))?;
            bindings
                .kiln_plugin_preprocessing()
                .call_preprocess(&mut store, upload, &v1_info(facts), &plugin.config)
                .map_err(|e| classify(plugin, e))?
                .map_err(|message| failed(plugin, message))
        }
        _ => Err(wrong_kind(plugin, Kind::Preprocessor)),
    }
}

/// What an API 0.2 component says of itself, checked; `None` for 0.1,
/// which has no `describe`.
pub(super) fn describe(
    pres: &Pres,
    engine: &wasmtime::Engine,
    name: &str,
    memory_mb: u32,
    timeout: Duration,
) -> Result<Option<Description>, String> {
    let mut store = new_store(engine, name, memory_mb, timeout);
    let failed = |error: wasmtime::Error| format!("its describe failed: {}", first_line(&format!("{error:#}")));
    let (description, kind) = match pres {
        Pres::V1 { .. } => return Ok(None),
        Pres::Transform(pre) => {
            let bindings = pre.instantiate(&mut store).map_err(failed)?;
            let answer = bindings.kiln_plugin_transformer().call_describe(&mut store);
            (answer.map_err(failed)?, Kind::Transform)
        }
        Pres::Validator(pre) => {
            let bindings = pre.instantiate(&mut store).map_err(failed)?;
            let answer = bindings.kiln_plugin_validation().call_describe(&mut store);
            (answer.map_err(failed)?, Kind::Validator)
        }
        Pres::Preprocessor(pre) => {
            let bindings = pre.instantiate(&mut store).map_err(failed)?;
            let answer = bindings.kiln_plugin_preprocessing().call_describe(&mut store);
            (answer.map_err(failed)?, Kind::Preprocessor)
        }
    };
    from_wit(description).checked(kind).map(Some)
}

/// The first line of a message, at most 300 characters.
pub(super) fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().chars().take(300).collect()
}

fn from_wit(description: v2::types::Description) -> Description {
    use v2::types::ParamType as Wit;
    Description {
        name: description.name,
        version: description.version,
        kind: match description.kind {
            v2::types::Kind::Transform => Kind::Transform.name(),
            v2::types::Kind::Validator => Kind::Validator.name(),
            v2::types::Kind::Preprocessor => Kind::Preprocessor.name(),
        },
        summary: description.summary,
        params: description
            .params
            .into_iter()
            .map(|param| Param {
                name: param.name,
                accepts: match param.accepts {
                    Wit::Int(range) => ParamType::Int {
                        min: range.min,
                        max: range.max,
                    },
                    Wit::Float(range) => ParamType::Float {
                        min: range.min,
                        max: range.max,
                    },
                    Wit::Boolean => ParamType::Bool,
                    Wit::Colour => ParamType::Colour,
                    Wit::Choice(choices) => ParamType::Enum { choices },
                    Wit::Text(max_length) => ParamType::String { max_length },
                },
                default: param.default,
                doc: param.doc,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::PluginImage;

    fn image(pixels: Vec<u8>) -> PluginImage {
        let width = (pixels.len() / 4) as u32;
        PluginImage {
            width,
            height: 1,
            pixels,
        }
    }

    #[test]
    fn opaque_means_every_alpha_is_255() {
        // Sizes around the scan's block of 64 pixels, a translucent pixel at
        // each end and in the middle; colour bytes of 255 and 0 must not count.
        for pixels in [1usize, 63, 64, 65, 128, 1000] {
            let mut rgba: Vec<u8> = (0..pixels * 4)
                .map(|i| if i % 4 == 3 { 255 } else { (i % 256) as u8 })
                .collect();
            assert!(image(rgba.clone()).is_opaque(), "{pixels} pixels");
            for at in [0, pixels / 2, pixels - 1] {
                rgba[at * 4 + 3] = 254;
                assert!(!image(rgba.clone()).is_opaque(), "{pixels} pixels, pixel {at} at 254");
                rgba[at * 4 + 3] = 255;
            }
        }
        assert!(!image(vec![255, 255, 255, 0]).is_opaque());
        assert!(image(Vec::new()).is_opaque());
    }
}
