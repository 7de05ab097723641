//! `not-blank`: refuses nearly uniform images — a blank page, a black
//! frame, a fully transparent PNG. It measures the standard deviation of the
//! brightness of the host's preview (transparent pixels count as black) and
//! rejects below `min-stddev` (config, 0..255, default 3).

use kiln_sdk::{Description, Error, Image, Settings, UploadInfo, Validator, Verdict};

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

impl Validator for NotBlank {
    fn new() -> Self {
        NotBlank
    }

    fn describe(&self) -> Description {
        Description::validator(
            "not-blank",
            env!("CARGO_PKG_VERSION"),
            "Refuses nearly uniform images: blank pages, black frames, transparent PNGs",
        )
    }

    fn validate(
        &self,
        _upload: &[u8],
        _info: &UploadInfo,
        preview: Image,
        config: &Settings,
    ) -> Result<Verdict, Error> {
        let min = config
            .parse_or("min-stddev", 3.0f64)
            .map_err(|error| Error::failed(format!("misconfigured: {error}")))?;
        let spread = spread(&preview);
        Ok(if spread < min {
            Verdict::Reject(format!(
                "the image is nearly uniform (brightness varies by {spread:.2}, less than {min})"
            ))
        } else {
            Verdict::Accept
        })
    }
}

kiln_sdk::export_validator!(NotBlank);

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
            ..Default::default()
        };
        let plugin = NotBlank::new();
        assert!(matches!(
            plugin.validate(&[], &info, grey, &Settings::default()),
            Ok(Verdict::Reject(_))
        ));
        assert_eq!(
            plugin.validate(&[], &info, varied, &Settings::default()),
            Ok(Verdict::Accept)
        );
    }
}
