//! One fence request, parsed from `key=value` lines on stdin (how Pacemaker calls fence
//! agents) or from getopt-style options (how people call them).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axha_exec::{escape_controls, read_bounded, Cmd, Deadline, MAX_SECRET_BYTES};

use crate::spec::{Action, AgentSpec, Content, Param};
use crate::FenceError;

/// Pacemaker adds `nodename=<target>` to every fencing request (besides `port`/`plug`).
pub const PACEMAKER_NODENAME: &str = "nodename";

/// A password (or other secret): not shown by `Debug`, wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret holding these bytes.
    pub fn new(b: Vec<u8>) -> Secret {
        Secret(b)
    }
    /// The bytes, for the one place that sends them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: valid exclusive reference to a byte; volatile so the wipe is kept.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// Where the request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `key=value` lines on stdin (Pacemaker).
    Stdin,
    /// getopt-style options (a person).
    CommandLine,
}

/// A parsed request: the action, the values given (by canonical name), Pacemaker's
/// `nodename`, and the keys that were ignored.
#[derive(Clone)]
pub struct Request {
    /// The action asked for (`reboot` when none is).
    pub action: Action,
    /// Whether it came from stdin or the command line.
    pub source: Source,
    values: BTreeMap<&'static str, String>,
    params: Vec<Param>,
    /// The target node Pacemaker names with `nodename=`.
    pub nodename: Option<String>,
    /// Keys this agent does not know (ignored, as the fence-agents API requires).
    pub ignored: Vec<String>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .values
            .iter()
            .map(|(k, v)| {
                let secret = self.params.iter().any(|p| p.name == *k && p.secret);
                (*k, if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("Request")
            .field("action", &self.action)
            .field("values", &shown)
            .field("nodename", &self.nodename)
            .field("ignored", &self.ignored)
            .finish()
    }
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "yes" | "on" | "true"
    )
}

impl Request {
    /// Parse stdin text: one `key=value` per line, `#` comments, unknown keys ignored,
    /// deprecated names mapped to current ones (fence-agents' fencing.py rules: the line is
    /// trimmed, the value is everything after the first `=`).
    pub fn from_stdin(spec: &AgentSpec, text: &str) -> Result<Request, FenceError> {
        Request::from_stdin_bytes(spec, text.as_bytes())
    }

    /// [`Request::from_stdin`] over raw bytes: a line that is not UTF-8 is an error when its
    /// key is a parameter of the agent, and ignored like any unknown key otherwise.
    pub fn from_stdin_bytes(spec: &AgentSpec, input: &[u8]) -> Result<Request, FenceError> {
        let mut values = BTreeMap::new();
        let mut nodename = None;
        let mut ignored = Vec::new();
        for raw in input.split(|b| *b == b'\n') {
            let line = match std::str::from_utf8(raw) {
                Ok(l) => l,
                Err(_) => {
                    let key = raw.split(|b| *b == b'=').next().unwrap_or_default();
                    let key = String::from_utf8_lossy(key).trim().to_string();
                    if let Some(p) = spec.by_name(&key) {
                        return Err(FenceError::Invalid {
                            param: p.name,
                            value: "<not UTF-8>".into(),
                            reason: "not valid UTF-8".into(),
                        });
                    }
                    ignored.push(escape_controls(&key).into_owned());
                    continue;
                }
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            let key = key.trim();
            if key == PACEMAKER_NODENAME {
                nodename = Some(value.trim().to_string()).filter(|v| !v.is_empty());
                continue;
            }
            match spec.by_name(key) {
                Some(p) if p.content == Content::Boolean && p.value.is_none() => {
                    // a flag: set only by a true value
                    if truthy(value) {
                        values.insert(p.name, "1".to_string());
                    } else {
                        values.remove(p.name);
                    }
                }
                Some(p) => {
                    values.insert(p.name, value.to_string());
                }
                None => ignored.push(escape_controls(key).into_owned()),
            }
        }
        Request::finish(spec, values, nodename, ignored, Source::Stdin)
    }

    /// Parse getopt-style arguments (without the program name): `-o off`, `-ooff`,
    /// `--action=off`, `--action off`, grouped flags `-vq`. Unknown options are errors here:
    /// a person typed them.
    pub fn from_args(spec: &AgentSpec, args: &[String]) -> Result<Request, FenceError> {
        let mut values = BTreeMap::new();
        // fence-agents: each -v raises the verbosity (-vvv is verbose_level 3) unless
        // --verbose-level is given.
        let mut verbose_count = 0u32;
        let mut it = args.iter();
        let usage = |m: String| Err(FenceError::Usage(m));
        while let Some(a) = it.next() {
            if let Some(long) = a.strip_prefix("--") {
                if long.is_empty() {
                    if let Some(extra) = it.next() {
                        return usage(format!("unexpected argument {extra:?}"));
                    }
                    break;
                }
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let Some(p) = spec.by_long(name) else {
                    return usage(format!("unknown option --{name}"));
                };
                if p.value.is_none() {
                    if inline.is_some() {
                        return usage(format!("option --{name} takes no value"));
                    }
                    verbose_count += u32::from(p.name == "verbose");
                    values.insert(p.name, "1".to_string());
                } else {
                    let v = match inline {
                        Some(v) => v,
                        None => match it.next() {
                            Some(v) => v.clone(),
                            None => return usage(format!("option --{name} needs a value")),
                        },
                    };
                    values.insert(p.name, v);
                }
            } else if let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
                let chars: Vec<char> = shorts.chars().collect();
                let mut i = 0;
                while i < chars.len() {
                    let c = chars[i];
                    let Some(p) = spec.by_short(c) else {
                        return usage(format!("unknown option -{c}"));
                    };
                    if p.value.is_none() {
                        verbose_count += u32::from(p.name == "verbose");
                        values.insert(p.name, "1".to_string());
                        i += 1;
                        continue;
                    }
                    let rest: String = chars[i + 1..].iter().collect();
                    let v = if !rest.is_empty() {
                        rest
                    } else {
                        match it.next() {
                            Some(v) => v.clone(),
                            None => return usage(format!("option -{c} needs a value")),
                        }
                    };
                    values.insert(p.name, v);
                    break;
                }
            } else {
                return usage(format!("unexpected argument {a:?}"));
            }
        }
        if verbose_count > 1 && spec.params.iter().any(|p| p.name == "verbose_level") {
            values
                .entry("verbose_level")
                .or_insert_with(|| verbose_count.to_string());
        }
        Request::finish(spec, values, None, Vec::new(), Source::CommandLine)
    }

    fn finish(
        spec: &AgentSpec,
        values: BTreeMap<&'static str, String>,
        nodename: Option<String>,
        ignored: Vec<String>,
        source: Source,
    ) -> Result<Request, FenceError> {
        let mut req = Request {
            action: Action::Reboot,
            source,
            values,
            params: spec.params.clone(),
            nodename,
            ignored,
        };
        let name = req.get("action").unwrap_or("reboot").to_string();
        req.action = Action::parse(&name)
            .filter(|a| spec.actions.contains(a))
            .ok_or_else(|| FenceError::Usage(format!("unknown action {name:?}")))?;
        Ok(req)
    }

    /// The value given, else the declared default (an empty value means the default, as an
    /// unset one does).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .or_else(|| {
                self.params
                    .iter()
                    .find(|p| p.name == name)
                    .and_then(|p| p.default)
            })
    }

    /// True when the value was given explicitly (not from a default).
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A value that must be present and non-empty.
    pub fn require(&self, name: &'static str) -> Result<&str, FenceError> {
        self.get(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or(FenceError::Missing(name))
    }

    /// A boolean parameter (flags and `1/yes/on/true` values).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(truthy)
    }

    /// Refuse a value (or node name) that holds a control character: no address, name,
    /// number or password of a fence device has one, and it would reach log lines (a NUL in
    /// `ip` would otherwise surface as a puzzling file-name error from the resolver).
    pub fn check_values(&self) -> Result<(), FenceError> {
        for (name, v) in &self.values {
            if v.contains(char::is_control) {
                return Err(self.invalid(name, "contains a control character"));
            }
        }
        match &self.nodename {
            Some(n) if n.contains(char::is_control) => Err(FenceError::Invalid {
                param: PACEMAKER_NODENAME,
                value: n.clone(),
                reason: "contains a control character".into(),
            }),
            _ => Ok(()),
        }
    }

    fn invalid(&self, name: &'static str, reason: &str) -> FenceError {
        let secret = self.params.iter().any(|p| p.name == name && p.secret);
        FenceError::Invalid {
            param: name,
            value: if secret {
                "<redacted>".into()
            } else {
                let given = self.values.get(name).map(String::as_str);
                given.or(self.get(name)).unwrap_or("").to_string()
            },
            reason: reason.to_string(),
        }
    }

    /// A duration in (possibly fractional) seconds, not negative, at most a day.
    pub fn seconds(&self, name: &'static str) -> Result<Duration, FenceError> {
        let v = self.require(name)?;
        match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => {
                Ok(Duration::from_secs_f64(s))
            }
            _ => Err(self.invalid(name, "not a number of seconds between 0 and 86400")),
        }
    }

    /// A non-negative integer.
    pub fn integer(&self, name: &'static str) -> Result<u32, FenceError> {
        let v = self.require(name)?;
        v.trim()
            .parse::<u32>()
            .map_err(|_| self.invalid(name, "not a non-negative integer"))
    }

    /// One of the values a `select` parameter declares.
    pub fn choice(&self, name: &'static str) -> Result<&str, FenceError> {
        let v = self.require(name)?;
        let p = self.params.iter().find(|p| p.name == name);
        if let Some(Param {
            content: Content::Select(opts),
            ..
        }) = p
        {
            if !opts.contains(&v) {
                return Err(self.invalid(name, &format!("expected one of {}", opts.join(", "))));
            }
        }
        Ok(v)
    }

    /// The node names this request targets: `plug`/`port` and Pacemaker's `nodename`.
    pub fn targets(&self) -> Vec<(&'static str, &str)> {
        let mut t = Vec::new();
        if let Some(p) = self.values.get("plug").filter(|v| !v.trim().is_empty()) {
            t.push(("plug", p.trim()));
        }
        if let Some(n) = &self.nodename {
            t.push((PACEMAKER_NODENAME, n.trim()));
        }
        t
    }

    /// With `bound_node` set, refuse a request that names any other node: fencing the wrong
    /// node is worse than not fencing. Names compare case-insensitively (host names do), but
    /// otherwise exactly: `n2` is not `n2.example.com`.
    pub fn check_target(&self) -> Result<(), FenceError> {
        let Some(bound) = self
            .get("bound_node")
            .map(str::trim)
            .filter(|b| !b.is_empty())
        else {
            return Ok(());
        };
        for (what, name) in self.targets() {
            if !name.eq_ignore_ascii_case(bound) {
                return Err(FenceError::WrongNode {
                    given_as: what,
                    requested: name.to_string(),
                    bound: bound.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The password from `password` (stdin or `-p`), else the first line printed by
    /// `password_script` (split on whitespace and run without a shell, bounded by
    /// `deadline`), else the first line of `password_file`. `None` when none is given.
    pub fn password(&self, deadline: &Deadline) -> Result<Option<Secret>, FenceError> {
        if let Some(p) = self.inline_secret("password") {
            return Ok(Some(p));
        }
        if let Some(script) = self
            .values
            .get("password_script")
            .filter(|s| !s.trim().is_empty())
        {
            let argv: Vec<&str> = script.split_whitespace().collect();
            let out = Cmd::from_argv(&argv)
                .max_output(MAX_SECRET_BYTES)
                .run_ok(deadline)
                .map_err(|e| FenceError::Password(format!("password_script: {e}")))?;
            return first_line(out.stdout, "password_script printed nothing").map(Some);
        }
        self.secret_file("password_file", deadline)
            .map_err(FenceError::Password)
    }

    /// Another secret given the way a password is: its value from `name` (stdin, or the
    /// command line), else the first line of the file `file` names (read within
    /// [`MAX_SECRET_BYTES`] and `deadline`). `None` when neither is given. `what` names the
    /// secret in the error of an unreadable file (the path is shown, never the content).
    pub fn secret(
        &self,
        what: &'static str,
        name: &str,
        file: &str,
        deadline: &Deadline,
    ) -> Result<Option<Secret>, FenceError> {
        if let Some(s) = self.inline_secret(name) {
            return Ok(Some(s));
        }
        self.secret_file(file, deadline)
            .map_err(|detail| FenceError::Secret { what, detail })
    }

    fn inline_secret(&self, name: &str) -> Option<Secret> {
        self.values
            .get(name)
            .filter(|p| !p.is_empty())
            .map(|p| Secret::new(p.as_bytes().to_vec()))
    }

    /// The first line of the file parameter `file` names; the error says which parameter.
    fn secret_file(&self, file: &str, deadline: &Deadline) -> Result<Option<Secret>, String> {
        let Some(path) = self.values.get(file).filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        let data = read_bounded(Path::new(path.trim()), MAX_SECRET_BYTES, deadline)
            .map_err(|e| format!("{file}: {e}"))?;
        first_line(data, &format!("{file} is empty"))
            .map(Some)
            .map_err(|e| match e {
                FenceError::Password(m) => m,
                other => other.to_string(),
            })
    }
}

fn first_line(mut data: Vec<u8>, empty: &str) -> Result<Secret, FenceError> {
    let end = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let mut line: Vec<u8> = data[..end].to_vec();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    for b in data.iter_mut() {
        // SAFETY: as in Secret::drop.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    if line.is_empty() {
        return Err(FenceError::Password(empty.to_string()));
    }
    Ok(Secret::new(line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::common;

    fn spec() -> AgentSpec {
        AgentSpec {
            name: "fence_t",
            shortdesc: "t",
            longdesc: "t",
            vendor_url: "",
            params: vec![
                common::ACTION,
                common::PLUG,
                common::BOUND_NODE,
                common::PASSWORD,
                common::PASSWORD_SCRIPT,
                common::PASSWORD_FILE,
                common::DELAY,
                common::VERBOSE,
                Param::new("ip", "ip", "address")
                    .short('a')
                    .deprecated("ipaddr"),
                Param::new("method", "method", "m")
                    .content(Content::Select(&["onoff", "cycle"]))
                    .default("onoff"),
                Param::new("lanplus", "lanplus", "l").short('P').flag(),
            ],
            actions: &[
                Action::On,
                Action::Off,
                Action::Reboot,
                Action::Status,
                Action::Metadata,
            ],
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stdin_form_with_aliases_unknown_keys_and_comments() {
        let r = Request::from_stdin(
            &spec(),
            "# comment\naction=off\nipaddr=10.0.0.1\nport=n2\nnodename=n2\npasswd= a=b \nfoo=bar\nlanplus=1\nverbose=0\n\n",
        )
        .unwrap();
        assert_eq!(r.action, Action::Off);
        assert_eq!(r.get("ip"), Some("10.0.0.1"));
        assert_eq!(r.get("plug"), Some("n2"));
        assert_eq!(r.nodename.as_deref(), Some("n2"));
        assert_eq!(
            r.get("password"),
            Some(" a=b"),
            "value is everything after the first ="
        );
        assert_eq!(r.ignored, vec!["foo".to_string()]);
        assert!(r.flag("lanplus"));
        assert!(!r.flag("verbose"));
        assert_eq!(r.get("method"), Some("onoff"), "default");
        assert!(!format!("{r:?}").contains("a=b"), "password never shown");
    }

    #[test]
    fn getopt_forms() {
        let r = Request::from_args(
            &spec(),
            &args(&[
                "-o",
                "status",
                "-a10.0.0.1",
                "--plug=n1",
                "-vP",
                "--method",
                "cycle",
            ]),
        )
        .unwrap();
        assert_eq!(r.action, Action::Status);
        assert_eq!(r.get("ip"), Some("10.0.0.1"));
        assert_eq!(r.get("plug"), Some("n1"));
        assert!(r.flag("verbose") && r.flag("lanplus"));
        assert_eq!(r.choice("method").unwrap(), "cycle");
        let r = Request::from_args(&spec(), &args(&["--action=on"])).unwrap();
        assert_eq!(r.action, Action::On);
        let r = Request::from_args(&spec(), &[]).unwrap();
        assert_eq!(r.action, Action::Reboot, "fence-agents default action");
    }

    #[test]
    fn getopt_errors_are_specific() {
        let e = |a: &[&str]| {
            Request::from_args(&spec(), &args(a))
                .unwrap_err()
                .to_string()
        };
        assert!(e(&["--bogus"]).contains("--bogus"));
        assert!(e(&["-Z"]).contains("-Z"));
        assert!(e(&["-o"]).contains("needs a value"));
        assert!(e(&["--verbose=1"]).contains("takes no value"));
        assert!(e(&["stray"]).contains("stray"));
        assert!(e(&["-o", "explode"]).contains("unknown action \"explode\""));
        // declared by fence-agents but not by this agent
        assert!(e(&["-o", "list"]).contains("unknown action"));
    }

    #[test]
    fn typed_values_and_errors() {
        let r = Request::from_stdin(&spec(), "delay=1.5\nmethod=sideways\n").unwrap();
        assert_eq!(r.seconds("delay").unwrap(), Duration::from_millis(1500));
        let e = r.choice("method").unwrap_err().to_string();
        assert!(e.contains("sideways") && e.contains("onoff, cycle"), "{e}");
        let r = Request::from_stdin(&spec(), "delay=-1\n").unwrap();
        assert!(r.seconds("delay").unwrap_err().to_string().contains("-1"));
        let r = Request::from_stdin(&spec(), "delay=soon\n").unwrap();
        assert!(r.seconds("delay").is_err());
        assert!(matches!(r.require("ip"), Err(FenceError::Missing("ip"))));
    }

    #[test]
    fn host_binding() {
        let ok = Request::from_stdin(&spec(), "bound_node=n2\nport=N2\nnodename=n2\n").unwrap();
        assert!(ok.check_target().is_ok());
        let none = Request::from_stdin(&spec(), "bound_node=n2\n").unwrap();
        assert!(
            none.check_target().is_ok(),
            "no target named: this device's node"
        );
        let bad = Request::from_stdin(&spec(), "bound_node=n2\nport=n1\n").unwrap();
        let e = bad.check_target().unwrap_err().to_string();
        assert!(e.contains("n1") && e.contains("n2"), "{e}");
        let bad = Request::from_stdin(&spec(), "bound_node=n2\nport=n2\nnodename=n3\n").unwrap();
        assert!(bad.check_target().is_err());
        let fqdn = Request::from_stdin(&spec(), "bound_node=n2\nplug=n2.example.com\n").unwrap();
        assert!(fqdn.check_target().is_err());
        let unbound = Request::from_stdin(&spec(), "port=anything\n").unwrap();
        assert!(unbound.check_target().is_ok());
    }

    #[test]
    fn password_sources() {
        let d = Deadline::after(Duration::from_secs(5));
        let r = Request::from_stdin(&spec(), "password=pw1\n").unwrap();
        assert_eq!(r.password(&d).unwrap().unwrap().expose(), b"pw1");
        let r = Request::from_stdin(&spec(), "password_script=echo pw2\n").unwrap();
        assert_eq!(r.password(&d).unwrap().unwrap().expose(), b"pw2");
        let r = Request::from_stdin(&spec(), "password_script=false\n").unwrap();
        assert!(r
            .password(&d)
            .unwrap_err()
            .to_string()
            .contains("password_script"));
        let r = Request::from_stdin(&spec(), "password_script=true\n").unwrap();
        assert!(r
            .password(&d)
            .unwrap_err()
            .to_string()
            .contains("printed nothing"));
        let r = Request::from_stdin(&spec(), "password_script=sleep 10\n").unwrap();
        let t = std::time::Instant::now();
        assert!(r
            .password(&Deadline::after(Duration::from_millis(300)))
            .is_err());
        assert!(t.elapsed() < Duration::from_secs(3));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "pw3\r\nignored\n").unwrap();
        let r = Request::from_stdin(&spec(), &format!("password_file={}\n", f.display())).unwrap();
        assert_eq!(r.password(&d).unwrap().unwrap().expose(), b"pw3");
        let r = Request::from_stdin(&spec(), "password_file=/nonexistent/pw\n").unwrap();
        assert!(r
            .password(&d)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/pw"));
        let r = Request::from_stdin(&spec(), "").unwrap();
        assert!(r.password(&d).unwrap().is_none());
        let r = Request::from_stdin(&spec(), "password_file=/dev/zero\n").unwrap();
        let e = r.password(&d).unwrap_err().to_string();
        assert!(e.contains("more than 4096 bytes"), "{e}");
        let r = Request::from_stdin(&spec(), "password_script=cat /dev/zero\n").unwrap();
        let e = r.password(&d).unwrap_err().to_string();
        assert!(e.contains("printed more than 4096 bytes"), "{e}");
    }

    #[test]
    fn empty_means_default_and_controls_are_refused() {
        let r = Request::from_stdin(&spec(), "method=\nip=1.2.3.4\n").unwrap();
        assert_eq!(r.get("method"), Some("onoff"));
        assert!(r.check_values().is_ok());
        let r = Request::from_stdin_bytes(&spec(), b"ip=1.2\x003.4\n").unwrap();
        let e = r.check_values().unwrap_err().to_string();
        assert_eq!(e, "invalid ip=\"1.2\\03.4\": contains a control character");
        let r = Request::from_stdin_bytes(&spec(), b"password=a\x1bb\n").unwrap();
        let e = r.check_values().unwrap_err().to_string();
        assert!(e.contains("<redacted>") && !e.contains("a\\x1bb"), "{e}");
        let e = Request::from_stdin_bytes(&spec(), b"ip=\xff\n").unwrap_err();
        assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        let r = Request::from_stdin_bytes(&spec(), b"junk\xff=1\naction=off\n").unwrap();
        assert_eq!(r.action, Action::Off);
        assert_eq!(r.ignored, vec!["junk\u{fffd}".to_string()]);
    }
}
