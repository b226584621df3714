//! What a device registration must be before anything is stored, and how often a user may
//! register. A device's registration is the only way outside data reaches the device table,
//! and every push it leads to costs the tenant a provider request, so each field is checked
//! for its form and each user is bounded.
//!
//! | what | rule | refused with |
//! |---|---|---|
//! | the body | JSON: `mailbox`, `platform`, `token`, `app_id`, `locale` (`en` when absent) and `public_key` (optional), nothing else | 400, `body` |
//! | `platform` | `apns` (`ios`) or `fcm` (`android`) | 400, `platform` |
//! | `mailbox` | an SMTP address of at most 320 characters: 1-64 characters of RFC 5322 `atext` or `.` before one `@`, a domain of letters, digits, `-` and `.` after it | 400, `mailbox` |
//! | `token` | APNs: 64-200 hexadecimal digits (kept lower-cased); FCM: 1-4096 visible ASCII characters | 400, `token` |
//! | `app_id` | 1-255 letters, digits, `.`, `-` or `_`, and a configured sender's | 400, `app_id` |
//! | `locale` | 1-35 letters, digits, `-` or `_` (a BCP 47 tag) | 400, `locale` |
//! | `public_key` | the app's X25519 public key, 32 bytes in URL-safe base64: alerts are then sealed to it ([`push_delivery::seal`]); each registration replaces it, so registering again with a new key rotates it, and without one stops sealing | 400, `public_key` |
//! | the user's registrations | at most `devices.registrations_per_minute` in a minute | 429, with `Retry-After` |
//! | the mailbox's devices | at most `devices.max_per_mailbox` | 409 (the store) |
//! | the token | registered for no other mailbox, in any tenant | 409 (the store) |

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::service::RegisterError;
use bems_store::model::{NewDevice, Platform, TenantId};

/// The longest mailbox address (RFC 5321: 64 + 1 + 255).
const MAILBOX_MAX: usize = 320;
/// The longest local part (RFC 5321).
const LOCAL_MAX: usize = 64;
/// The longest app id (bundle id, package name).
const APP_ID_MAX: usize = 255;
/// The longest locale (BCP 47 tags in practice).
const LOCALE_MAX: usize = 35;

fn invalid(field: &'static str, reason: impl Into<String>) -> RegisterError {
    RegisterError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Whether `c` is RFC 5322 `atext`, or the dot between atoms.
fn local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b".!#$%&'*+-/=?^_`{|}~".contains(&c)
}

/// `mailbox` trimmed and lower-cased, if it is an SMTP address.
pub(crate) fn mailbox(mailbox: &str) -> Result<String, RegisterError> {
    let mailbox = mailbox.trim().to_ascii_lowercase();
    if mailbox.is_empty() || mailbox.len() > MAILBOX_MAX {
        return Err(invalid(
            "mailbox",
            format!("an address has 1 to {MAILBOX_MAX} characters"),
        ));
    }
    let Some((local, domain)) = mailbox.split_once('@') else {
        return Err(invalid("mailbox", "is not an address (no '@')"));
    };
    let local_ok = (1..=LOCAL_MAX).contains(&local.len())
        && local.bytes().all(local_char)
        && !local.starts_with('.')
        && !local.ends_with('.');
    if !local_ok {
        return Err(invalid(
            "mailbox",
            format!("the part before '@' has 1 to {LOCAL_MAX} letters, digits or RFC 5322 symbols"),
        ));
    }
    if !bems_settings::is_host_name(domain) {
        return Err(invalid(
            "mailbox",
            "the domain is letters, digits and '-' in labels separated by '.'",
        ));
    }
    Ok(mailbox)
}

/// A registration's body, as a device POSTs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    mailbox: String,
    platform: String,
    token: String,
    app_id: String,
    #[serde(default = "english")]
    locale: String,
    #[serde(default)]
    public_key: Option<String>,
}

fn english() -> String {
    "en".to_owned()
}

/// Reads a registration's JSON body for `tenant` and checks the form of every field (the table
/// above); what depends on the tenant's settings (the caller, the entitlement, the configured
/// senders) is checked when the device is registered.
pub fn parse(tenant: &TenantId, body: &[u8]) -> Result<NewDevice, RegisterError> {
    let body: Body = serde_json::from_slice(body).map_err(|e| RegisterError::Invalid {
        field: "body",
        reason: format!("not a registration: {e}"),
    })?;
    let platform = Platform::parse(&body.platform)
        .ok_or_else(|| invalid("platform", "must be apns (ios) or fcm (android)"))?;
    let mut device = NewDevice {
        tenant: tenant.clone(),
        mailbox: mailbox(&body.mailbox)?,
        platform,
        token: body.token,
        app_id: body.app_id,
        locale: body.locale,
        public_key: body.public_key,
    };
    check_fields(&mut device)?;
    Ok(device)
}

/// Checks every field of `device` (its mailbox already checked by [`mailbox`]) and puts its
/// token in the provider's form; the app id must be one a sender is configured for.
pub(crate) fn check_device(
    device: &mut NewDevice,
    routes: &crate::courier::PushRoutes,
) -> Result<(), RegisterError> {
    check_fields(device)?;
    if routes.get(device.platform, &device.app_id).is_none() {
        return Err(invalid(
            "app_id",
            format!(
                "no {} sender is configured for {:?} (configured: {})",
                device.platform.as_str(),
                device.app_id,
                routes.apps().join(", ")
            ),
        ));
    }
    Ok(())
}

/// The token in its provider's form, the app id, the locale and the public key (kept in its
/// canonical form).
fn check_fields(device: &mut NewDevice) -> Result<(), RegisterError> {
    let platform = match device.platform {
        Platform::Apns => push_delivery::Platform::Apns,
        Platform::Fcm => push_delivery::Platform::Fcm,
    };
    let token = push_delivery::DeviceToken::new(platform, &device.token)
        .map_err(|e| invalid("token", e.to_string()))?;
    device.token = token.as_str().to_owned();
    let app_id_ok = (1..=APP_ID_MAX).contains(&device.app_id.len())
        && device
            .app_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !app_id_ok {
        return Err(invalid(
            "app_id",
            format!("an app id has 1 to {APP_ID_MAX} letters, digits, '.', '-' or '_'"),
        ));
    }
    let locale_ok = (1..=LOCALE_MAX).contains(&device.locale.len())
        && device
            .locale
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if !locale_ok {
        return Err(invalid(
            "locale",
            format!("a locale has 1 to {LOCALE_MAX} letters, digits, '-' or '_' (en, de-CH)"),
        ));
    }
    if let Some(key) = &device.public_key {
        let key = push_delivery::seal::RecipientKey::from_base64url(key)
            .map_err(|e| invalid("public_key", e.to_string()))?;
        device.public_key = Some(key.to_base64url());
    }
    Ok(())
}

/// The window registrations are counted in.
const WINDOW: Duration = Duration::from_secs(60);

/// Past this many users counted, windows that have ended are dropped at the next count.
const PRUNE_AT: usize = 10_000;

/// Counts each user's registrations in one-minute windows.
#[derive(Debug)]
pub(crate) struct RegistrationLimit {
    per_minute: u32,
    windows: Mutex<HashMap<(TenantId, String), (Instant, u32)>>,
}

impl RegistrationLimit {
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a registration of `mailbox`'s user at `now`; refused once the minute's are
    /// spent, with how long until the next minute begins.
    pub(crate) fn count(
        &self,
        tenant: &TenantId,
        mailbox: &str,
        now: Instant,
    ) -> Result<(), RegisterError> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= PRUNE_AT {
            windows.retain(|_, (start, _)| now.saturating_duration_since(*start) < WINDOW);
        }
        let (start, used) = windows
            .entry((tenant.clone(), mailbox.to_owned()))
            .or_insert((now, 0));
        if now.saturating_duration_since(*start) >= WINDOW {
            *start = now;
            *used = 0;
        }
        if *used >= self.per_minute {
            let retry_after = WINDOW.saturating_sub(now.saturating_duration_since(*start));
            return Err(RegisterError::TooFrequent {
                per_minute: self.per_minute,
                retry_after,
            });
        }
        *used += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_for_their_form() {
        assert_eq!(
            mailbox(" Mara.O'Neil+mail@Contoso.com ").ok().as_deref(),
            Some("mara.o'neil+mail@contoso.com")
        );
        for bad in [
            "",
            "mara",
            "@contoso.com",
            "mara@",
            ".mara@contoso.com",
            "mara@contoso..com",
            "mara@-contoso.com",
            "mara@contoso.com/../x",
            "ma ra@contoso.com",
            "mara@con toso.com",
            "mara\u{0}@contoso.com",
            "m\u{e4}ra@contoso.com",
            "mara@contoso.com@evil.com",
            "mara@contoso.com?x",
            "mara@contoso.com#x",
        ] {
            assert!(
                matches!(
                    mailbox(bad),
                    Err(RegisterError::Invalid {
                        field: "mailbox",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        let long = format!("{}@contoso.com", "a".repeat(65));
        assert!(mailbox(&long).is_err());
    }

    #[test]
    fn a_body_is_parsed_and_each_field_checked() {
        let contoso = TenantId::new("contoso").expect("id");
        let device = parse(
            &contoso,
            br#"{"mailbox":"Mara@Contoso.com","platform":"ios","token":"ABAB","app_id":"com.x"}"#,
        );
        assert!(
            matches!(device, Err(RegisterError::Invalid { field: "token", .. })),
            "{device:?}"
        );
        let token = "AB".repeat(32);
        let body = format!(
            r#"{{"mailbox":"Mara@Contoso.com","platform":"ios","token":"{token}","app_id":"com.x"}}"#
        );
        let device = parse(&contoso, body.as_bytes()).expect("a registration");
        assert_eq!(device.mailbox, "mara@contoso.com");
        assert_eq!(device.token, "ab".repeat(32));
        assert_eq!(device.locale, "en");
        assert_eq!(device.public_key, None);
        // A public key is kept in its canonical form (padding dropped); anything but 32 bytes
        // of URL-safe base64 is refused, naming the field.
        let key = format!("{}=", "A".repeat(42) + "E");
        let keyed = format!(
            r#"{{"mailbox":"m@c.com","platform":"ios","token":"{token}","app_id":"com.x","public_key":"{key}"}}"#
        );
        let device = parse(&contoso, keyed.as_bytes()).expect("a registration with a key");
        assert_eq!(device.public_key.as_deref(), Some(&key[..43]));
        for bad_key in ["", "AAAA", "not base64 at all!", &"A".repeat(44)] {
            let body = format!(
                r#"{{"mailbox":"m@c.com","platform":"ios","token":"{token}","app_id":"com.x","public_key":"{bad_key}"}}"#
            );
            assert!(
                matches!(
                    parse(&contoso, body.as_bytes()),
                    Err(RegisterError::Invalid {
                        field: "public_key",
                        ..
                    })
                ),
                "{bad_key:?}"
            );
        }
        for (bad, field) in [
            (&b"[1]"[..], "body"),
            (
                br#"{"mailbox":"m@c.com","platform":"ios","token":"x","app_id":"a","extra":1}"#,
                "body",
            ),
            (
                br#"{"mailbox":"m@c.com","platform":"blackberry","token":"x","app_id":"a"}"#,
                "platform",
            ),
            (b"\xff\xfe", "body"),
        ] {
            assert!(
                matches!(parse(&contoso, bad), Err(RegisterError::Invalid { field: f, .. }) if f == field),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_user_registers_at_most_so_often_a_minute() {
        let limit = RegistrationLimit::new(3);
        let contoso = TenantId::new("contoso").expect("id");
        let start = Instant::now();
        for _ in 0..3 {
            limit
                .count(&contoso, "mara@contoso.com", start)
                .expect("allowed");
        }
        let later = start + Duration::from_secs(20);
        match limit.count(&contoso, "mara@contoso.com", later) {
            Err(RegisterError::TooFrequent { retry_after, .. }) => {
                assert_eq!(retry_after, Duration::from_secs(40));
            }
            other => panic!("{other:?}"),
        }
        // Another user, and the next minute, are not held back.
        limit
            .count(&contoso, "sadie@contoso.com", later)
            .expect("another user");
        limit
            .count(&contoso, "mara@contoso.com", start + WINDOW)
            .expect("the next minute");
    }
}
