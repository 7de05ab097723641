//! Transformation parameters as they arrive in a query string or a profile:
//! parsed, range-checked and typed, but not yet related to any image. Every
//! refusal names the parameter (SPEC §3).

use std::collections::BTreeMap;

use crate::plugin::is_plugin_name;

/// How a resize fits the `w`×`h` box (CSS `object-fit` meanings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Scale to fit inside the box, keeping the aspect ratio.
    Inside,
    /// Scale to cover the box and crop what overflows.
    Cover,
    /// Scale to fit inside and pad to the box with `bg`.
    Contain,
    /// Stretch to the box.
    Fill,
    /// Scale to cover the box without cropping.
    Outside,
}

/// Where `cover` crops and `contain` places the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gravity {
    /// A point in 0..=1 on each axis that the crop is centred on as far as
    /// the image allows; the compass gravities are the edge and corner points.
    Point(f64, f64),
    /// libvips' smart crop: the region with the most entropy.
    Entropy,
    /// libvips' smart crop: the region most likely to draw attention.
    Attention,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Grayscale,
    Sepia,
    /// Black and white: grayscale thresholded at the midpoint.
    Bw,
}

/// What the client asked the output format to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatRequest {
    Fixed(OutputFormat),
    /// The best the `Accept` header allows.
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    Jpeg,
    Png,
    Webp,
    Avif,
    Jxl,
    Heic,
    Gif,
}

impl OutputFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Avif => "avif",
            Self::Jxl => "jxl",
            Self::Heic => "heic",
            Self::Gif => "gif",
        }
    }

    pub fn mime(self) -> &'static str {
        self.image_format().mime()
    }

    pub fn image_format(self) -> crate::probe::ImageFormat {
        use crate::probe::ImageFormat as F;
        match self {
            Self::Jpeg => F::Jpeg,
            Self::Png => F::Png,
            Self::Webp => F::Webp,
            Self::Avif => F::Avif,
            Self::Jxl => F::Jxl,
            Self::Heic => F::Heic,
            Self::Gif => F::Gif,
        }
    }

    /// The output format an original of `format` is re-encoded to by default.
    pub fn from_source(format: crate::probe::ImageFormat, has_alpha: bool) -> Self {
        use crate::probe::ImageFormat as F;
        match format {
            F::Jpeg => Self::Jpeg,
            F::Png => Self::Png,
            F::Webp => Self::Webp,
            F::Avif => Self::Avif,
            F::Jxl => Self::Jxl,
            F::Heic => Self::Heic,
            F::Gif => Self::Gif,
            // TIFF and SVG are accepted as originals but not produced.
            F::Tiff if has_alpha => Self::Png,
            F::Tiff => Self::Jpeg,
            F::Svg => Self::Png,
        }
    }

    pub fn has_alpha(self) -> bool {
        !matches!(self, Self::Jpeg)
    }

    pub fn can_animate(self) -> bool {
        matches!(self, Self::Gif | Self::Webp)
    }

    /// Whether `q` means anything for this format (given `lossless`).
    pub fn is_lossy(self, lossless: bool) -> bool {
        match self {
            Self::Jpeg => true,
            Self::Png | Self::Gif => false,
            Self::Webp | Self::Avif | Self::Jxl | Self::Heic => !lossless,
        }
    }

    pub fn supports_lossless(self) -> bool {
        matches!(self, Self::Webp | Self::Avif | Self::Jxl | Self::Heic)
    }

    pub fn supports_progressive(self) -> bool {
        matches!(self, Self::Jpeg | Self::Png | Self::Gif)
    }

    /// SPEC §3 defaults: JPEG 80, WebP 80, AVIF 50, JXL 75, HEIC 50.
    pub fn default_quality(self) -> u8 {
        match self {
            Self::Jpeg | Self::Webp => 80,
            Self::Avif | Self::Heic => 50,
            Self::Jxl => 75,
            Self::Png | Self::Gif => 100,
        }
    }
}

/// Which metadata a variant drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Strip {
    pub exif: bool,
    pub xmp: bool,
    pub iptc: bool,
    /// GPS tags only (inside EXIF).
    pub gps: bool,
}

impl Strip {
    pub const ALL: Strip = Strip {
        exif: true,
        xmp: true,
        iptc: true,
        gps: true,
    };
    pub const NONE: Strip = Strip {
        exif: false,
        xmp: false,
        iptc: false,
        gps: false,
    };

    pub fn key(self) -> String {
        if self == Self::ALL {
            return "all".into();
        }
        let parts: Vec<&str> = [
            (self.exif, "exif"),
            (self.xmp, "xmp"),
            (self.iptc, "iptc"),
            (self.gps && !self.exif, "gps"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("+")
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourSpace {
    Srgb,
    P3,
    Gray,
    /// Keep the original's colour space where the output format can hold it.
    Origin,
}

/// Every transformation parameter of SPEC §3; `None` means not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Option<Fit>,
    pub gravity: Option<Gravity>,
    pub focal: Option<(f64, f64)>,
    pub crop: Option<Rect>,
    /// Quarter turns clockwise, 0..=3.
    pub rotate: Option<u8>,
    /// (horizontal, vertical)
    pub flip: Option<(bool, bool)>,
    pub blur: Option<f64>,
    pub sharpen: Option<f64>,
    /// top, right, bottom, left
    pub pad: Option<[u32; 4]>,
    pub background: Option<[u8; 4]>,
    pub filter: Option<Filter>,
    pub quality: Option<u8>,
    pub format: Option<FormatRequest>,
    pub lossless: Option<bool>,
    pub progressive: Option<bool>,
    pub strip: Option<Strip>,
    pub colour_space: Option<ColourSpace>,
    pub dpr: Option<f64>,
    pub anim: Option<bool>,
    pub profile: Option<String>,
    /// Plugin transforms named in `fx`, in order.
    pub fx: Option<Vec<String>>,
    /// `{plugin}.{key}` parameters, by plugin.
    pub plugin_params: BTreeMap<String, BTreeMap<String, String>>,
}

/// At most this many plugins in one `fx`.
pub const MAX_FX: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{param}`: {message}")]
pub struct ParamError {
    pub param: String,
    pub message: String,
}

fn error(param: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        param: crate::address::truncate(param, 64),
        message: message.into(),
    }
}

/// The largest `w`, `h` and output side accepted.
#[derive(Debug, Clone, Copy)]
pub struct ParamLimits {
    pub max_dimension: u32,
}

impl Params {
    /// Parses transformation parameters; `pairs` must hold nothing else.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        limits: ParamLimits,
    ) -> Result<Self, ParamError> {
        let mut params = Params::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            if seen.contains(&key) {
                return Err(error(key, "is given more than once"));
            }
            seen.push(key);
            params.set(key, value, limits)?;
        }
        Ok(params)
    }

    /// Parses one profile from config, whose values may be TOML numbers,
    /// strings or booleans.
    pub fn from_profile(table: &BTreeMap<String, toml::Value>, limits: ParamLimits) -> Result<Self, ParamError> {
        let mut params = Params::default();
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => return Err(error(key, format!("{other} is not a number, string or boolean"))),
            };
            if key == "profile" {
                return Err(error(key, "a profile cannot name another profile"));
            }
            params.set(key, &text, limits)?;
        }
        Ok(params)
    }

    fn set(&mut self, key: &str, value: &str, limits: ParamLimits) -> Result<(), ParamError> {
        if value.is_empty() {
            return Err(error(key, "has no value"));
        }
        let max = limits.max_dimension;
        match key {
            "w" => self.width = Some(int_in(key, value, 1, max)?),
            "h" => self.height = Some(int_in(key, value, 1, max)?),
            "fit" => {
                self.fit = Some(match value {
                    "inside" | "fit" => Fit::Inside,
                    "cover" | "crop" => Fit::Cover,
                    "contain" => Fit::Contain,
                    "fill" | "stretch" => Fit::Fill,
                    "outside" => Fit::Outside,
                    _ => {
                        let choices = "must be inside, cover, contain, fill or outside (aliases fit, crop, stretch)";
                        return Err(error(key, choices));
                    }
                })
            }
            "g" => {
                self.gravity = Some(parse_gravity(value).ok_or_else(|| {
                    error(
                        key,
                        "must be center, north, south, east, west, northeast, northwest, southeast, southwest \
                     (or c n s e w ne nw se sw), entropy or attention",
                    )
                })?)
            }
            "fp" => {
                let [x, y] = floats::<2>(key, value)?;
                for v in [x, y] {
                    if !(0.0..=1.0).contains(&v) {
                        return Err(error(key, "both coordinates must lie in 0..1"));
                    }
                }
                self.focal = Some((x, y));
            }
            "crop" => {
                let [x, y, width, height] = ints::<4>(key, value)?;
                if width == 0 || height == 0 {
                    return Err(error(key, "the crop width and height must be at least 1"));
                }
                self.crop = Some(Rect { x, y, width, height });
            }
            "r" => {
                let degrees: i64 = value.parse().map_err(|_| error(key, "must be 0, 90, 180 or 270"))?;
                if degrees % 90 != 0 || degrees.abs() > 360 {
                    return Err(error(key, "must be 0, 90, 180 or 270"));
                }
                self.rotate = Some((degrees.rem_euclid(360) / 90) as u8);
            }
            "f" => {
                self.flip = Some(match value {
                    "h" => (true, false),
                    "v" => (false, true),
                    "hv" | "vh" => (true, true),
                    _ => return Err(error(key, "must be h, v or hv")),
                })
            }
            "blur" => self.blur = Some(float_in(key, value, 0.3, 150.0)?),
            "sharpen" => self.sharpen = Some(float_in(key, value, 0.5, 10.0)?),
            "pad" => {
                let sides = match value.split(',').count() {
                    1 => {
                        let n = int_in(key, value, 0, max)?;
                        [n; 4]
                    }
                    4 => ints::<4>(key, value)?,
                    _ => return Err(error(key, "must be one number or four (top,right,bottom,left)")),
                };
                if sides.iter().any(|s| *s > max) {
                    return Err(error(key, format!("each side must be at most {max}")));
                }
                self.pad = Some(sides);
            }
            "bg" => {
                let colour = parse_colour(value).ok_or_else(|| error(key, "must be RRGGBB or RRGGBBAA in hex"))?;
                self.background = Some(colour);
            }
            "filter" => {
                self.filter = Some(match value {
                    "grayscale" | "greyscale" => Filter::Grayscale,
                    "sepia" => Filter::Sepia,
                    "bw" => Filter::Bw,
                    _ => return Err(error(key, "must be grayscale, sepia or bw")),
                })
            }
            "q" => self.quality = Some(int_in(key, value, 1, 100)? as u8),
            "format" => {
                self.format = Some(match value {
                    "jpeg" | "jpg" => FormatRequest::Fixed(OutputFormat::Jpeg),
                    "png" => FormatRequest::Fixed(OutputFormat::Png),
                    "webp" => FormatRequest::Fixed(OutputFormat::Webp),
                    "avif" => FormatRequest::Fixed(OutputFormat::Avif),
                    "jxl" => FormatRequest::Fixed(OutputFormat::Jxl),
                    "heic" => FormatRequest::Fixed(OutputFormat::Heic),
                    "gif" => FormatRequest::Fixed(OutputFormat::Gif),
                    "auto" => FormatRequest::Auto,
                    _ => return Err(error(key, "must be jpeg, jpg, png, webp, avif, jxl, heic, gif or auto")),
                })
            }
            "lossless" => self.lossless = Some(boolean(key, value)?),
            "progressive" => self.progressive = Some(boolean(key, value)?),
            "anim" => self.anim = Some(boolean(key, value)?),
            "strip" => self.strip = Some(parse_strip(key, value)?),
            "cs" => {
                self.colour_space = Some(match value {
                    "srgb" => ColourSpace::Srgb,
                    "p3" => ColourSpace::P3,
                    "gray" | "grey" => ColourSpace::Gray,
                    "origin" => ColourSpace::Origin,
                    _ => return Err(error(key, "must be srgb, p3, gray or origin")),
                })
            }
            "dpr" => self.dpr = Some(float_in(key, value, 1.0, 4.0)?),
            "profile" => {
                if !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                {
                    return Err(error(key, "is not a profile name"));
                }
                self.profile = Some(value.to_owned());
            }
            "fx" => {
                let names: Vec<String> = value.split(',').map(str::to_owned).collect();
                if let Some(bad) = names.iter().find(|n| !is_plugin_name(n)) {
                    return Err(error(
                        key,
                        format!("{:?} is not a plugin name", crate::address::truncate(bad, 64)),
                    ));
                }
                if names.len() > MAX_FX {
                    return Err(error(key, format!("at most {MAX_FX} plugins may be chained")));
                }
                self.fx = Some(names);
            }
            _ => match key.split_once('.') {
                Some((plugin, setting)) if is_plugin_name(plugin) && !setting.is_empty() && setting.len() <= 64 => {
                    if value.len() > 2048 {
                        return Err(error(key, "is longer than 2048 characters"));
                    }
                    let settings = self.plugin_params.entry(plugin.to_owned()).or_default();
                    settings.insert(setting.to_owned(), value.to_owned());
                }
                _ => return Err(error(key, "unknown parameter")),
            },
        }
        Ok(())
    }

    /// `self` with every parameter `over` gives replacing this one's.
    pub fn overlaid_with(&self, over: &Params) -> Params {
        let mut plugin_params = self.plugin_params.clone();
        for (plugin, settings) in &over.plugin_params {
            plugin_params
                .entry(plugin.clone())
                .or_default()
                .extend(settings.clone());
        }
        macro_rules! pick {
            ($($field:ident),*) => {
                Params { $($field: over.$field.clone().or_else(|| self.$field.clone()),)* plugin_params }
            };
        }
        pick!(
            width,
            height,
            fit,
            gravity,
            focal,
            crop,
            rotate,
            flip,
            blur,
            sharpen,
            pad,
            background,
            filter,
            quality,
            format,
            lossless,
            progressive,
            strip,
            colour_space,
            dpr,
            anim,
            profile,
            fx
        )
    }

    pub fn is_empty(&self) -> bool {
        *self == Params::default()
    }
}

fn parse_gravity(value: &str) -> Option<Gravity> {
    let point = |x, y| Some(Gravity::Point(x, y));
    match value {
        "center" | "centre" | "c" => point(0.5, 0.5),
        "north" | "n" => point(0.5, 0.0),
        "south" | "s" => point(0.5, 1.0),
        "east" | "e" => point(1.0, 0.5),
        "west" | "w" => point(0.0, 0.5),
        "northeast" | "ne" => point(1.0, 0.0),
        "northwest" | "nw" => point(0.0, 0.0),
        "southeast" | "se" => point(1.0, 1.0),
        "southwest" | "sw" => point(0.0, 1.0),
        "entropy" => Some(Gravity::Entropy),
        "attention" => Some(Gravity::Attention),
        _ => None,
    }
}

fn parse_colour(value: &str) -> Option<[u8; 4]> {
    let hex = value.strip_prefix('#').unwrap_or(value);
    if !(hex.len() == 6 || hex.len() == 8) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([
        byte(0)?,
        byte(2)?,
        byte(4)?,
        if hex.len() == 8 { byte(6)? } else { 255 },
    ])
}

fn parse_strip(key: &str, value: &str) -> Result<Strip, ParamError> {
    let mut strip = Strip::NONE;
    for part in value.split(',') {
        match part {
            "all" => strip = Strip::ALL,
            "none" => {}
            "exif" => strip.exif = true,
            "xmp" => strip.xmp = true,
            "iptc" => strip.iptc = true,
            "gps" => strip.gps = true,
            _ => {
                return Err(error(
                    key,
                    "must be all, none, exif, xmp, iptc or gps (or a comma-separated list)",
                ));
            }
        }
    }
    if strip.exif {
        strip.gps = true; // GPS tags live inside EXIF
    }
    Ok(strip)
}

fn boolean(key: &str, value: &str) -> Result<bool, ParamError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(error(key, "must be true or false")),
    }
}

fn int_in(key: &str, value: &str, min: u32, max: u32) -> Result<u32, ParamError> {
    let parsed = if value.bytes().all(|b| b.is_ascii_digit()) && value.len() <= 10 {
        value.parse::<u64>().ok()
    } else {
        None
    };
    match parsed {
        Some(n) if (u64::from(min)..=u64::from(max)).contains(&n) => Ok(n as u32),
        _ => Err(error(key, format!("must be a whole number from {min} to {max}"))),
    }
}

/// Parses a float, rounded to three decimals so that equal values print equally.
fn float_in(key: &str, value: &str, min: f64, max: f64) -> Result<f64, ParamError> {
    let parsed = parse_float(value).filter(|v| (min..=max).contains(v));
    parsed.ok_or_else(|| error(key, format!("must be a number from {min} to {max}")))
}

fn parse_float(value: &str) -> Option<f64> {
    if value.len() > 16 || !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = value.parse().ok()?;
    v.is_finite().then(|| (v * 1000.0).round() / 1000.0)
}

fn floats<const N: usize>(key: &str, value: &str) -> Result<[f64; N], ParamError> {
    let parts: Vec<Option<f64>> = value.split(',').map(parse_float).collect();
    let values: Option<Vec<f64>> = parts.into_iter().collect();
    values
        .and_then(|v| <[f64; N]>::try_from(v).ok())
        .ok_or_else(|| error(key, format!("must be {N} comma-separated numbers")))
}

fn ints<const N: usize>(key: &str, value: &str) -> Result<[u32; N], ParamError> {
    let parts: Result<Vec<u32>, ParamError> = value.split(',').map(|p| int_in(key, p, 0, u32::MAX)).collect();
    parts
        .ok()
        .and_then(|v| <[u32; N]>::try_from(v).ok())
        .ok_or_else(|| error(key, format!("must be {N} comma-separated whole numbers")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParamLimits = ParamLimits { max_dimension: 8192 };

    fn parse(query: &str) -> Result<Params, ParamError> {
        let pairs: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        Params::parse(pairs, LIMITS)
    }

    #[test]
    fn aliases_mean_the_same() {
        for (a, b) in [
            ("fit=fit", "fit=inside"),
            ("fit=crop", "fit=cover"),
            ("fit=stretch", "fit=fill"),
            ("g=ne", "g=northeast"),
            ("g=c", "g=center"),
            ("format=jpg", "format=jpeg"),
            ("f=vh", "f=hv"),
            ("r=360", "r=0"),
            ("r=-90", "r=270"),
            ("bg=ff0000", "bg=FF0000ff"),
            ("bg=%23ff0000", "bg=ff0000"),
            ("blur=2", "blur=2.0"),
            ("lossless=1", "lossless=true"),
            ("strip=exif", "strip=exif,gps"),
        ] {
            let decode = |q: &str| q.replace("%23", "#");
            assert_eq!(parse(&decode(a)).unwrap(), parse(&decode(b)).unwrap(), "{a} vs {b}");
        }
    }

    #[test]
    fn out_of_range_and_malformed_values_name_the_parameter() {
        for (query, param) in [
            ("w=0", "w"),
            ("w=8193", "w"),
            ("w=-1", "w"),
            ("w=1.5", "w"),
            ("w=", "w"),
            ("w=99999999999999999999", "w"),
            ("h=abc", "h"),
            ("fit=squash", "fit"),
            ("g=up", "g"),
            ("fp=1.5,0", "fp"),
            ("fp=0.5", "fp"),
            ("fp=a,b", "fp"),
            ("crop=1,2,3", "crop"),
            ("crop=0,0,0,10", "crop"),
            ("r=45", "r"),
            ("r=450", "r"),
            ("f=x", "f"),
            ("blur=0.1", "blur"),
            ("blur=151", "blur"),
            ("blur=NaN", "blur"),
            ("blur=inf", "blur"),
            ("blur=1e3", "blur"),
            ("sharpen=11", "sharpen"),
            ("pad=1,2", "pad"),
            ("pad=9000", "pad"),
            ("bg=red", "bg"),
            ("bg=fffff", "bg"),
            ("filter=vintage", "filter"),
            ("q=0", "q"),
            ("q=101", "q"),
            ("format=bmp", "format"),
            ("lossless=yes", "lossless"),
            ("strip=everything", "strip"),
            ("cs=cmyk", "cs"),
            ("dpr=0.5", "dpr"),
            ("dpr=5", "dpr"),
            ("anim=maybe", "anim"),
            ("profile=../x", "profile"),
            ("zoom=2", "zoom"),
            ("w=1&w=2", "w"),
        ] {
            let error = parse(query).expect_err(query);
            assert_eq!(error.param, param, "{query}: {error}");
        }
    }

    #[test]
    fn profile_tables() {
        let table: BTreeMap<String, toml::Value> =
            toml::from_str("w = 300\nh = 200\nfit = \"cover\"\nformat = \"webp\"\nlossless = true\ndpr = 2.0").unwrap();
        let params = Params::from_profile(&table, LIMITS).unwrap();
        assert_eq!(params.width, Some(300));
        assert_eq!(params.fit, Some(Fit::Cover));
        assert_eq!(params.lossless, Some(true));
        assert_eq!(params.dpr, Some(2.0));
        let bad: BTreeMap<String, toml::Value> = toml::from_str("w = [1]").unwrap();
        assert_eq!(Params::from_profile(&bad, LIMITS).unwrap_err().param, "w");
    }

    #[test]
    fn explicit_params_override_a_profile() {
        let profile = parse("w=300&h=300&fit=cover&format=webp").unwrap();
        let explicit = parse("w=100&q=50").unwrap();
        let merged = profile.overlaid_with(&explicit);
        assert_eq!(merged.width, Some(100));
        assert_eq!(merged.height, Some(300));
        assert_eq!(merged.quality, Some(50));
        assert_eq!(merged.format, Some(FormatRequest::Fixed(OutputFormat::Webp)));
    }
}
