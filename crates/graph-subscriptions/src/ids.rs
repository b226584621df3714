//! Ids from Graph, checked for their documented form before any use.
//!
//! | id | documented form | where it comes from |
//! |---|---|---|
//! | subscription `id` | a GUID, `7f105c7d-2dc5-4530-97cd-4e7ae6534c07` ([subscription]) | Graph's answers, and every notification POSTed to the webhook (unauthenticated) |
//! | message `id` | `restId`: the EWS id in URL-safe base64, `AAMkAGI2...=` ([message]) | `resourceData.id` of a change notification |
//!
//! An id that breaks its form is refused where it is read; a notification carrying one is
//! skipped. Message ids travel as the EWS form (`+` for `-`, `/` for `_`), so that a consumer
//! that sees the same message through EWS and through Graph (a tenant moving from one to the
//! other) can tell.
//!
//! [subscription]: https://learn.microsoft.com/graph/api/resources/subscription
//! [message]: https://learn.microsoft.com/graph/api/resources/message

use sha2::{Digest as _, Sha256};

/// The longest message id accepted (Graph's are about 150 characters).
pub(crate) const MESSAGE_ID_MAX: usize = 512;

/// Whether `id` is a subscription id: a GUID in its 8-4-4-4-12 hexadecimal form.
pub(crate) fn is_subscription_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Whether `id` is a message id: 1 to [`MESSAGE_ID_MAX`] characters of URL-safe base64
/// (or its EWS form), with `=` padding.
pub(crate) fn is_message_id(id: &str) -> bool {
    (1..=MESSAGE_ID_MAX).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='))
}

/// The EWS form of a Graph message id.
pub fn rest_to_ews(rest_id: &str) -> String {
    rest_id.replace('-', "+").replace('_', "/")
}

/// A short digest of a message id, for the set of messages already reported.
pub(crate) fn short(id: &str) -> u64 {
    let digest = Sha256::digest(id.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_ids_are_guids() {
        assert!(is_subscription_id("7f105c7d-2dc5-4530-97cd-4e7ae6534c07"));
        assert!(is_subscription_id("7F105C7D-2DC5-4530-97CD-4E7AE6534C07"));
        for bad in [
            "",
            "sub-1",
            "../users/mara@contoso.com/messages/AAMk",
            "7f105c7d-2dc5-4530-97cd-4e7ae6534c0",
            "7f105c7d-2dc5-4530-97cd-4e7ae6534c07/",
            "7f105c7d-2dc5-4530-97cd-4e7ae6534c0g",
            "7f105c7d+2dc5-4530-97cd-4e7ae6534c07",
            "7f105c7d-2dc5-4530-97cd-4e7ae6534c07?x",
        ] {
            assert!(!is_subscription_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn message_ids_are_base64() {
        assert!(is_message_id("AAMkAGI2THVSAAA="));
        assert!(is_message_id("AAMk-abc_def=="));
        assert!(is_message_id("AAMk+abc/def=="));
        assert!(!is_message_id(""));
        assert!(!is_message_id("AAMk?x"));
        assert!(!is_message_id("AAMk%2e%2e"));
        assert!(!is_message_id("AAMk abc"));
        assert!(!is_message_id(&"A".repeat(MESSAGE_ID_MAX + 1)));
    }

    #[test]
    fn rest_ids_become_ews_ids() {
        assert_eq!(rest_to_ews("AAMk-abc_def=="), "AAMk+abc/def==");
        assert_eq!(rest_to_ews("AAMkAGI2"), "AAMkAGI2");
        assert_ne!(short("a"), short("b"));
        assert_eq!(short("a"), short("a"));
    }
}
