//! `kiln-sdk`: write Kiln plugins in Rust.
//!
//! A plugin is one kind — a [`Transform`], a [`Validator`] or a
//! [`Preprocessor`]. Implement that trait for a type, declare the
//! parameters as constants ([`Param`]) and list them in its
//! [`Description`], then export it with the kind's macro
//! ([`export_transform!`], [`export_validator!`], [`export_preprocessor!`]).
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm`
//! file is the plugin. See the crate's README for the whole guide.
//!
//! ```
//! use kiln_sdk::{Description, Error, Image, Param, Params, Settings, Transform};
//!
//! const AMOUNT: Param<f64> = Param::float("amount", 0.0, 1.0)
//!     .default(1.0)
//!     .doc("0 keeps the image, 1 inverts it");
//!
//! struct Invert;
//!
//! impl Transform for Invert {
//!     fn new() -> Self {
//!         Invert
//!     }
//!
//!     fn describe(&self) -> Description {
//!         Description::transform("invert", "1.0.0", "Inverts colours").param(&AMOUNT)
//!     }
//!
//!     fn transform(&self, mut image: Image, params: &Params, _config: &Settings) -> Result<Image, Error> {
//!         let amount = params.get(&AMOUNT)? as f32;
//!         for px in image.pixels.chunks_exact_mut(4) {
//!             for c in &mut px[..3] {
//!                 *c = (f32::from(*c) + (255.0 - 2.0 * f32::from(*c)) * amount).round() as u8;
//!             }
//!         }
//!         Ok(image)
//!     }
//! }
//!
//! kiln_sdk::export_transform!(Invert);
//! ```
//!
//! The generated WIT bindings stay private; what is public is this crate's
//! own small API, so plugins do not break when the bindings generator moves.

mod adapter;
mod params;
mod types;

pub use params::{Accepts, DefaultValue, Description, Kind, Param, ParamSpec, ParamValue, Params};
pub use types::{Error, Image, Settings, UploadInfo, Verdict, parse_colour};

/// The version of the `kiln:plugin` WIT package these bindings were made
/// from (`wit/v0.2.0`).
pub const API_VERSION: &str = "0.2.0";

/// A transform: decoded pixels in, pixels out.
///
/// Kiln makes a fresh instance for every call (`new`), so there is no state
/// to keep between calls.
pub trait Transform {
    fn new() -> Self
    where
        Self: Sized;

    /// What the plugin is and the URL parameters it takes; Kiln asks once,
    /// at load, checks every URL against it and fills in the defaults.
    fn describe(&self) -> Description;

    /// `params` are the request's `{plugin}.{key}` parameters, read through
    /// their declarations; `config` is the `[plugins.NAME] config` table.
    fn transform(&self, image: Image, params: &Params, config: &Settings) -> Result<Image, Error>;
}

/// A validator: accepts or rejects an upload before it is stored.
pub trait Validator {
    fn new() -> Self
    where
        Self: Sized;

    /// What the plugin is (a validator declares no parameters).
    fn describe(&self) -> Description;

    /// `preview` is a small decoded copy (at most 256 pixels on its longer
    /// side). `Ok(Verdict::Reject(reason))` refuses the upload with the
    /// reason; `Err` means the validator could not decide.
    fn validate(&self, upload: &[u8], info: &UploadInfo, preview: Image, config: &Settings) -> Result<Verdict, Error>;
}

/// A preprocessor: returns the bytes that become the stored original.
pub trait Preprocessor {
    fn new() -> Self
    where
        Self: Sized;

    /// What the plugin is (a preprocessor declares no parameters).
    fn describe(&self) -> Description;

    fn preprocess(&self, upload: Vec<u8>, info: &UploadInfo, config: &Settings) -> Result<Vec<u8>, Error>;
}

/// Writes to the Kiln server's log, tagged with the plugin's name; off
/// WebAssembly (in native tests), to stderr.
pub mod log {
    #[cfg(target_arch = "wasm32")]
    use crate::adapter::bindings::transform::kiln::plugin::host::{Level, log as emit};

    #[cfg(not(target_arch = "wasm32"))]
    #[derive(Debug)]
    enum Level {
        Debug,
        Info,
        Warn,
        Error,
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn emit(level: Level, message: &str) {
        eprintln!("[{level:?}] {message}");
    }

    pub fn debug(message: &str) {
        emit(Level::Debug, message);
    }
    pub fn info(message: &str) {
        emit(Level::Info, message);
    }
    pub fn warn(message: &str) {
        emit(Level::Warn, message);
    }
    pub fn error(message: &str) {
        emit(Level::Error, message);
    }
}

/// Exports a [`Transform`] as the component's entry points. Call it once,
/// at the top level of the crate. Off WebAssembly it only checks the type,
/// so `cargo test` runs the plugin's logic natively.
#[macro_export]
macro_rules! export_transform {
    ($plugin:ty) => {
        $crate::__export_kind!($plugin, Transform, transform, export_transform_bindings);
    };
}

/// Exports a [`Validator`]; see [`export_transform!`].
#[macro_export]
macro_rules! export_validator {
    ($plugin:ty) => {
        $crate::__export_kind!($plugin, Validator, validator, export_validator_bindings);
    };
}

/// Exports a [`Preprocessor`]; see [`export_transform!`].
#[macro_export]
macro_rules! export_preprocessor {
    ($plugin:ty) => {
        $crate::__export_kind!($plugin, Preprocessor, preprocessor, export_preprocessor_bindings);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_kind {
    ($plugin:ty, $kind:ident, $world:ident, $bindings:ident) => {
        const _: fn() = || {
            fn implements<P: $crate::$kind>() {}
            implements::<$plugin>();
        };
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __KilnPluginAdapter = $crate::__private::Adapter<$plugin>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::$world::$bindings!(__KilnPluginAdapter with_types_in $crate::__private::$world);
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::adapter::Adapter;
    pub use crate::adapter::bindings::{preprocessor, transform, validator};
}
