//! Writes need an API key with the right scope, inside the key's prefix.

use reqwest::Method;
use sha2::{Digest, Sha256};

use crate::harness::{Kiln, assert_error, key_config};
use crate::images::png;

async fn configured() -> Kiln {
    let config = [
        key_config("all", "key-all", r#"["read", "write", "delete", "admin"]"#, "/"),
        key_config("writer", "key-writer", r#"["write"]"#, "/"),
        key_config("users", "key-users", r#"["write", "delete"]"#, "/users"),
        key_config("reader", "key-reader", r#"["read"]"#, "/"),
    ]
    .concat();
    Kiln::builder().config(&config).start().await
}

fn request(kiln: &Kiln, method: Method, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
    let builder = kiln.client.request(method.clone(), kiln.url(path));
    let builder = match key {
        Some(key) => builder.header("authorization", key),
        None => builder,
    };
    match method {
        Method::POST => builder.body(png(4, 4, 1)),
        Method::PUT => builder.json(&serde_json::json!({"alt": "x"})),
        _ => builder,
    }
}

#[tokio::test]
async fn configured_keys_scopes_and_prefixes() {
    let kiln = configured().await;
    assert!(kiln.key.is_none(), "no development key when keys are configured");
    assert!(!kiln.data().join("dev-api-key.sha256").exists());
    let status = request(&kiln, Method::POST, "/assets/users/1", Some("Bearer key-all"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);

    let writes = [
        (Method::POST, "/assets/users/1"),
        (Method::PUT, "/assets/users/1/-/entry/1"),
        (Method::DELETE, "/assets/users/1/-/entry/1"),
        (Method::DELETE, "/assets/users/-/recursive"),
    ];
    for (method, path) in &writes {
        for header in [
            None,
            Some("Bearer wrong"),
            Some("key-all"),
            Some("Basic a2V5LWFsbA=="),
            Some("Bearer "),
        ] {
            let response = request(&kiln, method.clone(), path, header).send().await.unwrap();
            assert_eq!(
                response.headers().get("www-authenticate").map(|v| v.to_str().unwrap()),
                Some("Bearer")
            );
            assert_error(response, 401, "unauthorized").await;
        }
    }
    // The writer key lacks `delete`, the reader key every write scope; the
    // users key is confined to /users.
    let response = request(&kiln, Method::DELETE, "/assets/users/1", Some("Bearer key-writer"))
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "forbidden").await;
    for (method, path) in &writes {
        let response = request(&kiln, method.clone(), path, Some("Bearer key-reader"))
            .send()
            .await
            .unwrap();
        assert_error(response, 403, "forbidden").await;
    }
    for (method, path) in [
        (Method::POST, "/assets/other/1"),
        (Method::POST, "/assets/usersx/1"),
        (Method::DELETE, "/assets/other/-/recursive"),
    ] {
        let response = request(&kiln, method, path, Some("Bearer key-users"))
            .send()
            .await
            .unwrap();
        assert_error(response, 403, "forbidden").await;
    }
    // Nothing was written by a refused request.
    let metadata: serde_json::Value = kiln.json("/assets/users/1/-/metadata").await;
    assert_eq!(metadata["entry"], 1);
    assert!(metadata["alt"].is_null());
    assert_eq!(kiln.stored_objects().await.len(), 1);

    // Keys that are allowed do their work.
    assert_eq!(
        request(&kiln, Method::POST, "/assets/users/2", Some("Bearer key-users"))
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        request(&kiln, Method::POST, "/assets/anywhere", Some("Bearer key-writer"))
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        request(
            &kiln,
            Method::PUT,
            "/assets/users/1/-/entry/1",
            Some("Bearer key-writer")
        )
        .send()
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(
        request(
            &kiln,
            Method::DELETE,
            "/assets/users/-/recursive",
            Some("Bearer key-users")
        )
        .send()
        .await
        .unwrap()
        .status(),
        204
    );
    // Reads need no key.
    assert_eq!(kiln.status("/assets/anywhere").await, 200);
}

#[tokio::test]
async fn the_development_key_is_printed_once_and_only_its_hash_is_kept() {
    let kiln = Kiln::start().await;
    let key = kiln.key.clone().expect("a development key on first start");
    kiln.upload_ok("dev", png(4, 4, 1)).await;
    let stored = std::fs::read_to_string(kiln.data().join("dev-api-key.sha256")).unwrap();
    assert_eq!(stored.trim(), hex::encode(Sha256::digest(key.as_bytes())));

    let dir = kiln.stop_keep_dir().await;
    let again = Kiln::builder().dir(dir).start().await;
    assert!(again.key.is_none(), "the key is shown only when it is made");
    let response = again
        .client
        .post(again.url("/assets/dev"))
        .bearer_auth(&key)
        .body(png(4, 4, 2))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "the key still works after a restart");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["entry"], 2, "the catalog survived the restart");
}
