//! Power and BMCs: one ipmi_sim per node on the management network (in the hub namespace,
//! so a node's power loss never takes its BMC), whose chassis power is the node's power
//! (off ends it, on boots it), and the Pacemaker fence devices that use them. A new node
//! kind that can be fenced gets a BMC here with its own index.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use axha_bmc::{Bmc, BmcSpec, BmcUser, Privilege};
use axha_exec::Cmd;

use super::network::{ip, MGMT_BRIDGE};
use super::{mkdir_mode, ONLINE_TIMEOUT};
use crate::fencing::{
    bmc_addr, bmc_ip, fence_devices_xml, random_password, PowerAction, Secret, BMC_PORT, BMC_USER,
};
use crate::spec::{node_index, Fencing, LAB_PREFIX};
use crate::{Lab, LabError};

/// How long a node's firmware takes between power-on and the start of its operating system
/// (a real server's POST takes a minute or more; this is shortened). Without it a fenced node
/// rebooted in about two seconds and could rejoin before the cluster had placed its resources
/// elsewhere, so they went back home and a failover never showed.
pub const FIRMWARE_DELAY: Duration = Duration::from_secs(3);

/// The same for a VM node, closer to a real server's POST: a guest boots in about 15 s under
/// TCG, and a fenced node that rejoined while the survivor was still starting the instance
/// made every start wait for the rejoined node's probes (a 2-minute failover instead of a
/// fraction of it). A real server rejoins after the failover, and so does a VM node.
pub const VM_FIRMWARE_DELAY: Duration = Duration::from_secs(40);

impl Lab {
    /// Where node's BMC answers IPMI over LAN (RMCP+, cipher suite 3).
    pub fn bmc_addr(&self, node: &str) -> SocketAddr {
        bmc_addr(node_index(node, self.conf.nodes).expect("bmc_addr: not a node of this lab"))
    }

    /// The BMC administrator's password (the user is [`crate::fencing::BMC_USER`]).
    pub fn bmc_password(&self) -> Result<String, LabError> {
        let p = self.state_dir.join("bmc").join("password");
        std::fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| LabError::io(p, e))
    }

    /// The node's BMC directory (power state, chassis log, ipmi_sim log).
    pub fn bmc_dir(&self, node: &str) -> PathBuf {
        self.state_dir.join("bmc").join(node)
    }

    /// Chassis power as the node's BMC reports it.
    pub fn bmc_power(&self, node: &str) -> Result<bool, LabError> {
        self.check_node(node)?;
        let dir = self.bmc_dir(node);
        axha_bmc::read_power_file(&dir).map_err(|e| LabError::BadState {
            path: dir.join(axha_bmc::POWER_FILE),
            reason: format!("{e:?}"),
        })
    }

    /// Every chassis command the node's BMC executed (`<unix time> <args>` lines).
    pub fn bmc_chassis_log(&self, node: &str) -> String {
        std::fs::read_to_string(self.bmc_dir(node).join(axha_bmc::CHASSIS_LOG)).unwrap_or_default()
    }

    /// The stonith agent of the lab's fence devices (empty without fencing).
    pub fn fence_agent(&self) -> &str {
        &self.conf.fence_agent
    }

    /// What a BMC power change does to its node: off = power cut; on = boot, in the
    /// background (a real BMC acknowledges power-on at once; the node boots afterwards);
    /// reset = power cut, then boot in the background; boot = the boot itself after
    /// [`FIRMWARE_DELAY`], unless the BMC has been switched off again meanwhile.
    pub fn apply_power(&self, node: &str, action: PowerAction) -> Result<(), LabError> {
        self.check_node(node)?;
        match action {
            PowerAction::Off => self.kill(node),
            PowerAction::On if self.is_alive(node) => Ok(()),
            PowerAction::On => self.boot_in_background(node),
            PowerAction::Reset => {
                self.kill(node)?;
                self.boot_in_background(node)
            }
            PowerAction::Boot => {
                std::thread::sleep(if self.is_vm() {
                    VM_FIRMWARE_DELAY
                } else {
                    FIRMWARE_DELAY
                });
                let off = (self.conf.fencing == Fencing::Ipmi && !self.bmc_power(node)?)
                    || (self.conf.pdu && !self.outlet_on(node)?);
                if off || self.is_alive(node) {
                    return Ok(());
                }
                self.start(node)
            }
        }
    }

    pub(super) fn boot_in_background(&self, node: &str) -> Result<(), LabError> {
        let log = self.node_dir(node).join("boot.log");
        Cmd::new(&self.conf.helper)
            .arg("power")
            .arg(&self.state_dir)
            .args([node, "boot"])
            .spawn_detached(Some(&log))
            .map(|_| ())
            .map_err(|e| LabError::exec(format!("booting {node}"), e))
    }

    pub(super) fn start_bmcs(&self) -> Result<(), LabError> {
        let hub = self.hub_netns();
        let bmc_root = self.state_dir.join("bmc");
        mkdir_mode(&bmc_root, 0o700, None)?;
        let password = random_password().map_err(|e| LabError::io("/dev/urandom", e))?;
        let pw_file = bmc_root.join("password");
        std::fs::write(&pw_file, format!("{password}\n")).map_err(|e| LabError::io(&pw_file, e))?;
        std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(&pw_file, e))?;
        let chassis = self
            .conf
            .helper
            .parent()
            .map(|d| d.join(axha_bmc::CHASSIS_BIN))
            .filter(|p| p.is_file())
            .ok_or_else(|| LabError::HelperMissing {
                tried: vec![self.conf.helper.with_file_name(axha_bmc::CHASSIS_BIN)],
            })?;
        for (i, n) in self.nodes().iter().enumerate() {
            let ip_cidr = format!("{}/{LAB_PREFIX}", bmc_ip(i + 1));
            ip(&["-n", &hub, "addr", "add", &ip_cidr, "dev", MGMT_BRIDGE])?;
            let spec = BmcSpec::new(self.bmc_dir(n), IpAddr::V4(bmc_ip(i + 1)), BMC_PORT)
                .user(BmcUser::new(BMC_USER, password.clone(), Privilege::Admin))
                .netns(hub.clone())
                .chassis_bin(chassis.clone())
                .power_hook(vec![
                    self.conf.helper.display().to_string(),
                    "power".into(),
                    self.state_dir.display().to_string(),
                    n.clone(),
                ]);
            let bmc = Bmc::start(spec).map_err(|e| LabError::Bmc {
                node: n.clone(),
                reason: e.to_string(),
            })?;
            // The BMC lives in the hub namespace and ends with it (teardown kills every
            // process there by namespace membership); it must outlive this value, e.g. when
            // `axigen-ha lab up` returns and leaves the lab running.
            std::mem::forget(bmc);
        }
        Ok(())
    }

    pub(super) fn create_fence_devices(&self, delay: Option<(&str, u32)>) -> Result<(), LabError> {
        let secret = if self.fence_agent() == "fence_axigen_ipmi" {
            let f = self.state_dir.join("bmc").join("password");
            Secret::File(f.display().to_string())
        } else {
            Secret::Inline(self.bmc_password()?)
        };
        let nodes = self.nodes();
        let extra = if self.conf.pdu {
            crate::fencing::LEVEL1_RETRIES
        } else {
            &[]
        };
        let (res, cons) = fence_devices_xml(self.fence_agent(), &nodes, &secret, delay, extra);
        self.cib_create_as("resources", &res, "creating the fence devices")?;
        if nodes.len() > 1 {
            self.cib_create_as(
                "constraints",
                &cons,
                "creating the fence device constraints",
            )?;
        }
        let devices: Vec<String> = nodes.iter().map(|n| format!("fence-{n}")).collect();
        self.wait_view_of(
            "every fence device started",
            &devices,
            ONLINE_TIMEOUT,
            |v| {
                nodes.iter().all(|n| {
                    v.resource(&format!("fence-{n}"))
                        .is_some_and(|r| r.is_started())
                })
            },
        )
        .map(|_| ())
    }
}
