//! One call: a fresh store with the plugin's memory cap and deadline, a
//! fresh instance from the pooling allocator, the call, and a strict check
//! of what came back. Whatever the plugin does, only this call fails.

use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimitsBuilder, Trap};

use super::engine::EPOCH_TICK;
use super::linker::bindings::transform::kiln::plugin::types;
use super::linker::{State, sealed_wasi};
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
}

fn store(plugin: &Plugin) -> Store<State> {
    let limits = StoreLimitsBuilder::new()
        .memory_size(plugin.memory_mb as usize * 1024 * 1024)
        .trap_on_grow_failure(true)
        .build();
    let state = State {
        wasi: sealed_wasi(),
        table: ResourceTable::new(),
        limits,
        plugin: plugin.name.clone(),
    };
    let mut store = Store::new(&plugin.engine.engine, state);
    store.limiter(|state| &mut state.limits);
    let ticks = (plugin.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    store
}

/// Names a wasmtime failure: deadline, memory cap, or any other trap.
fn classify(plugin: &Plugin, error: wasmtime::Error) -> PluginError {
    let name = plugin.name.clone();
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return PluginError::Timeout {
            name,
            limit: plugin.timeout,
        };
    }
    let message = format!("{error:#}");
    if message.contains("growing memory") || message.contains("memory allocation") {
        return PluginError::OutOfMemory {
            name,
            limit_mb: plugin.memory_mb,
        };
    }
    tracing::warn!(plugin = %name, detail = %message, "plugin trapped");
    // The trap's kind is wasmtime's fixed wording; the backtrace under it is
    // the plugin's internals and stays in the log.
    let message = match error.downcast_ref::<Trap>() {
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

fn to_wit(image: PluginImage) -> types::Image {
    types::Image {
        width: image.width,
        height: image.height,
        layout: types::Layout::Rgba8,
        pixels: image.pixels,
    }
}

fn to_wit_info(facts: &UploadFacts) -> types::UploadInfo {
    types::UploadInfo {
        content_type: facts.content_type.clone(),
        width: facts.width,
        height: facts.height,
        frames: facts.frames,
        bytes: facts.bytes,
    }
}

/// The most a transform's result may hold: the host's own output limit.
const MAX_OUTPUT_SIDE: u32 = 16384;

pub fn transform(plugin: &Plugin, image: PluginImage, params: &[(String, String)]) -> Result<Transformed, PluginError> {
    let pre = plugin
        .pre
        .transform
        .as_ref()
        .ok_or_else(|| wrong_kind(plugin, Kind::Transform))?;
    let mut store = store(plugin);
    let bindings = pre.instantiate(&mut store).map_err(|e| classify(plugin, e))?;
    let input = to_wit(image);
    let result = bindings
        .kiln_plugin_transformer()
        .call_transform(&mut store, &input, &params.to_vec(), &plugin.config)
        .map_err(|e| classify(plugin, e))?;
    let output = result.map_err(|message| PluginError::Failed {
        name: plugin.name.clone(),
        message: message.chars().take(500).collect(),
    })?;
    let bad = |message: String| PluginError::BadOutput {
        name: plugin.name.clone(),
        message,
    };
    let (w, h) = (output.width, output.height);
    if w == 0 || h == 0 || w > MAX_OUTPUT_SIDE || h > MAX_OUTPUT_SIDE {
        return Err(bad(format!("an image of {w}x{h}")));
    }
    let expected = u64::from(w) * u64::from(h) * 4;
    if output.pixels.len() as u64 != expected {
        return Err(bad(format!(
            "{} bytes of pixels for {w}x{h} RGBA, which needs {expected}",
            output.pixels.len()
        )));
    }
    // A memcmp of the frame, which stops at the first difference, against
    // the encoder's colour conversion it can save.
    let changed = (w, h) != (input.width, input.height) || output.pixels != input.pixels;
    Ok(Transformed {
        image: PluginImage {
            width: w,
            height: h,
            pixels: output.pixels,
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
    let pre = plugin
        .pre
        .validator
        .as_ref()
        .ok_or_else(|| wrong_kind(plugin, Kind::Validator))?;
    let mut store = store(plugin);
    let bindings = pre.instantiate(&mut store).map_err(|e| classify(plugin, e))?;
    let verdict = bindings
        .kiln_plugin_validation()
        .call_validate(
            &mut store,
            upload,
            &to_wit_info(facts),
            &to_wit(preview),
            &plugin.config,
        )
        .map_err(|e| classify(plugin, e))?;
    Ok(match verdict {
        types::Verdict::Accept => Verdict::Accept,
        types::Verdict::Reject(reason) => Verdict::Reject(reason.chars().take(500).collect()),
    })
}

pub fn preprocess(plugin: &Plugin, upload: &[u8], facts: &UploadFacts) -> Result<Vec<u8>, PluginError> {
    let pre = plugin
        .pre
        .preprocessor
        .as_ref()
        .ok_or_else(|| wrong_kind(plugin, Kind::Preprocessor))?;
    let mut store = store(plugin);
    let bindings = pre.instantiate(&mut store).map_err(|e| classify(plugin, e))?;
    let result = bindings
        .kiln_plugin_preprocessing()
        .call_preprocess(&mut store, upload, &to_wit_info(facts), &plugin.config)
        .map_err(|e| classify(plugin, e))?;
    result.map_err(|message| PluginError::Failed {
        name: plugin.name.clone(),
        message: message.chars().take(500).collect(),
    })
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
