//! The bridge between the generated bindings and the SDK's traits: one
//! bindings module per world, sharing the types and the host import, so a
//! component exports only the kind its export macro names.

use std::marker::PhantomData;

use crate::params::{Accepts, Description, Kind};
use crate::{Error, Image, Params, Preprocessor, Settings, Transform, UploadInfo, Validator, Verdict};

pub mod bindings {
    pub mod transform {
        wit_bindgen::generate!({
            path: "../wit/v0.2.0",
            world: "transform",
            pub_export_macro: true,
            export_macro_name: "export_transform_bindings",
            default_bindings_module: "kiln_sdk::__private::transform",
        });
    }
    pub mod validator {
        wit_bindgen::generate!({
            path: "../wit/v0.2.0",
            world: "validator",
            pub_export_macro: true,
            export_macro_name: "export_validator_bindings",
            default_bindings_module: "kiln_sdk::__private::validator",
            with: {
                "kiln:plugin/types@0.2.0": crate::adapter::bindings::transform::kiln::plugin::types,
                "kiln:plugin/host@0.2.0": crate::adapter::bindings::transform::kiln::plugin::host,
            },
        });
    }
    pub mod preprocessor {
        wit_bindgen::generate!({
            path: "../wit/v0.2.0",
            world: "preprocessor",
            pub_export_macro: true,
            export_macro_name: "export_preprocessor_bindings",
            default_bindings_module: "kiln_sdk::__private::preprocessor",
            with: {
                "kiln:plugin/types@0.2.0": crate::adapter::bindings::transform::kiln::plugin::types,
                "kiln:plugin/host@0.2.0": crate::adapter::bindings::transform::kiln::plugin::host,
            },
        });
    }
}

use bindings::preprocessor::exports::kiln::plugin::preprocessing;
use bindings::transform::exports::kiln::plugin::transformer;
use bindings::transform::kiln::plugin::types;
use bindings::validator::exports::kiln::plugin::validation;

/// Implements the exported interface of the plugin's kind.
pub struct Adapter<P>(PhantomData<P>);

fn to_image(image: types::Image) -> Result<Image, types::Error> {
    let types::Layout::Rgba8 = image.layout;
    Image::new(image.width, image.height, image.pixels).map_err(types::Error::Failed)
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
        path: info.path,
        alt: info.alt,
        labels: info.labels,
        tags: info.tags,
    }
}

fn to_error(error: Error) -> types::Error {
    match error {
        Error::InvalidParam { name, reason } => types::Error::InvalidParam(types::InvalidParam { name, reason }),
        Error::Failed(message) => types::Error::Failed(message),
    }
}

fn to_description(description: Description) -> types::Description {
    types::Description {
        name: description.name.into(),
        version: description.version.into(),
        kind: match description.kind {
            Kind::Transform => types::Kind::Transform,
            Kind::Validator => types::Kind::Validator,
            Kind::Preprocessor => types::Kind::Preprocessor,
        },
        summary: description.summary.into(),
        params: description
            .params
            .into_iter()
            .map(|param| types::Param {
                name: param.name.into(),
                accepts: match param.accepts {
                    Accepts::Int { min, max } => types::ParamType::Int(types::IntRange { min, max }),
                    Accepts::Float { min, max } => types::ParamType::Float(types::FloatRange { min, max }),
                    Accepts::Boolean => types::ParamType::Boolean,
                    Accepts::Colour => types::ParamType::Colour,
                    Accepts::Choice(choices) => {
                        types::ParamType::Choice(choices.iter().map(|c| (*c).to_owned()).collect())
                    }
                    Accepts::Text { max_length } => types::ParamType::Text(max_length),
                },
                default: param.default,
                doc: param.doc.into(),
            })
            .collect(),
    }
}

impl<P: Transform> transformer::Guest for Adapter<P> {
    fn describe() -> types::Description {
        to_description(P::new().describe())
    }

    fn transform(
        input: types::Image,
        params: Vec<(String, String)>,
        config: Vec<(String, String)>,
    ) -> Result<types::Image, types::Error> {
        let image = to_image(input)?;
        P::new()
            .transform(image, &Params::from(params), &Settings::from(config))
            .map(from_image)
            .map_err(to_error)
    }
}

impl<P: Validator> validation::Guest for Adapter<P> {
    fn describe() -> types::Description {
        to_description(P::new().describe())
    }

    fn validate(
        upload: Vec<u8>,
        info: types::UploadInfo,
        preview: types::Image,
        config: Vec<(String, String)>,
    ) -> Result<types::Verdict, types::Error> {
        let preview = to_image(preview)?;
        match P::new().validate(&upload, &to_info(info), preview, &Settings::from(config)) {
            Ok(Verdict::Accept) => Ok(types::Verdict::Accept),
            Ok(Verdict::Reject(reason)) => Ok(types::Verdict::Reject(reason)),
            Err(error) => Err(to_error(error)),
        }
    }
}

impl<P: Preprocessor> preprocessing::Guest for Adapter<P> {
    fn describe() -> types::Description {
        to_description(P::new().describe())
    }

    fn preprocess(
        upload: Vec<u8>,
        info: types::UploadInfo,
        config: Vec<(String, String)>,
    ) -> Result<Vec<u8>, types::Error> {
        P::new()
            .preprocess(upload, &to_info(info), &Settings::from(config))
            .map_err(to_error)
    }
}
