//! Hostile and malformed requests get the right JSON error, store nothing,
//! and leave the server serving.

use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Kiln, assert_error};
use crate::images::png;

/// Sends a raw request line, bypassing any client-side URL normalisation.
async fn raw_status(kiln: &Kiln, method: &str, target: &str) -> (u16, String) {
    let address = kiln.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request =
        format!("{method} {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test]
async fn path_tricks_are_invalid_paths() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("safe/a", png(4, 4, 1)).await;
    for target in [
        "/assets/safe/../a",
        "/assets/safe/./a",
        "/assets/..",
        "/assets/safe/%2e%2e/a",
        "/assets/safe%2Fa",
        "/assets/safe%2fa",
        "/assets/safe/a%00",
        "/assets/%2e",
        "/assets/safe//a",
        "/assets/safe/a/",
        "/assets/",
        "/assets",
        "/assets/safe\\a",
        "/assets/%252e%252e",
        "/assets/caf%C3%A9",
        &format!("/assets/{}", ["s"; 33].join("/")),
        &format!("/assets/{}", "a".repeat(1025)),
    ] {
        let (status, body) = raw_status(&kiln, "GET", target).await;
        assert_eq!(status, 400, "{target}: {body}");
        assert!(body.contains("\"invalid_path\""), "{target}: {body}");
        let (status, body) = raw_status(&kiln, "DELETE", target).await;
        assert_eq!(status, 400, "DELETE {target}: {body}");
    }
    assert_eq!(kiln.status("/assets/safe/a").await, 200, "still serving");
    assert_eq!(kiln.stored_objects().await.len(), 1);
}

#[tokio::test]
async fn selectors_params_methods_and_routes() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("p", png(4, 4, 1)).await;
    for target in [
        "/assets/p/-",
        "/assets/p/-/",
        "/assets/p/-/bogus",
        "/assets/p/-/entry",
        "/assets/p/-/entry/0",
        "/assets/p/-/entry/abc",
        "/assets/p/-/entry/99999999999999999999999",
        "/assets/p/-/new/modified",
        "/assets/p/-/link/content",
        "/assets/p/-/recursive/content",
    ] {
        assert_error(kiln.fetch(target).await, 400, "invalid_selector").await;
    }
    for query in ["w=0", "label:=x", "foo", "w=-1", "zoom=2"] {
        let json = assert_error(kiln.fetch(&format!("/assets/p?{query}")).await, 400, "invalid_param").await;
        let param = query.split('=').next().unwrap();
        assert!(
            json["message"].as_str().unwrap().contains(param),
            "the message names {param}: {json}"
        );
    }
    let response = kiln
        .authed(Method::POST, "/assets/p?x=1")
        .body(png(4, 4, 1))
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_param").await;

    for (method, target, allow) in [
        (Method::PATCH, "/assets/p", "GET, HEAD, POST, DELETE"),
        (Method::PUT, "/assets/p", "GET, HEAD, POST, DELETE"),
        (Method::POST, "/assets/p/-/entry/1", "GET, HEAD, PUT, DELETE"),
        (Method::DELETE, "/assets/p/-/metadata", "GET, HEAD"),
        (Method::GET, "/assets/p/-/recursive", "DELETE"),
        (Method::POST, "/health", "GET, HEAD"),
    ] {
        let response = kiln.authed(method.clone(), target).send().await.unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {target}");
        assert_error(response, 405, "method_not_allowed").await;
    }
    assert_error(kiln.fetch("/nope").await, 404, "not_found").await;
    assert_error(kiln.fetch("/").await, 404, "not_found").await;
}

#[tokio::test]
async fn the_server_survives_a_burst_of_garbage() {
    let kiln = Kiln::start().await;
    let mut handles = Vec::new();
    for i in 0..40u32 {
        let client = kiln.client.clone();
        let url = kiln.url(&format!("/assets/garbage/{i}"));
        let key = kiln.key.clone().unwrap();
        handles.push(tokio::spawn(async move {
            let mut junk: Vec<u8> = (0..(i * 997) % 20000).map(|j| (j * 31 + i) as u8).collect();
            if i % 3 == 0 {
                junk.splice(0..0, [0xFF, 0xD8, 0xFF, 0xE0]);
            } else if i % 3 == 1 {
                junk.splice(0..0, *b"\x89PNG\r\n\x1a\n");
            }
            client
                .post(url)
                .bearer_auth(key)
                .body(junk)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for handle in handles {
        let status = handle.await.unwrap();
        assert!((400..500).contains(&status), "garbage got {status}");
    }
    assert!(kiln.stored_objects().await.is_empty());
    assert_eq!(kiln.status("/health").await, 200);
    kiln.upload_ok("garbage/ok", png(4, 4, 1)).await;
}
