//! A path behaves like a stack of entries (SPEC §2): numbering, ordering
//! selectors, label filters, metadata updates and the three deletes.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Kiln, assert_error};
use crate::images::png;

async fn metadata(kiln: &Kiln, path: &str) -> serde_json::Value {
    let response = kiln.fetch(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn content(kiln: &Kiln, path: &str) -> Vec<u8> {
    let response = kiln.fetch(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn newest_entry_wins_and_older_entries_stay_reachable() {
    let kiln = Kiln::start().await;
    let (first, second) = (png(8, 8, 1), png(8, 8, 2));
    let response = kiln.upload("users/123/avatar", first.clone()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["location"], "/assets/users/123/avatar/-/entry/1");
    let response = kiln.upload("users/123/avatar", second.clone()).await;
    assert_eq!(response.headers()["location"], "/assets/users/123/avatar/-/entry/2");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["entry"], 2);
    assert_eq!(body["path"], "/users/123/avatar");

    assert_eq!(content(&kiln, "/assets/users/123/avatar").await, second);
    assert_eq!(content(&kiln, "/assets/users/123/avatar/-/new").await, second);
    assert_eq!(content(&kiln, "/assets/users/123/avatar/-/entry/1").await, first);
    assert_eq!(
        content(&kiln, "/assets/users/123/avatar/-/entry/1/content").await,
        first
    );
    assert_eq!(
        content(&kiln, "/assets/users/123/avatar/-/content/entry/2").await,
        second
    );
    assert_error(kiln.fetch("/assets/users/123/avatar/-/entry/3").await, 404, "not_found").await;
    assert_error(kiln.fetch("/assets/users/123").await, 404, "not_found").await;
}

#[tokio::test]
async fn deleting_the_newest_exposes_the_previous_and_numbers_are_never_reused() {
    let kiln = Kiln::start().await;
    let images: Vec<Vec<u8>> = (1..=3).map(|i| png(8, 8, i)).collect();
    for image in &images {
        kiln.upload_ok("a/b", image.clone()).await;
    }
    let delete = kiln.authed(Method::DELETE, "/assets/a/b").send().await.unwrap();
    assert_eq!(delete.status(), 204);
    assert_eq!(content(&kiln, "/assets/a/b").await, images[1]);
    assert_error(kiln.fetch("/assets/a/b/-/entry/3").await, 404, "not_found").await;

    let delete = kiln
        .authed(Method::DELETE, "/assets/a/b/-/entry/1")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert_eq!(content(&kiln, "/assets/a/b").await, images[1]);
    assert_error(
        kiln.authed(Method::DELETE, "/assets/a/b/-/entry/1")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;

    let next = kiln.upload_ok("a/b", png(8, 8, 9)).await;
    assert_eq!(next["entry"], 4, "entry 3 was deleted, but its number is not reused");
    assert_eq!(kiln.stored_objects().await.len(), 2, "deleted entries leave no objects");
}

#[tokio::test]
async fn recursive_delete_removes_the_tree_and_nothing_beside_it() {
    let kiln = Kiln::start().await;
    for path in ["t", "t/x", "t/x/y", "t/z", "tx", "t.other", "u/t"] {
        kiln.upload_ok(path, png(4, 4, 1)).await;
    }
    let delete = kiln
        .authed(Method::DELETE, "/assets/t/-/recursive")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    for gone in ["t", "t/x", "t/x/y", "t/z"] {
        assert_error(kiln.fetch(&format!("/assets/{gone}")).await, 404, "not_found").await;
    }
    for kept in ["tx", "t.other", "u/t"] {
        assert_eq!(kiln.status(&format!("/assets/{kept}")).await, 200, "{kept}");
    }
    assert_eq!(kiln.stored_objects().await.len(), 3);
    let again = kiln
        .authed(Method::DELETE, "/assets/t/-/recursive")
        .send()
        .await
        .unwrap();
    assert_error(again, 404, "not_found").await;
}

#[tokio::test]
async fn metadata_updates_bump_modified_and_feed_the_modified_selector() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("p", png(4, 4, 1)).await;
    kiln.upload_ok("p", png(4, 4, 2)).await;
    assert_eq!(metadata(&kiln, "/assets/p/-/modified/metadata").await["entry"], 2);

    let update = json!({"alt": "A kite", "labels": {"color": "red"}, "tags": ["sky", "toy"]});
    let response = kiln
        .authed(Method::PUT, "/assets/p/-/entry/1")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let updated: serde_json::Value = response.json().await.unwrap();
    assert_eq!(updated["alt"], "A kite");
    assert_eq!(updated["labels"], json!({"color": "red"}));
    assert_eq!(updated["tags"], json!(["sky", "toy"]));
    assert!(updated["modified_at"].as_str().unwrap() > updated["created_at"].as_str().unwrap());

    assert_eq!(metadata(&kiln, "/assets/p/-/modified/info").await["entry"], 1);
    assert_eq!(
        metadata(&kiln, "/assets/p/-/metadata").await["entry"],
        2,
        "new still means newest created"
    );

    // PUT replaces: what is left out is cleared.
    let response = kiln
        .authed(Method::PUT, "/assets/p/-/entry/1")
        .json(&json!({"alt": "only alt"}))
        .send()
        .await
        .unwrap();
    let replaced: serde_json::Value = response.json().await.unwrap();
    assert_eq!(replaced["labels"], json!({}));
    assert_eq!(replaced["tags"], json!([]));

    let missing = kiln
        .authed(Method::PUT, "/assets/p/-/entry/9")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_error(missing, 404, "not_found").await;
    let bad = kiln
        .authed(Method::PUT, "/assets/p/-/entry/1")
        .json(&json!({"alt": 5}))
        .send()
        .await
        .unwrap();
    assert_error(bad, 400, "invalid_body").await;
    let unknown = kiln
        .authed(Method::PUT, "/assets/p/-/entry/1")
        .json(&json!({"colour": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(unknown, 400, "invalid_body").await;
    let long = kiln
        .authed(Method::PUT, "/assets/p/-/entry/1")
        .json(&json!({"alt": "x".repeat(5000)}))
        .send()
        .await
        .unwrap();
    assert_error(long, 400, "invalid_metadata").await;
    let on_path = kiln
        .authed(Method::PUT, "/assets/p")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_error(on_path, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn label_filters_select_the_newest_entry_carrying_every_label() {
    let kiln = Kiln::start().await;
    for (seed, labels) in [
        (1, json!({"size": "large", "theme": "dark"})),
        (2, json!({"size": "small", "theme": "dark"})),
        (3, json!({"size": "large", "theme": "light"})),
    ] {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(png(4, 4, seed)).file_name("x.png"),
            )
            .text("metadata", json!({"labels": labels}).to_string());
        let response = kiln
            .authed(Method::POST, "/assets/themed")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    for (query, entry) in [
        ("label:size=large", 3),
        ("label:theme=dark", 2),
        ("label:size=large&label:theme=dark", 1),
        ("label:theme=dark&label:size=large", 1),
        ("label:size=small", 2),
    ] {
        let found = metadata(&kiln, &format!("/assets/themed/-/metadata?{query}")).await;
        assert_eq!(found["entry"], entry, "{query}");
    }
    let none = kiln.fetch("/assets/themed?label:size=medium").await;
    assert_error(none, 404, "not_found").await;
    let pinned = kiln.fetch("/assets/themed/-/entry/3/metadata?label:theme=dark").await;
    assert_error(pinned, 404, "not_found").await;
    let encoded = metadata(&kiln, "/assets/themed/-/metadata?label%3Asize=small").await;
    assert_eq!(encoded["entry"], 2, "a percent-encoded colon is the same parameter");
}
