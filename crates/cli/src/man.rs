//! Man pages generated from agents' meta-data, the way resource-agents and fence-agents make
//! theirs: `ocf_<provider>_<agent>.7` for OCF agents, `<fence agent>.8` for fence agents. The
//! meta-data is the single source: parameters, defaults and actions are never written twice.
//! The programs' pages (`axigen-ha.8`, `axigen-provision.8` and one per subcommand,
//! `axigen-ha-lab.8`, ...) come the same way from their clap definitions (clap_mangen).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use axha_exec::{Cmd, Deadline};
use clap::Args;

#[derive(Args)]
pub struct ManArgs {
    /// Where to write the pages.
    #[arg(long, default_value = "target/man")]
    out: PathBuf,
    /// Directory holding the built agents (`instance`, `drbd`, `fence_axigen_ipmi`);
    /// default: the directory of this program.
    #[arg(long)]
    agents: Option<PathBuf>,
}

/// The agents a page is made for: (binary name, kind).
const AGENTS: &[(&str, Kind)] = &[
    ("instance", Kind::Ocf),
    ("drbd", Kind::Ocf),
    ("fence_axigen_ipmi", Kind::Fence),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ocf,
    Fence,
}

pub fn run(a: ManArgs) -> Result<()> {
    let dir = match a.agents {
        Some(d) => d,
        None => std::env::current_exe()?
            .parent()
            .context("program directory")?
            .to_path_buf(),
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("{}", a.out.display()))?;
    for cmd in [
        <crate::Cli as clap::CommandFactory>::command(),
        axha_provision::cli::command(),
    ] {
        for path in program_pages(cmd, &a.out)? {
            println!("{}", path.display());
        }
    }
    let mut made = 0;
    for (name, kind) in AGENTS {
        let agent = dir.join(name);
        if !agent.exists() {
            eprintln!("axigen-ha man: {} not built, skipped", agent.display());
            continue;
        }
        let xml = metadata(&agent, *kind)?;
        if xml.trim().is_empty() {
            eprintln!(
                "axigen-ha man: {} printed no meta-data, skipped",
                agent.display()
            );
            continue;
        }
        let (file, page) = match kind {
            Kind::Ocf => ocf_page("axigen", &xml)?,
            Kind::Fence => fence_page(&xml)?,
        };
        let path = a.out.join(file);
        std::fs::write(&path, page).with_context(|| format!("{}", path.display()))?;
        println!("{}", path.display());
        made += 1;
    }
    if made == 0 {
        bail!("no agent found in {}", dir.display());
    }
    Ok(())
}

/// Section 8 pages for a program and each of its subcommands, named the way git names its own
/// (`axigen-ha-lab.8`, which the parent's page lists under SUBCOMMANDS). Returns the files.
fn program_pages(cmd: clap::Command, out: &Path) -> Result<Vec<PathBuf>> {
    fn walk(cmd: clap::Command, out: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub.clone(), out, made)?;
        }
        let page = clap_mangen::Man::new(cmd)
            .section("8")
            // No date, as on the agents' pages; a blank rather than an empty argument, which
            // .TH would skip, shifting the source and manual into the date's place.
            .date(" ")
            .source(format!("axigen-ha {}", env!("CARGO_PKG_VERSION")))
            .manual("axigen-ha manual");
        let path = out.join(page.get_filename());
        let mut text = Vec::new();
        page.render(&mut text)
            .with_context(|| format!("rendering {}", path.display()))?;
        std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
        made.push(path);
        Ok(())
    }
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut made = Vec::new();
    walk(cmd, out, &mut made)?;
    Ok(made)
}

fn metadata(agent: &Path, kind: Kind) -> Result<String> {
    let action = match kind {
        Kind::Ocf => Cmd::new(agent).arg("meta-data"),
        Kind::Fence => Cmd::new(agent).args(["-o", "metadata"]),
    };
    let out = action.run_ok(&Deadline::after(Duration::from_secs(10)))?;
    Ok(out.stdout_str())
}

/// Escape text for roff: backslashes, and a leading dot or quote that would read as a request.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e");
    t.lines()
        .map(|l| {
            let l = l.trim();
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn child_text(node: roxmltree::Node, tag: &str) -> String {
    node.children()
        .find(|c| c.has_tag_name(tag))
        .and_then(|c| c.text())
        .unwrap_or("")
        .trim()
        .to_string()
}

fn header(title: &str, section: u8, name: &str, short: &str, long: &str) -> String {
    format!(
        ".TH {} {section} \"\" \"axigen-ha {}\" \"axigen-ha manual\"\n.SH NAME\n{} \\- {}\n\
         .SH DESCRIPTION\n{}\n",
        title.to_uppercase(),
        env!("CARGO_PKG_VERSION"),
        roff(name),
        roff(short),
        roff(long)
    )
}

/// `ocf_<provider>_<agent>.7` from OCF meta-data.
pub fn ocf_page(provider: &str, xml: &str) -> Result<(String, String)> {
    let doc = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .context("meta-data is not XML")?;
    let root = doc.root_element();
    let agent = root
        .attribute("name")
        .context("resource-agent has no name")?;
    let title = format!("ocf_{provider}_{agent}");
    let mut p = header(
        &title,
        7,
        &title,
        &child_text(root, "shortdesc"),
        &child_text(root, "longdesc"),
    );
    p.push_str(&format!(
        ".SH SYNOPSIS\n[\\fBOCF_RESKEY_\\fR\\fIparameter\\fR=\\fIvalue\\fR ...] \\fB{agent}\\fR \\fIaction\\fR\n\
         .SH SUPPORTED PARAMETERS\n"
    ));
    let mut example = Vec::new();
    for param in root.descendants().filter(|n| n.has_tag_name("parameter")) {
        let name = param.attribute("name").unwrap_or("?");
        let content = param.children().find(|c| c.has_tag_name("content"));
        let kind = content
            .and_then(|c| c.attribute("type"))
            .unwrap_or("string");
        let default = content.and_then(|c| c.attribute("default"));
        let required = param.attribute("required") == Some("1");
        let unique = param.attribute("unique") == Some("1");
        // OCF 1.1: a change of a reloadable parameter is applied without a restart.
        let reload = if param.attribute("reloadable") == Some("1") {
            ", reloadable"
        } else {
            ""
        };
        p.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n.br\n({}{}{reload}, {kind}{})\n",
            roff(name),
            roff(&child_text(param, "longdesc")),
            if required { "required" } else { "optional" },
            if unique { ", unique" } else { "" },
            default
                .map(|d| format!(", default \"{}\"", roff(d)))
                .unwrap_or_default()
        ));
        if required {
            example.push(format!("{name}=\"...\""));
        }
    }
    p.push_str(".SH SUPPORTED ACTIONS\n.nf\n");
    let mut monitor_ops = Vec::new();
    for a in root.descendants().filter(|n| n.has_tag_name("action")) {
        let mut line = format!(
            "{} timeout={}",
            a.attribute("name").unwrap_or("?"),
            a.attribute("timeout").unwrap_or("?")
        );
        for attr in ["interval", "depth", "role"] {
            if let Some(v) = a.attribute(attr) {
                line.push_str(&format!(" {attr}={v}"));
            }
        }
        if a.attribute("name") == Some("monitor") {
            monitor_ops.push(format!(
                "interval={} timeout={}",
                a.attribute("interval").unwrap_or("10s"),
                a.attribute("timeout").unwrap_or("20s")
            ));
        }
        p.push_str(&roff(&line));
        p.push('\n');
    }
    p.push_str(".fi\n");
    let mon = monitor_ops.first().cloned().unwrap_or_default();
    p.push_str(&format!(
        ".SH EXAMPLE CRM SHELL\n.nf\nprimitive p_{agent} ocf:{provider}:{agent} \\e\n  params {} \\e\n  op monitor {mon}\n.fi\n\
         .SH EXAMPLE PCS\n.nf\npcs resource create p_{agent} ocf:{provider}:{agent} {} \\e\n  op monitor {mon}\n.fi\n\
         .SH SEE ALSO\n\\fBaxigen-ha\\fR(1), \\fBcrm_resource\\fR(8), \\fBocf-tester\\fR(8)\n",
        example.join(" "),
        example.join(" ")
    ));
    Ok((format!("{title}.7"), p))
}

/// `<agent>.8` from fence-agents meta-data.
pub fn fence_page(xml: &str) -> Result<(String, String)> {
    let doc = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .context("meta-data is not XML")?;
    let root = doc.root_element();
    let agent = root
        .attribute("name")
        .context("resource-agent has no name")?;
    let short = root
        .attribute("shortdesc")
        .map(str::to_string)
        .unwrap_or_else(|| child_text(root, "shortdesc"));
    let mut p = header(agent, 8, agent, &short, &child_text(root, "longdesc"));
    p.push_str(&format!(
        ".SH SYNOPSIS\n\\fB{agent}\\fR [\\fIOPTIONS\\fR]\n.br\n\\fB{agent}\\fR < \\fIkey=value lines on stdin\\fR\n\
         .SH PARAMETERS\n"
    ));
    for param in root.descendants().filter(|n| n.has_tag_name("parameter")) {
        let name = param.attribute("name").unwrap_or("?");
        let getopt = param
            .children()
            .find(|c| c.has_tag_name("getopt"))
            .and_then(|g| g.attribute("mixed"))
            .unwrap_or("");
        let content = param.children().find(|c| c.has_tag_name("content"));
        let default = content.and_then(|c| c.attribute("default"));
        let deprecated = param.attribute("deprecated") == Some("1");
        p.push_str(&format!(
            ".TP\n\\fB{}\\fR{}\n{}{}\n.br\nstdin: {}=\n",
            roff(getopt),
            if deprecated { " (deprecated)" } else { "" },
            roff(&child_text(param, "shortdesc")),
            default
                .map(|d| format!(" (default \"{}\")", roff(d)))
                .unwrap_or_default(),
            roff(name)
        ));
    }
    p.push_str(".SH ACTIONS\n.nf\n");
    for a in root.descendants().filter(|n| n.has_tag_name("action")) {
        p.push_str(&roff(a.attribute("name").unwrap_or("?")));
        p.push('\n');
    }
    p.push_str(
        ".fi\n.SH EXIT STATUS\n0 success (status: powered on), 1 failure, 2 status: powered off.\n\
         .SH SEE ALSO\n\\fBstonith_admin\\fR(8), \\fBaxigen-ha\\fR(1)\n",
    );
    Ok((format!("{agent}.8"), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocf_page_lists_parameters_and_escapes() {
        let xml = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd" [
<!ATTLIST parameter reloadable (1|0) #IMPLIED unique-group CDATA #IMPLIED>
<!ATTLIST action name CDATA #REQUIRED>
]>
<resource-agent name="x" version="1"><version>1.1</version>
<longdesc lang="en">.starts with a dot \ and a backslash</longdesc>
<shortdesc lang="en">X agent</shortdesc>
<parameters><parameter name="dir" unique="1" required="1">
<longdesc lang="en">Directory.</longdesc><shortdesc lang="en">d</shortdesc>
<content type="string" default="/a"/></parameter>
<parameter name="wait" reloadable="1">
<longdesc lang="en">Wait.</longdesc><shortdesc lang="en">w</shortdesc>
<content type="integer"/></parameter></parameters>
<actions><action name="start" timeout="20s"/><action name="monitor" timeout="30s" interval="10s" depth="0"/></actions>
</resource-agent>"#;
        let (file, page) = ocf_page("axigen", xml).unwrap();
        assert_eq!(file, "ocf_axigen_x.7");
        assert!(page.starts_with(".TH OCF_AXIGEN_X 7"));
        assert!(page.contains("\\&.starts with a dot \\e and a backslash"));
        assert!(page.contains("(required, unique, string, default \"/a\")"));
        assert!(page.contains("(optional, reloadable, integer)"), "{page}");
        assert!(page.contains("monitor timeout=30s interval=10s depth=0"));
        assert!(page.contains("pcs resource create p_x ocf:axigen:x dir=\"...\""));
    }

    #[test]
    fn fence_page_lists_getopt() {
        let xml = r#"<?xml version="1.0" ?>
<resource-agent name="fence_y" shortdesc="Y fencing">
<longdesc>Powers off.</longdesc>
<parameters><parameter name="ip" unique="0" required="1">
<getopt mixed="-a, --ip=[ip]"/><content type="string"/><shortdesc lang="en">BMC address</shortdesc>
</parameter></parameters>
<actions><action name="off"/><action name="status"/></actions></resource-agent>"#;
        let (file, page) = fence_page(xml).unwrap();
        assert_eq!(file, "fence_y.8");
        assert!(page.contains("\\fB-a, --ip=[ip]\\fR"));
        assert!(page.contains("stdin: ip="));
        assert!(page.contains("off\nstatus\n"));
    }

    #[test]
    fn program_pages_cover_every_subcommand() {
        let out = tempfile::tempdir().expect("temporary directory");
        let made = program_pages(axha_provision::cli::command(), out.path()).unwrap();
        let names: Vec<String> = made
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.contains(&"axigen-provision.8".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"axigen-provision-backend.8".to_string()),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.contains("-help")), "{names:?}");
        let top = std::fs::read_to_string(out.path().join("axigen-provision.8")).unwrap();
        assert!(
            top.contains(".TH axigen-provision 8 \" \" \"axigen-ha "),
            "{top}"
        );
        assert!(top.contains("axigen\\-provision\\-import(8)"), "{top}");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(ocf_page("p", "<nope").is_err());
    }
}
