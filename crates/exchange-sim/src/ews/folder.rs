//! `GetFolder`: folders of the mailbox acted as, with their counts.

use axum::response::Response;
use ews_proto::operations::{Folder, GetFolder, GetFolderResponse, GetFolderResponseMessage};
use ews_proto::soap::ResponseStatus;
use ews_proto::{BaseFolderId, ResponseCode};

use super::{Call, respond};
use crate::world::mailbox::{FolderKind, total};

/// `GetFolder`: one response message per requested folder.
pub(crate) fn get_folder(call: &Call, request: GetFolder) -> Response {
    let world = &call.ctx.world;
    let messages = request
        .folder_ids
        .iter()
        .map(|id| {
            let found = match id {
                BaseFolderId::Distinguished {
                    id, mailbox: owner, ..
                } => {
                    let target = owner
                        .as_ref()
                        .and_then(|o| o.email_address.as_deref())
                        .map_or(Some(call.mailbox), |smtp| {
                            world.directory.user_by_smtp(smtp)
                        });
                    target
                        .filter(|t| {
                            *t == call.mailbox
                                || world.directory.may_impersonate(&call.principal, *t)
                        })
                        .zip(FolderKind::from_distinguished(id.as_str()))
                }
                BaseFolderId::Folder(folder) => {
                    let mailbox = &world.mailboxes[call.mailbox];
                    FolderKind::ALL
                        .into_iter()
                        .find(|f| mailbox.folder_id(*f).id == folder.id)
                        .map(|f| (call.mailbox, f))
                }
                _ => None,
            };
            match found {
                Some((mailbox, kind)) => {
                    GetFolderResponseMessage::success(folder(call, mailbox, kind))
                }
                None => GetFolderResponseMessage::error(ResponseStatus::error(
                    ResponseCode::ErrorFolderNotFound,
                    "The specified folder could not be found in the store.",
                )),
            }
        })
        .collect();
    respond::ok(world, &GetFolderResponse::new(messages))
}

fn folder(call: &Call, mailbox: usize, kind: FolderKind) -> Folder {
    let mailbox = &call.ctx.world.mailboxes[mailbox];
    let mut folder = Folder::mail(mailbox.folder_id(kind), kind.display_name());
    if kind != FolderKind::Root {
        folder.parent_folder_id = Some(mailbox.folder_id(FolderKind::Root));
    }
    let state = mailbox.lock();
    folder.total_count = Some(total(&state, kind));
    drop(state);
    folder.child_folder_count = Some(if kind == FolderKind::Root { 4 } else { 0 });
    folder.unread_count = Some(mailbox.unread(kind));
    folder
}
