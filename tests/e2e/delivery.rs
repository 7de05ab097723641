//! How entries come back: content headers, conditional requests, ranges,
//! HEAD, and the link / redirect / download / metadata return formats.

use crate::harness::{Kiln, assert_error};
use crate::images::{jpeg, png};

#[tokio::test]
async fn content_carries_validators_and_answers_conditionals() {
    let kiln = Kiln::builder()
        .config(
            r#"
            [[paths]]
            pattern = "/static/**"
            cache-control = "public, max-age=31536000, immutable"
            "#,
        )
        .start()
        .await;
    let bytes = jpeg(20, 10, 5);
    kiln.upload_ok("static/logo", bytes.clone()).await;
    kiln.upload_ok("plain", bytes.clone()).await;

    let response = kiln.fetch("/assets/static/logo").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["content-length"], bytes.len().to_string());
    assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(headers["accept-ranges"], "bytes");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
        "strong ETag: {etag}"
    );
    let last_modified = headers["last-modified"].to_str().unwrap().to_owned();
    assert!(httpdate::parse_http_date(&last_modified).is_ok(), "{last_modified}");
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);

    let plain = kiln.fetch("/assets/plain").await;
    assert_eq!(plain.headers()["cache-control"], "public, max-age=3600", "the default");
    assert_eq!(plain.headers()["etag"].to_str().unwrap(), etag, "same bytes, same ETag");

    for (header, value) in [
        ("if-none-match", etag.clone()),
        ("if-none-match", format!("\"other\", {etag}")),
        ("if-none-match", format!("W/{etag}")),
        ("if-none-match", "*".to_owned()),
        ("if-modified-since", last_modified.clone()),
        (
            "if-modified-since",
            httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(60)),
        ),
    ] {
        let response = kiln
            .get("/assets/static/logo")
            .header(header, &value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304, "{header}: {value}");
        assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    for (header, value) in [
        ("if-none-match", "\"something-else\"".to_owned()),
        ("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT".to_owned()),
        ("if-modified-since", "not a date".to_owned()),
    ] {
        let response = kiln
            .get("/assets/static/logo")
            .header(header, &value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{header}: {value}");
    }
    // If-None-Match wins over If-Modified-Since.
    let response = kiln
        .get("/assets/static/logo")
        .header("if-none-match", "\"stale\"")
        .header("if-modified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // A new entry is a new representation.
    kiln.upload_ok("static/logo", png(4, 4, 1)).await;
    let response = kiln
        .get("/assets/static/logo")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn ranges_and_head() {
    let kiln = Kiln::start().await;
    let bytes = png(64, 64, 9);
    let total = bytes.len();
    kiln.upload_ok("r", bytes.clone()).await;

    let response = kiln
        .get("/assets/r")
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(response.headers()["content-range"], format!("bytes 10-19/{total}"));
    assert_eq!(response.headers()["content-length"], "10");
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes[10..20]);

    let response = kiln.get("/assets/r").header("range", "bytes=-5").send().await.unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes[total - 5..]);

    let response = kiln
        .get("/assets/r")
        .header("range", format!("bytes={}-", total - 3))
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes[total - 3..]);

    let response = kiln
        .get("/assets/r")
        .header("range", format!("bytes={}-", total + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-range"], format!("bytes */{total}"));
    assert_error(response, 416, "range_not_satisfiable").await;

    for ignored in ["bytes=0-1,5-6", "pages=1-2", "bytes=abc"] {
        let response = kiln.get("/assets/r").header("range", ignored).send().await.unwrap();
        assert_eq!(response.status(), 200, "{ignored}");
        assert_eq!(response.bytes().await.unwrap().len(), total, "{ignored}");
    }

    let etag = kiln.fetch("/assets/r").await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let matching = kiln
        .get("/assets/r")
        .header("range", "bytes=0-3")
        .header("if-range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(matching.status(), 206);
    let stale = kiln
        .get("/assets/r")
        .header("range", "bytes=0-3")
        .header("if-range", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    let head = kiln.client.head(kiln.url("/assets/r")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], total.to_string());
    assert_eq!(head.headers()["content-type"], "image/png");
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert!(head.bytes().await.unwrap().is_empty());
    let head = kiln
        .client
        .head(kiln.url("/assets/r/-/entry/1/download"))
        .send()
        .await
        .unwrap();
    assert!(
        head.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let missing = kiln.client.head(kiln.url("/assets/nothing")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn return_formats() {
    let kiln = Kiln::builder()
        .config(
            r#"
            [server]
            public-url = "https://img.example.com"

            [[paths]]
            pattern = "/linked/**"
            return-format = "link"
            "#,
        )
        .start()
        .await;
    let bytes = jpeg(30, 20, 1);
    kiln.upload_ok("photos/kite.png", bytes.clone()).await;
    kiln.upload_ok("photos/kite.png", bytes.clone()).await;
    let entry_url = "https://img.example.com/assets/photos/kite.png/-/entry/2/content";

    let link: serde_json::Value = kiln.json("/assets/photos/kite.png/-/link").await;
    assert_eq!(link["url"], entry_url);
    assert_eq!(link["width"], 30);
    assert_eq!(link["height"], 20);
    assert_eq!(link["content_type"], "image/jpeg");
    assert!(link["alt"].is_null());

    let redirect = kiln.fetch("/assets/photos/kite.png/-/redirect").await;
    assert_eq!(redirect.status(), 307);
    assert_eq!(redirect.headers()["location"], entry_url);

    let download = kiln.fetch("/assets/photos/kite.png/-/download").await;
    assert_eq!(download.status(), 200);
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename=\"kite.jpg\""),
        "the extension follows the content: {disposition}"
    );
    assert_eq!(download.bytes().await.unwrap().to_vec(), bytes);

    let update = serde_json::json!({"alt": "Red kite over the hill"});
    kiln.authed(reqwest::Method::PUT, "/assets/photos/kite.png/-/entry/2")
        .json(&update)
        .send()
        .await
        .unwrap();
    let download = kiln.fetch("/assets/photos/kite.png/-/download").await;
    let disposition = download.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.contains("filename=\"Red-kite-over-the-hill.jpg\""),
        "{disposition}"
    );

    let metadata: serde_json::Value = kiln.json("/assets/photos/kite.png/-/metadata").await;
    assert_eq!(metadata["path"], "/photos/kite.png");
    assert_eq!(metadata["entry"], 2);
    assert_eq!(metadata["alt"], "Red kite over the hill");
    assert_eq!(metadata["original"]["content_type"], "image/jpeg");
    assert_eq!(metadata["original"]["bytes"], bytes.len());
    assert_eq!(metadata["original"]["sha256"].as_str().unwrap().len(), 64);
    assert!(metadata["variants"].as_array().unwrap().is_empty());
    for key in ["labels", "tags", "created_at", "modified_at", "lqip"] {
        assert!(metadata.get(key).is_some(), "metadata has {key}");
    }

    // A path rule sets the default return format; an explicit selector overrides it.
    kiln.upload_ok("linked/a", bytes.clone()).await;
    let default: serde_json::Value = kiln.json("/assets/linked/a").await;
    assert_eq!(
        default["url"],
        "https://img.example.com/assets/linked/a/-/entry/1/content"
    );
    let content = kiln.fetch("/assets/linked/a/-/content").await;
    assert_eq!(content.headers()["content-type"], "image/jpeg");
}

#[tokio::test]
async fn links_fall_back_to_the_host_header() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("h", png(4, 4, 1)).await;
    let link: serde_json::Value = kiln.json("/assets/h/-/link").await;
    assert_eq!(link["url"], format!("{}/assets/h/-/entry/1/content", kiln.base));
}

/// Entries and variant bytes are remembered in memory; what is remembered
/// must never outlive what it describes, even when a path is emptied and
/// filled again so that the same entry number comes back.
#[tokio::test]
async fn remembered_answers_follow_every_write() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("p/q", png(40, 40, 1)).await;
    let first = kiln.bytes("/assets/p/q?w=20&format=png").await;
    let again = kiln.fetch("/assets/p/q?w=20&format=png").await;
    assert_eq!(again.headers()["kiln-cache"], "hit");
    assert_eq!(again.bytes().await.unwrap(), first);

    let deleted = kiln
        .authed(reqwest::Method::DELETE, "/assets/p/-/recursive")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert_eq!(kiln.status("/assets/p/q?w=20&format=png").await, 404);

    let entry = kiln.upload_ok("p/q", png(40, 40, 99)).await;
    let replaced = kiln
        .fetch(&format!("/assets/p/q/-/entry/{}?w=20&format=png", entry["entry"]))
        .await;
    assert_eq!(replaced.headers()["kiln-cache"], "miss");
    let replaced = replaced.bytes().await.unwrap();
    assert_ne!(
        replaced, first,
        "the variant of the new original, not the remembered one"
    );
    assert_eq!(kiln.bytes("/assets/p/q?w=20&format=png").await, replaced);

    // A newer entry is the newest at once; a metadata update shows at once.
    kiln.upload_ok("p/q", png(40, 40, 7)).await;
    let newest: serde_json::Value = kiln.json("/assets/p/q/-/metadata").await;
    assert_eq!(newest["entry"].as_u64(), entry["entry"].as_u64().map(|n| n + 1));
    let updated = kiln
        .authed(
            reqwest::Method::PUT,
            &format!("/assets/p/q/-/entry/{}", newest["entry"]),
        )
        .json(&serde_json::json!({ "alt": "changed" }))
        .send()
        .await
        .unwrap();
    assert!(updated.status().is_success(), "{}", updated.status());
    let shown: serde_json::Value = kiln.json("/assets/p/q/-/metadata").await;
    assert_eq!(shown["alt"], "changed");
}
