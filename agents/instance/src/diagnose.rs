//! `diagnose`: what an operator wants to see when an instance misbehaves, as JSON on stdout.
//! Reads only: it starts, stops and writes nothing.

use std::time::Instant;

use axha_axigen::{probe, process};
use axha_exec::ProcessIdentity;
use axha_ocf::{Context, OcfResult, OcfStatus};
use serde_json::{json, Value};

use crate::checks::{self, Found};
use crate::settings::Settings;
use crate::state::{Recorded, StateFile};

fn process_json(pid: u32) -> Value {
    let stat = axha_exec::read_stat(pid);
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    json!({
        "pid": pid,
        "ppid": stat.map(|s| s.ppid),
        "session": stat.map(|s| s.session),
        "state": stat.map(|s| s.state.to_string()),
        "cmdline": cmd,
    })
}

fn identity_json(id: &ProcessIdentity) -> Value {
    json!({
        "pid": id.pid,
        "start_time": id.start_time,
        "exe": id.exe.as_ref().map(|e| e.display().to_string()),
        "alive": id.is_alive(),
    })
}

pub fn diagnose(ctx: &mut Context) -> OcfResult {
    let report = build(ctx);
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
    Ok(OcfStatus::Success)
}

fn build(ctx: &Context) -> Value {
    let params: Vec<Value> = ctx
        .params
        .errors()
        .iter()
        .map(|e| json!(e.to_string()))
        .collect();
    let s = match Settings::from_params(&ctx.params) {
        Ok(s) => s,
        Err(e) => {
            return json!({ "instance": ctx.instance, "parameters_ok": false,
                           "parameter_errors": params, "error": e.reason });
        }
    };
    let state = StateFile::new(&ctx.state_dir(), &s.workdir);
    let recorded = match state.read() {
        Recorded::None => Value::Null,
        Recorded::Server(id) => identity_json(&id),
        Recorded::Garbage(t) => json!({ "garbage": t }),
    };
    let found = checks::locate(&state, &s.binary, &s.workdir);
    let (status, leader) = match &found {
        Found::Running { leader, adopted } => (
            if *adopted {
                "running (not recorded)"
            } else {
                "running"
            },
            Some(leader.clone()),
        ),
        Found::Gone { recorded, .. } => ("gone", Some(recorded.clone())),
        Found::Absent => ("stopped", None),
    };
    let processes: Vec<Value> = leader
        .as_ref()
        .map(|l| process::members(l).into_iter().map(process_json).collect())
        .unwrap_or_default();
    let config = match s.read_config() {
        Ok(cfg) => {
            let listeners: Vec<Value> = cfg
                .listeners()
                .iter()
                .map(|l| json!({ "service": l.service.to_string(), "address": l.addr.to_string() }))
                .collect();
            json!({ "path": s.config.display().to_string(), "ok": true, "listeners": listeners })
        }
        Err(e) => json!({ "path": s.config.display().to_string(), "ok": false, "error": e.reason }),
    };
    let mut probes = Vec::new();
    if let Ok(ep) = s
        .read_config()
        .ok()
        .map_or_else(|| s.endpoints(None), |c| s.endpoints(Some(&c)))
    {
        let t = Instant::now();
        let (ok, detail) = match checks::cli_version(ep.cli, &ctx.deadline, s.check_timeout) {
            Ok((v, _)) => (true, v.raw),
            Err(e) => (false, e.to_string()),
        };
        probes.push(
            json!({ "check": "cli GET VERSION", "address": ep.cli.to_string(), "ok": ok,
                    "ms": t.elapsed().as_millis() as u64, "detail": detail }),
        );
        for (proto, addr) in &ep.greeters {
            let r = probe::greeting(*proto, *addr, &ctx.deadline.within(s.check_timeout));
            probes.push(
                json!({ "check": format!("{proto} greeting"), "address": addr.to_string(),
                                "ok": r.is_ready(), "ms": r.elapsed.as_millis() as u64,
                                "detail": r.to_string() }),
            );
        }
    }
    json!({
        "instance": ctx.instance,
        "node": ctx.node_name(),
        "workdir": s.workdir.display().to_string(),
        "binary": s.binary.display().to_string(),
        "status": status,
        "state_file": { "path": state.path.display().to_string(), "recorded": recorded },
        "start_log": { "path": state.log.display().to_string(), "last_line": process::last_line(&state.log) },
        "processes": processes,
        "config": config,
        "probes": probes,
    })
}
