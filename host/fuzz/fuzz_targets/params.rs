//! Transformation parameters from a raw query string, then planning them
//! against a source of any shape (the first bytes of the input): neither may
//! panic, a plan's size stays within the limit, and its key is stable.
#![no_main]

use kiln::internals::{ImageFormat, ParamLimits, Params, Plan, Source, SourceColour};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // Eight bytes of width and height, each at least one, then the query.
    let Some((shape, query)) = input.split_first_chunk::<8>() else {
        return;
    };
    let width = u32::from_le_bytes([shape[0], shape[1], shape[2], shape[3]]).max(1);
    let height = u32::from_le_bytes([shape[4], shape[5], shape[6], shape[7]]).max(1);
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let limits = ParamLimits { max_dimension: 8192 };
    let Ok(params) = Params::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), limits) else {
        return;
    };
    let source = Source {
        format: ImageFormat::Jpeg,
        width,
        height,
        has_alpha: false,
        pages: 1,
        colour: SourceColour::Srgb,
    };
    if let Ok(plan) = Plan::new(&params, &source, Some("image/avif,image/webp,*/*"), 8192, Vec::new()) {
        assert!(plan.width >= 1 && plan.height >= 1 && plan.width <= 8192 && plan.height <= 8192);
        if let Some((w, h)) = plan.resize {
            assert!(w >= 1 && h >= 1 && w <= 8192 && h <= 8192, "resize {w}x{h}");
        }
        assert_eq!(plan.key(false), plan.clone().key(false));
    }
});
