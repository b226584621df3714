//! A mail folder (<https://learn.microsoft.com/graph/api/resources/mailfolder>): its id and
//! `unreadItemCount`, the badge.

use serde::Deserialize;

/// What the watcher reads of a folder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MailFolder {
    /// The folder's id.
    pub id: String,
    /// Unread messages in it.
    pub unread_item_count: Option<u32>,
}

impl MailFolder {
    /// Parses `GET /users/{id}/mailFolders/inbox`.
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_parse_with_or_without_the_count() {
        let folder = MailFolder::parse(
            br#"{"@odata.context":"x","id":"AAMkF-1","displayName":"Inbox","unreadItemCount":3,"totalItemCount":9}"#,
        )
        .expect("parses");
        assert_eq!(folder.unread_item_count, Some(3));
        assert_eq!(
            MailFolder::parse(br#"{"id":"x"}"#)
                .expect("parses")
                .unread_item_count,
            None
        );
        assert!(MailFolder::parse(br#"{"unreadItemCount":-1,"id":"x"}"#).is_err());
        assert!(MailFolder::parse(b"").is_err());
    }
}
