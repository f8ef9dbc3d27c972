//! The BMC's side of the same datagrams (IPMI v2.0 §13.17-§13.23, §13.8), for the project's
//! test BMC: it parses what a console sends and builds the answers. The console side
//! ([`super`]) and this side share the header, protection and checksum code, so each
//! message layout is written once per direction.

use super::{algorithm_record, checksum, WireError, BMC_SA};
use crate::CipherSuite;

/// Open Session Request (§13.17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionRequest {
    /// The console's message tag (echoed in the answer).
    pub tag: u8,
    /// The requested maximum privilege (0 = the highest the user may have).
    pub privilege: u8,
    /// The console's session id.
    pub console_sid: u32,
    /// (authentication, integrity, confidentiality) algorithms asked for.
    pub algorithms: (u8, u8, u8),
}

/// Parse an Open Session Request (three 8-byte algorithm records after 8 bytes of header).
pub fn parse_open_session_request(p: &[u8]) -> Result<OpenSessionRequest, WireError> {
    if p.len() < 32 {
        return Err(WireError::Truncated);
    }
    Ok(OpenSessionRequest {
        tag: p[0],
        privilege: p[1] & 0x0f,
        console_sid: u32::from_le_bytes(p[4..8].try_into().expect("4 bytes")),
        algorithms: (p[12] & 0x3f, p[20] & 0x3f, p[28] & 0x3f),
    })
}

/// Open Session Response (§13.18): the full form on success, the 8-byte form on error.
pub fn open_session_response(
    req: &OpenSessionRequest,
    status: u8,
    privilege: u8,
    bmc_sid: u32,
) -> Vec<u8> {
    let mut p = vec![req.tag, status, privilege, 0];
    p.extend_from_slice(&req.console_sid.to_le_bytes());
    if status != 0 {
        return p;
    }
    p.extend_from_slice(&bmc_sid.to_le_bytes());
    p.extend_from_slice(&algorithm_record(0, req.algorithms.0));
    p.extend_from_slice(&algorithm_record(1, req.algorithms.1));
    p.extend_from_slice(&algorithm_record(2, req.algorithms.2));
    p
}

/// RAKP Message 1 (§13.20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp1 {
    /// The console's message tag.
    pub tag: u8,
    /// The BMC's session id, from the Open Session Response.
    pub bmc_sid: u32,
    /// The console's random number.
    pub console_random: [u8; 16],
    /// The role byte: requested maximum privilege (bits 0-3) and name-only lookup (bit 4).
    pub role: u8,
    /// The user name (empty for the null user).
    pub user: Vec<u8>,
}

/// Parse RAKP Message 1.
pub fn parse_rakp1(p: &[u8]) -> Result<Rakp1, WireError> {
    if p.len() < 28 {
        return Err(WireError::Truncated);
    }
    let ulen = p[27] as usize;
    let user = p.get(28..28 + ulen).ok_or(WireError::Truncated)?;
    Ok(Rakp1 {
        tag: p[0],
        bmc_sid: u32::from_le_bytes(p[4..8].try_into().expect("4 bytes")),
        console_random: p[8..24].try_into().expect("16 bytes"),
        role: p[24],
        user: user.to_vec(),
    })
}

/// RAKP Message 2 (§13.21): on error only the first 8 bytes.
pub fn rakp2(
    tag: u8,
    status: u8,
    console_sid: u32,
    bmc_random: &[u8; 16],
    bmc_guid: &[u8; 16],
    auth_code: &[u8],
) -> Vec<u8> {
    let mut p = vec![tag, status, 0, 0];
    p.extend_from_slice(&console_sid.to_le_bytes());
    if status == 0 {
        p.extend_from_slice(bmc_random);
        p.extend_from_slice(bmc_guid);
        p.extend_from_slice(auth_code);
    }
    p
}

/// RAKP Message 3 (§13.22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp3 {
    /// The console's message tag.
    pub tag: u8,
    /// The console's status: non-zero aborts the session.
    pub status: u8,
    /// The BMC's session id.
    pub bmc_sid: u32,
    /// The console's proof that it knows the password.
    pub auth_code: Vec<u8>,
}

/// Parse RAKP Message 3.
pub fn parse_rakp3(p: &[u8]) -> Result<Rakp3, WireError> {
    if p.len() < 8 {
        return Err(WireError::Truncated);
    }
    Ok(Rakp3 {
        tag: p[0],
        status: p[1],
        bmc_sid: u32::from_le_bytes(p[4..8].try_into().expect("4 bytes")),
        auth_code: p[8..].to_vec(),
    })
}

/// RAKP Message 4 (§13.23).
pub fn rakp4(tag: u8, status: u8, console_sid: u32, icv: &[u8]) -> Vec<u8> {
    let mut p = vec![tag, status, 0, 0];
    p.extend_from_slice(&console_sid.to_le_bytes());
    if status == 0 {
        p.extend_from_slice(icv);
    }
    p
}

/// Get Channel Cipher Suites record data for `suites` (§22.15.2): per suite 0xC0, its id and
/// its three algorithms tagged 00, 01 and 10 in bits 7-6.
pub fn cipher_suite_records(suites: &[CipherSuite]) -> Vec<u8> {
    let mut records = Vec::new();
    for s in suites {
        let (a, i, c) = s.algorithms();
        records.extend_from_slice(&[0xc0, s.number(), a, 0x40 | i, 0x80 | c]);
    }
    records
}

/// An IPMI request message from the LAN (§13.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiRequest {
    /// Network function (even: a request).
    pub netfn: u8,
    /// The requester's address (the console's software id).
    pub rq_sa: u8,
    /// Request sequence number, echoed in the response.
    pub rq_seq: u8,
    /// The requester's LUN, echoed in the response.
    pub rq_lun: u8,
    /// The command.
    pub cmd: u8,
    /// The request data.
    pub data: Vec<u8>,
}

/// Parse an IPMI request message, checking both checksums.
pub fn parse_ipmi_request(m: &[u8]) -> Result<IpmiRequest, WireError> {
    if m.len() < 7 {
        return Err(WireError::Truncated);
    }
    if checksum(&m[..2]) != m[2] || checksum(&m[3..m.len() - 1]) != m[m.len() - 1] {
        return Err(WireError::BadChecksum);
    }
    Ok(IpmiRequest {
        netfn: m[1] >> 2,
        rq_sa: m[3],
        rq_seq: m[4] >> 2,
        rq_lun: m[4] & 0x03,
        cmd: m[5],
        data: m[6..m.len() - 1].to_vec(),
    })
}

/// The response message to `req` (§13.8): completion code, then `data`.
pub fn ipmi_response(req: &IpmiRequest, completion: u8, data: &[u8]) -> Vec<u8> {
    let head = [req.rq_sa, (req.netfn + 1) << 2 | req.rq_lun];
    let mut m = head.to_vec();
    m.push(checksum(&head));
    let mut body = vec![BMC_SA, req.rq_seq << 2, req.cmd, completion];
    body.extend_from_slice(data);
    let c = checksum(&body);
    m.extend_from_slice(&body);
    m.push(c);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    #[test]
    fn console_and_bmc_sides_agree() {
        let req = wire::open_session_request(7, 4, 0xa0a1a2a3, (3, 4, 1));
        let o = parse_open_session_request(&req).unwrap();
        assert_eq!(
            (o.tag, o.privilege, o.console_sid, o.algorithms),
            (7, 4, 0xa0a1a2a3, (3, 4, 1))
        );
        let resp = wire::parse_open_session_response(&open_session_response(&o, 0, 4, 9)).unwrap();
        assert_eq!(
            (resp.status, resp.console_sid, resp.bmc_sid, resp.algorithms),
            (0, Some(0xa0a1a2a3), 9, (3, 4, 1))
        );
        let err = wire::parse_open_session_response(&open_session_response(&o, 0x11, 0, 0));
        assert_eq!(err.unwrap().status, 0x11);

        let r1 = parse_rakp1(&wire::rakp1(7, 9, &[5; 16], 0x14, b"admin")).unwrap();
        assert_eq!(
            (r1.bmc_sid, r1.role, r1.user.as_slice()),
            (9, 0x14, &b"admin"[..])
        );
        assert!(parse_rakp1(&wire::rakp1(7, 9, &[5; 16], 0x14, b"admin")[..30]).is_err());
        let r2 = wire::parse_rakp2(&rakp2(7, 0, 1, &[2; 16], &[3; 16], &[4; 32])).unwrap();
        assert_eq!((r2.bmc_random, r2.auth_code.len()), ([2; 16], 32));
        assert_eq!(
            wire::parse_rakp2(&rakp2(7, 0x0d, 1, &[0; 16], &[0; 16], &[]))
                .unwrap()
                .status,
            0x0d
        );
        let r3 = parse_rakp3(&wire::rakp3(7, 0, 9, &[6; 32])).unwrap();
        assert_eq!((r3.bmc_sid, r3.auth_code.len()), (9, 32));
        let r4 = wire::parse_rakp4(&rakp4(7, 0, 1, &[8; 16])).unwrap();
        assert_eq!((r4.console_sid, r4.integrity_check.len()), (1, 16));

        let q = parse_ipmi_request(&wire::ipmi_request(0x00, 0x02, 5, &[4])).unwrap();
        assert_eq!(
            (q.netfn, q.cmd, q.rq_seq, q.data.as_slice()),
            (0, 2, 5, &[4u8][..])
        );
        let a = wire::parse_ipmi_response(&ipmi_response(&q, 0, &[1, 2, 3])).unwrap();
        assert_eq!((a.netfn, a.cmd, a.rq_seq, a.completion), (1, 2, 5, 0));
        assert_eq!(a.data, vec![1, 2, 3]);
        let mut bad = wire::ipmi_request(0x00, 0x02, 5, &[4]);
        bad[6] ^= 1;
        assert_eq!(parse_ipmi_request(&bad), Err(WireError::BadChecksum));
    }
}
