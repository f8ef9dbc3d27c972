//! IPMI fencing in the lab: one simulated BMC (`ipmi_sim`, crate `axha-bmc`) per node on a
//! management address in the lab's hub namespace, whose chassis power is the node's power:
//! off ends every process of the node, on boots it again (`axha-lab-node power`). Pacemaker
//! fences through one stonith device per node that talks IPMI to that BMC.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use axha_exec::{escape_xml, Cmd, Deadline};

use crate::spec::LAB_MGMT_NET;

/// The BMC account the lab creates (administrator: chassis control needs operator or more).
pub const BMC_USER: &str = "admin";
/// RMCP+ port of every BMC (each BMC has its own address).
pub const BMC_PORT: u16 = 623;
/// Cipher suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128): ipmi_sim drops the
/// pre-session cipher-suite query, so clients must be told (LAB-RECIPES §3).
pub const BMC_CIPHER: &str = "3";

/// Management address of node i's BMC: 10.231.1.(200+i), on the management network.
pub fn bmc_ip(i: usize) -> Ipv4Addr {
    let i = u8::try_from(i).expect("node index is at most MAX_NODES");
    Ipv4Addr::new(LAB_MGMT_NET[0], LAB_MGMT_NET[1], LAB_MGMT_NET[2], 200 + i)
}

/// Where node i's BMC answers.
pub fn bmc_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(bmc_ip(i)), BMC_PORT)
}

/// A random BMC password (hex of 8 bytes from the kernel's CSPRNG): a lab never shares a
/// password with another lab or with a test that checks authentication.
pub fn random_password() -> std::io::Result<String> {
    Ok(random_bytes(8)?.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    }))
}

/// `n` bytes from the kernel's CSPRNG (passwords, corosync's authkey).
pub fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b)
}

/// How a fence device gets the BMC password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// A file only root reads (fence_axigen_ipmi's `password_file`): the password stays out
    /// of the CIB.
    File(String),
    /// In the CIB (`password`), for agents without a password file (fence_ipmilan).
    Inline(String),
}

/// One stonith device per node, as a `<resources>` fragment for `cibadmin --create
/// -o resources --xml-pipe` (stdin: the password never appears on a command line), and the
/// constraints that keep each device off the node it fences (a node does not fence itself).
///
/// Parameters are fence_ipmilan's names, which fence_axigen_ipmi shares; `extra` are added
/// to every device (e.g. [`LEVEL1_RETRIES`] when a second fencing level follows).
pub fn fence_devices_xml(
    agent: &str,
    nodes: &[String],
    password: &Secret,
    delay: Option<(&str, u32)>,
    extra: &[(&str, &str)],
) -> (String, String) {
    let mut res = String::from("<resources>");
    let mut cons = String::from("<constraints>");
    for (i, n) in nodes.iter().enumerate() {
        let id = format!("fence-{n}");
        let ip = bmc_ip(i + 1).to_string();
        let port = BMC_PORT.to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("ip", &ip),
            ("ipport", &port),
            ("username", BMC_USER),
            match password {
                Secret::File(f) => ("password_file", f.as_str()),
                Secret::Inline(p) => ("password", p.as_str()),
            },
            ("lanplus", "1"),
            ("cipher", BMC_CIPHER),
            ("pcmk_host_list", n),
            ("pcmk_host_check", "static-list"),
        ];
        if agent == "fence_axigen_ipmi" {
            // the device refuses any request naming another node than its own
            params.push(("bound_node", n));
        }
        params.extend_from_slice(extra);
        let delay_s;
        if let Some((target, secs)) = delay {
            if target == n {
                delay_s = format!("{secs}s");
                params.push(("pcmk_delay_base", &delay_s));
            }
        }
        res.push_str(&stonith_primitive_xml(&id, agent, &params));
        if nodes.len() > 1 {
            cons.push_str(&avoids_own_node_xml(&id, n));
        }
    }
    res.push_str("</resources>");
    cons.push_str("</constraints>");
    (res, cons)
}

/// One stonith `<primitive>` with its parameters (escaped) and a 60 s monitor.
fn stonith_primitive_xml(id: &str, agent: &str, params: &[(&str, &str)]) -> String {
    let mut s = format!(
        r#"<primitive id="{id}" class="stonith" type="{}"><instance_attributes id="{id}-ia">"#,
        escape_xml(agent)
    );
    for (k, v) in params {
        let _ = write!(
            s,
            r#"<nvpair id="{id}-{k}" name="{k}" value="{}"/>"#,
            escape_xml(v)
        );
    }
    let _ = write!(
        s,
        r#"</instance_attributes><operations><op id="{id}-monitor" name="monitor" interval="60s"/></operations></primitive>"#
    );
    s
}

/// The constraint that keeps device `id` off `node`, the node it fences (a node does not
/// fence itself).
fn avoids_own_node_xml(id: &str, node: &str) -> String {
    format!(r#"<rsc_location id="{id}-avoids-{node}" rsc="{id}" node="{node}" score="-INFINITY"/>"#)
}

/// A first fencing level followed by another: one attempt per action instead of Pacemaker's
/// default two (`pcmk_*_retries`). A BMC that does not answer within the agent's own
/// login timeout (which already retransmits) will not answer a second time either, and
/// every retry delays the next level by that timeout.
pub const LEVEL1_RETRIES: &[(&str, &str)] =
    &[("pcmk_off_retries", "1"), ("pcmk_reboot_retries", "1")];

/// The stock agent of the lab's PDU devices (fence-agents).
pub const PDU_AGENT: &str = "fence_apc_snmp";

/// With a PDU: one `fence_apc_snmp` device per node (`fence-pdu-<node>`, the node's outlet),
/// the constraints that keep each off its own node, and the `<fencing-topology>`: level 1
/// the node's BMC device (`fence-<node>`), level 2 its outlet. Returns (resources,
/// constraints, topology) fragments for `cibadmin --create`.
///
/// The community goes into the CIB (`community`): fence_apc_snmp has no file form for it.
pub fn pdu_devices_xml(nodes: &[String], community: &str) -> (String, String, String) {
    let mut res = String::from("<resources>");
    let mut cons = String::from("<constraints>");
    let mut topo = String::from("<fencing-topology>");
    let pdu_ip = crate::pdu::PDU_IP.to_string();
    for (i, n) in nodes.iter().enumerate() {
        let id = format!("fence-pdu-{n}");
        let plug = (i + 1).to_string();
        let params: [(&str, &str); 6] = [
            ("ip", &pdu_ip),
            ("community", community),
            ("snmp_version", "2c"),
            ("plug", &plug),
            ("pcmk_host_list", n),
            ("pcmk_host_check", "static-list"),
        ];
        res.push_str(&stonith_primitive_xml(&id, PDU_AGENT, &params));
        if nodes.len() > 1 {
            cons.push_str(&avoids_own_node_xml(&id, n));
        }
        for (level, device) in [(1, format!("fence-{n}")), (2, id.clone())] {
            let _ = write!(
                topo,
                r#"<fencing-level id="fl-{n}-{level}" target="{n}" index="{level}" devices="{device}"/>"#
            );
        }
    }
    res.push_str("</resources>");
    cons.push_str("</constraints>");
    topo.push_str("</fencing-topology>");
    (res, cons, topo)
}

/// Which stonith agent the lab's devices use: our own when it is installed in the lab's
/// nodes and answers `metadata` like a fence agent, else the stock `fence_ipmilan`
/// (fence-agents), which speaks to the same BMCs. An agent that cannot describe itself is
/// never trusted with fencing: a no-op that exits 0 would report nodes fenced that are not.
pub fn choose_fence_agent(lab_sbin: Option<&Path>) -> &'static str {
    let Some(agent) = lab_sbin.map(|d| d.join("fence_axigen_ipmi")) else {
        return "fence_ipmilan";
    };
    let ok = agent.is_file()
        && Cmd::new(&agent)
            .args(["-o", "metadata"])
            .run_ok(&Deadline::after(Duration::from_secs(10)))
            .is_ok_and(|o| o.stdout_str().contains("<resource-agent"));
    if ok {
        "fence_axigen_ipmi"
    } else {
        "fence_ipmilan"
    }
}

/// What a BMC's power change does to a node (the `power` subcommand of `axha-lab-node`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    /// Power cut: the node ends at once.
    Off,
    /// Power on: the node boots in the background.
    On,
    /// Power cut, then boot in the background.
    Reset,
    /// The boot a power-on starts in the background.
    Boot,
}

impl PowerAction {
    /// `off`, `on`, `reset` or `boot`, as the BMC's power hook passes it.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(PowerAction::Off),
            "on" => Some(PowerAction::On),
            "reset" => Some(PowerAction::Reset),
            "boot" => Some(PowerAction::Boot),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(bmc_ip(1).to_string(), "10.231.1.201");
        assert_eq!(bmc_addr(3).to_string(), "10.231.1.203:623");
    }

    #[test]
    fn password_is_random_hex() {
        let a = random_password().unwrap();
        let b = random_password().unwrap();
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn devices_per_node_with_delay_and_constraints() {
        let nodes = vec!["n1".to_string(), "n2".to_string()];
        let pw = Secret::Inline("p<&>\"".into());
        let (r, c) = fence_devices_xml("fence_ipmilan", &nodes, &pw, Some(("n1", 5)), &[]);
        let doc = roxmltree::Document::parse(&r).expect("well-formed");
        let prims: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("primitive"))
            .collect();
        assert_eq!(prims.len(), 2);
        assert_eq!(prims[0].attribute("type"), Some("fence_ipmilan"));
        let nv = |p: &roxmltree::Node, k: &str| {
            p.descendants()
                .find(|n| n.attribute("name") == Some(k))
                .and_then(|n| n.attribute("value"))
                .map(str::to_string)
        };
        assert_eq!(nv(&prims[0], "password").as_deref(), Some("p<&>\""));
        assert_eq!(nv(&prims[1], "ip").as_deref(), Some("10.231.1.202"));
        assert_eq!(nv(&prims[1], "pcmk_host_list").as_deref(), Some("n2"));
        assert_eq!(nv(&prims[0], "pcmk_delay_base").as_deref(), Some("5s"));
        assert_eq!(nv(&prims[1], "pcmk_delay_base"), None);
        let cdoc = roxmltree::Document::parse(&c).unwrap();
        let locs: Vec<_> = cdoc
            .descendants()
            .filter(|n| n.has_tag_name("rsc_location"))
            .collect();
        assert_eq!(locs.len(), 2);
        assert_eq!(locs[1].attribute("rsc"), Some("fence-n2"));
        assert_eq!(locs[1].attribute("node"), Some("n2"));
        let (r1, c1) = fence_devices_xml(
            "x",
            &nodes[..1],
            &Secret::File("/s/pw".into()),
            None,
            LEVEL1_RETRIES,
        );
        assert!(
            r1.contains(r#"name="pcmk_reboot_retries" value="1""#),
            "{r1}"
        );
        assert_eq!(c1, "<constraints></constraints>");
        assert!(r1.contains(r#"name="password_file" value="/s/pw""#), "{r1}");
        assert!(!r1.contains(r#"name="password""#), "{r1}");
    }

    #[test]
    fn pdu_devices_and_topology() {
        let nodes = vec!["n1".to_string(), "n2".to_string()];
        let (r, c, t) = pdu_devices_xml(&nodes, "c&x");
        let doc = roxmltree::Document::parse(&r).expect("well-formed");
        let p2 = doc
            .descendants()
            .find(|n| n.attribute("id") == Some("fence-pdu-n2"))
            .unwrap();
        assert_eq!(p2.attribute("type"), Some("fence_apc_snmp"));
        let nv = |k: &str| {
            p2.descendants()
                .find(|n| n.attribute("name") == Some(k))
                .and_then(|n| n.attribute("value"))
        };
        assert_eq!(nv("plug"), Some("2"));
        assert_eq!(nv("community"), Some("c&x"));
        assert_eq!(nv("ip"), Some("10.231.1.250"));
        assert_eq!(nv("pcmk_host_list"), Some("n2"));
        assert!(
            c.contains(r#"rsc="fence-pdu-n1" node="n1" score="-INFINITY""#),
            "{c}"
        );
        let tdoc = roxmltree::Document::parse(&t).expect("well-formed");
        let levels: Vec<_> = tdoc
            .descendants()
            .filter(|n| n.has_tag_name("fencing-level"))
            .map(|n| {
                (
                    n.attribute("target").unwrap(),
                    n.attribute("index").unwrap(),
                    n.attribute("devices").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            levels,
            vec![
                ("n1", "1", "fence-n1"),
                ("n1", "2", "fence-pdu-n1"),
                ("n2", "1", "fence-n2"),
                ("n2", "2", "fence-pdu-n2")
            ]
        );
    }

    #[test]
    fn power_actions() {
        assert_eq!(PowerAction::parse("off"), Some(PowerAction::Off));
        assert_eq!(PowerAction::parse("reset"), Some(PowerAction::Reset));
        assert_eq!(PowerAction::parse("cycle"), None);
    }
}
