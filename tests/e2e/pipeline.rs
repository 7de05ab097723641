//! SPEC §4 and the limits of §3 over HTTP: profiles, eager variants from the
//! durable job queue, preprocessing, LQIP, on-demand modes, pixel, frame,
//! size and time limits, and load shedding.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::harness::{Kiln, assert_error, fails_with_config, fixture, variant_widths};
use crate::images::{decode, jpeg, noisy_png};

const PROFILES: &str = r#"
[profiles.thumb]
w = 32
h = 32
fit = "cover"
format = "webp"

[profiles.wide]
w = 48
"#;

async fn metadata(kiln: &Kiln, path: &str) -> serde_json::Value {
    kiln.json(&format!("/assets/{path}/-/metadata")).await
}

/// Polls until the entry has `count` variants, or fails after `within`.
async fn wait_for_variants(kiln: &Kiln, path: &str, count: usize, within: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let metadata = metadata(kiln, path).await;
        if metadata["variants"].as_array().map_or(0, Vec::len) >= count {
            return metadata;
        }
        assert!(
            start.elapsed() < within,
            "no {count} variants after {within:?}: {metadata}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn profiles_are_listed_and_applied() {
    let kiln = Kiln::builder().config(PROFILES).start().await;
    let profiles: serde_json::Value = kiln.json("/profiles").await;
    assert_eq!(profiles["thumb"]["w"], 32);
    assert_eq!(profiles["thumb"]["fit"], "cover");
    assert_eq!(profiles["wide"]["w"], 48);

    kiln.upload_ok("p", jpeg(200, 100, 1)).await;
    let thumb = kiln.fetch("/assets/p?profile=thumb").await;
    assert_eq!(thumb.headers()["content-type"], "image/webp");
    let image = decode(&thumb.bytes().await.unwrap());
    assert_eq!((image.get_width(), image.get_height()), (32, 32));
    // Explicit parameters override the profile's.
    let wider = decode(&kiln.bytes("/assets/p?profile=thumb&w=64").await);
    assert_eq!((wider.get_width(), wider.get_height()), (64, 32));
    // A profile and the same parameters written out are one variant.
    let spelled = kiln.fetch("/assets/p?w=32&h=32&fit=cover&format=webp").await;
    assert_eq!(spelled.headers()["kiln-cache"], "hit");
}

#[tokio::test]
async fn invalid_profiles_fail_at_start() {
    for (config, key) in [
        ("[profiles.bad]\nw = 0\n", "profiles.bad.w"),
        ("[profiles.bad]\nzoom = 2\n", "profiles.bad.zoom"),
        (
            "[[paths]]\npattern = \"/**\"\neager-variants = [\"missing\"]\n",
            "missing",
        ),
        ("[[paths]]\npattern = \"/**\"\non-demand = \"sometimes\"\n", "sometimes"),
        ("[[paths]]\npattern = \"/**\"\nlqip = [\"pixels\"]\n", "pixels"),
        (
            "[[paths]]\npattern = \"/**\"\npreprocess = { format = \"bmp\" }\n",
            "format",
        ),
    ] {
        let (stderr, _) = fails_with_config(config, &["config", "check"]);
        assert!(stderr.contains(key), "{config:?}: {stderr}");
    }
}

#[tokio::test]
async fn eager_variants_are_made_after_upload_and_survive_a_restart() {
    let config = format!("{PROFILES}\n[[paths]]\npattern = \"/eager/**\"\neager-variants = [\"thumb\", \"wide\"]\n");
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("eager/a", jpeg(300, 200, 1)).await;
    let done = wait_for_variants(&kiln, "eager/a", 2, Duration::from_secs(20)).await;
    assert_eq!(variant_widths(&done), [32, 48]);
    let served = kiln.fetch("/assets/eager/a?profile=thumb").await;
    assert_eq!(served.headers()["kiln-cache"], "hit", "served from the eager variant");
    kiln.upload_ok("elsewhere", jpeg(300, 200, 1)).await;

    // Jobs are rows in the catalog: kill the server the moment an upload
    // returns, and a new process over the same data finishes the work.
    kiln.upload_ok("eager/b", jpeg(300, 200, 2)).await;
    let dir = kiln.stop_keep_dir().await;
    let again = Kiln::builder().config(&config).dir(dir).start().await;
    wait_for_variants(&again, "eager/b", 2, Duration::from_secs(30)).await;
    assert!(
        metadata(&again, "elsewhere").await["variants"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn preprocessing_replaces_the_original() {
    let kiln = Kiln::builder()
        .config(
            r#"
            [[paths]]
            pattern = "/small/**"
            preprocess = { max-width = 100, max-height = 100, format = "webp", q = 70 }
            "#,
        )
        .start()
        .await;
    let stored = kiln.upload_ok("small/big", jpeg(400, 200, 1)).await;
    assert_eq!(stored["original"]["content_type"], "image/webp");
    assert_eq!(stored["original"]["width"], 100);
    assert_eq!(stored["original"]["height"], 50);
    let bytes = kiln.bytes("/assets/small/big").await;
    let image = decode(&bytes);
    assert_eq!((image.get_width(), image.get_height()), (100, 50));
    // Never enlarged.
    let tiny = kiln.upload_ok("small/tiny", jpeg(40, 30, 1)).await;
    assert_eq!(
        (tiny["original"]["width"].as_u64(), tiny["original"]["height"].as_u64()),
        (Some(40), Some(30))
    );
    assert_eq!(tiny["original"]["content_type"], "image/webp");
    // Elsewhere the upload is stored as it came.
    let kept = kiln.upload_ok("big", jpeg(400, 200, 1)).await;
    assert_eq!(kept["original"]["content_type"], "image/jpeg");
}

#[tokio::test]
async fn placeholders_are_computed_at_upload() {
    let kiln = Kiln::builder()
        .config("[[paths]]\npattern = \"/**\"\nlqip = [\"blurhash\", \"thumbhash\"]\n[[paths]]\npattern = \"/plain/**\"\nlqip = []\n")
        .start()
        .await;
    let stored = kiln.upload_ok("p", fixture("path-64.jpg")).await;
    let blurhash = stored["lqip"]["blurhash"].as_str().expect("blurhash");
    assert!(blurhash.len() >= 6, "{blurhash}");
    let thumbhash = stored["lqip"]["thumbhash"].as_str().expect("thumbhash");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(thumbhash)
        .expect("thumbhash is base64");
    assert!(decoded.len() > 5);
    let link: serde_json::Value = kiln.json("/assets/p/-/link?w=10").await;
    assert_eq!(link["lqip"]["blurhash"], blurhash);
    let plain = kiln.upload_ok("plain/p", fixture("path-64.jpg")).await;
    assert!(plain["lqip"].is_null(), "an empty list clears the inherited setting");
}

/// Placeholders describe the bytes that are stored: after a preprocess that
/// replaces the upload they are the replacement's, and one that leaves it
/// as it is keeps the upload's own.
#[tokio::test]
async fn placeholders_describe_the_stored_bytes_after_preprocessing() {
    let kiln = Kiln::builder()
        .config(
            r#"
            [[paths]]
            pattern = "/**"
            lqip = ["blurhash", "thumbhash"]
            [[paths]]
            pattern = "/shrunk/**"
            preprocess = { max-width = 4, max-height = 4, format = "webp", q = 1 }
            [[paths]]
            pattern = "/kept/**"
            preprocess = { max-width = 1000, max-height = 1000 }
            "#,
        )
        .start()
        .await;
    let upload = fixture("path-64.jpg");
    let plain = kiln.upload_ok("plain", upload.clone()).await;
    let kept = kiln.upload_ok("kept/a", upload.clone()).await;
    assert_eq!(kept["original"]["content_type"], "image/jpeg", "{kept}");
    assert_eq!(
        kept["lqip"], plain["lqip"],
        "an unchanged upload keeps its own placeholders"
    );

    let shrunk = kiln.upload_ok("shrunk/a", upload).await;
    assert_eq!(shrunk["original"]["content_type"], "image/webp", "{shrunk}");
    assert_eq!(shrunk["original"]["width"], 4);
    let stored = kiln.fetch("/assets/shrunk/a").await.bytes().await.unwrap().to_vec();
    let again = kiln.upload_ok("again", stored).await;
    assert!(shrunk["lqip"]["blurhash"].is_string(), "{shrunk}");
    assert_eq!(shrunk["lqip"], again["lqip"], "the placeholders are the stored WebP's");
    assert_ne!(shrunk["lqip"], plain["lqip"]);
}

#[tokio::test]
async fn on_demand_modes() {
    let config = format!(
        "{PROFILES}\n[[paths]]\npattern = \"/profiles-only/**\"\non-demand = \"profiles-only\"\n\
         [[paths]]\npattern = \"/fixed/**\"\non-demand = \"disabled\"\neager-variants = [\"thumb\"]\n"
    );
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("profiles-only/a", jpeg(100, 100, 1)).await;
    assert_eq!(kiln.status("/assets/profiles-only/a?profile=wide").await, 200);
    assert_eq!(kiln.status("/assets/profiles-only/a").await, 200);
    let refused = kiln.fetch("/assets/profiles-only/a?w=10").await;
    assert_error(refused, 403, "on_demand_restricted").await;
    let refused = kiln.fetch("/assets/profiles-only/a?profile=wide&q=5").await;
    assert_error(refused, 403, "on_demand_restricted").await;

    kiln.upload_ok("fixed/a", jpeg(100, 100, 1)).await;
    assert_eq!(kiln.status("/assets/fixed/a").await, 200, "originals are served");
    let refused = kiln.fetch("/assets/fixed/a?w=10").await;
    assert_error(refused, 403, "on_demand_disabled").await;
    wait_for_variants(&kiln, "fixed/a", 1, Duration::from_secs(20)).await;
    let eager = kiln.fetch("/assets/fixed/a?profile=thumb").await;
    assert_eq!(eager.status(), 200, "eager variants are served");
    assert_eq!(eager.headers()["kiln-cache"], "hit");
}

#[tokio::test]
async fn pixel_and_frame_limits_refuse_uploads() {
    let kiln = Kiln::builder()
        .config("[limits]\nmax-input-pixels = 2000\nmax-frames = 4\n")
        .start()
        .await;
    let error = assert_error(kiln.upload("big", fixture("path-64.jpg")).await, 422, "image_too_large").await;
    assert!(error["message"].as_str().unwrap().contains("64x40"), "{error}");
    assert_error(
        kiln.upload("anim", fixture("boats-8frames.gif")).await,
        422,
        "too_many_frames",
    )
    .await;
    kiln.upload_ok("small", jpeg(40, 40, 1)).await;
    assert_eq!(kiln.stored_objects().await.len(), 1);

    // A PNG header that claims 100000x100000 is refused before decoding.
    let mut claim = crate::images::png(1, 1, 0);
    claim[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    claim[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32fast::hash(&claim[12..29]);
    claim[29..33].copy_from_slice(&crc.to_be_bytes());
    let started = Instant::now();
    let response = kiln.upload("claim", claim).await;
    assert!(response.status().is_client_error(), "{}", response.status());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn slow_transforms_time_out_and_a_full_queue_sheds_load() {
    let kiln = Kiln::builder()
        .config("[limits]\ntransform-timeout-ms = 300\ntransform-workers = 1\ntransform-queue = 0\n")
        .start()
        .await;
    kiln.upload_ok("noise", noisy_png(1500, 1500)).await;
    let slow = "/assets/noise?blur=100&format=png";
    assert_error(kiln.fetch(slow).await, 422, "transform_timeout").await;
    // The worker is freed: a quick request afterwards succeeds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let quick = kiln.fetch("/assets/noise?w=10").await;
    assert_eq!(quick.status(), 200);

    // One worker, no queue: of simultaneous cold requests, the extra ones get 503.
    let mut handles = Vec::new();
    for i in 0..6 {
        let client = kiln.client.clone();
        let url = kiln.url(&format!("/assets/noise?blur=50&w={}", 1000 + i));
        handles.push(tokio::spawn(async move { client.get(url).send().await.unwrap() }));
    }
    let mut overloaded = 0;
    for handle in handles {
        let response = handle.await.unwrap();
        if response.status() == 503 {
            assert_eq!(response.headers()["retry-after"], "1");
            assert_error(response, 503, "overloaded").await;
            overloaded += 1;
        }
    }
    assert!(overloaded >= 1, "a full queue answers 503");
    assert_eq!(kiln.status("/health").await, 200);
}

#[tokio::test]
async fn transformed_deletes_remove_every_object() {
    let kiln = Kiln::start().await;
    for i in 1..=2 {
        kiln.upload_ok(&format!("tree/{i}"), jpeg(60, 40, i)).await;
        for w in [10, 20] {
            assert_eq!(kiln.status(&format!("/assets/tree/{i}?w={w}")).await, 200);
        }
    }
    assert_eq!(kiln.stored_objects().await.len(), 6);
    let delete = kiln
        .authed(Method::DELETE, "/assets/tree/-/recursive")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert!(
        kiln.stored_objects().await.is_empty(),
        "{:?}",
        kiln.stored_objects().await
    );
}
