//! `GET /openapi.json`: the document the server serves is the one in
//! `docs/openapi.json`, and schemathesis finds the server true to it — every
//! operation, through its examples, coverage (negative cases included),
//! fuzzing and stateful phases, on this run's stack.

use std::path::Path;

use crate::harness::{Kiln, key_config, test_python};

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
    crate::harness::assert_error(refused, 405, "method_not_allowed").await;
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
        .args(["--workers", "2", "--report", "junit", "--report-dir"])
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
