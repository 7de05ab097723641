//! Inverts the colours of an image; `invert.amount` (0..=1, default 1)
//! blends between the original and the negative.

use kiln_sdk::{Description, Error, Image, Param, Params, Settings, Transform};

const AMOUNT: Param<f64> = Param::float("amount", 0.0, 1.0)
    .default(1.0)
    .doc("How far toward the negative: 0 keeps the image, 1 inverts it");

struct Invert;

impl Transform for Invert {
    fn new() -> Self {
        Invert
    }

    fn describe(&self) -> Description {
        Description::transform("invert", env!("CARGO_PKG_VERSION"), "Inverts colours").param(&AMOUNT)
    }

    fn transform(&self, mut image: Image, params: &Params, _config: &Settings) -> Result<Image, Error> {
        let amount = params.get(&AMOUNT)? as f32;
        for pixel in image.pixels.chunks_exact_mut(4) {
            for channel in &mut pixel[..3] {
                let value = f32::from(*channel);
                *channel = (value + (255.0 - 2.0 * value) * amount).round() as u8;
            }
        }
        Ok(image)
    }
}

kiln_sdk::export_transform!(Invert);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_way_is_grey_and_out_of_range_names_the_parameter() {
        let image = Image::new(1, 1, vec![0, 100, 255, 200]).unwrap();
        let half = Params::from_pairs([("amount", "0.5")]);
        let out = Invert::new()
            .transform(image.clone(), &half, &Settings::default())
            .unwrap();
        assert_eq!(out.pixel(0, 0), [128, 128, 128, 200]);
        let full = Invert::new().transform(image.clone(), &Params::default(), &Settings::default());
        assert_eq!(full.unwrap().pixel(0, 0), [255, 155, 0, 200]);
        let error = Invert::new()
            .transform(image, &Params::from_pairs([("amount", "7")]), &Settings::default())
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidParam { ref name, .. } if name == "amount"),
            "{error}"
        );
    }
}
