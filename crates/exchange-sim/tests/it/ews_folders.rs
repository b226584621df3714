//! The mailbox's folders as Exchange has them, asked the way a foreign client asks: raw
//! SOAP written here (not by `ews-proto`), answers read with `roxmltree`.
//!
//! Here: GetFolder for every distinguished folder with its class and parent, the shapes,
//! FindFolder (deep, shallow, paged) and schema refusals; `access`: delegates (FullAccess and
//! folder permissions) and a service account without a mailbox; `moves`: the events a move
//! raises and `MoveItem`.

mod access;
mod moves;

use std::collections::BTreeMap;

use exchange_sim::{FolderKind, Scenario};

use crate::ews::{MARA, SADIE};
use crate::support::{self, Answer, Ews};

pub(super) const M: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
pub(super) const T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

/// A request envelope with `header` and `body` (prefixes `m`, `t` bound).
pub(super) fn envelope(header: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{M}" xmlns:t="{T}">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/>{header}</soap:Header>
<soap:Body>{body}</soap:Body>
</soap:Envelope>"#
    )
}

pub(super) fn impersonating(smtp: &str) -> String {
    format!(
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{smtp}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
    )
}

pub(super) fn distinguished(name: &str, mailbox: Option<&str>) -> String {
    match mailbox {
        Some(smtp) => format!(
            "<t:DistinguishedFolderId Id=\"{name}\"><t:Mailbox><t:EmailAddress>{smtp}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>"
        ),
        None => format!("<t:DistinguishedFolderId Id=\"{name}\"/>"),
    }
}

pub(super) fn get_folder(shape: &str, ids: &str) -> String {
    format!(
        "<m:GetFolder><m:FolderShape><t:BaseShape>{shape}</t:BaseShape></m:FolderShape><m:FolderIds>{ids}</m:FolderIds></m:GetFolder>"
    )
}

pub(super) fn find_folder(traversal: &str, view: &str, parent: &str) -> String {
    format!(
        "<m:FindFolder Traversal=\"{traversal}\"><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape>{view}<m:ParentFolderIds>{parent}</m:ParentFolderIds></m:FindFolder>"
    )
}

/// A folder as answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Folder {
    pub(super) element: String,
    pub(super) id: Option<String>,
    pub(super) parent: Option<String>,
    pub(super) class: Option<String>,
    pub(super) name: Option<String>,
    pub(super) total: Option<i32>,
    pub(super) children: Option<i32>,
    pub(super) unread: Option<i32>,
    /// Child element names in order.
    pub(super) order: Vec<String>,
}

/// One response message: its class and code, the `RootFolder` attributes, the folders.
#[derive(Debug, Clone, Default)]
pub(super) struct Message {
    pub(super) class: String,
    pub(super) code: String,
    pub(super) root: BTreeMap<String, String>,
    pub(super) folders: Vec<Folder>,
}

pub(super) fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.text().unwrap_or_default().to_owned()
}

/// The response messages of an answer, which must be HTTP 200 in the EWS namespaces.
pub(super) fn messages(answer: &Answer) -> Vec<Message> {
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    let doc = roxmltree::Document::parse(&text).expect("well-formed answer");
    let list = doc
        .descendants()
        .find(|n| n.has_tag_name((M, "ResponseMessages")))
        .expect("m:ResponseMessages");
    list.children()
        .filter(|n| n.is_element())
        .map(|message| {
            let mut out = Message {
                class: message
                    .attribute("ResponseClass")
                    .unwrap_or_default()
                    .into(),
                ..Message::default()
            };
            for node in message.descendants().filter(|n| n.is_element()) {
                if node.has_tag_name((M, "ResponseCode")) {
                    out.code = text_of(node);
                }
                if node.has_tag_name((M, "RootFolder")) {
                    for a in node.attributes() {
                        out.root.insert(a.name().into(), a.value().into());
                    }
                }
                if node.has_tag_name((T, "Folders")) || node.has_tag_name((M, "Folders")) {
                    out.folders
                        .extend(node.children().filter(|n| n.is_element()).map(folder));
                }
            }
            out
        })
        .collect()
}

pub(super) fn folder(node: roxmltree::Node<'_, '_>) -> Folder {
    assert_eq!(node.tag_name().namespace(), Some(T));
    let mut out = Folder {
        element: node.tag_name().name().into(),
        ..Folder::default()
    };
    for child in node.children().filter(|n| n.is_element()) {
        let name = child.tag_name().name();
        out.order.push(name.into());
        let number = || text_of(child).parse().ok();
        match name {
            "FolderId" => out.id = child.attribute("Id").map(Into::into),
            "ParentFolderId" => out.parent = child.attribute("Id").map(Into::into),
            "FolderClass" => out.class = Some(text_of(child)),
            "DisplayName" => out.name = Some(text_of(child)),
            "TotalCount" => out.total = number(),
            "ChildFolderCount" => out.children = number(),
            "UnreadCount" => out.unread = number(),
            _ => {}
        }
    }
    out
}

/// The code of a SOAP fault answer (HTTP 500).
pub(super) fn fault(answer: &Answer) -> (String, String) {
    let (code, reason, _) = fault_at(answer);
    (code, reason)
}

/// A fault's code, `faultstring`, and `MessageXml`'s `LineNumber` and `LinePosition`.
pub(super) fn fault_at(answer: &Answer) -> (String, String, Option<(u32, u32)>) {
    assert_eq!(answer.status, 500, "{}", answer.text());
    let text = answer.text();
    let doc = roxmltree::Document::parse(&text).expect("well-formed fault");
    let code = doc
        .descendants()
        .find(|n| n.tag_name().name() == "ResponseCode")
        .map(text_of)
        .unwrap_or_default();
    let reason = doc
        .descendants()
        .find(|n| n.tag_name().name() == "faultstring")
        .map(text_of)
        .unwrap_or_default();
    let number = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name((T, name)))
            .and_then(|n| text_of(n).parse().ok())
    };
    let at = number("LineNumber").zip(number("LinePosition"));
    (code, reason, at)
}

/// EWS as `who` (Basic), at `mailbox`'s server.
pub(super) fn as_user<'a>(
    sim: &exchange_sim::Sim,
    mailbox: &str,
    who: (&'a str, &'a str),
) -> Ews<'a> {
    Ews {
        basic: Some(who),
        ..Ews::new(sim, mailbox)
    }
}

pub(super) const MARA_LOGON: (&str, &str) = ("mara@contoso.com", "Mara-Pa55");
pub(super) const SADIE_LOGON: (&str, &str) = ("sadie@contoso.com", "Sadie-Pa55");
pub(super) const PLAIN: (&str, &str) = ("svc-plain@contoso.com", "Plain-Pa55");

pub(super) const ALFRED: &str = "alfred@contoso.com";

/// The standard scenario, with Sadie's mailbox open (FullAccess) to Mara and `svc-plain`,
/// and Sadie a delegate on Alfred's inbox, contacts and recipient cache.
pub(super) fn delegating() -> Scenario {
    let text = support::SCENARIO
        .replace(
            "password = \"Sadie-Pa55\"\n",
            "password = \"Sadie-Pa55\"\nfull_access = [\"mara@contoso.com\", \"svc-plain\"]\n",
        )
        .replace(
            "last_name = \"Hall\"\nserver = \"mbx2\"\n",
            "last_name = \"Hall\"\nserver = \"mbx2\"\n[[users.delegates]]\nuser = \"sadie@contoso.com\"\nfolders = [\"inbox\", \"contacts\", \"recipientcache\"]\n",
        );
    Scenario::from_toml(&text).expect("scenario with full_access is valid")
}

pub(super) fn distinguished_kinds() -> Vec<(FolderKind, &'static str)> {
    FolderKind::ALL
        .into_iter()
        .filter_map(|k| k.distinguished_name().map(|n| (k, n)))
        .collect()
}

/// Every folder of `mailbox` by GetFolder AllProperties, as the impersonating service account.
pub(super) async fn all_folders(
    sim: &exchange_sim::Sim,
    mailbox: &str,
) -> BTreeMap<FolderKind, Folder> {
    let kinds = distinguished_kinds();
    let ids: String = kinds.iter().map(|(_, n)| distinguished(n, None)).collect();
    let answer = Ews::new(sim, mailbox)
        .post(envelope(
            &impersonating(mailbox),
            &get_folder("AllProperties", &ids),
        ))
        .await;
    let messages = messages(&answer);
    assert_eq!(messages.len(), kinds.len());
    kinds
        .iter()
        .zip(messages)
        .map(|((kind, name), message)| {
            assert_eq!(
                (message.class.as_str(), message.code.as_str()),
                ("Success", "NoError"),
                "{name}"
            );
            assert_eq!(message.folders.len(), 1, "{name}");
            (*kind, message.folders[0].clone())
        })
        .collect()
}

#[tokio::test]
async fn every_distinguished_folder_is_served_with_its_class_parent_and_counts() {
    let sim = support::start().await;
    sim.deliver_mail(MARA, "hello", "x@contoso.com")
        .expect("delivered");
    let folders = all_folders(&sim, MARA).await;
    let id = |k: FolderKind| folders[&k].id.clone().expect("FolderId");
    let root = &folders[&FolderKind::Root];
    assert_eq!(root.parent, root.id, "the mailbox root is its own parent");
    for (kind, folder) in &folders {
        let parent = kind.parent().unwrap_or(*kind);
        assert_eq!(folder.parent, Some(id(parent)), "{kind:?}'s parent");
        assert_eq!(
            folder.class.as_deref(),
            kind.folder_class(),
            "{kind:?}'s class"
        );
        assert_eq!(folder.name.as_deref(), Some(kind.display_name()));
        assert_eq!(
            folder.children,
            Some(i32::try_from(kind.children().count()).unwrap_or_default())
        );
        assert_eq!(
            folder.order[..2],
            ["FolderId", "ParentFolderId"],
            "schema order"
        );
    }
    let expect_element = [
        (
            FolderKind::Calendar,
            "CalendarFolder",
            Some("IPF.Appointment"),
        ),
        (FolderKind::Contacts, "ContactsFolder", Some("IPF.Contact")),
        (FolderKind::Tasks, "TasksFolder", Some("IPF.Task")),
        (FolderKind::Notes, "Folder", Some("IPF.StickyNote")),
        (FolderKind::Journal, "Folder", Some("IPF.Journal")),
        (FolderKind::SentItems, "Folder", Some("IPF.Note")),
        (FolderKind::ToDoSearch, "SearchFolder", Some("IPF.Task")),
    ];
    for (kind, element, class) in expect_element {
        assert_eq!(folders[&kind].element, element, "{kind:?}");
        assert_eq!(folders[&kind].class.as_deref(), class, "{kind:?}");
    }
    assert_eq!(
        folders[&FolderKind::MsgFolderRoot].parent,
        Some(id(FolderKind::Root))
    );
    assert_eq!(
        folders[&FolderKind::Inbox].parent,
        Some(id(FolderKind::MsgFolderRoot))
    );
    assert_eq!(
        (
            folders[&FolderKind::Inbox].total,
            folders[&FolderKind::Inbox].unread
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        folders[&FolderKind::Calendar].unread,
        None,
        "CalendarFolderType has no UnreadCount"
    );
    let mine: Vec<_> = folders.values().filter_map(|f| f.id.clone()).collect();
    let theirs = all_folders(&sim, SADIE).await;
    assert!(
        theirs
            .values()
            .all(|f| !mine.contains(f.id.as_ref().expect("id"))),
        "ids are per mailbox"
    );
}

#[tokio::test]
async fn folders_by_id_and_folders_a_mailbox_lacks() {
    let sim = support::start().await;
    let ews = Ews::new(&sim, MARA);
    let folders = all_folders(&sim, MARA).await;
    let calendar = folders[&FolderKind::Calendar].id.clone().expect("id");
    let ids = format!(
        "<t:FolderId Id=\"{calendar}\"/>{}{}<t:FolderId Id=\"not-an-id\"/>",
        distinguished("publicfoldersroot", None),
        distinguished("voicemail", None)
    );
    let answer = ews
        .post(envelope(&impersonating(MARA), &get_folder("Default", &ids)))
        .await;
    let codes: Vec<_> = messages(&answer).iter().map(|m| m.code.clone()).collect();
    assert_eq!(
        codes,
        [
            "NoError",
            "ErrorFolderNotFound",
            "ErrorFolderNotFound",
            "ErrorInvalidIdMalformed"
        ]
    );
    assert_eq!(
        messages(&answer)[0].folders[0].name.as_deref(),
        Some("Calendar")
    );
}

#[tokio::test]
async fn shapes_answer_exactly_the_properties_asked_for() {
    let sim = support::start().await;
    let ews = Ews::new(&sim, MARA);
    let ask = |shape: &str| {
        envelope(
            &impersonating(MARA),
            &get_folder(shape, &distinguished("inbox", None)),
        )
    };
    let id_only = messages(&ews.post(ask("IdOnly")).await)[0].folders[0]
        .order
        .clone();
    assert_eq!(id_only, ["FolderId"]);
    let default = messages(&ews.post(ask("Default")).await)[0].folders[0]
        .order
        .clone();
    assert_eq!(
        default,
        [
            "FolderId",
            "DisplayName",
            "TotalCount",
            "ChildFolderCount",
            "UnreadCount"
        ]
    );
    let calendar = envelope(
        &impersonating(MARA),
        &get_folder("Default", &distinguished("calendar", None)),
    );
    let calendar = messages(&ews.post(calendar).await)[0].folders[0]
        .order
        .clone();
    assert_eq!(
        calendar,
        ["FolderId", "DisplayName", "ChildFolderCount"],
        "BaseShape's table"
    );
    let all = messages(&ews.post(ask("AllProperties")).await)[0].folders[0]
        .order
        .clone();
    assert_eq!(
        all,
        [
            "FolderId",
            "ParentFolderId",
            "FolderClass",
            "DisplayName",
            "TotalCount",
            "ChildFolderCount",
            "UnreadCount"
        ]
    );
    let extra = "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI=\"folder:UnreadCount\"/><t:FieldURI FieldURI=\"folder:FolderClass\"/><t:FieldURI FieldURI=\"folder:EffectiveRights\"/></t:AdditionalProperties></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds></m:GetFolder>";
    let answer = ews.post(envelope(&impersonating(MARA), extra)).await;
    assert_eq!(
        messages(&answer)[0].folders[0].order,
        ["FolderId", "FolderClass", "UnreadCount"]
    );
}

#[tokio::test]
async fn find_folder_deep_from_root_finds_every_folder_and_shallow_only_children() {
    let sim = support::start().await;
    let ews = Ews::new(&sim, MARA);
    let deep = ews
        .post(envelope(
            &impersonating(MARA),
            &find_folder("Deep", "", &distinguished("root", None)),
        ))
        .await;
    let message = messages(&deep).remove(0);
    assert_eq!(message.code, "NoError");
    let mut names: Vec<_> = message
        .folders
        .iter()
        .filter_map(|f| f.name.clone())
        .collect();
    let top = names.iter().position(|n| n == "Top of Information Store");
    assert_eq!(
        names.get(top.unwrap_or(0) + 1).map(String::as_str),
        Some("Archive"),
        "a folder's subtree follows it, by name"
    );
    names.sort();
    let mut expected: Vec<_> = FolderKind::ALL[1..]
        .iter()
        .map(|k| k.display_name().to_owned())
        .collect();
    expected.sort();
    assert_eq!(names, expected, "every folder but the root");
    assert!(names.contains(&"Archive".to_owned()));
    assert_eq!(
        message.root.get("TotalItemsInView").map(String::as_str),
        Some("27")
    );
    assert_eq!(
        message
            .root
            .get("IncludesLastItemInRange")
            .map(String::as_str),
        Some("true")
    );

    let shallow = ews
        .post(envelope(
            &impersonating(MARA),
            &find_folder("Shallow", "", &distinguished("root", None)),
        ))
        .await;
    let names: Vec<_> = messages(&shallow)[0]
        .folders
        .iter()
        .filter_map(|f| f.name.clone())
        .collect();
    assert_eq!(
        names,
        ["Finder", "Recoverable Items", "Top of Information Store"],
        "by name"
    );

    let top = ews
        .post(envelope(
            &impersonating(MARA),
            &find_folder("Shallow", "", &distinguished("msgfolderroot", None)),
        ))
        .await;
    let folders = all_folders(&sim, MARA).await;
    let top_id = folders[&FolderKind::MsgFolderRoot].id.clone();
    let children = &messages(&top)[0].folders;
    let names: Vec<_> = children.iter().filter_map(|f| f.name.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted, "subfolders come in order by name");
    assert_eq!(
        Some(i32::try_from(children.len()).unwrap_or_default()),
        folders[&FolderKind::MsgFolderRoot].children
    );
    assert!(children.iter().all(|f| f.parent == top_id));
    let soft = ews
        .post(envelope(
            &impersonating(MARA),
            &find_folder("SoftDeleted", "", &distinguished("root", None)),
        ))
        .await;
    assert!(messages(&soft)[0].folders.is_empty());
}

#[tokio::test]
async fn find_folder_pages_through_the_tree() {
    let sim = support::start().await;
    let ews = Ews::new(&sim, MARA);
    let whole = ews
        .post(envelope(
            &impersonating(MARA),
            &find_folder("Deep", "", &distinguished("root", None)),
        ))
        .await;
    let expected: Vec<_> = messages(&whole)[0]
        .folders
        .iter()
        .filter_map(|f| f.name.clone())
        .collect();
    assert_eq!(expected.len(), 27);
    let mut offset = 0;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let view = format!(
            "<m:IndexedPageFolderView MaxEntriesReturned=\"10\" Offset=\"{offset}\" BasePoint=\"Beginning\"/>"
        );
        let answer = ews
            .post(envelope(
                &impersonating(MARA),
                &find_folder("Deep", &view, &distinguished("root", None)),
            ))
            .await;
        let message = messages(&answer).remove(0);
        assert!(message.folders.len() <= 10);
        seen.extend(message.folders.iter().filter_map(|f| f.name.clone()));
        offset = message.root["IndexedPagingOffset"].parse().expect("offset");
        if message.root["IncludesLastItemInRange"] == "true" {
            break;
        }
        assert_eq!(message.folders.len(), 10);
    }
    assert_eq!(seen, expected);
    assert_eq!(offset, 27);
    let bad = "<m:IndexedPageFolderView MaxEntriesReturned=\"10\" Offset=\"-1\" BasePoint=\"Beginning\"/>";
    let answer = ews
        .post(envelope(
            &impersonating(MARA),
            &find_folder("Deep", bad, &distinguished("root", None)),
        ))
        .await;
    assert_eq!(
        messages(&answer)[0].code,
        "ErrorInvalidIndexedPagingParameters"
    );
}

#[tokio::test]
async fn requests_against_the_schema_are_refused_with_its_position() {
    let sim = support::start().await;
    let ews = Ews::new(&sim, MARA);
    let swapped = "<m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape></m:GetFolder>";
    let (code, reason, at) = fault_at(&ews.post(envelope(&impersonating(MARA), swapped)).await);
    assert_eq!(code, "ErrorSchemaValidation");
    assert!(reason.contains("'FolderShape'"), "{reason}");
    // Line 4 is `<soap:Body><m:GetFolder><m:FolderIds>`: the misplaced element's `<` is at
    // column 25, its name (where .NET's reader, so Exchange, places an element) at 26.
    assert_eq!(at, Some((4, 26)), "MessageXml names where");
    let bogus = get_folder("IdOnly", &distinguished("bogus", None));
    let (code, reason) = fault(&ews.post(envelope(&impersonating(MARA), &bogus)).await);
    assert_eq!(code, "ErrorSchemaValidation");
    assert!(reason.contains("DistinguishedFolderIdNameType"), "{reason}");
    let no_traversal =
        find_folder("Deep", "", &distinguished("root", None)).replace(" Traversal=\"Deep\"", "");
    let (code, reason) = fault(
        &ews.post(envelope(&impersonating(MARA), &no_traversal))
            .await,
    );
    assert_eq!(code, "ErrorSchemaValidation");
    assert!(reason.contains("'Traversal'"), "{reason}");
}
