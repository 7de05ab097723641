//! `GET /api/explain?url=` (SPEC §8): what a Kiln URL means — its rules,
//! signature, entry, canonical transformation and whether it is made —
//! answered without making anything, for good URLs and refused ones alike.

use reqwest::Method;
use serde_json::Value;

use crate::harness::{Kiln, assert_error};
use crate::images::jpeg;
use crate::signing::{NEW_KEY, now, signature};

async fn explain(kiln: &Kiln, url: &str) -> Value {
    let target = format!("/api/explain?url={}", urlencoding(url));
    let response = kiln.authed(Method::GET, &target).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{url}: {body}");
    body
}

fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn started() -> Kiln {
    let config = format!(
        "[signing]\nkeys = [\"{NEW_KEY}\"]\n\
         [[paths]]\npattern = \"/thumbs/**\"\nsigning = \"transforms\"\ncache-control = \"public, max-age=60\"\n"
    );
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("open/b", jpeg(400, 300, 1)).await;
    kiln.upload_ok("open/b", jpeg(200, 100, 2)).await;
    kiln.upload_ok("thumbs/pic", jpeg(200, 100, 3)).await;
    kiln
}

#[tokio::test]
async fn a_url_is_explained_before_and_after_its_variant_is_made() {
    let kiln = started().await;
    let url = "/assets/open/b?w=100&format=webp";
    let before = explain(&kiln, url).await;
    assert_eq!(before["path"], "/open/b");
    assert_eq!(before["entry"]["entry"], 2, "the newest entry: {before}");
    let variant = &before["variant"];
    assert_eq!(variant["format"], "webp");
    assert_eq!(
        (variant["width"].as_u64(), variant["height"].as_u64()),
        (Some(100), Some(50))
    );
    assert_eq!(variant["cached"], false);
    assert!(
        variant["transformation"].as_str().unwrap().contains("webp"),
        "{variant}"
    );
    assert!(before["sign_url"].is_null(), "no signing at this path");
    assert_eq!(before["signature"]["required"], false);
    assert!(before.get("error").is_none(), "{before}");
    assert!(
        kiln.json("/assets/open/b/-/metadata").await["variants"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(kiln.status(url).await, 200);
    let after = explain(&kiln, &format!("http://img.example.com{url}#top")).await;
    assert_eq!(after["variant"]["cached"], true, "{after}");
    assert_eq!(after["variant"]["transformation"], variant["transformation"]);
    let first = explain(&kiln, "/assets/open/b/-/entry/1?w=100&format=webp").await;
    assert_eq!(first["entry"]["entry"], 1);
    assert_eq!(first["variant"]["height"], 75);
    let original = explain(&kiln, "/assets/open/b").await;
    assert_eq!(original["variant"]["original"], true);
    assert_eq!(original["variant"]["cached"], true, "the original is always there");
}

#[tokio::test]
async fn signatures_are_checked_and_the_sign_url_line_given() {
    let kiln = started().await;
    let path = "/assets/thumbs/pic";
    let exp = now() + 3600;
    let query = format!("exp={exp}&w=50");
    let s = signature(NEW_KEY, path, &query);
    let signed = explain(&kiln, &format!("{path}?w=50&exp={exp}&s={s}")).await;
    let signature_json = &signed["signature"];
    assert_eq!(signature_json["required"], true);
    assert_eq!(signature_json["valid"], true, "{signed}");
    assert_eq!(signature_json["expires"], exp);
    let line = signed["sign_url"].as_str().unwrap();
    assert!(
        line.starts_with("kiln sign-url '/assets/thumbs/pic?w=50' --ttl "),
        "{line}"
    );
    let tampered = explain(&kiln, &format!("{path}?w=51&exp={exp}&s={s}")).await;
    assert_eq!(tampered["signature"]["valid"], false);
    assert_eq!(tampered["signature"]["problem"], "invalid");
    let unsigned = explain(&kiln, &format!("{path}?w=50")).await;
    assert_eq!(unsigned["signature"]["problem"], "missing");
    assert_eq!(unsigned["sign_url"], "kiln sign-url '/assets/thumbs/pic?w=50'");
    let past = now() - 10;
    let old_query = format!("exp={past}&w=50");
    let old = signature(NEW_KEY, path, &old_query);
    let expired = explain(&kiln, &format!("{path}?w=50&exp={past}&s={old}")).await;
    assert_eq!(expired["signature"]["problem"], "expired");
    assert_eq!(expired["signature"]["expires"], past);
    let bare = explain(&kiln, path).await;
    assert_eq!(
        bare["signature"]["required"], false,
        "no transformation, no signature needed"
    );
    assert_eq!(bare["rules"]["patterns"][0], "/thumbs/**");
    assert_eq!(bare["rules"]["settings"]["cache-control"], "public, max-age=60");
}

#[tokio::test]
async fn urls_kiln_would_refuse_are_explained_with_the_error() {
    let kiln = started().await;
    for (url, code) in [
        ("/assets/open/b?w=abc", "invalid_param"),
        ("/assets/open/b?fx=nothing", "invalid_param"),
        ("/assets/nothing/here?w=10", "not_found"),
        ("/assets/open/b/-/entry/9", "not_found"),
    ] {
        let explained = explain(&kiln, url).await;
        assert_eq!(explained["error"]["error"], code, "{url}: {explained}");
        assert!(!explained["error"]["message"].as_str().unwrap().is_empty());
    }
    for target in [
        "/api/explain",
        "/api/explain?url=ftp%3A%2F%2Fx%2Fassets%2Fa",
        "/api/explain?url=%2Fother%2Fpath",
        "/api/explain?url=%2Fassets%2F..%2Fetc",
        "/api/explain?url=%2Fassets%2Fa&url=%2Fassets%2Fb",
        "/api/explain?url=%2Fassets%2Fa&verbose=1",
    ] {
        let response = kiln.authed(Method::GET, target).send().await.unwrap();
        assert_error(response, 400, "invalid_param").await;
    }
    let long = format!("/api/explain?url=%2Fassets%2F{}", "a".repeat(9000));
    assert_error(
        kiln.authed(Method::GET, &long).send().await.unwrap(),
        414,
        "uri_too_long",
    )
    .await;
    let anonymous = kiln.get("/api/explain?url=%2Fassets%2Fopen%2Fb").send().await.unwrap();
    assert_error(anonymous, 401, "unauthorized").await;
    let post = kiln
        .authed(Method::POST, "/api/explain?url=%2Fassets%2Fopen%2Fb")
        .send()
        .await
        .unwrap();
    assert_error(post, 405, "method_not_allowed").await;
}
