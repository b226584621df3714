//! Directory Lookup operations: `ResolveNames` and `GetUserPhoto`.
//!
//! Spec: [ResolveNames operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/resolvenames-operation),
//! [GetUserPhoto operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuserphoto-operation).
//! Both requests are read by the simulator's own reader (`ResolveNamesType` and
//! `GetUserPhotoType` of `messages.xsd`).

use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ews_proto::ResponseCode;
use ews_proto::operations::{GetUserPhoto, ResolveNames, SearchScope, UserPhotoSize};
use roxmltree::{Document, Node};

use super::envelope::{
    Children, Refusal, boolean_attribute, enum_attribute, non_empty, one_of, required_attribute,
    text_of,
};
use super::write::{self, MESSAGES, TYPES, Xml};
use super::{Call, folder, folder_ids};
use crate::scenario::User;

/// `ResolveNamesSearchScopeType`.
const SEARCH_SCOPES: [&str; 4] = [
    "ActiveDirectory",
    "ActiveDirectoryContacts",
    "Contacts",
    "ContactsActiveDirectory",
];

/// `DefaultShapeNamesType`.
const SHAPES: [&str; 3] = ["IdOnly", "Default", "AllProperties"];

/// `UserPhotoSizeType`.
const PHOTO_SIZES: [&str; 11] = [
    "HR48x48",
    "HR64x64",
    "HR96x96",
    "HR120x120",
    "HR240x240",
    "HR360x360",
    "HR432x432",
    "HR504x504",
    "HR648x648",
    "HR1024xN",
    "HR1920xN",
];

/// `UserPhotoTypeType`.
const PHOTO_TYPES: [&str; 2] = ["UserPhoto", "ProfileHeaderPhoto"];

/// Reads `ResolveNames` (`ResolveNamesType`: `m:ParentFolderIds`?, `m:UnresolvedEntry`, a
/// non-empty string; the attributes `ReturnFullContactData`, a required `xs:boolean`,
/// `SearchScope` and `ContactDataShape`). The simulator resolves in its directory only, so
/// the parent folders (contact folders to search) are checked and not used.
pub(crate) fn read_resolve_names(
    doc: &Document<'_>,
    node: Node<'_, '_>,
) -> Result<ResolveNames, Refusal> {
    required_attribute(doc, node, "ReturnFullContactData")?;
    let full = boolean_attribute(doc, node, "ReturnFullContactData")?.unwrap_or(false);
    let scope = enum_attribute(
        doc,
        node,
        "SearchScope",
        "ResolveNamesSearchScopeType",
        &SEARCH_SCOPES,
    )?;
    let shape = enum_attribute(
        doc,
        node,
        "ContactDataShape",
        "DefaultShapeNamesType",
        &SHAPES,
    )?;
    let mut children = Children::of(doc, node)?;
    if let Some(parents) = children.optional(MESSAGES, "ParentFolderIds") {
        folder_ids::read(doc, parents)?;
    }
    let entry = non_empty(
        doc,
        children.required(MESSAGES, "UnresolvedEntry")?,
        "NonEmptyStringType",
    )?;
    children.end()?;
    let mut request = ResolveNames::directory(entry);
    request.return_full_contact_data = full;
    request.search_scope = scope.map(SearchScope::parse);
    request.contact_data_shape = shape.map(str::to_owned);
    Ok(request)
}

/// Reads `GetUserPhoto` (`GetUserPhotoType`: `m:Email`, an `xs:string`; `m:SizeRequested`, a
/// `UserPhotoSizeType`; `m:TypeRequested`?, a `UserPhotoTypeType`). An address that names no
/// one is the handler's `ErrorItemNotFound`.
pub(crate) fn read_get_user_photo(
    doc: &Document<'_>,
    node: Node<'_, '_>,
) -> Result<GetUserPhoto, Refusal> {
    let mut children = Children::of(doc, node)?;
    let email = text_of(doc, children.required(MESSAGES, "Email")?)?;
    let size = one_of(
        doc,
        children.required(MESSAGES, "SizeRequested")?,
        "UserPhotoSizeType",
        &PHOTO_SIZES,
    )?;
    let kind = children
        .optional(MESSAGES, "TypeRequested")
        .map(|n| one_of(doc, n, "UserPhotoTypeType", &PHOTO_TYPES))
        .transpose()?;
    children.end()?;
    let mut request = GetUserPhoto::new(email.trim(), UserPhotoSize::parse(&size));
    request.type_requested = kind;
    Ok(request)
}

/// Most resolutions in one answer, as Exchange.
const MAX_RESOLUTIONS: usize = 100;

/// Largest photo file served.
const MAX_PHOTO: u64 = 4 * 1024 * 1024;

/// `ResolveNames`: directory users whose name or address starts with the entry.
pub(crate) fn resolve_names(call: &Call, request: ResolveNames) -> Response {
    let users = &call.ctx.world.directory.users;
    let entry = request.unresolved_entry.trim();
    let exact = entry
        .strip_prefix("SMTP:")
        .or_else(|| entry.strip_prefix("smtp:"));
    let needle = entry.to_lowercase();
    let matches: Vec<&User> = users
        .iter()
        .filter(|u| match exact {
            Some(address) => u.smtp.eq_ignore_ascii_case(address),
            None => !needle.is_empty() && matches_user(u, &needle),
        })
        .collect();
    write::envelope(&call.ctx.world, |xml| {
        resolve_names_answer(xml, &matches, request.return_full_contact_data);
    })
}

/// `ResolveNamesResponse` for the users found.
fn resolve_names_answer(xml: &mut Xml, matches: &[&User], full: bool) {
    const MESSAGE: &str = "m:ResolveNamesResponseMessage";
    xml.open(
        "m:ResolveNamesResponse",
        &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
    )
    .open("m:ResponseMessages", &[]);
    // `ResolveNamesResponseMessageType`: the `ResponseMessageType` children, then
    // `ResolutionSet`?.
    match matches.len() {
        0 => folder::error(
            xml,
            MESSAGE,
            (
                ResponseCode::ErrorNameResolutionNoResults,
                "No results were found.",
            ),
        ),
        1 => folder::success(xml, MESSAGE),
        _ => {
            xml.open(MESSAGE, &[("ResponseClass", "Warning")])
                .leaf("m:MessageText", "Multiple results were found.")
                .leaf(
                    "m:ResponseCode",
                    ResponseCode::ErrorNameResolutionMultipleResults.as_str(),
                )
                .leaf("m:DescriptiveLinkKey", "0");
        }
    }
    if !matches.is_empty() {
        // `ArrayOfResolutionType` with `FindResponsePagingAttributes`.
        let total = matches.len().min(MAX_RESOLUTIONS).to_string();
        let last = if matches.len() <= MAX_RESOLUTIONS {
            "true"
        } else {
            "false"
        };
        xml.open(
            "m:ResolutionSet",
            &[
                ("IncludesLastItemInRange", last),
                ("TotalItemsInView", &total),
            ],
        );
        for user in matches.iter().take(MAX_RESOLUTIONS) {
            resolution(xml, user, full);
        }
        xml.close("m:ResolutionSet");
    }
    xml.close(MESSAGE)
        .close("m:ResponseMessages")
        .close("m:ResolveNamesResponse");
}

fn matches_user(user: &User, needle: &str) -> bool {
    let local = user.smtp.split('@').next().unwrap_or_default();
    [
        user.display_name.as_str(),
        &user.first_name,
        &user.last_name,
        &user.smtp,
        local,
    ]
    .iter()
    .any(|field| field.to_lowercase().starts_with(needle))
        || user
            .display_name
            .split_whitespace()
            .any(|word| word.to_lowercase().starts_with(needle))
}

/// One `t:Resolution` (`ResolutionType`: `Mailbox`, then `Contact`? when full contact data
/// was asked for). `Mailbox` is an `EmailAddressType` (`Name`, `EmailAddress`,
/// `RoutingType`, `MailboxType`); `Contact` a `ContactItemType` with the directory's
/// properties in its order (`DisplayName`, `GivenName`, `EmailAddresses`, `Department`,
/// `JobTitle`, `Surname`, `HasPicture`); empty properties are left out.
fn resolution(xml: &mut Xml, user: &User, full: bool) {
    xml.open("t:Resolution", &[])
        .open("t:Mailbox", &[])
        .leaf("t:Name", &user.display_name)
        .leaf("t:EmailAddress", &user.smtp)
        .leaf("t:RoutingType", "SMTP")
        .leaf("t:MailboxType", "Mailbox")
        .close("t:Mailbox");
    if full {
        let optional = |xml: &mut Xml, name: &str, value: &str| {
            if !value.is_empty() {
                xml.leaf(name, value);
            }
        };
        xml.open("t:Contact", &[]);
        optional(xml, "t:DisplayName", &user.display_name);
        optional(xml, "t:GivenName", &user.first_name);
        xml.open("t:EmailAddresses", &[])
            .open("t:Entry", &[("Key", "EmailAddress1")]);
        xml.text(&format!("SMTP:{}", user.smtp));
        xml.close("t:Entry").close("t:EmailAddresses");
        optional(xml, "t:Department", &user.department);
        optional(xml, "t:JobTitle", &user.job_title);
        optional(xml, "t:Surname", &user.last_name);
        let picture = user.photo || !user.photo_path.is_empty();
        xml.leaf("t:HasPicture", if picture { "true" } else { "false" })
            .close("t:Contact");
    }
    xml.close("t:Resolution");
}

/// `GetUserPhoto`: the user's photo file, or a generated one.
pub(crate) fn get_user_photo(call: &Call, request: GetUserPhoto) -> Response {
    let world = &call.ctx.world;
    let photo = world
        .directory
        .user_by_smtp(&request.email)
        .and_then(|i| world.directory.users.get(i))
        .and_then(photo_of);
    // `GetUserPhotoResponse` is itself the response message (`GetUserPhotoResponseMessageType`:
    // the `ResponseMessageType` children, `HasChanged`, `PictureData`?).
    const ELEMENT: &str = "m:GetUserPhotoResponse";
    write::envelope(world, |xml| {
        let class = if photo.is_some() { "Success" } else { "Error" };
        xml.open(
            ELEMENT,
            &[
                ("ResponseClass", class),
                ("xmlns:m", MESSAGES),
                ("xmlns:t", TYPES),
            ],
        );
        match photo {
            Some(bytes) => {
                xml.leaf("m:ResponseCode", "NoError")
                    .leaf("m:HasChanged", "true")
                    .leaf("m:PictureData", &STANDARD.encode(bytes));
            }
            None => {
                xml.leaf("m:MessageText", "The photo could not be found.")
                    .leaf("m:ResponseCode", ResponseCode::ErrorItemNotFound.as_str())
                    .leaf("m:DescriptiveLinkKey", "0")
                    .leaf("m:HasChanged", "false");
            }
        }
        xml.close(ELEMENT);
    })
}

/// A user's photo: their photo file, or a generated one.
pub(crate) fn photo_of(user: &User) -> Option<Vec<u8>> {
    if !user.photo_path.is_empty() {
        let metadata = std::fs::metadata(&user.photo_path).ok()?;
        if metadata.len() > MAX_PHOTO {
            return None;
        }
        return std::fs::read(&user.photo_path).ok();
    }
    user.photo.then(|| generated_photo(&user.smtp))
}

/// A 1×1 PNG whose colour depends on the address (valid image bytes for clients to cache).
fn generated_photo(seed: &str) -> Vec<u8> {
    let hash = seed.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let [r, g, b, _] = hash.to_le_bytes();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
    // One scanline: filter byte 0, then RGB, as a stored (uncompressed) zlib block.
    let raw = [0u8, r, g, b];
    let mut zlib = vec![0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff];
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_names_answers_are_valid_by_the_schema() {
        let mara = User {
            display_name: "Mara <Whitley> & co".into(),
            first_name: "Mara".into(),
            last_name: "Whitley".into(),
            smtp: "mara@contoso.com".into(),
            job_title: "Engineer".into(),
            department: String::new(),
            photo: true,
            ..User::default()
        };
        let sadie = User {
            display_name: "Sadie".into(),
            smtp: "sadie@contoso.com".into(),
            ..User::default()
        };
        for (users, full) in [
            (vec![&mara], true),
            (vec![&mara, &sadie], true),
            (vec![&mara, &sadie], false),
            (Vec::new(), true),
        ] {
            let mut xml = Xml::default();
            resolve_names_answer(&mut xml, &users, full);
            let text = format!(
                "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{}</s:Body></s:Envelope>",
                xml.as_str()
            );
            crate::ews::strict::validate_answer(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }
    use crate::ews::envelope::{assert_schema_refusal, read_operation};

    #[test]
    fn reads_resolve_names_entry_and_attributes() {
        let request = read_operation(
            r#"<m:ResolveNames ReturnFullContactData="true" SearchScope="ActiveDirectory" ContactDataShape="IdOnly"><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds><m:UnresolvedEntry> mara </m:UnresolvedEntry></m:ResolveNames>"#,
            read_resolve_names,
        )
        .expect("valid request");
        assert_eq!(request.unresolved_entry, " mara ");
        assert!(request.return_full_contact_data);
        assert_eq!(request.search_scope, Some(SearchScope::ActiveDirectory));
        assert_eq!(request.contact_data_shape.as_deref(), Some("IdOnly"));

        let request = read_operation(
            r#"<m:ResolveNames ReturnFullContactData="0"><m:UnresolvedEntry>SMTP:mara@contoso.com</m:UnresolvedEntry></m:ResolveNames>"#,
            read_resolve_names,
        )
        .expect("valid request");
        assert!(!request.return_full_contact_data);
        assert_eq!(request.search_scope, None);
        assert_eq!(request.contact_data_shape, None);
    }

    #[test]
    fn refuses_what_the_schema_refuses_in_resolve_names() {
        let cases = [
            (
                "<m:ResolveNames><m:UnresolvedEntry>mara</m:UnresolvedEntry></m:ResolveNames>",
                "The required attribute 'ReturnFullContactData' is missing",
            ),
            (
                r#"<m:ResolveNames ReturnFullContactData="yes"><m:UnresolvedEntry>mara</m:UnresolvedEntry></m:ResolveNames>"#,
                "'ReturnFullContactData' attribute is invalid",
            ),
            (
                r#"<m:ResolveNames ReturnFullContactData="true" SearchScope="Everywhere"><m:UnresolvedEntry>mara</m:UnresolvedEntry></m:ResolveNames>"#,
                "ResolveNamesSearchScopeType",
            ),
            (
                r#"<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry/></m:ResolveNames>"#,
                "MinLength",
            ),
            (
                r#"<m:ResolveNames ReturnFullContactData="true"/>"#,
                "'UnresolvedEntry'",
            ),
            (
                r#"<m:ResolveNames ReturnFullContactData="true"><m:ParentFolderIds/><m:UnresolvedEntry>mara</m:UnresolvedEntry></m:ResolveNames>"#,
                "'ParentFolderIds' has incomplete content",
            ),
        ];
        for (operation, named) in cases {
            assert_schema_refusal(read_operation(operation, read_resolve_names), named);
        }
    }

    #[test]
    fn reads_get_user_photo_and_refuses_an_unknown_size() {
        let request = read_operation(
            "<m:GetUserPhoto><m:Email> sadie@contoso.com </m:Email><m:SizeRequested>HR96x96</m:SizeRequested><m:TypeRequested>UserPhoto</m:TypeRequested></m:GetUserPhoto>",
            read_get_user_photo,
        )
        .expect("valid request");
        assert_eq!(request.email, "sadie@contoso.com");
        assert_eq!(request.size, UserPhotoSize::HR96x96);
        assert_eq!(request.type_requested.as_deref(), Some("UserPhoto"));

        let cases = [
            (
                "<m:GetUserPhoto><m:Email>sadie@contoso.com</m:Email><m:SizeRequested>HR100x100</m:SizeRequested></m:GetUserPhoto>",
                "UserPhotoSizeType' - The Enumeration constraint failed",
            ),
            (
                "<m:GetUserPhoto><m:SizeRequested>HR96x96</m:SizeRequested></m:GetUserPhoto>",
                "List of possible elements expected: 'Email'",
            ),
            (
                "<m:GetUserPhoto><m:Email>sadie@contoso.com</m:Email><m:SizeRequested>HR96x96</m:SizeRequested><m:TypeRequested>Avatar</m:TypeRequested></m:GetUserPhoto>",
                "UserPhotoTypeType",
            ),
        ];
        for (operation, named) in cases {
            assert_schema_refusal(read_operation(operation, read_get_user_photo), named);
        }
    }
}
