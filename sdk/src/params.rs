//! A plugin's description and its parameters, declared once as constants and
//! used both to answer `describe` and to read values with their types.

use std::marker::PhantomData;

use crate::Error;
use crate::types::parse_colour;

/// The kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transform,
    Validator,
    Preprocessor,
}

/// What values a parameter accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepts {
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64 },
    Boolean,
    Colour,
    Choice(&'static [&'static str]),
    Text { max_length: u32 },
}

/// A declared parameter of type `T`, made with [`Param::int`],
/// [`Param::float`], [`Param::boolean`], [`Param::colour`],
/// [`Param::choice`] or [`Param::text`], then [`Param::default`] and
/// [`Param::doc`]; all `const`, so a parameter is a constant:
///
/// ```
/// use kiln_sdk::Param;
/// const AMOUNT: Param<f64> = Param::float("amount", 0.0, 1.0)
///     .default(1.0)
///     .doc("How far toward the negative: 0 keeps the image, 1 inverts it");
/// ```
#[derive(Debug, Clone)]
pub struct Param<T> {
    pub name: &'static str,
    pub accepts: Accepts,
    /// The default as a URL spells it.
    pub default: Option<DefaultValue>,
    pub doc: &'static str,
    value: PhantomData<fn() -> T>,
}

/// A parameter's default, kept as declared until it is spelt out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    Int(i64),
    Float(f64),
    Boolean(bool),
    Text(&'static str),
}

impl DefaultValue {
    /// The value as a URL spells it.
    pub fn spelt(&self) -> String {
        match self {
            DefaultValue::Int(n) => n.to_string(),
            DefaultValue::Float(x) => format!("{}", x + 0.0),
            DefaultValue::Boolean(b) => b.to_string(),
            DefaultValue::Text(text) => (*text).to_owned(),
        }
    }
}

const fn declared<T>(name: &'static str, accepts: Accepts) -> Param<T> {
    Param {
        name,
        accepts,
        default: None,
        doc: "",
        value: PhantomData,
    }
}

impl<T> Param<T> {
    /// One line on what the parameter does, shown to people and front ends.
    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }
}

impl Param<i64> {
    /// A whole number from `min` to `max`.
    pub const fn int(name: &'static str, min: i64, max: i64) -> Self {
        declared(name, Accepts::Int { min, max })
    }
    pub const fn default(mut self, value: i64) -> Self {
        self.default = Some(DefaultValue::Int(value));
        self
    }
}

impl Param<f64> {
    /// A number from `min` to `max`.
    pub const fn float(name: &'static str, min: f64, max: f64) -> Self {
        declared(name, Accepts::Float { min, max })
    }
    pub const fn default(mut self, value: f64) -> Self {
        self.default = Some(DefaultValue::Float(value));
        self
    }
}

impl Param<bool> {
    /// `true` or `false`.
    pub const fn boolean(name: &'static str) -> Self {
        declared(name, Accepts::Boolean)
    }
    pub const fn default(mut self, value: bool) -> Self {
        self.default = Some(DefaultValue::Boolean(value));
        self
    }
}

impl Param<[u8; 4]> {
    /// A colour, `RRGGBB` or `RRGGBBAA` in hex; read as `[r, g, b, a]`.
    pub const fn colour(name: &'static str) -> Self {
        declared(name, Accepts::Colour)
    }
    /// The default colour in hex, e.g. `"ffffff"`.
    pub const fn default(mut self, hex: &'static str) -> Self {
        self.default = Some(DefaultValue::Text(hex));
        self
    }
}

impl Param<&'static str> {
    /// One of `choices`; read as the choice given.
    pub const fn choice(name: &'static str, choices: &'static [&'static str]) -> Self {
        declared(name, Accepts::Choice(choices))
    }
    pub const fn default(mut self, choice: &'static str) -> Self {
        self.default = Some(DefaultValue::Text(choice));
        self
    }
}

impl Param<String> {
    /// Any text of at most `max_length` characters.
    pub const fn text(name: &'static str, max_length: u32) -> Self {
        declared(name, Accepts::Text { max_length })
    }
    pub const fn default(mut self, text: &'static str) -> Self {
        self.default = Some(DefaultValue::Text(text));
        self
    }
}

/// A value a parameter's text can be read as.
pub trait ParamValue: Sized {
    /// `text` read under `accepts`, or why it cannot be.
    fn read(text: &str, accepts: &Accepts) -> Result<Self, String>;
}

impl ParamValue for i64 {
    fn read(text: &str, accepts: &Accepts) -> Result<Self, String> {
        match (text.parse::<i64>(), accepts) {
            (Ok(n), Accepts::Int { min, max }) if (*min..=*max).contains(&n) => Ok(n),
            (_, Accepts::Int { min, max }) => Err(format!("must be a whole number from {min} to {max}")),
            _ => Err("is not declared as an int".into()),
        }
    }
}

impl ParamValue for f64 {
    fn read(text: &str, accepts: &Accepts) -> Result<Self, String> {
        match (text.parse::<f64>(), accepts) {
            (Ok(x), Accepts::Float { min, max }) if x.is_finite() && *min <= x && x <= *max => Ok(x),
            (_, Accepts::Float { min, max }) => Err(format!("must be a number from {min} to {max}")),
            _ => Err("is not declared as a float".into()),
        }
    }
}

impl ParamValue for bool {
    fn read(text: &str, _: &Accepts) -> Result<Self, String> {
        text.parse().map_err(|_| "must be true or false".into())
    }
}

impl ParamValue for [u8; 4] {
    fn read(text: &str, _: &Accepts) -> Result<Self, String> {
        parse_colour(text).map_err(|_| "must be a colour as RRGGBB or RRGGBBAA in hex".into())
    }
}

impl ParamValue for &'static str {
    fn read(text: &str, accepts: &Accepts) -> Result<Self, String> {
        match accepts {
            Accepts::Choice(choices) => choices
                .iter()
                .find(|choice| **choice == text)
                .copied()
                .ok_or_else(|| format!("must be one of {}", choices.join(", "))),
            _ => Err("is not declared as a choice".into()),
        }
    }
}

impl ParamValue for String {
    fn read(text: &str, accepts: &Accepts) -> Result<Self, String> {
        match accepts {
            Accepts::Text { max_length } if text.chars().count() > *max_length as usize => {
                Err(format!("must be at most {max_length} characters"))
            }
            _ => Ok(text.to_owned()),
        }
    }
}

/// A transform's URL parameters (`{plugin}.{key}` without the prefix),
/// read through their declarations. Kiln has checked them against the
/// description and filled in the defaults before the call, so reading a
/// declared parameter fails only in native tests that give a bad value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl From<Vec<(String, String)>> for Params {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }
}

impl Params {
    /// Parameters as a URL would give them, for tests:
    /// `Params::from_pairs([("amount", "0.5")])`.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// `param`'s value, or its default; an error naming it when it has
    /// neither or its value does not read.
    pub fn get<T: ParamValue>(&self, param: &Param<T>) -> Result<T, Error> {
        self.optional(param)?
            .ok_or_else(|| Error::invalid_param(param, "is required"))
    }

    /// `param`'s value or its default, `None` when it has neither.
    pub fn optional<T: ParamValue>(&self, param: &Param<T>) -> Result<Option<T>, Error> {
        let given = self.0.iter().find(|(key, _)| key == param.name).map(|(_, v)| v.clone());
        let Some(text) = given.or_else(|| param.default.map(|d| d.spelt())) else {
            return Ok(None);
        };
        T::read(&text, &param.accepts)
            .map(Some)
            .map_err(|reason| Error::invalid_param(param, reason))
    }
}

impl Params {
    /// `param`'s URL value, else the config's value of the same name (read
    /// the same way), else its default: for settings an operator fixes in
    /// the config and a URL may override. Such a parameter declares no
    /// default, or the URL would always give one.
    pub fn or_config<T: ParamValue>(&self, param: &Param<T>, config: &crate::Settings) -> Result<Option<T>, Error> {
        let given = self.0.iter().any(|(key, _)| key == param.name);
        match config.get(param.name) {
            Some(text) if !given => T::read(text, &param.accepts)
                .map(Some)
                .map_err(|why| Error::failed(format!("config `{}` {why}", param.name))),
            _ => self.optional(param),
        }
    }
}

/// A parameter as a description lists it, its type erased.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub accepts: Accepts,
    pub default: Option<String>,
    pub doc: &'static str,
}

/// What a plugin says of itself to Kiln, once, when it is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub name: &'static str,
    pub version: &'static str,
    pub kind: Kind,
    pub summary: &'static str,
    pub params: Vec<ParamSpec>,
}

impl Description {
    /// A transform; add its parameters with [`Description::param`].
    /// `version` is usually `env!("CARGO_PKG_VERSION")`.
    pub fn transform(name: &'static str, version: &'static str, summary: &'static str) -> Self {
        Self::new(Kind::Transform, name, version, summary)
    }

    pub fn validator(name: &'static str, version: &'static str, summary: &'static str) -> Self {
        Self::new(Kind::Validator, name, version, summary)
    }

    pub fn preprocessor(name: &'static str, version: &'static str, summary: &'static str) -> Self {
        Self::new(Kind::Preprocessor, name, version, summary)
    }

    fn new(kind: Kind, name: &'static str, version: &'static str, summary: &'static str) -> Self {
        Self {
            name,
            version,
            kind,
            summary,
            params: Vec::new(),
        }
    }

    /// Declares a transform's URL parameter.
    pub fn param<T>(mut self, param: &Param<T>) -> Self {
        self.params.push(ParamSpec {
            name: param.name,
            accepts: param.accepts.clone(),
            default: param.default.map(|d| d.spelt()),
            doc: param.doc,
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: Param<i64> = Param::int("size", 2, 64).default(8).doc("Block size in pixels");
    const AMOUNT: Param<f64> = Param::float("amount", 0.0, 1.0);
    const SOFT: Param<bool> = Param::boolean("soft").default(false);
    const TINT: Param<[u8; 4]> = Param::colour("tint").default("ff8000");
    const MODE: Param<&'static str> = Param::choice("mode", &["block", "hex"]).default("block");
    const LABEL: Param<String> = Param::text("label", 4);

    #[test]
    fn parameters_read_with_their_types_and_defaults() {
        let none = Params::default();
        assert_eq!(none.get(&SIZE).unwrap(), 8);
        assert!(!none.get(&SOFT).unwrap());
        assert_eq!(none.get(&TINT).unwrap(), [255, 128, 0, 255]);
        assert_eq!(none.get(&MODE).unwrap(), "block");
        assert_eq!(none.optional(&AMOUNT).unwrap(), None);
        assert_eq!(
            none.get(&LABEL).unwrap_err(),
            Error::InvalidParam {
                name: "label".into(),
                reason: "is required".into()
            }
        );
        let given = Params::from_pairs([("size", "16"), ("amount", "0.25"), ("mode", "hex"), ("label", "ab")]);
        assert_eq!(given.get(&SIZE).unwrap(), 16);
        assert_eq!(given.get(&AMOUNT).unwrap(), 0.25);
        assert_eq!(given.get(&MODE).unwrap(), "hex");
        assert_eq!(given.get(&LABEL).unwrap(), "ab");
        let bad = Params::from_pairs([("size", "1"), ("mode", "x"), ("label", "abcde")]);
        for error in [
            bad.get(&SIZE).unwrap_err(),
            bad.get(&MODE).unwrap_err(),
            bad.get(&LABEL).unwrap_err(),
        ] {
            assert!(matches!(error, Error::InvalidParam { .. }), "{error:?}");
        }
    }

    #[test]
    fn the_config_stands_in_for_what_a_url_leaves_out() {
        let config = crate::Settings::from_pairs([("amount", "0.75")]);
        let url = Params::from_pairs([("amount", "0.5")]);
        assert_eq!(url.or_config(&AMOUNT, &config).unwrap(), Some(0.5));
        assert_eq!(Params::default().or_config(&AMOUNT, &config).unwrap(), Some(0.75));
        assert_eq!(Params::default().or_config(&AMOUNT, &Default::default()).unwrap(), None);
        let broken = crate::Settings::from_pairs([("amount", "2")]);
        let error = Params::default().or_config(&AMOUNT, &broken).unwrap_err();
        assert!(
            matches!(&error, Error::Failed(message) if message.contains("config `amount`")),
            "{error}"
        );
    }

    #[test]
    fn descriptions_list_what_was_declared() {
        let description = Description::transform("pixelate", "1.0.0", "Pixelates")
            .param(&SIZE)
            .param(&TINT);
        assert_eq!(description.kind, Kind::Transform);
        assert_eq!(description.params[0].default.as_deref(), Some("8"));
        assert_eq!(description.params[0].doc, "Block size in pixels");
        assert_eq!(description.params[1].accepts, Accepts::Colour);
    }
}
