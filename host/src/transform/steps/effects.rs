//! Effects on the pixels: blur, sharpen and the named filters.

use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Interpretation, OperationRelational};
use rs_vips::voption::{Setter, VOption};

use super::{Context, Frames, Result, map};
use crate::transform::params::Filter;

pub fn blur(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let Some(sigma) = plan.blur else { return Ok(frames) };
    map(frames, "blur", |image| image.gaussblur(sigma))
}

pub fn sharpen(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let Some(sigma) = plan.sharpen else { return Ok(frames) };
    map(frames, "sharpen", |image| {
        image.sharpen_with_opts(VOption::new().set("sigma", sigma))
    })
}

/// Splits off alpha so that colour operations see colour bands only.
pub fn split_alpha(image: &VipsImage) -> rs_vips::Result<(VipsImage, Option<VipsImage>)> {
    if !image.hasalpha() {
        return Ok((image.clone(), None));
    }
    let bands = image.get_bands();
    let colour = image.extract_band_with_opts(0, VOption::new().set("n", bands - 1))?;
    Ok((colour, Some(image.extract_band(bands - 1)?)))
}

pub fn rejoin_alpha(colour: VipsImage, alpha: Option<VipsImage>) -> rs_vips::Result<VipsImage> {
    match alpha {
        Some(alpha) => colour.bandjoin_with(alpha),
        None => Ok(colour),
    }
}

pub fn filter(cx: &Context, frames: Frames) -> Result<Frames> {
    let plan = cx.plan;
    let Some(filter) = plan.filter else { return Ok(frames) };
    map(frames, "filter", |image| {
        let (colour, alpha) = split_alpha(image)?;
        let grey = colour.colourspace(Interpretation::BW)?;
        let filtered = match filter {
            Filter::Grayscale => grey.colourspace(Interpretation::Srgb)?,
            Filter::Bw => grey
                .relational_const(OperationRelational::Moreeq, &[128.0])?
                .colourspace(Interpretation::Srgb)?,
            Filter::Sepia => {
                let rgb = grey.colourspace(Interpretation::Srgb)?;
                let matrix = VipsImage::new_matrix_from_array(
                    3,
                    3,
                    &[0.393, 0.769, 0.189, 0.349, 0.686, 0.168, 0.272, 0.534, 0.131],
                )?;
                rgb.recomb(&matrix)?.cast(BandFormat::Uchar)?
            }
        };
        rejoin_alpha(filtered, alpha)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ImageFormat;
    use crate::transform::raster::{pixels, testing::image};
    use crate::transform::steps::testing::{plan, run, source};

    fn after(query: &str) -> Vec<u8> {
        let original = source(ImageFormat::Png, (8, 8), false);
        let frame = image(8, 8, 3, |x, y| {
            if (x + y) % 2 == 0 {
                vec![200, 40, 10]
            } else {
                vec![10, 90, 250]
            }
        });
        let done = run(&[blur, sharpen, filter], &plan(&original, query), &original, frame);
        pixels(&done, &|_| {}).unwrap()
    }

    #[test]
    fn effects_change_only_what_they_are_asked_to() {
        let plain = after("w=8");
        assert_eq!(&plain[..3], &[200, 40, 10], "nothing asked, nothing changed");
        let grey = after("filter=grayscale");
        assert!(
            grey.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]),
            "grey has equal channels"
        );
        let blurred = after("blur=2");
        let spread = |p: &[u8]| p.chunks(3).map(|c| c[0]).max().unwrap() - p.chunks(3).map(|c| c[0]).min().unwrap();
        assert!(
            spread(&blurred) < spread(&plain) / 2,
            "a blur evens the checkerboard out"
        );
    }
}
