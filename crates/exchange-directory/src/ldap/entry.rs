//! Search result entries, read without ldap3's panicking helpers: attribute values as bytes
//! (`thumbnailPhoto` is binary), malformed entries dropped.

use ldap3::asn1::StructureTag;

use crate::{BackendKind, Hit, Person};

/// The attributes a search asks for.
pub(crate) const PERSON_ATTRIBUTES: [&str; 9] = [
    "mail",
    "displayName",
    "givenName",
    "sn",
    "title",
    "department",
    "mailNickname",
    "sAMAccountName",
    "thumbnailPhoto",
];

/// An entry's attributes: name and values, in the order received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry(pub(crate) Vec<(String, Vec<Vec<u8>>)>);

impl Entry {
    /// A SearchResultEntry (application tag 4: DN, then attributes).
    pub(crate) fn parse(tag: StructureTag) -> Option<Self> {
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
                .filter_map(StructureTag::expect_primitive)
                .collect();
            out.push((name, values));
        }
        Some(Self(out))
    }

    /// The first value of `name` (compared without regard to case).
    pub(crate) fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, values)| values.first())
            .map(Vec::as_slice)
    }

    /// The first value of `name` as text, trimmed, if it is UTF-8 and not empty.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        let text = std::str::from_utf8(self.bytes(name)?).ok()?.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// The entry as a hit (its photo kept when at most `max_photo` bytes); `None` without a
    /// `mail` address, by which people are shown and their photos asked for.
    pub(crate) fn hit(&self, max_photo: usize) -> Option<Hit> {
        let mut person = Person::new(self.text("mail")?);
        person.display_name = self.text("displayName");
        person.given_name = self.text("givenName");
        person.surname = self.text("sn");
        person.job_title = self.text("title");
        person.department = self.text("department");
        person.alias = self.text("mailNickname");
        let photo = self
            .bytes("thumbnailPhoto")
            .filter(|p| !p.is_empty() && p.len() <= max_photo)
            .map(<[u8]>::to_vec);
        person.has_photo = Some(photo.is_some());
        person.sources = vec![BackendKind::Ldap.as_str()];
        Some(Hit { person, photo })
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
        constructed(
            TagClass::Application,
            4,
            vec![
                octets(b"CN=Mara,DC=corp"),
                constructed(TagClass::Universal, 16, attributes),
            ],
        )
    }

    #[test]
    fn a_person_with_a_binary_photo() {
        let photo: &[u8] = &[0x89, b'P', b'N', b'G', 0xff, 0x00];
        let tag = entry(vec![
            attribute("mail", &[b"mara@contoso.com"]),
            attribute("displayName", &[b"Mara Whitley"]),
            attribute("SN", &[b"Whitley"]),
            attribute("thumbnailPhoto", &[photo]),
        ]);
        let hit = Entry::parse(tag).and_then(|e| e.hit(100)).expect("a hit");
        assert_eq!(hit.person.email, "mara@contoso.com");
        assert_eq!(hit.person.surname.as_deref(), Some("Whitley"));
        assert_eq!(hit.person.has_photo, Some(true));
        assert_eq!(hit.photo.as_deref(), Some(photo));
    }

    #[test]
    fn a_photo_over_the_bound_is_dropped_and_an_entry_without_mail_is_no_hit() {
        let tag = entry(vec![
            attribute("mail", &[b"mara@contoso.com"]),
            attribute("thumbnailPhoto", &[&[0u8; 64]]),
        ]);
        let hit = Entry::parse(tag).and_then(|e| e.hit(63)).expect("a hit");
        assert_eq!((hit.person.has_photo, hit.photo), (Some(false), None));
        let nameless = entry(vec![attribute("displayName", &[b"Printer"])]);
        assert!(Entry::parse(nameless).and_then(|e| e.hit(10)).is_none());
    }

    #[test]
    fn malformed_entries_are_refused_not_panicked_on() {
        assert!(Entry::parse(octets(b"x")).is_none());
        let no_attributes = constructed(TagClass::Application, 4, vec![octets(b"dn")]);
        assert!(Entry::parse(no_attributes).is_none());
        let bad_name = entry(vec![attribute("\u{0}", &[b"x"])]);
        let odd = constructed(
            TagClass::Application,
            4,
            vec![
                octets(b"dn"),
                constructed(TagClass::Universal, 16, vec![octets(b"x")]),
            ],
        );
        assert!(Entry::parse(bad_name).is_some());
        assert!(Entry::parse(odd).is_none());
    }
}
