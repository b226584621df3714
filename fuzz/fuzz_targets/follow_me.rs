//! A Follow-Me document and an `If-Match` entity tag on arbitrary bytes: no panic; a document
//! is accepted exactly when it fits the bound and is UTF-8 JSON that serde_json reads into a
//! value, and a version read from a tag is positive and written back as the same tag.
//!
//! (This target found that checking the grammar alone let through nesting deeper than 128
//! levels, numbers beyond `f64` (`7e337`) and lone UTF-16 surrogate escapes (`"\udbee:"`),
//! which the user's other devices could not read back.)
//!
//! The input's first byte chooses the bound (0, 8 bytes per step up to 2032, or no bound),
//! the second the tag's length (at most 31 bytes); the tag follows, then the document.
#![no_main]

use bems_service::followme::{DocumentError, document, version_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [bound, tag_len, rest @ ..] = data else {
        return;
    };
    let max = match bound {
        255 => u64::MAX,
        step => u64::from(*step) * 8,
    };
    let (tag, body) = rest.split_at(usize::from(tag_len % 32).min(rest.len()));

    if let Ok(tag) = std::str::from_utf8(tag)
        && let Some(version) = version_of(tag)
    {
        assert!(version > 0, "{tag:?} read as {version}");
        assert_eq!(
            version_of(&format!("\"{version}\"")),
            Some(version),
            "{tag:?}"
        );
    }

    let fits = u64::try_from(body.len()).is_ok_and(|len| len <= max);
    let read = std::str::from_utf8(body)
        .map(|text| serde_json::from_str::<serde_json::Value>(text).map_err(|e| e.to_string()));
    let json = matches!(read, Ok(Ok(_)));
    match document(body, max) {
        Ok(text) => {
            assert!(fits, "{} bytes accepted under a bound of {max}", body.len());
            assert_eq!(text.as_bytes(), body);
            assert!(
                json,
                "accepted a document serde_json cannot read: {text:?}: {read:?}"
            );
        }
        Err(DocumentError::TooLarge { max: said }) => {
            assert!(!fits);
            assert_eq!(said, max);
        }
        Err(other) => {
            assert!(fits);
            assert!(!json, "refused a JSON document: {other}");
        }
    }
});
