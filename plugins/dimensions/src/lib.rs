//! `dimensions`: refuses uploads whose displayed size or aspect ratio
//! (width / height) lies outside the bounds in its config: `min-width`,
//! `max-width`, `min-height`, `max-height`, `min-aspect`, `max-aspect`.

use kiln_sdk::{Description, Error, Image, Settings, UploadInfo, Validator, Verdict};

pub struct Dimensions;

fn check(info: &UploadInfo, config: &Settings) -> Result<Option<String>, String> {
    let (w, h) = (info.width, info.height);
    let aspect = f64::from(w) / f64::from(h.max(1));
    if let Some(min) = config.parse::<u32>("min-width")?
        && w < min
    {
        return Ok(Some(format!(
            "the image is {w} pixels wide; at least {min} are required"
        )));
    }
    if let Some(max) = config.parse::<u32>("max-width")?
        && w > max
    {
        return Ok(Some(format!("the image is {w} pixels wide; at most {max} are allowed")));
    }
    if let Some(min) = config.parse::<u32>("min-height")?
        && h < min
    {
        return Ok(Some(format!(
            "the image is {h} pixels high; at least {min} are required"
        )));
    }
    if let Some(max) = config.parse::<u32>("max-height")?
        && h > max
    {
        return Ok(Some(format!("the image is {h} pixels high; at most {max} are allowed")));
    }
    if let Some(min) = config.parse::<f64>("min-aspect")?
        && aspect < min
    {
        return Ok(Some(format!(
            "the aspect ratio is {aspect:.3}; at least {min} is required"
        )));
    }
    if let Some(max) = config.parse::<f64>("max-aspect")?
        && aspect > max
    {
        return Ok(Some(format!(
            "the aspect ratio is {aspect:.3}; at most {max} is allowed"
        )));
    }
    Ok(None)
}

impl Validator for Dimensions {
    fn new() -> Self {
        Dimensions
    }

    fn describe(&self) -> Description {
        Description::validator(
            "dimensions",
            env!("CARGO_PKG_VERSION"),
            "Refuses uploads whose size or aspect ratio lies outside the configured bounds",
        )
    }

    fn validate(
        &self,
        _upload: &[u8],
        info: &UploadInfo,
        _preview: Image,
        config: &Settings,
    ) -> Result<Verdict, Error> {
        match check(info, config) {
            Ok(None) => Ok(Verdict::Accept),
            Ok(Some(reason)) => Ok(Verdict::Reject(reason)),
            Err(error) => Err(Error::failed(format!("misconfigured: {error}"))),
        }
    }
}

kiln_sdk::export_validator!(Dimensions);

#[cfg(test)]
mod tests {
    use super::*;

    fn info(width: u32, height: u32) -> UploadInfo {
        UploadInfo {
            content_type: "image/png".into(),
            width,
            height,
            frames: 1,
            bytes: 1,
            ..Default::default()
        }
    }

    #[test]
    fn bounds() {
        let config = Settings::from_pairs([
            ("min-width", "100"),
            ("max-height", "1000"),
            ("min-aspect", "1"),
            ("max-aspect", "2"),
        ]);
        let preview = Image::new(1, 1, vec![0; 4]).unwrap();
        let verdict = |w, h| {
            Dimensions::new()
                .validate(&[], &info(w, h), preview.clone(), &config)
                .unwrap()
        };
        assert_eq!(verdict(200, 150), Verdict::Accept);
        assert!(matches!(verdict(50, 40), Verdict::Reject(r) if r.contains("wide")));
        assert!(matches!(verdict(2000, 1500), Verdict::Reject(r) if r.contains("high")));
        assert!(matches!(verdict(100, 200), Verdict::Reject(r) if r.contains("aspect")));
        assert!(matches!(verdict(500, 200), Verdict::Reject(r) if r.contains("aspect")));
        let broken = Settings::from_pairs([("min-width", "wide")]);
        let error = Dimensions::new()
            .validate(&[], &info(1, 1), preview, &broken)
            .unwrap_err();
        assert!(error.to_string().contains("min-width"), "{error}");
    }
}
