//! The raw request path after `/assets/`: a parsed path never holds a
//! segment that could climb out of its tree, and it survives a round trip.
#![no_main]

use kiln::address::{Address, AssetPath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(address) = Address::parse(raw) {
        let path = address.path.as_str();
        assert!(!path.is_empty() && path.len() <= 1024);
        for segment in path.split('/') {
            assert!(!segment.is_empty() && segment != "." && segment != ".." && segment != "-");
            assert!(
                segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
            );
        }
        assert_eq!(
            AssetPath::parse(path).map(|p| p.as_str().to_owned()).ok().as_deref(),
            Some(path)
        );
    }
});
