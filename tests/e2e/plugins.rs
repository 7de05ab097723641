//! WebAssembly plugins over HTTP (SPEC §5): validator chains, preprocessors,
//! `fx` transforms and path transforms, plugin identity in variant keys, and
//! containment of hostile plugins. The components are built by `make plugins`.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::harness::{Kiln, assert_error, fails_with_config, wasm};
use crate::images::{decode, jpeg, noisy_png, pixel};

fn plugin(name: &str, extra: &str) -> String {
    format!("[plugins.{name}]\npath = \"{}\"\n{extra}\n", wasm(name))
}

async fn png_of(kiln: &Kiln, target: &str) -> rs_vips::VipsImage {
    let response = kiln.fetch(target).await;
    let status = response.status();
    let body = response.bytes().await.unwrap();
    assert_eq!(
        status,
        200,
        "{target}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    decode(&body)
}

#[tokio::test]
async fn validator_chain_refuses_bad_uploads_and_keeps_good_ones() {
    let config = [
        plugin("dimensions", "config = { min-width = 50, max-aspect = 3 }"),
        plugin("not-blank", ""),
        "[[paths]]\npattern = \"/checked/**\"\nvalidators = [\"dimensions\", \"not-blank\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    let small = assert_error(kiln.upload("checked/a", jpeg(40, 40, 1)).await, 422, "rejected").await;
    let message = small["message"].as_str().unwrap();
    assert!(message.contains("dimensions") && message.contains("wide"), "{message}");
    let wide = assert_error(kiln.upload("checked/a", jpeg(400, 100, 1)).await, 422, "rejected").await;
    assert!(wide["message"].as_str().unwrap().contains("aspect"), "{wide}");
    let blank = crate::images::png(100, 100, 0);
    let flat: Vec<u8> = {
        let image = image::RgbImage::from_pixel(100, 100, image::Rgb([200, 200, 200]));
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let uniform = assert_error(kiln.upload("checked/a", flat).await, 422, "rejected").await;
    assert!(uniform["message"].as_str().unwrap().contains("not-blank"), "{uniform}");
    assert!(kiln.stored_objects().await.is_empty(), "rejected uploads store nothing");
    kiln.upload_ok("checked/a", noisy_png(100, 80)).await;
    kiln.upload_ok("checked/b", blank).await;
    kiln.upload_ok("unchecked", jpeg(10, 10, 1)).await;
}

/// A JPEG with an EXIF block whose GPS directory holds a latitude.
fn jpeg_with_gps() -> (Vec<u8>, [u8; 8]) {
    let latitude = [0, 0, 0, 52, 0, 0, 0, 1];
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend([0, 1, 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]);
    tiff.extend([0, 1, 0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 44, 0, 0, 0, 0]);
    tiff.extend(latitude);
    tiff.extend([0, 0, 0, 30, 0, 0, 0, 1, 0, 0, 0, 15, 0, 0, 0, 1]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let plain = jpeg(64, 48, 3);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&plain[2..]);
    (out, latitude)
}

#[tokio::test]
async fn preprocessors_change_what_is_stored() {
    let config = [
        plugin("strip-gps", ""),
        "[[paths]]\npattern = \"/private/**\"\npreprocessors = [\"strip-gps\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    let (with_gps, latitude) = jpeg_with_gps();
    assert!(with_gps.windows(8).any(|w| w == latitude));
    kiln.upload_ok("private/photo", with_gps.clone()).await;
    let stored = kiln.bytes("/assets/private/photo").await;
    assert!(!stored.windows(8).any(|w| w == latitude), "the GPS latitude is gone");
    assert_eq!(stored.len(), with_gps.len(), "nothing but the GPS bytes changed");
    let scan = with_gps.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    assert_eq!(stored[scan..], with_gps[scan..], "the compressed pixels are untouched");
    kiln.upload_ok("public/photo", with_gps.clone()).await;
    let kept = kiln.bytes("/assets/public/photo").await;
    assert_eq!(
        kept.as_ref(),
        with_gps.as_slice(),
        "other paths keep their uploads as sent"
    );
}

#[tokio::test]
async fn watermark_changes_only_where_the_mark_is() {
    let config = [
        plugin("watermark", "config = { opacity = 1.0, color = \"ff0000\" }"),
        "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"watermark\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("photo", jpeg(400, 300, 7)).await;
    let plain = png_of(&kiln, "/assets/photo?format=png").await;
    let marked = png_of(
        &kiln,
        "/assets/photo?format=png&fx=watermark&watermark.text=KILN&watermark.size=0.2",
    )
    .await;
    assert_eq!((marked.get_width(), marked.get_height()), (400, 300));
    assert_eq!(marked.get_bands(), 3, "an opaque mark on an opaque photo adds no alpha");
    let (mut differs_in_corner, mut differs_elsewhere) = (0, 0);
    for y in (0..300).step_by(3) {
        for x in (0..400).step_by(3) {
            if pixel(&plain, x, y) != pixel(&marked, x, y) {
                if x >= 200 && y >= 200 {
                    differs_in_corner += 1;
                } else {
                    differs_elsewhere += 1;
                }
            }
        }
    }
    assert!(
        differs_in_corner > 50,
        "the mark is drawn in the south-east corner ({differs_in_corner})"
    );
    assert_eq!(differs_elsewhere, 0, "nothing else changes");
    let metadata: serde_json::Value = kiln.json("/assets/photo/-/metadata").await;
    let keys: Vec<&str> = metadata["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["transformation"].as_str().unwrap())
        .collect();
    assert!(keys.iter().any(|k| k.contains("fx=watermark@")), "{keys:?}");
}

#[tokio::test]
async fn a_plugin_that_changes_nothing_leaves_the_output_as_without_it() {
    let config = [
        plugin("noop", ""),
        plugin("watermark", "config = { opacity = 1.0, color = \"ff0000\" }"),
        "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"noop\", \"watermark\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("photo", jpeg(640, 400, 3)).await;
    kiln.upload_ok("noise", noisy_png(300, 200)).await;
    // JPEG to JPEG and WebP takes the planar path, PNG the libvips pipeline.
    for (asset, query) in [
        ("photo", "w=320"),
        ("photo", "w=320&format=webp"),
        ("noise", "w=150&format=jpeg"),
        ("noise", "w=150&format=png"),
    ] {
        let plain = kiln.bytes(&format!("/assets/{asset}?{query}")).await;
        let noop = kiln.fetch(&format!("/assets/{asset}?{query}&fx=noop")).await;
        assert_eq!(noop.status(), 200, "{asset}?{query}");
        assert_eq!(
            noop.headers()["kiln-cache"],
            "miss",
            "{asset}?{query}: a variant of its own"
        );
        assert!(
            noop.bytes().await.unwrap() == plain,
            "{asset}?{query}: the no-op changed the bytes"
        );
        let twice = kiln.bytes(&format!("/assets/{asset}?{query}&fx=noop,noop")).await;
        assert!(twice == plain, "{asset}?{query}: two no-ops changed the bytes");
        let marked = kiln
            .bytes(&format!("/assets/{asset}?{query}&fx=noop,watermark&watermark.text=K"))
            .await;
        assert!(marked != plain, "{asset}?{query}: a change after a no-op is kept");
    }
}

#[tokio::test]
async fn fx_chains_and_path_transforms() {
    let config = [
        plugin("duotone", ""),
        plugin("redact", ""),
        plugin("invert", ""),
        "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"duotone\", \"redact\", \"invert\"]\n".into(),
        "[[paths]]\npattern = \"/branded/**\"\ntransforms = [\"duotone\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("a", crate::images::halves(40, 20)).await;
    let inverted = png_of(&kiln, "/assets/a?fx=invert").await;
    let p = pixel(&inverted, 2, 10);
    assert!(
        p[0] < 30.0 && p[1] > 220.0 && p[2] > 220.0,
        "red inverts to cyan: {p:?}"
    );
    let half = png_of(&kiln, "/assets/a?fx=invert&invert.amount=0.5").await;
    assert!((pixel(&half, 2, 10)[0] - 128.0).abs() < 3.0);
    let duo = png_of(&kiln, "/assets/a?fx=duotone&duotone.dark=000000&duotone.light=00ff00").await;
    let d = pixel(&duo, 2, 10);
    assert!(d[0] < 2.0 && d[2] < 2.0 && d[1] > 20.0, "{d:?}");
    let redacted = png_of(&kiln, "/assets/a?fx=redact&redact.rects=0.4,0,0.2,1&redact.strength=20").await;
    let middle = pixel(&redacted, 20, 10);
    assert!(
        middle[0] > 60.0 && middle[2] > 60.0,
        "the boundary is pixelated into a mix: {middle:?}"
    );
    // Order matters in fx.
    let a = kiln.bytes("/assets/a?fx=invert,duotone&format=png").await;
    let b = kiln.bytes("/assets/a?fx=duotone,invert&format=png").await;
    assert_ne!(a, b);

    // Path transforms apply to every variant, even a request with no parameters.
    kiln.upload_ok("branded/a", crate::images::halves(40, 20)).await;
    let branded = png_of(&kiln, "/assets/branded/a").await;
    let g = pixel(&branded, 2, 10);
    assert!((g[0] - g[2]).abs() > 10.0 || g[0] != 255.0, "duotone applied: {g:?}");
    let response = kiln.fetch("/assets/branded/a").await;
    assert_eq!(response.headers()["kiln-cache"], "hit");

    for (query, param) in [
        ("fx=nothing", "fx"),
        ("fx=Bad!", "fx"),
        ("invert.amount=0.5", "invert.*"),
        ("fx=invert&duotone.dark=000000", "duotone.*"),
    ] {
        let json = assert_error(kiln.fetch(&format!("/assets/a?{query}")).await, 400, "invalid_param").await;
        assert!(
            json["message"].as_str().unwrap().contains(&format!("`{param}`")),
            "{query}: {json}"
        );
    }
    let refused = assert_error(
        kiln.fetch("/assets/a?fx=invert&invert.amount=7").await,
        400,
        "invalid_param",
    )
    .await;
    assert!(
        refused["message"].as_str().unwrap().contains("`invert.amount`"),
        "{refused}"
    );
}

#[tokio::test]
async fn fx_must_be_allowed_at_the_path() {
    let config = [
        plugin("invert", ""),
        "[[paths]]\npattern = \"/open/**\"\nallowed-fx = [\"invert\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("open/a", jpeg(20, 20, 1)).await;
    kiln.upload_ok("closed/a", jpeg(20, 20, 1)).await;
    assert_eq!(kiln.status("/assets/open/a?fx=invert").await, 200);
    let refused = assert_error(kiln.fetch("/assets/closed/a?fx=invert").await, 400, "invalid_param").await;
    assert!(refused["message"].as_str().unwrap().contains("allowed-fx"), "{refused}");
}

#[tokio::test]
async fn a_new_build_of_a_plugin_makes_new_variants() {
    let config = |wasm_name: &str| {
        format!(
            "[plugins.fx]\npath = \"{}\"\n[[paths]]\npattern = \"/**\"\nallowed-fx = [\"fx\"]\n",
            wasm(wasm_name)
        )
    };

    let kiln = Kiln::builder().config(&config("invert")).start().await;
    kiln.upload_ok("a", jpeg(30, 20, 1)).await;
    let made = kiln.fetch("/assets/a?fx=fx").await;
    assert_eq!(made.headers()["kiln-cache"], "miss");
    let again = kiln.fetch("/assets/a?fx=fx").await;
    assert_eq!(again.headers()["kiln-cache"], "hit");
    let dir = kiln.stop_keep_dir().await;
    let rebuilt = Kiln::builder().config(&config("duotone")).dir(dir).start().await;
    let fresh = rebuilt.fetch("/assets/a?fx=fx").await;
    assert_eq!(
        fresh.headers()["kiln-cache"],
        "miss",
        "another .wasm under the same name is another variant"
    );
}

#[tokio::test]
async fn hostile_plugins_fail_only_their_own_request() {
    let config = [
        plugin("spin", "timeout-ms = 300"),
        plugin("hog", "memory-mb = 32"),
        plugin("trap", ""),
        plugin("garbage", ""),
        plugin("noop", ""),
        plugin("stall", "timeout-ms = 300"),
        "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"spin\", \"hog\", \"trap\", \"garbage\", \"noop\"]\n".into(),
        "[[paths]]\npattern = \"/guarded/**\"\nvalidators = [\"stall\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("a", jpeg(64, 48, 1)).await;
    for (name, query, needle) in [
        ("spin", "", "time"),
        ("hog", "", "memory"),
        ("trap", "", "crashed"),
        ("trap", "&trap.how=overflow", "stack overflow"),
        ("garbage", "", "invalid result"),
    ] {
        let started = Instant::now();
        let response = kiln.fetch(&format!("/assets/a?fx={name}&w=40{query}")).await;
        let json = assert_error(response, 422, "plugin_failed").await;
        let message = json["message"].as_str().unwrap();
        assert!(message.contains(name) && message.contains(needle), "{name}: {message}");
        assert!(
            !message.contains("libvips") && !message.contains("backtrace") && !message.contains('\n'),
            "{name}: the message is Kiln's, in one line: {message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            started.elapsed()
        );
        // The next request succeeds, plugin or not.
        assert_eq!(kiln.status("/assets/a?fx=noop&w=40").await, 200, "after {name}");
        assert_eq!(kiln.status("/assets/a?w=41").await, 200, "after {name}");
    }
    // Concurrent hostile calls do not exhaust anything either.
    let mut handles = Vec::new();
    for i in 0..6 {
        let client = kiln.client.clone();
        let url = kiln.url(&format!("/assets/a?fx=hog&w={}", 20 + i));
        handles.push(tokio::spawn(async move {
            client.get(url).send().await.unwrap().status().as_u16()
        }));
    }
    for handle in handles {
        assert!([422, 503].contains(&handle.await.unwrap()));
    }
    // A validator that never returns fails the upload, within its limit.
    let started = Instant::now();
    let response = kiln
        .authed(Method::POST, "/assets/guarded/x")
        .body(jpeg(20, 20, 1))
        .send()
        .await
        .unwrap();
    assert_error(response, 422, "plugin_failed").await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(kiln.status("/health").await, 200);
    assert_eq!(kiln.status("/assets/a?fx=noop&w=33").await, 200);
}

#[tokio::test]
async fn invalid_plugin_config_fails_at_start() {
    for (config, needle) in [
        ("[plugins.missing]\npath = \"/nonexistent.wasm\"\n", "missing"),
        ("[plugins.x]\npath = \"kiln.toml\"\n", "x"),
        (
            &format!("[plugins.x]\npath = \"{}\"\nmemory-mb = 0\n", wasm("noop")),
            "memory-mb",
        ),
        ("[[paths]]\npattern = \"/**\"\nvalidators = [\"ghost\"]\n", "ghost"),
        ("[[paths]]\npattern = \"/**\"\nallowed-fx = [\"ghost\"]\n", "ghost"),
        (
            &format!(
                "[plugins.nb]\npath = \"{}\"\n[[paths]]\npattern = \"/**\"\ntransforms = [\"nb\"]\n",
                wasm("not-blank")
            ),
            "transforms: plugin \"nb\" is a validator, not a transform",
        ),
        (
            &format!(
                "[plugins.inv]\npath = \"{}\"\n[[paths]]\npattern = \"/**\"\nvalidators = [\"inv\"]\n",
                wasm("invert")
            ),
            "validators: plugin \"inv\" is a transform, not a validator",
        ),
    ] {
        let (stderr, _) = fails_with_config(config, &["serve"]);
        assert!(stderr.contains(needle), "{config}: {stderr}");
    }
}

#[tokio::test]
async fn config_check_loads_every_plugin_and_reports_each_problem_on_a_line() {
    let config = format!(
        "[plugins.gone]\npath = \"/nonexistent.wasm\"\n[plugins.text]\npath = \"kiln.toml\"\n\
         [plugins.fine]\npath = \"{}\"\n",
        wasm("invert")
    );
    for args in [&["config", "check"][..], &["serve"][..]] {
        let (stderr, _) = fails_with_config(&config, args);
        let lines: Vec<&str> = stderr.lines().filter(|line| line.contains("plugin \"")).collect();
        assert_eq!(lines.len(), 2, "{args:?}: one line a problem:\n{stderr}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"gone\"") && l.contains("cannot read")),
            "{stderr}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"text\"") && l.contains("is not a WebAssembly component")),
            "{stderr}"
        );
    }
    let kind_error = format!(
        "[plugins.nb]\npath = \"{}\"\n[[paths]]\npattern = \"/**\"\nallowed-fx = [\"nb\"]\n",
        wasm("not-blank")
    );
    let (stderr, _) = fails_with_config(&kind_error, &["config", "check"]);
    assert!(stderr.contains("is a validator, not a transform"), "{stderr}");
}

#[tokio::test]
async fn plugin_parameters_are_checked_against_what_the_plugin_declares() {
    let config = [
        plugin("invert", ""),
        plugin("redact", ""),
        "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"invert\", \"redact\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("a", jpeg(64, 48, 1)).await;
    for (query, param, needle) in [
        ("fx=invert&invert.amont=1", "invert.amont", "amount"),
        ("fx=invert&invert.amount=2", "invert.amount", "from 0 to 1"),
        ("fx=invert&invert.amount=-0.1", "invert.amount", "from 0 to 1"),
        ("fx=invert&invert.amount=half", "invert.amount", "number"),
        ("fx=invert&invert.amount=NaN", "invert.amount", "number"),
        ("fx=redact&redact.mode=smudge", "redact.mode", "pixelate, blur"),
        ("fx=redact&redact.strength=0", "redact.strength", "from 1 to 256"),
        // Declared and well-typed, refused by the plugin itself.
        ("fx=redact&redact.rects=1,2,3", "redact.rects", "x,y,w,h"),
        ("fx=redact", "redact.rects", "required"),
    ] {
        let json = assert_error(kiln.fetch(&format!("/assets/a?{query}")).await, 400, "invalid_param").await;
        let message = json["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{param}`")) && message.contains(needle),
            "{query}: {message}"
        );
    }
    assert!(
        kiln.json("/assets/a/-/metadata").await["variants"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The default filled in: leaving it out, giving it, spelling it otherwise: one variant.
    let first = kiln.fetch("/assets/a?fx=invert&w=20").await;
    assert_eq!(first.headers()["kiln-cache"], "miss");
    for query in ["fx=invert&w=20&invert.amount=1", "fx=invert&w=20&invert.amount=1.0"] {
        let again = kiln.fetch(&format!("/assets/a?{query}")).await;
        assert_eq!(again.status(), 200);
        assert_eq!(again.headers()["kiln-cache"], "hit", "{query}");
    }
    let half = kiln.fetch("/assets/a?fx=invert&w=20&invert.amount=0.50").await;
    assert_eq!(half.headers()["kiln-cache"], "miss");
    let keys: Vec<String> = kiln.json("/assets/a/-/metadata").await["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["transformation"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().any(|k| k.contains(r#"["amount","0.5"]"#)), "{keys:?}");
    assert!(keys.iter().any(|k| k.contains(r#"["amount","1"]"#)), "{keys:?}");
}

#[tokio::test]
async fn plugins_describe_themselves_at_get_plugins() {
    let config = [
        plugin("invert", ""),
        plugin("watermark", ""),
        plugin("legacy", ""),
        plugin("not-blank", ""),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    let listing = kiln.json("/plugins").await;
    let plugins = listing["plugins"].as_array().unwrap();
    let names: Vec<&str> = plugins.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["invert", "legacy", "watermark"], "transforms only, by name");
    let invert = &plugins[0];
    assert_eq!(invert["api_version"], "0.2.0");
    assert_eq!(invert["summary"], "Inverts colours");
    let amount = &invert["params"][0];
    assert_eq!(amount["name"], "amount");
    assert_eq!(amount["type"], "float");
    assert_eq!((amount["min"].as_f64(), amount["max"].as_f64()), (Some(0.0), Some(1.0)));
    assert_eq!(amount["default"], "1");
    assert!(!amount["doc"].as_str().unwrap().is_empty());
    let legacy = &plugins[1];
    assert_eq!(legacy["api_version"], "0.1.0");
    assert!(legacy["summary"].is_null() && legacy["params"].as_array().unwrap().is_empty());
    let position = plugins[2]["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "position")
        .unwrap();
    assert_eq!(position["type"], "enum");
    assert_eq!(position["choices"].as_array().unwrap().len(), 9);
    let response = kiln.client.post(kiln.url("/plugins")).send().await.unwrap();
    assert_error(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn components_built_against_api_0_1_keep_working() {
    let config = [
        plugin("legacy", ""),
        "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"legacy\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("a", crate::images::png(8, 8, 0)).await;
    let plain = png_of(&kiln, "/assets/a?format=png").await;
    let inverted = png_of(&kiln, "/assets/a?format=png&fx=legacy").await;
    let (before, after) = (pixel(&plain, 3, 3), pixel(&inverted, 3, 3));
    for c in 0..3 {
        assert!((before[c] + after[c] - 255.0).abs() <= 1.0, "{before:?} -> {after:?}");
    }
    // 0.1 declares nothing: parameters pass as given, its errors are its own.
    assert_eq!(
        kiln.status("/assets/a?format=png&fx=legacy&legacy.amount=0.5").await,
        200
    );
    let failed = assert_error(
        kiln.fetch("/assets/a?fx=legacy&legacy.amount=7").await,
        422,
        "plugin_failed",
    )
    .await;
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("legacy") && message.contains("0..=1"), "{message}");
}

#[tokio::test]
async fn plugin_output_larger_than_the_server_allows_is_refused() {
    let config = [
        plugin("grow", ""),
        "[limits]\nmax-output-dimension = 512\n".into(),
        "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"grow\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    kiln.upload_ok("a", jpeg(64, 48, 1)).await;
    let fits = png_of(&kiln, "/assets/a?format=png&fx=grow&grow.width=512&grow.height=20").await;
    assert_eq!((fits.get_width(), fits.get_height()), (512, 20));
    let json = assert_error(
        kiln.fetch("/assets/a?fx=grow&grow.width=513&grow.height=20").await,
        422,
        "plugin_failed",
    )
    .await;
    let message = json["message"].as_str().unwrap();
    assert!(
        message.contains("grow") && message.contains("max-output-dimension"),
        "{message}"
    );
}

/// An upload to `path` with `metadata` (JSON), as a multipart form.
async fn upload_with(kiln: &Kiln, path: &str, metadata: serde_json::Value) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(noisy_png(40, 30))
                .file_name("x.png")
                .mime_str("image/png")
                .unwrap(),
        )
        .text("metadata", metadata.to_string());
    kiln.authed(Method::POST, &format!("/assets/{path}"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The example plugins in Python (a validator, componentize-py) and
/// JavaScript (a transform, componentize-js), over HTTP like any other.
#[tokio::test]
async fn plugins_in_python_and_javascript_run_like_rust_ones() {
    let config = [
        plugin(
            "naming-policy",
            "config = { require-alt = true, required-labels = \"owner\" }",
        ),
        format!(
            "[plugins.broken-policy]\npath = \"{}\"\nconfig = {{ require-alt = \"maybe\" }}\n",
            wasm("naming-policy")
        ),
        plugin("vignette", ""),
        "[[paths]]\npattern = \"/**\"\nallowed-fx = [\"vignette\"]\n".into(),
        "[[paths]]\npattern = \"/strict/**\"\nvalidators = [\"naming-policy\"]\n".into(),
        "[[paths]]\npattern = \"/broken/**\"\nvalidators = [\"broken-policy\"]\n".into(),
    ]
    .concat();
    let kiln = Kiln::builder().config(&config).start().await;
    let complete = serde_json::json!({"alt": "A test card", "labels": {"owner": "web"}});
    for (path, metadata, needle) in [
        ("strict/Bad_Name", complete.clone(), "Bad_Name"),
        (
            "strict/good-name",
            serde_json::json!({"labels": {"owner": "web"}}),
            "alt text",
        ),
        ("strict/good-name", serde_json::json!({"alt": "A test card"}), "owner"),
    ] {
        let json = assert_error(upload_with(&kiln, path, metadata).await, 422, "rejected").await;
        let message = json["message"].as_str().unwrap();
        assert!(
            message.contains("naming-policy") && message.contains(needle),
            "{path}: {message}"
        );
    }
    assert_eq!(
        upload_with(&kiln, "strict/good-name", complete.clone()).await.status(),
        201
    );
    let broken = assert_error(upload_with(&kiln, "broken/a", complete).await, 422, "plugin_failed").await;
    let message = broken["message"].as_str().unwrap();
    assert!(
        message.contains("broken-policy") && message.contains("require-alt"),
        "{message}"
    );
    assert!(
        kiln.stored_objects().await.len() == 1,
        "only the accepted upload is stored"
    );

    kiln.upload_ok("photo", noisy_png(64, 48)).await;
    let plain = png_of(&kiln, "/assets/photo?format=png").await;
    let faded = png_of(
        &kiln,
        "/assets/photo?format=png&fx=vignette&vignette.strength=1&vignette.colour=000000",
    )
    .await;
    let (corner, centre) = (
        (pixel(&plain, 0, 0), pixel(&faded, 0, 0)),
        (pixel(&plain, 32, 24), pixel(&faded, 32, 24)),
    );
    assert!(
        corner.1[0] + corner.1[1] + corner.1[2] < 10.0,
        "the corner reaches black: {corner:?}"
    );
    assert!((centre.0[0] - centre.1[0]).abs() < 3.0, "the centre stays: {centre:?}");
    for (query, param) in [
        ("vignette.strength=2", "vignette.strength"),
        ("vignette.shape=square", "vignette.shape"),
        ("vignette.blur=1", "vignette.blur"),
    ] {
        let json = assert_error(
            kiln.fetch(&format!("/assets/photo?fx=vignette&{query}")).await,
            400,
            "invalid_param",
        )
        .await;
        assert!(
            json["message"].as_str().unwrap().contains(&format!("`{param}`")),
            "{json}"
        );
    }
    kiln.upload_ok("tiny", jpeg(4, 4, 1)).await;
    let tiny = assert_error(kiln.fetch("/assets/tiny?fx=vignette").await, 422, "plugin_failed").await;
    let message = tiny["message"].as_str().unwrap();
    assert!(message.contains("vignette") && message.contains("8x8"), "{message}");
    let listing = kiln.json("/plugins").await;
    let vignette = &listing["plugins"][0];
    assert_eq!(vignette["name"], "vignette");
    assert_eq!(vignette["params"].as_array().unwrap().len(), 3);
}
