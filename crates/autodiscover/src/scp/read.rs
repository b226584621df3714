//! Reading search results without ldap3's panicking helpers: entries only (continuation
//! references skipped), at most [`MAX_ENTRIES`], malformed ones dropped.

use ldap3::adapters::EntriesOnly;
use ldap3::asn1::StructureTag;
use ldap3::{Ldap, LdapError, Scope};

use super::entry::Scp;

/// Entries read from one search at most; a directory sending more is cut off.
const MAX_ENTRIES: usize = 1000;

/// Reads `configurationNamingContext` from the RootDSE (`None` when it has none).
pub(crate) async fn config_nc(ldap: &mut Ldap) -> Result<Option<String>, LdapError> {
    let attrs = ["configurationNamingContext"];
    let entries = search(ldap, "", Scope::Base, "(objectClass=*)", &attrs).await?;
    Ok(entries
        .iter()
        .flat_map(|attrs| values(attrs, "configurationNamingContext"))
        .find(|v| !v.trim().is_empty())
        .map(|v| v.trim().to_owned()))
}

/// An entry's attributes: name and values, in the order received.
pub(crate) type Attributes = Vec<(String, Vec<String>)>;

/// Searches and returns the entries' attributes, skipping continuation references (AD
/// returns one to the Schema NC) and cutting off at [`MAX_ENTRIES`].
pub(crate) async fn search(
    ldap: &mut Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: &[&str],
) -> Result<Vec<Attributes>, LdapError> {
    let mut stream = ldap
        .streaming_search_with(EntriesOnly::new(), base, scope, filter, attrs.to_vec())
        .await?;
    let mut entries = Vec::new();
    while let Some(entry) = stream.next().await? {
        match parse_entry(entry.0) {
            Some(attrs) => entries.push(attrs),
            None => tracing::debug!("skipping a malformed search result entry"),
        }
        if entries.len() == MAX_ENTRIES {
            tracing::warn!(base, "more than {MAX_ENTRIES} SCP entries; reading no more");
            let id = stream.ldap_handle().last_id();
            // Best effort: entries still coming for this search are dropped anyway.
            let _ = stream.ldap_handle().abandon(id).await;
            return Ok(entries);
        }
    }
    let done = stream.finish().await;
    // 4: sizeLimitExceeded keeps what came; 10: a referral is skipped, not an error.
    match done.rc {
        0 | 4 | 10 => Ok(entries),
        _ => Err(LdapError::LdapResult { result: done }),
    }
}

/// A SearchResultEntry's attributes, without ldap3's panicking `SearchEntry::construct`.
fn parse_entry(tag: StructureTag) -> Option<Attributes> {
    let mut parts = tag.match_id(4)?.expect_constructed()?.into_iter();
    let _dn = parts.next()?;
    let mut out = Vec::new();
    for attribute in parts.next()?.expect_constructed()? {
        let mut attribute = attribute.expect_constructed()?.into_iter();
        let name = String::from_utf8(attribute.next()?.expect_primitive()?).ok()?;
        let values = attribute
            .next()?
            .expect_constructed()?
            .into_iter()
            .filter_map(|v| String::from_utf8(v.expect_primitive()?).ok())
            .collect();
        out.push((name, values));
    }
    Some(out)
}

fn values<'a>(attrs: &'a Attributes, name: &str) -> impl Iterator<Item = &'a String> {
    let name = name.to_owned();
    attrs
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
        .flat_map(|(_, values)| values)
}

/// The SCP attributes of an entry.
pub(crate) fn scp(attrs: &Attributes) -> Scp {
    Scp {
        keywords: values(attrs, "keywords").cloned().collect(),
        bindings: values(attrs, "serviceBindingInformation")
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use ldap3::asn1::{PL, TagClass};

    use super::*;

    fn octets(value: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(value.to_vec()),
        }
    }

    fn constructed(class: TagClass, id: u64, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class,
            id,
            payload: PL::C(inner),
        }
    }

    fn attribute(name: &str, values: &[&[u8]]) -> StructureTag {
        let values = values.iter().map(|v| octets(v)).collect();
        constructed(
            TagClass::Universal,
            16,
            vec![
                octets(name.as_bytes()),
                constructed(TagClass::Universal, 17, values),
            ],
        )
    }

    fn entry(attributes: Vec<StructureTag>) -> StructureTag {
        let attributes = constructed(TagClass::Universal, 16, attributes);
        constructed(
            TagClass::Application,
            4,
            vec![octets(b"CN=Autodiscover,CN=Configuration"), attributes],
        )
    }

    #[test]
    fn entries_become_scps() {
        let tag = entry(vec![
            attribute(
                "keywords",
                &[
                    b"77378F46-2C66-4aa9-A6A6-3E7A48B19596",
                    b"Site=HQ",
                    b"\xff\xfe",
                ],
            ),
            attribute(
                "ServiceBindingInformation",
                &[b"https://mail.corp.test/Autodiscover/Autodiscover.xml"],
            ),
        ]);
        let attrs = parse_entry(tag).expect("entry");
        assert_eq!(
            scp(&attrs),
            Scp {
                keywords: vec![
                    "77378F46-2C66-4aa9-A6A6-3E7A48B19596".into(),
                    "Site=HQ".into()
                ],
                bindings: vec!["https://mail.corp.test/Autodiscover/Autodiscover.xml".into()],
            }
        );
    }

    #[test]
    fn malformed_entries_are_none_not_panics() {
        assert!(parse_entry(octets(b"x")).is_none());
        assert!(
            parse_entry(constructed(
                TagClass::Application,
                19,
                vec![octets(b"ldap://x")]
            ))
            .is_none()
        );
        assert!(
            parse_entry(constructed(TagClass::Application, 4, vec![octets(b"CN=x")])).is_none()
        );
        assert!(
            parse_entry(constructed(
                TagClass::Application,
                4,
                vec![octets(b"CN=x"), octets(b"y")]
            ))
            .is_none()
        );
        let half_attribute = constructed(TagClass::Universal, 16, vec![octets(b"keywords")]);
        assert!(parse_entry(entry(vec![half_attribute])).is_none());
        assert_eq!(parse_entry(entry(vec![])), Some(vec![]));
    }
}
