//! SVG originals: refused unless a path names `image/svg+xml`; where one
//! does, measured before rendering, rasterised for every variant without
//! fetching anything, and served as itself only inside a CSP sandbox.

use std::time::{Duration, Instant};

use crate::harness::{Kiln, assert_error};

const ICONS: &str = r#"
[[paths]]
pattern = "/icons/**"
allowed-content-types = ["image/svg+xml", "image/png"]
"#;

async fn icons() -> Kiln {
    Kiln::builder().config(ICONS).start().await
}

/// A 120x80 drawing: red on the left half, blue on the right.
fn halves(extra: &str) -> Vec<u8> {
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="120" height="80">
  <rect x="0" y="0" width="60" height="80" fill="#ff0000"/>
  <rect x="60" y="0" width="60" height="80" fill="#0000ff"/>
  {extra}
</svg>"##
    )
    .into_bytes()
}

fn size(entry: &serde_json::Value) -> (u64, u64) {
    let original = &entry["original"];
    (
        original["width"].as_u64().unwrap_or(0),
        original["height"].as_u64().unwrap_or(0),
    )
}

fn decode(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).expect("a decodable image").to_rgba8()
}

#[tokio::test]
async fn svg_is_refused_where_the_path_does_not_name_it() {
    let kiln = icons().await;
    let error = assert_error(
        kiln.upload("photos/logo", halves("")).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("image/svg+xml"), "{error}");
    // Even a damaged or hostile one is refused for its type, not examined.
    let hostile =
        br#"<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;"#;
    assert_error(
        kiln.upload("photos/x", hostile.to_vec()).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert!(kiln.stored_objects().await.is_empty());
}

#[tokio::test]
async fn an_allowed_svg_is_measured_rasterised_and_served_sandboxed() {
    let kiln = icons().await;
    let svg = halves("<script>document.title = 'owned'</script>");
    let entry = kiln.upload_ok("icons/logo", svg.clone()).await;
    assert_eq!(entry["original"]["content_type"], "image/svg+xml", "{entry}");
    assert_eq!(size(&entry), (120, 80), "{entry}");

    // The original is served as itself, inert when opened on its own.
    let original = kiln.fetch("/assets/icons/logo/-/content").await;
    assert_eq!(original.status(), 200);
    let headers = original.headers().clone();
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("sandbox") && policy.contains("default-src 'none'"),
        "{policy}"
    );
    assert_eq!(original.bytes().await.unwrap(), svg);

    // Any transformation rasterises, to PNG unless told otherwise, drawn at
    // the target size rather than scaled up from 120x80.
    let resized = kiln.fetch("/assets/icons/logo/-/content?w=240").await;
    assert_eq!(resized.status(), 200);
    assert_eq!(resized.headers()["content-type"], "image/png");
    assert!(resized.headers().get("content-security-policy").is_none());
    let png = decode(&resized.bytes().await.unwrap());
    assert_eq!(png.dimensions(), (240, 160));
    assert_eq!(png.get_pixel(20, 80).0, [255, 0, 0, 255]);
    assert_eq!(png.get_pixel(220, 80).0, [0, 0, 255, 255]);
    let edge = (png.get_pixel(119, 80).0, png.get_pixel(120, 80).0);
    assert_eq!(edge, ([255, 0, 0, 255], [0, 0, 255, 255]), "a drawn edge stays sharp");

    let webp = kiln.fetch("/assets/icons/logo/-/content?w=30&format=webp").await;
    assert_eq!(webp.headers()["content-type"], "image/webp");
    assert_eq!(decode(&webp.bytes().await.unwrap()).dimensions(), (30, 20));

    let cropped = kiln.fetch("/assets/icons/logo/-/content?w=40&h=40&fit=cover").await;
    assert_eq!(cropped.status(), 200);
    assert_eq!(decode(&cropped.bytes().await.unwrap()).dimensions(), (40, 40));

    let metadata = kiln.json("/assets/icons/logo/-/metadata").await;
    assert_eq!(metadata["original"]["content_type"], "image/svg+xml", "{metadata}");
}

#[tokio::test]
async fn svg_size_comes_from_units_and_the_view_box() {
    let kiln = icons().await;
    let in_units = br#"<svg xmlns="http://www.w3.org/2000/svg" width="1in" height="0.5in"><rect width="100%" height="100%"/></svg>"#;
    let entry = kiln.upload_ok("icons/units", in_units.to_vec()).await;
    assert_eq!(size(&entry), (72, 36), "{entry}");
    let view_box =
        br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 100"><circle cx="150" cy="50" r="40"/></svg>"#;
    let entry = kiln.upload_ok("icons/boxed", view_box.to_vec()).await;
    assert_eq!(size(&entry), (300, 100), "{entry}");
    let png = decode(&kiln.bytes("/assets/icons/boxed/-/content?w=150").await);
    assert_eq!(png.dimensions(), (150, 50));
    assert_eq!(png.get_pixel(75, 25).0[3], 255, "the circle is drawn");
    assert_eq!(png.get_pixel(2, 2).0[3], 0, "the background stays transparent");
}

#[tokio::test]
async fn external_references_are_never_fetched() {
    let origin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = format!("http://{}", origin.local_addr().unwrap());
    let kiln = icons().await;
    let svg = halves(&format!(
        r#"<style>@import url({at}/style.css); rect {{ fill: url({at}/paint.svg#p) }}</style>
  <image href="{at}/a.png" x="0" y="0" width="120" height="80"/>
  <image xlink:href="{at}/b.png" width="10" height="10"/>
  <image href="file:///etc/passwd" width="10" height="10"/>
  <use href="{at}/sprite.svg#icon"/>"#
    ));
    kiln.upload_ok("icons/remote", svg).await;
    let response = kiln.fetch("/assets/icons/remote/-/content?w=60&format=png").await;
    assert_eq!(response.status(), 200);
    assert_eq!(decode(&response.bytes().await.unwrap()).dimensions(), (60, 40));
    let connected = tokio::time::timeout(Duration::from_millis(500), origin.accept()).await;
    assert!(connected.is_err(), "kiln connected to the origin named in the SVG");
}

#[tokio::test]
async fn hostile_svg_is_refused_before_rendering() {
    let kiln = Kiln::builder()
        .config(&format!("{ICONS}\n[limits]\nmax-input-pixels = 25000000\n"))
        .start()
        .await;
    let ns = r#"xmlns="http://www.w3.org/2000/svg""#;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "40000x40000",
            format!(r#"<svg {ns} width="40000" height="40000"><rect width="1" height="1"/></svg>"#).into_bytes(),
            422,
            "image_too_large",
        ),
        (
            "a huge viewBox alone",
            format!(r#"<svg {ns} viewBox="0 0 100000 100000"/>"#).into_bytes(),
            422,
            "image_too_large",
        ),
        (
            "billion laughs",
            format!(
                r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><svg {ns} width="10" height="10"><text>&d;&d;&d;&d;</text></svg>"#
            )
            .into_bytes(),
            400,
            "invalid_image",
        ),
        (
            "an external entity",
            format!(
                r#"<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg {ns} width="10" height="10"><text>&x;</text></svg>"#
            )
            .into_bytes(),
            400,
            "invalid_image",
        ),
        (
            "no size at all",
            format!(r#"<svg {ns}><rect x="0" y="0" width="90000" height="90000"/></svg>"#).into_bytes(),
            400,
            "invalid_image",
        ),
        (
            "a 252-byte feMorphology that would render for minutes",
            format!(
                r#"<svg {ns} width="10" height="10"><filter id="f"><feMorphology radius="300"/></filter><rect width="10" height="10" filter="url(#f)"/></svg>"#
            )
            .into_bytes(),
            400,
            "invalid_image",
        ),
        (
            "a CSS filter",
            format!(r#"<svg {ns} width="10" height="10"><style>rect {{ filter: blur(300px) }}</style><rect/></svg>"#)
                .into_bytes(),
            400,
            "invalid_image",
        ),
        (
            "a 10x10 SVG embedding a 16000x16000 PNG",
            format!(
                r#"<svg {ns} width="10" height="10"><image width="10" height="10" href="data:image/png;base64,{}"/></svg>"#,
                huge_png_header()
            )
            .into_bytes(),
            422,
            "image_too_large",
        ),
        ("truncated", halves("")[..150].to_vec(), 400, "invalid_image"),
        (
            "not well-formed",
            format!(r#"<svg {ns} width="10" height="10"><g></svg>"#).into_bytes(),
            400,
            "invalid_image",
        ),
    ];
    for (name, body, status, code) in cases {
        let started = Instant::now();
        let response = kiln.upload("icons/hostile", body).await;
        assert_eq!(response.status(), status, "{name}");
        assert_error(response, status, code).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    assert!(kiln.stored_objects().await.is_empty());
    assert_eq!(kiln.status("/health").await, 200);
}

/// The base64 of a PNG that declares 16000x16000 pixels: its header is all
/// that has to be read to refuse it.
fn huge_png_header() -> String {
    use base64::Engine;
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&16000u32.to_be_bytes());
    png.extend_from_slice(&16000u32.to_be_bytes());
    png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    base64::engine::general_purpose::STANDARD.encode(&png)
}
