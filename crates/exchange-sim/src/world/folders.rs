//! The folder tree of an Exchange 2016+ mailbox: which distinguished folders it has, where
//! each sits, and what class and name it carries.
//!
//! The tree is the same for every mailbox and lives in constant tables: a folder is a
//! [`FolderKind`], its id is derived from (mailbox, kind) by `Mailbox::folder_id`, so a
//! load test with many mailboxes allocates nothing per folder.
//!
//! Which folders and where, from Microsoft's pages:
//! - [DistinguishedFolderId](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/distinguishedfolderid):
//!   `root` is "the root of the mailbox", `msgfolderroot` "the message folder root" (the
//!   IPM subtree, "Top of Information Store"), `searchfolders` the search folders folder,
//!   `recoverableitemsroot` "the dumpster root folder" with `deletions`, `versions` and
//!   `purges` under it.
//! - [Folders and items in EWS](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/folders-and-items-in-ews-in-exchange):
//!   the root of the mailbox holds the IPM subtree (what users see: Inbox, Calendar, ...)
//!   and the non-IPM subtree (search folders, recoverable items), and a folder's class
//!   (`IPF.Note`, `IPF.Appointment`, `IPF.Contact`, `IPF.Task`, `IPF.StickyNote`,
//!   `IPF.Journal`) decides which element EWS returns it as.
//! - [Recoverable Items folder](https://learn.microsoft.com/en-us/exchange/security-and-compliance/recoverable-items-folder/recoverable-items-folder):
//!   Deletions, Versions and Purges exist in every mailbox; DiscoveryHolds only once a hold
//!   applies, so it is not modelled.
//!
//! Folders the schema lists that a 2016 user mailbox does not have (archive mailbox folders
//! without an archive, `publicfoldersroot`, `voicemail` without Unified Messaging,
//! `adminauditlogs`, the Exchange Online-only ones such as `teamchat` or `onedriveroot`) answer
//! `ErrorFolderNotFound`, as Exchange does for a folder the store lacks.

/// A folder of the mailbox.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FolderKind {
    /// `root`: the root of the mailbox, parent of the IPM and non-IPM subtrees.
    Root,
    /// `msgfolderroot`: "Top of Information Store", the parent of the mail folders.
    MsgFolderRoot,
    /// `inbox`.
    Inbox,
    /// `sentitems`.
    SentItems,
    /// `drafts`.
    Drafts,
    /// `deleteditems`.
    DeletedItems,
    /// `junkemail`.
    JunkEmail,
    /// `outbox`.
    Outbox,
    /// `calendar`.
    Calendar,
    /// `contacts`.
    Contacts,
    /// `recipientcache`, under Contacts.
    RecipientCache,
    /// `quickcontacts`, under Contacts.
    QuickContacts,
    /// `imcontactlist`, under Contacts.
    ImContactList,
    /// `tasks`.
    Tasks,
    /// `notes`.
    Notes,
    /// `journal`.
    Journal,
    /// `conversationhistory`.
    ConversationHistory,
    /// `syncissues`.
    SyncIssues,
    /// `conflicts`, under Sync Issues.
    Conflicts,
    /// `localfailures`, under Sync Issues.
    LocalFailures,
    /// `serverfailures`, under Sync Issues.
    ServerFailures,
    /// `archive`: a user folder under the message folder root (no distinguished name in the
    /// 2016 schema).
    Archive,
    /// `searchfolders`: "Finder", under the mailbox root.
    SearchFolders,
    /// `todosearch`: the To-Do search folder, under Finder.
    ToDoSearch,
    /// `recoverableitemsroot`: "Recoverable Items", under the mailbox root.
    RecoverableItemsRoot,
    /// `recoverableitemsdeletions`.
    RecoverableItemsDeletions,
    /// `recoverableitemsversions`.
    RecoverableItemsVersions,
    /// `recoverableitemspurges`.
    RecoverableItemsPurges,
}

/// The EWS element a folder is returned as (by its class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Element {
    Folder,
    CalendarFolder,
    ContactsFolder,
    TasksFolder,
    SearchFolder,
}

impl Element {
    /// The element's local name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Folder => "Folder",
            Self::CalendarFolder => "CalendarFolder",
            Self::ContactsFolder => "ContactsFolder",
            Self::TasksFolder => "TasksFolder",
            Self::SearchFolder => "SearchFolder",
        }
    }

    /// Whether the schema's type has `UnreadCount` (`FolderType` and its extensions;
    /// `CalendarFolderType` and `ContactsFolderType` extend `BaseFolderType`, which lacks it).
    pub(crate) fn has_unread_count(self) -> bool {
        matches!(self, Self::Folder | Self::TasksFolder | Self::SearchFolder)
    }
}

/// One row of the tree: (kind, parent, distinguished name, display name, class, element, code).
struct Row {
    kind: FolderKind,
    parent: Option<FolderKind>,
    distinguished: Option<&'static str>,
    display: &'static str,
    class: Option<&'static str>,
    element: Element,
    /// The number in the folder's id; stable, as ids handed out must stay valid.
    code: u8,
}

const fn row(
    kind: FolderKind,
    parent: Option<FolderKind>,
    distinguished: Option<&'static str>,
    display: &'static str,
    class: Option<&'static str>,
    element: Element,
    code: u8,
) -> Row {
    Row {
        kind,
        parent,
        distinguished,
        display,
        class,
        element,
        code,
    }
}

use Element::{CalendarFolder, ContactsFolder, Folder, SearchFolder, TasksFolder};
use FolderKind as K;

const NOTE: Option<&str> = Some("IPF.Note");

/// The tree in depth-first order (the order a `Deep` `FindFolder` lists it in).
#[rustfmt::skip]
const TREE: [Row; 28] = [
    row(K::Root, None, Some("root"), "", None, Folder, 5),
    row(K::MsgFolderRoot, Some(K::Root), Some("msgfolderroot"), "Top of Information Store", None, Folder, 0),
    row(K::Inbox, Some(K::MsgFolderRoot), Some("inbox"), "Inbox", NOTE, Folder, 1),
    row(K::SentItems, Some(K::MsgFolderRoot), Some("sentitems"), "Sent Items", NOTE, Folder, 6),
    row(K::Drafts, Some(K::MsgFolderRoot), Some("drafts"), "Drafts", NOTE, Folder, 7),
    row(K::DeletedItems, Some(K::MsgFolderRoot), Some("deleteditems"), "Deleted Items", NOTE, Folder, 2),
    row(K::JunkEmail, Some(K::MsgFolderRoot), Some("junkemail"), "Junk Email", NOTE, Folder, 3),
    row(K::Outbox, Some(K::MsgFolderRoot), Some("outbox"), "Outbox", NOTE, Folder, 8),
    row(K::Calendar, Some(K::MsgFolderRoot), Some("calendar"), "Calendar", Some("IPF.Appointment"), CalendarFolder, 9),
    row(K::Contacts, Some(K::MsgFolderRoot), Some("contacts"), "Contacts", Some("IPF.Contact"), ContactsFolder, 10),
    row(K::RecipientCache, Some(K::Contacts), Some("recipientcache"), "Recipient Cache", Some("IPF.Contact.RecipientCache"), ContactsFolder, 19),
    row(K::QuickContacts, Some(K::Contacts), Some("quickcontacts"), "{06967759-274D-40B2-A3EB-D7F9E73727D7}", Some("IPF.Contact.MOC.QuickContacts"), ContactsFolder, 20),
    row(K::ImContactList, Some(K::Contacts), Some("imcontactlist"), "{A9E2BC46-B3A0-4243-B315-60D991004455}", Some("IPF.Contact.MOC.ImContactList"), ContactsFolder, 21),
    row(K::Tasks, Some(K::MsgFolderRoot), Some("tasks"), "Tasks", Some("IPF.Task"), TasksFolder, 11),
    row(K::Notes, Some(K::MsgFolderRoot), Some("notes"), "Notes", Some("IPF.StickyNote"), Folder, 12),
    row(K::Journal, Some(K::MsgFolderRoot), Some("journal"), "Journal", Some("IPF.Journal"), Folder, 13),
    row(K::ConversationHistory, Some(K::MsgFolderRoot), Some("conversationhistory"), "Conversation History", NOTE, Folder, 14),
    row(K::SyncIssues, Some(K::MsgFolderRoot), Some("syncissues"), "Sync Issues", NOTE, Folder, 15),
    row(K::Conflicts, Some(K::SyncIssues), Some("conflicts"), "Conflicts", NOTE, Folder, 16),
    row(K::LocalFailures, Some(K::SyncIssues), Some("localfailures"), "Local Failures", NOTE, Folder, 17),
    row(K::ServerFailures, Some(K::SyncIssues), Some("serverfailures"), "Server Failures", NOTE, Folder, 18),
    row(K::Archive, Some(K::MsgFolderRoot), None, "Archive", NOTE, Folder, 4),
    row(K::SearchFolders, Some(K::Root), Some("searchfolders"), "Finder", None, Folder, 22),
    row(K::ToDoSearch, Some(K::SearchFolders), Some("todosearch"), "To-Do Search", Some("IPF.Task"), SearchFolder, 23),
    row(K::RecoverableItemsRoot, Some(K::Root), Some("recoverableitemsroot"), "Recoverable Items", None, Folder, 24),
    row(K::RecoverableItemsDeletions, Some(K::RecoverableItemsRoot), Some("recoverableitemsdeletions"), "Deletions", None, Folder, 25),
    row(K::RecoverableItemsVersions, Some(K::RecoverableItemsRoot), Some("recoverableitemsversions"), "Versions", None, Folder, 26),
    row(K::RecoverableItemsPurges, Some(K::RecoverableItemsRoot), Some("recoverableitemspurges"), "Purges", None, Folder, 27),
];

impl FolderKind {
    /// Every folder, in depth-first order from `root`.
    pub const ALL: [Self; 28] = {
        let mut all = [Self::Root; 28];
        let mut i = 0;
        while i < TREE.len() {
            all[i] = TREE[i].kind;
            i += 1;
        }
        all
    };

    fn row(self) -> &'static Row {
        // `TREE` lists every variant once; a test holds it to that.
        let index = TREE.iter().position(|r| r.kind == self).unwrap_or(0);
        &TREE[index]
    }

    /// The `DistinguishedFolderId` name, when the folder has one.
    pub fn distinguished_name(self) -> Option<&'static str> {
        self.row().distinguished
    }

    /// The folder's display name (English, as a new mailbox has it).
    pub fn display_name(self) -> &'static str {
        self.row().display
    }

    /// The folder's parent; `None` for the mailbox root.
    pub fn parent(self) -> Option<Self> {
        self.row().parent
    }

    /// The folder's class (`FolderClass`), when Exchange sets one.
    pub fn folder_class(self) -> Option<&'static str> {
        self.row().class
    }

    /// The EWS element the folder is returned as.
    pub(crate) fn element(self) -> Element {
        self.row().element
    }

    /// The folder's direct children, in tree order.
    pub fn children(self) -> impl Iterator<Item = Self> {
        TREE.iter()
            .filter(move |r| r.parent == Some(self))
            .map(|r| r.kind)
    }

    /// Every folder below this one, depth first.
    pub fn descendants(self) -> impl Iterator<Item = Self> {
        Self::ALL
            .into_iter()
            .filter(move |f| *f != self && f.is_under(self))
    }

    /// Whether `ancestor` is this folder or one of its ancestors.
    pub fn is_under(self, ancestor: Self) -> bool {
        let mut at = Some(self);
        while let Some(folder) = at {
            if folder == ancestor {
                return true;
            }
            at = folder.parent();
        }
        false
    }

    /// The folder for a `DistinguishedFolderId` name.
    pub fn from_distinguished(name: &str) -> Option<Self> {
        TREE.iter()
            .find(|r| r.distinguished == Some(name))
            .map(|r| r.kind)
    }

    /// The number in the folder's id.
    pub(crate) fn code(self) -> u8 {
        self.row().code
    }

    /// The folder with this number in its id.
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        TREE.iter().find(|r| r.code == code).map(|r| r.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_lists_each_folder_once_with_unique_codes_and_a_known_parent() {
        for (i, row) in TREE.iter().enumerate() {
            assert_eq!(row.kind.row().code, row.code, "{:?} listed twice", row.kind);
            assert_eq!(FolderKind::from_code(row.code), Some(row.kind));
            if let Some(parent) = row.parent {
                let at = TREE.iter().position(|r| r.kind == parent);
                assert!(
                    at.is_some_and(|p| p < i),
                    "{:?}: parent listed after it",
                    row.kind
                );
            }
        }
        assert_eq!(TREE.iter().filter(|r| r.parent.is_none()).count(), 1);
    }

    #[test]
    fn the_ids_handed_out_before_the_tree_grew_keep_their_codes() {
        assert_eq!(FolderKind::MsgFolderRoot.code(), 0);
        assert_eq!(FolderKind::Inbox.code(), 1);
        assert_eq!(FolderKind::DeletedItems.code(), 2);
        assert_eq!(FolderKind::JunkEmail.code(), 3);
        assert_eq!(FolderKind::Archive.code(), 4);
    }

    #[test]
    fn distinguished_names_are_the_serde_names_and_in_the_schema() {
        let schema = include_str!("../../schema/types.xsd");
        for kind in FolderKind::ALL {
            let Some(name) = kind.distinguished_name() else {
                continue;
            };
            assert!(
                schema.contains(&format!("<xs:enumeration value=\"{name}\" />")),
                "{name} not a DistinguishedFolderIdNameType"
            );
            let serde = serde_json::to_value(kind).ok();
            assert_eq!(serde, Some(serde_json::json!(name)));
        }
    }

    #[test]
    fn descendants_of_root_are_every_other_folder() {
        assert_eq!(
            FolderKind::Root.descendants().count(),
            FolderKind::ALL.len() - 1
        );
        let children: Vec<_> = FolderKind::Root.children().collect();
        assert_eq!(
            children,
            [
                FolderKind::MsgFolderRoot,
                FolderKind::SearchFolders,
                FolderKind::RecoverableItemsRoot
            ]
        );
        assert!(FolderKind::Conflicts.is_under(FolderKind::MsgFolderRoot));
        assert!(!FolderKind::Conflicts.is_under(FolderKind::Contacts));
    }
}
