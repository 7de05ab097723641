//! `redact`: pixelates or blurs rectangles.
//!
//! `rects` lists rectangles as `x,y,w,h` fractions of the image's width and
//! height (0..1), separated by `;` — fractions, because the plugin sees the
//! image after resizing, so pixel positions of the original would not fit.
//! `mode` is `pixelate` (default) or `blur`; `strength` is the block size or
//! blur radius in pixels (default 12). URL parameters override the config.

use kiln_sdk::{Description, Error, Image, Param, Params, Settings, Transform};

pub struct Redact;

const RECTS: Param<String> =
    Param::text("rects", 1000).doc("Rectangles as x,y,w,h fractions of the width and height (0..1), separated by ;");
const MODE: Param<&'static str> = Param::choice("mode", &["pixelate", "blur"]).doc("pixelate (the default) or blur");
const STRENGTH: Param<i64> = Param::int("strength", 1, 256).doc("Block size or blur radius in pixels (default 12)");

#[derive(Debug, Clone, Copy, PartialEq)]
struct Area {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

fn parse_rects(text: &str, width: u32, height: u32) -> Result<Vec<Area>, String> {
    let mut areas = Vec::new();
    for rect in text.split(';').filter(|r| !r.trim().is_empty()) {
        let values: Vec<f64> = rect
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("rectangle {rect:?} is not x,y,w,h"))
            })
            .collect::<Result<_, _>>()?;
        let [x, y, w, h] = <[f64; 4]>::try_from(values).map_err(|_| format!("rectangle {rect:?} is not x,y,w,h"))?;
        if [x, y, w, h].iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(format!("rectangle {rect:?}: every value is a fraction in 0..1"));
        }
        let px = |f: f64, of: u32| ((f * f64::from(of)).round() as u32).min(of);
        areas.push(Area {
            x0: px(x, width),
            y0: px(y, height),
            x1: px((x + w).min(1.0), width),
            y1: px((y + h).min(1.0), height),
        });
    }
    if areas.is_empty() {
        return Err("`rects` is required: x,y,w,h fractions separated by ;".into());
    }
    Ok(areas)
}

fn pixelate(image: &mut Image, area: Area, block: u32) {
    let width = image.width as usize;
    let mut by = area.y0;
    while by < area.y1 {
        let mut bx = area.x0;
        let bh = block.min(area.y1 - by);
        while bx < area.x1 {
            let bw = block.min(area.x1 - bx);
            let mut sum = [0u64; 4];
            for y in by..by + bh {
                for x in bx..bx + bw {
                    let i = (y as usize * width + x as usize) * 4;
                    for c in 0..4 {
                        sum[c] += u64::from(image.pixels[i + c]);
                    }
                }
            }
            let n = u64::from(bw * bh);
            for y in by..by + bh {
                for x in bx..bx + bw {
                    let i = (y as usize * width + x as usize) * 4;
                    for c in 0..4 {
                        image.pixels[i + c] = (sum[c] / n) as u8;
                    }
                }
            }
            bx += bw;
        }
        by += bh;
    }
}

/// Three passes of a separable box blur approximate a Gaussian.
fn blur(image: &mut Image, area: Area, radius: u32) {
    let width = image.width as usize;
    let (w, h) = ((area.x1 - area.x0) as usize, (area.y1 - area.y0) as usize);
    if w == 0 || h == 0 {
        return;
    }
    let r = radius as isize;
    for _ in 0..3 {
        for horizontal in [true, false] {
            let (lines, len) = if horizontal { (h, w) } else { (w, h) };
            let mut line = vec![[0u32; 4]; len];
            for l in 0..lines {
                let index = |k: usize| {
                    let (x, y) = if horizontal { (k, l) } else { (l, k) };
                    ((area.y0 as usize + y) * width + area.x0 as usize + x) * 4
                };
                for (k, slot) in line.iter_mut().enumerate() {
                    let i = index(k);
                    *slot = [0, 1, 2, 3].map(|c| u32::from(image.pixels[i + c]));
                }
                for k in 0..len {
                    let lo = (k as isize - r).max(0) as usize;
                    let hi = ((k as isize + r) as usize).min(len - 1);
                    let mut sum = [0u32; 4];
                    for sample in &line[lo..=hi] {
                        for c in 0..4 {
                            sum[c] += sample[c];
                        }
                    }
                    let n = (hi - lo + 1) as u32;
                    let i = index(k);
                    for c in 0..4 {
                        image.pixels[i + c] = (sum[c] / n) as u8;
                    }
                }
            }
        }
    }
}

impl Transform for Redact {
    fn new() -> Self {
        Redact
    }

    fn describe(&self) -> Description {
        Description::transform(
            "redact",
            env!("CARGO_PKG_VERSION"),
            "Pixelates or blurs rectangles (URL parameters override the config)",
        )
        .param(&RECTS)
        .param(&MODE)
        .param(&STRENGTH)
    }

    fn transform(&self, mut image: Image, params: &Params, config: &Settings) -> Result<Image, Error> {
        let rects = match params.optional(&RECTS)? {
            Some(rects) => rects,
            None => config.get("rects").unwrap_or_default().to_owned(),
        };
        let areas = parse_rects(&rects, image.width, image.height).map_err(|why| Error::invalid_param(&RECTS, why))?;
        let strength = match params.optional(&STRENGTH)? {
            Some(strength) => strength as u32,
            None => config.parse_or("strength", 12u32)?,
        };
        if !(1..=256).contains(&strength) {
            return Err(Error::failed("config `strength` must be 1..=256 pixels"));
        }
        let mode = match params.optional(&MODE)? {
            Some(mode) => mode.to_owned(),
            None => config.get("mode").unwrap_or("pixelate").to_owned(),
        };
        for area in areas {
            match mode.as_str() {
                "pixelate" => pixelate(&mut image, area, strength),
                "blur" => blur(&mut image, area, strength),
                other => {
                    return Err(Error::failed(format!(
                        "config `mode` must be pixelate or blur, not {other:?}"
                    )));
                }
            }
        }
        Ok(image)
    }
}

kiln_sdk::export_transform!(Redact);

#[cfg(test)]
mod tests {
    use super::*;

    fn stripes() -> Image {
        let pixels: Vec<u8> = (0..16 * 16)
            .flat_map(|i| {
                if i % 2 == 0 {
                    [0, 0, 0, 255]
                } else {
                    [255, 255, 255, 255]
                }
            })
            .collect();
        Image::new(16, 16, pixels).unwrap()
    }

    #[test]
    fn only_the_rectangle_changes() {
        for mode in ["pixelate", "blur"] {
            let params = Params::from_pairs([("rects", "0,0,0.5,0.5"), ("mode", mode), ("strength", "4")]);
            let out = Redact::new()
                .transform(stripes(), &params, &Settings::default())
                .unwrap();
            let inside = out.pixel(2, 2)[0];
            assert!(inside > 60 && inside < 200, "{mode}: {inside}");
            assert_eq!(out.pixel(12, 12), stripes().pixel(12, 12), "{mode}");
        }
    }

    #[test]
    fn bad_rectangles() {
        for rects in ["", "1,2,3", "0,0,2,1", "a,b,c,d"] {
            let params = Params::from_pairs([("rects", rects)]);
            let error = Redact::new()
                .transform(stripes(), &params, &Settings::default())
                .unwrap_err();
            assert!(
                matches!(&error, Error::InvalidParam { name, .. } if name == "rects"),
                "{rects:?}: {error}"
            );
        }
    }
}
