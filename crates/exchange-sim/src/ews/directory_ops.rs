//! Directory Lookup operations: `ResolveNames` and `GetUserPhoto`.

use axum::response::Response;
use ews_proto::operations::{
    Contact, ContactEmail, GetUserPhoto, GetUserPhotoResponse, Resolution, ResolveNames,
    ResolveNamesResponse, ResolveNamesResponseMessage,
};
use ews_proto::soap::{ResponseClass, ResponseStatus};
use ews_proto::{EmailAddress, ResponseCode};

use super::{Call, respond};
use crate::scenario::User;

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
    let mut message = ResolveNamesResponseMessage::default();
    match matches.len() {
        0 => {
            message.status = ResponseStatus::error(
                ResponseCode::ErrorNameResolutionNoResults,
                "No results were found.",
            );
        }
        1 => {}
        _ => {
            message.status.class = ResponseClass::Warning;
            message.status.code = ResponseCode::ErrorNameResolutionMultipleResults;
            message.status.message_text = Some("Multiple results were found.".to_owned());
        }
    }
    message.total_items_in_view = (!matches.is_empty())
        .then(|| u32::try_from(matches.len().min(MAX_RESOLUTIONS)).unwrap_or(u32::MAX));
    message.includes_last_item_in_range =
        (!matches.is_empty()).then_some(matches.len() <= MAX_RESOLUTIONS);
    message.resolutions = matches
        .into_iter()
        .take(MAX_RESOLUTIONS)
        .map(|u| resolution(u, request.return_full_contact_data))
        .collect();
    respond::ok(&call.ctx.world, &ResolveNamesResponse::single(message))
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

fn resolution(user: &User, full: bool) -> Resolution {
    let mut mailbox = EmailAddress::smtp(user.smtp.clone());
    mailbox.name = Some(user.display_name.clone());
    mailbox.routing_type = Some("SMTP".to_owned());
    mailbox.mailbox_type = Some("Mailbox".to_owned());
    let contact = full.then(|| {
        let mut contact = Contact::default();
        let some = |s: &String| (!s.is_empty()).then(|| s.clone());
        contact.display_name = some(&user.display_name);
        contact.given_name = some(&user.first_name);
        contact.surname = some(&user.last_name);
        contact.job_title = some(&user.job_title);
        contact.department = some(&user.department);
        contact.has_picture = Some(user.photo || !user.photo_path.is_empty());
        let mut email = ContactEmail::default();
        email.key = "EmailAddress1".to_owned();
        email.address = format!("SMTP:{}", user.smtp);
        contact.email_addresses = vec![email];
        contact
    });
    Resolution::new(mailbox, contact)
}

/// `GetUserPhoto`: the user's photo file, or a generated one.
pub(crate) fn get_user_photo(call: &Call, request: GetUserPhoto) -> Response {
    let world = &call.ctx.world;
    let photo = world
        .directory
        .user_by_smtp(&request.email)
        .and_then(|i| world.directory.users.get(i))
        .and_then(photo_of);
    let response = match photo {
        Some(bytes) => GetUserPhotoResponse::photo(bytes),
        None => {
            let mut response = GetUserPhotoResponse::default();
            response.status = ResponseStatus::error(
                ResponseCode::ErrorItemNotFound,
                "The photo could not be found.",
            );
            response
        }
    };
    respond::ok(world, &response)
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
