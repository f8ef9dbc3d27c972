//! Pure encoders and decoders of the RMCP / RMCP+ datagrams used for chassis power
//! (IPMI v2.0 §13.1-§13.28). Nothing here does I/O.

use crate::crypto::SessionKeys;

pub mod bmc;

/// RMCP header, version 1.0, no ACK, class IPMI (§13.1.3).
pub const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xff, 0x07];
/// Authentication type / format byte meaning "RMCP+ (IPMI v2.0) session header" (§13.6).
const AUTH_FORMAT_RMCP_PLUS: u8 = 0x06;
/// BMC responder address and our software id as requester (§5.5, §13.8).
const BMC_SA: u8 = 0x20;
const REMOTE_SWID: u8 = 0x81;
/// Next-header byte of the integrity trailer (§13.6, table 13-8).
const NEXT_HEADER: u8 = 0x07;

/// RMCP+ payload types (§13.27.3, table 13-16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadType {
    /// An IPMI message inside a session.
    Ipmi = 0x00,
    /// Open Session Request (§13.17).
    OpenSessionRequest = 0x10,
    /// Open Session Response (§13.18).
    OpenSessionResponse = 0x11,
    /// RAKP Message 1 (§13.20).
    Rakp1 = 0x12,
    /// RAKP Message 2 (§13.21).
    Rakp2 = 0x13,
    /// RAKP Message 3 (§13.22).
    Rakp3 = 0x14,
    /// RAKP Message 4 (§13.23).
    Rakp4 = 0x15,
}

impl PayloadType {
    fn from_u8(b: u8) -> Option<PayloadType> {
        Some(match b {
            0x00 => PayloadType::Ipmi,
            0x10 => PayloadType::OpenSessionRequest,
            0x11 => PayloadType::OpenSessionResponse,
            0x12 => PayloadType::Rakp1,
            0x13 => PayloadType::Rakp2,
            0x14 => PayloadType::Rakp3,
            0x15 => PayloadType::Rakp4,
            _ => return None,
        })
    }
}

/// Why an inbound datagram was not accepted. Such datagrams are dropped (they may be late
/// duplicates or noise); only the last one is reported if nothing valid ever arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Not an RMCP+ (IPMI v2.0) session packet.
    NotRmcpPlus,
    /// Shorter than its headers or lengths say.
    Truncated,
    /// The integrity AuthCode does not match.
    BadIntegrity,
    /// The encrypted payload does not decrypt (bad padding or length).
    BadEncryption,
    /// An IPMI message checksum does not add up.
    BadChecksum,
    /// A payload type this client does not use.
    UnexpectedPayload(u8),
}

/// A decoded RMCP+ session packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// What the payload is.
    pub payload_type: PayloadType,
    /// The receiver's session id (ours, in the BMC's replies).
    pub session_id: u32,
    /// The session sequence number (0 outside a session).
    pub sequence: u32,
    /// The payload, decrypted.
    pub payload: Vec<u8>,
}

/// Protection of an active session: which of integrity / confidentiality the cipher suite has.
pub struct Protection<'a> {
    /// The session's keys (K1 for integrity, K2 for confidentiality).
    pub keys: &'a SessionKeys,
    /// Packets carry an AuthCode (HMAC-SHA1-96 or HMAC-SHA256-128, as the keys say).
    pub integrity: bool,
    /// Payloads are AES-CBC-128 encrypted.
    pub confidentiality: bool,
}

/// Wrap `payload` in an RMCP + RMCP+ session header (§13.6). Pre-session packets use
/// session id 0 and sequence 0 without protection. `iv` is used only when encrypting.
pub fn encode(
    payload_type: PayloadType,
    session_id: u32,
    sequence: u32,
    payload: &[u8],
    protection: Option<&Protection>,
    iv: [u8; 16],
) -> Vec<u8> {
    let mut type_byte = payload_type as u8;
    let body = match protection {
        Some(p) if p.confidentiality => {
            type_byte |= 0x80;
            p.keys.encrypt(payload, iv)
        }
        _ => payload.to_vec(),
    };
    let integrity = protection.filter(|p| p.integrity);
    if integrity.is_some() {
        type_byte |= 0x40;
    }
    let mut pkt = RMCP_HEADER.to_vec();
    pkt.push(AUTH_FORMAT_RMCP_PLUS);
    pkt.push(type_byte);
    pkt.extend_from_slice(&session_id.to_le_bytes());
    pkt.extend_from_slice(&sequence.to_le_bytes());
    pkt.extend_from_slice(&(body.len() as u16).to_le_bytes());
    pkt.extend_from_slice(&body);
    if let Some(p) = integrity {
        // Integrity pad: 0xFF so that everything from the auth-format byte through the next
        // header byte is a multiple of 4 (§13.28.5).
        let covered = pkt.len() - RMCP_HEADER.len() + 2;
        let pad = (4 - covered % 4) % 4;
        pkt.extend(std::iter::repeat_n(0xff, pad));
        pkt.push(pad as u8);
        pkt.push(NEXT_HEADER);
        let code = p.keys.integrity(&pkt[RMCP_HEADER.len()..]);
        pkt.extend_from_slice(&code);
    }
    pkt
}

/// Unwrap an inbound RMCP+ packet, checking integrity and decrypting as the session demands.
/// Before the session is active (`protection` None) protected packets are rejected.
pub fn decode(dgram: &[u8], protection: Option<&Protection>) -> Result<Packet, WireError> {
    if dgram.len() < 16 || dgram[0] != 0x06 || dgram[3] & 0x1f != 0x07 {
        return Err(WireError::NotRmcpPlus);
    }
    if dgram[4] != AUTH_FORMAT_RMCP_PLUS {
        return Err(WireError::NotRmcpPlus);
    }
    let type_byte = dgram[5];
    let encrypted = type_byte & 0x80 != 0;
    let authenticated = type_byte & 0x40 != 0;
    let payload_type =
        PayloadType::from_u8(type_byte & 0x3f).ok_or(WireError::UnexpectedPayload(type_byte))?;
    let session_id = u32::from_le_bytes(dgram[6..10].try_into().expect("4 bytes"));
    let sequence = u32::from_le_bytes(dgram[10..14].try_into().expect("4 bytes"));
    let len = u16::from_le_bytes([dgram[14], dgram[15]]) as usize;
    let end = 16 + len;
    if dgram.len() < end {
        return Err(WireError::Truncated);
    }
    let wants_integrity = protection.is_some_and(|p| p.integrity);
    let wants_confidentiality = protection.is_some_and(|p| p.confidentiality);
    // An active session's packets must carry exactly the protection negotiated; a reply
    // without it could be forged (§13.28).
    if payload_type == PayloadType::Ipmi
        && (authenticated != wants_integrity || encrypted != wants_confidentiality)
    {
        return Err(WireError::BadIntegrity);
    }
    if authenticated {
        let p = protection.ok_or(WireError::BadIntegrity)?;
        let code_len = p.keys.integrity_len();
        if dgram.len() < end + 2 + code_len {
            return Err(WireError::Truncated);
        }
        let code_at = dgram.len() - code_len;
        if !p
            .keys
            .check_integrity(&dgram[4..code_at], &dgram[code_at..])
        {
            return Err(WireError::BadIntegrity);
        }
    }
    let body = &dgram[16..end];
    let payload = if encrypted {
        let p = protection.ok_or(WireError::BadEncryption)?;
        p.keys.decrypt(body).ok_or(WireError::BadEncryption)?
    } else {
        body.to_vec()
    };
    Ok(Packet {
        payload_type,
        session_id,
        sequence,
        payload,
    })
}

/// IPMB two's-complement checksum (§13.8).
pub fn checksum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |a, x| a.wrapping_add(*x)).wrapping_neg()
}

/// An IPMI request message for the LAN (§13.8): BMC address, netFn/LUN, checksum, our
/// software id, sequence/LUN, command, data, checksum.
pub fn ipmi_request(netfn: u8, cmd: u8, rq_seq: u8, data: &[u8]) -> Vec<u8> {
    let head = [BMC_SA, netfn << 2];
    let mut m = head.to_vec();
    m.push(checksum(&head));
    let mut body = vec![REMOTE_SWID, (rq_seq & 0x3f) << 2, cmd];
    body.extend_from_slice(data);
    let c = checksum(&body);
    m.extend_from_slice(&body);
    m.push(c);
    m
}

/// A decoded IPMI response message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiResponse {
    /// Network function of the response (request's + 1).
    pub netfn: u8,
    /// Request sequence number, to match the request.
    pub rq_seq: u8,
    /// The command answered.
    pub cmd: u8,
    /// Completion code (0 is success, §5.2).
    pub completion: u8,
    /// Response data after the completion code.
    pub data: Vec<u8>,
}

/// Parse an IPMI response message, checking both checksums (§13.8).
pub fn parse_ipmi_response(m: &[u8]) -> Result<IpmiResponse, WireError> {
    if m.len() < 8 {
        return Err(WireError::Truncated);
    }
    if checksum(&m[..2]) != m[2] || checksum(&m[3..m.len() - 1]) != m[m.len() - 1] {
        return Err(WireError::BadChecksum);
    }
    Ok(IpmiResponse {
        netfn: m[1] >> 2,
        rq_seq: m[4] >> 2,
        cmd: m[5],
        completion: m[6],
        data: m[7..m.len() - 1].to_vec(),
    })
}

/// The IPMI message of a session-less IPMI v1.5 packet (authentication type none, §13.6):
/// how consoles ask Get Channel Authentication Capabilities and Cipher Suites before any
/// session, and how BMCs answer. `None` for anything else.
pub fn decode_v15_sessionless(dgram: &[u8]) -> Option<&[u8]> {
    if dgram.len() < 14 || dgram[..4] != RMCP_HEADER || dgram[4] != 0x00 {
        return None;
    }
    let len = dgram[13] as usize;
    dgram.get(14..14 + len)
}

/// A session-less IPMI v1.5 packet around `msg`.
pub fn encode_v15_sessionless(msg: &[u8]) -> Vec<u8> {
    let mut p = RMCP_HEADER.to_vec();
    p.push(0x00);
    p.extend_from_slice(&[0; 8]);
    p.push(msg.len() as u8);
    p.extend_from_slice(msg);
    p
}

/// Get Channel Cipher Suites request data (§22.15): this channel (0x0E), IPMI payload, list
/// by cipher suite (bit 7), 16-byte chunk `index`.
pub fn cipher_suites_request(index: u8) -> [u8; 3] {
    [0x0e, 0x00, 0x80 | (index & 0x3f)]
}

/// The suite ids of Get Channel Cipher Suites record data (§22.15.2), all chunks joined: a
/// standard record is 0xC0, the id, then algorithm bytes (tagged 00, 01, 10 in bits 7-6);
/// an OEM record is 0xC1, the id, a 3-byte IANA number, then algorithm bytes.
pub fn parse_cipher_suite_ids(records: &[u8]) -> Vec<u8> {
    let mut ids = Vec::new();
    let mut i = 0;
    while i < records.len() {
        match records[i] {
            0xc0 | 0xc1 if i + 1 < records.len() => {
                ids.push(records[i + 1]);
                i += if records[i] == 0xc0 { 2 } else { 5 };
            }
            _ => i += 1,
        }
    }
    ids
}

/// Algorithm payload records of the Open Session Request (§13.17): type, length 8, algorithm.
fn algorithm_record(kind: u8, alg: u8) -> [u8; 8] {
    [kind, 0, 0, 8, alg, 0, 0, 0]
}

/// RMCP+ Open Session Request (§13.17).
pub fn open_session_request(
    tag: u8,
    privilege: u8,
    console_sid: u32,
    algorithms: (u8, u8, u8),
) -> Vec<u8> {
    let mut p = vec![tag, privilege, 0, 0];
    p.extend_from_slice(&console_sid.to_le_bytes());
    p.extend_from_slice(&algorithm_record(0, algorithms.0));
    p.extend_from_slice(&algorithm_record(1, algorithms.1));
    p.extend_from_slice(&algorithm_record(2, algorithms.2));
    p
}

/// Open Session Response (§13.18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionResponse {
    /// The console's message tag, echoed.
    pub tag: u8,
    /// RMCP+ status code (0 is success, §13.24).
    pub status: u8,
    /// The console's session id, echoed; `None` in the 2-byte error form some BMCs send
    /// (ipmi_sim does, for a cipher suite it lacks).
    pub console_sid: Option<u32>,
    /// The BMC's session id.
    pub bmc_sid: u32,
    /// (authentication, integrity, confidentiality) algorithms the BMC chose.
    pub algorithms: (u8, u8, u8),
}

/// RMCP+ Open Session Response (§13.18). On error the BMC may send only the first 8 bytes,
/// or even only the tag and the status.
pub fn parse_open_session_response(p: &[u8]) -> Result<OpenSessionResponse, WireError> {
    if p.len() < 2 || (p[1] == 0 && p.len() < 8) {
        return Err(WireError::Truncated);
    }
    let console_sid = p
        .get(4..8)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
    if p[1] != 0 {
        return Ok(OpenSessionResponse {
            tag: p[0],
            status: p[1],
            console_sid,
            bmc_sid: 0,
            algorithms: (0, 0, 0),
        });
    }
    if p.len() < 36 {
        return Err(WireError::Truncated);
    }
    Ok(OpenSessionResponse {
        tag: p[0],
        status: 0,
        console_sid,
        bmc_sid: u32::from_le_bytes(p[8..12].try_into().expect("4 bytes")),
        algorithms: (p[16] & 0x3f, p[24] & 0x3f, p[32] & 0x3f),
    })
}

/// RAKP Message 1 (§13.20).
pub fn rakp1(tag: u8, bmc_sid: u32, console_random: &[u8; 16], role: u8, user: &[u8]) -> Vec<u8> {
    let mut p = vec![tag, 0, 0, 0];
    p.extend_from_slice(&bmc_sid.to_le_bytes());
    p.extend_from_slice(console_random);
    p.extend_from_slice(&[role, 0, 0, user.len() as u8]);
    p.extend_from_slice(user);
    p
}

/// RAKP Message 2 (§13.21): the BMC's proof that it knows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp2 {
    /// The console's message tag, echoed.
    pub tag: u8,
    /// RMCP+ status code (0 is success, §13.24).
    pub status: u8,
    /// The console's session id, echoed.
    pub console_sid: u32,
    /// The BMC's random number.
    pub bmc_random: [u8; 16],
    /// The BMC's GUID.
    pub bmc_guid: [u8; 16],
    /// HMAC over the exchange, keyed by the password (K_UID).
    pub auth_code: Vec<u8>,
}

/// RAKP Message 2 (§13.21).
pub fn parse_rakp2(p: &[u8]) -> Result<Rakp2, WireError> {
    if p.len() < 8 {
        return Err(WireError::Truncated);
    }
    let console_sid = u32::from_le_bytes(p[4..8].try_into().expect("4 bytes"));
    if p[1] != 0 {
        return Ok(Rakp2 {
            tag: p[0],
            status: p[1],
            console_sid,
            bmc_random: [0; 16],
            bmc_guid: [0; 16],
            auth_code: Vec::new(),
        });
    }
    if p.len() < 40 {
        return Err(WireError::Truncated);
    }
    Ok(Rakp2 {
        tag: p[0],
        status: 0,
        console_sid,
        bmc_random: p[8..24].try_into().expect("16 bytes"),
        bmc_guid: p[24..40].try_into().expect("16 bytes"),
        auth_code: p[40..].to_vec(),
    })
}

/// RAKP Message 3 (§13.22).
pub fn rakp3(tag: u8, status: u8, bmc_sid: u32, auth_code: &[u8]) -> Vec<u8> {
    let mut p = vec![tag, status, 0, 0];
    p.extend_from_slice(&bmc_sid.to_le_bytes());
    p.extend_from_slice(auth_code);
    p
}

/// RAKP Message 4 (§13.23): the BMC confirms the session is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp4 {
    /// The console's message tag, echoed.
    pub tag: u8,
    /// RMCP+ status code (0 is success, §13.24).
    pub status: u8,
    /// The console's session id, echoed.
    pub console_sid: u32,
    /// Integrity check value, keyed by the session integrity key (SIK).
    pub integrity_check: Vec<u8>,
}

/// RAKP Message 4 (§13.23).
pub fn parse_rakp4(p: &[u8]) -> Result<Rakp4, WireError> {
    if p.len() < 8 {
        return Err(WireError::Truncated);
    }
    Ok(Rakp4 {
        tag: p[0],
        status: p[1],
        console_sid: u32::from_le_bytes(p[4..8].try_into().expect("4 bytes")),
        integrity_check: p[8..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{AuthAlgorithm, IntegrityAlgorithm, SessionKeys};

    #[test]
    fn request_checksums_and_response_parse() {
        let m = ipmi_request(0x00, 0x01, 5, &[]);
        assert_eq!(m[..3].iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
        assert_eq!(m[3..].iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
        assert_eq!(m[4], 5 << 2);
        // A Get Chassis Status response: power on.
        let head = [0x81u8, 0x01 << 2];
        let body = [0x20u8, 5 << 2, 0x01, 0x00, 0x01, 0x00, 0x40];
        let mut r = head.to_vec();
        r.push(checksum(&head));
        r.extend_from_slice(&body);
        r.push(checksum(&body));
        let resp = parse_ipmi_response(&r).unwrap();
        assert_eq!(
            (resp.netfn, resp.rq_seq, resp.cmd, resp.completion),
            (1, 5, 1, 0)
        );
        assert_eq!(resp.data, vec![0x01, 0x00, 0x40]);
        let mut bad = r.clone();
        bad[7] ^= 1;
        assert_eq!(parse_ipmi_response(&bad), Err(WireError::BadChecksum));
        assert_eq!(parse_ipmi_response(&r[..5]), Err(WireError::Truncated));
    }

    #[test]
    fn protected_packet_roundtrip_and_tamper() {
        let sha1 = SessionKeys::derive(
            AuthAlgorithm::HmacSha1,
            IntegrityAlgorithm::HmacSha1_96,
            vec![1u8; 20],
        );
        let sha256 = SessionKeys::derive(
            AuthAlgorithm::HmacSha256,
            IntegrityAlgorithm::HmacSha256_128,
            vec![1u8; 32],
        );
        for (keys, integrity, confidentiality) in [
            (&sha1, true, true),
            (&sha1, true, false),
            (&sha256, true, true),
        ] {
            let code_len = keys.integrity_len();
            let p = Protection {
                keys,
                integrity,
                confidentiality,
            };
            let pkt = encode(PayloadType::Ipmi, 0x1234, 7, b"hello", Some(&p), [9; 16]);
            assert_eq!(
                (pkt.len() - 4 - code_len) % 4,
                0,
                "integrity pad aligns to 4"
            );
            let back = decode(&pkt, Some(&p)).unwrap();
            assert_eq!(back.payload, b"hello");
            assert_eq!((back.session_id, back.sequence), (0x1234, 7));
            let mut t = pkt.clone();
            t[17] ^= 0x80;
            assert_eq!(decode(&t, Some(&p)), Err(WireError::BadIntegrity));
            // Unprotected reply in a protected session is refused.
            let plain = encode(PayloadType::Ipmi, 0x1234, 8, b"x", None, [0; 16]);
            assert_eq!(decode(&plain, Some(&p)), Err(WireError::BadIntegrity));
        }
    }

    #[test]
    fn decode_rejects_garbage() {
        assert_eq!(decode(b"", None), Err(WireError::NotRmcpPlus));
        assert_eq!(
            decode(
                &[0x06, 0, 0xff, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                None
            ),
            Err(WireError::NotRmcpPlus)
        );
        let mut p = encode(PayloadType::Rakp2, 0, 0, &[1, 2, 3], None, [0; 16]);
        p.truncate(p.len() - 1);
        assert_eq!(decode(&p, None), Err(WireError::Truncated));
    }

    #[test]
    fn sessionless_v15_roundtrip() {
        let msg = ipmi_request(0x06, 0x38, 0, &[0x8e, 0x04]);
        let pkt = encode_v15_sessionless(&msg);
        assert_eq!(decode_v15_sessionless(&pkt), Some(msg.as_slice()));
        assert_eq!(decode_v15_sessionless(&pkt[..pkt.len() - 1]), None);
        let v2 = encode(PayloadType::Ipmi, 0, 0, &msg, None, [0; 16]);
        assert_eq!(decode_v15_sessionless(&v2), None);
    }

    #[test]
    fn cipher_suite_records_roundtrip() {
        use crate::CipherSuite;
        let records = bmc::cipher_suite_records(&CipherSuite::SUPPORTED);
        assert_eq!(parse_cipher_suite_ids(&records), vec![2, 3, 17]);
        // ipmi_sim's first chunk: suites 0, 1, 2 (no integrity or encryption for 0 and 1).
        let sim = [
            0xc0, 0, 0x00, 0x40, 0x80, 0xc0, 1, 0x01, 0x40, 0x80, 0xc0, 2, 0x01, 0x41,
        ];
        assert_eq!(parse_cipher_suite_ids(&sim), vec![0, 1, 2]);
        let oem = [
            0xc1, 0x80, 0xa2, 0x02, 0x00, 0x01, 0x41, 0x81, 0xc0, 17, 0x03, 0x44,
        ];
        assert_eq!(parse_cipher_suite_ids(&oem), vec![0x80, 17]);
        assert_eq!(parse_cipher_suite_ids(&[0xc0]), Vec::<u8>::new());
        assert_eq!(cipher_suites_request(0x41), [0x0e, 0, 0x81]);
    }

    #[test]
    fn session_messages_layout() {
        let o = open_session_request(3, 4, 0xa0a1a2a3, (1, 1, 1));
        assert_eq!(o.len(), 32);
        assert_eq!(&o[4..8], &[0xa3, 0xa2, 0xa1, 0xa0]);
        assert_eq!(&o[8..16], &[0, 0, 0, 8, 1, 0, 0, 0]);
        assert_eq!(o[24], 2);
        let r = rakp1(1, 2, &[5; 16], 0x14, b"admin");
        assert_eq!(r.len(), 28 + 5);
        assert_eq!(r[24], 0x14);
        assert_eq!(r[27], 5);
        // Error form of an Open Session Response is 8 bytes long.
        let e = parse_open_session_response(&[3, 0x11, 0, 0, 1, 0, 0, 0]).unwrap();
        assert_eq!((e.status, e.console_sid), (0x11, Some(1)));
        let e = parse_open_session_response(&[3, 0x04]).unwrap();
        assert_eq!((e.tag, e.status, e.console_sid), (3, 0x04, None));
        assert!(parse_open_session_response(&[3, 0]).is_err());
        assert_eq!(
            parse_rakp2(&[1, 0, 0, 0, 1, 0, 0, 0]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            parse_rakp2(&[1, 0x0d, 0, 0, 1, 0, 0, 0]).unwrap().status,
            0x0d
        );
    }
}
