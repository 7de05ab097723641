//! `GET /metrics` (SPEC §8): counts that follow a known sequence of
//! requests, behind the `admin` scope on the main listener and open on
//! `metrics.listen`.

use sha2::{Digest, Sha256};

use crate::harness::{Kiln, assert_error, wasm};
use crate::images::jpeg;

fn key_config(name: &str, key: &str, scopes: &str) -> String {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    format!("[[api-keys]]\nname = \"{name}\"\nsha256 = \"{hash}\"\nscopes = {scopes}\n")
}

/// The value of the sample `name{labels}` in an OpenMetrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn counts_follow_the_requests_and_need_an_admin_key() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config = [
        key_config("ops", "key-ops", r#"["admin"]"#),
        key_config("writer", "key-writer", r#"["write"]"#),
        format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
        format!("[plugins.noop]\npath = \"{}\"\n", wasm("noop")),
        "[profiles.thumb]\nw = 32\n".into(),
        "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"noop\"]\n".into(),
        "[[paths]]\npattern = \"/eager/**\"\neager-variants = [\"thumb\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).key("key-writer").start().await;
    kiln.upload_ok("a", jpeg(120, 80, 1)).await;
    for _ in 0..2 {
        assert_eq!(kiln.status("/assets/a?w=50").await, 200);
    }
    assert_eq!(kiln.status("/assets/missing").await, 404);
    assert_eq!(kiln.status("/assets/a?w=999999").await, 400);
    assert_eq!(kiln.status("/assets/a?fx=noop&w=40").await, 200);
    kiln.upload_ok("eager/b", jpeg(64, 48, 2)).await;
    // The eager job runs in the background: wait for its variant.
    for _ in 0..100 {
        let metadata = kiln.json("/assets/eager/b/-/metadata").await;
        if metadata["variants"].as_array().is_some_and(|v| !v.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    assert_error(kiln.fetch("/metrics").await, 401, "unauthorized").await;
    let refused = kiln.get("/metrics").bearer_auth("key-writer").send().await.unwrap();
    assert_error(refused, 403, "forbidden").await;
    let scraped = kiln.get("/metrics").bearer_auth("key-ops").send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = scraped.text().await.unwrap();
    let count = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    let route = r#"route="/assets/{*rest}""#;
    assert_eq!(
        count(&format!(
            r#"kiln_http_requests_total{{{route},method="POST",status="201"}}"#
        )),
        2.0
    );
    assert!(
        count(&format!(
            r#"kiln_http_requests_total{{{route},method="GET",status="200"}}"#
        )) >= 3.0
    );
    assert_eq!(
        count(&format!(
            r#"kiln_http_requests_total{{{route},method="GET",status="404"}}"#
        )),
        1.0
    );
    assert_eq!(
        count(&format!(
            r#"kiln_http_requests_total{{{route},method="GET",status="400"}}"#
        )),
        1.0
    );
    assert_eq!(
        count(r#"kiln_http_requests_total{route="/metrics",method="GET",status="401"}"#),
        1.0
    );
    assert_eq!(count(r#"kiln_transforms_total{format="jpeg",outcome="ok"}"#), 3.0);
    assert_eq!(count(r#"kiln_variant_lookups_total{source="made"}"#), 3.0);
    assert_eq!(count(r#"kiln_plugin_calls_total{plugin="noop",outcome="ok"}"#), 1.0);
    assert_eq!(count(r#"kiln_jobs_total{outcome="done"}"#), 1.0);
    assert!(count(r#"kiln_store_operations_total{operation="put",outcome="ok"}"#) >= 5.0);
    assert_eq!(count(r#"kiln_variant_lookups_total{source="memory"}"#), 1.0);
    assert!(count("kiln_served_bytes_total") > 0.0);
    assert!(count("kiln_process_resident_memory_bytes") > 1e6);
    assert_eq!(count("kiln_pool_busy_workers"), 0.0);
    // Two uploads, each one entry row written.
    assert_eq!(
        count(r#"kiln_catalog_operations_total{operation="insert_entry",outcome="ok"}"#),
        2.0
    );
    assert!(count(r#"kiln_catalog_operations_total{operation="claim_job",outcome="ok"}"#) >= 1.0);
    assert!(count(r#"kiln_catalog_operation_duration_seconds_count{operation="find_entry"}"#) >= 1.0);
    assert_eq!(count("kiln_jobs_queued"), 0.0, "the eager job is done");
    assert_eq!(count("kiln_webhook_outbox_depth"), 0.0);
    assert!(!text.contains("/assets/a"), "no asset path in any label");

    // On its own listener, no key is needed; the main listener's routes are not there.
    let open = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap();
    assert_eq!(open.status(), 200);
    assert!(open.text().await.unwrap().contains("kiln_http_requests_total"));
    let elsewhere = reqwest::get(format!("http://127.0.0.1:{port}/assets/a")).await.unwrap();
    assert_eq!(elsewhere.status(), 404);
}

#[tokio::test]
async fn a_variant_made_for_a_request_says_where_the_time_went() {
    let config = format!(
        "[plugins.noop]\npath = \"{}\"\n[[paths]]\npattern = \"/**\"\nallowed-fx = [\"noop\"]\n",
        wasm("noop")
    );
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("a", jpeg(400, 300, 3)).await;
    for (query, stages) in [
        (
            "w=100&fx=noop",
            &[
                "catalog",
                "original",
                "queue",
                "decode",
                "plugin-noop",
                "encode",
                "store",
            ][..],
        ),
        (
            "w=120&format=png&r=90",
            &["catalog", "original", "queue", "decode", "encode", "store"],
        ),
    ] {
        let made = kiln.fetch(&format!("/assets/a?{query}")).await;
        assert_eq!(made.headers()["kiln-cache"], "miss");
        let timing = made.headers()["server-timing"].to_str().unwrap().to_owned();
        let named: Vec<&str> = timing
            .split(", ")
            .map(|entry| entry.split(';').next().unwrap())
            .collect();
        assert_eq!(named, stages, "{timing}");
        assert!(
            timing.split(", ").all(|entry| entry
                .split_once(";dur=")
                .is_some_and(|(_, ms)| ms.parse::<f64>().is_ok())),
            "{timing}"
        );
        let cached = kiln.fetch(&format!("/assets/a?{query}")).await;
        assert_eq!(cached.headers()["kiln-cache"], "hit");
        assert!(
            !cached.headers().contains_key("server-timing"),
            "only a variant made now has one"
        );
    }
}
