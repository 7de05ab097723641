//! Start, health, readiness, configuration errors, and graceful shutdown.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Kiln, Stack, fails_with_config};
use crate::images::png;

#[tokio::test]
async fn health_and_ready() {
    let kiln = Kiln::start().await;
    let health: serde_json::Value = kiln.json("/health").await;
    assert_eq!(health["status"], "ok");
    let ready = kiln.fetch("/ready").await;
    assert_eq!(ready.status(), 200);
    match &kiln.shared {
        None => {
            assert!(
                kiln.data().join("kiln.db").exists(),
                "SQLite catalog under ./data by default"
            );
            assert!(kiln.data().join("kiln.db-wal").exists(), "the catalog runs in WAL mode");
            assert!(
                kiln.data().join("objects").is_dir(),
                "filesystem store under ./data by default"
            );
            // Take the store away: the server stays alive but is not ready.
            let objects = kiln.data().join("objects");
            std::fs::rename(&objects, kiln.data().join("objects-moved")).unwrap();
        }
        Some(shared) => {
            assert!(!kiln.data().join("kiln.db").exists(), "no SQLite file on postgres-s3");
            crate::harness::delete_bucket(&shared.bucket).await;
        }
    }
    let not_ready = kiln.fetch("/ready").await;
    assert_eq!(not_ready.status(), 503);
    assert!(not_ready.headers().contains_key("retry-after"));
    let body: serde_json::Value = not_ready.json().await.unwrap();
    assert_eq!(body["error"], "not_ready");
    assert_eq!(kiln.status("/health").await, 200);
}

#[tokio::test]
async fn invalid_configuration_fails_at_start_naming_the_key() {
    for (config, key) in [
        ("[server]\nlisten = \"not an address\"\n", "listen"),
        (
            "[[paths]]\npattern = \"/**\"\ncache-controll = \"x\"\n",
            "cache-controll",
        ),
        (
            "[[paths]]\npattern = \"/**\"\nmax-upload-bytes = \"lots\"\n",
            "max-upload-bytes",
        ),
        ("[limits]\nmax-upload-byte = 1\n", "max-upload-byte"),
    ] {
        let (stderr, dir) = fails_with_config(config, &["serve"]);
        assert!(stderr.contains(key), "{config:?}: {stderr}");
        assert!(
            !dir.path().join("data").exists(),
            "nothing is created for an invalid config"
        );
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("KILN_LIMITS__MAX_UPLOAD_BYTES", "plenty")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("MAX_UPLOAD_BYTES")
            || String::from_utf8_lossy(&output.stderr).contains("MAX-UPLOAD-BYTES")
    );
}

#[tokio::test]
async fn environment_overrides_the_file() {
    let kiln = Kiln::builder()
        .config("[limits]\nmax-upload-bytes = 10\n")
        .env("KILN_LIMITS__MAX_UPLOAD_BYTES", "100000")
        .env("KILN_SERVER__PUBLIC_URL", "https://cdn.example.org")
        .start()
        .await;
    kiln.upload_ok("env", png(8, 8, 1)).await;
    let link: serde_json::Value = kiln.json("/assets/env/-/link").await;
    assert_eq!(link["url"], "https://cdn.example.org/assets/env/-/entry/1/content");
}

#[tokio::test]
async fn config_explain_prints_the_merged_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kiln.toml"),
        r#"
        [[paths]]
        pattern = "/users/*/avatar"
        allowed-content-types = ["image/png"]
        [[paths]]
        pattern = "/**"
        cache-control = "public, max-age=60"
        [[paths]]
        pattern = "/users/**"
        cache-control = "private"
        max-upload-bytes = 5000
        "#,
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(dir.path())
        .args(["--config", "kiln.toml", "config", "explain", "/users/42/avatar"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let order: Vec<usize> = ["#   /**", "#   /users/**", "#   /users/*/avatar"]
        .iter()
        .map(|p| stdout.find(p).unwrap_or_else(|| panic!("{p} missing from:\n{stdout}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "less specific first:\n{stdout}");
    assert!(stdout.contains("allowed-content-types = [\"image/png\"]"), "{stdout}");
    assert!(stdout.contains("cache-control = \"private\""), "{stdout}");
    assert!(stdout.contains("max-upload-bytes = 5000"), "{stdout}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(dir.path())
        .args(["--config", "kiln.toml", "config", "explain", "/users/../x"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let kiln = Kiln::start().await;
    let body = png(64, 64, 3);
    let address = kiln.base.trim_start_matches("http://").to_owned();
    let key = kiln.key.clone().unwrap();

    // Send the headers and half the body, then ask the server to stop.
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /assets/inflight HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let half = body.len() / 2;
    stream.write_all(&body[..half]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    kiln.signal_term();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New connections are refused while the in-flight request completes.
    let refused = tokio::net::TcpStream::connect(&address).await;
    assert!(refused.is_err(), "the listener is closed during shutdown");
    stream.write_all(&body[half..]).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let status = kiln.terminate().await;
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_example_config_is_valid() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kiln.toml");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("--config")
        .arg(&example)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn one_process_per_sqlite_file() {
    let first = Kiln::builder().stack(Stack::SqliteFs).start().await;
    first.upload_ok("kept", png(4, 4, 1)).await;
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(first.dir.path())
        .env("KILN_SERVER__LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let second = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("the second process should give up at once")
        .expect("run kiln");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another kiln process is using the SQLite catalog"),
        "{stderr}"
    );
    assert_eq!(first.status("/assets/kept").await, 200, "the first one carries on");

    // The lock goes with the process that held it.
    let dir = first.stop_keep_dir().await;
    let again = Kiln::builder().stack(Stack::SqliteFs).dir(dir).start().await;
    assert_eq!(again.status("/assets/kept").await, 200);
}
