//! Front-end nodes of the multi-tier architecture: cluster nodes that run no instance but
//! Dovecot (the IMAP/POP3 proxy routing each login by `mailHost`), Postfix (inbound SMTP
//! routed by LDAP transport maps) and HAProxy (the L4 load balancer; Pacemaker moves only
//! its VIP, from the template). Configuration comes from [`axha_cib::tiers`], the renderer
//! of the operator snippets; files live under `<node dir>/front-end`, runtime state under the
//! node's private `/run`.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use axha_cib::tiers::{
    dovecot_conf, dovecot_ldap_conf, haproxy_cfg, postfix_ldap_maps, postfix_main_cf,
    postfix_master_cf, through_local_balancer, DirectoryRef, FrontEndPaths, MAIL_PORTS,
};
use axha_exec::Deadline;

use super::mkdir_mode;
use crate::config::{parse_group_gid, parse_passwd_uid};
use crate::spec::{LAB_NET, LAB_PREFIX};
use crate::{Lab, LabError};

/// The load balancer's virtual IP in the lab.
pub const LB_VIP: Ipv4Addr = Ipv4Addr::new(LAB_NET[0], LAB_NET[1], LAB_NET[2], 200);
/// How long a front-end's daemons may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Postfix's user and group (its data directory belongs to them).
fn postfix_ids() -> Result<(u32, u32), LabError> {
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| LabError::io(p, e));
    let bad = |path: &str| LabError::BadState {
        path: path.into(),
        reason: "no postfix user or group (is postfix installed?)".into(),
    };
    let uid =
        parse_passwd_uid(&read("/etc/passwd")?, "postfix").ok_or_else(|| bad("/etc/passwd"))?;
    let gid = parse_group_gid(&read("/etc/group")?, "postfix").ok_or_else(|| bad("/etc/group"))?;
    Ok((uid, gid))
}

impl Lab {
    /// The HAProxy configuration every load-balancer node reads (the template's
    /// `haproxy_config` in the lab).
    pub fn haproxy_config(&self) -> std::path::PathBuf {
        self.state_dir.join("haproxy.cfg")
    }

    /// Make `node` a front-end: Dovecot and Postfix on its own address routing by `dir`, and
    /// the HAProxy configuration spreading `vip` over `front_ends` (HAProxy itself is started
    /// by Pacemaker, from the template). Returns once IMAP, POP3 and SMTP answer on it.
    pub fn start_front_end(
        &self,
        node: &str,
        dir: &DirectoryRef,
        vip: Ipv4Addr,
        front_ends: &[(String, Ipv4Addr)],
    ) -> Result<(), LabError> {
        self.check_node(node)?;
        let addr = self.node_addr(node);
        let conf = self.node_dir(node).join("front-end");
        let paths = FrontEndPaths {
            config_dir: conf.display().to_string(),
            dovecot_run: "/run/dovecot-fe".into(),
            dovecot_state: conf.join("dovecot-state").display().to_string(),
            dovecot_log: conf.join("dovecot.log").display().to_string(),
            postfix_queue: conf.join("postfix-queue").display().to_string(),
            postfix_data: conf.join("postfix-data").display().to_string(),
            // Postfix's own commands log through postlogd, which runs only under master:
            // stdout (the spawn log) works before and after.
            postfix_log: "/dev/stdout".into(),
        };
        mkdir_mode(&conf, 0o755, None)?;
        mkdir_mode(&conf.join("dovecot-state"), 0o755, None)?;
        mkdir_mode(&conf.join("postfix-queue"), 0o755, None)?;
        let postfix_ids = postfix_ids()?;
        mkdir_mode(&conf.join("postfix-data"), 0o700, Some(postfix_ids))?;
        let net = format!(
            "{}.{}.{}.0/{LAB_PREFIX}",
            LAB_NET[0], LAB_NET[1], LAB_NET[2]
        );
        // Dovecot and Postfix look up through the node's own HAProxy (health-checked providers)
        let local = through_local_balancer(dir);
        let mut files = vec![
            ("dovecot.conf", dovecot_conf(addr, &paths)),
            ("dovecot-ldap.conf.ext", dovecot_ldap_conf(&local)),
            (
                "main.cf",
                postfix_main_cf(addr, &format!("{node}.lab"), &net, &paths),
            ),
            ("master.cf", postfix_master_cf()),
        ];
        let h = self.haproxy_config();
        std::fs::write(&h, haproxy_cfg(vip, front_ends, dir)).map_err(|e| LabError::io(&h, e))?;
        files.extend(postfix_ldap_maps(&local));
        for (name, text) in &files {
            let p = conf.join(name);
            std::fs::write(&p, text).map_err(|e| LabError::io(&p, e))?;
            // the files with the directory identity's password are secrets: Dovecot opens
            // its own as root, Postfix's lookups run as postfix
            let secret = match *name {
                "dovecot-ldap.conf.ext" => Some((0o600, None)),
                n if n.starts_with("ldap-") => Some((0o640, Some(postfix_ids.1))),
                _ => None,
            };
            if let Some((mode, group)) = secret {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| LabError::io(&p, e))?;
                std::os::unix::fs::chown(&p, Some(0), group).map_err(|e| LabError::io(&p, e))?;
            }
        }
        let d = Deadline::after(LISTEN_TIMEOUT);
        let c = conf.display().to_string();
        // HAProxy binds the VIP before Pacemaker puts it here.
        self.run_ok(
            node,
            &["sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1"],
            Duration::from_secs(10),
        )?;
        self.spawn_in(
            node,
            &["dovecot", "-F", "-c", &format!("{c}/dovecot.conf")],
            &conf.join("dovecot.stdout"),
        )?;
        self.run_ok(
            node,
            &["postfix", "-c", &c, "check"],
            d.remaining().max(Duration::from_secs(1)),
        )?;
        self.spawn_in(
            node,
            &["postfix", "-c", &c, "start-fg"],
            &conf.join("postfix.stdout"),
        )?;
        for (proto, port) in MAIL_PORTS {
            d.poll(Duration::from_millis(100), || {
                self.greeting(node, addr, port)
            })
            .ok_or_else(|| LabError::Timeout {
                what: format!("{proto} on front-end {node} ({addr}:{port})"),
                last: super::tail_of(&conf.join("dovecot.log"), 2)
                    + " | "
                    + &super::tail_of(&conf.join("postfix.stdout"), 2),
            })?;
        }
        Ok(())
    }
}
