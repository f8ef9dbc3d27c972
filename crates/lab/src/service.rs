//! Service instances in the lab: each Axigen instance (the `axigen-sim` stand-in here) has
//! its own storage (a loop-device ext4 filesystem standing in for a SAN LUN, mounted by
//! `ocf:heartbeat:Filesystem` on the active node only: node mount namespaces are private) and
//! its own service IP (`ocf:heartbeat:IPaddr2` on the lab network), grouped with the
//! `ocf:axigen:instance` resource in that order.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use axha_exec::escape_xml;

use crate::spec::{LAB_NET, LAB_PREFIX};

/// Service IP of instance k (1-based): 10.231.0.(100+k).
pub fn service_ip(k: usize) -> Ipv4Addr {
    let k = u8::try_from(k)
        .ok()
        .filter(|k| *k <= 99)
        .expect("at most 99 instances");
    Ipv4Addr::new(LAB_NET[0], LAB_NET[1], LAB_NET[2], 100 + k)
}

/// Axigen's IMAP port: instances listen on their own service IP, so every instance can use
/// Axigen's default ports (SMTP 25, POP3 110, IMAP 143, CLI 7000).
pub const IMAP_PORT: u16 = 143;
/// Axigen's CLI port (the agent's checks talk to it).
pub const CLI_PORT: u16 = 7000;

/// A service instance made by [`crate::Lab::add_instance`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Group id in the CIB; its members are `<id>-fs`, `<id>-ip`, `<id>-server`.
    pub id: String,
    /// Its service IP on the cluster network (IPaddr2 adds it where the instance runs).
    pub ip: Ipv4Addr,
    /// The loop device holding the instance's filesystem.
    pub device: PathBuf,
    /// Where the filesystem is mounted on the active node (= the Axigen workdir).
    pub workdir: PathBuf,
    /// The CLI admin password file (mode 600, outside the instance's filesystem).
    pub password_file: PathBuf,
    /// The server binary the agent starts.
    pub binary: PathBuf,
    /// Preferred node, if any.
    pub home: Option<String>,
}

impl Instance {
    /// The id of its `ocf:axigen:instance` primitive (`<id>-server`).
    pub fn server_id(&self) -> String {
        format!("{}-server", self.id)
    }

    /// The group: Filesystem, then IPaddr2, then the instance (a group starts its members
    /// in order and stops them in reverse: the IP is up before Axigen binds it, and the
    /// filesystem is unmounted only after Axigen has stopped).
    pub fn group_xml(&self) -> String {
        let id = &self.id;
        let mut s = String::new();
        let _ = write!(s, r#"<group id="{id}">"#);
        let _ = write!(
            s,
            r#"<primitive id="{id}-fs" class="ocf" provider="heartbeat" type="Filesystem"><instance_attributes id="{id}-fs-ia"><nvpair id="{id}-fs-device" name="device" value="{}"/><nvpair id="{id}-fs-directory" name="directory" value="{}"/><nvpair id="{id}-fs-fstype" name="fstype" value="ext4"/></instance_attributes><operations><op id="{id}-fs-start" name="start" interval="0" timeout="60s"/><op id="{id}-fs-stop" name="stop" interval="0" timeout="60s"/><op id="{id}-fs-monitor" name="monitor" interval="20s" timeout="40s"/></operations></primitive>"#,
            escape_xml(&self.device.display().to_string()),
            escape_xml(&self.workdir.display().to_string())
        );
        let _ = write!(
            s,
            r#"<primitive id="{id}-ip" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="{id}-ip-ia"><nvpair id="{id}-ip-ip" name="ip" value="{}"/><nvpair id="{id}-ip-cidr" name="cidr_netmask" value="{LAB_PREFIX}"/><nvpair id="{id}-ip-nic" name="nic" value="eth0"/></instance_attributes><operations><op id="{id}-ip-monitor" name="monitor" interval="10s" timeout="20s"/></operations></primitive>"#,
            self.ip
        );
        let _ = write!(
            s,
            r#"<primitive id="{id}-server" class="ocf" provider="axigen" type="instance"><instance_attributes id="{id}-server-ia"><nvpair id="{id}-server-workdir" name="workdir" value="{}"/><nvpair id="{id}-server-binary" name="binary" value="{}"/><nvpair id="{id}-server-address" name="address" value="{}"/><nvpair id="{id}-server-pw" name="cli_password_file" value="{}"/></instance_attributes><operations><op id="{id}-server-start" name="start" interval="0" timeout="60s"/><op id="{id}-server-stop" name="stop" interval="0" timeout="60s"/><op id="{id}-server-monitor" name="monitor" interval="5s" timeout="20s"/></operations></primitive>"#,
            escape_xml(&self.workdir.display().to_string()),
            escape_xml(&self.binary.display().to_string()),
            self.ip,
            escape_xml(&self.password_file.display().to_string())
        );
        s.push_str("</group>");
        s
    }

    /// A location preference for the home node (score 100). With the lab's default
    /// stickiness of 1 an instance moves back when its home node returns; a CIB that must not
    /// move it back sets a stickiness above 100.
    pub fn location_xml(&self) -> Option<String> {
        self.home.as_ref().map(|n| {
            format!(
                r#"<rsc_location id="{}-prefers-{n}" rsc="{}" node="{n}" score="100"/>"#,
                self.id, self.id
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst() -> Instance {
        Instance {
            id: "inst1".into(),
            ip: service_ip(1),
            device: "/dev/loop7".into(),
            workdir: "/var/tmp/l/mnt/inst1".into(),
            password_file: "/var/tmp/l/inst1.pw".into(),
            binary: "/x/axigen-sim".into(),
            home: Some("n1".into()),
        }
    }

    #[test]
    fn group_in_order_with_parameters() {
        let x = inst().group_xml();
        let doc = roxmltree::Document::parse(&x).expect("well-formed");
        let ids: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("primitive"))
            .map(|n| (n.attribute("id").unwrap(), n.attribute("type").unwrap()))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("inst1-fs", "Filesystem"),
                ("inst1-ip", "IPaddr2"),
                ("inst1-server", "instance")
            ]
        );
        let val = |name: &str| {
            doc.descendants()
                .find(|n| n.attribute("id") == Some(name))
                .and_then(|n| n.attribute("value"))
        };
        assert_eq!(val("inst1-ip-ip"), Some("10.231.0.101"));
        assert_eq!(val("inst1-fs-device"), Some("/dev/loop7"));
        assert_eq!(val("inst1-server-workdir"), Some("/var/tmp/l/mnt/inst1"));
        assert_eq!(val("inst1-server-address"), Some("10.231.0.101"));
        let ids: std::collections::HashSet<_> = doc
            .descendants()
            .filter_map(|n| n.attribute("id"))
            .collect();
        let all = doc
            .descendants()
            .filter(|n| n.attribute("id").is_some())
            .count();
        assert_eq!(ids.len(), all, "ids are unique");
    }

    #[test]
    fn home_preference() {
        let l = inst().location_xml().unwrap();
        assert!(l.contains(r#"rsc="inst1" node="n1" score="100""#), "{l}");
        let mut i = inst();
        i.home = None;
        assert!(i.location_xml().is_none());
    }
}
