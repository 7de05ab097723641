//! `not-blank`: refuses nearly uniform images — a blank page, a black
//! frame, a fully transparent PNG. It measures the standard deviation of the
//! brightness of the host's preview (transparent pixels count as black) and
//! rejects below `min-stddev` (config, 0..255, default 3).

use kiln_sdk::{Image, Plugin, Settings, UploadInfo, Verdict};

pub struct NotBlank;

/// Standard deviation of brightness, on the 0..255 scale.
pub fn spread(image: &Image) -> f64 {
    let n = f64::from(image.width) * f64::from(image.height);
    let (mut sum, mut squares) = (0.0f64, 0.0f64);
    for p in image.pixels.chunks_exact(4) {
        let alpha = f64::from(p[3]) / 255.0;
        let y = (0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2])) * alpha;
        sum += y;
        squares += y * y;
    }
    let mean = sum / n;
    (squares / n - mean * mean).max(0.0).sqrt()
}

impl Plugin for NotBlank {
    fn validate(_upload: &[u8], _info: &UploadInfo, preview: Image, config: &Settings) -> Verdict {
        let min = match config.parse_or("min-stddev", 3.0f64) {
            Ok(min) => min,
            Err(error) => return Verdict::Reject(format!("the not-blank plugin is misconfigured: {error}")),
        };
        let spread = spread(&preview);
        if spread < min {
            Verdict::Reject(format!(
                "the image is nearly uniform (brightness varies by {spread:.2}, less than {min})"
            ))
        } else {
            Verdict::Accept
        }
    }
}

kiln_sdk::export!(NotBlank);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_and_varied() {
        let grey = Image::new(4, 4, [128, 128, 128, 255].repeat(16)).unwrap();
        assert!(spread(&grey) < 0.001);
        let checks: Vec<u8> = (0..16)
            .flat_map(|i| {
                if i % 2 == 0 {
                    [0, 0, 0, 255]
                } else {
                    [255, 255, 255, 255]
                }
            })
            .collect();
        let varied = Image::new(4, 4, checks).unwrap();
        assert!(spread(&varied) > 100.0);
        let info = UploadInfo {
            content_type: "image/png".into(),
            width: 4,
            height: 4,
            frames: 1,
            bytes: 1,
        };
        assert!(matches!(
            NotBlank::validate(&[], &info, grey, &Settings::default()),
            Verdict::Reject(_)
        ));
        assert_eq!(
            NotBlank::validate(&[], &info, varied, &Settings::default()),
            Verdict::Accept
        );
    }
}
