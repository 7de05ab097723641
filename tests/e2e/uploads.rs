//! Uploads: what is sniffed and measured, what is refused, and that a refusal
//! leaves no row and no object behind.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Kiln, assert_error, fixture};
use crate::images::{gif, jpeg, noisy_png, png};

#[tokio::test]
async fn every_format_is_sniffed_and_measured_from_its_header() {
    let kiln = Kiln::start().await;
    for (file, content_type, width, height) in [
        ("path-64.jpg", "image/jpeg", 64, 40),
        ("path-64.png", "image/png", 64, 40),
        ("path-64.webp", "image/webp", 64, 40),
        ("path-64.avif", "image/avif", 64, 40),
        ("path-64.heic", "image/heic", 64, 40),
        ("path-64.jxl", "image/jxl", 64, 40),
        ("path-64.tiff", "image/tiff", 64, 40),
        ("boats-8frames.gif", "image/gif", 48, 32),
        ("cmyk-kite-64.jpg", "image/jpeg", 64, 40),
        ("alpha-cups-64.png", "image/png", 64, 40),
        // 40x64 stored pixels, displayed as 64x40 after EXIF orientation 6.
        ("exif6-fallenleaf.jpg", "image/jpeg", 64, 40),
    ] {
        let bytes = fixture(file);
        // The declared type is deliberately wrong: only the bytes count.
        let response = kiln
            .authed(Method::POST, &format!("/assets/formats/{file}"))
            .header("content-type", "text/plain")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{file}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["original"]["content_type"], content_type, "{file}");
        assert_eq!(body["original"]["width"], width, "{file}");
        assert_eq!(body["original"]["height"], height, "{file}");
        assert_eq!(body["original"]["bytes"], bytes.len(), "{file}");

        let fetched = kiln.fetch(&format!("/assets/formats/{file}")).await;
        assert_eq!(fetched.headers()["content-type"], content_type, "{file}");
        assert_eq!(
            fetched.bytes().await.unwrap().to_vec(),
            bytes,
            "{file} comes back byte for byte"
        );
    }
}

#[tokio::test]
async fn broken_uploads_are_refused_and_leave_nothing_behind() {
    let kiln = Kiln::start().await;
    let good_jpeg = jpeg(32, 32, 3);
    let mut corrupted_png = png(32, 32, 3);
    let middle = corrupted_png.len() / 2;
    corrupted_png[middle] ^= 0xFF;
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("empty body", "image/jpeg", Vec::new(), 400, "empty_body"),
        (
            "truncated JPEG",
            "image/jpeg",
            good_jpeg[..good_jpeg.len() / 2].to_vec(),
            400,
            "invalid_image",
        ),
        (
            "JPEG without its end",
            "image/jpeg",
            good_jpeg[..good_jpeg.len() - 2].to_vec(),
            400,
            "invalid_image",
        ),
        (
            "JPEG header only",
            "image/jpeg",
            good_jpeg[..20].to_vec(),
            400,
            "invalid_image",
        ),
        (
            "text named .jpg",
            "image/jpeg",
            b"just some text, not a photo".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "HTML as PNG",
            "image/png",
            b"<html><body>hi</body></html>".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "SVG",
            "image/svg+xml",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
            415,
            "unsupported_media_type",
        ),
        ("zeros", "image/png", vec![0; 4096], 415, "unsupported_media_type"),
        ("corrupted PNG", "image/png", corrupted_png, 400, "invalid_image"),
        (
            "truncated GIF",
            "image/gif",
            {
                let g = gif(16, 16);
                g[..g.len() - 3].to_vec()
            },
            400,
            "invalid_image",
        ),
        (
            "truncated WebP",
            "image/webp",
            {
                let w = fixture("path-64.webp");
                w[..w.len() / 2].to_vec()
            },
            400,
            "invalid_image",
        ),
        (
            "truncated AVIF",
            "image/avif",
            {
                let a = fixture("path-64.avif");
                a[..a.len() - 100].to_vec()
            },
            400,
            "invalid_image",
        ),
        (
            "truncated HEIC",
            "image/heic",
            {
                let h = fixture("path-64.heic");
                h[..h.len() / 3].to_vec()
            },
            400,
            "invalid_image",
        ),
        (
            "truncated TIFF",
            "image/tiff",
            {
                let t = fixture("path-64.tiff");
                t[..t.len() / 2].to_vec()
            },
            400,
            "invalid_image",
        ),
    ];
    for (name, content_type, bytes, status, code) in cases {
        let response = kiln
            .authed(Method::POST, "/assets/broken")
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let error = assert_error(response, status, code).await;
        eprintln!("{name}: {}", error["message"]);
    }
    assert_error(kiln.fetch("/assets/broken").await, 404, "not_found").await;
    assert!(
        kiln.stored_objects().await.is_empty(),
        "refused uploads left objects: {:?}",
        kiln.stored_objects().await
    );
    let first = kiln.upload_ok("broken", png(4, 4, 1)).await;
    assert_eq!(first["entry"], 1, "refused uploads used no entry numbers");
}

#[tokio::test]
async fn multipart_uploads_carry_metadata() {
    let kiln = Kiln::start().await;
    let bytes = png(12, 10, 4);
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone())
                .file_name("cat.png")
                .mime_str("image/png")
                .unwrap(),
        )
        .text(
            "metadata",
            json!({"alt": "A cat", "labels": {"kind": "pet"}, "tags": ["cute"]}).to_string(),
        );
    let response = kiln
        .authed(Method::POST, "/assets/pets/cat")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["alt"], "A cat");
    assert_eq!(body["labels"]["kind"], "pet");
    assert_eq!(body["tags"], json!(["cute"]));
    assert_eq!(body["original"]["width"], 12);
    assert_eq!(kiln.bytes("/assets/pets/cat").await.to_vec(), bytes);

    let without_metadata = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(png(4, 4, 1)));
    let response = kiln
        .authed(Method::POST, "/assets/pets/cat")
        .multipart(without_metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let refusals: Vec<(reqwest::multipart::Form, u16, &str)> = vec![
        (
            reqwest::multipart::Form::new().text("metadata", "{}"),
            400,
            "invalid_body",
        ),
        (
            reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(png(4, 4, 1)))
                .text("metadata", "{not json"),
            400,
            "invalid_metadata",
        ),
        (
            reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(png(4, 4, 1)))
                .text("metadata", json!({"labels": {"k": 1}}).to_string()),
            400,
            "invalid_metadata",
        ),
        (
            reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(png(4, 4, 1)))
                .text("other", "x"),
            400,
            "invalid_body",
        ),
        (
            reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(png(4, 4, 1)))
                .part("file", reqwest::multipart::Part::bytes(png(4, 4, 2))),
            400,
            "invalid_body",
        ),
        (
            reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"text".to_vec())),
            415,
            "unsupported_media_type",
        ),
    ];
    for (form, status, code) in refusals {
        let response = kiln
            .authed(Method::POST, "/assets/pets/dog")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_error(response, status, code).await;
    }
    let broken = kiln
        .authed(Method::POST, "/assets/pets/dog")
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    assert_error(broken, 400, "invalid_body").await;
    let no_boundary = kiln
        .authed(Method::POST, "/assets/pets/dog")
        .header("content-type", "multipart/form-data")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(no_boundary, 400, "invalid_body").await;
    assert_error(kiln.fetch("/assets/pets/dog").await, 404, "not_found").await;
}

#[tokio::test]
async fn path_rules_limit_types_and_sizes() {
    let kiln = Kiln::builder()
        .config(
            r#"
            [limits]
            max-upload-bytes = 200000

            [[paths]]
            pattern = "/avatars/**"
            allowed-content-types = ["image/png", "image/webp"]
            max-upload-bytes = 3000

            [[paths]]
            pattern = "/avatars/vip/*"
            max-upload-bytes = 100000
            "#,
        )
        .start()
        .await;
    let small_png = png(8, 8, 1);
    let big_png = noisy_png(100, 100);
    assert!(
        small_png.len() < 3000 && big_png.len() > 3000 && big_png.len() < 100_000,
        "{}",
        big_png.len()
    );

    kiln.upload_ok("avatars/1", small_png.clone()).await;
    assert_error(
        kiln.upload("avatars/1", jpeg(8, 8, 1)).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        kiln.upload("avatars/1", big_png.clone()).await,
        413,
        "payload_too_large",
    )
    .await;
    kiln.upload_ok("avatars/vip/1", big_png.clone()).await;
    kiln.upload_ok("elsewhere/1", jpeg(8, 8, 1)).await;
    assert_error(
        kiln.upload("elsewhere/1", vec![0xFF; 200_001]).await,
        413,
        "payload_too_large",
    )
    .await;

    // The limit holds when the client does not declare a length.
    let stream = futures_stream(big_png.clone());
    let sent = kiln
        .authed(Method::POST, "/assets/avatars/2")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    assert_too_large(sent).await;
    assert_error(kiln.fetch("/assets/avatars/2").await, 404, "not_found").await;

    // Multipart bodies are held to the same limit.
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(big_png));
    let sent = kiln
        .authed(Method::POST, "/assets/avatars/3")
        .multipart(form)
        .send()
        .await;
    assert_too_large(sent).await;
    assert_eq!(kiln.stored_objects().await.len(), 3);
}

/// The server answers 413 as soon as a body passes the limit and stops
/// reading, so a client still writing sees either the 413 or its write cut off.
async fn assert_too_large(sent: reqwest::Result<reqwest::Response>) {
    match sent {
        Ok(response) => {
            assert_eq!(
                response.headers()["connection"],
                "close",
                "the unread rest makes the connection unusable"
            );
            assert_error(response, 413, "payload_too_large").await;
        }
        Err(error) => assert!(error.is_request() || error.is_body(), "{error}"),
    }
}

fn futures_stream(bytes: Vec<u8>) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn url_ingest_is_refused_until_enabled() {
    let kiln = Kiln::start().await;
    let response = kiln
        .authed(Method::POST, "/assets/remote")
        .json(&json!({"url": "http://127.0.0.1/x.png"}))
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "url_not_allowed").await;
    let response = kiln
        .authed(Method::POST, "/assets/remote")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_body").await;
    assert!(kiln.stored_objects().await.is_empty());
}
