//! `FindFolder`: the folders under one or more parents, one level (`Shallow`) or the whole
//! subtree (`Deep`), a page at a time.
//!
//! Spec: [FindFolder operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/findfolder-operation),
//! [IndexedPageFolderView](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/indexedpagefolderview),
//! [FractionalPageFolderView](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/fractionalpagefolderview),
//! [RootFolder](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/rootfolder-findfolderresponsemessage).
//!
//! "All subfolders of a given folder are returned in order by name" (BaseShape page): a
//! `Deep` traversal lists each folder followed by its subtree, siblings by name (the order
//! of a deep result is otherwise undocumented). No folder is ever soft-deleted in the
//! simulator, so `SoftDeleted` traversal finds none. Restrictions are not modelled and are
//! refused as such rather than ignored.

use axum::response::Response;
use ews_proto::ResponseCode;
use roxmltree::{Document, Node};

use super::Call;
use super::envelope::{Children, Refusal, bad_attribute, required_attribute};
use super::folder::{self, Shape, error, read_shape, success, write_folder};
use super::folder_ids::{self, Actor, FolderRef};
use super::write::{self, MESSAGES, TYPES};
use crate::world::mailbox::FolderKind;

/// `FolderQueryTraversalType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Traversal {
    Shallow,
    Deep,
    SoftDeleted,
}

/// Which part of the result to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    All,
    /// `IndexedPageFolderView`: `MaxEntriesReturned`, `Offset`, `BasePoint="End"`.
    Indexed {
        max: Option<i32>,
        offset: i32,
        from_end: bool,
    },
    /// `FractionalPageFolderView`: `MaxEntriesReturned`, `Numerator`, `Denominator`.
    Fractional {
        max: Option<i32>,
        numerator: i32,
        denominator: i32,
    },
}

/// A `FindFolder` request as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FindFolder {
    pub(crate) traversal: Traversal,
    pub(crate) shape: Shape,
    pub(crate) view: View,
    pub(crate) parents: Vec<FolderRef>,
}

fn int_attribute(doc: &Document<'_>, node: Node<'_, '_>, name: &str) -> Result<i32, Refusal> {
    let value = required_attribute(doc, node, name)?;
    value.trim().parse().map_err(|_| {
        bad_attribute(
            doc,
            node,
            name,
            value,
            "http://www.w3.org/2001/XMLSchema:int",
        )
    })
}

fn max_entries(doc: &Document<'_>, node: Node<'_, '_>) -> Result<Option<i32>, Refusal> {
    node.attribute("MaxEntriesReturned")
        .map(|_| int_attribute(doc, node, "MaxEntriesReturned"))
        .transpose()
}

/// Reads `FindFolder` (`FindFolderType`: `@Traversal`, `FolderShape`, a paging view?,
/// `Restriction`?, `ParentFolderIds`).
pub(crate) fn read(doc: &Document<'_>, node: Node<'_, '_>) -> Result<FindFolder, Refusal> {
    let traversal = match required_attribute(doc, node, "Traversal")? {
        "Shallow" => Traversal::Shallow,
        "Deep" => Traversal::Deep,
        "SoftDeleted" => Traversal::SoftDeleted,
        other => {
            return Err(bad_attribute(
                doc,
                node,
                "Traversal",
                other,
                &format!("{TYPES}:FolderQueryTraversalType"),
            ));
        }
    };
    let mut children = Children::of(doc, node)?;
    let shape = read_shape(doc, children.required(MESSAGES, "FolderShape")?)?;
    let view = if let Some(indexed) = children.optional(MESSAGES, "IndexedPageFolderView") {
        let from_end = match required_attribute(doc, indexed, "BasePoint")? {
            "Beginning" => false,
            "End" => true,
            other => {
                return Err(bad_attribute(
                    doc,
                    indexed,
                    "BasePoint",
                    other,
                    &format!("{TYPES}:IndexBasePointType"),
                ));
            }
        };
        View::Indexed {
            max: max_entries(doc, indexed)?,
            offset: int_attribute(doc, indexed, "Offset")?,
            from_end,
        }
    } else if let Some(fractional) = children.optional(MESSAGES, "FractionalPageFolderView") {
        View::Fractional {
            max: max_entries(doc, fractional)?,
            numerator: int_attribute(doc, fractional, "Numerator")?,
            denominator: int_attribute(doc, fractional, "Denominator")?,
        }
    } else {
        View::All
    };
    if children.optional(MESSAGES, "Restriction").is_some() {
        return Err(folder::unsupported("FindFolder restrictions"));
    }
    let parents = folder_ids::read(doc, children.required(MESSAGES, "ParentFolderIds")?)?;
    children.end()?;
    Ok(FindFolder {
        traversal,
        shape,
        view,
        parents,
    })
}

/// One page of `found` folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) range: std::ops::Range<usize>,
    /// Attributes of `RootFolder`, in schema order, absent ones `None`.
    pub(crate) indexed_offset: Option<i32>,
    pub(crate) numerator_offset: Option<i32>,
    pub(crate) absolute_denominator: Option<i32>,
    pub(crate) includes_last: bool,
}

/// Cuts a page from `total` folders, or says why the view is invalid
/// (`ErrorInvalidIndexedPagingParameters`, `ErrorInvalidFractionalPagingParameters`).
///
/// `BasePoint="End"` counts `Offset` back from the end and returns the `MaxEntriesReturned`
/// folders before that point; the next offset from the end is `Offset` plus those returned
/// (IndexedPageFolderView remarks).
pub(crate) fn page(view: View, total: usize) -> Result<Page, folder_ids::Failure> {
    let to_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let bad_max = |max: Option<i32>| max.is_some_and(|m| m <= 0);
    match view {
        View::All => Ok(Page {
            range: 0..total,
            indexed_offset: None,
            numerator_offset: None,
            absolute_denominator: None,
            includes_last: true,
        }),
        View::Indexed {
            max,
            offset,
            from_end,
        } => {
            if offset < 0 || bad_max(max) {
                return Err((
                    ResponseCode::ErrorInvalidIndexedPagingParameters,
                    "Invalid indexed paging parameters: Offset must not be negative and MaxEntriesReturned must be positive.",
                ));
            }
            let offset = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
            let max = max.map_or(total, |m| usize::try_from(m).unwrap_or(usize::MAX));
            if from_end {
                let end = total - offset;
                let start = end.saturating_sub(max);
                Ok(Page {
                    range: start..end,
                    indexed_offset: Some(to_i32(offset + (end - start))),
                    numerator_offset: None,
                    absolute_denominator: None,
                    includes_last: start == 0,
                })
            } else {
                let end = offset.saturating_add(max).min(total);
                Ok(Page {
                    range: offset..end,
                    indexed_offset: Some(to_i32(end)),
                    numerator_offset: None,
                    absolute_denominator: None,
                    includes_last: end == total,
                })
            }
        }
        View::Fractional {
            max,
            numerator,
            denominator,
        } => {
            if denominator <= 0 || numerator < 0 || numerator > denominator || bad_max(max) {
                return Err((
                    ResponseCode::ErrorInvalidFractionalPagingParameters,
                    "Invalid fractional paging parameters: 0 <= Numerator <= Denominator, Denominator positive.",
                ));
            }
            let (n, d) = (numerator as usize, denominator as usize);
            let start = total * n / d;
            let max = max.map_or(total, |m| usize::try_from(m).unwrap_or(usize::MAX));
            let end = start.saturating_add(max).min(total);
            Ok(Page {
                range: start..end,
                indexed_offset: None,
                numerator_offset: Some(to_i32(end)),
                absolute_denominator: Some(to_i32(total)),
                includes_last: end == total,
            })
        }
    }
}

/// A folder's children in order by name, as Exchange's collation orders display names:
/// case-insensitive, punctuation before digits and letters (so the `{GUID}` contact folders
/// come first).
fn by_name(parent: FolderKind) -> Vec<FolderKind> {
    let key = |kind: &FolderKind| -> Vec<(bool, char)> {
        kind.display_name()
            .chars()
            .flat_map(char::to_lowercase)
            .map(|c| (c.is_alphanumeric(), c))
            .collect()
    };
    let mut children: Vec<FolderKind> = parent.children().collect();
    children.sort_by_key(key);
    children
}

/// Every folder below `parent`, each followed by its own subtree, siblings by name.
fn subtree(parent: FolderKind, out: &mut Vec<FolderKind>) {
    for child in by_name(parent) {
        out.push(child);
        subtree(child, out);
    }
}

/// `FindFolder`: one response message per parent folder.
pub(crate) fn find_folder(call: &Call, actor: &Actor, request: &FindFolder) -> Response {
    let world = &call.ctx.world;
    write::envelope(world, |xml| {
        xml.open(
            "m:FindFolderResponse",
            &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
        )
        .open("m:ResponseMessages", &[]);
        for parent in &request.parents {
            let element = "m:FindFolderResponseMessage";
            let found = folder_ids::resolve(world, actor, parent).map(|(mailbox, kind)| {
                let mut folders = Vec::new();
                match request.traversal {
                    Traversal::Shallow => folders.extend(by_name(kind)),
                    Traversal::Deep => subtree(kind, &mut folders),
                    Traversal::SoftDeleted => {}
                }
                // A delegate sees only the folders it has permission on.
                folders.retain(|f| folder_ids::may_reach(world, actor, mailbox, *f));
                (mailbox, folders)
            });
            let paged = found.and_then(|(m, f)| page(request.view, f.len()).map(|p| (m, f, p)));
            match paged {
                Ok((mailbox, folders, page)) => {
                    success(xml, element);
                    let total = folders.len().to_string();
                    let indexed = page.indexed_offset.map(|n| n.to_string());
                    let numerator = page.numerator_offset.map(|n| n.to_string());
                    let denominator = page.absolute_denominator.map(|n| n.to_string());
                    let mut attrs: Vec<(&str, &str)> = Vec::new();
                    if let Some(v) = &indexed {
                        attrs.push(("IndexedPagingOffset", v));
                    }
                    if let Some(v) = &numerator {
                        attrs.push(("NumeratorOffset", v));
                    }
                    if let Some(v) = &denominator {
                        attrs.push(("AbsoluteDenominator", v));
                    }
                    attrs.push((
                        "IncludesLastItemInRange",
                        if page.includes_last { "true" } else { "false" },
                    ));
                    attrs.push(("TotalItemsInView", &total));
                    xml.open("m:RootFolder", &attrs).open("t:Folders", &[]);
                    for kind in &folders[page.range] {
                        write_folder(xml, world, mailbox, *kind, &request.shape);
                    }
                    xml.close("t:Folders").close("m:RootFolder");
                }
                Err(failure) => error(xml, element, failure),
            }
            xml.close(element);
        }
        xml.close("m:ResponseMessages")
            .close("m:FindFolderResponse");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexed(max: i32, offset: i32, from_end: bool) -> View {
        View::Indexed {
            max: Some(max),
            offset,
            from_end,
        }
    }

    #[test]
    fn subfolders_come_by_name_each_followed_by_its_subtree() {
        let names = |folders: Vec<FolderKind>| -> Vec<&str> {
            folders.iter().map(|f| f.display_name()).collect()
        };
        assert_eq!(
            names(by_name(FolderKind::Root)),
            ["Finder", "Recoverable Items", "Top of Information Store"]
        );
        let contacts = names(by_name(FolderKind::Contacts));
        assert_eq!(contacts[2], "Recipient Cache");
        assert!(contacts[0].starts_with('{') && contacts[1].starts_with('{'));
        let mut deep = Vec::new();
        subtree(FolderKind::Root, &mut deep);
        assert_eq!(deep.len(), FolderKind::ALL.len() - 1);
        let finder = deep.iter().position(|f| *f == FolderKind::SearchFolders);
        assert_eq!(
            deep.get(finder.unwrap_or(0) + 1),
            Some(&FolderKind::ToDoSearch)
        );
    }

    #[test]
    fn indexed_pages_walk_forward_to_the_last_folder() {
        let first = page(indexed(10, 0, false), 25).expect("valid");
        assert_eq!(
            (first.range, first.indexed_offset, first.includes_last),
            (0..10, Some(10), false)
        );
        let last = page(indexed(10, 20, false), 25).expect("valid");
        assert_eq!(
            (last.range, last.indexed_offset, last.includes_last),
            (20..25, Some(25), true)
        );
        let beyond = page(indexed(10, 40, false), 25).expect("valid");
        assert_eq!((beyond.range, beyond.includes_last), (25..25, true));
    }

    #[test]
    fn paging_from_the_end_counts_back() {
        let tail = page(indexed(10, 0, true), 25).expect("valid");
        assert_eq!((tail.range, tail.indexed_offset), (15..25, Some(10)));
        let head = page(indexed(10, 20, true), 25).expect("valid");
        assert_eq!((head.range, head.includes_last), (0..5, true));
    }

    #[test]
    fn invalid_views_are_refused_with_their_codes() {
        let negative = page(indexed(10, -1, false), 25).map(|_| ());
        assert_eq!(
            negative.map_err(|e| e.0),
            Err(ResponseCode::ErrorInvalidIndexedPagingParameters)
        );
        let zero = page(indexed(0, 0, false), 25).map(|_| ());
        assert!(zero.is_err());
        let fraction = View::Fractional {
            max: None,
            numerator: 3,
            denominator: 2,
        };
        assert_eq!(
            page(fraction, 4).map(|_| ()).map_err(|e| e.0),
            Err(ResponseCode::ErrorInvalidFractionalPagingParameters)
        );
        let half = View::Fractional {
            max: Some(1),
            numerator: 1,
            denominator: 2,
        };
        let p = page(half, 4).expect("valid");
        assert_eq!(
            (p.range, p.numerator_offset, p.absolute_denominator),
            (2..3, Some(3), Some(4))
        );
    }
}
