use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

use crate::env::{self, Environment};

/// A parameter's content type in meta-data and when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Any text.
    String,
    /// A whole number (an `i64`).
    Integer,
    /// `ocf_is_true` spellings: yes/true/1/on and no/false/0/off, any case.
    Boolean,
    /// One of a fixed list. The 1.0 DTD knows no `select`, so meta-data shows it as a string
    /// and lists the values in the long description; the value is still checked here.
    Select(&'static [&'static str]),
}

/// One parameter as the declaration holds it: it drives meta-data, parsing and checking.
/// Agents build it through a typed [`Param`] constant.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// The name after `OCF_RESKEY_`.
    pub name: &'static str,
    /// How the value is checked, and its meta-data type.
    pub kind: ParamType,
    /// Pacemaker must pass it (meta-data `required="1"`).
    pub required: bool,
    /// No two resources may share the value (meta-data `unique="1"`, OCF 1.0).
    pub unique: bool,
    /// OCF 1.1 `unique-group`: no two resources may share the values of every parameter of
    /// this group together (a single-parameter group is `unique="1"` too).
    pub unique_group: Option<&'static str>,
    /// OCF 1.1 `reloadable="1"`: a change only alters how the agent itself works, so Pacemaker
    /// applies it with `reload-agent` instead of a stop and start.
    pub reloadable: bool,
    /// The value used when the parameter is unset or empty.
    pub default: Option<&'static str>,
    /// One line for `crm ra info` and the man page.
    pub shortdesc: &'static str,
    /// What the parameter means, in the operator's words.
    pub longdesc: &'static str,
}

impl ParamSpec {
    const fn new(
        name: &'static str,
        kind: ParamType,
        shortdesc: &'static str,
        longdesc: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            kind,
            required: false,
            unique: false,
            unique_group: None,
            reloadable: false,
            default: None,
            shortdesc,
            longdesc,
        }
    }
    /// Mark it required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Mark it unique across resources.
    pub const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    /// Put it in an OCF 1.1 unique group: the values of all the group's parameters together
    /// must differ between resources.
    pub const fn unique_group(mut self, group: &'static str) -> Self {
        self.unique_group = Some(group);
        self
    }
    /// Mark it reloadable (OCF 1.1): a change is applied by `reload-agent`, not a restart.
    pub const fn reloadable(mut self) -> Self {
        self.reloadable = true;
        self
    }
    /// Give it a default value.
    pub const fn default(mut self, v: &'static str) -> Self {
        self.default = Some(v);
        self
    }
}

/// A Rust type a parameter's text converts to, by the rules of its [`ParamType`].
pub trait ParamValue: Sized {
    /// The value of the text, `None` when it does not convert.
    fn from_param(text: &str) -> Option<Self>;
}

impl ParamValue for String {
    fn from_param(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
}

impl ParamValue for i64 {
    fn from_param(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
}

impl ParamValue for bool {
    fn from_param(text: &str) -> Option<Self> {
        parse_bool(text.trim())
    }
}

/// One parameter with the type its value reads as: the agent declares it once as a constant,
/// puts its [`Param::spec`] in the declaration (meta-data, checking) and reads the value with
/// [`Params::get`] / [`Params::value`], so that neither its name nor its default is written
/// twice.
#[derive(Debug)]
pub struct Param<T> {
    /// The declaration (name, type, default, descriptions).
    pub spec: ParamSpec,
    value: PhantomData<fn() -> T>,
}

impl Param<String> {
    /// A text parameter.
    pub const fn string(name: &'static str, short: &'static str, long: &'static str) -> Self {
        Param::of(ParamSpec::new(name, ParamType::String, short, long))
    }
    /// A text parameter restricted to `options` (shown as a string in meta-data).
    pub const fn select(
        name: &'static str,
        options: &'static [&'static str],
        short: &'static str,
        long: &'static str,
    ) -> Self {
        Param::of(ParamSpec::new(
            name,
            ParamType::Select(options),
            short,
            long,
        ))
    }
}

impl Param<i64> {
    /// An integer parameter.
    pub const fn integer(name: &'static str, short: &'static str, long: &'static str) -> Self {
        Param::of(ParamSpec::new(name, ParamType::Integer, short, long))
    }
}

impl Param<bool> {
    /// A boolean parameter (`ocf_is_true` spellings).
    pub const fn boolean(name: &'static str, short: &'static str, long: &'static str) -> Self {
        Param::of(ParamSpec::new(name, ParamType::Boolean, short, long))
    }
}

impl<T> Param<T> {
    const fn of(spec: ParamSpec) -> Self {
        Param {
            spec,
            value: PhantomData,
        }
    }
    /// Mark it required.
    pub const fn required(self) -> Self {
        Param::of(self.spec.required())
    }
    /// Mark it unique across resources.
    pub const fn unique(self) -> Self {
        Param::of(self.spec.unique())
    }
    /// Put it in an OCF 1.1 unique group (see [`ParamSpec::unique_group`]).
    pub const fn unique_group(self, group: &'static str) -> Self {
        Param::of(self.spec.unique_group(group))
    }
    /// Mark it reloadable (see [`ParamSpec::reloadable`]).
    pub const fn reloadable(self) -> Self {
        Param::of(self.spec.reloadable())
    }
    /// Give it a default value (meta-data shows it; [`Params`] applies it).
    pub const fn default(self, v: &'static str) -> Self {
        Param::of(self.spec.default(v))
    }
    /// The parameter's name (`OCF_RESKEY_<name>`).
    pub const fn name(&self) -> &'static str {
        self.spec.name
    }
}

impl<T: ParamValue> Param<T> {
    /// The declared default, converted.
    pub fn default_value(&self) -> Option<T> {
        self.spec.default.and_then(T::from_param)
    }
}

/// A parameter value that is wrong whatever node reads it (exit code 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// A required parameter is unset or empty.
    Missing {
        /// The parameter.
        name: &'static str,
    },
    /// An integer parameter holds something else.
    NotInteger {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: String,
    },
    /// A boolean parameter holds something else.
    NotBoolean {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: String,
    },
    /// A select parameter holds a value outside its list.
    NotAllowed {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: String,
        /// The values it may take.
        allowed: &'static [&'static str],
    },
    /// The value is not UTF-8 (it cannot be shown; no parameter of these agents can be).
    NotUtf8 {
        /// The parameter.
        name: &'static str,
    },
    /// The value holds a control character (a line end, ESC, NUL...): no path, name or
    /// number of these agents has one, and it would reach logs and commands.
    ControlChar {
        /// The parameter.
        name: &'static str,
        /// The value given (shown escaped).
        value: String,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Missing { name } => write!(f, "required parameter {name} is not set"),
            ParamError::NotInteger { name, value } => {
                write!(f, "{name}={value:?} is not an integer")
            }
            ParamError::NotBoolean { name, value } => {
                write!(f, "{name}={value:?} is not a boolean")
            }
            ParamError::NotAllowed {
                name,
                value,
                allowed,
            } => write!(f, "{name}={value:?} is not one of {}", allowed.join(", ")),
            ParamError::NotUtf8 { name } => write!(f, "{name} is not valid UTF-8"),
            ParamError::ControlChar { name, value } => write!(
                f,
                "{name}={} contains a control character",
                crate::escape_controls(value)
            ),
        }
    }
}

impl std::error::Error for ParamError {}

/// Parse an OCF boolean (the spellings of ocf-shellfuncs' `ocf_is_true`/`ocf_is_false`).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" | "y" => Some(true),
        "0" | "no" | "false" | "off" | "n" => Some(false),
        _ => None,
    }
}

/// The parameters of one call: each declared value (or its default), plus every problem found.
/// Parsing never fails as a whole, so that `stop` can still act on a broken configuration.
#[derive(Debug, Clone)]
pub struct Params {
    specs: &'static [ParamSpec],
    values: HashMap<&'static str, String>,
    errors: Vec<ParamError>,
}

impl Params {
    /// Read `OCF_RESKEY_<name>` for every declared parameter. An empty value counts as unset
    /// (an empty optional parameter means its default).
    pub fn parse(specs: &'static [ParamSpec], vars: &Environment) -> Params {
        let mut values = HashMap::new();
        let mut errors = Vec::new();
        for s in specs {
            let key = env::reskey(s.name);
            if vars.is_not_utf8(&key) {
                errors.push(ParamError::NotUtf8 { name: s.name });
                continue;
            }
            let raw = vars.get(&key).filter(|v| !v.is_empty()).map(str::to_string);
            if let Some(v) = raw.as_ref().filter(|v| v.contains(char::is_control)) {
                errors.push(ParamError::ControlChar {
                    name: s.name,
                    value: v.clone(),
                });
                continue;
            }
            let Some(v) = raw.or_else(|| s.default.map(str::to_string)) else {
                if s.required {
                    errors.push(ParamError::Missing { name: s.name });
                }
                continue;
            };
            let bad = match s.kind {
                ParamType::String => None,
                ParamType::Integer => {
                    v.trim()
                        .parse::<i64>()
                        .err()
                        .map(|_| ParamError::NotInteger {
                            name: s.name,
                            value: v.clone(),
                        })
                }
                ParamType::Boolean => {
                    parse_bool(v.trim())
                        .is_none()
                        .then(|| ParamError::NotBoolean {
                            name: s.name,
                            value: v.clone(),
                        })
                }
                ParamType::Select(allowed) => {
                    (!allowed.contains(&v.as_str())).then(|| ParamError::NotAllowed {
                        name: s.name,
                        value: v.clone(),
                        allowed,
                    })
                }
            };
            match bad {
                Some(e) => errors.push(e),
                None => {
                    values.insert(s.name, v);
                }
            }
        }
        Params {
            specs,
            values,
            errors,
        }
    }

    /// The first problem, if any.
    pub fn check(&self) -> Result<(), ParamError> {
        match self.errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Every problem found, in declaration order.
    pub fn errors(&self) -> &[ParamError] {
        &self.errors
    }

    fn declared(&self, name: &str) {
        // A lookup of an undeclared name is a bug in the agent, found by its unit tests.
        assert!(
            self.specs.iter().any(|s| s.name == name),
            "parameter {name} is not declared"
        );
    }

    /// The value (or default) of a valid parameter, as text.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.declared(name);
        self.values.get(name).map(String::as_str)
    }

    /// The value given (or the declared default) when it is valid; `None` when unset without
    /// a default, or wrong (the error is in [`Params::check`]).
    pub fn get<T: ParamValue>(&self, p: &Param<T>) -> Option<T> {
        self.str(p.name()).and_then(T::from_param)
    }

    /// Like [`Params::get`], for a parameter that is required or has a default: unset is
    /// [`ParamError::Missing`].
    pub fn value<T: ParamValue>(&self, p: &Param<T>) -> Result<T, ParamError> {
        self.get(p).ok_or(ParamError::Missing { name: p.name() })
    }

    /// The value given when valid, else the declared default: for the actions that must act
    /// on a broken configuration (stop).
    pub fn lenient<T: ParamValue>(&self, p: &Param<T>) -> Option<T> {
        self.get(p).or_else(|| p.default_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: Param<String> = Param::string("dir", "d", "d").required();
    const N: Param<i64> = Param::integer("n", "n", "n").default("5");
    const FLAG: Param<bool> = Param::boolean("flag", "f", "f").default("false");
    const MODE: Param<String> = Param::select("mode", &["a", "b"], "m", "m").default("a");
    static SPECS: &[ParamSpec] = &[DIR.spec, N.spec, FLAG.spec, MODE.spec];

    fn vars(kv: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(
            kv.iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
        )
    }

    #[test]
    fn defaults_apply() {
        let p = Params::parse(SPECS, &vars(&[("dir", "/x")]));
        assert!(p.check().is_ok());
        assert_eq!(p.get(&DIR).as_deref(), Some("/x"));
        assert_eq!(p.get(&N), Some(5));
        assert_eq!(p.get(&FLAG), Some(false));
        assert_eq!(p.value(&MODE).as_deref(), Ok("a"));
    }

    #[test]
    fn empty_counts_as_unset() {
        let p = Params::parse(SPECS, &vars(&[("dir", ""), ("n", "")]));
        assert_eq!(p.check(), Err(ParamError::Missing { name: "dir" }));
        assert_eq!(p.value(&DIR), Err(ParamError::Missing { name: "dir" }));
        assert_eq!(p.get(&N), Some(5));
    }

    #[test]
    fn bad_values_are_reported_with_the_value() {
        let p = Params::parse(
            SPECS,
            &vars(&[
                ("dir", "/x"),
                ("n", "ten"),
                ("flag", "maybe"),
                ("mode", "c"),
            ]),
        );
        let msgs: Vec<String> = p.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "n=\"ten\" is not an integer",
                "flag=\"maybe\" is not a boolean",
                "mode=\"c\" is not one of a, b"
            ]
        );
        assert_eq!(
            p.get(&DIR).as_deref(),
            Some("/x"),
            "good values stay usable"
        );
        assert_eq!(p.get(&N), None);
        assert_eq!(p.lenient(&N), Some(5), "stop falls back on the default");
        assert_eq!(p.lenient(&FLAG), Some(false));
    }

    #[test]
    fn non_utf8_and_control_characters_are_named() {
        use std::os::unix::ffi::OsStringExt;
        let env = Environment::from_os([
            (
                std::ffi::OsString::from("OCF_RESKEY_dir"),
                std::ffi::OsString::from_vec(b"/x\xff".to_vec()),
            ),
            (
                std::ffi::OsString::from("OCF_RESKEY_mode"),
                std::ffi::OsString::from("a\nocf-exit-reason:x"),
            ),
            (
                std::ffi::OsString::from_vec(b"JUNK\xfe".to_vec()),
                std::ffi::OsString::from("1"),
            ),
        ]);
        let p = Params::parse(SPECS, &env);
        let msgs: Vec<String> = p.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "dir is not valid UTF-8",
                "mode=a\\nocf-exit-reason:x contains a control character"
            ]
        );
        assert_eq!(p.get(&DIR), None);
    }

    #[test]
    fn booleans() {
        for t in ["1", "yes", "TRUE", "On"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "no", "False", "off"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("2"), None);
    }

    #[test]
    #[should_panic(expected = "not declared")]
    fn undeclared_lookup_is_a_bug() {
        const NOPE: Param<String> = Param::string("nope", "n", "n");
        Params::parse(SPECS, &vars(&[])).get(&NOPE);
    }
}
