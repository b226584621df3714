//! The subscription resource (<https://learn.microsoft.com/graph/api/resources/subscription>):
//! what the watcher asks for, and what Graph answers.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::parse_datetime;

/// `POST /subscriptions`'s body.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest<'a> {
    /// `created` (new messages), or a comma-separated list.
    pub change_type: &'a str,
    /// Where change notifications go.
    pub notification_url: &'a str,
    /// Where lifecycle notifications go (it can only be set at creation).
    pub lifecycle_notification_url: &'a str,
    /// `/users/{id}/mailFolders('inbox')/messages`.
    pub resource: &'a str,
    /// The expiry asked for.
    pub expiration_date_time: String,
    /// The secret echoed in every notification (at most 128 characters).
    pub client_state: &'a str,
    /// The newest TLS version the webhook supports.
    pub latest_supported_tls_version: &'a str,
}

impl std::fmt::Debug for SubscriptionRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionRequest")
            .field("change_type", &self.change_type)
            .field("notification_url", &self.notification_url)
            .field(
                "lifecycle_notification_url",
                &self.lifecycle_notification_url,
            )
            .field("resource", &self.resource)
            .field("expiration_date_time", &self.expiration_date_time)
            .field("client_state", &"[redacted]")
            .finish()
    }
}

impl SubscriptionRequest<'_> {
    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The resource `/users/{mailbox}/mailFolders('inbox')/messages`, the address
/// percent-encoded as one segment; an address that cannot be one (empty, `.`, `..`) is
/// refused.
pub fn inbox_messages(mailbox: &str) -> Result<String, crate::GraphError> {
    let mailbox = crate::client::segment(mailbox)?;
    Ok(format!("/users/{mailbox}/mailFolders('inbox')/messages"))
}

/// The resource `/users/{mailbox}/mailFolders('{folder}')/messages` of a further folder:
/// `folder` is a well-known name (`junkemail`) or a folder id in REST form. The address is
/// percent-encoded as one segment; a folder that is not 1 to 512 ASCII letters, digits, `-`,
/// `_` or `=` (it could leave its quotes or its segment) is refused, as is an address that
/// cannot be a segment.
pub fn folder_messages(mailbox: &str, folder: &str) -> Result<String, crate::GraphError> {
    let mailbox = crate::client::segment(mailbox)?;
    let folder = crate::folders::FolderName::read(folder).ok_or_else(|| {
        crate::GraphError::Invalid(format!("{folder:?} cannot name a mail folder"))
    })?;
    Ok(format!("/users/{mailbox}/mailFolders('{folder}')/messages"))
}

/// A renewal's body (`PATCH /subscriptions/{id}`).
pub fn renewal(expiration: OffsetDateTime) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "expirationDateTime": super::format_datetime(expiration),
    }))
    .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    id: String,
    expiration_date_time: String,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    notification_url: Option<String>,
}

/// What the watcher keeps of Graph's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subscription {
    /// The subscription's id.
    pub id: String,
    /// When Graph will delete it unless renewed (the server decides; honour it).
    pub expires: OffsetDateTime,
    /// `resource`, as Graph echoes it.
    pub resource: Option<String>,
    /// `notificationUrl`, as Graph echoes it.
    pub notification_url: Option<String>,
}

impl Subscription {
    /// Parses a subscription resource (the answer to create, get and renew).
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let raw: Raw = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if !crate::ids::is_subscription_id(&raw.id) {
            return Err(format!("the subscription id {:?} is not a GUID", raw.id));
        }
        let expires = parse_datetime(&raw.expiration_date_time).ok_or_else(|| {
            format!(
                "expirationDateTime {:?} is not a date",
                raw.expiration_date_time
            )
        })?;
        Ok(Self {
            id: raw.id,
            expires,
            resource: raw.resource,
            notification_url: raw.notification_url,
        })
    }
}

/// One page of `GET /subscriptions`
/// (<https://learn.microsoft.com/graph/api/subscription-list>): the app's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionList {
    /// Each subscription's id and `notificationUrl`; entries whose id is not a GUID are left
    /// out (nothing is done with an id of unknown form).
    pub subscriptions: Vec<(String, Option<String>)>,
    /// `@odata.nextLink`, when there are more pages.
    pub next_link: Option<String>,
}

#[derive(Deserialize)]
struct RawList {
    value: Vec<RawListed>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawListed {
    #[serde(default)]
    id: String,
    #[serde(default)]
    notification_url: Option<String>,
}

impl SubscriptionList {
    /// Parses a page.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let raw: RawList = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok(Self {
            subscriptions: raw
                .value
                .into_iter()
                .filter(|s| crate::ids::is_subscription_id(&s.id))
                .map(|s| (s.id, s.notification_url))
                .collect(),
            next_link: raw.next_link,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_keeps_its_client_state_out_of_debug() {
        let request = SubscriptionRequest {
            change_type: "created",
            notification_url: "https://bems.contoso.com/graph/contoso/notifications",
            lifecycle_notification_url: "https://bems.contoso.com/graph/contoso/lifecycle",
            resource: &inbox_messages("mara@contoso.com").expect("an address"),
            expiration_date_time: "2030-01-01T00:00:00Z".into(),
            client_state: "s3cr3t-state",
            latest_supported_tls_version: "v1_2",
        };
        assert!(!format!("{request:?}").contains("s3cr3t"));
        let json: serde_json::Value = serde_json::from_slice(&request.to_json()).expect("JSON");
        assert_eq!(json["clientState"], "s3cr3t-state");
        assert_eq!(
            json["resource"],
            "/users/mara@contoso.com/mailFolders('inbox')/messages"
        );
        assert_eq!(
            json["lifecycleNotificationUrl"],
            "https://bems.contoso.com/graph/contoso/lifecycle"
        );
    }

    #[test]
    fn a_further_folder_is_one_quoted_key_of_its_resource() {
        assert_eq!(
            folder_messages("mara@contoso.com", "junkemail")
                .ok()
                .as_deref(),
            Some("/users/mara@contoso.com/mailFolders('junkemail')/messages")
        );
        assert_eq!(
            folder_messages("mara@contoso.com", "AQMkF-ab_c=")
                .ok()
                .as_deref(),
            Some("/users/mara@contoso.com/mailFolders('AQMkF-ab_c=')/messages")
        );
        for bad in ["", "junk')/x", "a/b", "a b", "..", "AQMk+x"] {
            assert!(folder_messages("mara@contoso.com", bad).is_err(), "{bad:?}");
        }
        assert!(folder_messages("..", "junkemail").is_err());
    }

    #[test]
    fn answers_parse_or_say_why_not() {
        let ok = Subscription::parse(
            br#"{"id":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","resource":"r","expirationDateTime":"2016-11-20T18:23:45.9356913Z","clientState":null}"#,
        )
        .expect("parses");
        assert_eq!(ok.id, "7f105c7d-2dc5-4530-97cd-4e7ae6534c07");
        for bad in [
            &b"{}"[..],
            br#"{"id":"","expirationDateTime":"2016-11-20T18:23:45Z"}"#,
            br#"{"id":"x","expirationDateTime":"never"}"#,
            br#"{"id":"../users/mara@contoso.com","expirationDateTime":"2016-11-20T18:23:45Z"}"#,
            b"[1,2]",
            b"\xff",
        ] {
            assert!(Subscription::parse(bad).is_err());
        }
    }

    #[test]
    fn a_list_keeps_only_ids_of_the_documented_form() {
        let page = SubscriptionList::parse(
            br#"{"value":[
                {"id":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","notificationUrl":"https://bems/graph/c/notifications"},
                {"id":"../users/mara@contoso.com","notificationUrl":"https://bems/graph/c/notifications"},
                {"notificationUrl":"https://bems/graph/c/notifications"}
            ],"@odata.nextLink":"https://graph.microsoft.com/v1.0/subscriptions?$skiptoken=x"}"#,
        )
        .expect("a page");
        assert_eq!(
            page.subscriptions,
            vec![(
                "7f105c7d-2dc5-4530-97cd-4e7ae6534c07".to_owned(),
                Some("https://bems/graph/c/notifications".to_owned())
            )]
        );
        assert!(page.next_link.is_some());
        assert!(SubscriptionList::parse(b"[]").is_err());
    }
}
