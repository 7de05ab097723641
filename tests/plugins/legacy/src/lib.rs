//! A transform built against the frozen `kiln:plugin@0.1.0` WIT, straight
//! from its bindings (the SDK now builds 0.2.0): it inverts colours, blended
//! by `legacy.amount` in 0..=1, and fails with a bare string otherwise.
//! Hosts must keep loading and running such components.

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "transform" });

use exports::kiln::plugin::transformer::Guest;
use kiln::plugin::types::Image;

struct Legacy;

impl Guest for Legacy {
    fn transform(
        mut input: Image,
        params: Vec<(String, String)>,
        _config: Vec<(String, String)>,
    ) -> Result<Image, String> {
        let amount = match params.iter().find(|(key, _)| key == "amount") {
            None => 1.0,
            Some((_, value)) => match value.parse::<f32>() {
                Ok(amount) if (0.0..=1.0).contains(&amount) => amount,
                _ => return Err(format!("amount must lie in 0..=1, not {value:?}")),
            },
        };
        for pixel in input.pixels.chunks_exact_mut(4) {
            for channel in &mut pixel[..3] {
                let value = f32::from(*channel);
                *channel = (value + (255.0 - 2.0 * value) * amount).round() as u8;
            }
        }
        Ok(input)
    }
}

export!(Legacy);
