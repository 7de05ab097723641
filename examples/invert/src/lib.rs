//! Inverts the colours of an image; `invert.amount` (0..=1, default 1)
//! blends between the original and the negative.

use kiln_sdk::{Image, Plugin, Settings};

struct Invert;

impl Plugin for Invert {
    fn transform(mut image: Image, params: &Settings, _config: &Settings) -> Result<Image, String> {
        let amount: f32 = params.parse_or("amount", 1.0)?;
        if !(0.0..=1.0).contains(&amount) {
            return Err("`amount` must lie in 0..=1".into());
        }
        for pixel in image.pixels.chunks_exact_mut(4) {
            for channel in &mut pixel[..3] {
                let value = f32::from(*channel);
                *channel = (value + (255.0 - 2.0 * value) * amount).round() as u8;
            }
        }
        Ok(image)
    }
}

kiln_sdk::export!(Invert);
