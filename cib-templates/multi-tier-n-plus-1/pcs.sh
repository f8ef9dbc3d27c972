#!/bin/sh
# axigen-ha template multi-tier-n-plus-1, cluster axigen: pcs commands equivalent to the rendered CIB XML.
# Offline: CIB_FILE=cib.xml sh this-script (pcs -f); otherwise on a node of the running cluster.
# --force: pcs checks agent metadata; the axigen agents may not be installed where this runs.
set -eu
pcs() { if [ -n "${CIB_FILE:-}" ]; then command pcs -f "$CIB_FILE" "$@"; else command pcs "$@"; fi; }
pcs property set stonith-enabled=true placement-strategy=balanced
pcs resource defaults update resource-stickiness=100 migration-threshold=3
pcs node utilization n1 capacity=1
pcs node utilization n2 capacity=1
pcs node utilization n3 capacity=2
pcs stonith create fence-n1 fence_axigen_ipmi ip=10.20.1.1 ipport=623 username=admin password_file=/etc/axigen-ha/bmc-n1.pass bound_node=n1 pcmk_host_list=n1 pcmk_host_check=static-list op monitor interval=60s timeout=20s --force
pcs stonith create fence-n2 fence_axigen_ipmi ip=10.20.1.2 ipport=623 username=admin password_file=/etc/axigen-ha/bmc-n2.pass bound_node=n2 pcmk_host_list=n2 pcmk_host_check=static-list op monitor interval=60s timeout=20s --force
pcs stonith create fence-n3 fence_axigen_ipmi ip=10.20.1.3 ipport=623 username=admin password_file=/etc/axigen-ha/bmc-n3.pass bound_node=n3 pcmk_host_list=n3 pcmk_host_check=static-list op monitor interval=60s timeout=20s --force
pcs resource create fs-mail1 ocf:heartbeat:Filesystem device=/dev/disk/by-id/wwn-0x6001405a1b2c3d01 directory=/var/opt/axigen-mail1 fstype=ext4 op start interval=0s timeout=60s op stop interval=0s timeout=60s op monitor interval=20s timeout=40s --group grp-mail1 --no-default-ops --force
pcs resource utilization fs-mail1 capacity=1
pcs resource create ip-mail1 ocf:heartbeat:IPaddr2 ip=10.20.0.101 cidr_netmask=24 op monitor interval=10s timeout=20s --group grp-mail1 --no-default-ops --force
pcs resource create mail1 ocf:axigen:instance workdir=/var/opt/axigen-mail1 binary=/opt/axigen/bin/axigen config=/var/opt/axigen-mail1/run/axigen.cfg address=10.20.0.101 cli_port=7000 cli_user=admin cli_password_file=/etc/axigen-ha/mail1-cli.pass op start interval=0s timeout=120s op stop interval=0s timeout=120s op monitor interval=10s timeout=30s op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=10 --group grp-mail1 --no-default-ops --force
pcs resource create fs-mail2 ocf:heartbeat:Filesystem device=/dev/disk/by-id/wwn-0x6001405a1b2c3d02 directory=/var/opt/axigen-mail2 fstype=ext4 op start interval=0s timeout=60s op stop interval=0s timeout=60s op monitor interval=20s timeout=40s --group grp-mail2 --no-default-ops --force
pcs resource utilization fs-mail2 capacity=1
pcs resource create ip-mail2 ocf:heartbeat:IPaddr2 ip=10.20.0.102 cidr_netmask=24 op monitor interval=10s timeout=20s --group grp-mail2 --no-default-ops --force
pcs resource create mail2 ocf:axigen:instance workdir=/var/opt/axigen-mail2 binary=/opt/axigen/bin/axigen config=/var/opt/axigen-mail2/run/axigen.cfg address=10.20.0.102 cli_port=7000 cli_user=admin cli_password_file=/etc/axigen-ha/mail2-cli.pass op start interval=0s timeout=120s op stop interval=0s timeout=120s op monitor interval=10s timeout=30s op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=10 --group grp-mail2 --no-default-ops --force
pcs constraint location add loc-fence-n1-avoids-n1 fence-n1 n1 -- -INFINITY
pcs constraint location add loc-fence-n2-avoids-n2 fence-n2 n2 -- -INFINITY
pcs constraint location add loc-fence-n3-avoids-n3 fence-n3 n3 -- -INFINITY
pcs constraint location add loc-grp-mail1-prefers-n1 grp-mail1 n1 -- 100
pcs constraint location grp-mail1 rule constraint-id=loc-grp-mail1-only-home-or-standby score=-INFINITY '#uname' ne n1 and '#uname' ne n3
pcs constraint location add loc-grp-mail2-prefers-n2 grp-mail2 n2 -- 100
pcs constraint location grp-mail2 rule constraint-id=loc-grp-mail2-only-home-or-standby score=-INFINITY '#uname' ne n2 and '#uname' ne n3
