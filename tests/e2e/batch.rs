//! Variants made on request for one entry (SPEC §2): `POST
//! …/-/entry/{n}/variants`, and `?eager=` profiles on an upload.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{Kiln, assert_error};
use crate::images::{decode, jpeg};

const CONFIG: &str = "[profiles.thumb]\nw = 32\nformat = \"webp\"\n[profiles.hero]\nw = 100\n";

async fn batch(kiln: &Kiln, path: &str, variants: serde_json::Value) -> reqwest::Response {
    kiln.authed(Method::POST, path)
        .json(&json!({ "variants": variants }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_list_of_variants_is_made_at_once_or_not_at_all() {
    let kiln = Kiln::builder().config(CONFIG).start().await;
    kiln.upload_ok("p", jpeg(200, 100, 1)).await;
    let response = batch(
        &kiln,
        "/assets/p/-/entry/1/variants",
        json!(["w=30&format=webp", "profile=thumb"]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let links = body["variants"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(
        (links[0]["width"].as_u64(), links[1]["width"].as_u64()),
        (Some(30), Some(32))
    );
    assert_eq!(links[0]["content_type"], "image/webp");
    for link in links {
        let fetched = kiln.client.get(link["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(fetched.headers()["kiln-cache"], "hit", "made by the batch");
        let width = decode(&fetched.bytes().await.unwrap()).get_width() as u64;
        assert_eq!(Some(width), link["width"].as_u64());
    }

    // One bad transformation refuses the whole list, naming it.
    let refused = batch(&kiln, "/assets/p/-/entry/1/variants", json!(["w=40", "w=abc"])).await;
    let body = assert_error(refused, 400, "invalid_param").await;
    assert!(body["message"].as_str().unwrap().contains("variants[1]"), "{body}");
    let metadata = kiln.json("/assets/p/-/metadata").await;
    assert_eq!(
        metadata["variants"].as_array().unwrap().len(),
        2,
        "nothing more was made"
    );

    let many: Vec<String> = (0..33).map(|w| format!("w={}", w + 10)).collect();
    assert_error(
        batch(&kiln, "/assets/p/-/entry/1/variants", json!(many)).await,
        400,
        "invalid_body",
    )
    .await;
    assert_error(
        batch(&kiln, "/assets/p/-/entry/1/variants", json!([])).await,
        400,
        "invalid_body",
    )
    .await;
    assert_error(
        batch(&kiln, "/assets/p/-/entry/9/variants", json!(["w=10"])).await,
        404,
        "not_found",
    )
    .await;
    let labelled = batch(&kiln, "/assets/p/-/entry/1/variants", json!(["label:a=b"])).await;
    assert_error(labelled, 400, "invalid_param").await;
    let anonymous = kiln
        .client
        .post(kiln.url("/assets/p/-/entry/1/variants"))
        .json(&json!({"variants": ["w=10"]}))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthorized").await;
    assert_error(
        kiln.fetch("/assets/p/-/entry/1/variants").await,
        405,
        "method_not_allowed",
    )
    .await;
    let misplaced = batch(&kiln, "/assets/p/-/variants", json!(["w=10"])).await;
    assert_error(misplaced, 400, "invalid_selector").await;
}

#[tokio::test]
async fn an_upload_queues_the_profiles_it_names() {
    let kiln = Kiln::builder().config(CONFIG).start().await;
    let upload = |query: &'static str| {
        kiln.authed(Method::POST, &format!("/assets/e{query}"))
            .body(jpeg(200, 100, 2))
            .send()
    };
    assert_error(upload("?eager=nope").await.unwrap(), 400, "invalid_param").await;
    assert_error(upload("?other=1").await.unwrap(), 400, "invalid_param").await;
    assert!(
        kiln.stored_objects().await.is_empty(),
        "a refused upload stores nothing"
    );
    assert_eq!(upload("?eager=thumb,hero").await.unwrap().status(), 201);
    let mut widths = Vec::new();
    for _ in 0..100 {
        let metadata = kiln.json("/assets/e/-/metadata").await;
        widths = metadata["variants"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["width"].as_u64())
            .collect();
        if widths.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    widths.sort();
    assert_eq!(widths, [32, 100], "both profiles were made for this entry");
}

#[tokio::test]
async fn async_true_queues_the_list_for_the_job_runner() {
    let kiln = Kiln::builder().config(CONFIG).start().await;
    kiln.upload_ok("q", jpeg(200, 100, 3)).await;
    let response = batch(
        &kiln,
        "/assets/q/-/entry/1/variants?async=true",
        json!(["w=30&format=webp", "profile=hero", "w=50&h=20&fit=cover"]),
    )
    .await;
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["queued"], true);
    let links = body["variants"].as_array().unwrap();
    let widths: Vec<u64> = links.iter().filter_map(|l| l["width"].as_u64()).collect();
    assert_eq!(widths, [30, 100, 50], "planned up front, answered in order");
    let mut made = Vec::new();
    for _ in 0..200 {
        let listing = kiln.json("/assets/q/-/metadata").await;
        made = crate::harness::variant_widths(&listing);
        if made.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    made.sort_unstable();
    assert_eq!(made, [30, 50, 100], "the job runner made each");
    for link in links {
        let fetched = kiln.client.get(link["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(
            fetched.headers()["kiln-cache"],
            "hit",
            "the URL finds what the job made"
        );
    }
    // Refused as the synchronous list is: nothing queued.
    let refused = batch(
        &kiln,
        "/assets/q/-/entry/1/variants?async=true",
        json!(["w=40", "w=abc"]),
    )
    .await;
    assert_error(refused, 400, "invalid_param").await;
    let bad_flag = batch(&kiln, "/assets/q/-/entry/1/variants?async=maybe", json!(["w=40"])).await;
    assert_error(bad_flag, 400, "invalid_param").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        crate::harness::variant_widths(&kiln.json("/assets/q/-/metadata").await).len(),
        3
    );
}
