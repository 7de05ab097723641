//! What the compiler needs from outside the Rust code.
//!
//! **Codec symbols.** libwebp-sys links libwebp 1.6 into the binary.
//! Debian's libwebp has no symbol versions, so without `--exclude-libs` the
//! linker would export libwebp 1.6's functions and libvips, loading its own
//! libwebp 1.2.4, would call them instead: two versions of one library mixed
//! in one process. With it, only Kiln's own calls reach the static copy.
//! (libjpeg-turbo's symbols need no help: Debian's carry versions, which the
//! static copy's do not match.) `--exclude-libs` is an option of the ELF
//! linkers (GNU ld, gold, lld); Apple's and Microsoft's do not export a
//! static library's symbols from an executable in the first place.
//!
//! **The console.** `api/console.rs` embeds the folder `EMBEDDED_CONSOLE_DIR`
//! names: `console/dist` once `make console` has built it, otherwise a page
//! that says how to build it, so that `cargo build` alone still succeeds.
//!
//! **Versions.** The libjpeg-turbo that turbojpeg-sys built, for `kiln version`.
//!
//! Cargo also sets these variables when it runs the tests, which start
//! `kiln`: none may begin with `KILN_`, which `kiln` reads as configuration.
use std::path::PathBuf;

fn main() {
    let vendor = std::env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let family = std::env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    if family == "unix" && vendor != "apple" && env != "msvc" {
        println!("cargo:rustc-link-arg=-Wl,--exclude-libs,ALL");
    }

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../console/dist");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let built = manifest.join("../console/dist");
    let folder = if built.join("index.html").is_file() {
        built.canonicalize().expect("console/dist is readable")
    } else {
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("console-unbuilt");
        std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
        std::fs::write(out.join("index.html"), UNBUILT).expect("OUT_DIR is writable");
        out
    };
    println!("cargo:rustc-env=EMBEDDED_CONSOLE_DIR={}", folder.display());

    // libjpeg-turbo has no run-time version call; its headers say which was built.
    let jpeg = std::env::var("DEP_TURBOJPEG_INCLUDE")
        .ok()
        .into_iter()
        .flat_map(|dirs| dirs.split(',').map(PathBuf::from).collect::<Vec<_>>())
        .find_map(|dir| {
            let header = std::fs::read_to_string(dir.join("jconfig.h")).ok()?;
            header.lines().find_map(|line| {
                let version = line.strip_prefix("#define LIBJPEG_TURBO_VERSION")?;
                Some(version.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BUILT_LIBJPEG_TURBO_VERSION={jpeg}");
}

const UNBUILT: &str = "<!doctype html>\n<meta charset=\"utf-8\">\n<title>Kiln console</title>\n\
<p>This <code>kiln</code> was built without its console. Build it with <code>make console</code> \
(Node.js and npm), then build <code>kiln</code> again; <code>make run</code> does both.</p>\n";
