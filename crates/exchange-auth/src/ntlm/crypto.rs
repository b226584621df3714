//! NTLMv2 cryptography
//! ([MS-NLMP 3.3.2](https://learn.microsoft.com/openspecs/windows_protocols/ms-nlmp/5e550938-91d4-459f-b67d-75d70009e3f3)):
//! `NTOWFv2`, the NTLMv2 and LMv2 responses, the session base key and the MIC.
//!
//! Every key is a [`Key`], zeroed when dropped.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use zeroize::Zeroizing;

use super::message::utf16;

/// A 16-byte key (`ResponseKeyNT`, `SessionBaseKey`), zeroed when dropped.
pub(crate) type Key = Zeroizing<[u8; 16]>;

/// `HMAC_MD5(key, parts...)`.
pub(crate) fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `NTOWFv2(Passwd, User, UserDom)` =
/// `HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(ConcatenationOf(Uppercase(User), UserDom)))`.
pub(crate) fn ntowfv2(password: &str, user: &str, domain: &str) -> Key {
    let password = Zeroizing::new(utf16(password));
    let nt_hash: Key = Zeroizing::new(Md4::digest(password.as_slice()).into());
    let identity = utf16(&format!("{}{domain}", upcase(user)));
    Zeroizing::new(hmac_md5(nt_hash.as_slice(), &[&identity]))
}

/// Upper case as Windows maps it, one character to one (`ß` stays `ß`, where Unicode's full
/// mapping would make it `SS`).
fn upcase(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// What the client computes for one AUTHENTICATE message.
pub(crate) struct Responses {
    /// `NtChallengeResponse`: `NTProofStr` followed by the client blob.
    pub(crate) nt_response: Vec<u8>,
    /// `LmChallengeResponse`: LMv2, or `Z(24)` when the server sent `MsvAvTimestamp`.
    pub(crate) lm_response: Vec<u8>,
    /// `SessionBaseKey` = `HMAC_MD5(ResponseKeyNT, NTProofStr)`; without key exchange also
    /// the `ExportedSessionKey` the MIC is keyed with.
    pub(crate) session_base_key: Key,
}

/// The inputs of the NTLMv2 response besides the key.
pub(crate) struct ResponseInput<'a> {
    pub(crate) server_challenge: [u8; 8],
    pub(crate) client_challenge: [u8; 8],
    /// FILETIME: the server's `MsvAvTimestamp`, or now.
    pub(crate) timestamp: u64,
    /// The target information to return, `MsvAvEOL`-terminated.
    pub(crate) target_info: &'a [u8],
    /// Whether the server sent `MsvAvTimestamp` (then LMv2 is zeroed).
    pub(crate) server_timestamp: bool,
}

/// `ComputeResponse` for NTLMv2.
pub(crate) fn responses(response_key: &Key, input: &ResponseInput<'_>) -> Responses {
    // temp = 0x01 0x01 Z(6) Time ClientChallenge Z(4) ServerName Z(4)
    let mut blob = Vec::with_capacity(32 + input.target_info.len());
    blob.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    blob.extend_from_slice(&input.timestamp.to_le_bytes());
    blob.extend_from_slice(&input.client_challenge);
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(input.target_info);
    blob.extend_from_slice(&[0; 4]);
    let proof = hmac_md5(response_key.as_slice(), &[&input.server_challenge, &blob]);
    let mut nt_response = proof.to_vec();
    nt_response.extend_from_slice(&blob);
    let lm_response = if input.server_timestamp {
        vec![0; 24]
    } else {
        let mut lm = hmac_md5(
            response_key.as_slice(),
            &[&input.server_challenge, &input.client_challenge],
        )
        .to_vec();
        lm.extend_from_slice(&input.client_challenge);
        lm
    };
    Responses {
        nt_response,
        lm_response,
        session_base_key: Zeroizing::new(hmac_md5(response_key.as_slice(), &[&proof])),
    }
}

/// `MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE ‖ CHALLENGE ‖ AUTHENTICATE)`, the last with
/// its MIC field zeroed.
pub(crate) fn mic(
    exported_session_key: &Key,
    negotiate: &[u8],
    challenge: &[u8],
    authenticate: &[u8],
) -> [u8; 16] {
    hmac_md5(
        exported_session_key.as_slice(),
        &[negotiate, challenge, authenticate],
    )
}

/// Now as a FILETIME (100 ns ticks since 1601-01-01).
pub(crate) fn filetime_now() -> u64 {
    const UNIX_EPOCH_AS_FILETIME: u64 = 116_444_736_000_000_000;
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ticks = u64::try_from(since.as_nanos() / 100).unwrap_or(u64::MAX);
    UNIX_EPOCH_AS_FILETIME.saturating_add(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlm::av::tests::hex;

    // MS-NLMP 4.2.4: User "User", domain "Domain", password "Password", server challenge
    // 0123456789abcdef, client challenge aa*8, time 0, target info from the CHALLENGE of
    // 4.2.4.2 (MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server").
    const TARGET_INFO: &str =
        "02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000";

    fn spec_input(target_info: &[u8], server_timestamp: bool) -> ResponseInput<'_> {
        ResponseInput {
            server_challenge: [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            client_challenge: [0xaa; 8],
            timestamp: 0,
            target_info,
            server_timestamp,
        }
    }

    #[test]
    fn ntowfv2_matches_the_spec() {
        let key = ntowfv2("Password", "User", "Domain");
        assert_eq!(key.to_vec(), hex("0c868a403bfd7a93a3001ef22ef02e3f"));
        // The user is upper-cased, the domain is not.
        assert_eq!(ntowfv2("Password", "user", "Domain").to_vec(), key.to_vec());
        assert_ne!(ntowfv2("Password", "User", "DOMAIN").to_vec(), key.to_vec());
    }

    #[test]
    fn upper_case_is_one_to_one() {
        assert_eq!(upcase("svc-bems@contoso.com"), "SVC-BEMS@CONTOSO.COM");
        assert_eq!(upcase("straße"), "STRAßE");
        assert_eq!(upcase("émile"), "ÉMILE");
    }

    #[test]
    fn ntlmv2_and_lmv2_responses_match_the_spec() {
        let key = ntowfv2("Password", "User", "Domain");
        let target_info = hex(TARGET_INFO);
        let out = responses(&key, &spec_input(&target_info, false));
        assert_eq!(
            out.nt_response[..16],
            hex("68cd0ab851e51c96aabc927bebef6a1c")[..],
            "NTProofStr"
        );
        // The blob (temp) of 4.2.4.2.2, after NTProofStr.
        let temp = hex(&format!(
            "0101000000000000{}{}00000000{TARGET_INFO}00000000",
            "0000000000000000", "aaaaaaaaaaaaaaaa"
        ));
        assert_eq!(out.nt_response[16..], temp[..]);
        assert_eq!(
            out.lm_response,
            hex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"),
            "LMv2"
        );
        assert_eq!(
            out.session_base_key.to_vec(),
            hex("8de40ccadbc14a82f15cb0ad0de95ca3"),
            "SessionBaseKey"
        );
    }

    #[test]
    fn lmv2_is_zeroed_when_the_server_sent_a_timestamp() {
        let key = ntowfv2("Password", "User", "Domain");
        let target_info = hex(TARGET_INFO);
        let out = responses(&key, &spec_input(&target_info, true));
        assert_eq!(out.lm_response, vec![0; 24]);
        assert_eq!(
            out.nt_response[..16],
            hex("68cd0ab851e51c96aabc927bebef6a1c")[..]
        );
    }

    #[test]
    fn mic_is_hmac_md5_over_the_three_messages() {
        // Cross-checked with Python:
        // hmac.new(bytes.fromhex("8de40cca..."), b"NEG"+b"CHAL"+b"AUTH", "md5").hexdigest()
        let key = Zeroizing::new(
            <[u8; 16]>::try_from(hex("8de40ccadbc14a82f15cb0ad0de95ca3")).expect("16 bytes"),
        );
        assert_eq!(
            mic(&key, b"NEG", b"CHAL", b"AUTH").to_vec(),
            hex("c79b097b9872e96bc7e56893ef9d130e")
        );
    }

    #[test]
    fn filetime_is_after_2024() {
        // 2024-01-01T00:00:00Z as a FILETIME.
        assert!(filetime_now() > 133_485_408_000_000_000);
    }
}
