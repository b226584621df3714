//! What the watcher saves per mailbox, through the `WatermarkStore` (or the consumer's
//! checkpoints): the inbox's subscription (id, the digest of its `clientState`, expiry), its
//! delta link, the last spool record delivered, the digests of the last messages reported,
//! and what was still to do; then the same of each further folder (`fol`, by folder name), so
//! that a restarted watcher knows which subscription is which folder's. Text
//! `graph1:{json}`; a text without `fol` (saved before further folders) reads as an inbox
//! only, and anything else (an EWS watermark, from before the mailbox moved to Graph) reads
//! as nothing saved.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::folders::FolderName;
use crate::secret::StateDigest;
use crate::wire::{format_datetime, parse_datetime};

const PREFIX: &str = "graph1:";

/// Most message digests saved.
pub(crate) const SAVED_SEEN: usize = 128;

/// A subscription as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedSubscription {
    pub(crate) id: String,
    pub(crate) digest: StateDigest,
    pub(crate) expires: OffsetDateTime,
    /// When it is due for renewal.
    pub(crate) renew_at: OffsetDateTime,
}

/// Work that was due when the state was saved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Todo {
    pub(crate) create: bool,
    pub(crate) reauthorize: bool,
    pub(crate) resync: bool,
}

/// A mailbox's saved state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Saved {
    pub(crate) subscription: Option<SavedSubscription>,
    pub(crate) delta_link: Option<String>,
    /// The last spool record whose events were delivered.
    pub(crate) spool_seq: u64,
    /// Digests of the messages last reported, oldest first.
    pub(crate) seen: Vec<u64>,
    /// When the round that gave `delta_link` began (our clock): a catch-up after Graph lost
    /// the link's state reads from there.
    pub(crate) round_at: Option<OffsetDateTime>,
    pub(crate) todo: Todo,
    /// The further folders' subscriptions and delta links.
    pub(crate) folders: Vec<SavedFolder>,
}

/// A further folder's saved state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedFolder {
    pub(crate) folder: FolderName,
    pub(crate) subscription: Option<SavedSubscription>,
    pub(crate) delta_link: Option<String>,
    pub(crate) round_at: Option<OffsetDateTime>,
    pub(crate) todo: Todo,
}

#[derive(Serialize, Deserialize)]
struct WireSub {
    id: String,
    cs: String,
    exp: String,
    ren: String,
}

#[derive(Serialize, Deserialize, Default)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<WireSub>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delta: Option<String>,
    #[serde(default)]
    seq: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seen: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    todo: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ra: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fol: Vec<WireFolder>,
}

#[derive(Serialize, Deserialize)]
struct WireFolder {
    f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<WireSub>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delta: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    todo: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ra: Option<String>,
}

impl WireSub {
    fn of(s: &SavedSubscription) -> Self {
        Self {
            id: s.id.clone(),
            cs: s.digest.to_hex(),
            exp: format_datetime(s.expires),
            ren: format_datetime(s.renew_at),
        }
    }

    fn read(self) -> Option<SavedSubscription> {
        Some(SavedSubscription {
            digest: StateDigest::from_hex(&self.cs)?,
            expires: parse_datetime(&self.exp)?,
            renew_at: parse_datetime(&self.ren)?,
            id: self.id,
        })
    }
}

impl Todo {
    fn names(self) -> Vec<String> {
        [
            (self.create, "create"),
            (self.reauthorize, "reauthorize"),
            (self.resync, "resync"),
        ]
        .into_iter()
        .filter(|(due, _)| *due)
        .map(|(_, name)| name.to_owned())
        .collect()
    }

    fn read(names: &[String]) -> Self {
        Self {
            create: names.iter().any(|t| t == "create"),
            reauthorize: names.iter().any(|t| t == "reauthorize"),
            resync: names.iter().any(|t| t == "resync"),
        }
    }
}

impl Saved {
    /// The text saved.
    pub(crate) fn encode(&self) -> String {
        let wire = Wire {
            sub: self.subscription.as_ref().map(WireSub::of),
            delta: self.delta_link.clone(),
            seq: self.spool_seq,
            seen: self
                .seen
                .iter()
                .rev()
                .take(SAVED_SEEN)
                .rev()
                .map(|d| format!("{d:016x}"))
                .collect(),
            todo: self.todo.names(),
            ra: self.round_at.map(format_datetime),
            fol: self
                .folders
                .iter()
                .map(|f| WireFolder {
                    f: f.folder.as_str().to_owned(),
                    sub: f.subscription.as_ref().map(WireSub::of),
                    delta: f.delta_link.clone(),
                    todo: f.todo.names(),
                    ra: f.round_at.map(format_datetime),
                })
                .collect(),
        };
        format!(
            "{PREFIX}{}",
            serde_json::to_string(&wire).unwrap_or_default()
        )
    }

    /// Reads saved text; `None` when it is not the watcher's (or is damaged).
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let wire: Wire = serde_json::from_str(text.strip_prefix(PREFIX)?).ok()?;
        let subscription = match wire.sub {
            Some(sub) => Some(sub.read()?),
            None => None,
        };
        let mut folders = Vec::with_capacity(wire.fol.len());
        for f in wire.fol {
            folders.push(SavedFolder {
                folder: FolderName::read(&f.f)?,
                subscription: match f.sub {
                    Some(sub) => Some(sub.read()?),
                    None => None,
                },
                delta_link: f.delta,
                round_at: f.ra.as_deref().and_then(parse_datetime),
                todo: Todo::read(&f.todo),
            });
        }
        Some(Self {
            subscription,
            delta_link: wire.delta,
            spool_seq: wire.seq,
            seen: wire
                .seen
                .iter()
                .filter_map(|d| u64::from_str_radix(d, 16).ok())
                .collect(),
            round_at: wire.ra.as_deref().and_then(parse_datetime),
            todo: Todo::read(&wire.todo),
            folders,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_round_trips_without_the_client_state() {
        let at = parse_datetime("2030-01-02T03:04:05Z").expect("date");
        let saved = Saved {
            subscription: Some(SavedSubscription {
                id: "sub-1".into(),
                digest: StateDigest::of("the-secret"),
                expires: at,
                renew_at: at,
            }),
            delta_link: Some("https://graph.microsoft.com/v1.0/x?$deltatoken=abc".into()),
            spool_seq: 42,
            seen: (0..200).collect(),
            round_at: Some(at),
            todo: Todo {
                resync: true,
                ..Todo::default()
            },
            folders: Vec::new(),
        };
        let text = saved.encode();
        assert!(text.starts_with("graph1:"));
        assert!(!text.contains("the-secret"));
        let back = Saved::decode(&text).expect("decodes");
        assert_eq!(back.seen.len(), SAVED_SEEN);
        assert_eq!(back.seen.last(), Some(&199));
        assert_eq!(back.spool_seq, 42);
        assert!(back.todo.resync && !back.todo.create);
        assert_eq!(back.subscription, saved.subscription);
        assert_eq!(back.round_at, Some(at));
    }

    #[test]
    fn further_folders_round_trip_and_old_text_reads_as_the_inbox_only() {
        let at = parse_datetime("2030-01-02T03:04:05Z").expect("date");
        let junk = FolderName::read("junkemail").expect("a name");
        let saved = Saved {
            subscription: Some(SavedSubscription {
                id: "inbox-sub".into(),
                digest: StateDigest::of("inbox-secret"),
                expires: at,
                renew_at: at,
            }),
            folders: vec![SavedFolder {
                folder: junk.clone(),
                subscription: Some(SavedSubscription {
                    id: "junk-sub".into(),
                    digest: StateDigest::of("junk-secret"),
                    expires: at,
                    renew_at: at,
                }),
                delta_link: Some("https://graph.microsoft.com/v1.0/junk?$deltatoken=j".into()),
                round_at: Some(at),
                todo: Todo {
                    create: true,
                    ..Todo::default()
                },
            }],
            ..Saved::default()
        };
        let text = saved.encode();
        assert!(!text.contains("junk-secret"));
        let back = Saved::decode(&text).expect("decodes");
        assert_eq!(back, saved);
        assert_eq!(back.folders[0].folder, junk);
        // Text saved before further folders: the inbox's subscription, no folders.
        let old = format!(
            r#"graph1:{{"sub":{{"id":"inbox-sub","cs":"{}","exp":"2030-01-02T03:04:05Z","ren":"2030-01-02T03:04:05Z"}},"seq":3}}"#,
            StateDigest::of("x").to_hex()
        );
        let old = Saved::decode(&old).expect("old text decodes");
        assert_eq!(old.subscription.map(|s| s.id).as_deref(), Some("inbox-sub"));
        assert!(old.folders.is_empty());
        assert_eq!(old.spool_seq, 3);
        // A folder name that is not one: the text is not the watcher's.
        let bad = text.replace("junkemail", "junk/../x");
        assert_eq!(Saved::decode(&bad), None);
    }

    #[test]
    fn other_text_is_nothing_saved() {
        for text in [
            "AQAAAA==",
            "graph1:",
            "graph1:{\"sub\":{\"id\":1}}",
            "graph1:{\"seq\":\"x\"}",
            "",
        ] {
            assert_eq!(Saved::decode(text), None, "{text}");
        }
        assert_eq!(Saved::decode("graph1:{}"), Some(Saved::default()));
    }
}
