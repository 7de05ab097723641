//! The canonical transformation: parameters resolved against one original
//! into concrete pixel operations, with defaults filled in and no-ops dropped.
//!
//! Two requests whose plans are equal produce the same bytes, so a plan's
//! [`Plan::key`] names the cached variant. Sizes are resolved to exact pixel
//! numbers here, so that e.g. `g=north` and `g=center` are one variant when
//! the crop leaves no vertical slack, and `w` equal to the original's width
//! is no resize at all. A plan that changes nothing is the identity, and the
//! original bytes are served.

use super::params::{ColourSpace, Filter, Fit, FormatRequest, Gravity, OutputFormat, ParamError, Params, Rect, Strip};
use crate::probe::{ImageFormat, SourceColour};
use std::fmt::Write as _;

/// What planning needs to know about the original; recorded at upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub format: ImageFormat,
    /// As displayed, after EXIF orientation.
    pub width: u32,
    pub height: u32,
    pub has_alpha: bool,
    pub pages: u32,
    pub colour: SourceColour,
}

/// One of the eight orientations: an optional horizontal mirror, then a
/// number of quarter turns clockwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Orientation {
    pub mirror: bool,
    pub quarter_turns: u8,
}

impl Orientation {
    fn rotated(self, quarters: u8) -> Self {
        Self {
            mirror: self.mirror,
            quarter_turns: (self.quarter_turns + quarters) % 4,
        }
    }

    /// Mirroring after `R^k M^m` gives `R^-k M^(m+1)`, since `H R = R^-1 H`.
    fn flipped_horizontally(self) -> Self {
        Self {
            mirror: !self.mirror,
            quarter_turns: (4 - self.quarter_turns) % 4,
        }
    }

    /// A vertical flip is a horizontal one followed by a half turn.
    fn flipped_vertically(self) -> Self {
        self.flipped_horizontally().rotated(2)
    }

    pub fn is_identity(self) -> bool {
        self == Self::default()
    }

    pub fn swaps_axes(self) -> bool {
        self.quarter_turns % 2 == 1
    }
}

/// How `cover` cuts the resized image down to the box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extract {
    Area(Rect),
    Smart { width: u32, height: u32, attention: bool },
}

/// One plugin transform in a plan: which plugin, which build, with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxStep {
    pub name: String,
    /// Hash of the plugin's `.wasm`: a new build is a new variant.
    pub hash: String,
    pub params: Vec<(String, String)>,
}

/// A canvas the image is placed on (`contain` and `pad`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Embed {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Output {
    pub format: OutputFormat,
    /// Present only where the format is lossy.
    pub quality: Option<u8>,
    pub lossless: bool,
    pub progressive: bool,
    pub strip: Strip,
    pub colour: ColourSpace,
    /// Keep every frame of an animated original.
    pub animated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Source pixels kept before resizing, in the EXIF-oriented original.
    pub crop: Option<Rect>,
    /// Size after resizing, in the output's orientation.
    pub resize: Option<(u32, u32)>,
    /// Applied after resizing (cheaper on fewer pixels).
    pub orientation: Orientation,
    pub extract: Option<Extract>,
    pub blur: Option<f64>,
    pub sharpen: Option<f64>,
    pub filter: Option<Filter>,
    pub embed: Option<Embed>,
    /// Plugin transforms, after the native steps that shrink the image.
    pub fx: Vec<FxStep>,
    /// RGBA for `embed` and for flattening alpha.
    pub background: [u8; 4],
    pub output: Output,
    /// The output format came from the `Accept` header.
    pub negotiated: bool,
    pub width: u32,
    pub height: u32,
    pub identity: bool,
}

/// The white-but-transparent default: padding stays transparent where the
/// format has alpha, and alpha is flattened onto white where it has not.
const DEFAULT_BACKGROUND: [u8; 4] = [255, 255, 255, 0];

fn invalid(param: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        param: param.into(),
        message: message.into(),
    }
}

/// Picks the output of `format=auto`: AVIF, then WebP, when the `Accept`
/// header names them; else JPEG, or PNG when there is alpha (GIF or WebP
/// for animations, as AVIF animation cannot be written here).
fn negotiate(accept: Option<&str>, has_alpha: bool, animated: bool) -> OutputFormat {
    let accepts = |mime: &str| {
        accept.is_some_and(|header| {
            header.split(',').any(|item| {
                let mut parts = item.split(';');
                let named = parts.next().is_some_and(|m| m.trim().eq_ignore_ascii_case(mime));
                let refused =
                    parts.any(|p| p.trim().replace(' ', "").starts_with("q=0") && !p.trim().starts_with("q=0."));
                named && !refused
            })
        })
    };
    if animated {
        return if accepts("image/webp") {
            OutputFormat::Webp
        } else {
            OutputFormat::Gif
        };
    }
    if accepts("image/avif") {
        OutputFormat::Avif
    } else if accepts("image/webp") {
        OutputFormat::Webp
    } else if has_alpha {
        OutputFormat::Png
    } else {
        OutputFormat::Jpeg
    }
}

impl Plan {
    /// `fx` is the plugin chain already resolved against the loaded plugins
    /// (URL `fx` first, then the path's `transforms`).
    pub fn new(
        params: &Params,
        source: &Source,
        accept: Option<&str>,
        max_dimension: u32,
        fx: Vec<FxStep>,
    ) -> Result<Self, ParamError> {
        // Crop, in the EXIF-oriented original.
        let crop = match params.crop {
            Some(rect) => {
                let fits = u64::from(rect.x) + u64::from(rect.width) <= u64::from(source.width)
                    && u64::from(rect.y) + u64::from(rect.height) <= u64::from(source.height);
                if !fits {
                    return Err(invalid(
                        "crop",
                        format!("the area lies outside the {}x{} original", source.width, source.height),
                    ));
                }
                let whole = rect.x == 0 && rect.y == 0 && rect.width == source.width && rect.height == source.height;
                (!whole).then_some(rect)
            }
            None => None,
        };
        let (cropped_w, cropped_h) = crop.map_or((source.width, source.height), |r| (r.width, r.height));

        // Orientation, then everything else in the output's orientation.
        let mut orientation = Orientation::default().rotated(params.rotate.unwrap_or(0));
        if let Some((horizontal, vertical)) = params.flip {
            if horizontal {
                orientation = orientation.flipped_horizontally();
            }
            if vertical {
                orientation = orientation.flipped_vertically();
            }
        }
        let (ow, oh) = if orientation.swaps_axes() {
            (cropped_h, cropped_w)
        } else {
            (cropped_w, cropped_h)
        };

        let dpr = params.dpr.unwrap_or(1.0);
        let scaled = |param: &str, v: Option<u32>| -> Result<Option<u32>, ParamError> {
            let Some(v) = v else { return Ok(None) };
            let scaled = (f64::from(v) * dpr).round().max(1.0);
            if scaled > f64::from(max_dimension) {
                return Err(invalid(
                    param,
                    format!("{v} at dpr {dpr} is more than the {max_dimension} pixels allowed"),
                ));
            }
            Ok(Some(scaled as u32))
        };
        let box_w = scaled("w", params.width)?;
        let box_h = scaled("h", params.height)?;
        let fit = params.fit.unwrap_or(Fit::Inside);
        let gravity = match (params.focal, params.gravity) {
            (Some((x, y)), _) => Gravity::Point(x, y),
            (None, Some(g)) => g,
            (None, None) => Gravity::Point(0.5, 0.5),
        };

        // `a * num / den`, rounded. It can exceed u32 (a 1x1048577 original
        // asked for w=4096): saturating keeps it above `max_dimension`, so the
        // size check below refuses it instead of a truncated size passing.
        let ratio = |a: u32, num: u32, den: u32| -> u32 {
            let exact = (u64::from(a) * u64::from(num) + u64::from(den) / 2) / u64::from(den);
            u32::try_from(exact.max(1)).unwrap_or(u32::MAX)
        };
        let mut extract = None;
        let mut embed = None;
        let (rw, rh) = match (box_w, box_h) {
            (None, None) => (ow, oh),
            (Some(w), None) => (w, ratio(oh, w, ow)),
            (None, Some(h)) => (ratio(ow, h, oh), h),
            (Some(w), Some(h)) => {
                // Compare w/ow with h/oh without floating point.
                let width_bound_inside = u64::from(w) * u64::from(oh) <= u64::from(h) * u64::from(ow);
                let by_width = (w, ratio(oh, w, ow));
                let by_height = (ratio(ow, h, oh), h);
                match fit {
                    Fit::Fill => (w, h),
                    Fit::Inside | Fit::Contain => {
                        let size = if width_bound_inside { by_width } else { by_height };
                        if fit == Fit::Contain && size != (w, h) {
                            let (ax, ay) = anchor(gravity);
                            embed = Some(Embed {
                                left: ((f64::from(w - size.0.min(w))) * ax).round() as u32,
                                top: ((f64::from(h - size.1.min(h))) * ay).round() as u32,
                                width: w,
                                height: h,
                            });
                        }
                        size
                    }
                    Fit::Outside | Fit::Cover => {
                        let size = if width_bound_inside { by_height } else { by_width };
                        if fit == Fit::Cover && size != (w, h) {
                            extract = Some(match gravity {
                                Gravity::Point(fx, fy) => Extract::Area(Rect {
                                    x: focus_offset(size.0, w, fx),
                                    y: focus_offset(size.1, h, fy),
                                    width: w,
                                    height: h,
                                }),
                                Gravity::Entropy | Gravity::Attention => Extract::Smart {
                                    width: w,
                                    height: h,
                                    attention: gravity == Gravity::Attention,
                                },
                            });
                        }
                        size
                    }
                }
            }
        };
        for (param, value) in [("w", rw), ("h", rh)] {
            if value > max_dimension {
                return Err(invalid(
                    param,
                    format!("the result would be {value} pixels; at most {max_dimension} are allowed"),
                ));
            }
        }
        let resize = ((rw, rh) != (ow, oh)).then_some((rw, rh));
        let (mut width, mut height) = match (extract, embed) {
            (Some(Extract::Area(r)), _) => (r.width, r.height),
            (Some(Extract::Smart { width, height, .. }), _) => (width, height),
            (None, Some(e)) => (e.width, e.height),
            (None, None) => (rw, rh),
        };
        if let Some([top, right, bottom, left]) = params.pad.filter(|p| p.iter().any(|s| *s > 0)) {
            let base = embed.unwrap_or(Embed {
                left: 0,
                top: 0,
                width,
                height,
            });
            let padded = Embed {
                left: base.left + left,
                top: base.top + top,
                width: base.width + left + right,
                height: base.height + top + bottom,
            };
            if padded.width > max_dimension || padded.height > max_dimension {
                return Err(invalid(
                    "pad",
                    format!("the padded result would exceed {max_dimension} pixels"),
                ));
            }
            embed = Some(padded);
            (width, height) = (padded.width, padded.height);
        }

        // Output: format, then only the settings that mean something for it.
        let wants_animation = source.pages > 1 && params.anim != Some(false);
        let (format, negotiated) = match params.format {
            Some(FormatRequest::Fixed(format)) => (format, false),
            Some(FormatRequest::Auto) => (negotiate(accept, source.has_alpha, wants_animation), true),
            None => (OutputFormat::from_source(source.format, source.has_alpha), false),
        };
        let lossless = format.supports_lossless() && params.lossless.unwrap_or(false);
        let lossy = format.is_lossy(lossless);
        let quality = lossy.then(|| params.quality.unwrap_or(format.default_quality()));
        let progressive = format.supports_progressive() && params.progressive.unwrap_or(false);
        let colour = match params.colour_space.unwrap_or(ColourSpace::Srgb) {
            ColourSpace::Origin if source.colour == SourceColour::Srgb => ColourSpace::Srgb,
            ColourSpace::Origin if source.colour == SourceColour::Gray => ColourSpace::Gray,
            other => other,
        };
        let animated = wants_animation && format.can_animate();
        let output = Output {
            format,
            quality,
            lossless,
            progressive,
            strip: params.strip.unwrap_or(Strip::ALL),
            colour,
            animated,
        };

        let blur = params.blur;
        let sharpen = params.sharpen;
        let filter = params.filter;
        let pixels_unchanged = crop.is_none()
            && resize.is_none()
            && orientation.is_identity()
            && extract.is_none()
            && blur.is_none()
            && sharpen.is_none()
            && filter.is_none()
            && embed.is_none()
            && fx.is_empty();
        let same_format = format.image_format() == source.format || (params.format.is_none() && !negotiated);
        let encoding_asked = (lossy && params.quality.is_some())
            || (format.supports_lossless() && params.lossless.is_some())
            || (format.supports_progressive() && params.progressive.is_some())
            || params.strip.is_some();
        let colour_changed = match params.colour_space {
            None | Some(ColourSpace::Origin) => false,
            Some(ColourSpace::Srgb) => source.colour != SourceColour::Srgb,
            Some(ColourSpace::Gray) => source.colour != SourceColour::Gray,
            Some(ColourSpace::P3) => true,
        };
        let frames_dropped = source.pages > 1 && !animated;
        let identity = pixels_unchanged && same_format && !encoding_asked && !colour_changed && !frames_dropped;
        let background = params.background.unwrap_or(DEFAULT_BACKGROUND);
        Ok(Plan {
            crop,
            resize,
            orientation,
            extract,
            blur,
            sharpen,
            filter,
            embed,
            fx,
            background,
            output,
            negotiated,
            width,
            height,
            identity,
        })
    }

    /// Whether the image's alpha is flattened onto the background.
    pub fn flattens(&self, source_has_alpha: bool) -> bool {
        let has_alpha = source_has_alpha || (self.embed.is_some() && self.background[3] < 255);
        has_alpha && !self.output.format.has_alpha()
    }

    /// The canonical text of the plan: equal keys, equal bytes.
    pub fn key(&self, source_has_alpha: bool) -> String {
        if self.identity {
            return "original".into();
        }
        // Written into one string: this runs for every request, cached ones included.
        let mut key = String::with_capacity(96);
        let mut part = |text: std::fmt::Arguments| {
            if !key.is_empty() {
                key.push('&');
            }
            // Writing into a String cannot fail.
            let _ = key.write_fmt(text);
        };
        if let Some(r) = self.crop {
            part(format_args!("crop={},{},{},{}", r.x, r.y, r.width, r.height));
        }
        if let Some((w, h)) = self.resize {
            part(format_args!("resize={w}x{h}"));
        }
        if !self.orientation.is_identity() {
            part(format_args!(
                "orient={}{}",
                if self.orientation.mirror { "m" } else { "" },
                u16::from(self.orientation.quarter_turns) * 90
            ));
        }
        match self.extract {
            Some(Extract::Area(r)) => part(format_args!("extract={},{},{},{}", r.x, r.y, r.width, r.height)),
            Some(Extract::Smart {
                width,
                height,
                attention,
            }) => part(format_args!(
                "smart={}x{height}:{}",
                width,
                if attention { "attention" } else { "entropy" }
            )),
            None => {}
        }
        if let Some(sigma) = self.blur {
            part(format_args!("blur={sigma}"));
        }
        if let Some(sigma) = self.sharpen {
            part(format_args!("sharpen={sigma}"));
        }
        if let Some(filter) = self.filter {
            part(format_args!(
                "filter={}",
                match filter {
                    Filter::Grayscale => "grayscale",
                    Filter::Sepia => "sepia",
                    Filter::Bw => "bw",
                }
            ));
        }
        if let Some(e) = self.embed {
            part(format_args!("embed={},{},{}x{}", e.left, e.top, e.width, e.height));
        }
        for step in &self.fx {
            // JSON keeps any text in a parameter from blurring two keys into one.
            let params = serde_json::to_string(&step.params).unwrap_or_default();
            part(format_args!("fx={}@{}{params}", step.name, step.hash));
        }
        if self.embed.is_some() || self.flattens(source_has_alpha) || !self.fx.is_empty() {
            let [r, g, b, a] = self.background;
            part(format_args!("bg={r:02x}{g:02x}{b:02x}{a:02x}"));
        }
        let o = &self.output;
        part(format_args!("format={}", o.format.name()));
        if let Some(q) = o.quality {
            part(format_args!("q={q}"));
        }
        if o.lossless {
            part(format_args!("lossless"));
        }
        if o.progressive {
            part(format_args!("progressive"));
        }
        part(format_args!("strip={}", o.strip.key()));
        part(format_args!(
            "cs={}",
            match o.colour {
                ColourSpace::Srgb => "srgb",
                ColourSpace::P3 => "p3",
                ColourSpace::Gray => "gray",
                ColourSpace::Origin => "origin",
            }
        ));
        if o.animated {
            part(format_args!("anim"));
        }
        key
    }
}

/// A gravity as a point in 0..=1 on each axis; smart gravities place
/// `contain` padding centrally.
fn anchor(gravity: Gravity) -> (f64, f64) {
    match gravity {
        Gravity::Point(x, y) => (x, y),
        Gravity::Entropy | Gravity::Attention => (0.5, 0.5),
    }
}

/// The offset of a `want`-long window centred on `focus` (0..=1) of a
/// `have`-long axis, kept inside the axis.
fn focus_offset(have: u32, want: u32, focus: f64) -> u32 {
    let slack = have.saturating_sub(want);
    let centred = focus * f64::from(have) - f64::from(want) / 2.0;
    (centred.round().max(0.0) as u32).min(slack)
}

#[cfg(test)]
mod tests {
    use super::super::params::ParamLimits;
    use super::*;

    const PHOTO: Source = Source {
        format: ImageFormat::Jpeg,
        width: 2560,
        height: 1600,
        has_alpha: false,
        pages: 1,
        colour: SourceColour::Srgb,
    };

    fn plan_for(source: &Source, query: &str, accept: Option<&str>) -> Result<Plan, ParamError> {
        let pairs: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let params = Params::parse(pairs, ParamLimits { max_dimension: 8192 })?;
        Plan::new(&params, source, accept, 8192, Vec::new())
    }

    fn key(query: &str) -> String {
        plan_for(&PHOTO, query, None).unwrap().key(false)
    }

    #[test]
    fn sizes_of_extreme_originals_are_refused_not_truncated() {
        for (width, height, query) in [
            (1, 1_048_577, "w=4096"),
            (1_048_577, 1, "h=4096"),
            (1, 100_000_000, "w=8192&h=8192&fit=cover"),
            (3, 4_000_000_000, "w=8192&h=1&fit=outside"),
        ] {
            let source = Source { width, height, ..PHOTO };
            let error = plan_for(&source, query, None).expect_err(query);
            assert!(
                error.message.contains("8192"),
                "{width}x{height} {query}: {}",
                error.message
            );
        }
        let tall = Source {
            width: 1,
            height: 1_048_577,
            ..PHOTO
        };
        let plan = plan_for(&tall, "h=4096", None).unwrap();
        assert_eq!(
            (plan.width, plan.height),
            (1, 4096),
            "rounded up to one pixel, never zero"
        );
    }

    #[test]
    fn equivalence_classes() {
        for class in [
            // rotations and flips fold into one of eight orientations
            vec!["f=h&r=180", "f=v", "r=180&f=h", "f=v&r=360"].as_slice(),
            &["r=90&f=hv", "r=270"],
            &["r=0", "r=360", "", "r=-360"],
            // the original's width is no resize; parameter order is ignored
            &["w=2560", "h=1600", "w=2560&h=1600", "w=2560&h=1600&fit=fill", ""],
            &[
                "w=512&format=webp",
                "format=webp&w=512",
                "w=512&h=320&format=webp",
                "w=256&dpr=2&format=webp",
            ],
            // defaults filled in
            &[
                "format=webp&q=80&w=100",
                "w=100&format=webp",
                "w=100&format=webp&strip=all&cs=srgb",
            ],
            &["w=100&format=jpg", "w=100&format=jpeg&q=80"],
            // settings that mean nothing for the format are dropped
            &[
                "w=100&format=png&q=30",
                "w=100&format=png",
                "w=100&format=png&lossless=true",
            ],
            &["w=100&lossless=false", "w=100", "w=100&progressive=false"],
        ] {
            let keys: Vec<String> = class.iter().map(|q| key(q)).collect();
            assert!(keys.windows(2).all(|w| w[0] == w[1]), "{class:?} gave {keys:?}");
        }
        let vertical = plan_for(&PHOTO, "w=100&h=100&fit=cover&g=north", None).unwrap();
        let centred = plan_for(&PHOTO, "w=100&h=100&fit=cover&g=center", None).unwrap();
        assert_eq!(
            vertical.key(false),
            centred.key(false),
            "a landscape crop to a square has no vertical slack"
        );
        let west = plan_for(&PHOTO, "w=100&h=100&fit=cover&g=west", None).unwrap();
        assert_ne!(west.key(false), centred.key(false));
    }

    #[test]
    fn distinct_requests_stay_distinct() {
        let keys: Vec<String> = [
            "w=100",
            "w=101",
            "w=100&format=webp",
            "w=100&q=81",
            "w=100&r=90",
            "w=100&f=h",
            "w=100&blur=1",
            "w=100&strip=none",
            "w=100&progressive=true",
        ]
        .iter()
        .map(|q| key(q))
        .collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
    }

    #[test]
    fn identity_serves_the_original() {
        for query in [
            "",
            "w=2560",
            "h=1600&format=jpeg",
            "r=360",
            "cs=srgb",
            "cs=origin",
            "lossless=true",
            "anim=true",
            "dpr=2",
        ] {
            let plan = plan_for(&PHOTO, query, None).unwrap();
            assert!(plan.identity, "{query:?} should be the identity: {plan:?}");
            assert_eq!(plan.key(false), "original");
        }
        for query in [
            "w=2559",
            "format=webp",
            "q=80",
            "strip=all",
            "strip=none",
            "r=90",
            "f=h",
            "blur=1",
            "pad=1",
            "progressive=true",
            "cs=p3",
            "crop=0,0,10,10",
            "filter=sepia",
        ] {
            let plan = plan_for(&PHOTO, query, None).unwrap();
            assert!(!plan.identity, "{query:?} changes something");
        }
        let cmyk = Source {
            colour: SourceColour::Cmyk,
            ..PHOTO
        };
        assert!(plan_for(&cmyk, "", None).unwrap().identity);
        assert!(!plan_for(&cmyk, "cs=srgb", None).unwrap().identity);
        let animated = Source {
            format: ImageFormat::Gif,
            pages: 8,
            ..PHOTO
        };
        assert!(plan_for(&animated, "anim=true", None).unwrap().identity);
        assert!(!plan_for(&animated, "anim=false", None).unwrap().identity);
    }

    #[test]
    fn sizes() {
        let size = |q: &str| {
            let p = plan_for(&PHOTO, q, None).unwrap();
            (p.width, p.height)
        };
        assert_eq!(size("w=512"), (512, 320));
        assert_eq!(size("h=100"), (160, 100));
        assert_eq!(size("w=512&h=512"), (512, 320));
        assert_eq!(size("w=512&h=512&fit=cover"), (512, 512));
        assert_eq!(size("w=512&h=512&fit=contain"), (512, 512));
        assert_eq!(size("w=512&h=512&fit=fill"), (512, 512));
        assert_eq!(size("w=512&h=512&fit=outside"), (819, 512));
        assert_eq!(size("w=100&r=90"), (100, 160));
        assert_eq!(size("w=100&dpr=2"), (200, 125));
        assert_eq!(size("w=100&pad=10"), (120, 83));
        assert_eq!(size("w=100&pad=1,2,3,4"), (106, 67));
        assert_eq!(size("crop=100,100,200,100"), (200, 100));
        assert_eq!(size("crop=100,100,200,100&w=100"), (100, 50));
        assert_eq!(size("w=5000"), (5000, 3125), "enlarging is allowed, within limits");
        assert_eq!(
            plan_for(&PHOTO, "w=8192&h=8192&fit=outside", None).unwrap_err().param,
            "w"
        );
        assert_eq!(plan_for(&PHOTO, "w=4096&dpr=4", None).unwrap_err().param, "w");
        assert_eq!(plan_for(&PHOTO, "crop=2500,0,100,100", None).unwrap_err().param, "crop");
        assert_eq!(plan_for(&PHOTO, "w=8192&pad=10", None).unwrap_err().param, "pad");
        let cover = plan_for(&PHOTO, "w=100&h=100&fit=cover&fp=1,0.5", None).unwrap();
        assert_eq!(cover.resize, Some((160, 100)));
        assert_eq!(
            cover.extract,
            Some(Extract::Area(Rect {
                x: 60,
                y: 0,
                width: 100,
                height: 100
            }))
        );
    }

    #[test]
    fn negotiation() {
        let format = |accept| plan_for(&PHOTO, "format=auto&w=10", accept).unwrap().output.format;
        assert_eq!(format(Some("image/avif,image/webp,*/*")), OutputFormat::Avif);
        assert_eq!(format(Some("image/webp,*/*;q=0.8")), OutputFormat::Webp);
        assert_eq!(format(Some("image/avif;q=0,image/webp")), OutputFormat::Webp);
        assert_eq!(format(Some("*/*")), OutputFormat::Jpeg);
        assert_eq!(format(None), OutputFormat::Jpeg);
        let alpha = Source {
            format: ImageFormat::Png,
            has_alpha: true,
            ..PHOTO
        };
        assert_eq!(
            plan_for(&alpha, "format=auto", Some("*/*")).unwrap().output.format,
            OutputFormat::Png
        );
        assert!(
            plan_for(&alpha, "format=auto", Some("*/*")).unwrap().identity,
            "auto that lands on the original's format"
        );
        assert!(plan_for(&PHOTO, "format=auto", None).unwrap().negotiated);
    }
}
