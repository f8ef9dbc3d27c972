#!/bin/sh
# axigen-ha template two-node-active-passive, cluster axigen: pcs commands equivalent to the rendered CIB XML.
# Offline: CIB_FILE=cib.xml sh this-script (pcs -f); otherwise on a node of the running cluster.
# --force: pcs checks agent metadata; the axigen agents may not be installed where this runs.
set -eu
pcs() { if [ -n "${CIB_FILE:-}" ]; then command pcs -f "$CIB_FILE" "$@"; else command pcs "$@"; fi; }
pcs property set stonith-enabled=true
pcs resource defaults update resource-stickiness=100 migration-threshold=3
pcs stonith create fence-n1 fence_axigen_ipmi ip=10.20.1.1 ipport=623 username=admin password_file=/etc/axigen-ha/bmc-n1.pass bound_node=n1 pcmk_host_list=n1 pcmk_host_check=static-list pcmk_delay_base=5s pcmk_off_retries=1 pcmk_reboot_retries=1 op monitor interval=60s timeout=20s --force
pcs stonith create fence-n2 fence_axigen_ipmi ip=10.20.1.2 ipport=623 username=admin password_file=/etc/axigen-ha/bmc-n2.pass bound_node=n2 pcmk_host_list=n2 pcmk_host_check=static-list pcmk_off_retries=1 pcmk_reboot_retries=1 op monitor interval=60s timeout=20s --force
pcs resource create drbd-r0 ocf:axigen:drbd drbd_resource=r0 op start interval=0s timeout=240s op stop interval=0s timeout=100s op promote interval=0s timeout=90s op demote interval=0s timeout=90s op notify interval=0s timeout=90s op monitor interval=20s timeout=20s role=Promoted op monitor interval=30s timeout=20s role=Unpromoted promotable drbd-r0-clone notify=true promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 --no-default-ops --force
pcs resource create fs-mail ocf:heartbeat:Filesystem device=/dev/drbd0 directory=/var/opt/axigen fstype=ext4 op start interval=0s timeout=60s op stop interval=0s timeout=60s op monitor interval=20s timeout=40s --group grp-mail --no-default-ops --force
pcs resource create ip-mail ocf:heartbeat:IPaddr2 ip=10.20.0.100 cidr_netmask=24 op monitor interval=10s timeout=20s --group grp-mail --no-default-ops --force
pcs resource create mail ocf:axigen:instance workdir=/var/opt/axigen binary=/opt/axigen/bin/axigen config=/var/opt/axigen/run/axigen.cfg address=10.20.0.100 cli_port=7000 cli_user=admin cli_password_file=/etc/axigen-ha/mail-cli.pass op start interval=0s timeout=120s op stop interval=0s timeout=120s op monitor interval=10s timeout=30s op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=10 --group grp-mail --no-default-ops --force
pcs stonith create fence-pdu-n1 fence_apc_snmp ip=10.20.1.50 ipport=161 community=pdu-rw snmp_version=2c plug=1 pcmk_host_list=n1 pcmk_host_check=static-list op monitor interval=60s timeout=20s --force
pcs stonith create fence-pdu-n2 fence_apc_snmp ip=10.20.1.50 ipport=161 community=pdu-rw snmp_version=2c plug=2 pcmk_host_list=n2 pcmk_host_check=static-list op monitor interval=60s timeout=20s --force
pcs constraint location add loc-fence-n1-avoids-n1 fence-n1 n1 -- -INFINITY
pcs constraint location add loc-fence-n2-avoids-n2 fence-n2 n2 -- -INFINITY
pcs constraint colocation add grp-mail with Promoted drbd-r0-clone INFINITY id=col-grp-mail-with-drbd-r0-clone
pcs constraint order promote drbd-r0-clone then start grp-mail kind=Mandatory id=ord-drbd-r0-clone-before-grp-mail
pcs constraint location add loc-grp-mail-prefers-n1 grp-mail n1 -- 100
pcs constraint location add loc-fence-pdu-n1-avoids-n1 fence-pdu-n1 n1 -- -INFINITY
pcs constraint location add loc-fence-pdu-n2-avoids-n2 fence-pdu-n2 n2 -- -INFINITY
pcs stonith level add 1 n1 fence-n1
pcs stonith level add 2 n1 fence-pdu-n1
pcs stonith level add 1 n2 fence-n2
pcs stonith level add 2 n2 fence-pdu-n2
