//! Transformations over HTTP (SPEC §3): every response is decoded with
//! libvips and checked for size, format, orientation, alpha, colour space and
//! frames, rather than trusting its headers.

use reqwest::Method;
use rs_vips::enums::Interpretation;

use crate::harness::{Kiln, assert_error, fixture};
use crate::images::{decode, halves, halves_jpeg, jpeg, pixel};

struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn image(&self) -> rs_vips::VipsImage {
        assert_eq!(
            self.status,
            200,
            "{}",
            String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(300)])
        );
        decode(&self.bytes)
    }
}

async fn fetch(kiln: &Kiln, target: &str) -> Fetched {
    fetch_with(kiln, target, None).await
}

async fn fetch_with(kiln: &Kiln, target: &str, accept: Option<&str>) -> Fetched {
    let mut request = kiln.get(target);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    Fetched {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        bytes: response.bytes().await.unwrap().to_vec(),
    }
}

fn size(image: &rs_vips::VipsImage) -> (i32, i32) {
    let page = image.get_page_height();
    (image.get_width(), if page > 0 { page } else { image.get_height() })
}

/// The magic bytes of the formats Kiln writes.
fn sniffed(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => "jpeg",
        [0x89, b'P', b'N', b'G', ..] => "png",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        [b'G', b'I', b'F', ..] => "gif",
        [0xFF, 0x0A, ..] | [0, 0, 0, 0x0C, b'J', b'X', b'L', ..] => "jxl",
        [_, _, _, _, b'f', b't', b'y', b'p', b'a', b'v', b'i', b'f', ..] => "avif",
        [_, _, _, _, b'f', b't', b'y', b'p', b'h', b'e', b'i', b'c', ..] => "heic",
        _ => "unknown",
    }
}

#[tokio::test]
async fn sizes_and_fits() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("photo", jpeg(800, 500, 3)).await;
    for (query, expected) in [
        ("w=200", (200, 125)),
        ("h=100", (160, 100)),
        ("w=200&h=200", (200, 125)),
        ("w=200&h=200&fit=inside", (200, 125)),
        ("w=200&h=200&fit=cover", (200, 200)),
        ("w=200&h=200&fit=crop&g=east", (200, 200)),
        ("w=200&h=200&fit=contain", (200, 200)),
        ("w=200&h=200&fit=fill", (200, 200)),
        ("w=200&h=200&fit=outside", (320, 200)),
        ("w=100&dpr=2", (200, 125)),
        ("w=100&r=90", (100, 160)),
        ("crop=100,50,400,200", (400, 200)),
        ("crop=100,50,400,200&w=100", (100, 50)),
        ("w=100&pad=10", (120, 83)),
        ("w=1000", (1000, 625)),
        ("w=200&h=200&fit=cover&g=entropy", (200, 200)),
        ("w=200&h=200&fit=cover&g=attention", (200, 200)),
        ("w=200&h=200&fit=cover&fp=0.2,0.8", (200, 200)),
    ] {
        let fetched = fetch(&kiln, &format!("/assets/photo?{query}")).await;
        let image = fetched.image();
        assert_eq!(size(&image), expected, "{query}");
        assert_eq!(
            sniffed(&fetched.bytes),
            "jpeg",
            "{query}: the original's format by default"
        );
    }
}

#[tokio::test]
async fn every_output_format() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("p", fixture("path-64.jpg")).await;
    for format in ["jpeg", "jpg", "png", "webp", "avif", "jxl", "heic", "gif"] {
        let fetched = fetch(&kiln, &format!("/assets/p?w=32&format={format}")).await;
        let expected = if format == "jpg" { "jpeg" } else { format };
        assert_eq!(sniffed(&fetched.bytes), expected, "{format}");
        let mime = if expected == "jpeg" {
            "image/jpeg".to_owned()
        } else {
            format!("image/{expected}")
        };
        assert_eq!(fetched.header("content-type"), mime);
        assert_eq!(size(&fetched.image()), (32, 20), "{format}");
    }
    // Lossless and quality change the bytes.
    let q90 = fetch(&kiln, "/assets/p?w=32&format=webp&q=90").await.bytes;
    let q10 = fetch(&kiln, "/assets/p?w=32&format=webp&q=10").await.bytes;
    assert!(q10.len() < q90.len());
    let lossless = fetch(&kiln, "/assets/p?w=32&format=webp&lossless=true").await.bytes;
    assert_ne!(lossless, q90);
    let progressive = fetch(&kiln, "/assets/p?w=32&progressive=true").await.bytes;
    assert!(
        progressive.windows(2).any(|w| w == [0xFF, 0xC2]),
        "a progressive JPEG has an SOF2 marker"
    );
}

/// Large JPEG downscales decode at 1/2, 1/4 or 1/8 scale and resize the rest:
/// every factor must give the exact size asked for, the colours, and the
/// edge between them where it was.
#[tokio::test]
async fn jpeg_downscales_at_every_decode_scale() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("halves", halves_jpeg(1600, 1000)).await;
    for (query, (w, h)) in [
        ("w=90", (90, 56)),
        ("w=200", (200, 125)),
        ("w=333", (333, 208)),
        ("w=700", (700, 438)),
        ("w=900", (900, 563)),
        ("w=120&h=500&fit=fill", (120, 500)),
    ] {
        let image = fetch(&kiln, &format!("/assets/halves?{query}&format=png"))
            .await
            .image();
        assert_eq!(size(&image), (w, h), "{query}");
        let y = h / 2;
        for (x, red) in [(w / 4, true), (w / 2 - 3, true), (w / 2 + 2, false), (w * 3 / 4, false)] {
            let p = pixel(&image, x, y);
            let (r, b) = (p[0], p[2]);
            assert!(
                if red {
                    r > 200.0 && b < 60.0
                } else {
                    b > 200.0 && r < 60.0
                },
                "{query}: ({x},{y}) is {p:?}, expected {}",
                if red { "red" } else { "blue" }
            );
        }
    }
}

/// The last step of a JPEG downscale runs outside libvips (`raster.rs`): it
/// must look as libvips' own resize does, and carry the metadata on.
#[tokio::test]
async fn upright_jpeg_downscales_look_as_libvips_makes_them_and_keep_metadata() {
    let kiln = Kiln::start().await;
    let original = fixture("path-64.jpg");
    kiln.upload_ok("path", original.clone()).await;
    // 64x40 → 24x15: decoded at 1/2 (32x20), then reduced by 4/3.
    let image = fetch(&kiln, "/assets/path?w=24&format=png").await.image();
    assert_eq!((size(&image), image.get_bands()), ((24, 15), 3));
    let reference = decode(&original)
        .thumbnail_image_with_opts(
            24,
            rs_vips::voption::VOption::new().set("height", 15).set("size", "force"),
        )
        .unwrap();
    let difference = image.subtract(&reference).unwrap().abs().unwrap().avg().unwrap();
    assert!(
        difference < 4.0,
        "mean difference from libvips' full decode and resize: {difference}"
    );
    let description = "exif-ifd0-ImageDescription";
    let kept = fetch(&kiln, "/assets/path?w=24&strip=none").await.image();
    assert_eq!(size(&kept), (24, 15));
    assert_eq!(
        kept.get_string(description).unwrap(),
        decode(&original).get_string(description).unwrap(),
        "strip=none keeps the EXIF"
    );
    let stripped = fetch(&kiln, "/assets/path?w=24").await.image();
    assert_eq!(stripped.get_typeof("exif-data").unwrap_or(0), 0);
}

/// Lossy WebP results without metadata are written by libwebp 1.6 directly
/// (`webp.rs`, from a JPEG's planes by `planar.rs`), the rest by libvips:
/// both must be as faithful as libvips' own `webpsave` of the same frame,
/// and only `strip=none` carries EXIF.
#[tokio::test]
async fn webp_results_look_as_libvips_writes_them_and_strip_as_asked() {
    let kiln = Kiln::start().await;
    let original = fixture("path-64.jpg");
    kiln.upload_ok("path", original.clone()).await;
    let fetched = fetch(&kiln, "/assets/path?w=24&format=webp&q=80").await;
    assert_eq!(&fetched.bytes[..4], b"RIFF");
    for chunk in [b"EXIF", b"XMP ", b"ICCP"] {
        assert!(
            !fetched.bytes.windows(4).any(|w| w == chunk),
            "no {} chunk by default",
            String::from_utf8_lossy(chunk)
        );
    }
    let image = fetched.image();
    assert_eq!((size(&image), image.get_bands()), ((24, 15), 3));
    let frame = fetch(&kiln, "/assets/path?w=24&format=png").await.image();
    let reference = decode(
        &frame
            .webpsave_buffer_with_opts(rs_vips::voption::VOption::new().set("Q", 80).set("strip", true))
            .unwrap(),
    );
    // The WebP is made from the JPEG's own planes (`planar.rs`), not from
    // this frame; it must be as faithful to it as libvips' file of it is.
    let error = |webp: &rs_vips::VipsImage| webp.subtract(&frame).unwrap().abs().unwrap().avg().unwrap();
    let (ours, theirs) = (error(&image), error(&reference));
    assert!(
        ours < theirs * 1.15 + 0.2,
        "mean difference from the PNG frame: {ours}, against {theirs} for libvips' webpsave of it"
    );
    let kept = fetch(&kiln, "/assets/path?w=24&format=webp&strip=none").await;
    assert!(kept.bytes.windows(4).any(|w| w == b"EXIF"), "strip=none keeps the EXIF");
    let description = "exif-ifd0-ImageDescription";
    assert_eq!(
        kept.image().get_string(description).unwrap(),
        decode(&original).get_string(description).unwrap()
    );
}

#[tokio::test]
async fn exif_orientation_is_applied_first() {
    let kiln = Kiln::start().await;
    let original = fixture("exif6-fallenleaf.jpg");
    kiln.upload_ok("leaf", original.clone()).await;
    let fetched = fetch(&kiln, "/assets/leaf?format=png").await;
    let image = fetched.image();
    assert_eq!(
        size(&image),
        (64, 40),
        "stored 40x64 with orientation 6 displays as 64x40"
    );
    assert!(image.get_typeof("orientation").unwrap_or(0) == 0 || image.get_int("orientation").unwrap_or(1) == 1);
    // Compare with libvips' own rotation of the original.
    let upright = decode(&original).autorot().unwrap();
    for (x, y) in [(2, 2), (60, 5), (30, 35), (5, 37)] {
        let (a, b) = (pixel(&image, x, y), pixel(&upright, x, y));
        let diff: f64 = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).sum();
        assert!(diff < 40.0, "pixel ({x},{y}) {a:?} vs {b:?}");
    }
    // `r` comes after EXIF orientation, and `w` is the output's width.
    let turned = fetch(&kiln, "/assets/leaf?r=90&w=20").await.image();
    assert_eq!(size(&turned), (20, 32));
    // The orientation tag never survives, even with strip=none.
    let kept = fetch(&kiln, "/assets/leaf?strip=none&w=32").await.image();
    assert!(kept.get_typeof("exif-data").unwrap_or(0) != 0, "strip=none keeps EXIF");
    assert_eq!(kept.get_int("orientation").unwrap_or(1), 1);
    let stripped = fetch(&kiln, "/assets/leaf?w=32").await.image();
    assert_eq!(
        stripped.get_typeof("exif-data").unwrap_or(0),
        0,
        "variants strip EXIF by default"
    );
}

#[tokio::test]
async fn rotations_and_flips() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("halves", halves(40, 20)).await;
    let red = |p: Vec<f64>| p[0] > 200.0 && p[2] < 50.0;
    let blue = |p: Vec<f64>| p[2] > 200.0 && p[0] < 50.0;
    let image = fetch(&kiln, "/assets/halves?f=h").await.image();
    assert!(
        blue(pixel(&image, 2, 10)) && red(pixel(&image, 37, 10)),
        "f=h mirrors left and right"
    );
    let image = fetch(&kiln, "/assets/halves?r=90").await.image();
    assert_eq!(size(&image), (20, 40));
    assert!(
        red(pixel(&image, 10, 2)) && blue(pixel(&image, 10, 37)),
        "r=90 turns the red left half to the top"
    );
    let image = fetch(&kiln, "/assets/halves?r=270").await.image();
    assert!(blue(pixel(&image, 10, 2)) && red(pixel(&image, 10, 37)));
    let image = fetch(&kiln, "/assets/halves?f=v").await.image();
    assert!(red(pixel(&image, 2, 10)), "f=v keeps left and right");
}

#[tokio::test]
async fn cmyk_is_converted_through_its_profile() {
    let kiln = Kiln::start().await;
    let original = fixture("cmyk-kite-64.jpg");
    kiln.upload_ok("kite", original.clone()).await;
    let image = fetch(&kiln, "/assets/kite?w=64&format=png").await.image();
    assert_eq!(image.get_bands(), 3);
    assert_eq!(image.get_interpretation().unwrap(), Interpretation::Srgb);
    let reference = decode(&original)
        .icc_transform_with_opts("srgb", rs_vips::voption::VOption::new().set("embedded", true))
        .unwrap();
    let (a, b) = (pixel(&image, 32, 20), pixel(&reference, 32, 20));
    let diff: f64 = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).sum();
    assert!(diff < 30.0, "{a:?} vs {b:?}");
    let webp = fetch(&kiln, "/assets/kite?format=webp").await.image();
    assert_eq!(webp.get_bands(), 3, "CMYK cannot go into WebP: converted to sRGB");
    let p3 = fetch(&kiln, "/assets/kite?format=png&cs=p3").await.image();
    assert!(
        p3.get_typeof("icc-profile-data").unwrap_or(0) != 0,
        "P3 output carries its profile"
    );
    let gray = fetch(&kiln, "/assets/kite?format=png&cs=gray").await.image();
    assert_eq!(gray.get_bands(), 1);
}

use rs_vips::voption::Setter;

#[tokio::test]
async fn alpha_is_kept_or_flattened() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("cups", fixture("alpha-cups-64.png")).await;
    let png = fetch(&kiln, "/assets/cups?w=32").await.image();
    assert_eq!(png.get_bands(), 4, "PNG keeps alpha");
    let webp = fetch(&kiln, "/assets/cups?w=32&format=webp").await.image();
    assert_eq!(webp.get_bands(), 4, "WebP keeps alpha");
    // The corners of the fixture are transparent.
    let jpeg = fetch(&kiln, "/assets/cups?w=32&format=jpeg&bg=ff0000").await.image();
    assert_eq!(jpeg.get_bands(), 3);
    let corner = pixel(&jpeg, 0, 0);
    assert!(
        corner[0] > 200.0 && corner[1] < 60.0 && corner[2] < 60.0,
        "flattened onto red: {corner:?}"
    );
    let white = pixel(&fetch(&kiln, "/assets/cups?w=32&format=jpeg").await.image(), 0, 0);
    assert!(
        white.iter().all(|c| *c > 200.0),
        "flattened onto white by default: {white:?}"
    );
    // Padding is transparent where the format has alpha, the colour asked for where not.
    let padded = fetch(&kiln, "/assets/cups?w=32&pad=4&format=png").await.image();
    assert_eq!(pixel(&padded, 0, 0)[3], 0.0);
    let padded = fetch(&kiln, "/assets/cups?w=32&pad=4&bg=00ff00&format=jpeg")
        .await
        .image();
    let green = pixel(&padded, 0, 0);
    assert!(green[1] > 200.0 && green[0] < 60.0, "{green:?}");
}

#[tokio::test]
async fn animations_keep_their_frames() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("boats", fixture("boats-8frames.gif")).await;
    let metadata: serde_json::Value = kiln.json("/assets/boats/-/metadata").await;
    assert_eq!(metadata["original"]["width"], 48);
    let gif = fetch(&kiln, "/assets/boats?w=24").await;
    assert_eq!(sniffed(&gif.bytes), "gif");
    let image = gif.image();
    assert_eq!(image.get_int("n-pages").unwrap(), 8);
    assert_eq!(size(&image), (24, 16));
    let webp = fetch(&kiln, "/assets/boats?w=24&format=webp").await.image();
    assert_eq!(webp.get_int("n-pages").unwrap(), 8, "animated WebP");
    let turned = fetch(&kiln, "/assets/boats?r=90").await.image();
    assert_eq!(size(&turned), (32, 48), "every frame is turned, not the strip");
    assert_eq!(turned.get_int("n-pages").unwrap(), 8);
    let still = fetch(&kiln, "/assets/boats?w=24&anim=false").await.image();
    assert_eq!(still.get_int("n-pages").unwrap_or(1), 1);
    let png = fetch(&kiln, "/assets/boats?format=png").await.image();
    assert_eq!(size(&png), (48, 32), "a format without animation gets the first frame");
}

#[tokio::test]
async fn filters_blur_and_sharpen() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("p", fixture("path-64.png")).await;
    let gray = fetch(&kiln, "/assets/p?filter=grayscale").await.image();
    let p = pixel(&gray, 30, 20);
    assert!((p[0] - p[1]).abs() < 2.0 && (p[1] - p[2]).abs() < 2.0, "{p:?}");
    let bw = fetch(&kiln, "/assets/p?filter=bw").await.image();
    for (x, y) in [(5, 5), (30, 20), (60, 35)] {
        assert!(pixel(&bw, x, y).iter().all(|c| *c == 0.0 || *c == 255.0));
    }
    let sepia = fetch(&kiln, "/assets/p?filter=sepia").await.image();
    let s = pixel(&sepia, 30, 20);
    assert!(s[0] >= s[1] && s[1] >= s[2], "{s:?}");
    let plain = fetch(&kiln, "/assets/p?format=png&strip=all").await.bytes;
    let blurred = fetch(&kiln, "/assets/p?blur=3").await.bytes;
    let sharpened = fetch(&kiln, "/assets/p?sharpen=2").await.bytes;
    assert_ne!(plain, blurred);
    assert_ne!(plain, sharpened);
}

#[tokio::test]
async fn canonical_forms_share_one_variant() {
    let kiln = Kiln::start().await;
    let original = jpeg(300, 200, 1);
    kiln.upload_ok("c", original.clone()).await;
    let first = fetch(&kiln, "/assets/c?f=h&r=180&w=100").await;
    assert_eq!(first.header("kiln-cache"), "miss");
    for equivalent in [
        "/assets/c?w=100&f=v",
        "/assets/c?r=180&w=100&f=h",
        "/assets/c?f=v&w=100&r=360&format=jpeg&q=80",
    ] {
        let again = fetch(&kiln, equivalent).await;
        assert_eq!(again.header("kiln-cache"), "hit", "{equivalent}");
        assert_eq!(again.bytes, first.bytes, "{equivalent}");
    }
    // The identity serves the original's bytes.
    for identity in ["/assets/c?w=300", "/assets/c?h=200&format=jpeg", "/assets/c?r=0"] {
        let fetched = fetch(&kiln, identity).await;
        assert_eq!(fetched.bytes, original, "{identity}");
    }
    // An explicit strip is a change like any other.
    assert_ne!(fetch(&kiln, "/assets/c?strip=all").await.bytes, original);
    let metadata: serde_json::Value = kiln.json("/assets/c/-/metadata").await;
    let variants = metadata["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2, "{variants:?}");
    let flipped = variants
        .iter()
        .find(|v| v["width"] == 100)
        .expect("the flipped variant");
    assert_eq!(flipped["content_type"], "image/jpeg");
    assert_eq!(flipped["height"], 67);
    assert!(flipped["transformation"].as_str().unwrap().contains("orient=m180"));
}

#[tokio::test]
async fn variants_are_stored_validated_and_deleted_with_their_entry() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("v", jpeg(300, 200, 2)).await;
    let first = fetch(&kiln, "/assets/v?w=50&format=webp").await;
    assert_eq!(first.header("kiln-cache"), "miss");
    assert_eq!(kiln.stored_objects().await.len(), 2, "original and variant");
    let etag = first.header("etag").to_owned();
    let second = fetch(&kiln, "/assets/v?w=50&format=webp").await;
    assert_eq!(second.header("kiln-cache"), "hit");
    assert_eq!(second.header("etag"), etag);
    assert_eq!(second.header("content-length"), first.bytes.len().to_string());
    let not_modified = kiln
        .get("/assets/v?w=50&format=webp")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    let range = kiln
        .get("/assets/v?format=webp&w=50")
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(range.bytes().await.unwrap().as_ref(), b"RIFF");
    let download = kiln.fetch("/assets/v/-/download?w=50&format=webp").await;
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.contains("filename=\"v.webp\""), "{disposition}");

    let link: serde_json::Value = kiln.json("/assets/v/-/link?w=50&format=webp").await;
    assert_eq!(
        link["url"],
        format!("{}/assets/v/-/entry/1/content?format=webp&w=50", kiln.base)
    );
    assert_eq!(link["width"], 50);
    assert_eq!(link["height"], 33);
    assert_eq!(link["content_type"], "image/webp");
    let redirect = kiln.fetch("/assets/v/-/redirect?w=50&format=webp").await;
    assert_eq!(redirect.status(), 307);
    assert_eq!(redirect.headers()["location"], link["url"].as_str().unwrap());

    let delete = kiln.authed(Method::DELETE, "/assets/v").send().await.unwrap();
    assert_eq!(delete.status(), 204);
    assert!(kiln.stored_objects().await.is_empty(), "variants go with their entry");
}

#[tokio::test]
async fn format_auto_negotiates_and_varies() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("a", jpeg(100, 80, 1)).await;
    kiln.upload_ok("alpha", fixture("alpha-cups-64.png")).await;
    for (path, accept, expected) in [
        ("a", Some("image/avif,image/webp,*/*"), "avif"),
        ("a", Some("image/webp,*/*"), "webp"),
        ("a", Some("*/*"), "jpeg"),
        ("a", None, "jpeg"),
        ("alpha", Some("image/jpeg,*/*"), "png"),
    ] {
        let fetched = fetch_with(&kiln, &format!("/assets/{path}?format=auto&w=40"), accept).await;
        assert_eq!(fetched.status, 200);
        assert_eq!(sniffed(&fetched.bytes), expected, "{path} {accept:?}");
        assert_eq!(fetched.header("vary"), "Accept");
    }
    let plain = fetch(&kiln, "/assets/a?w=40").await;
    assert_eq!(plain.header("vary"), "", "no Vary without negotiation");
    let link: serde_json::Value = kiln
        .get("/assets/a/-/link?format=auto&w=40")
        .header("accept", "image/webp")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(link["url"].as_str().unwrap().ends_with("?format=webp&w=40"), "{link}");
}

#[tokio::test]
async fn concurrent_requests_make_a_variant_once() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("busy", jpeg(1200, 800, 5)).await;
    let mut handles = Vec::new();
    for _ in 0..24 {
        let client = kiln.client.clone();
        let url = kiln.url("/assets/busy?w=300&format=webp&blur=2");
        handles.push(tokio::spawn(async move {
            let response = client.get(url).send().await.unwrap();
            let cache = response.headers()["kiln-cache"].to_str().unwrap().to_owned();
            (response.status().as_u16(), cache, response.bytes().await.unwrap())
        }));
    }
    let mut misses = 0;
    let mut bodies = Vec::new();
    for handle in handles {
        let (status, cache, body) = handle.await.unwrap();
        assert_eq!(status, 200);
        misses += usize::from(cache == "miss");
        bodies.push(body);
    }
    assert_eq!(misses, 1, "exactly one request made the variant");
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let metadata: serde_json::Value = kiln.json("/assets/busy/-/metadata").await;
    assert_eq!(metadata["variants"].as_array().unwrap().len(), 1);
    assert_eq!(kiln.stored_objects().await.len(), 2);
}

#[tokio::test]
async fn bad_parameters_name_themselves() {
    let kiln = Kiln::builder()
        .config("[limits]\nmax-output-dimension = 500\n")
        .start()
        .await;
    kiln.upload_ok("p", jpeg(300, 200, 1)).await;
    for (query, param) in [
        ("w=501", "w"),
        ("w=300&dpr=2", "w"),
        ("w=abc", "w"),
        ("fit=squish", "fit"),
        ("crop=250,0,100,100", "crop"),
        ("r=45", "r"),
        ("format=bmp", "format"),
        ("q=0", "q"),
        ("blur=1000", "blur"),
        ("profile=nope", "profile"),
        ("fx=watermark", "fx"),
        ("w=10&w=20", "w"),
    ] {
        let json = assert_error(kiln.fetch(&format!("/assets/p?{query}")).await, 400, "invalid_param").await;
        assert!(
            json["message"].as_str().unwrap().contains(&format!("`{param}`")),
            "{query}: {json}"
        );
    }
    assert_eq!(kiln.status("/assets/p?w=500").await, 200);
}
