//! Webhooks (SPEC §8) against a real receiver (`tests/support/webhook_receiver.py`)
//! that verifies every message with the `standardwebhooks` package — the
//! Standard Webhooks reference library, not Kiln's code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::{Kiln, Stack, test_python, wasm};
use crate::images::jpeg;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ALL_EVENTS: &str = r#"["asset.created", "asset.updated", "asset.deleted", "variant.created", "variant.failed"]"#;

struct Receiver {
    _child: Child,
    url: String,
}

impl Receiver {
    async fn start(args: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/webhook_receiver.py");
        let mut child = Command::new(test_python())
            .arg(script)
            .args(["--secret", SECRET])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the webhook receiver");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read the receiver") {
                if let Some(port) = line.strip_prefix("listening on ") {
                    return port.to_owned();
                }
            }
            panic!("the receiver exited before listening")
        })
        .await
        .expect("the receiver started within 30 s");
        Self {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Every attempt the receiver has seen.
    async fn received(&self) -> Vec<Value> {
        let listing: Value = reqwest::get(format!("{}/received", self.url))
            .await
            .expect("ask the receiver")
            .json()
            .await
            .expect("the receiver's JSON");
        listing.as_array().cloned().unwrap_or_default()
    }

    /// Waits (up to a minute) until `enough` holds of what was received.
    async fn until(&self, what: &str, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let received = self.received().await;
            if enough(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "waited a minute for {what}; received {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn config(&self, extra: &str) -> String {
        format!(
            "[[webhooks]]\nname = \"app\"\nurl = \"{}/hook\"\nsecret = \"{SECRET}\"\nevents = {ALL_EVENTS}\n\
             retry-schedule-seconds = [0.3, 0.3, 0.3]\n{extra}",
            self.url
        )
    }
}

fn types(received: &[Value]) -> Vec<&str> {
    received
        .iter()
        .map(|r| r["body"]["type"].as_str().unwrap_or(""))
        .collect()
}

fn delivered(received: &[Value]) -> Vec<&Value> {
    received.iter().filter(|r| r["answered"] == 200).collect()
}

#[tokio::test]
async fn every_event_arrives_signed_in_the_standard_format() {
    let receiver = Receiver::start(&[]).await;
    let config = receiver.config("")
        + &format!("[plugins.trap]\npath = \"{}\"\n", wasm("trap"))
        + "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"trap\"]\n";
    let kiln = Kiln::builder().config(&config).start().await;
    let created = kiln.upload_ok("users/7/avatar", jpeg(64, 48, 1)).await;
    assert_eq!(kiln.status("/assets/users/7/avatar?w=32&format=webp").await, 200);
    assert_eq!(kiln.status("/assets/users/7/avatar?w=30&fx=trap").await, 422);
    let updated = kiln
        .authed(Method::PUT, "/assets/users/7/avatar/-/entry/1")
        .json(&json!({ "alt": "a face" }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let deleted = kiln
        .authed(Method::DELETE, "/assets/users/7/avatar/-/entry/1")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());

    let received = receiver.until("five events", |r| r.len() >= 5).await;
    let mut kinds = types(&received);
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "asset.created",
            "asset.deleted",
            "asset.updated",
            "variant.created",
            "variant.failed"
        ]
    );
    for message in &received {
        assert_eq!(message["verified"], true, "standardwebhooks verifies {message}");
        assert!(message["id"].as_str().unwrap().starts_with("msg_"));
        let body = &message["body"];
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");
        assert_eq!(body["data"]["path"], "/users/7/avatar", "{body}");
        assert_eq!(body["data"]["entry"], 1, "{body}");
    }
    let by_type: BTreeMap<&str, &Value> = received
        .iter()
        .map(|r| (r["body"]["type"].as_str().unwrap(), &r["body"]["data"]))
        .collect();
    // The entry as the API's metadata shows it.
    assert_eq!(by_type["asset.created"]["original"], created["original"]);
    assert_eq!(by_type["asset.updated"]["alt"], "a face");
    assert_eq!(by_type["variant.created"]["variant"]["width"], 32);
    assert_eq!(by_type["variant.created"]["variant"]["content_type"], "image/webp");
    assert_eq!(by_type["variant.failed"]["error"], "plugin_failed");
    assert!(
        by_type["variant.failed"]["transformation"]
            .as_str()
            .unwrap()
            .contains("fx=trap")
    );
    let ids: BTreeSet<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5, "each event its own webhook-id");
}

#[tokio::test]
async fn an_endpoint_failing_twice_gets_each_event_once_more_under_one_id() {
    let receiver = Receiver::start(&["--fail", "2", "--status", "503"]).await;
    let kiln = Kiln::builder().config(&receiver.config("")).start().await;
    for i in 0..3 {
        kiln.upload_ok(&format!("retry/{i}"), jpeg(16, 16, i)).await;
    }
    let received = receiver.until("three deliveries", |r| delivered(r).len() >= 3).await;
    // Settled: no further attempt follows a delivery.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received_later = receiver.received().await;
    assert_eq!(received_later.len(), received.len(), "nothing after the deliveries");
    assert_eq!(received.len(), 9, "two failures and one delivery each: {received:#?}");
    let mut attempts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for message in &received {
        assert_eq!(message["verified"], true);
        attempts
            .entry(message["id"].as_str().unwrap())
            .or_default()
            .push(message["answered"].as_u64().unwrap());
    }
    assert_eq!(attempts.len(), 3, "one webhook-id per event on every attempt");
    for answers in attempts.values() {
        assert_eq!(answers, &[503, 503, 200]);
    }
    let states = kiln.authed(Method::GET, "/api/webhooks").send().await.unwrap();
    let states: Value = states.json().await.unwrap();
    let app = &states["webhooks"][0];
    assert_eq!(
        (app["name"].as_str(), app["state"].as_str()),
        (Some("app"), Some("enabled"))
    );
    assert_eq!(app["pending"], 0);
    assert_eq!(app["last_outcome"], "HTTP 200");
    let metrics = kiln
        .authed(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (series, value) in [
        (
            r#"kiln_webhook_deliveries_total{endpoint="app",outcome="rejected"} "#,
            "6",
        ),
        (
            r#"kiln_webhook_deliveries_total{endpoint="app",outcome="delivered"} "#,
            "3",
        ),
    ] {
        let line = metrics.lines().find(|line| line.starts_with(series));
        assert_eq!(
            line.and_then(|l| l.strip_prefix(series)),
            Some(value),
            "{series} in\n{metrics}"
        );
    }
}

#[tokio::test]
async fn retry_after_sets_the_next_attempt() {
    // The schedule says 0.3 s; the endpoint asks for 3 s.
    let receiver = Receiver::start(&["--fail", "1", "--retry-after", "3"]).await;
    let kiln = Kiln::builder().config(&receiver.config("")).start().await;
    kiln.upload_ok("later", jpeg(16, 16, 1)).await;
    let first = receiver.until("a first attempt", |r| !r.is_empty()).await;
    // Well past the schedule's wait: still only the first attempt.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().await.len(), 1, "the retry waits for Retry-After");
    let all = receiver.until("the retry", |r| r.len() >= 2).await;
    assert_eq!(all[1]["id"], first[0]["id"]);
    assert_eq!(all[1]["answered"], 200);
    let (t0, t1): (u64, u64) = (
        all[0]["timestamp"].as_str().unwrap().parse().unwrap(),
        all[1]["timestamp"].as_str().unwrap().parse().unwrap(),
    );
    assert!(t1 >= t0 + 2, "the retry came {} s after the first attempt", t1 - t0);
}

#[tokio::test]
async fn gone_disables_the_endpoint_until_a_replay() {
    let gone = Receiver::start(&["--gone"]).await;
    let kiln = Kiln::builder().config(&gone.config("")).start().await;
    kiln.upload_ok("g/1", jpeg(16, 16, 1)).await;
    gone.until("the first attempt", |r| !r.is_empty()).await;
    kiln.upload_ok("g/2", jpeg(16, 16, 2)).await;
    let webhooks = || async {
        let response = kiln.authed(Method::GET, "/api/webhooks").send().await.unwrap();
        response.json::<Value>().await.unwrap()["webhooks"][0].clone()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = loop {
        let state = webhooks().await;
        if state["pending"] == 1 || Instant::now() > deadline {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(state["state"], "disabled", "{state}");
    assert_eq!(state["pending"], 1, "the later event waits: {state}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(gone.received().await.len(), 1, "a disabled endpoint is not called");

    let replay = kiln
        .authed(Method::POST, "/api/webhooks/app/replay?since=2000-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.json::<Value>().await.unwrap()["queued"], 1, "the failed message");
    let received = gone.until("both messages after the replay", |r| r.len() >= 3).await;
    let ids: BTreeSet<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.len(),
        2,
        "the replay resends under the same webhook-id: {received:#?}"
    );

    for (path, status, code) in [
        ("/api/webhooks/nobody/replay?since=2000-01-01", 404, "not_found"),
        ("/api/webhooks/app/replay", 400, "invalid_param"),
        ("/api/webhooks/app/replay?since=yesterday", 400, "invalid_param"),
        ("/api/webhooks/app/replay?since=2000-01-01&x=1", 400, "invalid_param"),
    ] {
        let response = kiln.authed(Method::POST, path).send().await.unwrap();
        crate::harness::assert_error(response, status, code).await;
    }
    let wrong_method = kiln
        .authed(Method::GET, "/api/webhooks/app/replay")
        .send()
        .await
        .unwrap();
    crate::harness::assert_error(wrong_method, 405, "method_not_allowed").await;
    let anonymous = kiln.client.get(kiln.url("/api/webhooks")).send().await.unwrap();
    crate::harness::assert_error(anonymous, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_restart_between_attempts_loses_nothing() {
    // The first attempt fails; the next is due about 5 s later.
    let receiver = Receiver::start(&["--fail", "1"]).await;
    let config = receiver.config("").replace("[0.3, 0.3, 0.3]", "[5]");
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("restart/a", jpeg(16, 16, 1)).await;
    receiver.until("the first attempt", |r| !r.is_empty()).await;
    // Killed (not stopped) before the retry is due.
    let key = kiln.key.clone().expect("the development key");
    let dir = kiln.stop_keep_dir().await;
    let restarted = Kiln::builder().dir(dir).config(&config).key(&key).start().await;
    let states: Value = restarted
        .authed(Method::GET, "/api/webhooks")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app = &states["webhooks"][0];
    assert_eq!(app["pending"], 1, "the restart kept the owed message: {states}");
    assert!(app["last_outcome"].as_str().unwrap().contains("500"), "{states}");
    let received = receiver.until("the delivery", |r| !delivered(r).is_empty()).await;
    assert_eq!(received.len(), 2, "{received:#?}");
    assert_eq!(
        received[0]["id"], received[1]["id"],
        "one message, one id, across the restart"
    );
}

#[tokio::test]
async fn a_dead_endpoint_holds_neither_uploads_nor_other_endpoints() {
    let hanging = Receiver::start(&["--hang"]).await;
    let healthy = Receiver::start(&[]).await;
    let config = hanging.config("timeout-ms = 60000\n")
        + &format!(
            "[[webhooks]]\nname = \"healthy\"\nurl = \"{}/hook\"\nsecret = \"{SECRET}\"\nevents = {ALL_EVENTS}\n",
            healthy.url
        );
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("dead/0", jpeg(16, 16, 0)).await;
    hanging
        .until("the first attempt, never answered", |r| !r.is_empty())
        .await;
    // While that attempt hangs, uploads, reads and deletes go on.
    for i in 1..10 {
        kiln.upload_ok(&format!("dead/{i}"), jpeg(16, 16, i)).await;
    }
    assert_eq!(kiln.status("/assets/dead/1?w=8").await, 200);
    let deleted = kiln.authed(Method::DELETE, "/assets/dead/1").send().await.unwrap();
    assert!(deleted.status().is_success());
    // The other endpoint hears everything while the dead one holds its own.
    let heard = healthy
        .until("every event at the healthy endpoint", |r| r.len() >= 12)
        .await;
    assert!(heard.iter().all(|r| r["verified"] == true && r["answered"] == 200));
    let held = hanging.received().await;
    assert!(
        held.iter().all(|r| r["answered"].is_null()),
        "the dead endpoint answered nothing"
    );
    assert!(
        held.len() <= 4,
        "at most four attempts at once to one endpoint: {}",
        held.len()
    );
}

#[tokio::test]
async fn paths_and_events_choose_what_an_endpoint_hears() {
    let receiver = Receiver::start(&[]).await;
    let hash = hex::encode(Sha256::digest(b"admin-key"));
    let config = format!(
        "[[webhooks]]\nname = \"users\"\nurl = \"{}/hook\"\nsecret = \"{SECRET}\"\nevents = [\"asset.deleted\"]\n\
         paths = [\"/users/**\"]\n\
         [[api-keys]]\nname = \"admin\"\nsha256 = \"{hash}\"\nscopes = [\"read\", \"write\", \"delete\", \"admin\"]\n",
        receiver.url
    );
    let kiln = Kiln::builder().config(&config).key("admin-key").start().await;
    for path in ["users/1/a", "users/2/a", "products/1/a"] {
        kiln.upload_ok(path, jpeg(16, 16, 1)).await;
        let deleted = kiln
            .authed(Method::DELETE, &format!("/assets/{path}"))
            .send()
            .await
            .unwrap();
        assert!(deleted.status().is_success());
    }
    let received = receiver.until("two deletions", |r| r.len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received_later = receiver.received().await;
    assert_eq!(received_later.len(), received.len(), "{received_later:#?}");
    assert_eq!(types(&received), ["asset.deleted", "asset.deleted"]);
    let paths: BTreeSet<&str> = received
        .iter()
        .map(|r| r["body"]["data"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, BTreeSet::from(["/users/1/a", "/users/2/a"]));
}

#[tokio::test]
async fn two_processes_on_one_postgresql_deliver_each_event_once() {
    let receiver = Receiver::start(&["--fail", "1"]).await;
    let config = receiver.config("");
    let first = Kiln::builder().stack(Stack::PostgresS3).config(&config).start().await;
    let second = Kiln::builder().sharing(&first).config(&config).start().await;
    let uploads = (0..20u8).map(|i| {
        let server = if i % 2 == 0 { &first } else { &second };
        async move { server.upload_ok(&format!("pair/{i}"), jpeg(16, 16, i)).await }
    });
    futures_util::future::join_all(uploads).await;
    receiver.until("twenty deliveries", |r| delivered(r).len() >= 20).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = receiver.received().await;
    assert_eq!(all.len(), 40, "one failed attempt and one delivery per event: {all:#?}");
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for message in delivered(&all) {
        *per_id.entry(message["id"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(per_id.len(), 20);
    assert!(per_id.values().all(|n| *n == 1), "each delivered once: {per_id:?}");
}
