//! `kiln-sdk`: write Kiln plugins in Rust.
//!
//! Implement [`Plugin`] for a type — only the method of the kind of plugin
//! you are writing; the others keep their defaults, which decline — and call
//! [`export!`] once. Build with `cargo build --release --target wasm32-wasip2`;
//! the `.wasm` file is the plugin. See the crate's README for the whole guide.
//!
//! ```ignore
//! struct Invert;
//!
//! impl kiln_sdk::Plugin for Invert {
//!     fn transform(mut image: kiln_sdk::Image, _: &kiln_sdk::Settings, _: &kiln_sdk::Settings) -> Result<kiln_sdk::Image, String> {
//!         for px in image.pixels.chunks_exact_mut(4) {
//!             for c in &mut px[..3] { *c = 255 - *c; }
//!         }
//!         Ok(image)
//!     }
//! }
//!
//! kiln_sdk::export!(Invert);
//! ```
//!
//! The generated WIT bindings stay private; what is public is this crate's
//! own small API, so plugins do not break when the bindings generator moves.

mod adapter;
mod types;

pub use types::{Image, Settings, UploadInfo, Verdict, parse_colour};

/// The version of the `kiln:plugin` WIT package these bindings were made
/// from; the host refuses components built against another version.
pub const API_VERSION: &str = "0.1.0";

/// A Kiln plugin. Implement the method of your plugin's kind; every other
/// method declines by default, so a plugin used as the wrong kind fails with
/// a clear message instead of doing something unexpected.
pub trait Plugin {
    /// A transform: pixels in, pixels out. `params` are the request's
    /// `{plugin}.{key}` parameters, `config` the `[plugins.NAME] config` table.
    fn transform(input: Image, params: &Settings, config: &Settings) -> Result<Image, String> {
        let _ = (input, params, config);
        Err("this plugin is not a transform".into())
    }

    /// A validator: accept or reject an upload before it is stored.
    /// `preview` is a small decoded copy (at most 256 pixels on its longer side).
    fn validate(upload: &[u8], info: &UploadInfo, preview: Image, config: &Settings) -> Verdict {
        let _ = (upload, info, preview, config);
        Verdict::Reject("this plugin is not a validator".into())
    }

    /// A preprocessor: return the bytes that become the stored original.
    fn preprocess(upload: Vec<u8>, info: &UploadInfo, config: &Settings) -> Result<Vec<u8>, String> {
        let _ = (upload, info, config);
        Err("this plugin is not a preprocessor".into())
    }
}

/// Writes to the Kiln server's log, tagged with the plugin's name.
pub mod log {
    use crate::adapter::bindings::kiln::plugin::host::{Level, log};

    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }
    pub fn info(message: &str) {
        log(Level::Info, message);
    }
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Exports a [`Plugin`] implementation as the component's entry points.
/// Call it exactly once, at the top level of your crate.
///
/// The exports exist only when building for WebAssembly; on the host the
/// macro expands to nothing, so `cargo test` can run the plugin's logic
/// natively.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __KilnPluginAdapter = $crate::__private::Adapter<$plugin>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::export_bindings!(__KilnPluginAdapter with_types_in $crate::__private::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::adapter::Adapter;
    pub use crate::adapter::bindings;
    pub use crate::adapter::export_bindings;
}
