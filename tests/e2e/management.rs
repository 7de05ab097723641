//! The management API (SPEC §8), for keys with the `admin` scope over the
//! prefix they name: `GET /api/assets`, keyset-paged; an entry's variants,
//! listed and purged; purges under a prefix.

use crate::harness::{Kiln, assert_error, key_config, variant_widths};
use crate::images::png;

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

/// An entry's variants are listed and purged; the next request makes a
/// purged variant again (this process remembered it: the memory misses too),
/// and nothing else changes. A prefix purges a subtree and nothing beside it.
#[tokio::test]
async fn variants_are_listed_and_purged_and_made_again() {
    let config = [
        key_config("ops", "key-ops", r#"["admin", "write"]"#, "/"),
        key_config("users-ops", "key-users", r#"["admin"]"#, "/users"),
        key_config("writer", "key-writer", r#"["write", "read"]"#, "/"),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).key("key-ops").start().await;
    let stored = kiln.upload_ok("users/1/a", png(40, 30, 1)).await;
    kiln.upload_ok("users/2/a", png(40, 30, 2)).await;
    kiln.upload_ok("usersx/a", png(40, 30, 3)).await;
    for path in ["users/1/a", "users/2/a", "usersx/a"] {
        for w in [10, 20] {
            let made = kiln.fetch(&format!("/assets/{path}?w={w}")).await;
            assert_eq!(made.headers()["kiln-cache"], "miss", "{path} w={w}");
        }
    }
    let send = |method: reqwest::Method, path: &str, key: &str| {
        kiln.client
            .request(method, kiln.url(path))
            .bearer_auth(key.to_owned())
            .send()
    };
    let variants = |path: &'static str| {
        let url = format!("/api/assets/{path}/-/entry/1/variants");
        let request = send(reqwest::Method::GET, &url, "key-ops");
        async move {
            let response = request.await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            variant_widths(&response.json().await.unwrap())
        }
    };
    assert_eq!(variants("users/1/a").await, [10, 20]);
    assert_eq!(
        kiln.fetch("/assets/users/1/a?w=10").await.headers()["kiln-cache"],
        "hit"
    );

    let purged = send(
        reqwest::Method::DELETE,
        "/api/assets/users/1/a/-/entry/1/variants",
        "key-ops",
    )
    .await
    .unwrap();
    assert_eq!(purged.status(), 200);
    assert_eq!(purged.json::<serde_json::Value>().await.unwrap()["purged"], 2);
    assert!(variants("users/1/a").await.is_empty());
    let again = kiln.fetch("/assets/users/1/a?w=10").await;
    assert_eq!(
        again.headers()["kiln-cache"],
        "miss",
        "made again, not served from memory"
    );
    assert_eq!(crate::images::decode(&again.bytes().await.unwrap()).get_width(), 10);
    assert_eq!(variants("users/1/a").await, [10]);
    let metadata = kiln.json("/assets/users/1/a/-/metadata").await;
    assert_eq!(
        metadata["modified_at"], stored["modified_at"],
        "a purge is not a change to the entry"
    );
    assert_eq!(
        kiln.fetch("/assets/users/2/a?w=20").await.headers()["kiln-cache"],
        "hit"
    );

    // A subtree: users/2 goes, usersx (beside it, not below) stays.
    let purged = send(reqwest::Method::DELETE, "/api/variants?prefix=/users", "key-ops")
        .await
        .unwrap();
    assert_eq!(purged.status(), 200);
    let body: serde_json::Value = purged.json().await.unwrap();
    assert_eq!(
        (body["entries"].as_u64(), body["purged"].as_u64()),
        (Some(2), Some(3)),
        "{body}"
    );
    assert!(variants("users/2/a").await.is_empty());
    assert_eq!(variants("usersx/a").await, [10, 20]);
    assert_eq!(kiln.fetch("/assets/usersx/a?w=20").await.headers()["kiln-cache"], "hit");

    // Who may, and what is refused.
    let entry_url = "/api/assets/usersx/a/-/entry/1/variants";
    assert_error(
        send(reqwest::Method::DELETE, entry_url, "key-users").await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_error(
        send(reqwest::Method::DELETE, entry_url, "key-writer").await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_error(
        kiln.client.delete(kiln.url(entry_url)).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let refused = [
        ("/api/assets/usersx/a/-/entry/9/variants", 404, "not_found"),
        ("/api/assets/usersx/a/-/variants", 400, "invalid_selector"),
        ("/api/assets/usersx/a/-/entry/1", 400, "invalid_selector"),
        ("/api/assets/usersx/a%00/-/entry/1/variants", 400, "invalid_path"),
        ("/api/assets/usersx/a/-/entry/1/variants?all=1", 400, "invalid_param"),
        ("/api/variants", 400, "invalid_param"),
        ("/api/variants?prefix=a/../b", 400, "invalid_param"),
    ];
    for (url, status, code) in refused {
        assert_error(
            send(reqwest::Method::DELETE, url, "key-ops").await.unwrap(),
            status,
            code,
        )
        .await;
    }
    assert_error(
        send(reqwest::Method::POST, entry_url, "key-ops").await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    assert_eq!(variants("usersx/a").await, [10, 20], "nothing refused purged anything");
}

/// `GET /api/key`: any valid key learns its own name, scopes and prefix (the
/// console offers what they allow); nothing else, and nothing to others.
#[tokio::test]
async fn a_key_is_told_what_it_may_do() {
    let config = [
        key_config("ops", "key-ops", r#"["read", "write", "delete", "admin"]"#, "/"),
        key_config("avatars", "key-avatars", r#"["write"]"#, "/users/1/"),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).key("key-ops").start().await;
    for (key, expected) in [
        (
            "key-ops",
            serde_json::json!({"name": "ops", "scopes": ["read", "write", "delete", "admin"], "prefix": "/"}),
        ),
        (
            "key-avatars",
            serde_json::json!({"name": "avatars", "scopes": ["write"], "prefix": "/users/1"}),
        ),
    ] {
        let response = kiln.get("/api/key").bearer_auth(key).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.json::<serde_json::Value>().await.unwrap(), expected);
    }
    assert_error(kiln.get("/api/key").send().await.unwrap(), 401, "unauthorized").await;
    let wrong = kiln.get("/api/key").bearer_auth("key-nobody").send().await.unwrap();
    assert_error(wrong, 401, "unauthorized").await;
    let with_params = kiln
        .get("/api/key?name=ops")
        .bearer_auth("key-ops")
        .send()
        .await
        .unwrap();
    assert_error(with_params, 400, "invalid_param").await;
    let posted = kiln.authed(reqwest::Method::POST, "/api/key").send().await.unwrap();
    assert_error(posted, 405, "method_not_allowed").await;
}

/// `/console/`: the console's files from inside the binary, same-origin only;
/// `/console` leads there; other names under it are JSON 404s.
#[tokio::test]
async fn the_console_is_served_from_the_binary() {
    let kiln = Kiln::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bare = client.get(kiln.url("/console")).send().await.unwrap();
    assert_eq!(bare.status(), 308);
    assert_eq!(bare.headers()["location"], "/console/");
    let page = kiln.get("/console/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    let etag = page.headers()["etag"].clone();
    assert!(page.text().await.unwrap().contains("Kiln"));
    let again = kiln
        .get("/console/")
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_error(
        kiln.get("/console/no-such-file.js").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let posted = kiln.authed(reqwest::Method::POST, "/console/").send().await.unwrap();
    assert_error(posted, 405, "method_not_allowed").await;
}
