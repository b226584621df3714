//! Lists written the seed's way (`dc1.example.com,dc2.example.com`) or as TOML arrays.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A list of names without empty entries, each trimmed.
///
/// In TOML either a comma-separated string, as the seed's console takes it
/// (`"dc1.example.com, dc2.example.com"`), or an array (`["dc1.example.com"]`); in an
/// environment variable, a comma-separated string. An empty string is an empty list; an empty
/// entry (`"dc1,,dc2"`, `"dc1,"`) is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(into = "Vec<String>")]
pub struct CommaList(Vec<String>);

impl CommaList {
    /// Parses a comma-separated list.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        Self::from_entries(text.split(','))
    }

    /// A list of `entries`, each trimmed; refuses an empty one.
    pub fn from_entries<I, S>(entries: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                return Err(format!(
                    "entry {} of the list is empty (separate names with single commas)",
                    index + 1
                ));
            }
            list.push(entry.to_owned());
        }
        Ok(Self(list))
    }

    /// The entries.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether the list has no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
}

impl From<CommaList> for Vec<String> {
    fn from(list: CommaList) -> Self {
        list.0
    }
}

impl<'a> IntoIterator for &'a CommaList {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de> Deserialize<'de> for CommaList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListVisitor)
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = CommaList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a comma-separated string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<CommaList, E> {
        CommaList::parse(text).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommaList, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element::<String>()? {
            entries.push(entry);
        }
        CommaList::from_entries(entries).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        list: CommaList,
    }

    fn from_toml(text: &str) -> Result<Vec<String>, String> {
        toml::from_str::<Holder>(text)
            .map(|h| h.list.into())
            .map_err(|e| e.message().to_owned())
    }

    #[test]
    fn strings_and_arrays_give_the_same_trimmed_list() {
        let expected = vec!["dc1.example.com".to_owned(), "dc2.example.com".to_owned()];
        assert_eq!(
            from_toml(r#"list = "dc1.example.com, dc2.example.com ""#),
            Ok(expected.clone())
        );
        assert_eq!(
            from_toml(r#"list = [" dc1.example.com", "dc2.example.com"]"#),
            Ok(expected)
        );
        assert_eq!(from_toml(r#"list = """#), Ok(vec![]));
        assert_eq!(from_toml("list = []"), Ok(vec![]));
    }

    #[test]
    fn empty_entries_are_refused() {
        for bad in [
            r#"list = "dc1,,dc2""#,
            r#"list = "dc1,""#,
            r#"list = ["dc1", " "]"#,
        ] {
            let error = from_toml(bad).unwrap_err();
            assert!(error.contains("is empty"), "{bad}: {error}");
        }
        assert!(from_toml("list = 3").is_err());
    }
}
