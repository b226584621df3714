//! What to send, and to whom: [`Push`], [`Notification`], [`DeviceToken`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::Error;

/// The push service a device token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Platform {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging (HTTP v1).
    Fcm,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Apns => "apns",
            Self::Fcm => "fcm",
        })
    }
}

/// A device's push token, valid for its platform by construction.
///
/// - APNs: hexadecimal, an even number of digits between 64 and 200 (today's tokens are 32
///   bytes, 64 digits; Apple says not to assume a fixed length). Stored in lower case.
/// - FCM: 1 to 4096 visible ASCII characters (registration tokens are opaque).
///
/// ```
/// use push_delivery::{DeviceToken, Platform};
/// let token = DeviceToken::apns(&"AB".repeat(32))?;
/// assert_eq!(token.platform(), Platform::Apns);
/// assert_eq!(token.as_str(), "ab".repeat(32));
/// assert!(DeviceToken::apns("not hex").is_err());
/// # Ok::<(), push_delivery::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeviceToken {
    platform: Platform,
    value: Box<str>,
}

impl DeviceToken {
    /// An APNs device token (hex).
    pub fn apns(hex: &str) -> Result<Self, Error> {
        let len = hex.len();
        if !(64..=200).contains(&len) || !len.is_multiple_of(2) {
            return Err(Error::InvalidToken(format!(
                "an APNs token has an even number of hex digits between 64 and 200, not {len}"
            )));
        }
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidToken(
                "an APNs token has only hex digits".into(),
            ));
        }
        Ok(Self {
            platform: Platform::Apns,
            value: hex.to_ascii_lowercase().into_boxed_str(),
        })
    }

    /// An FCM registration token.
    pub fn fcm(token: &str) -> Result<Self, Error> {
        if token.is_empty() || token.len() > 4096 {
            return Err(Error::InvalidToken(format!(
                "an FCM token has 1 to 4096 characters, not {}",
                token.len()
            )));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidToken(
                "an FCM token has only visible ASCII characters".into(),
            ));
        }
        Ok(Self {
            platform: Platform::Fcm,
            value: token.into(),
        })
    }

    /// A token for `platform`.
    pub fn new(platform: Platform, token: &str) -> Result<Self, Error> {
        match platform {
            Platform::Apns => Self::apns(token),
            Platform::Fcm => Self::fcm(token),
        }
    }

    /// The platform.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The token as sent to the provider.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for DeviceToken {
    /// Shows the platform and the first 8 characters: enough to tell tokens apart in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = self.value.get(..8).unwrap_or(&self.value);
        write!(f, "DeviceToken({}:{prefix}…)", self.platform)
    }
}

/// How urgently the provider should deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Priority {
    /// Deliver now, waking the device (APNs 10, FCM `HIGH`).
    #[default]
    High,
    /// Power-aware delivery, may be batched (APNs 5, FCM `NORMAL`).
    Normal,
}

/// What the device does with the notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PushKind {
    /// Shown to the user (APNs `apns-push-type: alert`).
    #[default]
    Alert,
    /// Wakes the app silently (APNs `background` with `content-available: 1`, always priority
    /// 5 as Apple requires).
    Background,
}

/// How strongly an alert may interrupt the user: the APNs `aps.interruption-level` (iOS 15+),
/// and on Android the `android.notification.notification_priority` closest to it.
///
/// - APNs: the `aps` dictionary keys,
///   <https://developer.apple.com/documentation/usernotifications/generating-a-remote-notification>
/// - FCM: `NotificationPriority`,
///   <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages#notificationpriority>
///
/// ```
/// use push_delivery::{InterruptionLevel, Notification};
/// let vip = Notification::alert("New mail", "From: the CEO")
///     .interruption_level(InterruptionLevel::TimeSensitive);
/// assert_eq!(vip.interruption_level.map(InterruptionLevel::as_str), Some("time-sensitive"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InterruptionLevel {
    /// Added to the notification list without lighting the screen or playing a sound
    /// (FCM `PRIORITY_LOW`).
    Passive,
    /// Presented at once, lights the screen, may play a sound: the system's default
    /// (FCM `PRIORITY_DEFAULT`).
    Active,
    /// Presented at once, and may break through Focus (the app needs the Time Sensitive
    /// Notifications capability; FCM `PRIORITY_HIGH`).
    TimeSensitive,
    /// Bypasses the mute switch and Focus (the app needs Apple's critical alerts entitlement;
    /// FCM `PRIORITY_MAX`).
    Critical,
}

impl InterruptionLevel {
    /// The APNs wire name: `passive`, `active`, `time-sensitive` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passive => "passive",
            Self::Active => "active",
            Self::TimeSensitive => "time-sensitive",
            Self::Critical => "critical",
        }
    }

    /// The FCM `AndroidNotification.notification_priority` that comes closest.
    pub fn fcm_notification_priority(self) -> &'static str {
        match self {
            Self::Passive => "PRIORITY_LOW",
            Self::Active => "PRIORITY_DEFAULT",
            Self::TimeSensitive => "PRIORITY_HIGH",
            Self::Critical => "PRIORITY_MAX",
        }
    }
}

impl fmt::Display for InterruptionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The notification's content and delivery options, common to APNs and FCM.
///
/// ```
/// use std::time::Duration;
/// use push_delivery::Notification;
/// let n = Notification::alert("New mail", "From: Mara")
///     .badge(3)
///     .collapse_id("mailbox-42")
///     .ttl(Duration::from_secs(3600))
///     .data("mailbox", "mara@contoso.com");
/// assert_eq!(n.badge, Some(3));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notification {
    /// The title shown to the user.
    pub title: Option<String>,
    /// The body shown to the user.
    pub body: Option<String>,
    /// The app icon's badge.
    pub badge: Option<u32>,
    /// The sound to play (`"default"` for the system sound).
    pub sound: Option<String>,
    /// The APNs category (actions), or FCM `click_action`-like category; ignored by FCM.
    pub category: Option<String>,
    /// Custom data: top-level keys of the APNs payload, FCM `data` (string values, as FCM
    /// requires).
    pub data: BTreeMap<String, String>,
    /// Replaces an earlier notification with the same id: APNs `apns-collapse-id` (at most 64
    /// bytes), FCM `android.collapse_key`.
    pub collapse_id: Option<String>,
    /// Delivery priority.
    pub priority: Priority,
    /// Alert or background.
    pub kind: PushKind,
    /// How long the provider keeps the notification for an offline device: APNs
    /// `apns-expiration` (now + ttl; zero means "do not store"), FCM `android.ttl`.
    pub ttl: Option<Duration>,
    /// APNs `mutable-content: 1` (a notification service extension may change it, for example
    /// to open [sealed](crate::seal) content).
    pub mutable_content: bool,
    /// How strongly the alert may interrupt: APNs `aps.interruption-level`, FCM
    /// `android.notification.notification_priority`. `None` leaves it to the device (active).
    pub interruption_level: Option<InterruptionLevel>,
}

impl Notification {
    /// A visible alert.
    pub fn alert(title: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            title: Some(title.into()),
            body: Some(body.into()),
            ..Self::default()
        }
    }

    /// A silent background notification.
    pub fn background() -> Self {
        Self {
            kind: PushKind::Background,
            priority: Priority::Normal,
            ..Self::default()
        }
    }

    /// A silent badge update: the app icon's badge becomes `count`, nothing is shown or played.
    ///
    /// - APNs: an `alert` push whose `aps` holds only `badge` (no `alert`, no `sound`), at
    ///   priority 5, which Apple asks for notifications that do not alert the user
    ///   (<https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns>).
    /// - FCM: a data-only message (no `notification`) at priority `NORMAL`, with
    ///   `data.badge` = the count as a string (FCM data values are strings); the app sets
    ///   the badge itself.
    ///
    /// ```
    /// use push_delivery::{Notification, Priority};
    /// let muted = Notification::badge_update(7);
    /// assert_eq!((muted.badge, muted.title, muted.priority), (Some(7), None, Priority::Normal));
    /// ```
    pub fn badge_update(count: u32) -> Self {
        Self {
            badge: Some(count),
            priority: Priority::Normal,
            ..Self::default()
        }
    }

    /// Sets the badge.
    pub fn badge(mut self, badge: u32) -> Self {
        self.badge = Some(badge);
        self
    }

    /// Sets the sound.
    pub fn sound(mut self, sound: impl Into<String>) -> Self {
        self.sound = Some(sound.into());
        self
    }

    /// Sets the collapse id.
    pub fn collapse_id(mut self, id: impl Into<String>) -> Self {
        self.collapse_id = Some(id.into());
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the time to live.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets the interruption level.
    pub fn interruption_level(mut self, level: InterruptionLevel) -> Self {
        self.interruption_level = Some(level);
        self
    }

    /// Sets APNs `mutable-content: 1`, so the app's notification service extension may change
    /// the alert before it is shown (for example to open [sealed](crate::seal) content).
    pub fn mutable_content(mut self) -> Self {
        self.mutable_content = true;
        self
    }

    /// Adds a custom data entry.
    pub fn data(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }
}

/// One notification for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Push {
    /// The device.
    pub token: DeviceToken,
    /// What to show.
    pub notification: Notification,
    id: String,
}

impl Push {
    /// A push with a fresh id (a UUID, sent as `apns-id`, logged, echoed back by APNs).
    pub fn new(token: DeviceToken, notification: Notification) -> Self {
        Self {
            token,
            notification,
            // From the thread's RNG: `Uuid::new_v4` asks the kernel for every id.
            id: uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .hyphenated()
                .to_string(),
        }
    }

    /// Uses `id` (a canonical UUID) instead of a fresh one, for example to keep the id across
    /// a restart.
    pub fn with_id(mut self, id: &str) -> Result<Self, Error> {
        let parsed = uuid::Uuid::try_parse(id)
            .map_err(|e| Error::config("push id", format!("not a UUID: {e}")))?;
        self.id = parsed.hyphenated().to_string();
        Ok(self)
    }

    /// The push's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apns_tokens() {
        assert!(DeviceToken::apns(&"0f".repeat(32)).is_ok());
        assert!(DeviceToken::apns(&"0f".repeat(100)).is_ok());
        assert!(DeviceToken::apns(&"0f".repeat(101)).is_err());
        assert!(DeviceToken::apns(&"0".repeat(65)).is_err());
        assert!(DeviceToken::apns(&format!("{}zz", "0".repeat(62))).is_err());
        assert!(DeviceToken::apns("").is_err());
    }

    #[test]
    fn fcm_tokens() {
        assert!(DeviceToken::fcm("abc:APA91b-_x").is_ok());
        assert!(DeviceToken::fcm("").is_err());
        assert!(DeviceToken::fcm("has space").is_err());
        assert!(DeviceToken::fcm(&"a".repeat(4097)).is_err());
    }

    #[test]
    fn debug_shows_a_prefix_only() {
        let token = DeviceToken::apns(&"ab".repeat(32)).unwrap();
        assert_eq!(format!("{token:?}"), "DeviceToken(apns:abababab…)");
    }

    #[test]
    fn interruption_levels_have_apple_and_google_names() {
        use InterruptionLevel::*;
        let names: Vec<_> = [Passive, Active, TimeSensitive, Critical]
            .into_iter()
            .map(|l| (l.to_string(), l.fcm_notification_priority()))
            .collect();
        assert_eq!(
            names,
            [
                ("passive".to_owned(), "PRIORITY_LOW"),
                ("active".to_owned(), "PRIORITY_DEFAULT"),
                ("time-sensitive".to_owned(), "PRIORITY_HIGH"),
                ("critical".to_owned(), "PRIORITY_MAX"),
            ]
        );
        let n = Notification::alert("t", "b").interruption_level(Critical);
        assert_eq!(n.interruption_level, Some(Critical));
        assert_eq!(Notification::alert("t", "b").interruption_level, None);
    }

    #[test]
    fn a_badge_update_is_a_quiet_alert_with_only_a_badge() {
        let n = Notification::badge_update(12);
        assert_eq!(n.kind, PushKind::Alert);
        assert_eq!(n.priority, Priority::Normal);
        assert_eq!(n.badge, Some(12));
        assert_eq!((n.title, n.body, n.sound), (None, None, None));
        assert!(n.data.is_empty());
    }

    #[test]
    fn push_ids_are_uuids() {
        let token = DeviceToken::fcm("t").unwrap();
        let push = Push::new(token.clone(), Notification::background());
        assert_eq!(push.id().len(), 36);
        assert_ne!(
            push.id(),
            Push::new(token.clone(), Notification::background()).id()
        );
        let fixed = Push::new(token.clone(), Notification::background())
            .with_id("123E4567-E89B-12D3-A456-426614174000")
            .unwrap();
        assert_eq!(fixed.id(), "123e4567-e89b-12d3-a456-426614174000");
        assert!(
            Push::new(token, Notification::background())
                .with_id("x")
                .is_err()
        );
    }
}
