//! `[tenants.alerts]`: what a new-mail alert may carry, and the bounds of fetching it.
//!
//! | setting | default | what |
//! |---|---|---|
//! | `content` | `none` | what an alert may say of the mail: `none` ("You have a new message"), `sender`, `sender_and_subject` |
//! | `sealed_only` | `false` | whether that content goes only to devices that registered a public key (sealed with HPKE, so Apple and Google carry ciphertext); others get the generic alert |
//! | `rules` | `true` | whether the users' alert rules (VIP senders, Important mail, quiet hours, mute) are honoured |
//! | `details_timeout_ms` | `500` | how long an alert waits for the mail's details (50-5000); then the generic alert goes |
//! | `details_per_second` | `100` | the tenant's details requests per second (1-10000), one per mailbox and batch of new mail |
//!
//! A request for details asks Exchange for the sender, subject and importance of a mailbox's
//! new items at once (EWS `GetItem`, Graph `$select`). It is made only when something needs
//! it: content other than `none`, or a user's VIP or Important rule. Exchange's budgets bound
//! one mailbox to 27 EWS requests in flight (`EWSMaxConcurrency`) and Graph to 4 per app and
//! mailbox; the service keeps one details request per mailbox in flight.

use serde::{Deserialize, Serialize};

/// What an alert may say of the mail it announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertContent {
    /// Nothing: "You have a new message".
    #[default]
    None,
    /// Who the mail is from.
    Sender,
    /// Who the mail is from, and its subject.
    SenderAndSubject,
}

impl AlertContent {
    /// Whether the sender may be shown.
    pub fn sender(self) -> bool {
        self >= Self::Sender
    }

    /// Whether the subject may be shown.
    pub fn subject(self) -> bool {
        self >= Self::SenderAndSubject
    }
}

/// `[tenants.alerts]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// What an alert may carry.
    pub content: AlertContent,
    /// The content only to devices with a public key, sealed.
    pub sealed_only: bool,
    /// The users' rules honoured.
    pub rules: bool,
    /// The longest wait for details, in milliseconds (50-5000).
    pub details_timeout_ms: u32,
    /// Details requests per second for the tenant (1-10000).
    pub details_per_second: u32,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            content: AlertContent::None,
            sealed_only: false,
            rules: true,
            details_timeout_ms: 500,
            details_per_second: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_grows_from_nothing_to_sender_and_subject() {
        assert!(!AlertContent::None.sender());
        assert!(AlertContent::Sender.sender() && !AlertContent::Sender.subject());
        assert!(AlertContent::SenderAndSubject.subject());
        assert_eq!(AlertSettings::default().content, AlertContent::None);
    }
}
