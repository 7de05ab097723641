//! `GET /openapi.json`: the document the server serves is the one in
//! `docs/openapi.json`, and schemathesis finds the server true to it — every
//! operation, through its examples, coverage (negative cases included),
//! fuzzing and stateful phases, on this run's stack.

use std::path::Path;

use reqwest::Method;
use serde_json::json;

use crate::harness::{Kiln, assert_error, key_config, test_python};

const KEY: &str = "key-schemathesis";

#[tokio::test]
async fn the_served_document_is_the_one_in_docs() {
    let kiln = Kiln::start().await;
    let response = kiln.fetch("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.text().await.unwrap();
    let written = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json"))
        .expect("docs/openapi.json");
    assert!(
        served == written,
        "docs/openapi.json is not what the server serves: run `make openapi`"
    );
    let document: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    // The CLI prints the same document.
    let dir = tempfile::tempdir().unwrap();
    let printed = crate::harness::kiln_cli(dir.path(), &["openapi"]);
    assert!(printed.status.success());
    assert!(String::from_utf8_lossy(&printed.stdout) == served);
    let refused = reqwest::Client::new()
        .post(kiln.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_error(refused, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn schemathesis_finds_the_server_true_to_its_document() {
    let config = [
        key_config("schemathesis", KEY, r#"["read", "write", "delete", "admin"]"#, "/"),
        "[signing]\nkeys = [\"6b696c6e2d736368656d617468657369732d6f6e6c79\"]\n\n\
         [profiles.thumb]\nw = 200\nh = 200\nfit = \"cover\"\n"
            .to_owned(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).key(KEY).start().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let schemathesis = test_python().with_file_name("schemathesis");
    let report = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(&schemathesis)
        .arg("--config-file")
        .arg(root.join("tests/openapi/schemathesis.toml"))
        .arg("run")
        .arg(kiln.url("/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {KEY}")])
        // One worker: with one seed, parallel workers make the same paths
        // and undo each other's entries between a step and the next.
        .args(["--workers", "1", "--report", "junit", "--report-dir"])
        .arg(report.path())
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", root.join("tests/openapi"))
        .env("NO_COLOR", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // schemathesis keeps a cache in its working directory.
        .current_dir(report.path())
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis runs (make test installs it)");
    let printed = String::from_utf8_lossy(&output.stdout);
    // Failures name their cases above the summary; the summary alone is enough to read.
    let shown: String = printed
        .chars()
        .rev()
        .take(20_000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert!(
        output.status.success(),
        "schemathesis found the server untrue to its document:\n{shown}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for phase in ["Examples", "Coverage", "Fuzzing", "Stateful"] {
        assert!(
            printed.contains(&format!("✅ {phase}")),
            "the {phase} phase did not pass:\n{shown}"
        );
    }
    assert!(
        printed.contains("Tested: 51"),
        "not every operation was tested:\n{shown}"
    );
    // Entries were made and followed: the stateful phase reached the API's logic.
    let listing = kiln
        .authed(reqwest::Method::GET, "/api/assets?limit=1")
        .send()
        .await
        .unwrap();
    let listing: serde_json::Value = listing.json().await.unwrap();
    assert!(
        listing["entries"].as_array().is_some_and(|e| !e.is_empty()),
        "no upload succeeded: {listing}"
    );
}

/// What schemathesis found, held fixed with plain requests.
#[tokio::test]
async fn what_schemathesis_found_stays_fixed() {
    let config = [
        key_config("schemathesis", KEY, r#"["read", "write", "delete", "admin"]"#, "/"),
        "[signing]\nkeys = [\"6b696c6e2d736368656d617468657369732d6f6e6c79\"]\n".to_owned(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).key(KEY).start().await;
    kiln.upload_ok("found/a", crate::images::png(32, 24, 1)).await;
    kiln.upload_ok("found/b", crate::images::png(32, 24, 2)).await;

    // Without a key, a bad query is not read: 401 comes first.
    for (method, path) in [
        (Method::POST, "/api/webhooks/x/replay?since=0"),
        (Method::GET, "/api/assets?limit=0"),
        (Method::GET, "/api/usage?from=x"),
        (Method::GET, "/api/usage/top?limit=0"),
        (Method::GET, "/api/explain?url="),
        (Method::GET, "/api/key?x=1"),
        (Method::GET, "/api/plugins?x=1"),
        (Method::DELETE, "/api/variants"),
        (Method::GET, "/api/assets/found/a/-/entry/1/variants?x=1"),
    ] {
        let response = reqwest::Client::new()
            .request(method, kiln.url(path))
            .send()
            .await
            .unwrap();
        assert_error(response, 401, "unauthorized").await;
    }

    // A malformed `exp` is refused where no signature is needed too; a well-formed one is ignored there.
    assert_error(kiln.fetch("/assets/found/a?exp=soon").await, 400, "invalid_param").await;
    assert_eq!(kiln.status("/assets/found/a?exp=4102444800").await, 200);

    // A URL ingest with a field it does not take is refused as a body, not fetched.
    let ingest = kiln
        .authed(Method::POST, "/assets/found/c")
        .json(&json!({"url": "http://127.0.0.1:9/a.jpg", "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_error(ingest, 400, "invalid_body").await;

    // `ttl` as JSON Schema's integers: 600.0 is one, 1.5 is not. A `://`
    // in a query is not a scheme: that URL is still a path.
    let sign = |body: serde_json::Value| kiln.authed(Method::POST, "/api/sign").json(&body).send();
    for (body, signed_like) in [
        (
            json!({"url": "/assets/found/a?w=8", "ttl": 600.0}),
            "/assets/found/a?exp=",
        ),
        (
            json!({"url": "/assets/found/a?next=http://b/c"}),
            "/assets/found/a?next=",
        ),
    ] {
        let answer: serde_json::Value = sign(body).await.unwrap().json().await.unwrap();
        let url = answer["url"].as_str().unwrap_or_default();
        assert!(url.starts_with(signed_like) && url.contains("&s="), "{answer}");
    }
    let fractional = sign(json!({"url": "/assets/found/a", "ttl": 1.5})).await.unwrap();
    assert_error(fractional, 400, "invalid_body").await;
    let explained = kiln
        .authed(
            Method::GET,
            "/api/explain?url=%2Fassets%2Ffound%2Fa%3Fnext%3Dhttp%3A%2F%2Fb%2Fc",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(explained.status(), 200);

    // Cursors are `{path}:{entry}`, and any such place resumes the listing.
    let kiln = &kiln;
    let listed = |query: &'static str| async move {
        let response = kiln
            .authed(Method::GET, &format!("/api/assets?{query}"))
            .send()
            .await
            .unwrap();
        response.json::<serde_json::Value>().await.unwrap()
    };
    let page = listed("prefix=found&limit=1").await;
    assert_eq!(page["next_cursor"], "found/a:1");
    let after = listed("prefix=found&cursor=found/a:1").await;
    assert_eq!(after["entries"][0]["path"], "/found/b");
    // Forged cursors, and days looser than YYYY-MM-DD.
    for refused in [
        "/api/assets?cursor=found/a:+1",
        "/api/assets?cursor=found/a:",
        "/api/assets?cursor=found/a",
        "/api/usage?from=2026-1-01",
    ] {
        let response = kiln.authed(Method::GET, refused).send().await.unwrap();
        assert_error(response, 400, "invalid_param").await;
    }

    // An empty `eager` names no profile.
    let eager = kiln
        .authed(Method::POST, "/assets/found/d?eager=")
        .body(crate::images::png(8, 8, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(eager.status(), 201);
}
