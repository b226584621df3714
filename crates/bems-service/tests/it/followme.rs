//! Follow-Me's documents: JSON within bounds, versions named only by our strong tags.

use bems_service::followme::{DocumentError, document, version_of};

#[test]
fn a_document_is_json_that_reads_back_into_a_value() {
    assert_eq!(
        document(br#"{"apps":["mail"]}"#, 100),
        Ok(r#"{"apps":["mail"]}"#)
    );
    assert_eq!(document(b"{}", 1), Err(DocumentError::TooLarge { max: 1 }));
    assert_eq!(document(b"\xff", 100), Err(DocumentError::NotUtf8));
    // What the fuzzer found the grammar alone lets through.
    let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
    for text in ["7e337", r#""\udbee:""#, r#"{"a":"\udbee"}"#, deep.as_str()] {
        assert!(
            matches!(
                document(text.as_bytes(), 1 << 20),
                Err(DocumentError::NotJson(_))
            ),
            "{text:.40}"
        );
    }
    let nested = format!("{}{}", "[".repeat(127), "]".repeat(127));
    assert!(document(nested.as_bytes(), 1 << 20).is_ok());
}

#[test]
fn only_our_strong_tags_name_a_version() {
    assert_eq!(version_of("\"3\""), Some(3));
    assert_eq!(version_of(" \"12\" "), Some(12));
    for other in ["3", "W/\"3\"", "*", "\"0\"", "\"-1\"", "\"x\"", ""] {
        assert_eq!(version_of(other), None, "{other:?}");
    }
}
