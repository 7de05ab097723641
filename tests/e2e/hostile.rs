//! Hostile input over HTTP (SPEC §6): broken and lying files of every
//! format, bombs, absurd parameters and paths, oversized and slow requests.
//! Each must get a 4xx within a bounded time, store nothing, and leave the
//! server serving.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Kiln, assert_error, fixture};
use crate::images::{decode, png};

const FORMATS: [&str; 8] = [
    "path-64.jpg",
    "path-64.png",
    "boats-8frames.gif",
    "path-64.webp",
    "path-64.avif",
    "path-64.heic",
    "path-64.jxl",
    "path-64.tiff",
];

/// Uploads `bytes`, asserting a 4xx JSON error within `within`.
async fn refused(kiln: &Kiln, what: &str, bytes: Vec<u8>, within: Duration) -> u16 {
    let started = Instant::now();
    let response = kiln.upload("hostile", bytes).await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert!((400..500).contains(&status), "{what}: {status} {body}");
    assert!(body.starts_with("{\"error\":"), "{what}: {body}");
    assert!(started.elapsed() < within, "{what} took {:?}", started.elapsed());
    status
}

#[tokio::test]
async fn truncated_files_of_every_format_are_refused() {
    let kiln = Kiln::start().await;
    for name in FORMATS {
        let whole = fixture(name);
        for keep in [whole.len() / 2, whole.len() * 9 / 10, 16, 4] {
            refused(
                &kiln,
                &format!("{name} cut to {keep}"),
                whole[..keep].to_vec(),
                Duration::from_secs(5),
            )
            .await;
        }
    }
    assert!(kiln.stored_objects().await.is_empty());
    assert_eq!(kiln.status("/health").await, 200);
}

#[tokio::test]
async fn corrupted_files_never_break_the_server() {
    let kiln = Kiln::start().await;
    let mut accepted = 0;
    for name in FORMATS {
        let whole = fixture(name);
        // Damage the header region and, separately, the middle of the data.
        for (start, len) in [(8, 16), (whole.len() / 2, 32), (whole.len() - 40, 24)] {
            let mut damaged = whole.clone();
            for byte in &mut damaged[start..(start + len).min(whole.len())] {
                *byte ^= 0x5a;
            }
            let started = Instant::now();
            let response = kiln.upload("damaged", damaged).await;
            let status = response.status().as_u16();
            assert!(started.elapsed() < Duration::from_secs(5), "{name}@{start}");
            match status {
                // Damage inside compressed data can still decode: then it
                // must be a real, transformable image.
                201 => {
                    accepted += 1;
                    let variant = kiln.fetch("/assets/damaged?w=16&format=png").await;
                    assert!(variant.status() == 200 || variant.status().is_client_error());
                    if variant.status() == 200 {
                        assert_eq!(decode(&variant.bytes().await.unwrap()).get_width(), 16);
                    }
                }
                400..=499 => {}
                _ => panic!("{name} damaged at {start}: {status}"),
            }
        }
    }
    assert_eq!(kiln.status("/health").await, 200);
    let entries = kiln.json("/assets/damaged/-/metadata").await;
    assert_eq!(
        entries["entry"].as_u64().unwrap_or(0),
        accepted,
        "only accepted uploads became entries"
    );
}

#[tokio::test]
async fn lying_magic_bytes_are_refused() {
    let kiln = Kiln::start().await;
    let jpeg = fixture("path-64.jpg");
    let png_bytes = fixture("path-64.png");
    let mut png_magic_jpeg_body = b"\x89PNG\r\n\x1a\n".to_vec();
    png_magic_jpeg_body.extend_from_slice(&jpeg[2..]);
    let mut jpeg_magic_png_body = vec![0xff, 0xd8, 0xff, 0xe0];
    jpeg_magic_png_body.extend_from_slice(&png_bytes[8..]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("PNG magic, JPEG body", png_magic_jpeg_body),
        ("JPEG magic, PNG body", jpeg_magic_png_body),
        ("GIF magic, noise", [b"GIF89a".as_slice(), &[7u8; 200]].concat()),
        (
            "RIFF/WEBP, noise",
            [b"RIFF\x20\0\0\0WEBPVP8 ".as_slice(), &[1u8; 200]].concat(),
        ),
        (
            "ftyp avif, noise",
            [b"\0\0\0\x1cftypavif".as_slice(), &[2u8; 200]].concat(),
        ),
        ("TIFF magic, noise", [b"II*\0".as_slice(), &[3u8; 200]].concat()),
        ("JXL magic, noise", [[0xff, 0x0a].as_slice(), &[4u8; 200]].concat()),
        ("PDF", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF".to_vec()),
        ("ZIP", b"PK\x03\x04\x14\0\0\0\0\0".to_vec()),
        ("ELF", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec()),
    ];
    for (what, bytes) in cases {
        refused(&kiln, what, bytes, Duration::from_secs(5)).await;
    }
    assert!(kiln.stored_objects().await.is_empty());
}

/// A PNG that claims `side`x`side` pixels (1-bit grey, so its raw size is
/// side²/8 bytes) and carries a few rows of zeros: the shape of a
/// decompression bomb, whose header alone must stop it.
fn png_bomb(side: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // 1-bit greyscale
    // zlib: one stored block of 4096 zero bytes, then its Adler-32 (of zeros: 4096 << 16 | 1).
    let mut idat = vec![0x78, 0x01, 0x01, 0x00, 0x10, 0xff, 0xef];
    idat.extend(std::iter::repeat_n(0u8, 4096));
    idat.extend_from_slice(&((4096u32 << 16) | 1).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A GIF of `frames` frames of 2x2 pixels.
fn gif_with_frames(frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        for i in 0..frames {
            let pixels = image::RgbaImage::from_pixel(2, 2, image::Rgba([(i % 255) as u8, 0, 0, 255]));
            encoder.encode_frame(image::Frame::new(pixels)).unwrap();
        }
    }
    out
}

#[tokio::test]
async fn bombs_and_absurd_dimensions_are_stopped_before_decoding() {
    let kiln = Kiln::start().await;
    let bomb = png_bomb(40_000);
    assert!(bomb.len() < 5_000);
    let error = assert_error(kiln.upload("bomb", bomb).await, 422, "image_too_large").await;
    assert!(error["message"].as_str().unwrap().contains("40000x40000"), "{error}");

    let started = Instant::now();
    let frames = gif_with_frames(3000);
    assert_error(kiln.upload("frames", frames).await, 422, "too_many_frames").await;
    assert!(started.elapsed() < Duration::from_secs(10));

    // An SVG with a script and external references, at a path that does not
    // name SVG, is refused for its type (tests/e2e/svg.rs covers paths that do).
    let svg = br#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">
<script>alert(1)</script><image xlink:href="http://169.254.169.254/latest/meta-data/" width="10" height="10"/>
<text>&xxe;</text></svg>"#;
    assert_error(kiln.upload("svg", svg.to_vec()).await, 415, "unsupported_media_type").await;
    assert!(kiln.stored_objects().await.is_empty());
}

#[tokio::test]
async fn traversal_in_every_encoding_is_an_invalid_path() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("safe/a", png(4, 4, 1)).await;
    let mut stream = tokio::net::TcpStream::connect(kiln.base.trim_start_matches("http://"))
        .await
        .unwrap();
    for target in [
        "/assets/safe/%2E%2E/%2E%2E/etc/passwd",
        "/assets/safe/%252e%252e/etc",
        "/assets/safe/%c0%ae%c0%ae/etc",
        "/assets/safe/..%2f..%2fetc",
        "/assets/safe/..%5c..%5cetc",
        "/assets/safe/%5c..%5cetc",
        "/assets/safe/%ef%bc%8e%ef%bc%8e/etc",
        "/assets/safe/a%00.png",
        "/assets/safe/a%0d%0aX-Injected:%201",
        "/assets/safe/a;jsessionid=1",
        "/assets/%2fetc%2fpasswd",
        "/assets/safe/a:b",
        "/assets/safe/*",
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = vec![0u8; 4096];
        let read = stream.read(&mut response).await.unwrap();
        let text = String::from_utf8_lossy(&response[..read]);
        assert!(text.starts_with("HTTP/1.1 400"), "{target}: {text}");
        assert!(text.contains("\"invalid_path\""), "{target}: {text}");
        assert!(!text.contains("X-Injected"), "{target}: {text}");
    }
    assert_eq!(kiln.status("/assets/safe/a").await, 200);
}

#[tokio::test]
async fn absurd_parameters_are_invalid_params() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("p", png(16, 16, 1)).await;
    // Long, but inside the 8 KiB a URL may have (longer ones are 414).
    let long = "9".repeat(4_000);
    for query in [
        "w=-1",
        "w=1e309",
        "w=99999999999999999999",
        "w=NaN",
        "w=%00",
        "w=%EF%BC%91%EF%BC%92",
        "w=10&w=20",
        "h=0x10",
        "q=101",
        "q=abc",
        "format=exe",
        "format=../../etc/passwd",
        "fit=%3Cscript%3E",
        "r=45",
        "crop=1,2",
        "crop=0,0,99999,99999",
        "bg=zzzzzz",
        "dpr=1000",
        "fx=../../plugin",
        "profile=..%2F..",
        &format!("w={long}"),
        &format!("{long}=1"),
    ] {
        let response = kiln.fetch(&format!("/assets/p?{query}")).await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains("\"invalid_param\""),
            "{}: {body}",
            &query[..query.len().min(40)]
        );
    }
    assert_eq!(kiln.stored_objects().await.len(), 1, "no variant was made");
}

#[tokio::test]
async fn oversized_requests_are_refused() {
    let kiln = Kiln::start().await;
    // One header far beyond what any client needs: refused by the HTTP
    // layer itself (431, or the connection is closed).
    let huge = "x".repeat(1_000_000);
    let sent = kiln.get("/health").header("x-huge", huge).send().await;
    if let Ok(response) = sent {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // A path longer than any asset path, and a URL longer than any URL.
    let long_path = format!("/assets/{}", "a/".repeat(20_000));
    assert_error(kiln.fetch(&long_path).await, 414, "uri_too_long").await;
    let long_query = format!("/assets/a?w={}", "9".repeat(10_000));
    assert_error(kiln.fetch(&long_query).await, 414, "uri_too_long").await;
    // A body beyond the limit, announced or not.
    let response = kiln
        .authed(Method::POST, "/assets/big")
        .header("content-type", "image/png")
        .body(vec![0u8; 40 * 1024 * 1024])
        .send()
        .await;
    if let Ok(response) = response {
        assert_error(response, 413, "payload_too_large").await;
    }
    assert!(kiln.stored_objects().await.is_empty());
    assert_eq!(kiln.status("/health").await, 200);
}

#[tokio::test]
async fn slow_clients_time_out_and_do_not_hold_up_others() {
    let kiln = Kiln::builder()
        .config("[limits]\nbody-timeout-ms = 3000\n")
        .start()
        .await;
    // Twenty connections that never finish their headers.
    let address = kiln.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        idle.push(stream);
    }
    // An upload whose body trickles in, one byte every 300 ms.
    let body = png(8, 8, 1);
    let trickle = futures_util::stream::iter(body.into_iter().map(|b| Ok::<_, std::io::Error>(vec![b]))).then(
        |chunk| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            chunk
        },
    );
    let started = Instant::now();
    let slow = async {
        let response = kiln
            .authed(Method::POST, "/assets/slow")
            .header("content-type", "image/png")
            .body(reqwest::Body::wrap_stream(trickle))
            .send()
            .await;
        (response, Instant::now())
    };
    let fast = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        kiln.upload_ok("fast", png(8, 8, 2)).await;
        Instant::now()
    };
    let ((slow, slow_done), fast_done) = tokio::join!(slow, fast);
    assert!(
        fast_done < slow_done,
        "another upload is served while the slow one trickles"
    );
    assert_error(slow.unwrap(), 408, "request_timeout").await;
    // The whole body would take ~30 s; the limit cuts it off at 3.
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(kiln.status("/assets/slow").await, 404);
    assert_eq!(kiln.stored_objects().await.len(), 1, "only the fast upload");
    drop(idle);
}
