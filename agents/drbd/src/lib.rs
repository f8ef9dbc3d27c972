//! `ocf:axigen:drbd`, the OCF agent for one DRBD resource run as a promotable clone, and the
//! DRBD fence-peer handler (`drbd-fence-peer`, see [`fence`]).
//!
//! - [`spec`]: the parameters and actions (meta-data comes from it).
//! - [`policy`]: pure decisions: the promotion-score [`policy::Ladder`], when promotion is
//!   refused, what monitor answers, the clone meta checks.
//! - the actions, bound to their names in [`spec`], over [`axha_drbd::Drbd`] (every command bounded by the
//!   action's deadline) and [`axha_ocf::promotion`].

#![warn(missing_docs)]

pub mod fence;
pub mod policy;
pub mod spec;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_drbd::{
    read_holders, read_module_version, ConnectionState, DiskState, Drbd, Resource, Role,
    VersionRange,
};
use axha_ocf::notify::{Notification, Phase};
use axha_ocf::{promotion, Context, Deadline, OcfError, OcfResult, OcfStatus};

use policy::{
    check_clone_meta, monitor_status, promotion_refusal, promotion_score, single_primary,
    CloneMeta, Ladder,
};
use spec::*;

/// Time kept back from an action's deadline for the final state read and the score update.
const RESERVE: Duration = Duration::from_secs(2);

/// The parameters of one call, checked.
struct Settings {
    resource: String,
    conf: PathBuf,
    ladder: Ladder,
    versions: VersionRange,
    connect_wait: Duration,
    force_demote: bool,
    /// One promoted instance only (promoted-max 1, the default).
    single_primary: bool,
    unfence: bool,
    stop_outdates: bool,
}

impl Settings {
    fn read(ctx: &Context) -> Result<Settings, OcfError> {
        let p = &ctx.params;
        let resource = p.value(&RESOURCE)?;
        check_resource_name(&resource)?;
        let ladder = p
            .value(&LADDER)?
            .parse::<Ladder>()
            .map_err(|e| OcfError::configured(e.to_string()))?;
        let versions = p
            .value(&VERSION)?
            .parse::<VersionRange>()
            .map_err(|e| OcfError::configured(format!("{}: {e}", VERSION.name())))?;
        let wait = p.value(&CONNECT_WAIT)?;
        let connect_wait = u64::try_from(wait).map(Duration::from_secs).map_err(|_| {
            OcfError::configured(format!("{}={wait} is negative", CONNECT_WAIT.name()))
        })?;
        Ok(Settings {
            resource,
            conf: PathBuf::from(p.value(&CONF)?),
            ladder,
            versions,
            connect_wait,
            force_demote: p.value(&FORCE_DEMOTE)?,
            single_primary: single_primary(clone_meta(ctx).promoted_max),
            unfence: p.value(&UNFENCE)?,
            stop_outdates: p.value(&STOP_OUTDATES)?,
        })
    }

    /// What stop acts on, from whatever it can read: a broken ladder or version parameter
    /// must not keep the resource from stopping (a wrong value takes its declared default;
    /// stop neither waits for peers nor sets a score from the ladder). `None` when there is
    /// no usable resource name: then nothing can have been started.
    fn for_stop(ctx: &Context) -> Option<Settings> {
        let p = &ctx.params;
        let resource = p.get(&RESOURCE).filter(|r| !r.trim().is_empty())?;
        if let Err(e) = check_resource_name(&resource) {
            // Start refuses such a name, so nothing was started; `drbdadm down all` would
            // take down every resource of the node.
            ctx.log.warn(&format!("{}: nothing to stop", e.reason));
            return None;
        }
        Some(Settings {
            resource,
            conf: PathBuf::from(p.lenient(&CONF).expect("drbdconf has a default")),
            ladder: LADDER
                .default_value()
                .and_then(|l| l.parse().ok())
                .expect("the declared ladder parses"),
            versions: VERSION
                .default_value()
                .and_then(|v| v.parse().ok())
                .expect("the declared version range parses"),
            connect_wait: Duration::ZERO,
            force_demote: p
                .lenient(&FORCE_DEMOTE)
                .expect("stop_force_demote has a default"),
            single_primary: single_primary(clone_meta(ctx).promoted_max),
            unfence: false,
            stop_outdates: p
                .lenient(&STOP_OUTDATES)
                .expect("stop_outdates_secondary has a default"),
        })
    }

    fn drbd(&self) -> Drbd {
        Drbd::new().config(&self.conf)
    }
}

/// Refuse what drbdadm would read as something else than one resource: `all` (every
/// resource, drbdadm(8)), a leading `-` (an option), white space or `/` (never in a name).
fn check_resource_name(resource: &str) -> Result<(), OcfError> {
    let why = if resource == "all" {
        Some("drbdadm reads it as every resource")
    } else if resource.starts_with('-') {
        Some("drbdadm reads it as an option")
    } else if resource.contains(|c: char| c.is_whitespace() || c == '/') {
        Some("a DRBD resource name has no white space or /")
    } else {
        None
    };
    match why {
        Some(why) => Err(OcfError::configured(format!(
            "{}={resource:?} is not one DRBD resource name: {why}",
            RESOURCE.name()
        ))),
        None => Ok(()),
    }
}

fn generic(e: impl std::fmt::Display) -> OcfError {
    OcfError::generic(e.to_string())
}

fn clone_meta(ctx: &Context) -> CloneMeta {
    CloneMeta {
        clone_max: ctx.meta_int("clone_max", &[]),
        clone_node_max: ctx.meta_int("clone_node_max", &[]),
        promoted_max: ctx.meta_int("promoted_max", &["master_max"]),
        promoted_node_max: ctx.meta_int("promoted_node_max", &["master_node_max"]),
        notify: ctx.meta_bool("notify", &[]),
        promotable: ctx.meta_bool("promotable", &[]),
    }
}

fn validate_all(ctx: &mut Context) -> OcfResult {
    validate(ctx).map(|_| OcfStatus::Success)
}

/// validate-all: parameters (6 when wrong everywhere), the local configuration (5: a problem
/// of this node), the clone meta attributes (6).
fn validate(ctx: &Context) -> Result<Settings, OcfError> {
    let s = Settings::read(ctx)?;
    // What is wrong on every node first (6), before what this node lacks (5); whether two
    // primaries are allowed is only known from the resource's configuration, read below.
    check_clone_meta(&clone_meta(ctx), || true).map_err(OcfError::configured)?;
    let drbd = s.drbd();
    let dump = drbd.dump(&s.resource, &ctx.deadline).map_err(|e| {
        if e.is_not_found() {
            OcfError::installed(format!("drbdadm is not installed: {e}"))
        } else {
            OcfError::installed(format!(
                "resource {} is not usable on this node: {e}",
                s.resource
            ))
        }
    })?;
    check_clone_meta(&clone_meta(ctx), || allows_two_primaries(&dump))
        .map_err(OcfError::configured)?;
    Ok(s)
}

/// Whether `drbdadm dump` output enables `allow-two-primaries` (drbd.conf(5), net section).
fn allows_two_primaries(dump: &str) -> bool {
    dump.lines().any(|l| {
        let mut w = l.split_whitespace().map(|w| w.trim_end_matches(';'));
        w.next() == Some("allow-two-primaries") && w.next().is_none_or(|v| v == "yes")
    })
}

fn score_file(ctx: &Context) -> PathBuf {
    let safe: String = ctx
        .instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    ctx.state_dir().join(format!("axigen-drbd-{safe}.score"))
}

/// Bring the promotion score in line with the data. A recurring monitor only calls
/// crm_attribute when the score changed since the last call on this node (remembered under
/// `HA_RSCTMP`, which a reboot empties, as it empties transient attributes); every other
/// action, and probes, always set it, so a restarted Pacemaker gets the score back.
fn update_score(ctx: &Context, r: Option<&Resource>, s: &Settings, force: bool) {
    let want = r.and_then(|r| promotion_score(r, &s.ladder));
    let file = score_file(ctx);
    let want_text = want
        .map(|s| s.to_string())
        .unwrap_or_else(|| "none".to_string());
    let had = axha_exec::read_bounded(&file, 64, &ctx.deadline).unwrap_or_default();
    if !force && String::from_utf8_lossy(&had).trim() == want_text {
        return;
    }
    let deadline = ctx.deadline;
    let result = match want {
        Some(score) => promotion::set_score(&ctx.instance, score, &deadline),
        None => promotion::delete_score(&ctx.instance, &deadline),
    };
    match result {
        Ok(()) => {
            ctx.log.debug(&format!("promotion score: {want_text}"));
            let _ = std::fs::create_dir_all(ctx.state_dir());
            let _ = std::fs::write(&file, &want_text);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&file);
            ctx.log.warn(&format!(
                "could not set the promotion score to {want_text}: {e}"
            ));
        }
    }
}

fn status(drbd: &Drbd, s: &Settings, deadline: &Deadline) -> Result<Option<Resource>, OcfError> {
    let r = drbd.status(&s.resource, deadline);
    // The state read is the probe's answer: into the step trace (trace_ra) when one is kept.
    axha_ocf::trace::step(&format!("status of {}: {r:?}", s.resource));
    r.map_err(generic)
}

fn check_version(s: &Settings) -> Result<(), OcfError> {
    match read_module_version() {
        Ok(v) if s.versions.contains(v) => Ok(()),
        Ok(v) => Err(OcfError::installed(format!(
            "DRBD module {v} is outside {}={}",
            VERSION.name(),
            spec_range_text(&s.versions)
        ))),
        // Not loaded yet: drbdadm up loads it; checked again afterwards.
        Err(_) => Ok(()),
    }
}

fn spec_range_text(r: &VersionRange) -> String {
    let side = |v: Option<axha_drbd::ModuleVersion>| v.map(|v| v.to_string()).unwrap_or_default();
    format!("{}-{}", side(r.low), side(r.high))
}

fn start(ctx: &mut Context) -> OcfResult {
    let s = validate(ctx)?;
    check_version(&s)?;
    let drbd = s.drbd();
    let deadline = ctx.deadline;
    let work = deadline.less(RESERVE);
    match status(&drbd, &s, &work)? {
        None => drbd.up(&s.resource, &work).map_err(generic)?,
        // Already (partly) up: attach/connect what is missing, leave the rest alone.
        Some(_) => drbd.adjust(&s.resource, &work).map_err(generic)?,
    }
    if read_module_version().is_ok() {
        if let Err(e) = check_version(&s) {
            let _ = drbd.down(&s.resource, &deadline);
            return Err(e);
        }
    }
    // Wait for the peers (bounded): the first score should reflect their real data.
    let wait = work.within(s.connect_wait);
    let mut last = None;
    let settled = wait.poll(Duration::from_millis(250), || {
        match drbd.status(&s.resource, &wait) {
            Ok(Some(r)) => {
                let done = peers_settled(&r);
                last = Some(r);
                done.then_some(())
            }
            _ => None,
        }
    });
    let r = match last {
        Some(r) if settled.is_some() => r,
        _ => status(&drbd, &s, &deadline)?.ok_or_else(|| {
            OcfError::generic(format!("{} is not configured after drbdadm up", s.resource))
        })?,
    };
    if matches!(r.local_disk(), DiskState::Diskless | DiskState::Failed) && !r.is_diskless_client()
    {
        return Err(OcfError::generic(format!(
            "{}: the backing disk did not attach ({})",
            s.resource,
            r.local_disk()
        )));
    }
    if settled.is_none() && !s.connect_wait.is_zero() {
        ctx.log.info(&format!(
            "{}: peers not connected after {:?}; continuing",
            s.resource, s.connect_wait
        ));
    }
    update_score(ctx, Some(&r), &s, true);
    Ok(OcfStatus::Success)
}

/// True once every connection is established and the disk states are exchanged (no peer disk
/// still unknown and no resync handshake in progress).
fn peers_settled(r: &Resource) -> bool {
    !r.connections.is_empty()
        && r.connections.iter().all(|c| {
            c.state == ConnectionState::Connected
                && c.peer_devices
                    .iter()
                    .all(|p| !matches!(p.peer_disk, DiskState::DUnknown | DiskState::Negotiating))
        })
        && r.local_disk() != DiskState::Negotiating
}

/// Make the resource Secondary or explain what holds it; never waits past the deadline.
fn demote_now(
    ctx: &Context,
    drbd: &Drbd,
    s: &Settings,
    r: &Resource,
    force: bool,
) -> Result<(), OcfError> {
    let work = ctx.deadline.less(RESERVE);
    let first = drbd.secondary(&s.resource, false, &work);
    let Err(e) = first else { return Ok(()) };
    let nine = read_module_version().is_ok_and(|v| v.is_drbd9());
    if force && nine {
        ctx.log.warn(&format!(
            "{}: demotion failed ({e}); forcing it",
            s.resource
        ));
        if drbd.secondary(&s.resource, true, &work).is_ok() {
            return Ok(());
        }
    }
    let holders: Vec<String> = r
        .devices
        .iter()
        .flat_map(|d| {
            read_holders(d.minor)
                .into_iter()
                .map(move |h| format!("/dev/drbd{}: {h}", d.minor))
        })
        .collect();
    if holders.is_empty() {
        Err(OcfError::generic(format!(
            "cannot demote {}: {e}",
            s.resource
        )))
    } else {
        Err(OcfError::generic(format!(
            "cannot demote {}: held open by {}",
            s.resource,
            holders.join(", ")
        )))
    }
}

fn stop(ctx: &mut Context) -> OcfResult {
    let Some(s) = Settings::for_stop(ctx) else {
        ctx.log.warn(&format!(
            "{} is not usable: nothing can have been started",
            RESOURCE.name()
        ));
        return Ok(OcfStatus::Success);
    };
    let drbd = s.drbd();
    if !Path::new("/proc/drbd").exists() {
        // No module, no resource.
        update_score(ctx, None, &s, true);
        return Ok(OcfStatus::Success);
    }
    let work = ctx.deadline.less(RESERVE);
    if let Some(r) = status(&drbd, &s, &work)? {
        let outdate = s.stop_outdates && policy::outdate_on_stop(&r);
        if r.role == Role::Primary {
            demote_now(ctx, &drbd, &s, &r, s.force_demote)?;
        }
        if let Err(e) = drbd.down(&s.resource, &work) {
            // drbdadm needs a readable configuration; drbdsetup does not.
            ctx.log.warn(&format!("{e}; trying drbdsetup down"));
            drbd.setup_down(&s.resource, &work).map_err(generic)?;
        }
        if let Some(r) = status(&drbd, &s, &ctx.deadline)? {
            return Err(OcfError::generic(format!(
                "{} is still configured ({}) after down",
                s.resource, r.role
            )));
        }
        if outdate {
            // Down, so DRBD writes the Outdated flag to the meta data (drbdmeta); a
            // connected resource would refuse. A failure leaves the data as fencing left it:
            // the resource is stopped either way.
            match drbd.outdate(&s.resource, &work) {
                Ok(()) => ctx.log.info(&format!(
                    "{}: stopped while a Primary peer kept writing: marked Outdated",
                    s.resource
                )),
                Err(e) => ctx.log.warn(&format!(
                    "{}: could not mark the stopped data Outdated: {e}",
                    s.resource
                )),
            }
        }
    }
    update_score(ctx, None, &s, true);
    Ok(OcfStatus::Success)
}

fn promote(ctx: &mut Context) -> OcfResult {
    let s = Settings::read(ctx)?;
    let drbd = s.drbd();
    let work = ctx.deadline.less(RESERVE);
    let r = status(&drbd, &s, &work)?.ok_or_else(|| {
        OcfError::new(
            OcfStatus::NotRunning,
            format!("{} is not started", s.resource),
        )
    })?;
    if r.role == Role::Primary {
        return Ok(OcfStatus::Success);
    }
    if let Some(why) = promotion_refusal(&r, s.single_primary) {
        // No score: Pacemaker must not come back here until the data changes (monitor sets
        // the score again then), instead of retrying a promotion that cannot succeed.
        update_score(ctx, None, &s, true);
        return Err(OcfError::generic(why));
    }
    drbd.primary(&s.resource, &work).map_err(generic)?;
    let r = status(&drbd, &s, &ctx.deadline)?;
    match r.as_ref().map(|r| r.role) {
        Some(Role::Primary) => {
            update_score(ctx, r.as_ref(), &s, true);
            Ok(OcfStatus::Success)
        }
        other => Err(OcfError::generic(format!(
            "{} is {:?} after drbdadm primary",
            s.resource, other
        ))),
    }
}

fn demote(ctx: &mut Context) -> OcfResult {
    let s = Settings::read(ctx)?;
    let drbd = s.drbd();
    let work = ctx.deadline.less(RESERVE);
    let r = status(&drbd, &s, &work)?.ok_or_else(|| {
        OcfError::new(
            OcfStatus::NotRunning,
            format!("{} is not started", s.resource),
        )
    })?;
    if r.role == Role::Primary {
        demote_now(ctx, &drbd, &s, &r, false)?;
    }
    let r = status(&drbd, &s, &ctx.deadline)?;
    update_score(ctx, r.as_ref(), &s, true);
    match r.map(|r| r.role) {
        Some(Role::Primary) => Err(OcfError::generic(format!(
            "{} is still Primary",
            s.resource
        ))),
        _ => Ok(OcfStatus::Success),
    }
}

fn monitor(ctx: &mut Context) -> OcfResult {
    let s = Settings::read(ctx)?;
    let probe = ctx.is_probe();
    if !Path::new("/proc/drbd").exists() {
        // Without the kernel module no DRBD resource can be configured: cleanly stopped.
        return Ok(OcfStatus::NotRunning);
    }
    let drbd = s.drbd();
    let r = match drbd.status(&s.resource, &ctx.deadline) {
        Ok(r) => r,
        Err(e) if e.is_not_found() => {
            if probe {
                return Ok(OcfStatus::NotRunning);
            }
            return Err(OcfError::installed(format!(
                "drbdsetup is not installed: {e}"
            )));
        }
        Err(e) => return Err(generic(e)),
    };
    let Some(r) = r else {
        return Ok(OcfStatus::NotRunning);
    };
    update_score(ctx, Some(&r), &s, probe);
    if s.unfence {
        unfence_when_in_sync(ctx, &r, probe);
    }
    monitor_status(&r).map_err(|(status, reason)| OcfError::new(status, reason))
}

/// `unfence_if_all_uptodate`: once every volume is UpToDate here and on every connected
/// peer, a constraint drbd-fence-peer placed is stale; remove it through the handler's own
/// code ([`fence::lift_constraint`], only by a node it allows). The CIB is read on probes and
/// then only when the state returns to "in sync" or the handler placed a constraint since
/// the last check ([`fence::unfence_checked_marker`]), not on every monitor. Failures are
/// logged: the monitor's answer is about DRBD, not about the CIB.
fn unfence_when_in_sync(ctx: &Context, r: &Resource, probe: bool) {
    let marker = fence::unfence_checked_marker(&r.name);
    if !r.in_sync_with_all_peers() {
        let _ = std::fs::remove_file(&marker);
        return;
    }
    if !probe && marker.exists() {
        return;
    }
    // Pacemaker's own tools read CIB_file; an agent run against a CIB file (tests, offline
    // checks) passes it the same way.
    let cib = fence::Cib {
        file: ctx
            .var(axha_ocf::cibadmin::CIB_FILE)
            .filter(|f| !f.is_empty())
            .map(str::to_string),
    };
    let me = ctx.node_name();
    let mut lines = Vec::new();
    let mut log = |m: &str| lines.push(m.to_string());
    let result = fence::lift_constraint(
        r,
        &me,
        None,
        fence::Lift::OnlyIfAllowed,
        &cib,
        &ctx.deadline,
        &mut log,
    );
    for l in &lines {
        ctx.log.info(l);
    }
    match result {
        Ok(_) => {
            if let Some(dir) = marker.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(&marker, "in sync\n");
        }
        Err(e) => ctx.log.warn(&format!(
            "{}: in sync, but the fencing constraint could not be checked: {e}",
            r.name
        )),
    }
}

/// reload: `drbdadm adjust` (the running resource follows its configuration file again:
/// attach a detached disk, reconnect, apply changed options) and the score set from the
/// current parameters. The service's own reload (OCF 1.1): an operator runs the agent with
/// it after editing the DRBD configuration; Pacemaker calls `reload-agent` on a change of a
/// reloadable parameter.
fn reload(ctx: &mut Context) -> OcfResult {
    let s = validate(ctx)?;
    let drbd = s.drbd();
    let work = ctx.deadline.less(RESERVE);
    if status(&drbd, &s, &work)?.is_none() {
        return Err(OcfError::new(
            OcfStatus::NotRunning,
            format!("{} is not started: nothing to reload", s.resource),
        ));
    }
    drbd.adjust(&s.resource, &work).map_err(generic)?;
    let r = status(&drbd, &s, &ctx.deadline)?;
    update_score(ctx, r.as_ref(), &s, true);
    Ok(OcfStatus::Success)
}

/// reload-agent (OCF 1.1): Pacemaker calls it when only reloadable parameters changed (the
/// score ladder, connect_wait, the version range, the stop and unfence switches). DRBD is
/// not touched: the new parameters are checked, and the promotion score is set again from
/// the new ladder. A module outside a new version range is only warned about: it matters at
/// the next start, and failing here would make Pacemaker restart the volume.
fn reload_agent(ctx: &mut Context) -> OcfResult {
    let s = Settings::read(ctx)?;
    if let Err(e) = check_version(&s) {
        ctx.log
            .warn(&format!("{}: the next start will refuse it", e.reason));
    }
    // The score is the only thing reload-agent changes; a state that cannot be read now is
    // left to the next monitor (failing would make Pacemaker restart the volume).
    match status(&s.drbd(), &s, &ctx.deadline) {
        Ok(r) => update_score(ctx, r.as_ref(), &s, true),
        Err(e) => ctx.log.warn(&format!(
            "{}: the next monitor sets the promotion score",
            e.reason
        )),
    }
    ctx.log.info(&format!(
        "parameters reloaded: ladder {}, connect_wait {}s",
        ctx.params.value(&LADDER)?,
        s.connect_wait.as_secs()
    ));
    Ok(OcfStatus::Success)
}

fn notify(ctx: &mut Context) -> OcfResult {
    let n = match Notification::from_vars(ctx.vars()) {
        Ok(n) => n,
        Err(e) => {
            ctx.log.warn(&format!("notify: {e}"));
            return Ok(OcfStatus::Success);
        }
    };
    ctx.log
        .debug(&format!("notify {:?} {:?}", n.phase, n.operation));
    if n.phase == Phase::Post {
        // A peer started, stopped, was promoted or demoted: our data's standing may have
        // changed (e.g. the peer is gone, or is UpToDate again).
        if let Ok(s) = Settings::read(ctx) {
            if let Ok(r) = s.drbd().status(&s.resource, &ctx.deadline) {
                update_score(ctx, r.as_ref(), &s, true);
            }
        }
    }
    Ok(OcfStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_primaries_in_dump() {
        let yes = "resource r0 {\n    net {\n        allow-two-primaries yes;\n    }\n}\n";
        assert!(allows_two_primaries(yes));
        assert!(allows_two_primaries("        allow-two-primaries;\n"));
        assert!(!allows_two_primaries("        allow-two-primaries no;\n"));
        assert!(!allows_two_primaries("resource r0 {\n}\n"));
    }

    #[test]
    fn stop_settings_come_from_the_declared_defaults() {
        let vars = axha_ocf::Environment::from_pairs([
            ("OCF_RESKEY_drbd_resource", "r0"),
            ("OCF_RESKEY_adjust_promotion_score", "nonsense"),
            ("OCF_RESKEY_stop_force_demote", "maybe"),
            ("HA_LOGFILE", "/dev/null"),
        ]);
        let params = axha_ocf::Params::parse(spec::SPEC.params, &vars);
        let ctx = Context::new("drbd", "stop", params, vars, None, false);
        let s = Settings::for_stop(&ctx).expect("a usable resource name");
        assert_eq!(s.resource, "r0");
        assert_eq!(s.conf, PathBuf::from("/etc/drbd.conf"));
        assert!(!s.force_demote);
        assert!(
            Settings::read(&ctx).is_err(),
            "the ladder is wrong for every other action"
        );
    }

    #[test]
    fn special_resource_names_are_refused() {
        for bad in ["all", "-v", "r 0", "r/0"] {
            let e = check_resource_name(bad).unwrap_err();
            assert_eq!(e.status, OcfStatus::ErrConfigured, "{bad}");
        }
        assert!(check_resource_name("r0").is_ok());
        assert!(check_resource_name("web-data_1.a").is_ok());
    }

    #[test]
    fn meta_data_is_declared_once() {
        let xml = axha_ocf::metadata::render(&SPEC);
        for p in [
            RESOURCE.name(),
            CONF.name(),
            LADDER.name(),
            CONNECT_WAIT.name(),
            FORCE_DEMOTE.name(),
            VERSION.name(),
        ] {
            assert!(xml.contains(&format!("name=\"{p}\"")), "{p}");
        }
        assert!(xml.contains("name=\"promote\""));
        assert!(xml.contains("name=\"notify\""));
    }
}
