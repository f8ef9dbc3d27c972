//! Fencing in the failover suites. In the lab a fenced node reboots in about two seconds (a
//! real server takes minutes), often before the cluster has started its instance elsewhere;
//! the instance then legitimately goes back to its home node and the failover a suite wanted
//! to see never happens. Suites that check where an instance goes after a power loss make
//! the fence action "off" and power the node on again themselves, through its BMC, once
//! they have seen what they wanted.

use axha_lab::Lab;

/// Make the cluster's fence action "off" (asked on `node`): a fenced node stays down.
pub fn fence_action_off(lab: &Lab, node: &str) {
    lab.fence_action_off(node)
        .unwrap_or_else(|e| panic!("stonith-action=off on {node}: {e}"));
}

/// Power `node` on through its BMC (IPMI chassis power on over the management network, as an
/// operator would with ipmitool), asked from `from`, a live node. The BMC boots the node in
/// the background: wait for it with [`Lab::wait_all_online`].
pub fn power_on(lab: &Lab, from: &str, node: &str) {
    lab.bmc_chassis_power(from, node, true).unwrap_or_else(|e| {
        panic!(
            "power on {node} through its BMC {}: {e}",
            lab.bmc_addr(node)
        )
    });
}
