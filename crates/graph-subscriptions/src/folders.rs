//! Further folders: folders a mailbox's user asked to be alerted about besides the inbox
//! (`WatchTarget::folders`), such as those their server-side rules file mail into.
//!
//! - **One subscription per folder.** A Graph subscription has one `resource`, so each
//!   further folder has its own, on `/users/{id}/mailFolders('{folder}')/messages` with
//!   `changeType` `created`, the same webhook, `clientState` rules, expiry and renewal as the
//!   inbox's (<https://learn.microsoft.com/graph/api/resources/subscription>), and its own
//!   delta link for `missed` rounds
//!   (<https://learn.microsoft.com/graph/delta-query-messages>).
//! - **Names.** A distinguished folder is named by its EWS distinguished name, which is
//!   also Graph's well-known name for a mail folder (`junkemail`, `archive`; see the table in
//!   <https://learn.microsoft.com/graph/api/resources/mailfolder>); a folder id is taken in
//!   its EWS form and sent in its REST form (`+` as `-`, `/` as `_`). Either is checked for
//!   its form before it goes into a URL.
//! - **At most [`MAX_FURTHER`]**, refused by `GraphWatcher::watch` as a `folders`
//!   configuration error: with the inbox's, 20 subscriptions per mailbox, as Exchange
//!   Online's EWS allows, leaving Graph's per-mailbox quota to other applications.
//! - **A folder Graph does not find** (or refuses) is logged and left out; the inbox and the
//!   other folders are watched, and the folder is tried again after `catch_up_interval`.
//! - **Events.** Their new mail is marked `in_further_folder()`, and no unread count follows
//!   (the badge is the inbox's).

use ews_proto::BaseFolderId;
use mailbox_watch::WatchError;

/// The most further folders one mailbox may have: with the inbox, 20 subscriptions.
pub(crate) const MAX_FURTHER: usize = 19;

/// The longest folder name or id accepted (Graph's ids are about 120 characters).
const MAX_NAME: usize = 512;

/// A further folder as Graph names it: a well-known name (lower case, `junkemail`) or a
/// folder id in REST form. Valid by construction: only ASCII letters, digits, `-`, `_` and
/// `=`, so it stays one path segment and one quoted key of a `resource`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FolderName(String);

impl FolderName {
    /// A name as saved or spooled by this crate (checked again: files can be edited).
    pub(crate) fn read(text: &str) -> Option<Self> {
        let ok = (1..=MAX_NAME).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='));
        ok.then(|| Self(text.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FolderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Graph name of one further folder; `Ok(None)` for the inbox (the watcher's own).
fn name(mailbox: &str, folder: &BaseFolderId) -> Result<Option<FolderName>, WatchError> {
    let refuse = |why: String| Err(WatchError::config("folders", why));
    match folder {
        BaseFolderId::Distinguished {
            id, mailbox: owner, ..
        } => {
            if let Some(owner) = owner
                && owner
                    .email_address
                    .as_deref()
                    .is_none_or(|a| !a.eq_ignore_ascii_case(mailbox))
            {
                return refuse(format!(
                    "{} is another mailbox's folder: a subscription covers the watched mailbox's own folders only",
                    id.as_str()
                ));
            }
            let lower = id.as_str().to_ascii_lowercase();
            if lower == "inbox" {
                return Ok(None);
            }
            match FolderName::read(&lower) {
                Some(name) if lower.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok(Some(name)),
                _ => refuse(format!("{lower:?} is not a well-known folder name")),
            }
        }
        BaseFolderId::Folder(id) => {
            let rest = id.id.replace('+', "-").replace('/', "_");
            match FolderName::read(&rest) {
                Some(name) => Ok(Some(name)),
                None => refuse(format!("{:?} is not a folder id", id.id)),
            }
        }
        other => refuse(format!("{other:?} is not a folder this watcher can name")),
    }
}

/// A target's further folders as the watcher keeps them: Graph names, duplicates and the
/// inbox removed, in the order given. Refuses more than [`MAX_FURTHER`], another mailbox's
/// folder, and names or ids of the wrong form.
pub(crate) fn further(
    mailbox: &str,
    requested: &[BaseFolderId],
) -> Result<Vec<FolderName>, WatchError> {
    let mut out: Vec<FolderName> = Vec::with_capacity(requested.len().min(MAX_FURTHER));
    for folder in requested {
        if let Some(name) = name(mailbox, folder)?
            && !out.contains(&name)
        {
            out.push(name);
        }
    }
    if out.len() > MAX_FURTHER {
        return Err(WatchError::config(
            "folders",
            format!(
                "at most {MAX_FURTHER} further folders per mailbox (got {}): one Graph subscription each, 20 with the inbox's",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Whether two lists name the same set of folders.
pub(crate) fn same_set(a: &[FolderName], b: &[FolderName]) -> bool {
    a.len() == b.len() && a.iter().all(|folder| b.contains(folder))
}

#[cfg(test)]
mod tests {
    use ews_proto::{DistinguishedFolder, EmailAddress, FolderId};

    use super::*;

    const MARA: &str = "mara@contoso.com";

    fn names(folders: &[FolderName]) -> Vec<&str> {
        folders.iter().map(FolderName::as_str).collect()
    }

    #[test]
    fn distinguished_folders_and_ids_become_graph_names_once_each() {
        let folders = further(
            MARA,
            &[
                BaseFolderId::distinguished(DistinguishedFolder::JunkEmail),
                BaseFolderId::inbox(),
                BaseFolderId::Folder(FolderId::new("AQMkF+abc/def==")),
                BaseFolderId::distinguished(DistinguishedFolder::Unknown("Archive".into())),
                BaseFolderId::distinguished(DistinguishedFolder::JunkEmail),
            ],
        )
        .expect("valid");
        assert_eq!(names(&folders), ["junkemail", "AQMkF-abc_def==", "archive"]);
    }

    #[test]
    fn twenty_further_folders_and_names_of_the_wrong_form_are_refused() {
        let many: Vec<BaseFolderId> = (0..20)
            .map(|n| BaseFolderId::Folder(FolderId::new(format!("AQMkF{n}"))))
            .collect();
        assert_eq!(further(MARA, &many[..19]).expect("19").len(), 19);
        let refused = [
            many,
            vec![BaseFolderId::Folder(FolderId::new("AQMk')/x?y"))],
            vec![BaseFolderId::Folder(FolderId::new(""))],
            vec![BaseFolderId::distinguished(DistinguishedFolder::Unknown(
                "junk')".into(),
            ))],
            vec![BaseFolderId::Distinguished {
                id: DistinguishedFolder::JunkEmail,
                change_key: None,
                mailbox: Some(EmailAddress::smtp("sadie@contoso.com")),
            }],
        ];
        for folders in refused {
            assert!(
                matches!(
                    further(MARA, &folders),
                    Err(WatchError::Config {
                        field: "folders",
                        ..
                    })
                ),
                "{folders:?}"
            );
        }
        let own = BaseFolderId::Distinguished {
            id: DistinguishedFolder::JunkEmail,
            change_key: None,
            mailbox: Some(EmailAddress::smtp("Mara@Contoso.com")),
        };
        assert_eq!(names(&further(MARA, &[own]).expect("own")), ["junkemail"]);
    }

    #[test]
    fn sets_compare_without_order_and_saved_names_are_checked() {
        let a = further(
            MARA,
            &[
                BaseFolderId::distinguished(DistinguishedFolder::JunkEmail),
                BaseFolderId::distinguished(DistinguishedFolder::SentItems),
            ],
        )
        .expect("valid");
        let mut b = a.clone();
        b.reverse();
        assert!(same_set(&a, &b));
        assert!(!same_set(&a, &a[..1]));
        assert!(FolderName::read("AQMk-x_y=").is_some());
        for bad in ["", "a/b", "a'b", "a b", "%2e"] {
            assert_eq!(FolderName::read(bad), None, "{bad:?}");
        }
    }
}
