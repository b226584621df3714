//! The sans-io wire layer: Microsoft Graph's JSON as Rust values, and back. No sockets, no
//! clock; every parser takes bytes and returns a value or an error, and never panics. Open
//! sets (change types, lifecycle events) keep values they do not know as `Unknown`.

pub mod delta;
pub mod error;
pub mod folder;
pub mod message;
pub mod notification;
pub mod subscription;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses Graph's `DateTimeOffset` (`2016-11-20T18:23:45.9356913Z`).
pub fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

/// Writes a date and time as Graph takes them (RFC 3339, UTC).
pub fn format_datetime(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_datetimes_read_and_write() {
        let at = parse_datetime("2016-11-20T18:23:45.9356913Z").expect("parses");
        assert_eq!(format_datetime(at), "2016-11-20T18:23:45Z");
        assert!(parse_datetime("2016-11-20T18:23:45+01:00").is_some());
        for bad in ["", "yesterday", "2016-13-40T00:00:00Z", "\u{0}"] {
            assert!(parse_datetime(bad).is_none(), "{bad:?}");
        }
    }
}
