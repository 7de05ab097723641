//! Transformation parameters from a raw query string, then planning them
//! against an ordinary source: neither may panic, and a plan's key is stable.
#![no_main]

use kiln::probe::{ImageFormat, SourceColour};
use kiln::transform::{ParamLimits, Params, Plan, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &[u8]| {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let limits = ParamLimits { max_dimension: 8192 };
    let Ok(params) = Params::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), limits) else {
        return;
    };
    let source = Source {
        format: ImageFormat::Jpeg,
        width: 640,
        height: 480,
        has_alpha: false,
        pages: 1,
        colour: SourceColour::Srgb,
    };
    if let Ok(plan) = Plan::new(&params, &source, Some("image/avif,image/webp,*/*"), 8192, Vec::new()) {
        assert!(plan.width >= 1 && plan.height >= 1 && plan.width <= 8192 && plan.height <= 8192);
        assert_eq!(plan.key(false), plan.clone().key(false));
    }
});
