//! Signed-URL and signed-upload verification on arbitrary queries: never a
//! panic, and nothing verifies that the signer did not sign.
#![no_main]

use kiln::address::AssetPath;
use kiln::auth::signing::Signer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    let signer = Signer::from_hex(&["00112233445566778899aabbccddeeff".to_owned()]).expect("a valid key");
    assert!(signer.verify("/assets/a", query, 0).is_err() || query.contains("s="));
    if let Ok(path) = AssetPath::parse("users/1") {
        let _ = signer.verify_upload(&path, query, 0);
    }
});
