//! Scale-out (SPEC §1): several `kiln` processes sharing one PostgreSQL
//! database and one S3 bucket coordinate through the catalog alone; and what
//! only the S3 store does: a bucket per path rule, multipart uploads of large
//! originals, and `redirect` to presigned and templated URLs.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::Method;
use sha2::{Digest, Sha256};

use crate::harness::{Kiln, Stack, create_bucket, s3_keys, s3_object_etag};
use crate::images::{decode, jpeg, noisy_png};

const KEY: &str = "cluster-key";

fn key_config() -> String {
    let hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    format!(
        "[[api-keys]]\nname = \"cluster\"\nsha256 = \"{hash}\"\nscopes = [\"read\", \"write\", \"delete\", \"admin\"]\nprefix = \"/\"\n"
    )
}

/// Two servers on one database and one bucket, with the same API key.
async fn cluster() -> (Kiln, Kiln) {
    cluster_with("").await
}

async fn cluster_with(extra_config: &str) -> (Kiln, Kiln) {
    let config = key_config() + extra_config;
    let first = Kiln::builder()
        .stack(Stack::PostgresS3)
        .config(&config)
        .key(KEY)
        .start()
        .await;
    let second = Kiln::builder().sharing(&first).config(&config).key(KEY).start().await;
    (first, second)
}

#[tokio::test]
async fn fifty_requests_over_two_processes_make_a_variant_once() {
    let (a, b) = cluster().await;
    a.upload_ok("shared/photo", jpeg(640, 400, 3)).await;
    let url = "/assets/shared/photo/-/content?w=200&format=webp&q=70";
    let requests = (0..50).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        async move {
            let response = server.fetch(url).await;
            assert_eq!(response.status(), 200);
            let cache = response.headers()["kiln-cache"].to_str().unwrap().to_owned();
            (cache, response.bytes().await.unwrap())
        }
    });
    let responses = join_all(requests).await;
    let misses = responses.iter().filter(|(cache, _)| cache == "miss").count();
    assert_eq!(misses, 1, "exactly one request made the variant");
    let bodies: BTreeSet<_> = responses.iter().map(|(_, body)| body.clone()).collect();
    assert_eq!(bodies.len(), 1, "every request got the same bytes");
    assert_eq!(decode(bodies.first().unwrap()).get_width(), 200);
    let bucket = &a.shared.as_ref().unwrap().bucket;
    assert_eq!(s3_keys(bucket, None).await.len(), 2, "the original and one variant");
}

#[tokio::test]
async fn twenty_concurrent_posts_over_two_processes_get_distinct_entries() {
    let (a, b) = cluster().await;
    let uploads = (0..20u8).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        async move {
            server.upload_ok("shared/stack", jpeg(32, 32, i)).await["entry"]
                .as_u64()
                .unwrap()
        }
    });
    let entries: BTreeSet<u64> = join_all(uploads).await.into_iter().collect();
    assert_eq!(entries, (1..=20).collect::<BTreeSet<_>>());
    let newest = b.json("/assets/shared/stack/-/metadata").await;
    assert_eq!(newest["entry"], 20);
}

/// A purge through one process reaches what the other remembers: its next
/// request for the variant makes it again, and the purged object is gone
/// from the bucket.
#[tokio::test]
async fn a_purge_through_one_process_is_seen_by_the_other() {
    let (a, b) = cluster().await;
    a.upload_ok("shared/purged", jpeg(64, 64, 5)).await;
    let url = "/assets/shared/purged/-/content?w=32";
    assert_eq!(b.fetch(url).await.headers()["kiln-cache"], "miss");
    assert_eq!(b.fetch(url).await.headers()["kiln-cache"], "hit", "b remembers it");
    let bucket = &a.shared.as_ref().unwrap().bucket;
    let objects = s3_keys(bucket, None).await.len();
    let purged = a
        .authed(Method::DELETE, "/api/assets/shared/purged/-/entry/1/variants")
        .send()
        .await
        .unwrap();
    assert_eq!(purged.status(), 200);
    assert_eq!(
        s3_keys(bucket, None).await.len(),
        objects - 1,
        "the variant's object went"
    );
    assert_eq!(
        b.fetch(url).await.headers()["kiln-cache"],
        "miss",
        "made again, not served from b's memory"
    );
    assert_eq!(a.fetch(url).await.headers()["kiln-cache"], "hit");
}

#[tokio::test]
async fn a_delete_through_one_process_is_seen_by_the_other() {
    let (a, b) = cluster().await;
    a.upload_ok("shared/gone", jpeg(64, 64, 9)).await;
    assert_eq!(b.status("/assets/shared/gone/-/content?w=32").await, 200);
    let deleted = b.authed(Method::DELETE, "/assets/shared/gone").send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(a.status("/assets/shared/gone").await, 404);
    assert_eq!(a.status("/assets/shared/gone/-/content?w=32").await, 404);
    let bucket = &a.shared.as_ref().unwrap().bucket;
    assert!(
        s3_keys(bucket, None).await.is_empty(),
        "the original and variant are gone from S3"
    );
}

#[tokio::test]
async fn eager_jobs_are_shared_between_processes_and_done_once() {
    let config = "[profiles.thumb]\nw = 24\nformat = \"webp\"\n\
                  [[paths]]\npattern = \"/**\"\neager-variants = [\"thumb\"]\n";
    let (a, b) = cluster_with(config).await;
    let uploads = (0..8u8).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        async move { server.upload_ok(&format!("eager/{i}"), jpeg(64, 48, i)).await }
    });
    join_all(uploads).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..8 {
        loop {
            let metadata = b.json(&format!("/assets/eager/{i}/-/metadata")).await;
            if metadata["variants"].as_array().is_some_and(|v| !v.is_empty()) {
                assert_eq!(metadata["variants"].as_array().unwrap().len(), 1, "{metadata}");
                break;
            }
            assert!(Instant::now() < deadline, "eager/{i} has no variant: {metadata}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let shared = a.shared.clone().unwrap();
    assert_eq!(
        s3_keys(&shared.bucket, None).await.len(),
        16,
        "8 originals and 8 variants"
    );
    let catalog = sqlx::PgPool::connect(&shared.database).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&catalog)
        .await
        .unwrap();
    assert_eq!(left, 0, "every job was done and removed");
    catalog.close().await;
}

#[tokio::test]
async fn a_path_rule_picks_the_bucket() {
    let other = create_bucket("kiln-test-avatars").await;
    let config = format!("[[paths]]\npattern = \"/avatars/**\"\nbucket = \"{other}\"\n");
    let kiln = Kiln::builder().stack(Stack::PostgresS3).config(&config).start().await;
    let default = kiln.shared.clone().unwrap().bucket;
    kiln.upload_ok("avatars/7", jpeg(64, 64, 1)).await;
    kiln.upload_ok("posts/7", jpeg(64, 64, 2)).await;
    assert_eq!(kiln.status("/assets/avatars/7/-/content?w=16").await, 200);
    assert_eq!(
        s3_keys(&other, Some("avatars/7/")).await.len(),
        2,
        "the original and its variant are in the rule's bucket"
    );
    assert_eq!(s3_keys(&default, None).await, vec!["posts/7/-/1/original".to_owned()]);
    let deleted = kiln.authed(Method::DELETE, "/assets/avatars/7").send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(s3_keys(&other, Some("avatars/7/")).await.is_empty());
}

#[tokio::test]
async fn large_originals_go_up_in_parts() {
    let kiln = Kiln::builder()
        .stack(Stack::PostgresS3)
        .env("KILN_STORAGE__MULTIPART_PART_BYTES", "5242880")
        .env("KILN_LIMITS__MAX_UPLOAD_BYTES", "20000000")
        .start()
        .await;
    let original = noisy_png(2000, 2000);
    assert!(
        original.len() > 2 * 5_242_880,
        "{} bytes is not three parts",
        original.len()
    );
    kiln.upload_ok("big/noise", original.clone()).await;
    let bucket = &kiln.shared.as_ref().unwrap().bucket;
    let etag = s3_object_etag(bucket, "big/noise/-/1/original").await;
    assert!(
        etag.ends_with("-3\""),
        "a multipart upload of 3 parts has an ETag ending in -3: {etag}"
    );
    let back = kiln.bytes("/assets/big/noise").await;
    assert_eq!(back.len(), original.len());
    assert!(back == original, "the original comes back byte for byte");
}

#[tokio::test]
async fn redirect_to_a_presigned_url() {
    let config = "[[paths]]\npattern = \"/**\"\nredirect = { strategy = \"presigned\", ttl-seconds = 120 }\n";
    let kiln = Kiln::builder().stack(Stack::PostgresS3).config(config).start().await;
    kiln.upload_ok("signed/photo", jpeg(300, 200, 4)).await;
    let response = kiln.fetch("/assets/signed/photo/-/redirect?w=60").await;
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["cache-control"], "private, max-age=60");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("X-Amz-Signature="), "{location}");
    assert!(location.contains("X-Amz-Expires=120"), "{location}");
    let object = reqwest::get(&location).await.unwrap();
    assert_eq!(object.status(), 200, "{location}");
    assert_eq!(
        object.headers()["content-type"],
        "image/jpeg",
        "the store serves the variant as what it is"
    );
    let bytes = object.bytes().await.unwrap();
    assert_eq!(decode(&bytes).get_width(), 60, "the redirect made the variant first");
    // The original, likewise.
    let response = kiln.fetch("/assets/signed/photo/-/redirect").await;
    let original = reqwest::get(response.headers()["location"].to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(original.headers()["content-type"], "image/jpeg");
    // moto does not check signatures, so this is as far as the test can see.
    assert!(
        location.contains("X-Amz-Credential=e2e%2F"),
        "signed with the configured key: {location}"
    );
}

#[tokio::test]
async fn redirect_to_a_template() {
    let config = "[[paths]]\npattern = \"/**\"\n\
                  redirect = { strategy = \"template\", template = \"https://cdn.example.com/{bucket}/{key}\" }\n";
    let kiln = Kiln::builder().stack(Stack::PostgresS3).config(config).start().await;
    kiln.upload_ok("cdn/photo", jpeg(300, 200, 5)).await;
    let bucket = kiln.shared.clone().unwrap().bucket;

    let original = kiln.fetch("/assets/cdn/photo/-/redirect").await;
    assert_eq!(original.status(), 307);
    assert_eq!(
        original.headers()["location"],
        format!("https://cdn.example.com/{bucket}/cdn/photo/-/1/original").as_str()
    );

    let variant = kiln.fetch("/assets/cdn/photo/-/redirect?w=50").await;
    let location = variant.headers()["location"].to_str().unwrap().to_owned();
    let key = location
        .strip_prefix(&format!("https://cdn.example.com/{bucket}/"))
        .unwrap_or_else(|| panic!("{location}"));
    assert!(key.starts_with("cdn/photo/-/1/"), "{key}");
    assert!(
        s3_keys(&bucket, None).await.iter().any(|k| k == key),
        "the variant the template names exists"
    );
}
