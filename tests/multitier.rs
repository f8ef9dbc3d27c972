//! The multi-tier architecture whole, in one lab: two back-end instances (n1, n2) with a hot
//! stand-by (n3), two front-end nodes (n4, n5) running Dovecot (IMAP/POP3 proxy by LDAP) and
//! Postfix (SMTP routed by LDAP transport maps) behind HAProxy whose VIP Pacemaker moves, and
//! two OpenLDAP providers replicating each other (d1, d2). Clients on c1 reach everything
//! through the VIP only. The back-ends are `axigen-sim`, the Axigen stand-in (Axigen itself
//! cannot be installed here); Pacemaker, Corosync, ipmi_sim, slapd, Dovecot, Postfix and
//! HAProxy are the real ones. The scenarios are the library's (`axha_lab::tiers`, the same
//! the demo runs); figures are printed (see BENCHMARKS.md), never asserted on.

use axha_e2e::lab::{binaries_dir, lab_name};
use axha_lab::tiers::{tier_spec, Tiers};
use axha_lab::Lab;

#[test]
fn multi_tier_whole() {
    axha_e2e::need_root!();
    let mut spec = tier_spec(&lab_name("mt"), 2, &binaries_dir());
    spec.helper_bin = Some(axha_e2e::bin(axha_lab::HELPER_NAME));
    let lab = Lab::up(spec).expect("lab up");
    let tiers = Tiers::build(&lab, &binaries_dir()).expect("tiers");
    eprintln!("placement: {:?}", tiers.homes);
    // Only the front-ends' and the replication identities read the directory.
    for d in axha_lab::DIRECTORY_SERVERS {
        assert_eq!(
            lab.anonymous_entries(d).expect("anonymous search"),
            0,
            "{d} shows nothing to an anonymous client"
        );
    }
    let on_each: Vec<usize> = ["n1", "n2"]
        .iter()
        .map(|n| tiers.accounts_on(n).len())
        .collect();
    assert!(
        on_each.iter().all(|c| *c > 0),
        "accounts on both back-ends: {on_each:?}"
    );

    // 1. Routing: each account logs in through the VIP (IMAP and POP3) and lands on its own
    // back-end; mail sent to the VIP arrives in its mailbox there.
    let r = tiers.routing(&lab).expect("routing");
    for a in &r.accounts {
        assert_eq!(
            a.imap_host, a.home,
            "{} answered by its own back-end",
            a.account
        );
        assert!(
            a.mail_arrived,
            "{}: SMTP through the VIP delivered",
            a.account
        );
        assert!(a.pop3_read, "{}: POP3 through the VIP read it", a.account);
    }
    assert!(r.wrong_password_refused, "wrong password refused");
    eprintln!(
        "routing: {} accounts; logins through the VIP p50 {:.1} ms p99 {:.1} ms",
        r.accounts.len(),
        r.login_p50_ms,
        r.login_p99_ms
    );

    // 2. One LDAP provider hung (SIGSTOP; d1, the one every front-end uses while it answers): lookups move on through the front-ends' own
    // health-checked balancer; provisioning through its timeout.
    let h = tiers.directory_hang(&lab).expect("directory hang");
    eprintln!("{h:?}");
    assert!(h.attempts > 0);
    assert!(h.marked_down, "each front-end's HAProxy took d1 out: {h:?}");
    assert!(h.answering_at_end, "logins go on while d1 hangs: {h:?}");

    // 2b. One LDAP provider down: routing and provisioning go on; it catches up on return.
    let d = tiers.directory_loss(&lab).expect("directory loss");
    eprintln!("{d:?}");
    assert_eq!(d.failed_after_failover, 0, "lookups through d2");
    assert!(d.attempts > 0);

    // 3. Front-end loss: the one not holding the VIP loses power; HAProxy drops it, and it
    // comes back through its BMC.
    let f = tiers.frontend_loss(&lab).expect("front-end loss");
    eprintln!("{f:?}");
    // A session under way on the lost front-end at that instant may fail (reported as
    // failed_in_detection); once HAProxy has marked it DOWN, none.
    assert_eq!(
        f.failed_after_detection, 0,
        "no login fails after HAProxy's detection: {:?}",
        f.failures
    );
    assert!(f.attempts > 0);

    // 4. Back-end loss: mail1's accounts see no failure, mail2's answer again on the stand-by.
    let b = tiers.backend_loss(&lab).expect("back-end loss");
    eprintln!("{b:?}");
    assert_eq!(
        b.failed_other_backends, 0,
        "the other back-end's accounts are not affected"
    );
    assert!(b.attempts_other_backends > 0);
    assert_eq!(b.served_by, "n3", "served by the stand-by");

    // 5. The VIP holder powered off through its BMC: the VIP moves, clients reconnect.
    let v = tiers.vip_loss(&lab).expect("VIP loss");
    eprintln!("{v:?}");
    assert_ne!(v.new_node, v.node);
    assert!(v.attempts > v.failed, "good logins after the move");
    lab.down().unwrap();
}
