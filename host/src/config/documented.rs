//! docs/configuration.md against the configuration types: every key the
//! types have is documented, every documented key exists, and a documented
//! default written as a number, size or boolean is the default the types
//! give. Adding a key without its line, or changing a default without the
//! docs, fails here.

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, PathSettings};

const DOC: &str = include_str!("../../../docs/configuration.md");

/// A configuration naming every optional key, with every kind of section,
/// so that serialising it shows every key there is.
const EVERYTHING: &str = r#"
[server]
public-url = "https://images.example.com"
[database]
url = "postgres://kiln@db/kiln"
[storage]
kind = "s3"
bucket = "media"
endpoint = "http://127.0.0.1:9000"
region = "auto"
path-style = true
access-key-id = "id"
secret-access-key = "secret"
[metrics]
listen = "127.0.0.1:9100"
[[api-keys]]
name = "ci"
sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
scopes = ["read"]
[plugins.p]
path = "p.wasm"
[[webhooks]]
name = "app"
url = "http://app.example"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
events = ["asset.created"]
[[paths]]
pattern = "/**"
"#;

/// Dotted keys of every leaf, `[[array]]` entries flattened under the array's name.
fn leaves(value: &serde_json::Value, prefix: &str, out: &mut BTreeMap<String, serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(inner, &name, out);
            }
        }
        serde_json::Value::Array(items) if items.iter().all(|i| i.is_object()) && !items.is_empty() => {
            for item in items {
                leaves(item, prefix, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned(), value.clone());
        }
    }
}

fn known_keys() -> BTreeMap<String, serde_json::Value> {
    let mut keys = BTreeMap::new();
    // The filesystem store's one key, which the S3 sample cannot show.
    for text in ["", EVERYTHING, "[storage]\nkind = \"fs\"\nroot = \"objects\"\n"] {
        let config = Config::from_toml(text).expect("the sample configuration loads");
        let mut value = serde_json::to_value(&config).expect("the configuration serialises");
        // Entries of `[plugins.NAME]` and path rules are documented by their fields.
        if let Some(plugins) = value.get_mut("plugins").and_then(|p| p.as_object_mut())
            && let Some(plugin) = plugins.remove("p")
        {
            plugins.insert("NAME".into(), plugin);
        }
        if let Some(paths) = value.as_object_mut() {
            paths.remove("paths");
            paths.remove("profiles");
        }
        let mut found = BTreeMap::new();
        leaves(&value, "", &mut found);
        for (key, default) in found {
            // The defaults win: the sample's values are only there to show keys.
            keys.entry(key).or_insert(if text.is_empty() {
                default
            } else {
                serde_json::Value::Null
            });
        }
    }
    keys
}

/// The backticked names in the first cell of each row of the table that
/// follows `heading`, with the default cell, as written.
fn documented(after: &str) -> Vec<(Vec<String>, String)> {
    let start = DOC
        .find(after)
        .expect("the table's heading is in docs/configuration.md");
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in DOC[start..].lines().skip(1) {
        if !line.starts_with('|') {
            if in_table {
                break;
            }
            continue;
        }
        in_table = true;
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(first), Some(default)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let names = first
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if !names.is_empty() {
            rows.push((names, (*default).to_owned()));
        }
    }
    rows
}

/// `[[api-keys]]` `name`, `sha256` → api-keys.name, api-keys.sha256.
fn expand(names: &[String]) -> Vec<String> {
    match names.first() {
        Some(table) if table.starts_with('[') => {
            let table = table.trim_matches(|c| c == '[' || c == ']');
            names[1..].iter().map(|field| format!("{table}.{field}")).collect()
        }
        _ => names.to_vec(),
    }
}

/// A default as the docs write it, when it is a number, a size or a boolean.
fn written_default(cell: &str) -> Option<serde_json::Value> {
    let text = cell.split(" (").next()?.replace('`', "");
    let text = text.trim();
    let number = |t: &str| t.replace(' ', "").parse::<f64>().ok();
    let value = match text.split_once(' ') {
        Some((n, "KiB")) => number(n)? * 1024.0,
        Some((n, "MiB")) => number(n)? * 1_048_576.0,
        _ if text == "true" || text == "false" => return Some(serde_json::Value::Bool(text == "true")),
        _ => number(text)?,
    };
    Some(serde_json::json!(value))
}

#[test]
fn every_configuration_key_is_documented_with_its_default() {
    let known = known_keys();
    let rows = documented("| key | default | meaning |");
    let mut written = BTreeSet::new();
    for (names, default) in &rows {
        for name in expand(names) {
            let name = name.replace("profiles.NAME", "profiles");
            assert!(
                known.contains_key(&name) || name == "profiles" || name == "paths.pattern",
                "docs/configuration.md documents `{name}`, which the configuration does not have"
            );
            if let (Some(expected), Some(actual)) = (written_default(default), known.get(&name))
                && !actual.is_null()
            {
                let actual = actual.as_f64().map(|n| serde_json::json!(n)).unwrap_or(actual.clone());
                assert_eq!(actual, expected, "the default of `{name}`: the docs say {default:?}");
            }
            written.insert(name);
        }
    }
    // A section is documented by its keys (`api-keys` by `api-keys.name`, …).
    let covered = |key: &String| {
        written.contains(key)
            || written
                .iter()
                .any(|w| key.starts_with(&format!("{w}.")) || w.starts_with(&format!("{key}.")))
    };
    let missing: Vec<&String> = known.keys().filter(|key| !covered(key)).collect();
    assert!(missing.is_empty(), "not in docs/configuration.md: {missing:?}");
}

#[test]
fn every_path_setting_is_documented() {
    let mut known = BTreeMap::new();
    leaves(
        &serde_json::to_value(PathSettings::default()).expect("serialises"),
        "",
        &mut known,
    );
    let rows = documented("| setting | default |");
    let written: BTreeSet<String> = rows.iter().flat_map(|(names, _)| names.clone()).collect();
    for name in &written {
        assert!(
            known.contains_key(name) || known.keys().any(|k| k.starts_with(&format!("{name}."))),
            "`{name}` is not a path setting"
        );
    }
    let missing: Vec<&String> = known
        .keys()
        .filter(|key| !written.contains(*key) && !written.iter().any(|w| key.starts_with(&format!("{w}."))))
        .collect();
    assert!(
        missing.is_empty(),
        "path settings not in docs/configuration.md: {missing:?}"
    );
}
