//! The SDK's own types: what plugin code works with.

use std::str::FromStr;

/// Decoded 8-bit RGBA pixels: four bytes per pixel, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    /// Exactly `width * height * 4` bytes.
    pub pixels: Vec<u8>,
}

impl Image {
    /// Checks that `pixels` holds exactly `width * height` RGBA pixels.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<Self, String> {
        let expected = u64::from(width) * u64::from(height) * 4;
        if width == 0 || height == 0 || pixels.len() as u64 != expected {
            return Err(format!(
                "an image of {width}x{height} needs {expected} bytes of RGBA, not {}",
                pixels.len()
            ));
        }
        Ok(Self { width, height, pixels })
    }

    /// The pixel at `(x, y)` as `[r, g, b, a]`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y as usize) * (self.width as usize) + x as usize) * 4;
        [
            self.pixels[i],
            self.pixels[i + 1],
            self.pixels[i + 2],
            self.pixels[i + 3],
        ]
    }

    /// Views the pixels as an `image` crate buffer, for its drawing and
    /// filtering functions.
    pub fn into_rgba_image(self) -> image::RgbaImage {
        // The length was checked when the image was made.
        image::RgbaImage::from_raw(self.width, self.height, self.pixels).unwrap_or_else(|| image::RgbaImage::new(1, 1))
    }

    /// Takes pixels back from an `image` crate buffer.
    pub fn from_rgba_image(buffer: image::RgbaImage) -> Self {
        let (width, height) = buffer.dimensions();
        Self {
            width,
            height,
            pixels: buffer.into_raw(),
        }
    }
}

/// Key-value settings: a transform's URL parameters or a plugin's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(Vec<(String, String)>);

impl From<Vec<(String, String)>> for Settings {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }
}

impl Settings {
    /// Settings from text pairs, for tests: `Settings::from_pairs([("text", "©")])`.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key` parsed as `T`; `Ok(None)` if absent, an error
    /// naming the key if it does not parse.
    pub fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, String> {
        self.get(key)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| format!("`{key}` has an invalid value {v:?}"))
            })
            .transpose()
    }

    /// Like [`Settings::parse`], with a default for an absent key.
    pub fn parse_or<T: FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// What the host knows about an upload: read from its bytes (never from
/// client headers), and where and with what metadata it was sent.
/// `Default` is for tests: `UploadInfo { width: 10, ..Default::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadInfo {
    /// The sniffed MIME type, e.g. `image/jpeg`.
    pub content_type: String,
    /// Width as displayed (after EXIF orientation).
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub bytes: u64,
    /// The asset path, with its leading slash (`/users/7/avatar`).
    pub path: String,
    pub alt: Option<String>,
    pub labels: Vec<(String, String)>,
    pub tags: Vec<String>,
}

/// A validator's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Refused; the reason is sent to the client.
    Reject(String),
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A parameter's value cannot be used: Kiln answers `400 invalid_param`
    /// naming `{plugin}.{name}`.
    InvalidParam { name: String, reason: String },
    /// Anything else: Kiln answers `422 plugin_failed` with this text.
    Failed(String),
}

impl Error {
    /// `param`'s value cannot be used, for `reason` ("must be even").
    pub fn invalid_param<T>(param: &crate::Param<T>, reason: impl Into<String>) -> Self {
        Self::InvalidParam {
            name: param.name.to_owned(),
            reason: reason.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }
}

/// `?` on a `Result<_, String>` fails the call with that text.
impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::Failed(message.to_owned())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidParam { name, reason } => write!(f, "`{name}` {reason}"),
            Error::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

/// Parses `RRGGBB` or `RRGGBBAA` (an optional leading `#` is allowed).
pub fn parse_colour(text: &str) -> Result<[u8; 4], String> {
    let hex = text.strip_prefix('#').unwrap_or(text);
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("x"), 16);
    let valid = (hex.len() == 6 || hex.len() == 8) && hex.is_ascii();
    match (valid, byte(0), byte(2), byte(4)) {
        (true, Ok(r), Ok(g), Ok(b)) => {
            let a = if hex.len() == 8 {
                byte(6).map_err(|_| format!("{text:?} is not a colour"))?
            } else {
                255
            };
            Ok([r, g, b, a])
        }
        _ => Err(format!("{text:?} is not a colour; use RRGGBB or RRGGBBAA")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_check_their_length() {
        assert!(Image::new(2, 2, vec![0; 16]).is_ok());
        assert!(Image::new(2, 2, vec![0; 15]).is_err());
        assert!(Image::new(0, 2, vec![]).is_err());
        let image = Image::new(2, 1, vec![1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        assert_eq!(image.pixel(1, 0), [5, 6, 7, 8]);
        let round = Image::from_rgba_image(image.clone().into_rgba_image());
        assert_eq!(round, image);
    }

    #[test]
    fn settings() {
        let s = Settings::from_pairs([("opacity", "0.5"), ("n", "x")]);
        assert_eq!(s.parse::<f32>("opacity").unwrap(), Some(0.5));
        assert_eq!(s.parse::<u32>("missing").unwrap(), None);
        assert!(s.parse::<u32>("n").unwrap_err().contains("`n`"));
        assert_eq!(s.parse_or("missing", 3).unwrap(), 3);
        assert_eq!(parse_colour("#ff8000").unwrap(), [255, 128, 0, 255]);
        assert_eq!(parse_colour("ff800080").unwrap(), [255, 128, 0, 128]);
        assert!(parse_colour("red").is_err());
    }
}
