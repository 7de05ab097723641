//! The usage API (SPEC §8): storage, traffic per day and prefix, the top
//! entries and missing paths, plugin stats — counted by every process,
//! added up in the catalog, bounded whatever clients send.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::{Kiln, Stack, assert_error, wasm};
use crate::images::jpeg;

const KEY: &str = "usage-admin";

fn config(extra: &str) -> String {
    let hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    format!(
        "[[api-keys]]\nname = \"ops\"\nsha256 = \"{hash}\"\nscopes = [\"read\", \"write\", \"delete\", \"admin\"]\n\
         [analytics]\nflush-seconds = 0.2\n{extra}"
    )
}

async fn api(kiln: &Kiln, path: &str) -> Value {
    let response = kiln.authed(Method::GET, path).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// Asks `path` until `enough` holds of the answer (the counts arrive in
/// batches), for up to a minute.
async fn api_until(kiln: &Kiln, path: &str, enough: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = api(kiln, path).await;
        if enough(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "waited a minute on {path}: {answer:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn usage_counts_storage_traffic_and_the_top_lists() {
    let kiln = Kiln::builder().config(&config("")).key(KEY).start().await;
    let mut original_bytes = 0;
    for (path, seed) in [("users/1/avatar", 1), ("users/2/avatar", 2), ("products/9/photo", 3)] {
        let created = kiln.upload_ok(path, jpeg(64, 48, seed)).await;
        original_bytes += created["original"]["bytes"].as_u64().unwrap();
    }
    let mut served = 0;
    let mut sent_under_users = 0;
    for (url, times) in [
        ("/assets/users/1/avatar?w=32", 5),
        ("/assets/users/2/avatar", 2),
        ("/assets/products/9/photo?w=16", 1),
    ] {
        for _ in 0..times {
            let response = kiln.fetch(url).await;
            assert_eq!(response.status(), 200);
            let body = response.bytes().await.unwrap().len() as u64;
            if url.contains("users") {
                sent_under_users += body;
            }
            served += 1;
        }
    }
    for (path, times) in [("/assets/users/404", 3), ("/assets/nothing/here", 1)] {
        for _ in 0..times {
            assert_eq!(kiln.status(path).await, 404);
        }
    }

    let all = api_until(&kiln, "/api/usage", |u| u["traffic"]["requests"] == served).await;
    assert_eq!(all["storage"]["originals"]["count"], 3, "{all:#}");
    assert_eq!(all["storage"]["originals"]["bytes"], original_bytes);
    assert_eq!(all["storage"]["variants"]["count"], 2, "w=32 and w=16");
    let days = all["traffic"]["days"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{all:#}");
    assert_eq!(days[0]["requests"], served);

    let users = api(&kiln, "/api/usage?prefix=users").await;
    assert_eq!(users["storage"]["originals"]["count"], 2);
    assert_eq!(users["traffic"]["requests"], 7);
    assert_eq!(users["traffic"]["bytes"], sent_under_users);
    // Traffic is kept per two segments: a deeper prefix is answered for its first two.
    let deeper = api(&kiln, "/api/usage?prefix=users/1/avatar").await;
    assert_eq!(deeper["traffic_prefix"], "/users/1");
    assert_eq!(deeper["traffic"]["requests"], 5);
    assert_eq!(deeper["storage"]["originals"]["count"], 1);
    let elsewhere = api(&kiln, "/api/usage?prefix=users&from=2000-01-01&to=2000-01-31").await;
    assert_eq!(elsewhere["traffic"]["requests"], 0, "another period");

    let top = api_until(&kiln, "/api/usage/top?limit=2", |t| {
        t["not_found"].as_array().is_some_and(|n| n.len() == 2)
    })
    .await;
    let entries = top["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{top:#}");
    assert_eq!(
        (entries[0]["path"].as_str(), entries[0]["requests"].as_u64()),
        (Some("/users/1/avatar"), Some(5))
    );
    assert_eq!(
        (entries[1]["path"].as_str(), entries[1]["requests"].as_u64()),
        (Some("/users/2/avatar"), Some(2))
    );
    let missing = top["not_found"].as_array().unwrap();
    assert_eq!(
        (missing[0]["path"].as_str(), missing[0]["requests"].as_u64()),
        (Some("/users/404"), Some(3))
    );
}

#[tokio::test]
async fn a_flood_of_missing_paths_stays_within_the_bound() {
    let kiln = Kiln::builder()
        .config(&config("max-paths-per-day = 20\n"))
        .key(KEY)
        .start()
        .await;
    for i in 0..120 {
        assert_eq!(kiln.status(&format!("/assets/flood/{i}")).await, 404);
    }
    let top = api_until(&kiln, "/api/usage/top?limit=100", |t| {
        let total: u64 = t["not_found"]
            .as_array()
            .map_or(0, |n| n.iter().map(|m| m["requests"].as_u64().unwrap_or(0)).sum());
        total == 120
    })
    .await;
    let missing = top["not_found"].as_array().unwrap();
    assert!(missing.len() <= 21, "at most 20 paths and (other): {}", missing.len());
    let other = missing
        .iter()
        .find(|m| m["path"] == "(other)")
        .expect("the rest under (other)");
    assert!(other["requests"].as_u64().unwrap() >= 100, "{other}");
}

#[tokio::test]
async fn plugin_stats_add_up_calls_and_durations() {
    let noop = wasm("noop");
    let extra = format!("[plugins.noop]\npath = \"{noop}\"\n[[paths]]\npattern = \"/**\"\nallowed-fx = [\"noop\"]\n");
    let kiln = Kiln::builder().config(&config(&extra)).key(KEY).start().await;
    kiln.upload_ok("p", jpeg(64, 48, 1)).await;
    for w in 10..15 {
        assert_eq!(kiln.status(&format!("/assets/p?fx=noop&w={w}")).await, 200);
    }
    let listing = api_until(&kiln, "/api/plugins", |p| p["plugins"][0]["calls"] == 5).await;
    let plugin = &listing["plugins"][0];
    assert_eq!(plugin["name"], "noop");
    assert_eq!(plugin["kinds"][0], "transform");
    let wasm_hash = hex::encode(Sha256::digest(std::fs::read(&noop).unwrap()));
    assert_eq!(plugin["sha256"], wasm_hash);
    assert_eq!(plugin["failures"], serde_json::json!({}));
    let (p50, p99) = (plugin["p50_ms"].as_f64().unwrap(), plugin["p99_ms"].as_f64().unwrap());
    assert!(p50 > 0.0 && p99 >= p50, "{plugin}");
}

#[tokio::test]
async fn the_usage_api_refuses_what_it_cannot_answer() {
    let kiln = Kiln::builder().config(&config("")).key(KEY).start().await;
    for (path, status, code) in [
        ("/api/usage?from=2026-13-01", 400, "invalid_param"),
        ("/api/usage?from=2026-12-08&to=2026-12-01", 400, "invalid_param"),
        ("/api/usage?from=2000-01-01&to=2026-01-01", 400, "invalid_param"),
        ("/api/usage?prefix=../etc", 400, "invalid_param"),
        ("/api/usage?bogus=1", 400, "invalid_param"),
        ("/api/usage/top?limit=0", 400, "invalid_param"),
        ("/api/usage/top?limit=101", 400, "invalid_param"),
        ("/api/plugins?x=1", 400, "invalid_param"),
        ("/api/webhooks?x=1", 400, "invalid_param"),
    ] {
        let response = kiln.authed(Method::GET, path).send().await.unwrap();
        assert_error(response, status, code).await;
    }
    for path in ["/api/usage", "/api/usage/top", "/api/plugins", "/api/webhooks"] {
        assert_error(kiln.fetch(path).await, 401, "unauthorized").await;
        let posted = kiln.authed(Method::POST, path).send().await.unwrap();
        assert_error(posted, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn usage_from_two_processes_adds_up() {
    let first = Kiln::builder()
        .stack(Stack::PostgresS3)
        .config(&config(""))
        .key(KEY)
        .start()
        .await;
    let second = Kiln::builder()
        .sharing(&first)
        .config(&config(""))
        .key(KEY)
        .start()
        .await;
    first.upload_ok("shared/a", jpeg(32, 32, 1)).await;
    for i in 0..10 {
        let server = if i % 2 == 0 { &first } else { &second };
        assert_eq!(server.status("/assets/shared/a").await, 200);
        assert_eq!(server.status("/assets/shared/missing").await, 404);
    }
    let usage = api_until(&second, "/api/usage?prefix=shared", |u| u["traffic"]["requests"] == 10).await;
    assert_eq!(usage["storage"]["originals"]["count"], 1);
    let top = api_until(&first, "/api/usage/top", |t| t["not_found"][0]["requests"] == 10).await;
    assert_eq!(top["entries"][0]["requests"], 10, "{top:#}");
}
