//! `axigen-ha doctor`: checks of this node (library: axha_cib::doctor).

use anyhow::bail;
use axha_cib::doctor::{
    run_checks, worst, DoctorOptions, FenceTarget, Level, FENCE_AGENT, PDU_AGENT,
};
use clap::Args;

use crate::OutputFormat;

#[derive(Args)]
pub struct DoctorArgs {
    #[arg(long, value_enum, default_value = "table")]
    output: OutputFormat,
    /// Check this BMC (IP or IP:PORT) instead of the fence devices in the CIB.
    #[arg(long, value_name = "IP[:PORT]", requires_all = ["bmc_user", "bmc_password_file"])]
    bmc: Option<String>,
    #[arg(long, value_name = "USER")]
    bmc_user: Option<String>,
    /// File whose first line is the BMC password.
    #[arg(long, value_name = "FILE")]
    bmc_password_file: Option<String>,
    /// Check every fencing level of every node of this values file (before the CIB exists):
    /// each BMC (login) and each PDU outlet (status).
    #[arg(long, value_name = "FILE", conflicts_with = "bmc")]
    values: Option<std::path::PathBuf>,
}

pub fn run(a: DoctorArgs) -> anyhow::Result<()> {
    let mut opts = DoctorOptions::default();
    if let (Some(bmc), Some(user), Some(pw)) = (a.bmc, a.bmc_user, a.bmc_password_file) {
        let (ip, port) = match bmc.split_once(':') {
            Some((ip, port)) => (ip.to_string(), port.to_string()),
            None => (bmc.clone(), "623".to_string()),
        };
        if ip.parse::<std::net::Ipv4Addr>().is_err() || port.parse::<u16>().is_err() {
            bail!("--bmc {bmc:?}: expected IPv4[:PORT]");
        }
        opts.devices.push(FenceTarget {
            name: bmc.clone(),
            agent: FENCE_AGENT.into(),
            params: vec![
                ("ip".into(), ip),
                ("ipport".into(), port),
                ("username".into(), user),
                ("password_file".into(), pw),
            ],
        });
    }
    if let Some(path) = &a.values {
        let v = axha_cib::read_values(path)?;
        for n in &v.nodes {
            opts.devices.push(FenceTarget {
                name: n.name.clone(),
                agent: FENCE_AGENT.into(),
                params: vec![
                    ("ip".into(), n.bmc_ip.to_string()),
                    ("ipport".into(), n.bmc_port.to_string()),
                    ("username".into(), n.bmc_user.clone()),
                    ("password_file".into(), n.bmc_password_file.clone()),
                ],
            });
            if let Some(p) = &n.pdu {
                opts.devices.push(FenceTarget {
                    name: n.name.clone(),
                    agent: PDU_AGENT.into(),
                    params: vec![
                        ("ip".into(), p.ip.to_string()),
                        ("ipport".into(), p.port.to_string()),
                        ("community".into(), p.community.clone()),
                        ("snmp_version".into(), p.snmp_version.clone()),
                        ("plug".into(), p.outlet.to_string()),
                    ],
                });
            }
        }
    }
    let checks = run_checks(&opts);
    match a.output {
        OutputFormat::Json => {
            let v = serde_json::json!({ "result": worst(&checks), "checks": checks });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        OutputFormat::Table => {
            let w = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
            for c in &checks {
                println!("{:<4}  {:<w$}  {}", c.level.as_str(), c.name, c.reason);
            }
        }
    }
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}
