//! `duotone`: maps each pixel's brightness onto a gradient from `dark` to
//! `light` (hex colours; URL parameters override the config). Alpha is kept.

use kiln_sdk::{Description, Error, Image, Param, Params, Settings, Transform};

pub struct Duotone;

const DARK: Param<[u8; 4]> = Param::colour("dark").doc("The colour of black (default 1a2a6c)");
const LIGHT: Param<[u8; 4]> = Param::colour("light").doc("The colour of white (default fdbb2d)");

impl Transform for Duotone {
    fn new() -> Self {
        Duotone
    }

    fn describe(&self) -> Description {
        Description::transform(
            "duotone",
            env!("CARGO_PKG_VERSION"),
            "Maps brightness onto a gradient between two colours",
        )
        .param(&DARK)
        .param(&LIGHT)
    }

    fn transform(&self, mut image: Image, params: &Params, config: &Settings) -> Result<Image, Error> {
        let dark = params.or_config(&DARK, config)?.unwrap_or([0x1a, 0x2a, 0x6c, 255]);
        let light = params.or_config(&LIGHT, config)?.unwrap_or([0xfd, 0xbb, 0x2d, 255]);
        for pixel in image.pixels.chunks_exact_mut(4) {
            let [r, g, b, _] = [pixel[0], pixel[1], pixel[2], pixel[3]].map(f32::from);
            let t = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255.0;
            for c in 0..3 {
                pixel[c] = (f32::from(dark[c]) * (1.0 - t) + f32::from(light[c]) * t).round() as u8;
            }
        }
        Ok(image)
    }
}

kiln_sdk::export_transform!(Duotone);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_and_white_map_to_the_ends() {
        let image = Image::new(2, 1, vec![0, 0, 0, 255, 255, 255, 255, 128]).unwrap();
        let params = Params::from_pairs([("dark", "102030"), ("light", "f0e0d0")]);
        let out = Duotone::new().transform(image, &params, &Settings::default()).unwrap();
        assert_eq!(out.pixel(0, 0), [0x10, 0x20, 0x30, 255]);
        assert_eq!(out.pixel(1, 0), [0xf0, 0xe0, 0xd0, 128]);
        let bad = Params::from_pairs([("dark", "nope")]);
        let error = Duotone::new().transform(out, &bad, &Settings::default()).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidParam { name, .. } if name == "dark"),
            "{error}"
        );
    }
}
