//! `kiln plugin check` and `kiln plugin new` over the real binary: the
//! check loads and runs components as the server would, and every
//! scaffold builds, passes its own test and passes the check as written.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{kiln_cli as kiln, wasm};
use crate::images::{decode, png};

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn plugin_check_describes_and_runs_each_kind() {
    let dir = tempfile::tempdir().unwrap();
    let invert = wasm("invert");
    let sample = kiln(dir.path(), &["plugin", "check", &invert]);
    let said = text(&sample);
    assert!(sample.status.success(), "{said}");
    for needle in [
        "kiln:plugin@0.2.0",
        "transform",
        "summary: Inverts colours",
        "param amount: float 0..=1 = 1",
    ] {
        assert!(said.contains(needle), "{needle}: {said}");
    }
    let written = decode(&std::fs::read(dir.path().join("invert.check.png")).unwrap());
    assert_eq!(
        (written.get_width(), written.get_height()),
        (512, 320),
        "the sample, inverted"
    );

    std::fs::write(dir.path().join("in.png"), png(40, 30, 5)).unwrap();
    let given = kiln(
        dir.path(),
        &[
            "plugin",
            "check",
            &invert,
            "--image",
            "in.png",
            "-p",
            "amount=0.5",
            "--out",
            "out.png",
        ],
    );
    assert!(given.status.success(), "{}", text(&given));
    assert!(text(&given).contains("invert.amount=0.5"), "{}", text(&given));
    let out = decode(&std::fs::read(dir.path().join("out.png")).unwrap());
    assert_eq!((out.get_width(), out.get_height()), (40, 30));

    for (args, needle) in [
        (vec!["-p", "amount=7"], "`invert.amount`"),
        (vec!["-p", "amont=1"], "`invert.amont`"),
        (vec!["--image", "missing.png"], "missing.png"),
    ] {
        let refused = kiln(dir.path(), &[&["plugin", "check", invert.as_str()][..], &args].concat());
        assert!(!refused.status.success());
        assert!(text(&refused).contains(needle), "{args:?}: {}", text(&refused));
    }

    let validator = kiln(dir.path(), &["plugin", "check", &wasm("not-blank")]);
    assert!(text(&validator).contains("validate -> accept"), "{}", text(&validator));
    let trapped = kiln(dir.path(), &["plugin", "check", &wasm("trap"), "-p", "how=overflow"]);
    assert!(!trapped.status.success());
    assert!(text(&trapped).contains("stack overflow"), "{}", text(&trapped));
    let legacy = kiln(dir.path(), &["plugin", "check", &wasm("legacy")]);
    assert!(text(&legacy).contains("kiln:plugin@0.1.0"), "{}", text(&legacy));
    std::fs::write(dir.path().join("fake.wasm"), b"not wasm at all").unwrap();
    let fake = kiln(dir.path(), &["plugin", "check", "fake.wasm"]);
    assert!(!fake.status.success());
    assert_eq!(
        String::from_utf8_lossy(&fake.stderr).lines().count(),
        1,
        "{}",
        text(&fake)
    );
}

/// The CLI touches no catalog or store: its slow tests run on one stack
/// of the two the suite runs on.
fn once_per_suite() -> bool {
    std::env::var("E2E_STACK").as_deref() != Ok("postgres-s3")
}

fn checked(dir: &Path, component: &Path, kind: &str) {
    let checked = kiln(dir, &["plugin", "check", component.to_str().unwrap()]);
    assert!(checked.status.success(), "{kind}: {}", text(&checked));
    assert!(
        text(&checked).contains(&format!("kiln:plugin@0.2.0, {kind}")),
        "{}",
        text(&checked)
    );
}

fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(program);
    command.current_dir(dir).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} in {}: {}",
        dir.display(),
        text(&output)
    );
    output
}

/// Every kind's scaffold as a new user gets it: it passes its own test,
/// builds as a component and passes `kiln plugin check`.
#[test]
fn plugin_new_scaffolds_projects_that_build_and_pass_their_tests() {
    if !once_per_suite() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // One target directory for the three, beside the workspace's, so their
    // shared dependencies are compiled once.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scaffold-tests");
    for kind in ["transform", "validator", "preprocessor"] {
        let name = format!("my-{kind}");
        let made = kiln(dir.path(), &["plugin", "new", &name, "--kind", kind]);
        assert!(made.status.success(), "{}", text(&made));
        let project = dir.path().join(&name);
        for cargo_args in [
            &["test", "--quiet"][..],
            &["build", "--release", "--quiet", "--target", "wasm32-wasip2"][..],
        ] {
            let built = Command::new("cargo")
                .current_dir(&project)
                .env("CARGO_TARGET_DIR", &target)
                .args(cargo_args)
                .output()
                .expect("run cargo");
            assert!(built.status.success(), "{kind}: cargo {cargo_args:?}: {}", text(&built));
            assert!(
                !String::from_utf8_lossy(&built.stderr).contains("warning"),
                "{kind}: cargo {cargo_args:?} warns: {}",
                text(&built)
            );
        }
        let component = target.join(format!("wasm32-wasip2/release/my_{kind}.wasm"));
        let checked = kiln(dir.path(), &["plugin", "check", component.to_str().unwrap()]);
        assert!(checked.status.success(), "{kind}: {}", text(&checked));
        assert!(
            text(&checked).contains(&format!("kiln:plugin@0.2.0, {kind}")),
            "{}",
            text(&checked)
        );
    }
    let again = kiln(dir.path(), &["plugin", "new", "my-transform"]);
    assert!(
        !again.status.success() && text(&again).contains("exists"),
        "{}",
        text(&again)
    );
    let bad = kiln(dir.path(), &["plugin", "new", "Bad Name"]);
    assert!(
        !bad.status.success() && text(&bad).contains("plugin name"),
        "{}",
        text(&bad)
    );
}

/// The Python and JavaScript scaffolds, with the tools `make plugins`
/// installs (componentize-py in `target/tools`, componentize-js in the
/// JavaScript example's `node_modules`, which the scaffolds borrow rather
/// than installing the same packages again).
#[test]
fn python_and_javascript_scaffolds_build_and_pass_their_tests() {
    if !once_per_suite() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let componentize_py = root.join("target/tools/componentize-py/bin/componentize-py");
    let node_modules = root.join("examples/vignette/node_modules");
    assert!(
        componentize_py.is_file() && node_modules.is_dir(),
        "run `make plugins` first: it installs componentize-py and componentize-js"
    );
    let componentize_py = componentize_py.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for kind in ["transform", "validator", "preprocessor"] {
        let name = format!("py-{kind}");
        let made = kiln(
            dir.path(),
            &["plugin", "new", &name, "--kind", kind, "--lang", "python"],
        );
        assert!(made.status.success(), "{}", text(&made));
        let project = dir.path().join(&name);
        run(
            &project,
            componentize_py,
            &["-d", "wit", "-w", kind, "bindings", "bindings"],
            &[],
        );
        let tested = run(
            &project,
            "python3",
            &["-m", "unittest"],
            &[("PYTHONPATH", Path::new("bindings"))],
        );
        assert!(
            String::from_utf8_lossy(&tested.stderr).contains("OK"),
            "{}",
            text(&tested)
        );
        let wasm = format!("py_{kind}.wasm");
        run(
            &project,
            componentize_py,
            &["-d", "wit", "-w", kind, "componentize", "app", "-o", &wasm],
            &[],
        );
        checked(dir.path(), &project.join(&wasm), kind);

        let name = format!("js-{kind}");
        let made = kiln(dir.path(), &["plugin", "new", &name, "--kind", kind, "--lang", "js"]);
        assert!(made.status.success(), "{}", text(&made));
        let project = dir.path().join(&name);
        std::os::unix::fs::symlink(&node_modules, project.join("node_modules")).unwrap();
        let tested = run(&project, "npm", &["test"], &[]);
        assert!(
            String::from_utf8_lossy(&tested.stdout).contains("# fail 0"),
            "{}",
            text(&tested)
        );
        run(&project, "npm", &["run", "-s", "build"], &[]);
        checked(dir.path(), &project.join(format!("js_{kind}.wasm")), kind);
    }
}
