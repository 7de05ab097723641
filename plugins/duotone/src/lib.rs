//! `duotone`: maps each pixel's brightness onto a gradient from `dark` to
//! `light` (hex colours; URL parameters override the config). Alpha is kept.

use kiln_sdk::{Image, Plugin, Settings, parse_colour};

pub struct Duotone;

fn setting<'a>(params: &'a Settings, config: &'a Settings, key: &str, default: &'a str) -> &'a str {
    params.get(key).or_else(|| config.get(key)).unwrap_or(default)
}

impl Plugin for Duotone {
    fn transform(mut image: Image, params: &Settings, config: &Settings) -> Result<Image, String> {
        let dark = parse_colour(setting(params, config, "dark", "1a2a6c"))?;
        let light = parse_colour(setting(params, config, "light", "fdbb2d"))?;
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

kiln_sdk::export!(Duotone);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_and_white_map_to_the_ends() {
        let image = Image::new(2, 1, vec![0, 0, 0, 255, 255, 255, 255, 128]).unwrap();
        let params = Settings::from(vec![
            ("dark".into(), "102030".into()),
            ("light".into(), "f0e0d0".into()),
        ]);
        let out = Duotone::transform(image, &params, &Settings::default()).unwrap();
        assert_eq!(out.pixel(0, 0), [0x10, 0x20, 0x30, 255]);
        assert_eq!(out.pixel(1, 0), [0xf0, 0xe0, 0xd0, 128]);
        assert!(
            Duotone::transform(
                out,
                &Settings::from(vec![("dark".into(), "nope".into())]),
                &Settings::default()
            )
            .is_err()
        );
    }
}
