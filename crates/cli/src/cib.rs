//! `axigen-ha cib`: render, verify and simulate the CIB templates (library: axha-cib).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use axha_cib::{build, read_values, script, tools, xml, Template};
use clap::{Subcommand, ValueEnum};

use crate::OutputFormat;

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, ValueEnum)]
pub enum RenderFormat {
    /// CIB XML (cibadmin --replace --xml-file).
    Xml,
    /// pcs commands (pcs 0.11).
    Pcs,
    /// crm configure syntax (crm configure load update FILE).
    Crm,
    /// corosync.conf for the same nodes.
    Corosync,
}

#[derive(Subcommand)]
pub enum CibCmd {
    /// List the templates.
    List,
    /// Render a template with a values file.
    Render {
        /// Template name (see `cib list`).
        template: String,
        /// Values file (TOML).
        #[arg(long)]
        values: PathBuf,
        #[arg(long, value_enum, default_value = "xml")]
        format: RenderFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a CIB with crm_verify: a rendered template, or an XML file.
    Verify {
        /// Template name; with --values.
        template: Option<String>,
        #[arg(long)]
        values: Option<PathBuf>,
        /// A CIB XML file to check instead of a template.
        #[arg(long, conflicts_with_all = ["template", "values"])]
        cib: Option<PathBuf>,
    },
    /// For each node failure, where crm_simulate places every instance.
    Simulate {
        template: String,
        #[arg(long)]
        values: PathBuf,
        /// Also fail every set of up to N nodes at once.
        #[arg(long, default_value_t = 1)]
        max_failures: usize,
        /// Keep quorum whatever fails (capacity planning); otherwise a strict majority.
        #[arg(long)]
        assume_quorum: bool,
        /// Only this failure scenario: comma-separated nodes failing at once (repeatable).
        #[arg(long = "fail", value_name = "NODE[,NODE...]")]
        fail: Vec<String>,
        /// After each failure, bring the failed nodes back and show where instances stay.
        #[arg(long)]
        and_back: bool,
        /// Instead: a sequence of steps, one after the other (fail:NODE, back:NODE),
        /// comma-separated, e.g. fail:n1,back:n1,fail:n2.
        #[arg(long, value_name = "STEP[,STEP...]", conflicts_with_all = ["fail", "and_back", "max_failures"])]
        steps: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        output: OutputFormat,
    },
}

fn load(template: &str, values: &Path) -> anyhow::Result<(Template, axha_cib::model::Cib)> {
    let t: Template = template.parse()?;
    let v = read_values(values).map_err(|e| values_error(values, e))?;
    let cib = build(t, &v).map_err(|e| values_error(values, e))?;
    Ok((t, cib))
}

/// One problem per line, under the file's name.
fn values_error(path: &Path, e: axha_cib::CibError) -> anyhow::Error {
    match e {
        axha_cib::CibError::Values { problems, .. } => anyhow::anyhow!(
            "invalid values in {}:\n  {}",
            path.display(),
            problems.join("\n  ")
        ),
        other => other.into(),
    }
}

pub fn run(cmd: CibCmd) -> anyhow::Result<()> {
    match cmd {
        CibCmd::List => {
            for t in Template::all() {
                println!("{:<26} {}", t.name(), t.description());
            }
        }
        CibCmd::Render {
            template,
            values,
            format,
            out,
        } => {
            let (t, cib) = load(&template, &values)?;
            let text = match format {
                RenderFormat::Xml => xml::render(&cib),
                RenderFormat::Pcs => script::render_pcs(&cib, t.name()),
                RenderFormat::Crm => script::render_crm(&cib, t.name()),
                RenderFormat::Corosync => script::render_corosync(&cib),
            };
            match out {
                Some(p) => {
                    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{text}"),
            }
        }
        CibCmd::Verify {
            template,
            values,
            cib,
        } => {
            let verified = match (template, values, cib) {
                (_, _, Some(file)) => tools::verify_file(&file, TOOL_TIMEOUT)?,
                (Some(t), Some(v), None) => tools::verify(&load(&t, &v)?.1, TOOL_TIMEOUT)?,
                _ => bail!("give TEMPLATE --values FILE, or --cib FILE"),
            };
            let out = verified.output.trim();
            if !out.is_empty() {
                eprintln!("{out}");
            }
            println!("crm_verify: configuration valid");
        }
        CibCmd::Simulate {
            template,
            values,
            max_failures,
            assume_quorum,
            fail,
            and_back,
            steps,
            output,
        } => {
            let (_, cib) = load(&template, &values)?;
            let opts = tools::SimulateOptions {
                max_failures,
                assume_quorum,
                timeout: TOOL_TIMEOUT,
                only: fail
                    .iter()
                    .map(|f| f.split(',').map(|n| n.trim().to_string()).collect())
                    .collect(),
                and_back,
            };
            let sim = match steps {
                Some(list) => {
                    let steps = list
                        .split(',')
                        .map(tools::Step::parse)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| values_error(&values, e))?;
                    tools::simulate_steps(&cib, &steps, &opts)
                        .map_err(|e| values_error(&values, e))?
                }
                None => tools::simulate(&cib, &opts)?,
            };
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&sim)?),
                OutputFormat::Table => print!("{}", tools::format_table(&sim)),
            }
        }
    }
    Ok(())
}
