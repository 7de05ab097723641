//! URL ingest (SPEC §6) against a real origin server on loopback: allowed
//! domains, the ban on loopback/private/link-local/metadata addresses (by
//! name, by literal and through redirects), size and time bounds.

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use reqwest::Method;
use serde_json::json;

use crate::harness::{Kiln, assert_error};
use crate::images::{decode, jpeg};

/// An origin on 127.0.0.1 serving a photo, redirects, a large body and a slow one.
async fn origin() -> u16 {
    let photo = jpeg(120, 80, 7);
    let app = Router::new()
        .route(
            "/photo.jpg",
            get(move || async move { ([(header::CONTENT_TYPE, "image/jpeg")], photo) }),
        )
        .route("/to-photo", get(|| async { Redirect::temporary("/photo.jpg") }))
        .route(
            "/to-metadata",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
        )
        .route(
            "/to-elsewhere",
            get(|| async { Redirect::temporary("http://example.com/x.jpg") }),
        )
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route(
            "/to-other-port",
            get(|| async { Redirect::temporary("http://127.0.0.1:9/photo.jpg") }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/big", get(|| async { vec![0xffu8; 300_000].into_response() }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn ingest(kiln: &Kiln, path: &str, url: &str) -> reqwest::Response {
    kiln.authed(Method::POST, &format!("/assets/{path}"))
        .json(&json!({"url": url, "alt": "from a URL"}))
        .send()
        .await
        .unwrap()
}

/// Ingest from the origin on `port` of loopback allowed, and no other port.
fn loopback_allowed(port: u16) -> String {
    format!(
        "[ingest]\nallowed-domains = [\"localhost:{port}\", \"127.0.0.1:{port}\"]\n\
         allowed-networks = [\"127.0.0.0/8\", \"::1/128\"]\ntimeout-ms = 2000\n\
         [[paths]]\npattern = \"/small/**\"\nmax-upload-bytes = 100000\n"
    )
}

#[tokio::test]
async fn loopback_and_metadata_addresses_are_refused_by_default() {
    let port = origin().await;
    let config =
        "[ingest]\nallowed-domains = [\"localhost\", \"127.0.0.1\", \"169.254.169.254\", \"[::1]\", \"*.nip.io\"]\n";
    // `[::1]` is not a host name: the config refuses it and says which.
    let (stderr, _) = crate::harness::fails_with_config(config, &["config", "check"]);
    assert!(stderr.contains("[::1]"), "{stderr}");

    let config = "[ingest]\nallowed-domains = [\"localhost:*\", \"127.0.0.1:*\", \"169.254.169.254\", \"0.0.0.0:*\"]\n";
    let kiln = Kiln::builder().config(config).start().await;
    for url in [
        format!("http://localhost:{port}/photo.jpg"),
        format!("http://127.0.0.1:{port}/photo.jpg"),
        format!("http://0x7f000001:{port}/photo.jpg"),
        format!("http://2130706433:{port}/photo.jpg"),
        format!("http://0.0.0.0:{port}/photo.jpg"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{port}/photo.jpg"),
        format!("http://[::ffff:127.0.0.1]:{port}/photo.jpg"),
        format!("http://[::7f00:1]:{port}/photo.jpg"),
        format!("http://[64:ff9b:1::7f00:1]:{port}/photo.jpg"),
        format!("http://[2002:7f00:1::]:{port}/photo.jpg"),
        "http://example.com/photo.jpg".to_owned(),
        "file:///etc/passwd".to_owned(),
        "gopher://localhost/".to_owned(),
    ] {
        let response = ingest(&kiln, "remote", &url).await;
        assert_error(response, 403, "url_not_allowed").await;
    }
    assert_error(ingest(&kiln, "remote", "not a url").await, 400, "invalid_body").await;
    assert!(kiln.stored_objects().await.is_empty());
    assert_eq!(kiln.status("/assets/remote").await, 404);
}

#[tokio::test]
async fn an_allowed_origin_is_fetched_and_redirects_are_rechecked() {
    let port = origin().await;
    let kiln = Kiln::builder().config(&loopback_allowed(port)).start().await;
    let response = ingest(&kiln, "remote/a", &format!("http://localhost:{port}/photo.jpg")).await;
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!(created["alt"], "from a URL");
    assert_eq!(created["original"]["width"], 120);
    assert_eq!(decode(&kiln.bytes("/assets/remote/a?w=60").await).get_width(), 60);

    let followed = ingest(&kiln, "remote/b", &format!("http://127.0.0.1:{port}/to-photo")).await;
    assert_eq!(followed.status(), 201, "a redirect inside the rules is followed");

    for (path, code, status) in [
        ("/to-metadata", "url_not_allowed", 403),
        ("/to-elsewhere", "url_not_allowed", 403),
        ("/to-other-port", "url_not_allowed", 403),
        ("/loop", "url_fetch_failed", 422),
        ("/missing", "url_fetch_failed", 422),
    ] {
        let response = ingest(&kiln, "remote/c", &format!("http://localhost:{port}{path}")).await;
        assert_error(response, status, code).await;
    }
    assert_eq!(kiln.stored_objects().await.len(), 3, "two originals and one variant");
}

#[tokio::test]
async fn size_and_time_are_bounded() {
    let port = origin().await;
    let kiln = Kiln::builder().config(&loopback_allowed(port)).start().await;
    let big = ingest(&kiln, "small/big", &format!("http://localhost:{port}/big")).await;
    assert_error(big, 413, "payload_too_large").await;

    let started = Instant::now();
    let slow = ingest(&kiln, "remote/slow", &format!("http://localhost:{port}/slow")).await;
    assert_error(slow, 422, "url_fetch_timeout").await;
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(kiln.stored_objects().await.is_empty());
    assert_eq!(kiln.status("/health").await, 200);
}
