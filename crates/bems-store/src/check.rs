//! The rules input must keep before any backend writes it.

use super::StoreError;
use crate::model::{NewDevice, PendingPush, TenantId};

/// The longest mailbox address (RFC 5321: 64 + 1 + 255).
const MAILBOX_MAX: usize = 320;
/// The longest push token (FCM registration tokens are about 160 characters).
const TOKEN_MAX: usize = 4096;
/// The longest secret or certificate name.
const NAME_MAX: usize = 255;
/// The largest tenant settings, certificate, secret or payload.
const VALUE_MAX: usize = 1 << 20;

/// `mailbox` lower-cased, if it looks like an SMTP address.
pub(crate) fn mailbox(op: &'static str, mailbox: &str) -> Result<String, StoreError> {
    let refuse = |rule: &str| {
        Err(StoreError::invalid(
            op,
            &format!("mailbox {mailbox:?}"),
            rule,
        ))
    };
    if mailbox.is_empty() || mailbox.len() > MAILBOX_MAX {
        return refuse("a mailbox address has 1 to 320 characters");
    }
    if !mailbox.contains('@') || mailbox.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("a mailbox address has an '@' and no spaces");
    }
    Ok(mailbox.to_ascii_lowercase())
}

/// A secret's or certificate's name.
pub(crate) fn name(op: &'static str, tenant: &TenantId, name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            op,
            &format!("{name:?} of tenant {tenant}"),
            "a name has 1 to 255 characters and no control characters",
        ));
    }
    Ok(())
}

/// A value no larger than the store keeps.
pub(crate) fn size(op: &'static str, record: &str, len: usize) -> Result<(), StoreError> {
    if len > VALUE_MAX {
        return Err(StoreError::invalid(
            op,
            record,
            format!("a value is at most {VALUE_MAX} bytes, this one is {len}"),
        ));
    }
    Ok(())
}

/// Tenant settings: JSON, of a sane size.
pub(crate) fn settings(op: &'static str, tenant: &TenantId, json: &str) -> Result<(), StoreError> {
    let record = format!("tenant {tenant}");
    size(op, &record, json.len())?;
    serde_json::from_str::<serde::de::IgnoredAny>(json)
        .map(drop)
        .map_err(|error| {
            StoreError::invalid(op, &record, format!("settings are not JSON: {error}"))
        })
}

/// A certificate: PEM, of a sane size.
pub(crate) fn pem(
    op: &'static str,
    tenant: &TenantId,
    name: &str,
    pem: &str,
) -> Result<(), StoreError> {
    let record = format!("certificate {name:?} of tenant {tenant}");
    size(op, &record, pem.len())?;
    if !pem.contains("-----BEGIN ") {
        return Err(StoreError::invalid(
            op,
            &record,
            "a certificate is PEM text",
        ));
    }
    Ok(())
}

/// A device to register, with its mailbox lower-cased.
pub(crate) fn device(op: &'static str, device: &NewDevice) -> Result<NewDevice, StoreError> {
    let mailbox = mailbox(op, &device.mailbox)?;
    let record = device_record(&device.tenant, &mailbox, &device.token);
    let token = &device.token;
    if token.is_empty() || token.len() > TOKEN_MAX || token.chars().any(char::is_whitespace) {
        return Err(StoreError::invalid(
            op,
            &record,
            "a push token has 1 to 4096 characters and no spaces",
        ));
    }
    if device.app_id.is_empty() || device.app_id.len() > NAME_MAX {
        return Err(StoreError::invalid(
            op,
            &record,
            "an app id has 1 to 255 characters",
        ));
    }
    if device.locale.len() > 35 {
        return Err(StoreError::invalid(
            op,
            &record,
            "a locale has at most 35 characters",
        ));
    }
    if device.public_key.as_ref().is_some_and(|key| key.len() > 64) {
        return Err(StoreError::invalid(
            op,
            &record,
            "a public key has at most 64 characters",
        ));
    }
    Ok(NewDevice {
        mailbox,
        ..device.clone()
    })
}

/// Pending pushes, with their mailboxes lower-cased.
pub(crate) fn pushes(
    op: &'static str,
    pushes: &[PendingPush],
) -> Result<Vec<PendingPush>, StoreError> {
    pushes
        .iter()
        .map(|push| {
            let mailbox = mailbox(op, &push.mailbox)?;
            size(
                op,
                &format!("push to device {}", push.device_id),
                push.payload.len(),
            )?;
            Ok(PendingPush {
                mailbox,
                ..push.clone()
            })
        })
        .collect()
}

/// How an enqueue is named in errors: its pushes, and the checkpoint's (tenant, mailbox).
pub(crate) fn enqueued(pushes: &[PendingPush], checkpoint: Option<(&str, &str)>) -> String {
    match (checkpoint, pushes.first()) {
        (Some((tenant, mailbox)), _) => format!(
            "{} pushes for mailbox {mailbox} of tenant {tenant}",
            pushes.len()
        ),
        (None, Some(first)) => format!(
            "{} pushes, the first for mailbox {}",
            pushes.len(),
            first.mailbox
        ),
        (None, None) => "nothing".to_owned(),
    }
}

/// How a mailbox is named in errors.
pub(crate) fn in_mailbox(tenant: &TenantId, mailbox: &str) -> String {
    format!("mailbox {mailbox} of tenant {tenant}")
}

/// How a named record (a secret, a certificate) is named in errors.
pub(crate) fn named(kind: &str, tenant: &TenantId, name: &str) -> String {
    format!("{kind} {name:?} of tenant {tenant}")
}

/// How a Follow-Me document is named in errors.
pub(crate) fn follow_me_record(tenant: &TenantId, user: &str, key: &str) -> String {
    format!("follow-me document {key:?} of {user} in tenant {tenant}")
}

/// Why a registration was refused; nothing was written. Every backend refuses the same two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The (platform, token) is registered for another mailbox, of this tenant or another.
    TokenTaken,
    /// The mailbox has `max` devices already.
    TooMany {
        /// The bound.
        max: u32,
    },
}

impl Refusal {
    /// The refusal as `op`'s error on `record`, with the rule that refused it.
    pub(crate) fn into_conflict(self, op: &'static str, record: String) -> StoreError {
        let rule = match self {
            Self::TokenTaken => "the push token is registered for another mailbox; it moves only \
                once that registration is removed (the device unregisters, the push provider \
                reports the token dead, or an administrator removes the device)"
                .to_owned(),
            Self::TooMany { max } => {
                format!("the mailbox has {max} devices registered, the most it may have")
            }
        };
        StoreError::Conflict { op, record, rule }
    }
}

/// How a device is named in errors: its token shortened, as tokens are credentials of sorts.
pub(crate) fn device_record(tenant: &TenantId, mailbox: &str, token: &str) -> String {
    let shown: String = token.chars().take(8).collect();
    format!("device {shown}... of {mailbox} in tenant {tenant}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Platform;

    fn new_device(mailbox: &str, token: &str) -> NewDevice {
        NewDevice {
            tenant: TenantId::new("contoso").unwrap(),
            mailbox: mailbox.into(),
            platform: Platform::Apns,
            token: token.into(),
            app_id: "com.example.mail".into(),
            locale: "en".into(),
            public_key: None,
        }
    }

    #[test]
    fn mailboxes_are_lower_cased_and_checked() {
        assert_eq!(
            mailbox("op", "Alice@Contoso.COM").unwrap(),
            "alice@contoso.com"
        );
        for bad in [
            "",
            "alice",
            "alice @contoso.com",
            &format!("{}@x", "a".repeat(320)),
        ] {
            assert!(mailbox("op", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn devices_are_checked_and_their_tokens_shortened_in_errors() {
        let device = check_device(&new_device("Bob@Contoso.com", "abcdef0123456789")).unwrap();
        assert_eq!(device.mailbox, "bob@contoso.com");
        let error = check_device(&new_device("bob@contoso.com", "abcdef0123 456789")).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("abcdef01...") && !text.contains("0123 456789"),
            "{text}"
        );
    }

    fn check_device(device: &NewDevice) -> Result<NewDevice, StoreError> {
        super::device("register device", device)
    }

    #[test]
    fn settings_must_be_json_and_certificates_pem() {
        let tenant = TenantId::new("contoso").unwrap();
        assert!(settings("op", &tenant, r#"{"ews":{}}"#).is_ok());
        assert!(settings("op", &tenant, "ews = 1").is_err());
        assert!(pem("op", &tenant, "ca", "-----BEGIN CERTIFICATE-----\n").is_ok());
        assert!(pem("op", &tenant, "ca", "MIIB...").is_err());
        assert!(name("op", &tenant, "").is_err());
        assert!(name("op", &tenant, "a\nb").is_err());
    }
}
