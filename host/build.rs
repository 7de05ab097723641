//! Keeps the statically linked codecs' symbols inside `kiln`.
//!
//! libwebp-sys links libwebp 1.6 into the binary. Debian's libwebp has no
//! symbol versions, so without this the linker would export libwebp 1.6's
//! functions and libvips, loading its own libwebp 1.2.4, would call them
//! instead: two versions of one library mixed in one process. With it, only
//! Kiln's own calls reach the static copy. (libjpeg-turbo's symbols need no
//! help: Debian's carry versions, which the static copy's do not match.)
fn main() {
    println!("cargo:rustc-link-arg=-Wl,--exclude-libs,ALL");
}
