//! What a new-mail push says: localized text, the unread badge, one collapse id per mailbox;
//! and, as the tenant's `[tenants.alerts]` and the user's rules allow, who the mail is from,
//! its subject, and how loudly it alerts.
//!
//! | the device | what Apple or Google carry |
//! |---|---|
//! | no public key | the content the tenant allows, in clear (none when `sealed_only`) |
//! | a public key | the generic alert in clear; the content sealed to the key ([`Sealed content`](SealedContent)) in `data.sealed`, with `data.sealed_key` (the key's id) and APNs `mutable-content: 1` for the app's notification service extension |
//!
//! | level (the user's rules) | APNs | FCM |
//! |---|---|---|
//! | silent (muted, quiet hours) | badge only, priority 5, no sound | data only (`data.badge`), normal priority |
//! | normal | alert, `interruption-level: active` | notification, high priority |
//! | raised (VIP sender, Important mail) | alert, `interruption-level: time-sensitive` | notification, high priority, `PRIORITY_HIGH` |

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use bems_store::model::{Device, Platform, TenantId};

/// A push as the outbox keeps it: everything needed to send it again after a restart,
/// without the device record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPush {
    /// APNs or FCM.
    pub platform: Platform,
    /// The device token.
    pub token: String,
    /// The APNs topic or the FCM app.
    pub app_id: String,
    /// The alert's title.
    pub title: String,
    /// The alert's body.
    pub body: String,
    /// The badge: the inbox's unread count, when known.
    pub badge: Option<u32>,
    /// Later pushes for the same mailbox replace this one on the phone.
    pub collapse_id: String,
    /// The mailbox, for the app (`data.mailbox`).
    pub mailbox: String,
    /// How loudly it alerts.
    #[serde(default)]
    pub level: AlertLevel,
    /// The content sealed to the device's key ([`SealedContent`], encoded), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// The id of the key it is sealed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_key: Option<String>,
}

/// How loudly a push alerts, as the user's rules decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    /// Only the badge changes.
    Silent,
    /// An ordinary alert.
    #[default]
    Normal,
    /// A time-sensitive alert (a VIP sender, Important mail).
    Raised,
}

impl From<crate::alerts::rules::Level> for AlertLevel {
    fn from(level: crate::alerts::rules::Level) -> Self {
        use crate::alerts::rules::Level;
        match level {
            Level::Silent => Self::Silent,
            Level::Normal => Self::Normal,
            Level::Raised => Self::Raised,
        }
    }
}

/// What a sealed alert holds, as JSON before sealing (HPKE, [`push_delivery::seal`]; no
/// associated data). Fields the tenant does not allow are absent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedContent {
    /// The format's version: 1.
    pub v: u32,
    /// The mailbox.
    pub mailbox: String,
    /// New messages this alert announces.
    pub new: u32,
    /// The newest one's sender's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    /// The newest one's sender's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_address: Option<String>,
    /// The newest one's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Whether it is Important.
    #[serde(default)]
    pub important: bool,
    /// The alert's level (`raised` for a VIP).
    pub level: AlertLevel,
}

impl std::fmt::Debug for SealedContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedContent")
            .field("new", &self.new)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// What the pipeline decided for a mailbox's new mail: how loudly, and the newest mail's
/// details when they were fetched.
#[derive(Debug, Clone, Default)]
pub struct MailAlert {
    /// The level.
    pub level: AlertLevel,
    /// The newest mail's summary, if known.
    pub newest: Option<crate::details::MailSummary>,
    /// What the tenant lets an alert carry.
    pub content: bems_settings::AlertContent,
    /// The content only to devices with a key.
    pub sealed_only: bool,
}

/// The collapse id of a mailbox's pushes: short (APNs allows 64 bytes), stable, and not the
/// address itself (it shows in provider logs).
pub fn collapse_id(tenant: &TenantId, mailbox: &str) -> String {
    let digest = Sha256::digest(format!("{tenant}\n{}", mailbox.to_ascii_lowercase()));
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("mail-{hex}")
}

/// The alert's title and body for `new_messages` in `locale` (English when unknown).
pub fn text(locale: &str, new_messages: u32) -> (String, String) {
    let language = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("en")
        .to_ascii_lowercase();
    let n = new_messages.max(1);
    let (title, one, many): (&str, &str, &str) = match language.as_str() {
        "de" => (
            "Neue E-Mail",
            "Sie haben eine neue Nachricht",
            "Sie haben {n} neue Nachrichten",
        ),
        "fr" => (
            "Nouveau message",
            "Vous avez un nouveau message",
            "Vous avez {n} nouveaux messages",
        ),
        "es" => (
            "Correo nuevo",
            "Tiene un mensaje nuevo",
            "Tiene {n} mensajes nuevos",
        ),
        "it" => (
            "Nuova email",
            "Hai un nuovo messaggio",
            "Hai {n} nuovi messaggi",
        ),
        "nl" => (
            "Nieuwe e-mail",
            "U hebt een nieuw bericht",
            "U hebt {n} nieuwe berichten",
        ),
        "pt" => (
            "Novo e-mail",
            "Você tem uma nova mensagem",
            "Você tem {n} novas mensagens",
        ),
        "ja" => (
            "新着メール",
            "新しいメッセージが1件あります",
            "新しいメッセージが{n}件あります",
        ),
        _ => (
            "New mail",
            "You have a new message",
            "You have {n} new messages",
        ),
    };
    let body = if n == 1 {
        one.to_owned()
    } else {
        many.replace("{n}", &n.to_string())
    };
    (title.to_owned(), body)
}

/// The push for `device` about `new_messages` in its mailbox, as `alert` decided.
pub fn mail_push(
    device: &Device,
    new_messages: u32,
    unread: Option<u32>,
    alert: &MailAlert,
) -> StoredPush {
    let d = &device.device;
    let (mut title, mut body) = text(&d.locale, new_messages);
    let mut push = StoredPush {
        platform: d.platform,
        token: d.token.clone(),
        app_id: d.app_id.clone(),
        title: String::new(),
        body: String::new(),
        badge: unread,
        collapse_id: collapse_id(&d.tenant, &d.mailbox),
        mailbox: d.mailbox.clone(),
        level: alert.level,
        sealed: None,
        sealed_key: None,
    };
    if alert.level == AlertLevel::Silent {
        return push;
    }
    let content = alert.content;
    let newest = alert
        .newest
        .as_ref()
        .filter(|_| content != bems_settings::AlertContent::None);
    let key = d
        .public_key
        .as_deref()
        .and_then(|k| push_delivery::seal::RecipientKey::from_base64url(k).ok());
    match (newest, key) {
        (Some(newest), Some(key)) => {
            let sealed = SealedContent {
                v: 1,
                mailbox: d.mailbox.clone(),
                new: new_messages,
                from_name: newest.from_name.clone().filter(|_| content.sender()),
                from_address: newest.from_address.clone().filter(|_| content.sender()),
                subject: newest.subject.clone().filter(|_| content.subject()),
                important: newest.important,
                level: alert.level,
            };
            let sealed = serde_json::to_vec(&sealed)
                .ok()
                .and_then(|json| push_delivery::seal::seal(&key, &json, b"").ok());
            if let Some(sealed) = sealed {
                push.sealed = Some(sealed.encode());
                push.sealed_key = Some(key.key_id());
            }
        }
        (Some(newest), None) if !alert.sealed_only => {
            if let Some(sender) = newest.sender().filter(|_| content.sender()) {
                title = sender.to_owned();
                if let Some(subject) = newest.subject.as_deref().filter(|_| content.subject()) {
                    body = if new_messages > 1 {
                        format!("{subject} (+{})", new_messages - 1)
                    } else {
                        subject.to_owned()
                    };
                }
            }
        }
        _ => {}
    }
    push.title = title;
    push.body = body;
    push
}

impl StoredPush {
    /// The request `push-delivery` sends.
    pub fn to_push(&self) -> Result<push_delivery::Push, push_delivery::Error> {
        let platform = match self.platform {
            Platform::Apns => push_delivery::Platform::Apns,
            Platform::Fcm => push_delivery::Platform::Fcm,
        };
        let token = push_delivery::DeviceToken::new(platform, &self.token)?;
        let mut notification = match self.level {
            AlertLevel::Silent => {
                push_delivery::Notification::badge_update(self.badge.unwrap_or(0))
            }
            level => {
                let mut alert = push_delivery::Notification::alert(&self.title, &self.body)
                    .sound("default")
                    .interruption_level(if level == AlertLevel::Raised {
                        push_delivery::InterruptionLevel::TimeSensitive
                    } else {
                        push_delivery::InterruptionLevel::Active
                    });
                if let Some(badge) = self.badge {
                    alert = alert.badge(badge);
                }
                alert
            }
        };
        // A badge update shows nothing: with the alerts' collapse id it could take the place
        // of the last alert the phone shows.
        if self.level != AlertLevel::Silent {
            notification = notification.collapse_id(&self.collapse_id);
        }
        notification = notification.data("mailbox", &self.mailbox);
        if let (Some(sealed), Some(key)) = (&self.sealed, &self.sealed_key) {
            notification = notification
                .data("sealed", sealed)
                .data("sealed_key", key)
                .mutable_content();
        }
        // The app (APNs topic, FCM project) is the sender's: the caller picks the sender by
        // `app_id`.
        Ok(push_delivery::Push::new(token, notification))
    }
}

#[cfg(test)]
mod tests {
    use bems_settings::AlertContent;
    use bems_store::model::NewDevice;
    use push_delivery::seal::DeviceSecret;

    use super::*;
    use crate::details::MailSummary;

    fn device(public_key: Option<String>) -> Device {
        Device {
            id: 1,
            device: NewDevice {
                tenant: TenantId::new("contoso").expect("id"),
                mailbox: "mara@contoso.com".into(),
                platform: Platform::Apns,
                token: "ab".repeat(32),
                app_id: "com.contoso.mail".into(),
                locale: "en".into(),
                public_key,
            },
            registered_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn alert(level: AlertLevel, content: AlertContent, sealed_only: bool) -> MailAlert {
        MailAlert {
            level,
            newest: Some(MailSummary {
                item_id: "i1".into(),
                from_name: Some("Ada Chief".into()),
                from_address: Some("ceo@contoso.com".into()),
                subject: Some("Board".into()),
                important: false,
            }),
            content,
            sealed_only,
        }
    }

    #[test]
    fn the_tenants_content_decides_what_the_clear_alert_says() {
        let plain = device(None);
        let none = mail_push(
            &plain,
            1,
            Some(1),
            &alert(AlertLevel::Normal, AlertContent::None, false),
        );
        assert_eq!(
            (none.title.as_str(), none.body.as_str()),
            ("New mail", "You have a new message")
        );
        let sender = mail_push(
            &plain,
            1,
            Some(1),
            &alert(AlertLevel::Normal, AlertContent::Sender, false),
        );
        assert_eq!(
            (sender.title.as_str(), sender.body.as_str()),
            ("Ada Chief", "You have a new message")
        );
        let both = mail_push(
            &plain,
            3,
            Some(3),
            &alert(AlertLevel::Raised, AlertContent::SenderAndSubject, false),
        );
        assert_eq!(
            (both.title.as_str(), both.body.as_str()),
            ("Ada Chief", "Board (+2)")
        );
        let sealed_only = mail_push(
            &plain,
            1,
            Some(1),
            &alert(AlertLevel::Normal, AlertContent::SenderAndSubject, true),
        );
        assert_eq!(sealed_only.title, "New mail", "no key, no content");
        assert!(sealed_only.sealed.is_none());
    }

    #[test]
    fn a_device_with_a_key_gets_the_content_sealed_and_the_generic_alert_in_clear() {
        let secret = DeviceSecret::generate();
        let keyed = device(Some(secret.public_key().to_base64url()));
        let push = mail_push(
            &keyed,
            1,
            Some(4),
            &alert(AlertLevel::Raised, AlertContent::Sender, true),
        );
        assert_eq!(push.title, "New mail");
        let sealed = push.sealed.as_deref().expect("sealed");
        assert_eq!(push.sealed_key, Some(secret.public_key().key_id()));
        let opened: SealedContent =
            serde_json::from_slice(&secret.open(sealed, b"").expect("opens")).expect("JSON");
        assert_eq!(opened.from_name.as_deref(), Some("Ada Chief"));
        assert_eq!(
            opened.subject, None,
            "\"sender\" does not allow the subject"
        );
        assert_eq!(opened.level, AlertLevel::Raised);
        // The stored push reads back, and its request carries the sealed content for the app.
        let stored: StoredPush =
            serde_json::from_str(&serde_json::to_string(&push).unwrap()).unwrap();
        let request = stored.to_push().expect("a push");
        let n = &request.notification;
        assert!(n.mutable_content);
        assert_eq!(n.data.get("sealed").map(String::as_str), Some(sealed));
        assert_eq!(
            n.interruption_level,
            Some(push_delivery::InterruptionLevel::TimeSensitive)
        );
    }

    #[test]
    fn a_silent_alert_is_a_badge_update_without_text_or_collapse_id() {
        let push = mail_push(
            &device(None),
            1,
            Some(7),
            &alert(AlertLevel::Silent, AlertContent::SenderAndSubject, false),
        );
        assert!(push.title.is_empty() && push.sealed.is_none());
        let request = push.to_push().expect("a push");
        let n = &request.notification;
        assert_eq!(
            (n.title.as_deref(), n.badge, n.sound.as_deref()),
            (None, Some(7), None)
        );
        assert_eq!(n.collapse_id, None);
        // An outbox entry written before levels existed reads as a normal alert.
        let old = r#"{"platform":"apns","token":"t","app_id":"a","title":"New mail","body":"b","badge":1,"collapse_id":"c","mailbox":"m"}"#;
        let old: StoredPush = serde_json::from_str(old).expect("old entries read");
        assert_eq!(old.level, AlertLevel::Normal);
    }
}
