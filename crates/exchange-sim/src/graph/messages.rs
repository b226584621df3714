//! Messages and mail folders as Graph shows them: ids in the REST format (the EWS id in
//! URL-safe base64, `+` as `-` and `/` as `_`), `GET /users/{id}/mailFolders/{folder}` with
//! `unreadItemCount` (<https://learn.microsoft.com/graph/api/resources/mailfolder>), and the
//! message properties delta rounds return
//! (<https://learn.microsoft.com/graph/api/resources/message>).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::errors::GraphError;
use super::store::graph_datetime;
use super::{Request, json as answer};
use crate::world::mailbox::{FolderKind, Item, Mailbox, total};
use crate::world::message::sender_name;

/// The REST form of an EWS id.
pub(crate) fn rest_id(ews_id: &str) -> String {
    ews_id.replace('+', "-").replace('/', "_")
}

/// A folder's Graph id.
pub(crate) fn folder_id(mailbox: &Mailbox, folder: FolderKind) -> String {
    rest_id(&mailbox.folder_id(folder).id)
}

/// Graph's well-known mail folder names the simulator's mailbox has
/// ([mailFolder](https://learn.microsoft.com/en-us/graph/api/resources/mailfolder): the table of
/// well-known folder names). EWS-only names (`root`, `calendar`, ...) are not among them.
const WELL_KNOWN: [&str; 15] = [
    "archive",
    "conflicts",
    "conversationhistory",
    "deleteditems",
    "drafts",
    "inbox",
    "junkemail",
    "localfailures",
    "msgfolderroot",
    "outbox",
    "recoverableitemsdeletions",
    "searchfolders",
    "sentitems",
    "serverfailures",
    "syncissues",
];

/// The folder a well-known name (`inbox`, any case) or a folder id names.
pub(crate) fn folder_kind(mailbox: &Mailbox, name: &str) -> Option<FolderKind> {
    let lower = name.to_ascii_lowercase();
    let well_known = WELL_KNOWN.contains(&lower.as_str()).then(|| {
        if lower == "archive" {
            Some(FolderKind::Archive)
        } else {
            FolderKind::from_distinguished(&lower)
        }
    });
    well_known.flatten().or_else(|| {
        FolderKind::ALL
            .into_iter()
            .find(|f| folder_id(mailbox, *f) == name)
    })
}

/// The `$select` list, lower case; `None` selects everything.
pub(crate) fn selection(request: &Request<'_>) -> Option<Vec<String>> {
    request.param("$select").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

fn keep(object: Map<String, Value>, select: Option<&[String]>) -> Value {
    let Some(select) = select else {
        return Value::Object(object);
    };
    Value::Object(
        object
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with('@') || k == "id" || select.iter().any(|s| s.eq_ignore_ascii_case(k))
            })
            .collect(),
    )
}

/// A message as Graph shows it: `from` and `sender` as `{"emailAddress": {"name",
/// "address"}}` (the name is the address for a sender without a display name, as Exchange
/// shows it), `importance` `low`, `normal` or `high`.
pub(crate) fn message(
    mailbox: &Mailbox,
    number: u64,
    item: &Item,
    select: Option<&[String]>,
) -> Value {
    let id = rest_id(&mailbox.item_id(number, item.version).id);
    let mut object = Map::new();
    object.insert("@odata.type".into(), json!("#microsoft.graph.message"));
    object.insert(
        "@odata.etag".into(),
        json!(format!("W/\"CQAAAB{}\"", item.version)),
    );
    object.insert("id".into(), json!(id));
    object.insert(
        "receivedDateTime".into(),
        json!(graph_datetime(item.received)),
    );
    object.insert("hasAttachments".into(), json!(false));
    object.insert("subject".into(), json!(item.subject));
    object.insert("importance".into(), json!(item.importance.graph()));
    object.insert(
        "parentFolderId".into(),
        json!(folder_id(mailbox, item.folder)),
    );
    // The simulator's senders send for themselves: `sender` and `from` are the same.
    let address = json!({"emailAddress": {
        "name": sender_name(&item.from, item.from_name.as_deref()),
        "address": item.from,
    }});
    object.insert("sender".into(), address.clone());
    object.insert("from".into(), address);
    object.insert("isRead".into(), json!(item.read));
    keep(object, select)
}

/// `GET /users/{user}/mailFolders/{folder}`.
pub(crate) fn folder(
    request: &Request<'_>,
    user: &str,
    name: &str,
) -> Result<Response, GraphError> {
    let ctx = request.ctx;
    let mailbox = ctx
        .graph
        .users
        .resolve(&ctx.world, user)
        .and_then(|i| ctx.world.mailboxes.get(i))
        .ok_or_else(|| GraphError::unknown_user(user))?;
    let folder = folder_kind(mailbox, name).ok_or_else(|| {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    })?;
    let (unread, count) = {
        let state = mailbox.lock();
        (mailbox_unread(&state, folder), total(&state, folder))
    };
    let mut object = Map::new();
    object.insert(
        "@odata.context".into(),
        json!(format!(
            "https://graph.microsoft.com/v1.0/$metadata#users('{user}')/mailFolders/$entity"
        )),
    );
    object.insert("id".into(), json!(folder_id(mailbox, folder)));
    object.insert("displayName".into(), json!(folder.display_name()));
    object.insert(
        "parentFolderId".into(),
        json!(folder_id(mailbox, folder.parent().unwrap_or(folder))),
    );
    object.insert("childFolderCount".into(), json!(folder.children().count()));
    object.insert("unreadItemCount".into(), json!(unread));
    object.insert("totalItemCount".into(), json!(count));
    object.insert("sizeInBytes".into(), json!(0));
    object.insert("isHidden".into(), json!(false));
    Ok(answer(
        StatusCode::OK,
        &keep(object, selection(request).as_deref()),
    ))
}

fn mailbox_unread(state: &crate::world::mailbox::MailboxState, folder: FolderKind) -> i32 {
    let n = state
        .items
        .values()
        .filter(|i| i.folder == folder && !i.read)
        .count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_ids_are_url_safe_ews_ids() {
        let ews = "AAMk+abc/def==";
        assert_eq!(rest_id(ews), "AAMk-abc_def==");
        assert_eq!(rest_id(ews).replace('-', "+").replace('_', "/"), ews);
    }
}
