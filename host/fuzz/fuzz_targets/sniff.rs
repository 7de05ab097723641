//! Content sniffing and the structural probe on arbitrary bytes: never a
//! panic, and an accepted image has sane dimensions of the sniffed format.
#![no_main]

use kiln::internals::{probe, sniff};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let sniffed = sniff(bytes);
    if let Ok(info) = probe(bytes) {
        assert_eq!(Some(info.format), sniffed);
        assert!(info.width >= 1 && info.height >= 1);
    }
});
