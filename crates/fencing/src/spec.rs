//! An agent's declaration: parameters and actions, from which the command-line parser, the
//! stdin parser, `validate-all` and the metadata all come.

use std::fmt::Write;

use axha_exec::escape_xml;

/// A parameter's content type, as the fence-agents metadata schema spells it
/// (`/usr/share/cluster/relaxng/metadata.rng`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A flag or a yes/no value.
    Boolean,
    /// Any text.
    String,
    /// A whole number.
    Integer,
    /// Seconds (may be fractional).
    Second,
    /// One of a fixed list of values.
    Select(&'static [&'static str]),
}

/// One parameter. `name` is what stdin (`name=value`) and the CIB use; `long`/`short` are
/// the getopt spellings; `deprecated` is an older stdin name still accepted.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// The stdin and CIB name.
    pub name: &'static str,
    /// An older stdin name still accepted (fence-agents' deprecated spelling).
    pub deprecated: Option<&'static str>,
    /// The one-letter getopt option.
    pub short: Option<char>,
    /// The long getopt option, without `--`.
    pub long: &'static str,
    /// Placeholder shown in metadata (`--ip=[ip]`); `None` for flags, which take no value.
    pub value: Option<&'static str>,
    /// How the value is checked, and its metadata type.
    pub content: Content,
    /// The value used when the parameter is not given (or empty).
    pub default: Option<&'static str>,
    /// Every action but metadata needs it.
    pub required: bool,
    /// One line for the metadata and `--help`.
    pub shortdesc: &'static str,
    /// Never echoed in messages (passwords).
    pub secret: bool,
}

impl Param {
    /// A string-valued option with no short form, not required, no default.
    pub const fn new(name: &'static str, long: &'static str, shortdesc: &'static str) -> Param {
        Param {
            name,
            deprecated: None,
            short: None,
            long,
            value: Some("value"),
            content: Content::String,
            default: None,
            required: false,
            shortdesc,
            secret: false,
        }
    }
    /// Give it a one-letter option.
    pub const fn short(mut self, c: char) -> Param {
        self.short = Some(c);
        self
    }
    /// Accept an older stdin name as well.
    pub const fn deprecated(mut self, old: &'static str) -> Param {
        self.deprecated = Some(old);
        self
    }
    /// It takes a value, shown as `v` in `--help`.
    pub const fn value(mut self, v: &'static str) -> Param {
        self.value = Some(v);
        self
    }
    /// It is a flag: present or not, no value.
    pub const fn flag(mut self) -> Param {
        self.value = None;
        self.content = Content::Boolean;
        self
    }
    /// Set how the value is checked.
    pub const fn content(mut self, c: Content) -> Param {
        self.content = c;
        self
    }
    /// Give it a default value.
    pub const fn default(mut self, d: &'static str) -> Param {
        self.default = Some(d);
        self
    }
    /// Mark it required.
    pub const fn required(mut self) -> Param {
        self.required = true;
        self
    }
    /// Mark it secret: never echoed in messages.
    pub const fn secret(mut self) -> Param {
        self.secret = true;
        self
    }

    fn getopt_mixed(&self) -> String {
        let mut s = String::new();
        if let Some(c) = self.short {
            let _ = write!(s, "-{c}, ");
        }
        let _ = write!(s, "--{}", self.long);
        if let Some(v) = self.value {
            let _ = write!(s, "=[{v}]");
        }
        s
    }
}

/// Fence actions (fence-agents API; Pacemaker uses on, off, reboot, status, monitor, list,
/// metadata and validate-all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Power on.
    On,
    /// Power off.
    Off,
    /// Power off, then on (or a power cycle).
    Reboot,
    /// Report the power state (exit 0 on, 2 off).
    Status,
    /// Check the device answers.
    Monitor,
    /// List the plugs the device controls.
    List,
    /// Pulse a diagnostic interrupt (NMI) to the node (fence_ipmilan's `diag`): a kernel set
    /// up for it dumps its memory and stops; the power state is not changed or verified.
    Diag,
    /// Print the agent's metadata.
    Metadata,
    /// Check the parameters without touching the device.
    ValidateAll,
}

/// One table for the spellings, so parse and display cannot disagree.
const ACTIONS: &[(Action, &str)] = &[
    (Action::On, "on"),
    (Action::Off, "off"),
    (Action::Reboot, "reboot"),
    (Action::Status, "status"),
    (Action::Monitor, "monitor"),
    (Action::List, "list"),
    (Action::Diag, "diag"),
    (Action::Metadata, "metadata"),
    (Action::ValidateAll, "validate-all"),
];

impl Action {
    /// The name on stdin and in metadata (`validate-all`).
    pub fn name(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(a, _)| *a == self)
            .map(|(_, n)| *n)
            .expect("every action is in the table")
    }
    /// The action a name stands for (fence-agents' aliases included).
    pub fn parse(s: &str) -> Option<Action> {
        let s = s.trim().to_ascii_lowercase();
        // fence-agents accept "enable"/"disable" as on/off (fencing.py)
        let s = match s.as_str() {
            "enable" => "on",
            "disable" => "off",
            "meta-data" => "metadata",
            other => other,
        };
        ACTIONS.iter().find(|(_, n)| *n == s).map(|(a, _)| *a)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A whole agent declaration.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// The agent's name (`fence_...`).
    pub name: &'static str,
    /// One line saying what it fences.
    pub shortdesc: &'static str,
    /// What it does, for the metadata and `--help`.
    pub longdesc: &'static str,
    /// Where the device's documentation is.
    pub vendor_url: &'static str,
    /// The parameters, in metadata order.
    pub params: Vec<Param>,
    /// The actions it answers.
    pub actions: &'static [Action],
}

impl AgentSpec {
    /// The parameter a stdin key, deprecated key included, refers to.
    pub fn by_name(&self, key: &str) -> Option<&Param> {
        self.params
            .iter()
            .find(|p| p.name == key || p.deprecated == Some(key))
    }
    /// The parameter with this long option.
    pub fn by_long(&self, long: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.long == long)
    }
    /// The parameter with this one-letter option.
    pub fn by_short(&self, c: char) -> Option<&Param> {
        self.params.iter().find(|p| p.short == Some(c))
    }

    /// Metadata in the fence-agents format, valid against
    /// `/usr/share/cluster/relaxng/metadata.rng`. A deprecated name is listed as its own
    /// parameter with `deprecated="1"`, and the current one says `obsoletes`.
    pub fn metadata(&self) -> String {
        let mut x = String::new();
        x.push_str("<?xml version=\"1.0\" ?>\n");
        let _ = writeln!(
            x,
            "<resource-agent name=\"{}\" shortdesc=\"{}\" >",
            escape_xml(self.name),
            escape_xml(self.shortdesc)
        );
        let _ = writeln!(x, "<longdesc>{}</longdesc>", escape_xml(self.longdesc));
        let _ = writeln!(
            x,
            "<vendor-url>{}</vendor-url>",
            escape_xml(self.vendor_url)
        );
        x.push_str("<parameters>\n");
        for p in &self.params {
            param_xml(&mut x, p, p.name, false);
            if let Some(old) = p.deprecated {
                param_xml(&mut x, p, old, true);
            }
        }
        x.push_str("</parameters>\n<actions>\n");
        for a in self.actions {
            if *a == Action::On {
                // "automatic=0": Pacemaker need not unfence with it (fence-agents' form)
                let _ = writeln!(x, "\t<action name=\"on\" automatic=\"0\"/>");
            } else {
                let _ = writeln!(x, "\t<action name=\"{}\" />", a.name());
            }
        }
        x.push_str("</actions>\n</resource-agent>\n");
        x
    }
}

impl AgentSpec {
    /// The parameter table for documentation (markdown), from the same declaration as the
    /// metadata and the parsers, so the README cannot drift from the agent.
    pub fn parameter_table(&self) -> String {
        let mut t =
            String::from("| stdin name | option | default | description |\n|---|---|---|---|\n");
        for p in &self.params {
            let mut name = format!("`{}`", p.name);
            if let Some(old) = p.deprecated {
                let _ = write!(name, " (old: `{old}`)");
            }
            if p.required {
                name.push_str(" required");
            }
            let mut opt = String::new();
            if let Some(c) = p.short {
                let _ = write!(opt, "`-{c}` ");
            }
            let _ = write!(opt, "`--{}`", p.long);
            let mut desc = p.shortdesc.replace('|', "\\|");
            if let Content::Select(opts) = p.content {
                let _ = write!(desc, " ({})", opts.join(", "));
            }
            let _ = writeln!(
                t,
                "| {name} | {opt} | {} | {desc} |",
                p.default.map(|d| format!("`{d}`")).unwrap_or_default()
            );
        }
        t
    }
}

fn param_xml(x: &mut String, p: &Param, name: &str, is_deprecated: bool) {
    let _ = write!(
        x,
        "\t<parameter name=\"{}\" unique=\"0\" required=\"{}\"",
        escape_xml(name),
        u8::from(p.required && !is_deprecated)
    );
    if is_deprecated {
        x.push_str(" deprecated=\"1\"");
    } else if let Some(old) = p.deprecated {
        let _ = write!(x, " obsoletes=\"{}\"", escape_xml(old));
    }
    x.push_str(">\n");
    let _ = writeln!(
        x,
        "\t\t<getopt mixed=\"{}\" />",
        escape_xml(&p.getopt_mixed())
    );
    let ty = match p.content {
        Content::Boolean => "boolean",
        Content::String => "string",
        Content::Integer => "integer",
        Content::Second => "second",
        Content::Select(_) => "select",
    };
    let _ = write!(x, "\t\t<content type=\"{ty}\"");
    if let Some(d) = p.default {
        let _ = write!(x, " default=\"{}\"", escape_xml(d));
    }
    match p.content {
        Content::Select(opts) => {
            x.push_str(" >\n");
            for o in opts {
                let _ = writeln!(x, "\t\t\t<option value=\"{}\" />", escape_xml(o));
            }
            x.push_str("\t\t</content>\n");
        }
        _ => x.push_str(" />\n"),
    }
    let _ = writeln!(
        x,
        "\t\t<shortdesc lang=\"en\">{}</shortdesc>",
        escape_xml(p.shortdesc)
    );
    x.push_str("\t</parameter>\n");
}

/// Parameters every fence agent of this project shares, with the fence-agents spellings.
pub mod common {
    use super::{Content, Param};

    /// `action` (`-o`): what to do; reboot by default.
    pub const ACTION: Param = Param::new("action", "action", "Fencing action")
        .short('o')
        .value("action")
        .default("reboot")
        .required();
    /// `plug` (`-n`, older `port`): the node to act on.
    pub const PLUG: Param = Param::new(
        "plug",
        "plug",
        "Node to act on (Pacemaker passes the target node's name); checked against bound_node",
    )
    .short('n')
    .value("id")
    .deprecated("port");
    /// `bound_node`: the one node this device may fence.
    pub const BOUND_NODE: Param = Param::new(
        "bound_node",
        "bound-node",
        "The one node this device fences: a request naming another node (plug, port or nodename) is refused",
    )
    .value("node");
    /// `password` (`-p`, older `passwd`).
    pub const PASSWORD: Param = Param::new(
        "password",
        "password",
        "Login password (on the command line it shows in ps: prefer stdin, password_script or password_file)",
    )
    .short('p')
    .value("password")
    .deprecated("passwd")
    .secret();
    /// `password_script` (`-S`): a command printing the password.
    pub const PASSWORD_SCRIPT: Param = Param::new(
        "password_script",
        "password-script",
        "Program whose first line of output is the password (run without a shell, bounded by login_timeout)",
    )
    .short('S')
    .value("script")
    .deprecated("passwd_script");
    /// `password_file`: a file holding the password on its first line.
    pub const PASSWORD_FILE: Param = Param::new(
        "password_file",
        "password-file",
        "File whose first line is the password",
    )
    .value("path");
    /// `delay`: seconds to wait before off or reboot.
    pub const DELAY: Param = Param::new(
        "delay",
        "delay",
        "Wait X seconds before fencing is started (off and reboot)",
    )
    .value("seconds")
    .content(Content::Second)
    .default("0");
    /// `login_timeout`: seconds a login (and each device command) may take.
    pub const LOGIN_TIMEOUT: Param = Param::new(
        "login_timeout",
        "login-timeout",
        "Wait X seconds for the device to answer and accept the login",
    )
    .value("seconds")
    .content(Content::Second)
    .default("5");
    /// `power_timeout`: seconds to wait for the power state to change.
    pub const POWER_TIMEOUT: Param = Param::new(
        "power_timeout",
        "power-timeout",
        "Test X seconds for status change after ON/OFF",
    )
    .value("seconds")
    .content(Content::Second)
    .default("20");
    /// `power_wait`: seconds to wait after a power change.
    pub const POWER_WAIT: Param = Param::new(
        "power_wait",
        "power-wait",
        "Wait X seconds after issuing ON/OFF (compatibility; off is verified by polling)",
    )
    .value("seconds")
    .content(Content::Second)
    .default("0");
    /// `retry_on`: attempts at powering on.
    pub const RETRY_ON: Param = Param::new(
        "retry_on",
        "retry-on",
        "Count of attempts to retry power on",
    )
    .value("attempts")
    .content(Content::Integer)
    .default("1");
    /// `verbose` (`-v`): log each step.
    pub const VERBOSE: Param = Param::new("verbose", "verbose", "Verbose mode")
        .short('v')
        .flag();
    /// `verbose_level`: how much detail (fence-agents: defaults to 1 with `verbose`, else
    /// 0); 1 logs each step, 2 also each command's answer.
    pub const VERBOSE_LEVEL: Param = Param::new(
        "verbose_level",
        "verbose-level",
        "Level of debugging detail in output. Defaults to 1 if verbose is set, else 0",
    )
    .value("level")
    .content(Content::Integer);
    /// `debug_file` (`-D`, stdin `debug` of older fence-agents): every step, with its
    /// time, appended to a file whatever the verbosity.
    pub const DEBUG_FILE: Param = Param::new(
        "debug_file",
        "debug-file",
        "Write debug information to given file",
    )
    .short('D')
    .deprecated("debug")
    .value("debugfile");
    /// `quiet` (`-q`): log nothing.
    pub const QUIET: Param = Param::new("quiet", "quiet", "Disable logging to stderr")
        .short('q')
        .flag();
    /// `version` (`-V`): print the version.
    pub const VERSION: Param =
        Param::new("version", "version", "Display version information and exit")
            .short('V')
            .flag();
    /// `help` (`-h`): print the usage.
    pub const HELP: Param = Param::new("help", "help", "Display help and exit")
        .short('h')
        .flag();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_table_roundtrips() {
        for (a, n) in ACTIONS {
            assert_eq!(Action::parse(n), Some(*a));
            assert_eq!(a.name(), *n);
        }
        assert_eq!(Action::parse(" OFF "), Some(Action::Off));
        assert_eq!(Action::parse("disable"), Some(Action::Off));
        assert_eq!(Action::parse("explode"), None);
    }

    #[test]
    fn metadata_lists_deprecated_names_and_escapes() {
        let spec = AgentSpec {
            name: "fence_x",
            shortdesc: "a <b> & \"c\"",
            longdesc: "l",
            vendor_url: "",
            params: vec![common::ACTION, common::PLUG, common::VERBOSE],
            actions: &[Action::On, Action::Off],
        };
        let m = spec.metadata();
        assert!(
            m.contains("shortdesc=\"a &lt;b&gt; &amp; &quot;c&quot;\""),
            "{m}"
        );
        assert!(
            m.contains("<parameter name=\"plug\" unique=\"0\" required=\"0\" obsoletes=\"port\">"),
            "{m}"
        );
        assert!(
            m.contains("<parameter name=\"port\" unique=\"0\" required=\"0\" deprecated=\"1\">"),
            "{m}"
        );
        assert!(m.contains("<getopt mixed=\"-v, --verbose\" />"), "{m}");
        assert!(
            m.contains("<getopt mixed=\"-o, --action=[action]\" />"),
            "{m}"
        );
        assert!(m.contains("<action name=\"on\" automatic=\"0\"/>"), "{m}");
    }
}
