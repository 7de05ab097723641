//! What a transformation makes, and how it fails: shared by the pipeline
//! and the planar shortcut, neither of which depends on the other for it.

use crate::plugin::PluginError;

/// The encoded result of a plan.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// libvips refused or failed; the message is libvips' own.
    #[error("{step}: {message}")]
    Vips { step: &'static str, message: String },
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// Names the step a libvips error came from, with libvips' own message.
pub(super) fn vips(step: &'static str) -> impl Fn(rs_vips::error::Error) -> PipelineError {
    move |error| PipelineError::Vips {
        step,
        message: error.to_string().replace("vips error: ", ""),
    }
}
