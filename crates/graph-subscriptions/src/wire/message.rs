//! What an alert needs of a message
//! (<https://learn.microsoft.com/graph/api/resources/message>): who it is from, its subject,
//! its importance, when it arrived and in which folder, read with
//! `GET /users/{id}/messages/{id}?$select=` [`SUMMARY_SELECT`]
//! (<https://learn.microsoft.com/graph/api/message-get>).

use serde::Deserialize;

/// The `$select` of a summary: only what an alert may show or a rule may judge.
pub const SUMMARY_SELECT: &str = "from,subject,importance,receivedDateTime,parentFolderId";

/// A message's summary.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MessageSummary {
    /// The message's id (REST form).
    pub id: String,
    /// Its subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Who it is from.
    #[serde(default)]
    pub from: Option<Recipient>,
    /// `low`, `normal` or `high` (others kept as sent).
    #[serde(default)]
    pub importance: Option<String>,
    /// When it arrived (RFC 3339).
    #[serde(default)]
    pub received_date_time: Option<String>,
    /// The folder it is in.
    #[serde(default)]
    pub parent_folder_id: Option<String>,
}

/// A `recipient`: `{"emailAddress": {"name": .., "address": ..}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Recipient {
    /// The name and address.
    pub email_address: EmailAddress,
}

/// An `emailAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct EmailAddress {
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The SMTP address.
    #[serde(default)]
    pub address: Option<String>,
}

impl MessageSummary {
    /// Parses a message `GET`'s answer.
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// Whether Graph calls it important (`high`).
    pub fn is_important(&self) -> bool {
        self.importance
            .as_deref()
            .is_some_and(|i| i.eq_ignore_ascii_case("high"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_reads_what_select_asked_and_tolerates_the_rest() {
        let message = MessageSummary::parse(
            br#"{"@odata.context":"x","@odata.etag":"W/\"CQ\"","id":"AAMk-1=",
                "subject":"Board meeting","importance":"high",
                "receivedDateTime":"2026-12-08T09:00:00Z","parentFolderId":"AAMkF",
                "from":{"emailAddress":{"name":"Ada Lovelace","address":"ada@contoso.com"}}}"#,
        )
        .expect("parses");
        assert_eq!(message.subject.as_deref(), Some("Board meeting"));
        assert!(message.is_important());
        let from = message.from.expect("from").email_address;
        assert_eq!(from.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(from.address.as_deref(), Some("ada@contoso.com"));
        let bare = MessageSummary::parse(br#"{"id":"x","importance":"normal"}"#).expect("parses");
        assert!(!bare.is_important() && bare.from.is_none());
        for bad in [&b""[..], b"[]", b"{\"subject\":\"no id\"}", b"{\"id\":3}"] {
            assert!(MessageSummary::parse(bad).is_err(), "{bad:?}");
        }
    }
}
