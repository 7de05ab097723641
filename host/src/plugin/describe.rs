//! What an API 0.2 plugin says of itself (`describe`), checked once at load,
//! and the check of a URL's `{plugin}.{key}` parameters against it: every
//! key declared, every value of its type and range, written in one
//! spelling, defaults filled in — so that equal requests share a variant
//! key and the plugin only sees values it declared.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Kind;

/// The most parameters a plugin may declare, and the longest texts.
const MOST_PARAMS: usize = 64;
const MOST_CHOICES: usize = 64;
const LONGEST_NAME: usize = 64;
const LONGEST_LINE: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Description {
    pub name: String,
    pub version: String,
    pub kind: &'static str,
    pub summary: String,
    pub params: Vec<Param>,
}

/// A parameter a plugin declares: URLs give it as `{plugin}.{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Param {
    pub name: String,
    /// `int`, `float`, `bool`, `colour`, `enum` or `string`, with its bounds.
    #[serde(flatten)]
    pub accepts: ParamType,
    /// The value used when a URL gives none, in its one spelling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    pub doc: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ParamType {
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    Colour,
    Enum {
        choices: Vec<String>,
    },
    String {
        #[serde(rename = "max-length")]
        max_length: u32,
    },
}

/// A URL parameter the description refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamProblem {
    /// The parameter's name without the plugin's prefix.
    pub key: String,
    pub message: String,
}

impl ParamType {
    /// The one spelling of `value`, or what is wrong with it.
    pub fn canonical(&self, value: &str) -> Result<String, String> {
        match self {
            ParamType::Int { min, max } => match value.parse::<i64>() {
                Ok(n) if (*min..=*max).contains(&n) => Ok(n.to_string()),
                _ => Err(format!("must be a whole number from {min} to {max}")),
            },
            ParamType::Float { min, max } => match value.parse::<f64>() {
                Ok(x) if x.is_finite() && *min <= x && x <= *max => Ok(format!("{}", x + 0.0)),
                _ => Err(format!("must be a number from {min} to {max}")),
            },
            ParamType::Bool => match value {
                "true" | "false" => Ok(value.to_owned()),
                _ => Err("must be true or false".into()),
            },
            ParamType::Colour => {
                let hex = value.to_ascii_lowercase();
                let valid = matches!(hex.len(), 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit());
                match (valid, hex.strip_suffix("ff")) {
                    (false, _) => Err("must be a colour as RRGGBB or RRGGBBAA in hex".into()),
                    (true, Some(opaque)) if hex.len() == 8 => Ok(opaque.to_owned()),
                    (true, _) => Ok(hex),
                }
            }
            ParamType::Enum { choices } => match choices.iter().any(|choice| choice == value) {
                true => Ok(value.to_owned()),
                false => Err(format!("must be one of {}", choices.join(", "))),
            },
            ParamType::String { max_length } => match value.chars().count() <= *max_length as usize {
                true => Ok(value.to_owned()),
                false => Err(format!("must be at most {max_length} characters")),
            },
        }
    }
}

impl Description {
    /// Checks what a plugin answered, exported as `exported`; `Err` says
    /// what is wrong with it, for the plugin's author.
    pub fn checked(self, exported: Kind) -> Result<Self, String> {
        if self.kind != exported.name() {
            return Err(format!(
                "it describes itself as a {} but is built as a {}",
                self.kind,
                exported.name()
            ));
        }
        for text in [&self.name, &self.version, &self.summary] {
            if text.chars().count() > LONGEST_LINE || text.contains(['\n', '\r']) {
                return Err("its name, version and summary must be one line each".into());
            }
        }
        if exported != Kind::Transform && !self.params.is_empty() {
            return Err(format!(
                "a {} takes no URL parameters, but it declares {}",
                exported.name(),
                self.params.len()
            ));
        }
        if self.params.len() > MOST_PARAMS {
            return Err(format!(
                "it declares {} parameters; at most {MOST_PARAMS}",
                self.params.len()
            ));
        }
        for (index, param) in self.params.iter().enumerate() {
            let name = &param.name;
            if !super::is_plugin_name(name) {
                return Err(format!(
                    "parameter {name:?}: a name is 1 to {LONGEST_NAME} lower-case letters, digits, - and _"
                ));
            }
            if self.params[..index].iter().any(|earlier| &earlier.name == name) {
                return Err(format!("parameter {name:?} is declared twice"));
            }
            if param.doc.chars().count() > LONGEST_LINE {
                return Err(format!(
                    "parameter {name:?}: its doc is longer than {LONGEST_LINE} characters"
                ));
            }
            match &param.accepts {
                ParamType::Int { min, max } if min > max => {
                    return Err(format!("parameter {name:?}: its range {min}..={max} is empty"));
                }
                ParamType::Float { min, max } if !(min.is_finite() && max.is_finite() && min <= max) => {
                    return Err(format!(
                        "parameter {name:?}: its range {min}..={max} is not a finite range"
                    ));
                }
                ParamType::Enum { choices } if choices.is_empty() || choices.len() > MOST_CHOICES => {
                    return Err(format!("parameter {name:?}: an enum has 1 to {MOST_CHOICES} choices"));
                }
                ParamType::Enum { choices }
                    if choices.iter().any(|c| c.is_empty() || c.chars().count() > LONGEST_NAME) =>
                {
                    return Err(format!(
                        "parameter {name:?}: a choice is 1 to {LONGEST_NAME} characters"
                    ));
                }
                _ => {}
            }
            if let Some(default) = &param.default {
                param
                    .accepts
                    .canonical(default)
                    .map_err(|why| format!("parameter {name:?}: its default {default:?} {why}"))?;
            }
        }
        Ok(self)
    }

    /// `given` checked against the parameters, in their one spelling, with
    /// the defaults of those not given, sorted by name.
    pub fn canonical_params(&self, given: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, ParamProblem> {
        if let Some(key) = given.keys().find(|key| !self.params.iter().any(|p| &p.name == *key)) {
            let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
            let takes = match known.as_slice() {
                [] => "it takes no parameters".to_owned(),
                known => format!("it takes {}", known.join(", ")),
            };
            return Err(ParamProblem {
                key: key.clone(),
                message: format!("plugin {:?} has no parameter {key:?}; {takes}", self.name),
            });
        }
        let mut params = Vec::new();
        for param in &self.params {
            let value = match (given.get(&param.name), &param.default) {
                (Some(value), _) => value,
                (None, Some(default)) => default,
                (None, None) => continue,
            };
            let canonical = param.accepts.canonical(value).map_err(|why| ParamProblem {
                key: param.name.clone(),
                message: format!("{why}; got {:?}", crate::address::truncate(value, 64)),
            })?;
            params.push((param.name.clone(), canonical));
        }
        params.sort();
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(params: Vec<Param>) -> Description {
        Description {
            name: "pixelate".into(),
            version: "1.0.0".into(),
            kind: "transform",
            summary: "Pixelates".into(),
            params,
        }
    }

    fn param(name: &str, accepts: ParamType, default: Option<&str>) -> Param {
        Param {
            name: name.into(),
            accepts,
            default: default.map(Into::into),
            doc: String::new(),
        }
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn values_have_one_spelling_and_defaults_are_filled() {
        let description = described(vec![
            param("size", ParamType::Int { min: 2, max: 64 }, Some("8")),
            param("amount", ParamType::Float { min: 0.0, max: 1.0 }, None),
            param("tint", ParamType::Colour, Some("FF8000FF")),
            param("soft", ParamType::Bool, Some("false")),
            param(
                "mode",
                ParamType::Enum {
                    choices: vec!["block".into(), "hex".into()],
                },
                None,
            ),
            param("label", ParamType::String { max_length: 4 }, None),
        ])
        .checked(Kind::Transform)
        .unwrap();
        let canonical = |pairs: &[(&str, &str)]| description.canonical_params(&given(pairs));
        let defaults = canonical(&[]).unwrap();
        assert_eq!(
            defaults,
            [("size", "8"), ("soft", "false"), ("tint", "ff8000")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .to_vec()
        );
        assert_eq!(
            canonical(&[("size", "08")]).unwrap(),
            defaults,
            "a default given is the default"
        );
        let all = canonical(&[("amount", "0.50"), ("mode", "hex"), ("label", "ab"), ("size", "64")]).unwrap();
        assert!(all.contains(&("amount".into(), "0.5".into())), "{all:?}");
        assert_eq!(
            canonical(&[("amount", "-0")]).unwrap()[0],
            ("amount".into(), "0".into())
        );
        for (key, value, needle) in [
            ("size", "1", "from 2 to 64"),
            ("size", "65", "from 2 to 64"),
            ("size", "2.5", "whole number"),
            ("amount", "NaN", "from 0 to 1"),
            ("amount", "inf", "from 0 to 1"),
            ("amount", "1.01", "from 0 to 1"),
            ("tint", "red", "RRGGBB"),
            ("tint", "ff80", "RRGGBB"),
            ("soft", "1", "true or false"),
            ("mode", "Hex", "block, hex"),
            ("label", "abcde", "at most 4"),
        ] {
            let problem = canonical(&[(key, value)]).unwrap_err();
            assert_eq!(problem.key, key);
            assert!(problem.message.contains(needle), "{key}={value}: {}", problem.message);
        }
        let stray = canonical(&[("sise", "4")]).unwrap_err();
        assert_eq!(stray.key, "sise");
        assert!(stray.message.contains("size"), "{}", stray.message);
    }

    #[test]
    fn descriptions_are_checked_at_load() {
        let int = |min, max| ParamType::Int { min, max };
        for (params, kind, needle) in [
            (vec![param("a", int(0, 1), None)], Kind::Validator, "no URL parameters"),
            (vec![param("A", int(0, 1), None)], Kind::Transform, "lower-case"),
            (vec![param("a", int(2, 1), None)], Kind::Transform, "empty"),
            (vec![param("a", int(0, 1), Some("2"))], Kind::Transform, "default"),
            (
                vec![param("a", int(0, 1), None), param("a", int(0, 1), None)],
                Kind::Transform,
                "twice",
            ),
            (
                vec![param(
                    "a",
                    ParamType::Float {
                        min: 0.0,
                        max: f64::INFINITY,
                    },
                    None,
                )],
                Kind::Transform,
                "finite",
            ),
            (
                vec![param("a", ParamType::Enum { choices: vec![] }, None)],
                Kind::Transform,
                "choices",
            ),
        ] {
            let error = Description {
                kind: kind.name(),
                ..described(params)
            }
            .checked(kind)
            .unwrap_err();
            assert!(error.contains(needle), "{needle}: {error}");
        }
        for kind in [Kind::Validator, Kind::Preprocessor] {
            let error = described(vec![]).checked(kind).unwrap_err();
            let needle = format!("describes itself as a transform but is built as a {}", kind.name());
            assert!(error.contains(&needle), "{needle}: {error}");
        }
        let many = (0..65).map(|i| param(&format!("p{i}"), int(0, 1), None)).collect();
        assert!(
            described(many)
                .checked(Kind::Transform)
                .unwrap_err()
                .contains("at most 64")
        );
    }
}
