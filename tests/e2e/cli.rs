//! The command line over its real binary (SPEC §8): `generate-secret`,
//! `generate-key`, `version`, `process`, and each one's `--help`.

use std::process::Output;

use sha2::{Digest, Sha256};

use crate::harness::{Kiln, fixture, kiln_cli as kiln, wasm};
use crate::images::{decode, pixel};

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn generate_secret_prints_as_many_as_asked_of_the_length_asked() {
    let dir = tempfile::tempdir().unwrap();
    let one = stdout(&kiln(dir.path(), &["generate-secret"]));
    let lines: Vec<&str> = one.lines().collect();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].len() == 64 && lines[0].chars().all(|c| c.is_ascii_hexdigit()),
        "{one}"
    );

    let three = stdout(&kiln(
        dir.path(),
        &["generate-secret", "--length", "16", "--count", "3"],
    ));
    let lines: Vec<&str> = three.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|line| line.len() == 32));
    assert!(lines[0] != lines[1] && lines[1] != lines[2], "{three}");

    for bad in [["--length", "8"], ["--length", "2000"], ["--count", "0"]] {
        let refused = kiln(dir.path(), &["generate-secret", bad[0], bad[1]]);
        assert!(!refused.status.success(), "{bad:?}");
        assert!(String::from_utf8_lossy(&refused.stderr).contains(bad[0]), "{bad:?}");
    }
}

#[tokio::test]
async fn generate_key_prints_a_key_and_the_lines_that_accept_it() {
    let dir = tempfile::tempdir().unwrap();
    let printed = stdout(&kiln(
        dir.path(),
        &[
            "generate-key",
            "--name",
            "avatars",
            "--scopes",
            "read,write",
            "--prefix",
            "/users",
        ],
    ));
    let key = printed
        .lines()
        .find_map(|line| line.strip_prefix("# kiln_"))
        .map(|rest| format!("kiln_{rest}"))
        .expect("the key, on a comment line");
    let config: toml::Table = toml::from_str(&printed).expect("the output is TOML as it is");
    let entry = &config["api-keys"][0];
    assert_eq!(entry["name"].as_str(), Some("avatars"));
    assert_eq!(
        entry["sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(key.as_bytes()))
    );
    assert!(
        !printed.replace(&format!("# {key}"), "").contains(&key),
        "the key is printed once"
    );

    // Pasted into a config, the key does what its scopes and prefix say.
    let kiln_server = Kiln::builder().config(&printed).key(&key).start().await;
    kiln_server.upload_ok("users/1/avatar", fixture("path-64.png")).await;
    let outside = kiln_server.upload("others/1", fixture("path-64.png")).await;
    assert_eq!(outside.status(), 403);
    let told = kiln_server.get("/api/key").bearer_auth(&key).send().await.unwrap();
    let told: serde_json::Value = told.json().await.unwrap();
    assert_eq!(told["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(told["prefix"], "/users");

    for bad in [
        vec!["--scopes", "read,fly"],
        vec!["--prefix", "users"],
        vec!["--scopes", ""],
    ] {
        let refused = kiln(dir.path(), &[&["generate-key"][..], &bad].concat());
        assert!(!refused.status.success(), "{bad:?} was accepted");
    }
}

#[test]
fn version_names_the_image_libraries_and_plugin_apis() {
    let dir = tempfile::tempdir().unwrap();
    let printed = stdout(&kiln(dir.path(), &["version"]));
    assert!(
        printed.starts_with(&format!("kiln {}\n", env!("CARGO_PKG_VERSION"))),
        "{printed}"
    );
    for expected in [
        "libvips 8.",
        "libjpeg-turbo 3.1",
        "libwebp 1.6",
        "plugin API 0.2.0, 0.1.0",
    ] {
        assert!(printed.contains(expected), "{expected} in {printed}");
    }
}

#[test]
fn every_command_shows_an_example_in_its_help() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["generate-secret", "generate-key", "process", "sign-url", "sign-upload"] {
        let help = stdout(&kiln(dir.path(), &[command, "--help"]));
        assert!(
            help.contains(&format!("kiln {command}")) && help.contains("Example"),
            "{command}: {help}"
        );
    }
}

/// `kiln process` makes what the server makes: the same bytes for the same
/// query, plugins and profiles included; a file it cannot read fails alone.
#[tokio::test]
async fn process_makes_what_the_server_makes() {
    let config = format!(
        "[profiles.thumb]\nw = 24\nh = 24\nfit = \"cover\"\n\n\
         [plugins.invert]\npath = \"{}\"\n\n\
         [[paths]]\npattern = \"/**\"\nallowed-fx = [\"invert\"]\n",
        wasm("invert")
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kiln.toml"), &config).unwrap();
    let inputs = [
        "path-64.jpg",
        "alpha-cups-64.png",
        "exif6-fallenleaf.jpg",
        "path-64.avif",
    ];
    for name in inputs {
        std::fs::write(dir.path().join(name), fixture(name)).unwrap();
    }
    std::fs::write(dir.path().join("broken.jpg"), &fixture("path-64.jpg")[..300]).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();

    let run = |args: &[&str]| {
        let mut all = vec!["--config", "kiln.toml", "process"];
        all.extend_from_slice(args);
        kiln(dir.path(), &all)
    };
    let made = run(&[
        inputs[0],
        inputs[1],
        inputs[2],
        inputs[3],
        "--ops",
        "w=32&format=webp",
        "--out",
        "out",
    ]);
    let summary = stdout(&made);
    assert!(summary.contains("4 of 4 files made"), "{summary}");
    assert!(summary.contains("MiB in") && summary.contains("MiB out"), "{summary}");

    // Results are named after their files; two files of one stem keep their extensions.
    let written = [
        "path-64.jpg.webp",
        "alpha-cups-64.webp",
        "exif6-fallenleaf.webp",
        "path-64.avif.webp",
    ];
    let server = Kiln::builder().config(&config).start().await;
    for (name, result) in inputs.into_iter().zip(written) {
        let path = format!("cli/{}", name.replace('.', "-"));
        server.upload_ok(&path, fixture(name)).await;
        let served = server.bytes(&format!("/assets/{path}?w=32&format=webp")).await;
        let local = std::fs::read(dir.path().join("out").join(result)).unwrap();
        assert_eq!(decode(&local).get_width(), 32, "{name}");
        assert!(served[..] == local[..], "{name}: the server made other bytes");
    }

    // A profile under the ops, and a plugin from the config.
    let themed = run(&[
        inputs[0],
        "--profile",
        "thumb",
        "--ops",
        "fx=invert&format=png",
        "--out",
        "inverted",
    ]);
    stdout(&themed);
    let plain = run(&[inputs[0], "--profile", "thumb", "--ops", "format=png", "--out", "plain"]);
    stdout(&plain);
    let inverted = decode(&std::fs::read(dir.path().join("inverted/path-64.png")).unwrap());
    let original = decode(&std::fs::read(dir.path().join("plain/path-64.png")).unwrap());
    assert_eq!((inverted.get_width(), inverted.get_height()), (24, 24));
    let (a, b) = (pixel(&inverted, 5, 5), pixel(&original, 5, 5));
    assert!((a[0] + b[0] - 255.0).abs() <= 1.0, "{a:?} is not the inverse of {b:?}");

    // Broken and foreign files fail one by one, named; the rest are made; the exit says so.
    let mixed = run(&["broken.jpg", "notes.txt", inputs[0], "--ops", "w=16", "--out", "mixed"]);
    assert!(!mixed.status.success());
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert!(
        stderr.contains("broken.jpg") && stderr.contains("notes.txt"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&mixed.stdout).contains("1 of 3 files made"));
    assert!(dir.path().join("mixed/path-64.jpg").is_file());

    // Bad ops are refused before any file is read, in the server's words.
    let refused = run(&[inputs[0], "--ops", "w=0", "--out", "never"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("w"));
    for (args, said) in [
        (["--ops", "fx=nope"], "there is no transform plugin \"nope\""),
        (["--profile", "nope"], "there is no profile \"nope\""),
    ] {
        let refused = run(&[inputs[0], args[0], args[1], "--out", "never"]);
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains(said), "{args:?}");
    }
    assert!(
        !dir.path()
            .join("never")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    let missing = run(&["no-such-file.jpg", "--ops", "w=16", "--out", "none"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-file.jpg"));
}
