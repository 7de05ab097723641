//! Signed URLs and signed upload URLs (SPEC §6), against a running server.
//! Signatures are computed here from the SPEC's formula, independently of
//! Kiln's own signer, and by `kiln sign-url` / `kiln sign-upload`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use sha2::Sha256;

use crate::harness::{Kiln, assert_error};
use crate::images::{decode, jpeg, png};

pub const NEW_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const OLD_KEY: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn config() -> String {
    format!(
        "[signing]\nkeys = [\"{NEW_KEY}\", \"{OLD_KEY}\"]\n\
         [[paths]]\npattern = \"/private/**\"\nsigning = \"all\"\n\
         [[paths]]\npattern = \"/thumbs/**\"\nsigning = \"transforms\"\n"
    )
}

/// `s` by SPEC §6: HMAC-SHA256 over `path?canonical-query`, base64url without padding.
pub fn signature(key_hex: &str, path: &str, canonical_query: &str) -> String {
    let key = hex::decode(key_hex).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{path}?{canonical_query}").as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn started() -> Kiln {
    let kiln = Kiln::builder().config(&config()).start().await;
    kiln.upload_ok("private/doc", jpeg(200, 100, 1)).await;
    kiln.upload_ok("thumbs/pic", jpeg(200, 100, 2)).await;
    kiln
}

fn kiln_cli(kiln: &Kiln, args: &[&str]) -> String {
    std::fs::write(kiln.dir.path().join("cli.toml"), config()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(kiln.dir.path())
        .env("KILN_CONFIG", "cli.toml")
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn signed_reads_on_a_path_that_signs_everything() {
    let kiln = started().await;
    let path = "/assets/private/doc/-/content";
    assert_error(kiln.fetch(path).await, 403, "invalid_signature").await;
    assert_error(kiln.fetch("/assets/private/doc").await, 403, "invalid_signature").await;

    let s = signature(NEW_KEY, path, "");
    assert_eq!(kiln.status(&format!("{path}?s={s}")).await, 200);

    // Canonical query: sorted by key, so any order (and escaping) verifies.
    let s = signature(NEW_KEY, path, "format=png&w=50");
    let response = kiln.fetch(&format!("{path}?w=50&format=png&s={s}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(decode(&response.bytes().await.unwrap()).get_width(), 50);
    assert_eq!(kiln.status(&format!("{path}?format=%70ng&w=50&s={s}")).await, 200);

    // The old key still verifies (rotation); a wrong key, a changed
    // parameter, another path or a broken signature does not.
    let s_old = signature(OLD_KEY, path, "w=50");
    assert_eq!(kiln.status(&format!("{path}?w=50&s={s_old}")).await, 200);
    let wrong = signature(&"ab".repeat(32), path, "w=50");
    for query in [
        format!("w=50&s={wrong}"),
        format!("w=51&s={s_old}"),
        format!("w=50&s={s_old}x"),
        "w=50&s=%%%".to_owned(),
        "w=50&s=".to_owned(),
    ] {
        assert_error(kiln.fetch(&format!("{path}?{query}")).await, 403, "invalid_signature").await;
    }
    let other = "/assets/private/doc/-/metadata";
    assert_error(
        kiln.fetch(&format!("{other}?w=50&s={s_old}")).await,
        403,
        "invalid_signature",
    )
    .await;

    // `exp` is signed like any other parameter.
    let future = now() + 600;
    let s = signature(NEW_KEY, path, &format!("exp={future}&w=50"));
    assert_eq!(kiln.status(&format!("{path}?w=50&exp={future}&s={s}")).await, 200);
    let later = future + 1;
    assert_error(
        kiln.fetch(&format!("{path}?w=50&exp={later}&s={s}")).await,
        403,
        "invalid_signature",
    )
    .await;
    let past = now() - 10;
    let s = signature(NEW_KEY, path, &format!("exp={past}&w=50"));
    assert_error(
        kiln.fetch(&format!("{path}?w=50&exp={past}&s={s}")).await,
        403,
        "expired",
    )
    .await;
}

#[tokio::test]
async fn transforms_mode_signs_only_transformations() {
    let kiln = started().await;
    assert_eq!(
        kiln.status("/assets/thumbs/pic").await,
        200,
        "the original needs no signature"
    );
    assert_eq!(
        kiln.status("/assets/thumbs/pic?label:kind=x").await,
        404,
        "label filters are not transformations"
    );
    let path = "/assets/thumbs/pic/-/content";
    assert_error(kiln.fetch(&format!("{path}?w=20")).await, 403, "invalid_signature").await;
    let s = signature(NEW_KEY, path, "w=20");
    assert_eq!(kiln.status(&format!("{path}?w=20&s={s}")).await, 200);
    assert_eq!(
        kiln.status("/assets/other/x?w=20").await,
        404,
        "unsigned paths are untouched"
    );
}

#[tokio::test]
async fn links_carry_signatures_that_work() {
    let kiln = started().await;
    let s = signature(NEW_KEY, "/assets/private/doc/-/link", "w=40");
    let link = kiln.json(&format!("/assets/private/doc/-/link?w=40&s={s}")).await;
    let url = link["url"].as_str().unwrap();
    assert!(url.contains("&s=") || url.contains("?s="), "{url}");
    let response = kiln.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(decode(&response.bytes().await.unwrap()).get_width(), 40);

    let link = kiln.json("/assets/thumbs/pic/-/link").await;
    assert!(
        !link["url"].as_str().unwrap().contains("s="),
        "no transformation, no signature: {link}"
    );
    let s = signature(NEW_KEY, "/assets/thumbs/pic/-/link", "w=30");
    let link = kiln.json(&format!("/assets/thumbs/pic/-/link?w=30&s={s}")).await;
    assert_eq!(
        kiln.client
            .get(link["url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn the_cli_signs_urls_and_makes_secrets() {
    let kiln = started().await;
    let signed = kiln_cli(&kiln, &["sign-url", &kiln.url("/assets/private/doc/-/content?w=30")]);
    assert!(signed.starts_with(&kiln.base), "{signed}");
    let response = kiln.client.get(&signed).send().await.unwrap();
    assert_eq!(response.status(), 200, "{signed}");
    assert_eq!(decode(&response.bytes().await.unwrap()).get_width(), 30);

    let expiring = kiln_cli(&kiln, &["sign-url", "--ttl", "60", "/assets/private/doc?w=10"]);
    assert!(expiring.contains("exp="), "{expiring}");
    assert_eq!(kiln.status(&expiring).await, 200);

    let secret = kiln_cli(&kiln, &["generate-secret"]);
    assert_eq!(secret.len(), 64);
    assert!(hex::decode(&secret).is_ok(), "{secret}");
    assert_ne!(secret, kiln_cli(&kiln, &["generate-secret"]));
}

#[tokio::test]
async fn signed_upload_urls() {
    let kiln = started().await;
    let query = kiln_cli(&kiln, &["sign-upload", "/inbox/42", "--ttl", "600"]);
    let post = |path: String, body: Vec<u8>| {
        kiln.client
            .post(kiln.url(&path))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let response = post(format!("/assets/inbox/42/photo?{query}"), png(8, 8, 1))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(kiln.status("/assets/inbox/42/photo").await, 200);

    let outside = post(format!("/assets/inbox/43/photo?{query}"), png(8, 8, 1))
        .await
        .unwrap();
    assert_error(outside, 403, "forbidden").await;
    let sibling = post(format!("/assets/inbox/420?{query}"), png(8, 8, 1)).await.unwrap();
    assert_error(sibling, 403, "forbidden").await;

    let widened = query.replace("prefix=%2Finbox%2F42", "prefix=%2F");
    let response = post(format!("/assets/other?{widened}"), png(8, 8, 1)).await.unwrap();
    assert_error(response, 403, "invalid_signature").await;

    let extra = post(format!("/assets/inbox/42/x?{query}&w=5"), png(8, 8, 1))
        .await
        .unwrap();
    assert_error(extra, 400, "invalid_param").await;

    // Built by hand from the formula: "POST\n" + prefix + "\n" + exp.
    let key = hex::decode(OLD_KEY).unwrap();
    let past = now() - 5;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("POST\n/inbox\n{past}").as_bytes());
    let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    let expired = post(format!("/assets/inbox/1?prefix=/inbox&exp={past}&s={s}"), png(8, 8, 1))
        .await
        .unwrap();
    assert_error(expired, 403, "expired").await;

    // A signed upload URL is for POST only.
    let put = kiln
        .client
        .request(
            Method::PUT,
            kiln.url(&format!("/assets/inbox/42/photo/-/entry/1?{query}")),
        )
        .json(&serde_json::json!({"alt": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(put, 401, "unauthorized").await;
    let delete = kiln
        .client
        .delete(kiln.url(&format!("/assets/inbox/42/photo?{query}")))
        .send()
        .await
        .unwrap();
    assert_error(delete, 401, "unauthorized").await;
    assert_eq!(
        kiln.stored_objects().await.len(),
        3,
        "only the accepted upload was stored"
    );
}
