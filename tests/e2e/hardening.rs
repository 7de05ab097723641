//! What ordinary clients could do to a server before it was hardened: claim
//! memory and workers, hold connections, poison URLs with their `Host`,
//! outlive their signatures, or read the server's internals from its errors.
//! Each test is the attack, over HTTP, with what must happen instead.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use reqwest::Method;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Kiln, assert_error, fixture, wasm};
use crate::images::{jpeg, png};

const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn results_larger_than_the_memory_budget_are_refused_before_any_work() {
    // The budget is set so that the bounds are the same on any machine.
    let kiln = Kiln::builder()
        .config("[limits]\ntransform-memory-mb = 128\n")
        .start()
        .await;
    kiln.upload_ok("small", jpeg(64, 40, 1)).await;
    kiln.upload_ok("anim", fixture("boats-8frames.gif")).await;
    let before = kiln.peak_rss();
    let started = Instant::now();
    let attacks = [
        "/assets/small?w=8192&h=8192&fit=fill&q=100",
        "/assets/anim?w=8192&h=8192&fit=fill&format=webp",
        "/assets/anim?w=4000&h=4000&fit=fill&format=gif",
        "/assets/small?w=5000&h=5000&fit=cover&format=png",
        "/assets/small?w=4096&h=4096&fit=contain&format=png",
        // libaom holds ~100 bytes a pixel of the result: 4 MP is ~450 MiB.
        "/assets/small?w=2000&h=2000&fit=fill&format=avif",
    ];
    let requests = attacks.iter().map(|path| kiln.fetch(path));
    for response in futures_util::future::join_all(requests).await {
        let body = assert_error(response, 422, "image_too_large").await;
        assert!(body["message"].as_str().unwrap().contains("MiB"), "{body}");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let grown = kiln.peak_rss().saturating_sub(before);
    assert!(grown < 256 * MIB, "peak RSS grew by {} MiB", grown / MIB);
    // What fits is still made, animations included.
    assert_eq!(kiln.status("/assets/small?w=640&h=400&fit=fill").await, 200);
    assert_eq!(kiln.status("/assets/anim?w=96&format=webp").await, 200);
    assert_eq!(kiln.status("/assets/small?w=600&format=avif").await, 200);
    assert!(kiln.stored_objects().await.len() >= 5);
}

/// A server with one worker, held by a plugin that spins for `hold_ms`,
/// where requests wait for it at most `wait_ms`.
async fn one_busy_worker(wait_ms: u64, hold_ms: u64) -> Kiln {
    let config = format!(
        "[limits]\ntransform-workers = 1\ntransform-queue-wait-ms = {wait_ms}\n\
         [plugins.spin]\npath = \"{}\"\ntimeout-ms = {hold_ms}\n\
         [[paths]]\npattern = \"/**\"\nallowed-fx = [\"spin\"]\n",
        wasm("spin")
    );
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("a", jpeg(64, 48, 1)).await;
    kiln
}

#[tokio::test]
async fn waiting_for_a_worker_ends_in_503_with_retry_after() {
    let kiln = one_busy_worker(300, 6000).await;
    let holder = kiln.get("/assets/a?fx=spin&w=40").send();
    let holder = tokio::spawn(holder);
    // Long enough for the holder to reach the worker on a loaded machine.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let response = kiln.fetch("/assets/a?w=41").await;
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, 503, "overloaded").await;
    let held = holder.await.unwrap().unwrap();
    assert_error(held, 422, "plugin_failed").await;
    assert_eq!(kiln.status("/assets/a?w=41").await, 200, "the worker is free again");
}

#[tokio::test]
async fn a_variant_whose_client_went_away_is_finished_for_the_next_one() {
    let kiln = one_busy_worker(10_000, 1500).await;
    kiln.upload_ok("big", jpeg(2400, 1600, 3)).await;
    // Asked for and abandoned at once, while the only worker is busy.
    let holder = tokio::spawn(kiln.get("/assets/a?fx=spin&w=40").send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let abandoned = kiln
        .get("/assets/big?w=1200&format=webp")
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(abandoned.is_err(), "the client gave up");
    let _ = holder.await;
    let started = Instant::now();
    let response = kiln.fetch("/assets/big?w=1200&format=webp").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["kiln-cache"],
        "hit",
        "made by the abandoned request's task"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the next request waited {:?} on a stranded lease",
        started.elapsed()
    );
}

/// Reads from `stream` until the server closes it, or `within` passes.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            _ => {}
        }
    }
    false
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed_and_their_number_capped() {
    let kiln = Kiln::builder()
        .config("[server]\nheader-timeout-ms = 700\nmax-connections = 3\n")
        .start()
        .await;
    let address = kiln.base.trim_start_matches("http://").to_owned();
    let mut idle = TcpStream::connect(&address).await.unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "an idle connection stayed open"
    );

    let mut slow = TcpStream::connect(&address).await.unwrap();
    let head = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    let sending = async {
        for byte in head.iter().chain(b"abcdefghijklmnopqrstuvwxyz".iter()) {
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    sending.await;
    assert!(
        closed_within(&mut slow, Duration::from_secs(3)).await,
        "a header sent a byte at a time was waited for"
    );

    // Three connections held open (each sends a byte now and then, so it is
    // not yet past its header timeout) fill the cap: a fourth client waits.
    let long = Kiln::builder()
        .config("[server]\nheader-timeout-ms = 30000\nmax-connections = 3\n")
        .start()
        .await;
    let address = long.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn({
        let client = long.client.clone();
        let url = long.url("/health");
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "a fourth connection was served past the cap");
    held.pop();
    let status = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    assert_eq!(
        status.unwrap().unwrap().unwrap(),
        200,
        "served once a connection closed"
    );
}

#[tokio::test]
async fn oversized_request_heads_get_json_errors_and_every_response_nosniff() {
    let kiln = Kiln::start().await;
    let long = format!("/assets/a?w=10&{}", "x=1&".repeat(3000));
    assert_error(kiln.fetch(&long).await, 414, "uri_too_long").await;
    let mut request = kiln.get("/health");
    for i in 0..90 {
        request = request.header(format!("x-extra-{i}"), "1");
    }
    assert_error(request.send().await.unwrap(), 431, "headers_too_large").await;
    let big = kiln
        .get("/health")
        .header("x-big", "y".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_error(big, 431, "headers_too_large").await;
    for path in ["/health", "/assets/missing", "/nowhere"] {
        let response = kiln.fetch(path).await;
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

#[tokio::test]
async fn errors_carry_kiln_words_only() {
    let kiln = Kiln::start().await;
    for i in 0..20 {
        kiln.upload_ok(&format!("good/{i}"), jpeg(40, 30, i)).await;
    }
    let mut seen = 0;
    for name in [
        "path-64.jpg",
        "path-64.png",
        "path-64.webp",
        "path-64.avif",
        "path-64.tiff",
    ] {
        let whole = fixture(name);
        for start in [whole.len() / 3, whole.len() / 2, whole.len() * 3 / 4] {
            let mut damaged = whole.clone();
            for byte in &mut damaged[start..(start + 64).min(whole.len())] {
                *byte ^= 0x5a;
            }
            let response = kiln.upload("bad", damaged).await;
            if response.status().is_success() {
                continue;
            }
            seen += 1;
            let body = response.text().await.unwrap();
            let lower = body.to_lowercase();
            for leak in ["vips", "heif", "libjpeg", "png:", "tiff:", "\\n", "wasm"] {
                assert!(!lower.contains(leak), "{name}: {body}");
            }
        }
    }
    assert!(seen > 0, "no damaged file was refused");
}

#[tokio::test]
async fn the_store_staging_directory_is_outside_the_asset_space() {
    let kiln = Kiln::start().await;
    for path in [".tmp", "-tmp", ".staging"] {
        kiln.upload_ok(path, png(8, 8, 1)).await;
        let deleted = kiln
            .authed(Method::DELETE, &format!("/assets/{path}/-/recursive"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204, "{path}");
    }
    assert_error(kiln.upload("-", png(8, 8, 1)).await, 400, "invalid_path").await;
    kiln.upload_ok("after", png(8, 8, 2)).await;
    assert_eq!(kiln.status("/assets/after?w=4").await, 200);
}

#[tokio::test]
async fn only_allowed_hosts_name_the_server_in_urls() {
    let kiln = Kiln::builder()
        .config("[[paths]]\npattern = \"/r/**\"\nreturn-format = \"redirect\"\n")
        .start()
        .await;
    kiln.upload_ok("r/pic", png(8, 8, 1)).await;
    kiln.upload_ok("pic", png(8, 8, 1)).await;
    for path in ["/assets/pic/-/link", "/assets/r/pic?w=4"] {
        let response = kiln.get(path).header("host", "evil.example").send().await.unwrap();
        assert_error(response, 400, "invalid_host").await;
    }
    let port = kiln.base.rsplit(':').next().unwrap().to_owned();
    let link = kiln
        .get("/assets/pic/-/link")
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    let link: serde_json::Value = link.json().await.unwrap();
    assert!(
        link["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://localhost:{port}/")),
        "{link}"
    );

    let named = Kiln::builder()
        .config("[server]\nallowed-hosts = [\"images.example.com\"]\n")
        .start()
        .await;
    named.upload_ok("pic", png(8, 8, 1)).await;
    let response = named
        .get("/assets/pic/-/link")
        .header("host", "images.example.com")
        .send()
        .await
        .unwrap();
    let link: serde_json::Value = response.json().await.unwrap();
    assert!(
        link["url"].as_str().unwrap().starts_with("http://images.example.com/"),
        "{link}"
    );
    let own = named.fetch("/assets/pic/-/link").await;
    assert_error(own, 400, "invalid_host").await;
}

const SIGNING_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn sign(path: &str, canonical_query: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&hex::decode(SIGNING_KEY).unwrap()).unwrap();
    mac.update(format!("{path}?{canonical_query}").as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn key_config(name: &str, key: &str, scopes: &str) -> String {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    format!("[[api-keys]]\nname = \"{name}\"\nsha256 = \"{hash}\"\nscopes = {scopes}\n")
}

#[tokio::test]
async fn minted_urls_expire_with_what_asked_for_them_and_read_keys_stand_in() {
    let config = format!(
        "[signing]\nkeys = [\"{SIGNING_KEY}\"]\n[[paths]]\npattern = \"/private/**\"\nsigning = \"all\"\n{}{}{}",
        key_config("writer", "key-writer", r#"["write"]"#),
        key_config("reader", "key-reader", r#"["read"]"#),
        key_config("elsewhere", "key-elsewhere", r#"["read"]"#).replace("scopes", "prefix = \"/public\"\nscopes"),
    );
    let kiln = Kiln::builder().config(&config).start().await;
    let uploaded = kiln
        .client
        .post(kiln.url("/assets/private/doc"))
        .bearer_auth("key-writer")
        .body(jpeg(80, 60, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);

    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 30;
    let path = "/assets/private/doc/-/link";
    let query = format!("exp={exp}&w=40");
    let link: serde_json::Value = kiln.json(&format!("{path}?{query}&s={}", sign(path, &query))).await;
    let minted = link["url"].as_str().unwrap();
    assert!(
        minted.contains(&format!("exp={exp}")),
        "the minted URL outlives its request: {minted}"
    );
    let fetched = kiln.client.get(minted).send().await.unwrap();
    assert_eq!(fetched.status(), 200, "the minted URL works until then");
    let stretched = minted.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600));
    assert_error(
        kiln.client.get(stretched).send().await.unwrap(),
        403,
        "invalid_signature",
    )
    .await;

    // A key with `read` for the path may stand in for a signature; others may not.
    let read = |key: &'static str| kiln.get("/assets/private/doc?w=30").bearer_auth(key).send();
    assert_eq!(read("key-reader").await.unwrap().status(), 200);
    assert_error(read("key-writer").await.unwrap(), 403, "forbidden").await;
    assert_error(read("key-elsewhere").await.unwrap(), 403, "forbidden").await;
    assert_error(read("not-a-key").await.unwrap(), 401, "unauthorized").await;
    assert_error(kiln.fetch("/assets/private/doc?w=30").await, 403, "invalid_signature").await;
}

#[tokio::test]
async fn label_filters_are_bounded_and_remembered_in_bounded_bytes() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("held", jpeg(16, 16, 1)).await;
    // 18 000 anonymous reads, each with 16 distinct ~450-byte filters: the
    // catalog's remembered answers (misses included) must stay bounded.
    let before = kiln.peak_rss();
    let padding = "v".repeat(440);
    let reads = futures_util::stream::iter(0..18_000).map(|i| {
        let query = (0..16)
            .map(|j| format!("label:k{j}={i:06}{padding}"))
            .collect::<Vec<_>>()
            .join("&");
        let request = kiln.get(&format!("/assets/held?{query}")).send();
        async move { request.await.unwrap().status().as_u16() }
    });
    let statuses: Vec<u16> = futures_util::StreamExt::buffer_unordered(reads, 8).collect().await;
    assert!(statuses.iter().all(|s| *s == 404), "no entry carries those labels");
    let grown = kiln.peak_rss().saturating_sub(before);
    assert!(grown < 64 * MIB, "peak RSS grew by {} MiB", grown / MIB);
    let filters = |n: usize| {
        (0..n)
            .map(|i| format!("label:k{i}={}", "v".repeat(200)))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert_error(
        kiln.fetch(&format!("/assets/a?{}", filters(16))).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        kiln.fetch(&format!("/assets/a?{}", filters(17))).await,
        400,
        "invalid_param",
    )
    .await;
}

#[tokio::test]
async fn sizes_of_extreme_originals_are_refused_not_truncated() {
    let kiln = Kiln::start().await;
    kiln.upload_ok("thread", png(1, 1_048_577, 1)).await;
    for query in ["w=4096", "w=2", "w=100&h=100&fit=cover"] {
        let response = kiln.fetch(&format!("/assets/thread?{query}")).await;
        assert_error(response, 400, "invalid_param").await;
    }
    let response = kiln.fetch("/assets/thread?h=4096").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_unreachable_store_is_503_unavailable_quickly() {
    // Nothing listens on port 9 of loopback: every S3 call is refused.
    let kiln = Kiln::builder()
        .stack(crate::harness::Stack::SqliteFs)
        .config(
            "[storage]\nkind = \"s3\"\nbucket = \"media\"\nendpoint = \"http://127.0.0.1:9\"\n\
             path-style = true\nregion = \"us-east-1\"\naccess-key-id = \"k\"\nsecret-access-key = \"s\"\n",
        )
        .start()
        .await;
    let started = Instant::now();
    let ready = kiln.fetch("/ready").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "/ready took {:?}",
        started.elapsed()
    );
    assert!(ready.headers().contains_key("retry-after"));
    assert_error(ready, 503, "not_ready").await;
    let started = Instant::now();
    let upload = kiln.upload("a", png(8, 8, 1)).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "upload took {:?}",
        started.elapsed()
    );
    assert!(upload.headers().contains_key("retry-after"));
    let body = assert_error(upload, 503, "unavailable").await;
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
    assert_eq!(kiln.status("/assets/a").await, 404, "nothing was recorded");
}

#[tokio::test]
async fn config_check_prints_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[signing]\nkeys = [\"{SIGNING_KEY}\"]\n[database]\nurl = \"postgres://kiln:hunter2@127.0.0.1:1/kiln\"\n\
         [storage]\nkind = \"s3\"\nbucket = \"media\"\naccess-key-id = \"AKID\"\nsecret-access-key = \"s3cr3t\"\n"
    );
    std::fs::write(dir.path().join("kiln.toml"), config).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(dir.path())
        .env("KILN_CONFIG", "kiln.toml")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    for secret in [SIGNING_KEY, "hunter2", "s3cr3t"] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    assert!(printed.contains("<redacted>"), "{printed}");
}

#[tokio::test]
async fn long_plugin_parameters_make_a_variant_on_either_catalog() {
    let config = format!(
        "[plugins.noop]\npath = \"{}\"\n[[paths]]\npattern = \"/**\"\nallowed-fx = [\"noop\"]\n",
        wasm("noop")
    );
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("a", jpeg(64, 48, 1)).await;
    // A variant key of ~6 KB, past what a PostgreSQL btree entry may hold.
    let long = "x".repeat(2000);
    for _ in 0..2 {
        let query = format!("fx=noop&noop.a={long}&noop.b={long}&noop.c={long}&w=40");
        let response = kiln.fetch(&format!("/assets/a?{query}")).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    let metadata = kiln.json("/assets/a/-/metadata").await;
    assert_eq!(
        metadata["variants"].as_array().unwrap().len(),
        1,
        "made once, then found"
    );
}

#[tokio::test]
async fn operators_bound_what_unsigned_urls_can_store() {
    let config = "[limits]\nmax-variants-per-entry = 3\n\
                  [[paths]]\npattern = \"/thumbs/**\"\nmax-output-pixels = 10000\n";
    let kiln = Kiln::builder().config(config).start().await;
    kiln.upload_ok("a", jpeg(200, 100, 1)).await;
    kiln.upload_ok("b", jpeg(200, 100, 2)).await;
    for width in [10, 11, 12] {
        assert_eq!(kiln.status(&format!("/assets/a?w={width}")).await, 200);
    }
    let refused = kiln.fetch("/assets/a?w=13").await;
    assert_error(refused, 422, "too_many_variants").await;
    assert_eq!(
        kiln.status("/assets/a?w=11").await,
        200,
        "the ones it has are still served"
    );
    assert_eq!(kiln.status("/assets/a").await, 200, "and the original");
    assert_eq!(
        kiln.status("/assets/b?w=13").await,
        200,
        "another entry has its own bound"
    );
    assert_eq!(
        kiln.json("/assets/a/-/metadata").await["variants"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    kiln.upload_ok("thumbs/c", jpeg(200, 100, 3)).await;
    assert_eq!(kiln.status("/assets/thumbs/c?w=100&h=100&fit=fill").await, 200);
    let large = kiln.fetch("/assets/thumbs/c?w=101&h=100&fit=fill").await;
    assert_error(large, 400, "invalid_param").await;
    assert_eq!(
        kiln.status("/assets/thumbs/c").await,
        200,
        "the original is not a variant"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_errors_and_logs_name() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let kiln = Kiln::builder()
        .config("[log]\nformat = \"json\"\n")
        .env("KILN_LOG", "info,tower_http=debug")
        .log_to(log.path())
        .start()
        .await;
    let kept = kiln
        .get("/assets/missing")
        .header("x-request-id", "trace_42-A")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace_42-A");
    let body = assert_error(kept, 404, "not_found").await;
    assert_eq!(body["request_id"], "trace_42-A");

    for unusable in ["has space", "a;b", &"x".repeat(65)] {
        let replaced = kiln
            .get("/assets/missing")
            .header("x-request-id", unusable)
            .send()
            .await
            .unwrap();
        let id = replaced.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert_eq!(
            assert_error(replaced, 404, "not_found").await["request_id"],
            id.as_str()
        );
    }
    let ok = kiln.fetch("/health").await;
    assert!(ok.headers().contains_key("x-request-id"));
    let too_long = kiln.fetch(&format!("/assets/a?{}", "x".repeat(9000))).await;
    let id = too_long.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        assert_error(too_long, 414, "uri_too_long").await["request_id"],
        id.as_str()
    );

    // The log is JSON, a line each, and the request's lines carry its id.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(log.path()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines.iter().any(|line| line["span"]["id"] == "trace_42-A"),
        "no log line of the request names its id:\n{text}"
    );
}

#[tokio::test]
async fn auto_format_falls_back_from_avif_when_avif_would_not_fit() {
    let kiln = Kiln::builder()
        .config("[limits]\ntransform-memory-mb = 128\n")
        .start()
        .await;
    kiln.upload_ok("photo", jpeg(2000, 1500, 4)).await;
    let browser = "image/avif,image/webp,*/*";
    let fetch = |query: &'static str| {
        kiln.get(&format!("/assets/photo?{query}"))
            .header("accept", browser)
            .send()
    };
    let small = fetch("w=400&format=auto").await.unwrap();
    assert_eq!(small.headers()["content-type"], "image/avif");
    let large = fetch("w=1600&format=auto").await.unwrap();
    assert_eq!(large.status(), 200);
    assert_eq!(
        large.headers()["content-type"],
        "image/webp",
        "too large to make as AVIF here"
    );
    assert_eq!(large.headers()["vary"], "Accept");
    assert_error(fetch("w=1600&format=avif").await.unwrap(), 422, "image_too_large").await;
}

/// A TCP proxy on loopback to `target` that can be cut: every connection
/// through it is closed and new ones are refused.
struct Cuttable {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Cuttable {
    async fn to(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut stop = watch.clone();
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stop.wait_for(|cut| *cut) => return,
                };
                let Ok((mut client, _)) = accepted else { return };
                let mut stop = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = stop.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { port, cut }
    }

    fn cut(&self) {
        let _ = self.cut.send(true);
    }
}

#[tokio::test]
async fn an_unreachable_catalog_is_503_unavailable_quickly() {
    let Some(server) = std::env::var("E2E_POSTGRES").ok().filter(|s| !s.is_empty()) else {
        return; // `make test` always names one
    };
    let name = format!("kiln_test_down{:08x}", rand::random::<u32>());
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = reqwest::Url::parse(&server).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Cuttable::to(tokio::net::lookup_host(target).await.unwrap().next().unwrap()).await;
    let mut through = url.clone();
    through.set_port(Some(proxy.port)).unwrap();
    let kiln = Kiln::builder()
        .stack(crate::harness::Stack::SqliteFs)
        .config(&format!("[database]\nurl = \"{through}/{name}\"\n"))
        .start()
        .await;
    kiln.upload_ok("a", png(8, 8, 1)).await;
    assert_eq!(kiln.status("/ready").await, 200);

    proxy.cut();
    let started = Instant::now();
    let ready = kiln.fetch("/ready").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "/ready took {:?}",
        started.elapsed()
    );
    assert_error(ready, 503, "not_ready").await;
    for attempt in ["/assets/a", "/assets/a/-/metadata", "/assets/b?w=4"] {
        let started = Instant::now();
        let response = kiln.fetch(attempt).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{attempt} took {:?}",
            started.elapsed()
        );
        assert!(response.headers().contains_key("retry-after"), "{attempt}");
        let body = assert_error(response, 503, "unavailable").await;
        assert!(!body.to_string().contains(&name), "{body}");
    }
    let upload = kiln.upload("c", png(8, 8, 2)).await;
    assert_error(upload, 503, "unavailable").await;
    drop(kiln);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn urls_are_signed_for_admin_keys_without_the_key_leaving_the_server() {
    let config = format!(
        "[signing]\nkeys = [\"{SIGNING_KEY}\"]\n[[paths]]\npattern = \"/private/**\"\nsigning = \"all\"\n{}{}",
        key_config("ops", "key-ops", r#"["admin", "write"]"#),
        key_config("writer", "key-writer", r#"["write"]"#),
    );
    let kiln = Kiln::builder().config(&config).key("key-ops").start().await;
    kiln.upload_ok("private/doc", jpeg(80, 60, 1)).await;
    let sign = |key: &'static str, body: serde_json::Value| {
        kiln.client
            .post(kiln.url("/api/sign"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let signed = sign(
        "key-ops",
        serde_json::json!({"url": "/assets/private/doc?w=40", "ttl": 60}),
    )
    .await
    .unwrap();
    assert_eq!(signed.status(), 200);
    let url = signed.json::<serde_json::Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with("/assets/private/doc?exp=") && url.contains("&s="),
        "{url}"
    );
    assert_eq!(kiln.status(&url).await, 200, "the signature is the server's own");
    let absolute = sign("key-ops", serde_json::json!({"url": kiln.url("/assets/private/doc")}))
        .await
        .unwrap();
    let absolute = absolute.json::<serde_json::Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        absolute.starts_with(&kiln.base) && !absolute.contains("exp="),
        "{absolute}"
    );

    let writer = sign("key-writer", serde_json::json!({"url": "/assets/private/doc"}))
        .await
        .unwrap();
    assert_error(writer, 403, "forbidden").await;
    for (body, code) in [
        (serde_json::json!({"url": "/elsewhere"}), "invalid_body"),
        (serde_json::json!({"url": "/assets/a", "ttl": 0}), "invalid_param"),
        (serde_json::json!({"url": "/assets/a", "extra": 1}), "invalid_body"),
    ] {
        assert_error(sign("key-ops", body).await.unwrap(), 400, code).await;
    }
    assert_error(kiln.fetch("/api/sign").await, 405, "method_not_allowed").await;
}
