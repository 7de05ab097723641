//! `watermark`: draws a text (in the embedded DejaVu Sans Bold) or a logo
//! (a base64 PNG in the plugin's config, key `logo`, config only) onto the
//! image.
//!
//! Settings, from the URL (`watermark.text=…`) or the config, URL first:
//! `text` (default "©"), `position` (`nw n ne w c e sw s se`, default `se`),
//! `margin` (pixels, default 2% of the shorter side), `opacity` (0..1,
//! default 0.5), `size` (text height as a fraction of the image height,
//! default 0.06), `color` (RRGGBB, default ffffff), `scale` (logo width as a
//! fraction of the image width, default 0.2).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use base64::Engine;
use kiln_sdk::{Description, Error, Image, Param, Params, Settings, Transform};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");

pub struct Watermark;

// No declared defaults: each falls back to the config, then to the default
// its doc names.
const TEXT: Param<String> = Param::text("text", 200).doc("The text to draw (default ©)");
const POSITION: Param<&'static str> = Param::choice("position", &["nw", "n", "ne", "w", "c", "e", "sw", "s", "se"])
    .doc("Where the mark goes, by compass point (default se)");
const MARGIN: Param<f64> =
    Param::float("margin", 0.0, 10_000.0).doc("Pixels between the mark and the edges (default 2% of the shorter side)");
const OPACITY: Param<f64> = Param::float("opacity", 0.0, 1.0).doc("0 is invisible, 1 opaque (default 0.5)");
const SIZE: Param<f64> =
    Param::float("size", 0.01, 1.0).doc("Text height as a fraction of the image height (default 0.06)");
const COLOR: Param<[u8; 4]> = Param::colour("color").doc("Text colour (default ffffff)");
const SCALE: Param<f64> =
    Param::float("scale", 0.01, 1.0).doc("Logo width as a fraction of the image width (default 0.2)");

/// A mark: straight (not premultiplied) RGBA coverage to blend.
struct Mark {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

fn text_mark(text: &str, height_px: f32, colour: [u8; 4]) -> Result<Mark, String> {
    let font = FontRef::try_from_slice(FONT).map_err(|e| format!("the embedded font is unreadable: {e}"))?;
    let scaled = font.as_scaled(PxScale::from(height_px));
    let mut glyphs = Vec::new();
    let mut x = 0.0f32;
    let mut previous = None;
    for c in text.chars().take(200) {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            x += scaled.kern(previous, id);
        }
        glyphs.push(id.with_scale_and_position(PxScale::from(height_px), point(x, scaled.ascent())));
        x += scaled.h_advance(id);
        previous = Some(id);
    }
    let (width, height) = (
        x.ceil().max(1.0) as u32,
        (scaled.ascent() - scaled.descent()).ceil().max(1.0) as u32,
    );
    let mut rgba = vec![0u8; (width * height * 4) as usize];
    for glyph in glyphs {
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i64 + i64::from(gx), bounds.min.y as i64 + i64::from(gy));
            if px < 0 || py < 0 || px >= i64::from(width) || py >= i64::from(height) {
                return;
            }
            let i = ((py as u32 * width + px as u32) * 4) as usize;
            let alpha = (coverage.clamp(0.0, 1.0) * f32::from(colour[3])) as u8;
            let alpha = alpha.max(rgba[i + 3]);
            rgba[i..i + 4].copy_from_slice(&[colour[0], colour[1], colour[2], alpha]);
        });
    }
    Ok(Mark { width, height, rgba })
}

fn logo_mark(encoded: &str, width: u32) -> Result<Mark, String> {
    let png = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("`logo` is not base64: {e}"))?;
    let logo = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .map_err(|e| format!("`logo` is not a PNG: {e}"))?
        .into_rgba8();
    let height = ((u64::from(logo.height()) * u64::from(width)) / u64::from(logo.width().max(1))).max(1) as u32;
    let resized = image::imageops::resize(&logo, width.max(1), height, image::imageops::FilterType::Triangle);
    Ok(Mark {
        width: resized.width(),
        height: resized.height(),
        rgba: resized.into_raw(),
    })
}

/// Blends `mark` onto `image` at (`left`, `top`) with `opacity`.
fn blend(image: &mut Image, mark: &Mark, left: i64, top: i64, opacity: f32) {
    for my in 0..mark.height {
        let y = top + i64::from(my);
        if y < 0 || y >= i64::from(image.height) {
            continue;
        }
        for mx in 0..mark.width {
            let x = left + i64::from(mx);
            if x < 0 || x >= i64::from(image.width) {
                continue;
            }
            let m = ((my * mark.width + mx) * 4) as usize;
            let a = f32::from(mark.rgba[m + 3]) / 255.0 * opacity;
            if a <= 0.0 {
                continue;
            }
            let i = ((y as u32 * image.width + x as u32) * 4) as usize;
            for c in 0..3 {
                let under = f32::from(image.pixels[i + c]);
                image.pixels[i + c] = (under + (f32::from(mark.rgba[m + c]) - under) * a).round() as u8;
            }
            let under = f32::from(image.pixels[i + 3]);
            image.pixels[i + 3] = (under + (255.0 - under) * a).round() as u8;
        }
    }
}

impl Transform for Watermark {
    fn new() -> Self {
        Watermark
    }

    fn describe(&self) -> Description {
        Description::transform(
            "watermark",
            env!("CARGO_PKG_VERSION"),
            "Draws a text or the configured logo onto the image (URL parameters override the config)",
        )
        .param(&TEXT)
        .param(&POSITION)
        .param(&MARGIN)
        .param(&OPACITY)
        .param(&SIZE)
        .param(&COLOR)
        .param(&SCALE)
    }

    fn transform(&self, mut image: Image, params: &Params, config: &Settings) -> Result<Image, Error> {
        let opacity = params.or_config(&OPACITY, config)?.unwrap_or(0.5) as f32;
        let shorter = image.width.min(image.height) as f64;
        let margin = params.or_config(&MARGIN, config)?.unwrap_or((shorter * 0.02).round()) as i64;
        let mark = match config.get("logo") {
            Some(logo) => {
                let scale = params.or_config(&SCALE, config)?.unwrap_or(0.2) as f32;
                logo_mark(logo, (image.width as f32 * scale).round() as u32)?
            }
            None => {
                let size = params.or_config(&SIZE, config)?.unwrap_or(0.06) as f32;
                let colour = params.or_config(&COLOR, config)?.unwrap_or([255; 4]);
                let text = params.or_config(&TEXT, config)?.unwrap_or_else(|| "©".into());
                text_mark(&text, (image.height as f32 * size).max(6.0), colour)?
            }
        };
        let (free_x, free_y) = (
            i64::from(image.width) - i64::from(mark.width) - 2 * margin,
            i64::from(image.height) - i64::from(mark.height) - 2 * margin,
        );
        let (fx, fy) = match params.or_config(&POSITION, config)?.unwrap_or("se") {
            "nw" => (0, 0),
            "n" => (1, 0),
            "ne" => (2, 0),
            "w" => (0, 1),
            "c" => (1, 1),
            "e" => (2, 1),
            "sw" => (0, 2),
            "s" => (1, 2),
            _ => (2, 2),
        };
        let left = margin + free_x * fx / 2;
        let top = margin + free_y * fy / 2;
        blend(&mut image, &mark, left, top, opacity);
        Ok(image)
    }
}

kiln_sdk::export_transform!(Watermark);

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(width: u32, height: u32) -> Image {
        Image::new(width, height, [100, 100, 100, 255].repeat((width * height) as usize)).unwrap()
    }

    fn changed(a: &Image, b: &Image) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for y in 0..a.height {
            for x in 0..a.width {
                if a.pixel(x, y) != b.pixel(x, y) {
                    out.push((x, y));
                }
            }
        }
        out
    }

    #[test]
    fn text_lands_in_its_corner_only() {
        let params = Params::from_pairs([("text", "Kiln"), ("opacity", "1"), ("size", "0.2")]);
        let out = Watermark::new()
            .transform(grey(200, 100), &params, &Settings::default())
            .unwrap();
        let touched = changed(&grey(200, 100), &out);
        assert!(!touched.is_empty());
        assert!(touched.iter().all(|(x, y)| *x >= 100 && *y >= 50), "south-east only");
    }

    #[test]
    fn bad_settings_are_errors() {
        for (key, value) in [("opacity", "2"), ("position", "middle"), ("color", "nope")] {
            let params = Params::from_pairs([(key, value)]);
            let error = Watermark::new()
                .transform(grey(20, 20), &params, &Settings::default())
                .unwrap_err();
            assert!(
                matches!(&error, Error::InvalidParam { name, .. } if name == key),
                "{key}={value}: {error}"
            );
            let config = Settings::from_pairs([(key, value)]);
            let error = Watermark::new()
                .transform(grey(20, 20), &Params::default(), &config)
                .unwrap_err();
            assert!(matches!(&error, Error::Failed(_)), "config {key}={value}: {error}");
        }
        let logo = Settings::from_pairs([("logo", "!!!")]);
        assert!(
            Watermark::new()
                .transform(grey(20, 20), &Params::default(), &logo)
                .is_err()
        );
    }
}
