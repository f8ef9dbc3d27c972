//! The CIB through `cibadmin`, Pacemaker's tool for reading and changing the cluster
//! configuration: one place that builds its command lines, for the agents, the node checks
//! and the lab alike.
//!
//! - XML always goes on stdin (`--xml-pipe`), never on the command line: argv is visible to
//!   every user in the process list, and a configuration may hold passwords.
//! - [`CibAdmin::file`] works on an offline CIB through `CIB_file`, as every Pacemaker tool
//!   does; [`CibAdmin::live`] on the running cluster.
//! - A [`Request`] runs under a [`Deadline`] with [`Request::run`]; its errors are
//!   [`ExecError`]s, which carry the command line, the exit status and the end of stderr. A
//!   caller that runs commands elsewhere (inside a lab node) takes [`Request::argv`] and hands
//!   its own command to [`Request::finish`], which adds the stdin and the `CIB_file`.
//!
//! ```no_run
//! use axha_ocf::cibadmin::{CibAdmin, Target};
//! use axha_ocf::Deadline;
//! use std::time::Duration;
//! let deadline = Deadline::after(Duration::from_secs(10));
//! let resources = CibAdmin::live().query(Target::Section("resources")).run(&deadline)?;
//! println!("{resources}");
//! # Ok::<(), axha_exec::ExecError>(())
//! ```

use std::path::{Path, PathBuf};

use axha_exec::{Cmd, Deadline, ExecError};

/// The program that reads and changes the CIB. Found on `PATH`.
pub const CIBADMIN: &str = "cibadmin";

/// The environment variable that points Pacemaker's tools at a CIB file instead of the
/// running cluster.
pub const CIB_FILE: &str = "CIB_file";

/// Where in the CIB a request applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The whole CIB.
    Whole,
    /// One section by its tag (`--scope`): `configuration`, `resources`, `constraints`,
    /// `crm_config`, `rsc_defaults`, `status`, ...
    Section(&'a str),
    /// The elements an XPath expression selects (`--xpath`).
    XPath(&'a str),
}

impl Target<'_> {
    fn push_args(&self, args: &mut Vec<String>) {
        match self {
            Target::Whole => {}
            Target::Section(s) => args.extend(["--scope".to_string(), s.to_string()]),
            Target::XPath(x) => args.push(format!("--xpath={x}")),
        }
    }
}

/// Which CIB the requests go to: the running cluster's, or a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CibAdmin {
    file: Option<PathBuf>,
}

impl CibAdmin {
    /// The running cluster's CIB (what the local Pacemaker daemons hold).
    pub fn live() -> Self {
        CibAdmin { file: None }
    }

    /// A CIB file, read and written offline (`CIB_file`); no cluster needed.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        CibAdmin {
            file: Some(path.into()),
        }
    }

    /// The file given by [`CibAdmin::file`], if any.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Read the XML of `target` (`--query`).
    pub fn query(&self, target: Target<'_>) -> Request {
        self.request("--query", target, None)
    }

    /// Add `xml` under a section (`--create`).
    pub fn create(&self, section: &str, xml: &str) -> Request {
        self.request("--create", Target::Section(section), Some(xml))
    }

    /// Replace what `target` selects with `xml` (`--replace`).
    pub fn replace(&self, target: Target<'_>, xml: &str) -> Request {
        self.request("--replace", target, Some(xml))
    }

    /// Delete the element `xml` names (by tag and id) within `target`, or, without `xml`, the
    /// elements an XPath target selects (`--delete`).
    pub fn delete(&self, target: Target<'_>, xml: Option<&str>) -> Request {
        self.request("--delete", target, xml)
    }

    /// Print an empty CIB document (`--empty`), the start of a CIB file.
    pub fn empty() -> Request {
        Request {
            args: vec!["--empty".to_string()],
            xml: None,
            file: None,
        }
    }

    fn request(&self, op: &str, target: Target<'_>, xml: Option<&str>) -> Request {
        let mut args = vec![op.to_string()];
        target.push_args(&mut args);
        if xml.is_some() {
            args.push("--xml-pipe".to_string());
        }
        Request {
            args,
            xml: xml.map(str::to_string),
            file: self.file.clone(),
        }
    }
}

/// One `cibadmin` call, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    args: Vec<String>,
    xml: Option<String>,
    file: Option<PathBuf>,
}

impl Request {
    /// The command line, `cibadmin` first. It never holds the XML.
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(CIBADMIN)
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }

    /// The XML given on stdin, if the request has any.
    pub fn xml(&self) -> Option<&str> {
        self.xml.as_deref()
    }

    /// `cmd`, built from [`Request::argv`] by a caller that runs it its own way, with the
    /// request's stdin and `CIB_file` added.
    pub fn finish(&self, cmd: Cmd) -> Cmd {
        let cmd = match &self.file {
            Some(f) => cmd.env(CIB_FILE, f),
            None => cmd,
        };
        match &self.xml {
            Some(x) => cmd.stdin(x.as_bytes()),
            None => cmd,
        }
    }

    /// The request as a command on this machine.
    pub fn cmd(&self) -> Cmd {
        self.finish(Cmd::from_argv(self.argv()))
    }

    /// Run it here within `deadline`: what cibadmin printed on stdout (the XML of a query),
    /// or the error with argv, status and stderr when it failed.
    pub fn run(&self, deadline: &Deadline) -> Result<String, ExecError> {
        self.cmd().run_ok(deadline).map(|o| o.stdout_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_their_scope_or_xpath() {
        let live = CibAdmin::live();
        assert_eq!(live.query(Target::Whole).argv(), ["cibadmin", "--query"]);
        assert_eq!(
            live.query(Target::Section("resources")).argv(),
            ["cibadmin", "--query", "--scope", "resources"]
        );
        assert_eq!(
            live.query(Target::XPath("//primitive[@id='a']")).argv(),
            ["cibadmin", "--query", "--xpath=//primitive[@id='a']"]
        );
        assert_eq!(live.query(Target::Whole).xml(), None);
    }

    #[test]
    fn xml_goes_on_stdin_never_on_the_command_line() {
        let xml = r#"<primitive id="f" password="secret"/>"#;
        let f = CibAdmin::file("/tmp/cib.xml");
        for r in [
            f.create("resources", xml),
            f.replace(Target::XPath("//primitive[@id='f']"), xml),
            f.delete(Target::Section("resources"), Some(xml)),
        ] {
            assert!(r.argv().contains(&"--xml-pipe"), "{:?}", r.argv());
            assert!(r.argv().iter().all(|a| !a.contains("secret")));
            assert_eq!(r.xml(), Some(xml));
            assert!(r.cmd().display().contains("--xml-pipe"));
            assert!(!r.cmd().display().contains("secret"));
        }
        assert_eq!(
            f.create("constraints", xml).argv(),
            [
                "cibadmin",
                "--create",
                "--scope",
                "constraints",
                "--xml-pipe"
            ]
        );
        assert_eq!(
            f.delete(Target::XPath("//rsc_location[@id='x']"), None)
                .argv(),
            ["cibadmin", "--delete", "--xpath=//rsc_location[@id='x']"]
        );
        assert_eq!(CibAdmin::empty().argv(), ["cibadmin", "--empty"]);
        assert_eq!(f.path(), Some(Path::new("/tmp/cib.xml")));
        assert_eq!(CibAdmin::live().path(), None);
    }

    /// Every kind of request against Pacemaker's own cibadmin on a CIB file, which checks
    /// each write against the schema.
    #[test]
    fn round_trip_on_a_real_cib_file() {
        let d = Deadline::after(std::time::Duration::from_secs(60));
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("cib.xml");
        let empty = CibAdmin::empty()
            .run(&d)
            .expect("cibadmin --empty (pacemaker-cli-utils)");
        std::fs::write(&path, empty).expect("write the CIB file");
        let cib = CibAdmin::file(&path);
        let dummy = |v: &str| {
            format!(
                r#"<primitive id="d" class="ocf" provider="heartbeat" type="Dummy"><instance_attributes id="d-ia"><nvpair id="d-ia-v" name="state" value="{v}"/></instance_attributes></primitive>"#
            )
        };
        cib.create("resources", &dummy("a&lt;b"))
            .run(&d)
            .expect("create");
        let q = cib
            .query(Target::Section("resources"))
            .run(&d)
            .expect("query");
        assert!(q.contains(r#"value="a&lt;b""#), "{q}");
        cib.replace(Target::XPath("//primitive[@id='d']"), &dummy("two"))
            .run(&d)
            .expect("replace");
        let q = cib
            .query(Target::XPath("//nvpair[@id='d-ia-v']"))
            .run(&d)
            .expect("query");
        assert!(q.contains(r#"value="two""#), "{q}");
        // A second create of the same id is refused, and the error names the command.
        let e = cib
            .create("resources", &dummy("x"))
            .run(&d)
            .expect_err("duplicate id");
        assert!(e.to_string().contains("cibadmin --create"), "{e}");
        cib.delete(Target::Section("resources"), Some(r#"<primitive id="d"/>"#))
            .run(&d)
            .expect("delete");
        let q = cib
            .query(Target::Section("resources"))
            .run(&d)
            .expect("query");
        assert!(!q.contains("primitive"), "{q}");
        // An XML document that is not one fails with cibadmin's reason.
        assert!(cib.create("resources", "<primitive").run(&d).is_err());
    }
}
