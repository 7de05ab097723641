//! libwebp's lossy encoder (with Kiln's patched files, the default) on
//! images of the fuzzer's sizes and contents: never a crash, and every
//! success is a WebP file. `tests/libwebp/check.py` holds its bytes to the
//! published encoder's; this looks for what breaks it.
#![no_main]

use kiln::internals::encode_webp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let [w, h, flags, quality, samples @ ..] = bytes else {
        return;
    };
    if samples.is_empty() {
        return;
    }
    // Up to 256x256, so that each run stays quick.
    let (width, height) = (i32::from(*w) + 1, i32::from(*h) + 1);
    let alpha = flags & 1 == 1;
    let bands = if alpha { 4 } else { 3 };
    let wanted = (width * height * bands) as usize;
    let image: Vec<u8> = samples.iter().copied().cycle().take(wanted).collect();
    let quality = i32::from(*quality) % 101;
    let encoded = encode_webp(&image, (width, height), alpha, quality).expect("a well-formed image encodes");
    assert!(encoded.starts_with(b"RIFF") && &encoded[8..12] == b"WEBP");
    // A buffer that does not match the size is refused, not read past.
    assert!(encode_webp(&image[..wanted - 1], (width, height), alpha, quality).is_err());
});
