//! Ready-made lab scenarios: the multi-tier N+1 layout (back-end instances on their home
//! nodes, hot stand-bys that take at most two instances each) and a timed power-loss failover
//! of one instance, as the demo and the benchmark run them.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::service::{Instance, IMAP_PORT};
use crate::{Lab, LabError};

/// Create instances `inst1..` with the given home nodes, in the N+1 layout: each instance
/// may run on its home node or on a stand-by (any node that is nobody's home), never on
/// another back-end; back-ends hold one instance, stand-bys at most two (utilization
/// placement); stickiness 200 (above the home preference of 100) so a returning node causes
/// no needless move; two failures on a node move an instance away (migration-threshold).
pub fn n_plus_1(lab: &Lab, homes: &[&str], server: &Path) -> Result<Vec<Instance>, LabError> {
    let nodes = lab.nodes();
    let d = Duration::from_secs(30);
    let first = lab.first_alive()?;
    for n in &nodes {
        let cap = if homes.contains(&n.as_str()) {
            "1"
        } else {
            "2"
        };
        lab.run_ok(
            &first,
            &["crm_attribute", "-N", n, "-z", "-n", "instances", "-v", cap],
            d,
        )?;
    }
    lab.run_ok(
        &first,
        &[
            "crm_attribute",
            "-n",
            "placement-strategy",
            "-v",
            "utilization",
        ],
        d,
    )?;
    let mut out = Vec::new();
    for (k, home) in homes.iter().enumerate() {
        let i = lab.add_instance(&format!("inst{}", k + 1), k + 1, Some(home), server)?;
        let xml = group_with_meta(&i);
        lab.cib_create("resources", &xml)?;
        let mut cons = String::from("<constraints>");
        if let Some(l) = i.location_xml() {
            cons.push_str(&l);
        }
        for other in homes.iter().filter(|h| *h != home) {
            cons.push_str(&format!(
                r#"<rsc_location id="{0}-not-{other}" rsc="{0}" node="{other}" score="-INFINITY"/>"#,
                i.id
            ));
        }
        cons.push_str("</constraints>");
        lab.cib_create("constraints", &cons)?;
        out.push(i);
    }
    Ok(out)
}

/// The instance's group with the N+1 meta attributes, its utilization on the group's first
/// member: Pacemaker checks a member's utilization when it places that member, so on a later
/// member a full stand-by would still take the storage and the IP of an instance whose server
/// cannot run there.
fn group_with_meta(i: &Instance) -> String {
    let id = &i.id;
    let g = i.group_xml();
    let g = g.replacen(
        &format!(r#"<group id="{id}">"#),
        &format!(
            r#"<group id="{id}"><meta_attributes id="{id}-meta"><nvpair id="{id}-meta-stickiness" name="resource-stickiness" value="200"/><nvpair id="{id}-meta-mt" name="migration-threshold" value="2"/></meta_attributes>"#
        ),
        1,
    );
    g.replacen(
        &format!(r#"<instance_attributes id="{id}-fs-ia">"#),
        &format!(
            r#"<utilization id="{id}-fs-util"><nvpair id="{id}-fs-util-instances" name="instances" value="1"/></utilization><instance_attributes id="{id}-fs-ia">"#
        ),
        1,
    )
}

/// The `[[nodes]]` and `[[instances]]` tables of a values file for `axigen-ha cib render`
/// describing this lab: node addresses, BMCs (the lab's password file), and the instances'
/// devices, mount points, service IPs, password files and server binary.
pub fn values_toml(lab: &Lab, instances: &[Instance]) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let pw = lab.state_dir().join("bmc").join("password");
    let mut t = String::new();
    for n in lab.nodes() {
        let bmc = lab.bmc_addr(&n);
        t.push_str(&format!(
            "[[nodes]]\nname = {}\naddress = {}\nbmc = {{ ip = {}, port = {}, user = {}, password_file = {} }}\n\n",
            q(&n),
            q(&lab.node_addr(&n).to_string()),
            q(&bmc.ip().to_string()),
            bmc.port(),
            q(crate::fencing::BMC_USER),
            q(&pw.display().to_string())
        ));
        t.push_str(&second_link_and_pdu_values(lab, &n));
    }
    for i in instances {
        let wd = i.workdir.display().to_string();
        t.push_str(&format!(
            "[[instances]]\nid = {}\nworkdir = {}\nip = {}\ncidr = {}\ndevice = {}\nmountpoint = {}\nfstype = \"ext4\"\ncli_password_file = {}\nbinary = {}\n",
            q(&i.id),
            q(&wd),
            q(&i.ip.to_string()),
            crate::spec::LAB_PREFIX,
            q(&i.device.display().to_string()),
            q(&wd),
            q(&i.password_file.display().to_string()),
            q(&i.binary.display().to_string())
        ));
        if let Some(h) = &i.home {
            t.push_str(&format!("preferred_node = {}\n", q(h)));
        }
        t.push('\n');
    }
    t
}

/// A node's `address2` (labs with two corosync links) and `pdu` outlet (labs with a PDU),
/// inserted into its `[[nodes]]` table by [`values_toml`]; empty for a lab with neither.
fn second_link_and_pdu_values(lab: &Lab, node: &str) -> String {
    let Some(i) = lab.outlet_of(node) else {
        return String::new();
    };
    // after the blank line that ends the node's lines: still its table (TOML tables end at
    // the next header)
    let mut t = String::new();
    if lab.links() >= 2 {
        t.push_str(&format!("address2 = \"{}\"\n", crate::spec::node_addr2(i)));
    }
    if lab.has_pdu() {
        let pdu = lab.pdu_addr();
        t.push_str(&format!(
            "pdu = {{ ip = \"{}\", port = {}, outlet = {i}, community = \"{}\" }}\n",
            pdu.ip(),
            pdu.port(),
            lab.pdu_community().unwrap_or_default()
        ));
    }
    if !t.is_empty() {
        t.push('\n');
    }
    t
}

/// One moment of a failover, relative to the power loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Moment {
    /// Time since the power loss.
    pub at: Duration,
    /// What happened, in one line.
    pub what: String,
}

/// A timed power-loss failover of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    /// The node that lost power.
    pub victim: String,
    /// The node the instance runs on afterwards.
    pub new_node: String,
    /// The survivors see the victim offline.
    pub detected: Option<Duration>,
    /// The victim's fencing completed.
    pub fenced: Option<Duration>,
    /// The instance's server is started on the new node.
    pub running: Duration,
    /// The instance answers IMAP on its service IP (asked from another node).
    pub answering: Duration,
    /// The timeline, in order.
    pub moments: Vec<Moment>,
}

/// The IMAP greeting at `ip`, asked from node `from` (namespace labs) or from outside the
/// nodes (VM labs, whose nodes' namespaces hold no address).
fn imap_ok(lab: &Lab, from: &str, ip: Ipv4Addr) -> Option<String> {
    if lab.is_vm() {
        lab.greeting_outside(ip, IMAP_PORT)
    } else {
        lab.greeting(from, ip, IMAP_PORT)
    }
    .filter(|g| g.starts_with("* OK"))
}

/// Cut the power of the node running `inst` and time the recovery until the instance answers
/// IMAP again on its service IP, watching from a surviving node. Fails if the instance is
/// ever seen active on two nodes.
pub fn power_loss(lab: &Lab, inst: &Instance, timeout: Duration) -> Result<Failover, LabError> {
    power_loss_of(lab, &inst.server_id(), inst.ip, timeout)
}

/// [`power_loss`] for any resource layout: `server` is the id of the `ocf:axigen:instance`
/// primitive (its group's other members are timed too), `ip` its service IP.
pub fn power_loss_of(
    lab: &Lab,
    server: &str,
    ip: Ipv4Addr,
    timeout: Duration,
) -> Result<Failover, LabError> {
    let server = server.to_string();
    let before = lab.view_any()?;
    // the members of the server's group, in the order crm_mon lists them
    let members: Vec<String> = match before.resource(&server).and_then(|r| r.parents.first()) {
        Some(group) => before
            .resources
            .iter()
            .filter(|r| r.parents.first() == Some(group))
            .map(|r| r.id.clone())
            .collect(),
        None => vec![server.clone()],
    };
    let victim = before
        .locate(&server)
        .into_iter()
        .next()
        .ok_or_else(|| LabError::Timeout {
            what: format!("{server} to run somewhere before the power loss"),
            last: String::new(),
        })?;
    let observer = lab.other_alive(&victim)?;
    // The fencing history as the observer knows it (a node that just rebooted may not have
    // synchronised the older entries yet).
    let fenced_before = lab.view(&observer)?.fenced(&victim).len();
    let mut moments = vec![Moment {
        at: Duration::ZERO,
        what: format!("{victim} loses power ({server} was running there)"),
    }];
    let t0 = Instant::now();
    lab.kill(&victim)?;
    let (mut detected, mut fenced, mut running) = (None, None, None);
    let mut started: Vec<String> = Vec::new();
    let mut new_node = String::new();
    // A VM's one emulated CPU is the survivor's whole capacity: crm_mon there in a tight loop
    // slowed the failover it watched several-fold. Its view is read every 2 s; the IMAP probe
    // (from outside, one TCP connection) keeps its pace.
    let view_every = if lab.is_vm() {
        Duration::from_secs(2)
    } else {
        Duration::ZERO
    };
    let mut last_view: Option<Instant> = None;
    loop {
        let at = t0.elapsed();
        if at > timeout {
            return Err(lab.wait_failed(
                &format!("{server} to answer again after {victim} lost power"),
                moments.last().map(|m| m.what.clone()).unwrap_or_default(),
                None,
            ));
        }
        let view_due = last_view.is_none_or(|t| t.elapsed() >= view_every);
        if view_due {
            last_view = Some(Instant::now());
        }
        if let Some(Ok(v)) = view_due.then(|| lab.view(&observer)) {
            let on = v.locate(&server);
            if on.len() > 1 {
                return Err(LabError::BadState {
                    path: lab.state_dir().to_path_buf(),
                    reason: format!("{server} active on {on:?} at once"),
                });
            }
            if detected.is_none() && v.node(&victim).is_some_and(|n| !n.online) {
                detected = Some(at);
                moments.push(Moment {
                    at,
                    what: format!("{observer} sees {victim} offline"),
                });
            }
            if fenced.is_none() && v.fenced(&victim).len() > fenced_before {
                fenced = Some(at);
                let by = v.fenced(&victim).last().and_then(|f| f.delegate.clone());
                moments.push(Moment {
                    at,
                    what: format!(
                        "{victim} fenced over IPMI (BMC {}) by {}",
                        lab.bmc_addr(&victim),
                        by.unwrap_or_else(|| "?".into())
                    ),
                });
            }
            for id in &members {
                if started.contains(id) {
                    continue;
                }
                if let Some(r) = v.resource(id) {
                    if r.role == "Started" && r.nodes.len() == 1 && r.nodes[0] != victim {
                        started.push(id.clone());
                        moments.push(Moment {
                            at,
                            what: format!("{id} ({}) started on {}", r.agent, r.nodes[0]),
                        });
                        if *id == server {
                            running = Some(at);
                            new_node = r.nodes[0].clone();
                        }
                    }
                }
            }
        }
        if running.is_some() || lab.is_vm() {
            if let Some(g) = imap_ok(lab, &observer, ip) {
                let at = t0.elapsed();
                moments.push(Moment {
                    at,
                    what: format!("{server} answers IMAP on {ip}:{IMAP_PORT} ({g})"),
                });
                if new_node.is_empty() {
                    // Answering before the (less frequent) view saw it started: ask once more.
                    new_node = lab
                        .view(&observer)?
                        .locate(&server)
                        .into_iter()
                        .next()
                        .unwrap_or_default();
                }
                if new_node.is_empty() || new_node == victim {
                    // An answer from the victim itself (a VM lab's probe is outside): not a
                    // failover yet.
                    moments.pop();
                    new_node.clear();
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                return Ok(Failover {
                    victim,
                    new_node,
                    detected,
                    fenced,
                    running: running.unwrap_or(at),
                    answering: at,
                    moments,
                });
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A file written and fsync'd on a node before an event, to check afterwards that the data
/// survived it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its path in the guests.
    pub path: String,
    /// Its SHA-256, as `sha256sum` printed it on the writer.
    pub sha256: String,
}

/// Write `mib` MiB of random data to `path` on `node` and fsync it (`dd conv=fsync`); returns
/// its checksum.
pub fn write_checked(lab: &Lab, node: &str, path: &str, mib: u32) -> Result<Written, LabError> {
    let script = format!(
        "dd if=/dev/urandom of={path} bs=1M count={mib} conv=fsync status=none && sha256sum {path}"
    );
    let out = lab.run_ok(node, &["sh", "-c", &script], Duration::from_secs(120))?;
    let sha256 = out
        .stdout_str()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(Written {
        path: path.to_string(),
        sha256,
    })
}

/// Whether `w` reads back on `node` with the checksum it was written with.
pub fn reads_back(lab: &Lab, node: &str, w: &Written) -> Result<bool, LabError> {
    let out = lab.run(node, &["sha256sum", &w.path], Duration::from_secs(120))?;
    Ok(out.status.success()
        && out.stdout_str().split_whitespace().next() == Some(w.sha256.as_str()))
}

/// A power loss of the two-node VM lab's Primary, with the data check.
#[derive(Debug, Clone, PartialEq)]
pub struct VmFailover {
    /// The failover itself.
    pub failover: Failover,
    /// corosync's floor for noticing the loss, as it runs in the guests (token + consensus).
    pub detection_floor: Duration,
    /// The file written and fsync'd on the Primary before the loss reads back with the same
    /// checksum on the new Primary.
    pub data_intact: bool,
}

impl VmFailover {
    /// One JSON object: failover_s, detection_floor_s, new_primary, data_intact, victim,
    /// detected_s, fenced_s, running_s and the timeline.
    pub fn to_json(&self) -> String {
        let f = &self.failover;
        let opt = |d: Option<Duration>| {
            d.map(|d| format!("{:.2}", d.as_secs_f64()))
                .unwrap_or_else(|| "null".into())
        };
        let q = |s: &str| {
            format!(
                "\"{}\"",
                axha_exec::escape_controls(s)
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
            )
        };
        let timeline: Vec<String> = f
            .moments
            .iter()
            .map(|m| {
                format!(
                    "{{\"at_s\":{:.2},\"what\":{}}}",
                    m.at.as_secs_f64(),
                    q(&m.what)
                )
            })
            .collect();
        format!(
            "{{\"failover_s\":{:.2},\"detection_floor_s\":{:.2},\"new_primary\":{},\"data_intact\":{},\"victim\":{},\"detected_s\":{},\"fenced_s\":{},\"running_s\":{:.2},\"timeline\":[{}]}}",
            f.answering.as_secs_f64(),
            self.detection_floor.as_secs_f64(),
            q(&f.new_node),
            self.data_intact,
            q(&f.victim),
            opt(f.detected),
            opt(f.fenced),
            f.running.as_secs_f64(),
            timeline.join(",")
        )
    }
}

/// Power loss of the Primary of the two-node VM lab: a file is written and fsync'd on the
/// Primary's file system, the Primary's QEMU ends at once, the survivor fences it through its
/// BMC, is promoted and serves the instance; the file must read back the same there.
pub fn vm_power_loss(lab: &Lab, timeout: Duration) -> Result<VmFailover, LabError> {
    let server = crate::VM_INSTANCE;
    let before = lab.view_any()?;
    let primary = before
        .locate(server)
        .into_iter()
        .next()
        .ok_or_else(|| LabError::Timeout {
            what: format!("{server} to run somewhere before the power loss"),
            last: String::new(),
        })?;
    let path = format!("{}/axha-power-loss.bin", crate::VM_MOUNTPOINT);
    let w = write_checked(lab, &primary, &path, 8)?;
    let failover = power_loss_of(lab, server, crate::VM_SERVICE_IP, timeout)?;
    let (t, c) = corosync_runtime(lab, &failover.new_node)?;
    let data_intact = reads_back(lab, &failover.new_node, &w)?;
    Ok(VmFailover {
        failover,
        detection_floor: Duration::from_millis(u64::from(t) + u64::from(c)),
        data_intact,
    })
}

/// corosync's effective timings in ms, read from a node's runtime configuration
/// (`runtime.config.totem.token` includes `token_coefficient` per node beyond two;
/// consensus defaults to 1.2 x that token): (token, consensus).
pub fn corosync_runtime(lab: &Lab, node: &str) -> Result<(u32, u32), LabError> {
    let out = lab.run_ok(node, &["corosync-cmapctl"], Duration::from_secs(10))?;
    let text = out.stdout_str();
    let get = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(" = ")?;
            (k.split_whitespace().next()? == key)
                .then(|| v.trim().parse::<u32>().ok())
                .flatten()
        })
    };
    match (
        get("runtime.config.totem.token"),
        get("runtime.config.totem.consensus"),
    ) {
        (Some(t), Some(c)) => Ok((t, c)),
        _ => Err(LabError::BadState {
            path: "corosync-cmapctl".into(),
            reason: "no runtime.config.totem.token/consensus".into(),
        }),
    }
}

/// Median of a non-empty list of durations.
pub fn median(v: &[Duration]) -> Option<Duration> {
    let mut v = v.to_vec();
    v.sort();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// corosync's floor for noticing a lost node: token + consensus (consensus defaults to
/// 1.2 x token, corosync.conf(5)); `None` token = corosync's default of 3000 ms.
pub fn detection_floor(token_ms: Option<u32>) -> Duration {
    let t = u64::from(token_ms.unwrap_or(3000));
    Duration::from_millis(t + t * 12 / 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let s = |v: &[u64]| {
            v.iter()
                .map(|x| Duration::from_millis(*x))
                .collect::<Vec<_>>()
        };
        assert_eq!(median(&s(&[3, 1, 2])), Some(Duration::from_millis(2)));
        assert_eq!(median(&s(&[4, 1, 2, 3])), Some(Duration::from_micros(2500)));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn floors() {
        assert_eq!(detection_floor(Some(1000)), Duration::from_millis(2200));
        assert_eq!(detection_floor(None), Duration::from_millis(6600));
    }

    #[test]
    fn group_meta_and_utilization() {
        let i = Instance {
            id: "inst1".into(),
            ip: crate::service::service_ip(1),
            device: "/dev/loop1".into(),
            workdir: "/w".into(),
            password_file: "/p".into(),
            binary: "/b".into(),
            home: Some("n1".into()),
        };
        let x = group_with_meta(&i);
        let doc = roxmltree::Document::parse(&x).expect("well-formed");
        let first = doc
            .descendants()
            .find(|n| n.has_tag_name("primitive"))
            .unwrap();
        assert_eq!(first.attribute("id"), Some("inst1-fs"));
        assert!(first.children().any(|c| c.has_tag_name("utilization")));
        let with_utilization = doc
            .descendants()
            .filter(|n| n.has_tag_name("utilization"))
            .count();
        assert_eq!(with_utilization, 1, "{x}");
        assert!(x.contains(r#"name="resource-stickiness" value="200""#));
        assert!(x.contains(r#"name="migration-threshold" value="2""#));
    }
}
