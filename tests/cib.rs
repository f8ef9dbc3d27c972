//! `axigen-ha cib` against Pacemaker's own tools (Debian 12: Pacemaker 2.1.5, crmsh, pcs):
//! every template renders, passes crm_verify, and crm_simulate places the instances as the
//! architecture promises; bad values files fail with the field named; hostile values are
//! escaped; the crm and pcs scripts build the same configuration as the XML.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_e2e::cib::{assert_same_configuration, empty_cib_with_nodes, templates_dir};
use axha_e2e::{bin, Cmd, Deadline};

const TEMPLATES: &[&str] = &["two-node-active-passive", "multi-tier-n-plus-1"];

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn axigen_ha(args: &[&str]) -> Run {
    let out = Cmd::new(bin("axigen-ha"))
        .args(args)
        .run(&Deadline::after(Duration::from_secs(120)))
        .expect("axigen-ha runs");
    Run {
        code: out.code(),
        stdout: out.stdout_str(),
        stderr: out.stderr_str(),
    }
}

fn ok(args: &[&str]) -> String {
    let r = axigen_ha(args);
    assert_eq!(r.code, Some(0), "axigen-ha {args:?} failed: {}", r.stderr);
    r.stdout
}

fn example_values(template: &str) -> PathBuf {
    templates_dir().join(template).join("values.toml")
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("axha-cib-test-")
        .tempdir()
        .expect("temp dir")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn node(n: u32) -> String {
    format!(
        "[[nodes]]\nname = \"n{n}\"\naddress = \"10.30.0.{n}\"\nbmc = {{ ip = \"10.30.1.{n}\", user = \"admin\", password_file = \"/etc/axigen-ha/bmc-n{n}\" }}\n"
    )
}

fn instance(id: &str, home: u32) -> String {
    format!(
        "[[instances]]\nid = \"{id}\"\nworkdir = \"/var/opt/{id}\"\nip = \"10.30.0.{}\"\ncidr = 24\ndevice = \"/dev/disk/by-id/{id}\"\nmountpoint = \"/var/opt/{id}\"\nfstype = \"ext4\"\npreferred_node = \"n{home}\"\n",
        100 + home
    )
}

/// Back-ends n1..=b with instance mailN each, stand-bys n(b+1)..=n(b+s).
fn multi_tier(backends: u32, standbys: u32) -> String {
    let sb: Vec<String> = (backends + 1..=backends + standbys)
        .map(|i| format!("\"n{i}\""))
        .collect();
    let mut s = format!("standby_nodes = [{}]\n", sb.join(", "));
    for i in 1..=backends + standbys {
        s += &node(i);
    }
    for i in 1..=backends {
        s += &instance(&format!("mail{i}"), i);
    }
    s
}

fn simulate(template: &str, values: &Path, extra: &[&str]) -> serde_json::Value {
    let v = values.to_str().expect("utf-8 path");
    let mut args = vec![
        "cib", "simulate", template, "--values", v, "--output", "json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&args)).expect("simulate prints JSON")
}

/// The placement of every instance in the scenario where exactly `failed` failed.
fn placement<'a>(sim: &'a serde_json::Value, failed: &[&str]) -> &'a serde_json::Value {
    placement_when(sim, failed, false)
}

/// The placement once the nodes that failed in `failed` are back.
fn placement_back<'a>(sim: &'a serde_json::Value, failed: &[&str]) -> &'a serde_json::Value {
    placement_when(sim, failed, true)
}

fn placement_when<'a>(
    sim: &'a serde_json::Value,
    failed: &[&str],
    back: bool,
) -> &'a serde_json::Value {
    let scenarios = sim["scenarios"].as_array().expect("scenarios");
    let s = scenarios
        .iter()
        .filter(|s| s["back"] == back)
        .find(|s| {
            let f: Vec<&str> = s["failed"]
                .as_array()
                .expect("failed")
                .iter()
                .map(|x| x.as_str().expect("name"))
                .collect();
            f.len() == failed.len() && failed.iter().all(|x| f.contains(x))
        })
        .unwrap_or_else(|| panic!("no scenario {failed:?} in {sim}"));
    &s["placement"]
}

fn on(p: &serde_json::Value, instance: &str) -> Vec<String> {
    p[instance]
        .as_array()
        .unwrap_or_else(|| panic!("{instance} missing in {p}"))
        .iter()
        .map(|n| n.as_str().expect("node").to_string())
        .collect()
}

#[test]
fn list_names_every_template() {
    let out = ok(&["cib", "list"]);
    for t in TEMPLATES {
        assert!(out.lines().any(|l| l.starts_with(t)), "{out}");
    }
}

#[test]
fn every_template_renders_and_passes_crm_verify() {
    let dir = tmp();
    let shared = write(
        dir.path(),
        "shared.toml",
        &std::fs::read_to_string(example_values("two-node-active-passive"))
            .expect("example")
            .replace("storage = \"drbd\"", "storage = \"shared\"")
            .replace("[drbd]\nresource = \"r0\"\n", "")
            .replace("/dev/drbd0", "/dev/disk/by-id/wwn-0x6001405a1b2c3d00"),
    );
    let cases = [
        (
            "two-node-active-passive",
            example_values("two-node-active-passive"),
        ),
        ("two-node-active-passive", shared),
        ("multi-tier-n-plus-1", example_values("multi-tier-n-plus-1")),
    ];
    for (t, values) in &cases {
        let v = values.to_str().unwrap();
        for format in ["xml", "pcs", "crm", "corosync"] {
            let out = ok(&["cib", "render", t, "--values", v, "--format", format]);
            assert!(!out.is_empty());
        }
        let verified = ok(&["cib", "verify", t, "--values", v]);
        assert!(verified.contains("configuration valid"), "{verified}");
        // The file as written by --out, checked on its own.
        let xml = dir.path().join(format!("{t}.xml"));
        ok(&[
            "cib",
            "render",
            t,
            "--values",
            v,
            "--out",
            xml.to_str().unwrap(),
        ]);
        let verified = ok(&["cib", "verify", "--cib", xml.to_str().unwrap()]);
        assert!(verified.contains("configuration valid"), "{verified}");
    }
    // A CIB Pacemaker's schema refuses: rejected with crm_verify's own words, exit 1.
    let good = std::fs::read_to_string(templates_dir().join("multi-tier-n-plus-1/cib.xml"))
        .expect("checked-in CIB");
    let broken = write(
        dir.path(),
        "broken.xml",
        &good
            .replacen("<group ", "<groop ", 1)
            .replacen("</group>", "</groop>", 1),
    );
    let r = axigen_ha(&["cib", "verify", "--cib", broken.to_str().unwrap()]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("crm_verify rejected the CIB"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("config not valid"), "{}", r.stderr);
    let corosync = ok(&[
        "cib",
        "render",
        "two-node-active-passive",
        "--values",
        example_values("two-node-active-passive").to_str().unwrap(),
        "--format",
        "corosync",
    ]);
    assert!(corosync.contains("two_node: 1"), "{corosync}");
}

#[test]
fn checked_in_renderings_are_current() {
    for t in TEMPLATES {
        let v = example_values(t);
        for (format, file) in [
            ("xml", "cib.xml"),
            ("pcs", "pcs.sh"),
            ("crm", "crm.txt"),
            ("corosync", "corosync.conf"),
        ] {
            let path = templates_dir().join(t).join(file);
            let want = ok(&[
                "cib",
                "render",
                t,
                "--values",
                v.to_str().unwrap(),
                "--format",
                format,
            ]);
            let have = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                have,
                want,
                "{} is stale: regenerate it with `axigen-ha cib render {t} --values cib-templates/{t}/values.toml --format {format} --out cib-templates/{t}/{file}`",
                path.display()
            );
        }
    }
}

#[test]
fn multi_tier_three_nodes_failover_placement() {
    let v = example_values("multi-tier-n-plus-1");
    let sim = simulate("multi-tier-n-plus-1", &v, &["--max-failures", "2"]);
    let base = placement(&sim, &[]);
    assert_eq!(on(base, "mail1"), vec!["n1"]);
    assert_eq!(on(base, "mail2"), vec!["n2"]);
    // n1 down -> its instance on the stand-by n3, mail2 stays.
    let p = placement(&sim, &["n1"]);
    assert_eq!(on(p, "mail1"), vec!["n3"]);
    assert_eq!(on(p, "mail2"), vec!["n2"]);
    let p = placement(&sim, &["n2"]);
    assert_eq!(on(p, "mail1"), vec!["n1"]);
    assert_eq!(on(p, "mail2"), vec!["n3"]);
    // The stand-by failing moves nothing.
    let p = placement(&sim, &["n3"]);
    assert_eq!(on(p, "mail1"), vec!["n1"]);
    assert_eq!(on(p, "mail2"), vec!["n2"]);
    // Two of three lost at once: no quorum, nothing is recovered.
    let p = placement(&sim, &["n1", "n2"]);
    assert!(
        on(p, "mail1").is_empty() && on(p, "mail2").is_empty(),
        "{p}"
    );

    // With quorum kept (failures one at a time, last_man_standing), the stand-by takes both.
    let sim = simulate(
        "multi-tier-n-plus-1",
        &v,
        &["--max-failures", "2", "--assume-quorum"],
    );
    let p = placement(&sim, &["n1", "n2"]);
    assert_eq!(on(p, "mail1"), vec!["n3"]);
    assert_eq!(on(p, "mail2"), vec!["n3"]);
    // An instance never lands on another back-end.
    let p = placement(&sim, &["n1", "n3"]);
    assert!(on(p, "mail1").is_empty(), "{p}");
    assert_eq!(on(p, "mail2"), vec!["n2"]);

    let table = ok(&[
        "cib",
        "simulate",
        "multi-tier-n-plus-1",
        "--values",
        v.to_str().unwrap(),
    ]);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["n1", "yes", "n3", "n2"]),
        "{table}"
    );
}

#[test]
fn returning_node_pulls_nothing_back() {
    let v = example_values("multi-tier-n-plus-1");
    let sim = simulate("multi-tier-n-plus-1", &v, &["--fail", "n1", "--and-back"]);
    assert_eq!(on(placement(&sim, &["n1"]), "mail1"), vec!["n3"]);
    // n1 is back: stickiness keeps mail1 on the stand-by (no second interruption).
    assert_eq!(on(placement_back(&sim, &["n1"]), "mail1"), vec!["n3"]);
    assert_eq!(on(placement_back(&sim, &["n1"]), "mail2"), vec!["n2"]);

    // Control: without stickiness the preference for n1 pulls it back.
    let dir = tmp();
    let text = std::fs::read_to_string(&v)
        .unwrap()
        .replace("stickiness = 100", "stickiness = 0");
    assert!(text.contains("stickiness = 0"));
    let loose = write(dir.path(), "loose.toml", &text);
    let sim = simulate(
        "multi-tier-n-plus-1",
        &loose,
        &["--fail", "n1", "--and-back"],
    );
    assert_eq!(on(placement_back(&sim, &["n1"]), "mail1"), vec!["n1"]);
}

/// The architecture's promise, step by step and with quorum all along (3 of 4 nodes): the
/// stand-by takes over one back-end after another, keeps them when their nodes return, and
/// takes no third.
#[test]
fn failures_one_after_another_fill_the_standby_to_two() {
    let dir = tmp();
    let values = write(dir.path(), "v.toml", &multi_tier(3, 1));
    let sim = simulate(
        "multi-tier-n-plus-1",
        &values,
        &["--steps", "fail:n1,back:n1,fail:n2,back:n2,fail:n3"],
    );
    let rows = sim["scenarios"].as_array().expect("scenarios");
    assert_eq!(rows.len(), 6, "{sim}");
    let at = |row: usize, i: &str| on(&rows[row]["placement"], i);
    assert!(rows.iter().all(|r| r["quorate"] == true), "{sim}");
    assert_eq!(rows[1]["steps"], "fail n1");
    assert_eq!(at(1, "mail1"), vec!["n4"]);
    assert_eq!(at(2, "mail1"), vec!["n4"], "n1 back: mail1 stays");
    assert_eq!(
        (at(3, "mail1"), at(3, "mail2")),
        (vec!["n4".to_string()], vec!["n4".to_string()])
    );
    assert_eq!(at(4, "mail2"), vec!["n4"], "n2 back: mail2 stays");
    // Third failure: the stand-by is full, mail3 waits for n3.
    assert!(at(5, "mail3").is_empty(), "{sim}");
    assert_eq!(
        (at(5, "mail1"), at(5, "mail2")),
        (vec!["n4".to_string()], vec!["n4".to_string()])
    );

    for (steps, want) in [
        ("fail:n1,fail:n1", r#"step "fail n1": "n1" is already down"#),
        ("back:n2", r#"step "back n2": "n2" is not down"#),
        ("fail:n9", r#"step "fail n9": "n9" is not one of the nodes"#),
        (
            "reboot:n1",
            r#"step "reboot:n1": expected fail:NODE or back:NODE"#,
        ),
    ] {
        let r = axigen_ha(&[
            "cib",
            "simulate",
            "multi-tier-n-plus-1",
            "--values",
            values.to_str().unwrap(),
            "--steps",
            steps,
        ]);
        assert_eq!(r.code, Some(1), "{steps}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{steps}: {}", r.stderr);
    }
}

#[test]
fn standby_takes_at_most_two_instances() {
    let dir = tmp();
    // Four back-ends, one stand-by (n5).
    let values = write(dir.path(), "v.toml", &multi_tier(4, 1));
    let sim = simulate(
        "multi-tier-n-plus-1",
        &values,
        &["--fail", "n1,n2,n3", "--assume-quorum"],
    );
    let p = placement(&sim, &["n1", "n2", "n3"]);
    let on_standby = (1..=3)
        .filter(|i| on(p, &format!("mail{i}")) == vec!["n5"])
        .count();
    let stopped = (1..=3)
        .filter(|i| on(p, &format!("mail{i}")).is_empty())
        .count();
    assert_eq!((on_standby, stopped), (2, 1), "{p}");
    assert_eq!(on(p, "mail4"), vec!["n4"]);

    // Two stand-bys share four failed back-ends, two each.
    let values = write(dir.path(), "v2.toml", &multi_tier(4, 2));
    let sim = simulate(
        "multi-tier-n-plus-1",
        &values,
        &["--fail", "n1,n2,n3,n4", "--assume-quorum"],
    );
    let p = placement(&sim, &["n1", "n2", "n3", "n4"]);
    let load = |n: &str| {
        (1..=4)
            .filter(|i| on(p, &format!("mail{i}")) == vec![n.to_string()])
            .count()
    };
    assert_eq!((load("n5"), load("n6")), (2, 2), "{p}");
}

#[test]
fn two_node_failover_placement() {
    let v = example_values("two-node-active-passive");
    let sim = simulate("two-node-active-passive", &v, &[]);
    assert_eq!(on(placement(&sim, &[]), "mail"), vec!["n1"]);
    // two_node keeps quorum: the passive node fences n1, promotes DRBD and takes over.
    assert_eq!(on(placement(&sim, &["n1"]), "mail"), vec!["n2"]);
    assert_eq!(on(placement(&sim, &["n2"]), "mail"), vec!["n1"]);
}

#[test]
fn bad_values_files_name_the_field() {
    let good = std::fs::read_to_string(example_values("multi-tier-n-plus-1")).expect("example");
    let dir = tmp();
    let cases: &[(&str, &str, &str)] = &[
        (
            "10.20.0.102",
            "10.20.0.300",
            r#"instances[1].ip: "10.20.0.300" is not an IPv4 address"#,
        ),
        (
            "cidr = 24\n",
            "cidr = 24\ncolour = \"red\"\n",
            "unknown field `colour`",
        ),
        (
            "preferred_node = \"n2\"",
            "preferred_node = \"n9\"",
            r#"instances[1].preferred_node: "n9" is not one of the nodes"#,
        ),
        (
            "preferred_node = \"n2\"",
            "preferred_node = \"n3\"",
            r#"instances[1].preferred_node: "n3" is a stand-by node"#,
        ),
        (
            "standby_nodes = [\"n3\"]",
            "standby_nodes = [\"n7\"]",
            r#"standby_nodes[0]: "n7" is not one of the nodes"#,
        ),
        (
            "id = \"mail2\"",
            "id = \"mail1\"",
            r#"instances[1].id: "mail1" appears twice"#,
        ),
        ("fstype = \"ext4\"\n", "", "missing field `fstype`"),
        (
            "/etc/axigen-ha/bmc-n2.pass",
            "bmc-n2.pass",
            r#"nodes[1].bmc.password_file: "bmc-n2.pass" is not an absolute path"#,
        ),
        (
            "/etc/axigen-ha/bmc-n2.pass",
            "/etc/x;reboot",
            "nodes[1].bmc.password_file",
        ),
        (
            "cidr = 24",
            "cidr = 40",
            "instances[0].cidr: 40 is not a prefix length",
        ),
        (
            "name = \"n2\"",
            "name = \"n 2\"",
            r#"nodes[1].name: "n 2" is not a valid host name"#,
        ),
        ("[cluster]", "[cluster\n", "line "),
        // What the cluster would refuse: one address for two nodes, one BMC for two nodes,
        // a BMC user the fence agent refuses, control characters bound for the CIB.
        (
            "address = \"10.20.0.2\"",
            "address = \"10.20.0.1\"",
            "nodes[1].address: 10.20.0.1 is already the address of another node",
        ),
        (
            "ip = \"10.20.1.2\"",
            "ip = \"10.20.1.1\"",
            "nodes[1].bmc: 10.20.1.1:623 is already the BMC of another node",
        ),
        (
            "name = \"n2\"",
            "name = \"n1\"",
            r#"nodes[1].name: "n1" appears twice"#,
        ),
        (
            "ip = \"10.20.0.102\"",
            "ip = \"10.20.0.3\"",
            "instances[1].ip: 10.20.0.3 is already the address of a node",
        ),
        (
            "user = \"admin\", password_file = \"/etc/axigen-ha/bmc-n2.pass\"",
            "user = \"administrator-n02\", password_file = \"/etc/axigen-ha/bmc-n2.pass\"",
            r#"nodes[1].bmc.user: user name "administrator-n02" is longer than 16 bytes"#,
        ),
        (
            "user = \"admin\", password_file = \"/etc/axigen-ha/bmc-n2.pass\"",
            "user = \"admin \", password_file = \"/etc/axigen-ha/bmc-n2.pass\"",
            r#"nodes[1].bmc.user: user name "admin " begins or ends with white space"#,
        ),
        (
            "user = \"admin\", password_file = \"/etc/axigen-ha/bmc-n2.pass\"",
            "user = \"ad\\u0000min\", password_file = \"/etc/axigen-ha/bmc-n2.pass\"",
            r#"nodes[1].bmc.user: user name "ad\0min" contains a control character"#,
        ),
        (
            "user = \"admin\", password_file = \"/etc/axigen-ha/bmc-n2.pass\"",
            "user = \"\", password_file = \"/etc/axigen-ha/bmc-n2.pass\"",
            r#"nodes[1].bmc.user: user name "" is empty"#,
        ),
        (
            "id = \"mail2\"",
            "id = \"mail\\u0007\"",
            r#"instances[1].id: "mail\u{7}" contains a control character"#,
        ),
        (
            "name = \"n2\"",
            "name = \"n\\r2\"",
            r#"nodes[1].name: "n\r2" contains a control character"#,
        ),
        (
            "mountpoint = \"/var/opt/axigen-mail2\"",
            "mountpoint = \"/var/opt/axigen\\nmail2\"",
            r#"instances[1].mountpoint: "/var/opt/axigen\nmail2" contains a control character"#,
        ),
    ];
    for (i, (from, to, want)) in cases.iter().enumerate() {
        assert!(good.contains(from), "case {i}: {from:?} not in the example");
        let p = write(
            dir.path(),
            &format!("bad{i}.toml"),
            &good.replacen(from, to, 1),
        );
        for cmd in ["render", "verify", "simulate"] {
            let r = axigen_ha(&[
                "cib",
                cmd,
                "multi-tier-n-plus-1",
                "--values",
                p.to_str().unwrap(),
            ]);
            assert_eq!(r.code, Some(1), "case {i} ({cmd}): {}", r.stderr);
            assert!(
                r.stdout.is_empty(),
                "case {i} ({cmd}) printed: {}",
                r.stdout
            );
            assert!(
                r.stderr.contains(want),
                "case {i} ({cmd}): want {want:?} in:\n{}",
                r.stderr
            );
            assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        }
    }
    // Template rules: a multi-tier values file is not a two-node one.
    let p = example_values("multi-tier-n-plus-1");
    let r = axigen_ha(&[
        "cib",
        "render",
        "two-node-active-passive",
        "--values",
        p.to_str().unwrap(),
    ]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("nodes: this template needs exactly 2 nodes, not 3"),
        "{}",
        r.stderr
    );
    // Unknown template, missing file, empty file.
    let r = axigen_ha(&[
        "cib",
        "render",
        "three-tier",
        "--values",
        p.to_str().unwrap(),
    ]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("unknown template \"three-tier\""),
        "{}",
        r.stderr
    );
    let r = axigen_ha(&[
        "cib",
        "render",
        "multi-tier-n-plus-1",
        "--values",
        "/nonexistent/v.toml",
    ]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("/nonexistent/v.toml"), "{}", r.stderr);
    let empty = write(dir.path(), "empty.toml", "");
    let r = axigen_ha(&[
        "cib",
        "render",
        "multi-tier-n-plus-1",
        "--values",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("nodes: at least one node is required"),
        "{}",
        r.stderr
    );
}

/// Values no validation may refuse (paths and user names can hold these characters) must
/// reach Pacemaker unchanged through XML, crmsh and pcs.
const HOSTILE_WORKDIR: &str = r#"/var/opt/a&b <c> "d" 'e' $(reboot) \f"#;
const HOSTILE_USER: &str = r#"adm"in' & <x>"#;

/// The example values of `template` with the first instance's workdir and CLI user hostile.
fn hostile_values(template: &str) -> String {
    let text = std::fs::read_to_string(example_values(template)).expect("example");
    let at = text.find("workdir = ").expect("an instance workdir");
    let end = at + text[at..].find('\n').expect("line end");
    format!(
        "{}workdir = '''{HOSTILE_WORKDIR}'''\ncli_user = '''{HOSTILE_USER}'''{}",
        &text[..at],
        &text[end..]
    )
}

fn param<'a>(doc: &'a roxmltree::Document, rsc: &str, name: &str) -> Option<&'a str> {
    doc.descendants()
        .find(|n| n.has_tag_name("primitive") && n.attribute("id") == Some(rsc))?
        .descendants()
        .find(|n| n.has_tag_name("nvpair") && n.attribute("name") == Some(name))?
        .attribute("value")
}

#[test]
fn hostile_values_are_escaped() {
    let dir = tmp();
    let v = write(
        dir.path(),
        "hostile.toml",
        &hostile_values("two-node-active-passive"),
    );
    let xml = ok(&[
        "cib",
        "render",
        "two-node-active-passive",
        "--values",
        v.to_str().unwrap(),
    ]);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    assert_eq!(param(&doc, "mail", "workdir"), Some(HOSTILE_WORKDIR));
    assert_eq!(param(&doc, "mail", "cli_user"), Some(HOSTILE_USER));
    let verified = ok(&[
        "cib",
        "verify",
        "two-node-active-passive",
        "--values",
        v.to_str().unwrap(),
    ]);
    assert!(verified.contains("configuration valid"));
    // The pcs script quotes for the shell: the command substitution must stay text.
    let pcs = ok(&[
        "cib",
        "render",
        "two-node-active-passive",
        "--values",
        v.to_str().unwrap(),
        "--format",
        "pcs",
    ]);
    assert!(!pcs.contains(" workdir=/var/opt/a&b"), "{pcs}");
}

/// Load a crm script into an offline CIB (`CIB_file`), as `crm configure load update`.
/// `-F`: crmsh refuses agents whose metadata it cannot read, and the axigen agents are not
/// installed on the machine running the tests; every other complaint still shows in stderr.
fn crm_load(cib: &Path, script: &Path, home: &Path) -> String {
    let out = Cmd::new("crm")
        .args(["-F", "configure", "load", "update"])
        .arg(script)
        .env("CIB_file", cib)
        .env("HOME", home)
        .run(&Deadline::after(Duration::from_secs(120)))
        .expect("crm runs");
    let stderr = out.stderr_str();
    assert_eq!(out.code(), Some(0), "crm failed: {stderr}");
    for line in stderr.lines() {
        let plain = line.replace("\u{1b}[31m", "").replace("\u{1b}[0m", "");
        if plain.starts_with("ERROR") {
            assert!(
                plain.contains("got no meta-data") || plain.contains("no such resource agent"),
                "crmsh complained: {plain}"
            );
        }
    }
    std::fs::read_to_string(cib).expect("CIB written")
}

fn have(tool: &str) -> bool {
    Cmd::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .run(&Deadline::after(Duration::from_secs(10)))
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Node names of a values file whose `[[nodes]]` tables start with their `name` line.
fn nodes_of(values: &str) -> Vec<(u32, String)> {
    let lines: Vec<&str> = values.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].trim() == "[[nodes]]")
        .filter_map(|w| w[1].strip_prefix("name = \"")?.strip_suffix('"'))
        .enumerate()
        .map(|(i, n)| (i as u32 + 1, n.to_string()))
        .collect()
}

#[test]
fn crm_script_builds_the_same_configuration() {
    assert!(have("crm"), "crmsh is a test dependency (.ci/apt-packages)");
    let dir = tmp();
    let hostile = write(
        dir.path(),
        "hostile.toml",
        &hostile_values("two-node-active-passive"),
    );
    let cases = [
        (
            "two-node-active-passive",
            example_values("two-node-active-passive"),
        ),
        ("multi-tier-n-plus-1", example_values("multi-tier-n-plus-1")),
        ("two-node-active-passive", hostile),
    ];
    for (i, (t, values)) in cases.iter().enumerate() {
        let v = values.to_str().unwrap();
        let xml = ok(&["cib", "render", t, "--values", v]);
        let script = dir.path().join(format!("{i}.crm"));
        ok(&[
            "cib",
            "render",
            t,
            "--values",
            v,
            "--format",
            "crm",
            "--out",
            script.to_str().unwrap(),
        ]);
        let cib = write(dir.path(), &format!("{i}.xml"), &empty_cib_with_nodes(&[]));
        let loaded = crm_load(&cib, &script, dir.path());
        assert_same_configuration(&loaded, &xml, &format!("crm script of {t} ({v})"));
    }
}

#[test]
fn pcs_script_builds_the_same_configuration() {
    if !have("pcs") {
        // pcs is in .ci/apt-packages (Debian 12 ships 0.11.5); a machine without it cannot
        // run this comparison.
        eprintln!("SKIP: pcs is not installed");
        return;
    }
    let dir = tmp();
    // pcs takes about a second per command: two cases, hostile values in the larger one.
    let hostile = write(
        dir.path(),
        "hostile.toml",
        &hostile_values("multi-tier-n-plus-1"),
    );
    let cases = [
        (
            "two-node-active-passive",
            example_values("two-node-active-passive"),
        ),
        ("multi-tier-n-plus-1", hostile),
    ];
    for (i, (t, values)) in cases.iter().enumerate() {
        let v = values.to_str().unwrap();
        let text = std::fs::read_to_string(values).unwrap();
        let nodes = nodes_of(&text);
        let nodes: Vec<(u32, &str)> = nodes.iter().map(|(i, n)| (*i, n.as_str())).collect();
        let xml = ok(&["cib", "render", t, "--values", v]);
        let script = dir.path().join(format!("{i}.pcs.sh"));
        ok(&[
            "cib",
            "render",
            t,
            "--values",
            v,
            "--format",
            "pcs",
            "--out",
            script.to_str().unwrap(),
        ]);
        let cib = write(
            dir.path(),
            &format!("{i}.xml"),
            &empty_cib_with_nodes(&nodes),
        );
        let out = Cmd::new("sh")
            .arg(&script)
            .env("CIB_FILE", &cib)
            .env("HOME", dir.path())
            .run(&Deadline::after(Duration::from_secs(300)))
            .expect("sh runs");
        assert_eq!(
            out.code(),
            Some(0),
            "pcs script of {t} failed: {}",
            out.stderr_str()
        );
        let loaded = std::fs::read_to_string(&cib).unwrap();
        assert_same_configuration(&loaded, &xml, &format!("pcs script of {t} ({v})"));
    }
}

/// The meta-data of an agent the templates use: our built agents, heartbeat's installed ones.
fn agent_metadata(class: &str, provider: Option<&str>, kind: &str) -> String {
    let cmd = match (class, provider, kind) {
        ("ocf", Some("axigen"), "instance") => Cmd::new(bin("instance")).arg("meta-data"),
        ("ocf", Some("axigen"), "drbd") => Cmd::new(bin("drbd")).arg("meta-data"),
        ("stonith", None, "fence_axigen_ipmi") => {
            Cmd::new(bin("fence_axigen_ipmi")).args(["-o", "metadata"])
        }
        // stock fence-agents (fence_apc_snmp for the PDU level)
        ("stonith", None, k) if k.starts_with("fence_") => {
            Cmd::new(format!("/usr/sbin/{k}")).args(["-o", "metadata"])
        }
        ("ocf", Some("heartbeat"), k) => {
            Cmd::new(format!("/usr/lib/ocf/resource.d/heartbeat/{k}")).arg("meta-data")
        }
        other => panic!("no meta-data source for {other:?}"),
    };
    cmd.env("OCF_ROOT", "/usr/lib/ocf")
        .run_ok(&Deadline::after(Duration::from_secs(30)))
        .expect("meta-data")
        .stdout_str()
}

/// Every parameter the templates set is one the agent declares (Pacemaker passes unknown
/// parameters silently; the agent would never see what the operator meant).
#[test]
fn template_parameters_are_declared_by_the_agents() {
    for t in TEMPLATES {
        let v = example_values(t);
        let xml = ok(&["cib", "render", t, "--values", v.to_str().unwrap()]);
        let doc = roxmltree::Document::parse(&xml).expect("XML");
        for p in doc.descendants().filter(|n| n.has_tag_name("primitive")) {
            let (class, kind) = (p.attribute("class").unwrap(), p.attribute("type").unwrap());
            let meta = agent_metadata(class, p.attribute("provider"), kind);
            // OCF meta-data carries a DOCTYPE line (ra-api-1.dtd).
            let opts = roxmltree::ParsingOptions {
                allow_dtd: true,
                ..Default::default()
            };
            let meta = roxmltree::Document::parse_with_options(&meta, opts).expect("meta-data XML");
            let declared: Vec<&str> = meta
                .descendants()
                .filter(|n| n.has_tag_name("parameter"))
                .filter_map(|n| n.attribute("name"))
                .collect();
            let set = p
                .children()
                .filter(|c| c.has_tag_name("instance_attributes"))
                .flat_map(|c| c.children().filter(|x| x.has_tag_name("nvpair")))
                .filter_map(|x| x.attribute("name"))
                // pcmk_* are Pacemaker's own fencing parameters.
                .filter(|n| !n.starts_with("pcmk_"));
            for name in set {
                assert!(
                    declared.contains(&name),
                    "{t}: {} ({class}:{kind}) sets {name:?}, not in the agent's meta-data {declared:?}",
                    p.attribute("id").unwrap()
                );
            }
        }
    }
}
