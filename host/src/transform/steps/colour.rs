//! Colour: into the working 8-bit sRGB (or grey) through the source's ICC
//! profile, flattening onto the background for outputs without alpha, and
//! out into the colour space asked for.

use rs_vips::enums::Interpretation;
use rs_vips::voption::{Setter, VOption};

use super::effects::{rejoin_alpha, split_alpha};
use super::{Context, Frames, Result, map};
use crate::transform::icc::is_srgb_profile;
use crate::transform::params::{ColourSpace, OutputFormat};

/// Brings every image into 8-bit sRGB (or grey) through its ICC profile,
/// unless the output keeps the original's colour space.
pub fn import_colour(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    map(frames, "import colour", |image| {
        let interpretation = image.get_interpretation()?;
        let has_profile = image.get_typeof("icc-profile-data").unwrap_or(0) != 0;
        // Only JPEG can carry CMYK; every other output gets sRGB.
        let cmyk_unwritable = interpretation == Interpretation::Cmyk && plan.output.format != OutputFormat::Jpeg;
        let keep = plan.output.colour == ColourSpace::Origin && !cmyk_unwritable;
        if keep {
            return Ok(image.clone());
        }
        match interpretation {
            Interpretation::Cmyk => image.icc_transform_with_opts(
                "srgb",
                VOption::new()
                    .set("embedded", true)
                    .set("input_profile", "cmyk")
                    .set("intent", "relative"),
            ),
            Interpretation::Srgb | Interpretation::BW if !has_profile => Ok(image.clone()),
            // Most photos carry the standard sRGB profile: converting sRGB to
            // sRGB through lcms costs a cold JPEG transform dearly
            // (bench/NOTES.md) for no change. Dropping the profile is exact.
            Interpretation::Srgb
                if image
                    .get_blob("icc-profile-data")
                    .is_ok_and(|icc| is_srgb_profile(&icc)) =>
            {
                let mut untagged = image.copy()?;
                untagged.remove("icc-profile-data")?;
                Ok(untagged)
            }
            Interpretation::Srgb | Interpretation::Rgb | Interpretation::BW if has_profile => {
                let mut converted = image
                    .icc_transform_with_opts("srgb", VOption::new().set("embedded", true).set("intent", "relative"))?;
                converted.remove("icc-profile-data")?;
                Ok(converted)
            }
            Interpretation::Grey16 | Interpretation::BW => image.colourspace(Interpretation::BW),
            _ => image.colourspace(Interpretation::Srgb),
        }
    })
}

pub fn flatten(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    if plan.output.format.has_alpha() {
        return Ok(frames);
    }
    let [r, g, b, _] = plan.background.map(f64::from);
    map(frames, "flatten", |image| {
        if !image.hasalpha() {
            return Ok(image.clone());
        }
        let background = if image.get_bands() <= 2 {
            vec![(r + g + b) / 3.0]
        } else {
            vec![r, g, b]
        };
        image.flatten_with_opts(VOption::new().set("background", background.as_slice()))
    })
}

/// Converts from the working sRGB to the colour space asked for.
pub fn export_colour(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    match plan.output.colour {
        ColourSpace::Srgb | ColourSpace::Origin => Ok(frames),
        ColourSpace::Gray => map(frames, "export colour", |image| image.colourspace(Interpretation::BW)),
        ColourSpace::P3 => map(frames, "export colour", |image| {
            let (colour, alpha) = split_alpha(image)?;
            let colour = if colour.get_bands() < 3 {
                colour.colourspace(Interpretation::Srgb)?
            } else {
                colour
            };
            let p3 = colour.icc_transform_with_opts(
                "p3",
                VOption::new().set("input_profile", "srgb").set("intent", "relative"),
            )?;
            rejoin_alpha(p3, alpha)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ImageFormat;
    use crate::transform::raster::{pixels, testing::image};
    use crate::transform::steps::testing::{plan, run, source};

    #[test]
    fn a_format_without_alpha_is_flattened_onto_the_background() {
        let original = source(ImageFormat::Png, (2, 1), true);
        let frame = image(2, 1, 4, |x, _| {
            if x == 0 {
                vec![0, 0, 255, 0]
            } else {
                vec![0, 0, 255, 255]
            }
        });
        let steps: &[crate::transform::steps::Step] = &[import_colour, flatten, export_colour];
        let kept = run(steps, &plan(&original, "format=png"), &original, frame.clone());
        assert_eq!(kept.get_bands(), 4, "PNG keeps alpha");
        let flat = run(
            steps,
            &plan(&original, "format=jpeg&bg=ff0000"),
            &original,
            frame.clone(),
        );
        assert_eq!(
            pixels(&flat, &|_| {}).unwrap(),
            [255, 0, 0, 0, 0, 255],
            "transparent → bg, opaque kept"
        );
        let grey = run(
            steps,
            &plan(&original, "format=jpeg&bg=ffffff&cs=gray"),
            &original,
            frame,
        );
        assert_eq!(grey.get_bands(), 1, "grey out");
    }
}
