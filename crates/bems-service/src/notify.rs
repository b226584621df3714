//! What a new-mail push says: localized text, the unread badge, one collapse id per mailbox.

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

/// The push for `device` about `new_messages` in its mailbox.
pub fn mail_push(device: &Device, new_messages: u32, unread: Option<u32>) -> StoredPush {
    let d = &device.device;
    let (title, body) = text(&d.locale, new_messages);
    StoredPush {
        platform: d.platform,
        token: d.token.clone(),
        app_id: d.app_id.clone(),
        title,
        body,
        badge: unread,
        collapse_id: collapse_id(&d.tenant, &d.mailbox),
        mailbox: d.mailbox.clone(),
    }
}

impl StoredPush {
    /// The request `push-delivery` sends.
    pub fn to_push(&self) -> Result<push_delivery::Push, push_delivery::Error> {
        let platform = match self.platform {
            Platform::Apns => push_delivery::Platform::Apns,
            Platform::Fcm => push_delivery::Platform::Fcm,
        };
        let token = push_delivery::DeviceToken::new(platform, &self.token)?;
        let mut notification = push_delivery::Notification::alert(&self.title, &self.body)
            .collapse_id(&self.collapse_id)
            .data("mailbox", &self.mailbox)
            .sound("default");
        if let Some(badge) = self.badge {
            notification = notification.badge(badge);
        }
        // The app (APNs topic, FCM project) is the sender's: the caller picks the sender by
        // `app_id`.
        Ok(push_delivery::Push::new(token, notification))
    }
}
