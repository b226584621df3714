//! A new message as a test or the admin API delivers it: subject, sender (address and display
//! name) and importance.
//!
//! Importance is EWS's `ImportanceChoicesType` (`Low`, `Normal`, `High`;
//! [Importance](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/importance))
//! and Graph's `importance` (`low`, `normal`, `high`;
//! [message resource](https://learn.microsoft.com/graph/api/resources/message)); a message
//! without one is `Normal`, as a message whose sender set no `Importance` header is.

use serde::{Deserialize, Serialize};

use super::folders::FolderKind;

/// A message's importance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Importance {
    /// `Low`.
    Low,
    /// `Normal`, what a message has unless its sender set another.
    #[default]
    Normal,
    /// `High`.
    High,
}

impl Importance {
    /// EWS's value (`ImportanceChoicesType`): `Low`, `Normal` or `High`.
    pub fn ews(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Normal => "Normal",
            Self::High => "High",
        }
    }

    /// Microsoft Graph's value: `low`, `normal` or `high`.
    pub fn graph(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

/// A message to deliver with [`Sim::deliver_message`](crate::Sim::deliver_message).
///
/// ```
/// use exchange_sim::{Importance, NewMessage};
///
/// let message = NewMessage::new("Outage", "ops@contoso.com")
///     .with_from_name("Operations")
///     .with_importance(Importance::High);
/// assert_eq!(message.from_name(), Some("Operations"));
/// assert_eq!(message.importance(), Importance::High);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    subject: String,
    from: String,
    from_name: Option<String>,
    importance: Importance,
    folder: FolderKind,
}

impl NewMessage {
    /// A message of `Normal` importance from `from` (an SMTP address) without a display name.
    pub fn new(subject: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            from: from.into(),
            from_name: None,
            importance: Importance::Normal,
            folder: FolderKind::Inbox,
        }
    }

    /// Delivered into `folder` rather than the inbox, as a server-side inbox rule files it
    /// at delivery: the folder gets the `CreatedEvent`, the `NewMailEvent` and its
    /// `ModifiedEvent`.
    #[must_use]
    pub fn into_folder(mut self, folder: FolderKind) -> Self {
        self.folder = folder;
        self
    }

    /// The folder it is delivered into (the inbox unless [`into_folder`](Self::into_folder)).
    pub fn folder(&self) -> FolderKind {
        self.folder
    }

    /// The sender's display name (`From: "Name" <address>`).
    #[must_use]
    pub fn with_from_name(mut self, name: impl Into<String>) -> Self {
        self.from_name = Some(name.into());
        self
    }

    /// The message's importance.
    #[must_use]
    pub fn with_importance(mut self, importance: Importance) -> Self {
        self.importance = importance;
        self
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The sender's SMTP address.
    pub fn from(&self) -> &str {
        &self.from
    }

    /// The sender's display name, if the message has one.
    pub fn from_name(&self) -> Option<&str> {
        self.from_name.as_deref()
    }

    /// The importance.
    pub fn importance(&self) -> Importance {
        self.importance
    }
}

/// The sender's name as Exchange shows it: the display name, or, for a sender whose `From`
/// header carries none, the SMTP address itself (what Outlook, EWS's `Mailbox/Name` and
/// Graph's `emailAddress.name` show for such a sender).
pub(crate) fn sender_name<'a>(from: &'a str, from_name: Option<&'a str>) -> &'a str {
    from_name.filter(|n| !n.trim().is_empty()).unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn importance_is_written_as_each_protocol_spells_it() {
        assert_eq!(Importance::default(), Importance::Normal);
        assert_eq!(Importance::High.ews(), "High");
        assert_eq!(Importance::Low.graph(), "low");
        let parsed: Importance = serde_json::from_str("\"high\"").expect("lower case");
        assert_eq!(parsed, Importance::High);
        assert!(serde_json::from_str::<Importance>("\"urgent\"").is_err());
    }

    #[test]
    fn a_sender_without_a_display_name_is_named_by_its_address() {
        assert_eq!(sender_name("x@contoso.com", None), "x@contoso.com");
        assert_eq!(sender_name("x@contoso.com", Some(" ")), "x@contoso.com");
        assert_eq!(sender_name("x@contoso.com", Some("Xavier")), "Xavier");
    }
}
