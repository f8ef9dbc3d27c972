//! The switched PDU (`lab up --pdu`): snmpd in the hub namespace on the management network,
//! its outlet table served by `axha-lab-node pdu-handler` (see [`crate::pdu`]), one outlet
//! per node feeding the node and its BMC; the `fence_apc_snmp` devices and the fencing
//! topology (level 1 the node's BMC, level 2 its outlet). Also the total power loss of a
//! node (node and BMC dead together, the outlet still on), which only level 2 can confirm.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use axha_exec::{Cmd, Deadline};

use super::network::{ip, MGMT_BRIDGE};
use super::{mkdir_mode, tail_of, ONLINE_TIMEOUT};
use crate::fencing::{bmc_ip, pdu_devices_xml, random_password};
use crate::pdu::{
    events_file, pdu_dir, read_outlet, snmpd_conf, write_outlet, PDU_IP, PDU_PORT,
    PDU_RO_COMMUNITY, RPDU_SYS_OBJECT_ID,
};
use crate::spec::{node_index, LAB_PREFIX};
use crate::{Lab, LabError};

/// How long snmpd may take to answer after it is started.
const SNMPD_TIMEOUT: Duration = Duration::from_secs(20);

/// The subcommand of `axha-lab-node` that serves the outlet table.
pub const PDU_HANDLER: &str = "pdu-handler";

impl Lab {
    /// True when the lab's second fencing level is a switched PDU.
    pub fn has_pdu(&self) -> bool {
        self.conf.pdu
    }

    /// Where the PDU answers SNMP (v1/v2c).
    pub fn pdu_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(std::net::IpAddr::V4(PDU_IP), PDU_PORT)
    }

    /// The PDU's read-write community (what switches outlets).
    pub fn pdu_community(&self) -> Result<String, LabError> {
        let p = pdu_dir(&self.state_dir).join("community");
        std::fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| LabError::io(p, e))
    }

    /// The outlet feeding `node` is on.
    pub fn outlet_on(&self, node: &str) -> Result<bool, LabError> {
        let i = self.check_node(node)?;
        Ok(read_outlet(&self.state_dir, i))
    }

    /// Every outlet change the PDU made (`<unix time> <outlet> on|off` lines).
    pub fn pdu_events(&self) -> String {
        std::fs::read_to_string(events_file(&self.state_dir)).unwrap_or_default()
    }

    /// Switch the outlet feeding `node` (what the PDU does on an SNMP set): off cuts the
    /// node's power and its BMC's (it stops answering); on gives the BMC its power back
    /// and boots the node in the background, as a server set to restore power does.
    pub fn switch_outlet(&self, node: &str, on: bool) -> Result<(), LabError> {
        let i = self.check_node(node)?;
        write_outlet(&self.state_dir, i, on)
            .map_err(|e| LabError::io(pdu_dir(&self.state_dir), e))?;
        if on {
            self.set_bmc_powered(node, true)?;
            if !self.is_alive(node) {
                self.boot_in_background(node)?;
            }
            Ok(())
        } else {
            self.set_bmc_powered(node, false)?;
            self.kill(node)
        }
    }

    /// Total power loss of a node: the node and its BMC die together (a failed power feed
    /// behind the outlet); the outlet still reads on. Only the PDU level can fence it: its
    /// off, then on, gives power back.
    pub fn lose_power(&self, node: &str) -> Result<(), LabError> {
        self.set_bmc_powered(node, false)?;
        self.kill(node)
    }

    /// A BMC without power does not answer: its address leaves the management network
    /// (ipmi_sim keeps its socket and answers again once the address is back).
    fn set_bmc_powered(&self, node: &str, on: bool) -> Result<(), LabError> {
        let i = self.check_node(node)?;
        let hub = self.hub_netns();
        let addr = format!("{}/{LAB_PREFIX}", bmc_ip(i));
        if on {
            ip(&["-n", &hub, "addr", "replace", &addr, "dev", MGMT_BRIDGE]).map(|_| ())
        } else {
            let have = ip(&["-n", &hub, "-o", "addr", "show", "dev", MGMT_BRIDGE])?;
            if have
                .stdout_str()
                .split_whitespace()
                .any(|w| w == addr.as_str())
            {
                ip(&["-n", &hub, "addr", "del", &addr, "dev", MGMT_BRIDGE])?;
            }
            Ok(())
        }
    }

    /// Start the PDU: every outlet on, snmpd on [`PDU_IP`] with the outlet handler.
    pub(super) fn start_pdu(&self) -> Result<(), LabError> {
        let hub = self.hub_netns();
        let dir = pdu_dir(&self.state_dir);
        mkdir_mode(&dir, 0o700, None)?;
        mkdir_mode(&dir.join("outlets"), 0o700, None)?;
        mkdir_mode(&dir.join("persist"), 0o700, None)?;
        for i in 1..=self.conf.nodes {
            write_outlet(&self.state_dir, i, true).map_err(|e| LabError::io(&dir, e))?;
        }
        let community = random_password().map_err(|e| LabError::io("/dev/urandom", e))?;
        let cf = dir.join("community");
        std::fs::write(&cf, format!("{community}\n")).map_err(|e| LabError::io(&cf, e))?;
        std::fs::set_permissions(&cf, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(&cf, e))?;
        let conf = dir.join("snmpd.conf");
        let handler = vec![
            self.conf.helper.display().to_string(),
            PDU_HANDLER.to_string(),
            self.state_dir.display().to_string(),
        ];
        std::fs::write(&conf, snmpd_conf(&community, &handler))
            .map_err(|e| LabError::io(&conf, e))?;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(&conf, e))?;
        ip(&[
            "-n",
            &hub,
            "addr",
            "add",
            &format!("{PDU_IP}/{LAB_PREFIX}"),
            "dev",
            MGMT_BRIDGE,
        ])?;
        let log = dir.join("snmpd.log");
        Cmd::new("ip")
            .args(["netns", "exec", &hub, "snmpd", "-f", "-C", "-Lf"])
            .arg(&log)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir.join("snmpd.pid"))
            .arg(format!("udp:{PDU_IP}:{PDU_PORT}"))
            // no MIB files: numeric OIDs only, no warnings about missing MIBs
            .env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
            .spawn_detached(Some(&dir.join("snmpd.stdout")))
            .map_err(|e| LabError::exec("starting the PDU (snmpd)", e))?;
        // Answering with the rPDU identity = snmpd is up with our configuration.
        let d = Deadline::after(SNMPD_TIMEOUT);
        let up = d.poll(Duration::from_millis(100), || {
            Cmd::new("ip")
                .args(["netns", "exec", &hub, "snmpget", "-On", "-v2c", "-c"])
                .arg(PDU_RO_COMMUNITY)
                .args([
                    "-t",
                    "1",
                    "-r",
                    "0",
                    &PDU_IP.to_string(),
                    ".1.3.6.1.2.1.1.2.0",
                ])
                .env("MIBS", "")
                .run_ok(&Deadline::after(Duration::from_secs(5)))
                .ok()
                .filter(|o| o.stdout_str().contains(RPDU_SYS_OBJECT_ID))
                .map(|_| ())
        });
        up.ok_or_else(|| LabError::Timeout {
            what: "the PDU's snmpd to answer".into(),
            last: tail_of(&log, 3),
        })
    }

    /// One `fence_apc_snmp` device per node (its outlet) and the fencing topology: level 1
    /// the node's BMC device, level 2 its outlet. Waits until the devices are started.
    pub(super) fn create_pdu_devices(&self) -> Result<(), LabError> {
        let nodes = self.nodes();
        let community = self.pdu_community()?;
        let (res, cons, topo) = pdu_devices_xml(&nodes, &community);
        self.cib_create_as("resources", &res, "creating the PDU fence devices")?;
        if nodes.len() > 1 {
            self.cib_create_as(
                "constraints",
                &cons,
                "creating the PDU fence device constraints",
            )?;
        }
        self.cib_create_as("configuration", &topo, "creating the fencing topology")?;
        let devices: Vec<String> = nodes.iter().map(|n| format!("fence-pdu-{n}")).collect();
        self.wait_view_of(
            "every PDU fence device started",
            &devices,
            ONLINE_TIMEOUT,
            |v| {
                devices
                    .iter()
                    .all(|d| v.resource(d).is_some_and(|r| r.is_started()))
            },
        )
        .map(|_| ())
    }

    /// The outlet of a node, by number (outlet i feeds node ni).
    pub fn outlet_of(&self, node: &str) -> Option<usize> {
        node_index(node, self.conf.nodes)
    }
}
