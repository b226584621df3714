//! Further folders: folders a mailbox's user asked to be alerted about besides the watcher's
//! own (the inbox), such as the folders their server-side rules file mail into.
//!
//! - **One subscription.** A target's further folders join the watcher's folders in the
//!   mailbox's one `Subscribe` (`FolderIds` takes any number): Exchange Online allows 20
//!   subscriptions per mailbox (`EWSMaxSubscriptions`, counted per subscription, not per
//!   folder; [EWS throttling](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange)),
//!   and other applications need some of them.
//! - **At most [`MAX_FURTHER`]** further folders per mailbox, refused by
//!   [`Watcher::watch`](crate::Watcher::watch) as a `folders` configuration error.
//! - **Resolved once per subscription.** Notification events name folders by id
//!   (`FolderId` for a folder event, `ParentFolderId` for an item event;
//!   [Notification](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/notification-ex15websvcsotherref)),
//!   never by distinguished name, so before each subscription a `GetFolder` with the
//!   `IdOnly` shape ([GetFolder operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getfolder-operation))
//!   learns the ids. A folder Exchange does not find (`ErrorFolderNotFound`, a malformed id,
//!   no access) is logged and left out, and the others are subscribed: one stale folder never
//!   costs the mailbox its inbox. Targets without further folders send no `GetFolder`.

use std::sync::Arc;

use ews_proto::operations::{BaseShape, GetFolder, GetFolderResponse};
use ews_proto::{BaseFolderId, ChangedObject, Event, FolderId};
use mailbox_watch::WatchError;

use crate::core::Member;
use crate::ews::CallError;
use crate::group::Group;
use crate::recovery::Recovery;

/// The most further folders one mailbox may have: with the inbox, 20 folders in its one
/// subscription.
pub(crate) const MAX_FURTHER: usize = 19;

/// A target's further folders as the watcher keeps them: duplicates and the watcher's own
/// folders removed, in the order given. Refuses more than [`MAX_FURTHER`], and a
/// distinguished folder of another mailbox (Exchange refuses delegate subscriptions,
/// `ErrorSubscriptionDelegateAccessNotSupported`, for the whole `Subscribe`).
pub(crate) fn further(
    own: &[BaseFolderId],
    mailbox: &str,
    requested: Vec<BaseFolderId>,
) -> Result<Box<[BaseFolderId]>, WatchError> {
    let mut out: Vec<BaseFolderId> = Vec::with_capacity(requested.len().min(MAX_FURTHER));
    for folder in requested {
        if let BaseFolderId::Distinguished {
            mailbox: Some(owner),
            ..
        } = &folder
            && owner
                .email_address
                .as_deref()
                .is_none_or(|address| !address.eq_ignore_ascii_case(mailbox))
        {
            return Err(WatchError::config(
                "folders",
                format!(
                    "{} is another mailbox's folder: a mailbox's subscription covers its own folders only",
                    describe(&folder)
                ),
            ));
        }
        if own.contains(&folder) || out.contains(&folder) {
            continue;
        }
        out.push(folder);
    }
    if out.len() > MAX_FURTHER {
        return Err(WatchError::config(
            "folders",
            format!(
                "at most {MAX_FURTHER} further folders per mailbox (got {}): Exchange Online allows 20 subscriptions per mailbox",
                out.len()
            ),
        ));
    }
    Ok(out.into_boxed_slice())
}

/// Whether two further-folder lists name the same set.
pub(crate) fn same_set(a: &[BaseFolderId], b: &[BaseFolderId]) -> bool {
    a.len() == b.len() && a.iter().all(|folder| b.contains(folder))
}

/// A folder as logs name it: its distinguished name or its id.
pub(crate) fn describe(folder: &BaseFolderId) -> String {
    match folder {
        BaseFolderId::Distinguished { id, .. } => id.as_str().to_owned(),
        BaseFolderId::Folder(id) => id.id.clone(),
        other => format!("{other:?}"),
    }
}

/// What a `GetFolder` found of a member's further folders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The further folders to subscribe, as the target named them: those Exchange found,
    /// without any that turned out to be one of the watcher's own or a duplicate.
    pub(crate) subscribe: Vec<BaseFolderId>,
    /// Their ids, as events name them.
    pub(crate) ids: Box<[String]>,
}

/// The `GetFolder` that resolves `further`: the watcher's `own` folders first (so that a
/// further folder that is one of them by id is neither subscribed twice nor marked), then
/// `further`, with the `IdOnly` shape.
pub(crate) fn request(own: &[BaseFolderId], further: &[BaseFolderId]) -> GetFolder {
    let mut request = GetFolder::new(own.iter().chain(further).cloned().collect());
    request.shape = BaseShape::IdOnly;
    request
}

/// Reads the answer to [`request`]: one response message per folder, in order. A folder
/// answered with an error is left out and logged; an error that concerns the whole mailbox
/// or the server (throttling, a mailbox move) fails the whole resolution, to be retried as
/// a `Subscribe` would be.
pub(crate) fn read(
    mailbox: &str,
    own: &[BaseFolderId],
    further: &[BaseFolderId],
    answer: GetFolderResponse,
) -> Result<Resolved, CallError> {
    let mut messages = answer.messages.into_iter();
    let mut own_ids: Vec<String> = Vec::with_capacity(own.len());
    for _ in own {
        // The watcher's own folders' errors are the Subscribe's to report, as without
        // further folders.
        if let Some(message) = messages.next()
            && message.status.is_success()
            && let Some(id) = first_id(message.folders)
        {
            own_ids.push(id.id);
        }
    }
    let mut resolved = Resolved::default();
    let mut ids: Vec<String> = Vec::with_capacity(further.len());
    for folder in further {
        let Some(message) = messages.next() else {
            tracing::warn!(mailbox, folder = %describe(folder), "further folder not answered by GetFolder: left out of the subscription");
            continue;
        };
        if !message.status.is_success() {
            let error = CallError::from_status(&message.status);
            if matches!(
                error.recovery(),
                Recovery::BackOff(_) | Recovery::Throttled | Recovery::Rediscover
            ) {
                return Err(error);
            }
            tracing::warn!(mailbox, folder = %describe(folder), %error, "further folder not found: left out of the subscription");
            continue;
        }
        let Some(id) = first_id(message.folders) else {
            tracing::warn!(mailbox, folder = %describe(folder), "further folder answered without an id: left out of the subscription");
            continue;
        };
        if own_ids.contains(&id.id) || ids.contains(&id.id) {
            tracing::debug!(mailbox, folder = %describe(folder), "further folder already subscribed under another name");
            continue;
        }
        ids.push(id.id);
        resolved.subscribe.push(folder.clone());
    }
    resolved.ids = ids.into_boxed_slice();
    Ok(resolved)
}

fn first_id(folders: Vec<ews_proto::operations::Folder>) -> Option<FolderId> {
    folders.into_iter().next()?.folder_id
}

/// Whether `event` happened in one of the folders `ids`: a folder event's `FolderId`, an
/// item event's `ParentFolderId`.
pub(crate) fn happened_in(event: &Event, ids: &[String]) -> bool {
    let folder = match &event.object {
        Some(ChangedObject::Folder(id)) => Some(id),
        _ => event.parent_folder_id.as_ref(),
    };
    folder.is_some_and(|folder| ids.contains(&folder.id))
}

impl Group {
    /// Resolves `member`'s further folders with a `GetFolder` acting as the member, with the
    /// group's anchor and cookie (`cookie` when the group has none yet), as its `Subscribe`;
    /// keeps their ids with the member for marking its events.
    pub(crate) async fn resolve_further(
        &self,
        member: &Arc<Member>,
        anchor: &str,
        cookie: Option<&str>,
    ) -> Result<Resolved, CallError> {
        let own = &self.core.settings.folders;
        let request = request(own, &member.further);
        let mut target = self.target(&member.smtp, anchor);
        if target.cookie.is_none() {
            target.cookie = cookie;
        }
        let answer = self.core.ews.call(target, &request).await?;
        let resolved = read(&member.smtp, own, &member.further, answer.body)?;
        tracing::debug!(mailbox = %member.smtp, found = resolved.ids.len(), asked = member.further.len(), "further folders resolved");
        member.state().further_ids = resolved.ids.clone();
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use ews_proto::operations::{Folder, GetFolderResponseMessage};
    use ews_proto::soap::ResponseStatus;
    use ews_proto::{DistinguishedFolder, EmailAddress, EventType, ItemId, ResponseCode};

    use super::*;

    fn junk() -> BaseFolderId {
        BaseFolderId::distinguished(DistinguishedFolder::JunkEmail)
    }

    fn found(id: &str) -> GetFolderResponseMessage {
        GetFolderResponseMessage::success(Folder::mail(FolderId::new(id), "x"))
    }

    fn failed(code: ResponseCode) -> GetFolderResponseMessage {
        GetFolderResponseMessage::error(ResponseStatus::error(code, "no"))
    }

    #[test]
    fn further_folders_are_deduplicated_without_the_watchers_own_and_bounded() {
        let own = [BaseFolderId::inbox()];
        let kept = further(
            &own,
            "mara@contoso.com",
            vec![junk(), BaseFolderId::inbox(), junk()],
        )
        .unwrap();
        assert_eq!(&*kept, &[junk()]);
        let nineteen: Vec<BaseFolderId> = (0..19)
            .map(|n| BaseFolderId::Folder(FolderId::new(format!("f{n}"))))
            .collect();
        assert_eq!(
            further(&own, "mara@contoso.com", nineteen.clone())
                .unwrap()
                .len(),
            19
        );
        let mut twenty = nineteen;
        twenty.push(junk());
        match further(&own, "mara@contoso.com", twenty) {
            Err(WatchError::Config { field, .. }) => assert_eq!(field, "folders"),
            other => panic!("expected a folders error, got {other:?}"),
        }
    }

    #[test]
    fn another_mailboxs_distinguished_folder_is_refused_and_ones_own_kept() {
        let of = |address: &str| BaseFolderId::Distinguished {
            id: DistinguishedFolder::JunkEmail,
            change_key: None,
            mailbox: Some(EmailAddress::smtp(address)),
        };
        let own = [BaseFolderId::inbox()];
        assert!(further(&own, "mara@contoso.com", vec![of("Mara@Contoso.com")]).is_ok());
        assert!(matches!(
            further(&own, "mara@contoso.com", vec![of("sadie@contoso.com")]),
            Err(WatchError::Config {
                field: "folders",
                ..
            })
        ));
    }

    #[test]
    fn sets_compare_whatever_the_order() {
        let a = [junk(), BaseFolderId::Folder(FolderId::new("x"))];
        let b = [BaseFolderId::Folder(FolderId::new("x")), junk()];
        assert!(same_set(&a, &b));
        assert!(!same_set(&a, &a[..1]));
        assert!(same_set(&[], &[]));
    }

    #[test]
    fn the_request_asks_ids_only_for_own_then_further_folders() {
        let request = request(&[BaseFolderId::inbox()], &[junk()]);
        assert_eq!(request.shape, BaseShape::IdOnly);
        assert_eq!(request.folder_ids, vec![BaseFolderId::inbox(), junk()]);
    }

    #[test]
    fn folders_not_found_are_left_out_and_the_rest_kept() {
        let own = [BaseFolderId::inbox()];
        let unknown = BaseFolderId::Folder(FolderId::new("gone"));
        let malformed = BaseFolderId::Folder(FolderId::new("!!"));
        let inbox_by_id = BaseFolderId::Folder(FolderId::new("inbox-id"));
        let further = [unknown, junk(), malformed, inbox_by_id];
        let answer = GetFolderResponse::new(vec![
            found("inbox-id"),
            failed(ResponseCode::ErrorFolderNotFound),
            found("junk-id"),
            failed(ResponseCode::ErrorInvalidIdMalformed),
            found("inbox-id"),
        ]);
        let resolved = read("mara@contoso.com", &own, &further, answer).unwrap();
        assert_eq!(resolved.subscribe, vec![junk()]);
        assert_eq!(&*resolved.ids, &["junk-id".to_owned()]);
    }

    #[test]
    fn throttling_fails_the_whole_resolution() {
        let answer = GetFolderResponse::new(vec![
            found("inbox-id"),
            failed(ResponseCode::ErrorServerBusy),
        ]);
        let error = read("m@c.com", &[BaseFolderId::inbox()], &[junk()], answer).unwrap_err();
        assert_eq!(error.code(), Some(&ResponseCode::ErrorServerBusy));
    }

    #[test]
    fn item_events_count_by_parent_and_folder_events_by_their_own_id() {
        let ids = ["junk-id".to_owned()];
        let mut moved = Event::new(EventType::Moved);
        moved.object = Some(ChangedObject::Item(ItemId::new("i")));
        moved.parent_folder_id = Some(FolderId::new("junk-id"));
        moved.old_parent_folder_id = Some(FolderId::new("inbox-id"));
        assert!(happened_in(&moved, &ids));
        let mut modified = Event::new(EventType::Modified);
        modified.object = Some(ChangedObject::Folder(FolderId::new("junk-id")));
        modified.parent_folder_id = Some(FolderId::new("root-id"));
        assert!(happened_in(&modified, &ids));
        // The inbox's own change, whose parent is not a further folder.
        modified.object = Some(ChangedObject::Folder(FolderId::new("inbox-id")));
        assert!(!happened_in(&modified, &ids));
        let mut new_mail = Event::new(EventType::NewMail);
        new_mail.parent_folder_id = Some(FolderId::new("inbox-id"));
        assert!(!happened_in(&new_mail, &ids));
        assert!(!happened_in(&Event::status(None), &ids));
        assert!(!happened_in(&moved, &[]));
    }
}
