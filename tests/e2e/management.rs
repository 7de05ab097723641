//! The management API (SPEC §8): `GET /api/assets`, keyset-paged, for keys
//! with the `admin` scope over the prefix they list.

use sha2::{Digest, Sha256};

use crate::harness::{Kiln, assert_error};
use crate::images::png;

fn key_config(name: &str, key: &str, scopes: &str, prefix: &str) -> String {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    format!("[[api-keys]]\nname = \"{name}\"\nsha256 = \"{hash}\"\nscopes = {scopes}\nprefix = \"{prefix}\"\n")
}

async fn page(kiln: &Kiln, key: &str, query: &str) -> reqwest::Response {
    kiln.get(&format!("/api/assets?{query}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// The `path#entry` of each entry on a page, and its next cursor.
async fn listed(kiln: &Kiln, query: &str) -> (Vec<String>, Option<String>) {
    let response = page(kiln, "key-ops", query).await;
    assert_eq!(response.status(), 200, "{query}");
    let body: serde_json::Value = response.json().await.unwrap();
    let entries = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}#{}", e["path"].as_str().unwrap(), e["entry"]))
        .collect();
    (entries, body["next_cursor"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn entries_under_a_prefix_page_by_page_unmoved_by_inserts() {
    let config = [
        key_config("ops", "key-ops", r#"["admin", "write"]"#, "/"),
        key_config("users-ops", "key-users", r#"["admin"]"#, "/users"),
        key_config("writer", "key-writer", r#"["write"]"#, "/"),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).key("key-ops").start().await;
    for path in [
        "users/1/a",
        "users/1/b",
        "users/1/b",
        "users/2/a",
        "other/x",
        "usersx/y",
    ] {
        kiln.upload_ok(path, png(4, 4, 1)).await;
    }
    let (first, cursor) = listed(&kiln, "prefix=/users&limit=2").await;
    assert_eq!(first, ["/users/1/a#1", "/users/1/b#1"]);
    let cursor = cursor.expect("a full page has a next cursor");
    // One entry before the cursor and one after: the first never shows, the second does.
    kiln.upload_ok("users/0/z", png(4, 4, 2)).await;
    kiln.upload_ok("users/1/c", png(4, 4, 3)).await;
    let (second, cursor) = listed(&kiln, &format!("prefix=users&limit=2&cursor={cursor}")).await;
    assert_eq!(second, ["/users/1/b#2", "/users/1/c#1"]);
    let (third, last) = listed(&kiln, &format!("prefix=users&limit=2&cursor={}", cursor.unwrap())).await;
    assert_eq!((third, last), (vec!["/users/2/a#1".to_owned()], None));
    let (all, _) = listed(&kiln, "").await;
    assert_eq!(all.len(), 8, "{all:?}");
    let entry = &page(&kiln, "key-ops", "prefix=other")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["entries"][0];
    assert_eq!(entry["original"]["content_type"], "image/png");
    assert!(entry.get("variants").is_none());

    // A key sees only what its prefix holds.
    assert_eq!(page(&kiln, "key-users", "prefix=users/1").await.status(), 200);
    assert_error(page(&kiln, "key-users", "prefix=other").await, 403, "forbidden").await;
    assert_error(page(&kiln, "key-users", "").await, 403, "forbidden").await;
    assert_error(page(&kiln, "key-writer", "").await, 403, "forbidden").await;
    assert_error(kiln.fetch("/api/assets").await, 401, "unauthorized").await;
    for bad in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "cursor=zz!",
        "prefix=a/../b",
        "sort=path",
    ] {
        assert_error(page(&kiln, "key-ops", bad).await, 400, "invalid_param").await;
    }
}
