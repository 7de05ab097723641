//! `dimensions`: refuses uploads whose displayed size or aspect ratio
//! (width / height) lies outside the bounds in its config: `min-width`,
//! `max-width`, `min-height`, `max-height`, `min-aspect`, `max-aspect`.

use kiln_sdk::{Image, Plugin, Settings, UploadInfo, Verdict};

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

impl Plugin for Dimensions {
    fn validate(_upload: &[u8], info: &UploadInfo, _preview: Image, config: &Settings) -> Verdict {
        match check(info, config) {
            Ok(None) => Verdict::Accept,
            Ok(Some(reason)) => Verdict::Reject(reason),
            Err(error) => Verdict::Reject(format!("the dimensions plugin is misconfigured: {error}")),
        }
    }
}

kiln_sdk::export!(Dimensions);

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
        }
    }

    #[test]
    fn bounds() {
        let config = Settings::from(vec![
            ("min-width".into(), "100".into()),
            ("max-height".into(), "1000".into()),
            ("min-aspect".into(), "1".into()),
            ("max-aspect".into(), "2".into()),
        ]);
        let preview = Image::new(1, 1, vec![0; 4]).unwrap();
        let verdict = |w, h| Dimensions::validate(&[], &info(w, h), preview.clone(), &config);
        assert_eq!(verdict(200, 150), Verdict::Accept);
        assert!(matches!(verdict(50, 40), Verdict::Reject(r) if r.contains("wide")));
        assert!(matches!(verdict(2000, 1500), Verdict::Reject(r) if r.contains("high")));
        assert!(matches!(verdict(100, 200), Verdict::Reject(r) if r.contains("aspect")));
        assert!(matches!(verdict(500, 200), Verdict::Reject(r) if r.contains("aspect")));
    }
}
