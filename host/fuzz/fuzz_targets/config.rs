//! The config loader on arbitrary TOML: it accepts or names an error, never
//! panics; an accepted config resolves its path rules for any path.
#![no_main]

use kiln::address::AssetPath;
use kiln::config::{Config, PathRules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(config) = Config::from_toml(text) else { return };
    let Ok(profiles) = config.profiles() else { return };
    let Ok(rules) = PathRules::compile(&config.paths, &config.limits, &profiles, &config.plugin_names()) else {
        return;
    };
    for path in ["a", "users/1/avatar", "a/b/c/d/e/f"] {
        if let Ok(path) = AssetPath::parse(path) {
            let _ = rules.resolve(&path);
        }
    }
});
