//! A switched PDU for the lab's second fencing level: net-snmp's `snmpd` (in the hub
//! namespace, on the management network at [`PDU_IP`]) announcing itself as an APC rPDU,
//! with this module's `pass_persist` handler (`axha-lab-node pdu-handler STATE_DIR`) serving
//! the outlet table, one outlet per node (outlet i feeds node ni). The stock
//! `fence_apc_snmp` (fence-agents) drives it. Switching an outlet off cuts the node's power,
//! its BMC included (the BMC stops answering); on gives both back and boots the node.
//!
//! The handler speaks snmpd's pass_persist protocol (snmpd.conf(5), "pass_persist"): `PING`
//! is answered `PONG`; `get`/`getnext` are followed by an OID line and answered with three
//! lines (OID, type, value) or `NONE`; `set` is followed by an OID line and a `TYPE VALUE`
//! line and answered `DONE` or an SNMP error name. snmpd sends a blank line after each set,
//! which is skipped. The OIDs are APC's PowerNet-MIB ones fence_apc_snmp uses
//! (rPDUOutletControlOutletCommand, rPDUOutletStatusOutletName/State, and the legacy
//! MasterSwitch sPDUOutletCtl/Name).

use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::spec::LAB_MGMT_NET;

/// The PDU's address on the management network.
pub const PDU_IP: Ipv4Addr = Ipv4Addr::new(LAB_MGMT_NET[0], LAB_MGMT_NET[1], LAB_MGMT_NET[2], 250);
/// SNMP's port.
pub const PDU_PORT: u16 = 161;
/// The read-only community (outlet names and states; not a secret): used to see that snmpd
/// answers. Switching outlets needs the lab's random read-write community.
pub const PDU_RO_COMMUNITY: &str = "public";
/// APC's enterprise OID, the subtree the handler serves.
pub const APC_OID: &str = ".1.3.6.1.4.1.318";
/// `sysObjectID` of an APC rPDU (AP79xx): fence_apc_snmp picks its rPDU table from it.
pub const RPDU_SYS_OBJECT_ID: &str = ".1.3.6.1.4.1.318.1.3.4.5";

/// rPDUOutletControlOutletCommand: set 1 immediateOn, 2 immediateOff, 3 immediateReboot.
const RPDU_CTL: &[u32] = &[1, 1, 12, 3, 3, 1, 1, 4];
/// rPDUOutletStatusOutletName.
const RPDU_NAME: &[u32] = &[1, 1, 12, 3, 5, 1, 1, 2];
/// rPDUOutletStatusOutletState: 1 on, 2 off.
const RPDU_STAT: &[u32] = &[1, 1, 12, 3, 5, 1, 1, 4];
/// sPDUOutletCtl (legacy MasterSwitch, get and set): 1 on, 2 off, 3 reboot.
const MS_CTL: &[u32] = &[1, 1, 4, 4, 2, 1, 3];
/// sPDUOutletCtlName.
const MS_NAME: &[u32] = &[1, 1, 4, 4, 2, 1, 4];

/// Longest request line the handler reads (an OID has at most 128 sub-identifiers).
const MAX_LINE: u64 = 4096;

/// The PDU's files in the lab's state directory.
pub fn pdu_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("pdu")
}

/// One file per outlet (`outlets/<i>`: `1` on, `0` off).
pub fn outlet_file(state_dir: &Path, outlet: usize) -> PathBuf {
    pdu_dir(state_dir).join("outlets").join(outlet.to_string())
}

/// Every outlet change, one `<unix time> <outlet> on|off` line each: a reboot's off window
/// is short, a poll of the outlet files would miss it.
pub fn events_file(state_dir: &Path) -> PathBuf {
    pdu_dir(state_dir).join("events.log")
}

/// The outlet's state as recorded: `true` on. A missing file is on (never switched).
pub fn read_outlet(state_dir: &Path, outlet: usize) -> bool {
    std::fs::read_to_string(outlet_file(state_dir, outlet))
        .map(|s| s.trim() != "0")
        .unwrap_or(true)
}

/// Record the outlet's state (atomically) and the change in the events file.
pub fn write_outlet(state_dir: &Path, outlet: usize, on: bool) -> std::io::Result<()> {
    let f = outlet_file(state_dir, outlet);
    let tmp = f.with_extension("tmp");
    std::fs::write(&tmp, if on { "1\n" } else { "0\n" })?;
    std::fs::rename(&tmp, &f)?;
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut ev = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(events_file(state_dir))?;
    writeln!(
        ev,
        "{}.{:03} {outlet} {}",
        t.as_secs(),
        t.subsec_millis(),
        if on { "on" } else { "off" }
    )
}

/// snmpd.conf of the lab's PDU (snmpd.conf(5)): communities limited to the management
/// network, the rPDU identity, and the handler for APC's subtree.
pub fn snmpd_conf(rw_community: &str, handler: &[String]) -> String {
    let net = format!(
        "{}.{}.{}.0/24",
        LAB_MGMT_NET[0], LAB_MGMT_NET[1], LAB_MGMT_NET[2]
    );
    format!(
        "rocommunity {PDU_RO_COMMUNITY} {net}\n\
         rwcommunity {rw_community} {net}\n\
         sysObjectID {RPDU_SYS_OBJECT_ID}\n\
         sysDescr APC Web/SNMP Management Card (axigen-ha lab rPDU)\n\
         dontLogTCPWrappersConnects yes\n\
         pass_persist {APC_OID} {}\n",
        handler.join(" ")
    )
}

/// What an outlet command asks (the values of the control columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutletCommand {
    /// 1: immediate on.
    On,
    /// 2: immediate off.
    Off,
    /// 3: immediate reboot (off, then on).
    Reboot,
}

/// One request of snmpd, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `PING`.
    Ping,
    /// `get OID`.
    Get(Vec<u32>),
    /// `getnext OID`.
    GetNext(Vec<u32>),
    /// `set OID TYPE VALUE`.
    Set(Vec<u32>, String, String),
}

/// What the handler does with an outlet's power: the lab cuts or gives back the node's
/// power, tests record the calls.
pub trait Outlets {
    /// The outlets, by number (1..).
    fn outlets(&self) -> Vec<usize>;
    /// On (`true`) or off.
    fn state(&self, outlet: usize) -> bool;
    /// The outlet's name (the node it feeds).
    fn name(&self, outlet: usize) -> String;
    /// Switch the outlet; returns once the change is in effect.
    fn switch(&mut self, outlet: usize, on: bool) -> Result<(), String>;
}

/// Parse an OID (`.1.3.6...` or `1.3.6...`); `None` for anything else.
pub fn parse_oid(s: &str) -> Option<Vec<u32>> {
    let s = s.trim().trim_start_matches('.');
    if s.is_empty() {
        return None;
    }
    s.split('.').map(|p| p.parse().ok()).collect()
}

fn oid_text(oid: &[u32]) -> String {
    oid.iter().map(|x| format!(".{x}")).collect()
}

fn apc_base() -> Vec<u32> {
    parse_oid(APC_OID).expect("APC_OID is an OID")
}

/// One row of the table: (OID, type, value).
type Row = (Vec<u32>, &'static str, String);

/// The outlet table in numeric OID order (what getnext walks).
fn table(o: &dyn Outlets) -> Vec<Row> {
    let base = apc_base();
    let oid = |col: &[u32], n: usize| {
        let mut v = base.clone();
        v.extend_from_slice(col);
        v.push(u32::try_from(n).unwrap_or(u32::MAX));
        v
    };
    let mut rows = Vec::new();
    for n in o.outlets() {
        let state = if o.state(n) { "1" } else { "2" }.to_string();
        let name = o.name(n);
        rows.push((oid(RPDU_CTL, n), "integer", state.clone()));
        rows.push((oid(RPDU_NAME, n), "string", name.clone()));
        rows.push((oid(RPDU_STAT, n), "integer", state.clone()));
        rows.push((oid(MS_CTL, n), "integer", state));
        rows.push((oid(MS_NAME, n), "string", name));
    }
    rows.sort();
    rows
}

/// The reply lines to one request.
pub fn answer(o: &mut dyn Outlets, req: &Request) -> Vec<String> {
    let show = |r: &Row| vec![oid_text(&r.0), r.1.to_string(), r.2.clone()];
    match req {
        Request::Ping => vec!["PONG".into()],
        Request::Get(oid) => table(o)
            .iter()
            .find(|r| &r.0 == oid)
            .map_or_else(|| vec!["NONE".into()], show),
        Request::GetNext(oid) => table(o)
            .iter()
            .find(|r| &r.0 > oid)
            .map_or_else(|| vec!["NONE".into()], show),
        Request::Set(oid, typ, value) => vec![set(o, oid, typ, value)],
    }
}

fn set(o: &mut dyn Outlets, oid: &[u32], typ: &str, value: &str) -> String {
    let base = apc_base();
    let Some((n, col)) = oid
        .strip_prefix(base.as_slice())
        .and_then(|rest| rest.split_last())
    else {
        return "not-writable".into();
    };
    let n = usize::try_from(*n).unwrap_or(0);
    if !(col == RPDU_CTL || col == MS_CTL) || !o.outlets().contains(&n) {
        return "not-writable".into();
    }
    if !typ.eq_ignore_ascii_case("integer") {
        return "wrong-type".into();
    }
    let cmd = match value.trim() {
        "1" => OutletCommand::On,
        "2" => OutletCommand::Off,
        "3" => OutletCommand::Reboot,
        _ => return "wrong-value".into(),
    };
    let steps: &[bool] = match cmd {
        OutletCommand::On => &[true],
        OutletCommand::Off => &[false],
        OutletCommand::Reboot => &[false, true],
    };
    for on in steps {
        if o.switch(n, *on).is_err() {
            return "commitFailed".into();
        }
    }
    "DONE".into()
}

/// Read one line of at most [`MAX_LINE`] bytes; `None` at the end of input. Bytes that are
/// not UTF-8 are replaced (they then fail to parse as an OID).
fn read_line(input: &mut dyn BufRead) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = std::io::Read::take(&mut *input, MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&buf).trim().to_string()))
}

/// Serve snmpd's requests from `input` until it closes the pipe. A request that cannot be
/// parsed is answered `NONE` (get) or `not-writable` (set), never with a crash: snmpd would
/// restart the handler and lose a request.
pub fn serve(
    o: &mut dyn Outlets,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> std::io::Result<()> {
    while let Some(cmd) = read_line(input)? {
        let cmd = cmd.to_ascii_lowercase();
        let req = match cmd.as_str() {
            "" => continue, // the blank line snmpd sends after each set
            "ping" => Some(Request::Ping),
            "get" | "getnext" | "set" => {
                let Some(oid_line) = read_line(input)? else {
                    break;
                };
                let value_line = if cmd == "set" {
                    match read_line(input)? {
                        Some(v) => v,
                        None => break,
                    }
                } else {
                    String::new()
                };
                parse_oid(&oid_line).map(|oid| match cmd.as_str() {
                    "get" => Request::Get(oid),
                    "getnext" => Request::GetNext(oid),
                    _ => {
                        let (t, v) = value_line.split_once(' ').unwrap_or((&value_line, ""));
                        Request::Set(oid, t.to_string(), v.to_string())
                    }
                })
            }
            _ => None,
        };
        let reply = match req {
            Some(r) => answer(o, &r),
            None if cmd == "set" => vec!["not-writable".into()],
            None => vec!["NONE".into()],
        };
        for l in reply {
            writeln!(output, "{l}")?;
        }
        output.flush()?;
    }
    Ok(())
}

/// The lab's outlets: outlet i is node ni's power.
struct LabOutlets {
    lab: crate::Lab,
}

impl Outlets for LabOutlets {
    fn outlets(&self) -> Vec<usize> {
        (1..=self.lab.nodes().len()).collect()
    }
    fn state(&self, outlet: usize) -> bool {
        read_outlet(self.lab.state_dir(), outlet)
    }
    fn name(&self, outlet: usize) -> String {
        format!("n{outlet}")
    }
    fn switch(&mut self, outlet: usize, on: bool) -> Result<(), String> {
        self.lab
            .switch_outlet(&format!("n{outlet}"), on)
            .map_err(|e| e.to_string())
    }
}

/// `axha-lab-node pdu-handler STATE_DIR`: snmpd's pass_persist handler for the lab's PDU.
pub fn handler_main(args: &[String]) -> Result<(), String> {
    let usage = "usage: axha-lab-node pdu-handler STATE_DIR";
    let [_, dir] = args else {
        return Err(usage.into());
    };
    let lab = crate::Lab::open_state(Path::new(dir)).map_err(|e| e.to_string())?;
    let mut outlets = LabOutlets { lab };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut output = std::io::stdout().lock();
    serve(&mut outlets, &mut input, &mut output).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Fake {
        on: Vec<bool>,
        switched: Vec<(usize, bool)>,
    }

    impl Outlets for Fake {
        fn outlets(&self) -> Vec<usize> {
            (1..=self.on.len()).collect()
        }
        fn state(&self, n: usize) -> bool {
            self.on[n - 1]
        }
        fn name(&self, n: usize) -> String {
            format!("n{n}")
        }
        fn switch(&mut self, n: usize, on: bool) -> Result<(), String> {
            self.on[n - 1] = on;
            self.switched.push((n, on));
            Ok(())
        }
    }

    fn run(f: &mut Fake, input: &str) -> String {
        let mut out = Vec::new();
        serve(f, &mut input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn get_and_walk_in_numeric_order() {
        let mut f = Fake {
            on: vec![true; 10],
            ..Fake::default()
        };
        let out = run(
            &mut f,
            "PING\nget\n.1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.2\nget\n.1.3.6.1.4.1.318.9\n",
        );
        assert_eq!(
            out,
            "PONG\n.1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.2\ninteger\n1\nNONE\n"
        );
        // outlet 10 comes after 9, not after 1 (numeric, not text, order)
        let out = run(&mut f, "getnext\n.1.3.6.1.4.1.318.1.1.12.3.5.1.1.2.9\n");
        assert_eq!(
            out, ".1.3.6.1.4.1.318.1.1.12.3.5.1.1.2.10\nstring\nn10\n",
            "{out}"
        );
        // the legacy table (.1.1.4...) sorts before the rPDU one (.1.1.12...)
        let out = run(&mut f, "getnext\n.1.3.6.1.4.1.318.1.1.4.4.2.1.4.10\n");
        assert!(
            out.starts_with(".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.1\n"),
            "{out}"
        );
        let out = run(&mut f, "getnext\n.1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.10\n");
        assert_eq!(out, "NONE\n");
        assert_eq!(run(&mut f, "getnext\n.1.3.6.1.4.1.319\n"), "NONE\n");
    }

    #[test]
    fn set_switches_and_skips_the_blank_line() {
        let mut f = Fake {
            on: vec![true, true],
            ..Fake::default()
        };
        let out = run(
            &mut f,
            "set\n.1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.2\ninteger 2\n\nget\n.1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.2\n",
        );
        assert_eq!(
            out,
            "DONE\n.1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.2\ninteger\n2\n"
        );
        assert_eq!(f.switched, vec![(2, false)]);
        run(
            &mut f,
            "set\n.1.3.6.1.4.1.318.1.1.4.4.2.1.3.1\nINTEGER 3\n\n",
        );
        assert_eq!(f.switched, vec![(2, false), (1, false), (1, true)]);
    }

    #[test]
    fn bad_sets_are_refused_with_their_snmp_error() {
        let mut f = Fake {
            on: vec![true],
            ..Fake::default()
        };
        let ctl = ".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4";
        for (input, want) in [
            (format!("set\n{ctl}.1\nstring 2\n\n"), "wrong-type"),
            (format!("set\n{ctl}.1\ninteger 9\n\n"), "wrong-value"),
            (format!("set\n{ctl}.7\ninteger 2\n\n"), "not-writable"),
            (
                "set\n.1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.1\ninteger 2\n\n".into(),
                "not-writable",
            ),
            ("set\nnot-an-oid\ninteger 2\n\n".into(), "not-writable"),
        ] {
            assert_eq!(run(&mut f, &input), format!("{want}\n"), "{input}");
        }
        assert!(f.switched.is_empty());
    }

    #[test]
    fn garbage_never_crashes() {
        let mut f = Fake {
            on: vec![true],
            ..Fake::default()
        };
        assert_eq!(run(&mut f, "hello\nget\n\u{1b}[31m\n"), "NONE\nNONE\n");
        assert_eq!(run(&mut f, "get\n"), "");
        // a line longer than the cap is cut into pieces, each refused
        let long = format!("get\n{}\n", "1.".repeat(5000));
        let out = run(&mut f, &long);
        assert!(out.lines().all(|l| l == "NONE") && !out.is_empty(), "{out}");
        let mut out = Vec::new();
        serve(&mut f, &mut &b"get\n.1.\xff\n"[..], &mut out).unwrap();
        assert_eq!(out, b"NONE\n");
    }

    #[test]
    fn oids_and_conf() {
        assert_eq!(parse_oid(".1.3.6"), Some(vec![1, 3, 6]));
        assert_eq!(parse_oid("1.3"), Some(vec![1, 3]));
        assert_eq!(parse_oid(""), None);
        assert_eq!(parse_oid(".1..3"), None);
        let c = snmpd_conf("s3cret", &["/h".into(), "pdu-handler".into(), "/d".into()]);
        assert!(c.contains("rwcommunity s3cret 10.231.1.0/24\n"), "{c}");
        assert!(c.contains("pass_persist .1.3.6.1.4.1.318 /h pdu-handler /d\n"));
        assert!(c.contains("sysObjectID .1.3.6.1.4.1.318.1.3.4.5\n"));
        assert_eq!(PDU_IP.to_string(), "10.231.1.250");
    }
}
