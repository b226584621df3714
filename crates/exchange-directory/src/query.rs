//! What a user may search for: [`SearchQuery`] is valid by construction, and [`is_address`]
//! checks the address a photo is asked for.

use std::fmt;

/// The longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 64;
/// The longest address (RFC 5321: 64 + 1 + 255).
const MAX_ADDRESS: usize = 320;

/// A search text: trimmed, `min..=64` characters, no control characters. It is still the
/// user's text: every backend escapes it for its own query language.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchQuery(String);

/// Why a search text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// Too short (after trimming).
    #[error("the search text needs at least {min} characters")]
    TooShort {
        /// The least accepted.
        min: usize,
    },
    /// Too long.
    #[error("the search text has at most {MAX_QUERY_CHARS} characters")]
    TooLong,
    /// It holds a control character (a line break, NUL...).
    #[error("the search text holds a control character")]
    Control,
}

impl SearchQuery {
    /// `text`, trimmed, if it has at least `min` and at most [`MAX_QUERY_CHARS`] characters
    /// and no control character.
    pub fn parse(text: &str, min: usize) -> Result<Self, QueryError> {
        let text = text.trim();
        if text.chars().any(char::is_control) {
            return Err(QueryError::Control);
        }
        let length = text.chars().count();
        if length < min.max(1) {
            return Err(QueryError::TooShort { min: min.max(1) });
        }
        if length > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SearchQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `text` is an address a photo may be asked for: `local@domain`, at most 320
/// characters, no whitespace, control characters, `/`, `\` or `?`.
pub fn is_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && text.len() <= MAX_ADDRESS
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\' | '?' | '#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_trimmed_and_bounded() {
        assert_eq!(
            SearchQuery::parse(" Mara ", 2).map(|q| q.0),
            Ok("Mara".into())
        );
        assert_eq!(
            SearchQuery::parse(" m ", 2),
            Err(QueryError::TooShort { min: 2 })
        );
        assert_eq!(
            SearchQuery::parse("", 0),
            Err(QueryError::TooShort { min: 1 })
        );
        let long = "é".repeat(MAX_QUERY_CHARS);
        assert!(
            SearchQuery::parse(&long, 2).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(
            SearchQuery::parse(&format!("{long}x"), 2),
            Err(QueryError::TooLong)
        );
        for control in ["ma\0ra", "ma\nra", "ma\u{7f}"] {
            assert_eq!(SearchQuery::parse(control, 2), Err(QueryError::Control));
        }
    }

    #[test]
    fn filter_syntax_is_a_valid_query_left_for_the_backends_to_escape() {
        let query = SearchQuery::parse("*)(objectClass=*", 2).expect("valid text");
        assert_eq!(query.as_str(), "*)(objectClass=*");
    }

    #[test]
    fn photo_addresses_are_plain_addresses() {
        assert!(is_address("mara@contoso.com"));
        assert!(is_address("o'brien+tag@mail.contoso.com"));
        for bad in [
            "mara",
            "@contoso.com",
            "mara@contoso",
            "mara@.contoso.com",
            "../mara@contoso.com/x",
            "mara@contoso.com?x",
            "ma ra@contoso.com",
            "mara@contoso.com\n",
        ] {
            assert!(!is_address(bad), "{bad:?}");
        }
        assert!(!is_address(&format!("{}@contoso.com", "a".repeat(320))));
    }
}
