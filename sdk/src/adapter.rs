//! The bridge between the generated bindings and [`crate::Plugin`].

use std::marker::PhantomData;

use crate::{Image, Plugin, Settings, UploadInfo, Verdict};

pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "kiln_sdk::__private::bindings",
    });
}

pub use bindings::export_bindings;

use bindings::exports::kiln::plugin::{preprocessing, transformer, validation};
use bindings::kiln::plugin::types;

/// Implements every exported interface for any [`Plugin`].
pub struct Adapter<P>(PhantomData<P>);

fn to_image(image: types::Image) -> Result<Image, String> {
    let types::Layout::Rgba8 = image.layout;
    Image::new(image.width, image.height, image.pixels)
}

fn from_image(image: Image) -> types::Image {
    types::Image {
        width: image.width,
        height: image.height,
        layout: types::Layout::Rgba8,
        pixels: image.pixels,
    }
}

fn to_info(info: types::UploadInfo) -> UploadInfo {
    UploadInfo {
        content_type: info.content_type,
        width: info.width,
        height: info.height,
        frames: info.frames,
        bytes: info.bytes,
    }
}

impl<P: Plugin> transformer::Guest for Adapter<P> {
    fn transform(
        input: types::Image,
        params: Vec<(String, String)>,
        config: Vec<(String, String)>,
    ) -> Result<types::Image, String> {
        let image = to_image(input)?;
        P::transform(image, &Settings::from(params), &Settings::from(config)).map(from_image)
    }
}

impl<P: Plugin> validation::Guest for Adapter<P> {
    fn validate(
        upload: Vec<u8>,
        info: types::UploadInfo,
        preview: types::Image,
        config: Vec<(String, String)>,
    ) -> types::Verdict {
        let preview = match to_image(preview) {
            Ok(preview) => preview,
            Err(error) => return types::Verdict::Reject(error),
        };
        match P::validate(&upload, &to_info(info), preview, &Settings::from(config)) {
            Verdict::Accept => types::Verdict::Accept,
            Verdict::Reject(reason) => types::Verdict::Reject(reason),
        }
    }
}

impl<P: Plugin> preprocessing::Guest for Adapter<P> {
    fn preprocess(upload: Vec<u8>, info: types::UploadInfo, config: Vec<(String, String)>) -> Result<Vec<u8>, String> {
        P::preprocess(upload, &to_info(info), &Settings::from(config))
    }
}
