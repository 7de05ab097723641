//! Keeps the statically linked codecs' symbols inside `kiln`.
//!
//! libwebp-sys links libwebp 1.6 into the binary. Debian's libwebp has no
//! symbol versions, so without this the linker would export libwebp 1.6's
//! functions and libvips, loading its own libwebp 1.2.4, would call them
//! instead: two versions of one library mixed in one process. With it, only
//! Kiln's own calls reach the static copy. (libjpeg-turbo's symbols need no
//! help: Debian's carry versions, which the static copy's do not match.)
//!
//! `--exclude-libs` is an option of the ELF linkers (GNU ld, gold, lld);
//! Apple's and Microsoft's do not export a static library's symbols from an
//! executable in the first place.
fn main() {
    let vendor = std::env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let family = std::env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    if family == "unix" && vendor != "apple" && env != "msvc" {
        println!("cargo:rustc-link-arg=-Wl,--exclude-libs,ALL");
    }
}
