//! Merging the backends' hits into people: two hits with the same user id (BEMS's "User ID
//! Property Name", compared without regard to case) are one person, whose fields come from
//! the first backend (in the configured order) that has them.

use std::collections::HashMap;

use super::Hit;
use crate::UserIdProperty;

/// The user id of a hit under `property`.
fn user_id(hit: &Hit, property: UserIdProperty) -> String {
    let email = hit.person.email.trim();
    let id = match property {
        UserIdProperty::Email => email,
        UserIdProperty::Alias => match hit.person.alias.as_deref().map(str::trim) {
            Some(alias) if !alias.is_empty() => alias,
            _ => email.split('@').next().unwrap_or(email),
        },
    };
    id.to_lowercase()
}

fn fill(slot: &mut Option<String>, other: Option<String>) {
    if slot.as_deref().is_none_or(|s| s.trim().is_empty()) {
        *slot = other.filter(|s| !s.trim().is_empty()).or(slot.take());
    }
}

/// Merges `found` (one list per backend that answered, in the configured order) and keeps
/// at most `limit` people, by display name; also says whether there were more (a backend
/// returned more than `limit`, or the merge did).
pub(super) fn merge(
    found: Vec<Vec<Hit>>,
    property: UserIdProperty,
    limit: usize,
) -> (Vec<Hit>, bool) {
    let mut truncated = false;
    let mut people: Vec<Hit> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for hits in found {
        truncated |= hits.len() > limit;
        for hit in hits.into_iter().take(limit) {
            let id = user_id(&hit, property);
            let Some(&at) = index.get(&id) else {
                index.insert(id, people.len());
                people.push(hit);
                continue;
            };
            let merged = &mut people[at];
            let (person, other) = (&mut merged.person, hit.person);
            fill(&mut person.display_name, other.display_name);
            fill(&mut person.given_name, other.given_name);
            fill(&mut person.surname, other.surname);
            fill(&mut person.job_title, other.job_title);
            fill(&mut person.department, other.department);
            fill(&mut person.alias, other.alias);
            person.has_photo = match (person.has_photo, other.has_photo) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (None, None) => None,
                _ => Some(false),
            };
            for source in other.sources {
                if !person.sources.contains(&source) {
                    person.sources.push(source);
                }
            }
            if merged.photo.is_none() {
                merged.photo = hit.photo;
            }
        }
    }
    people.sort_by(|a, b| {
        let name = |h: &Hit| {
            h.person
                .display_name
                .clone()
                .unwrap_or_else(|| h.person.email.clone())
                .to_lowercase()
        };
        name(a)
            .cmp(&name(b))
            .then_with(|| a.person.email.cmp(&b.person.email))
    });
    truncated |= people.len() > limit;
    people.truncate(limit);
    (people, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Person;

    fn hit(source: &'static str, email: &str, name: &str) -> Hit {
        let mut person = Person::new(email);
        person.display_name = Some(name.to_owned());
        person.sources = vec![source];
        Hit::new(person)
    }

    #[test]
    fn the_same_alias_is_one_person_with_fields_from_the_first_backend_that_has_them() {
        let mut ews = hit("ews", "Mara@Contoso.com", "Mara Whitley");
        ews.person.job_title = Some("Engineer".into());
        ews.person.has_photo = Some(false);
        let mut ldap = hit("ldap", "mara@contoso.com", "Whitley, Mara");
        ldap.person.alias = Some("MARA".into());
        ldap.person.job_title = Some("Principal Engineer".into());
        ldap.person.department = Some("Platform".into());
        ldap.person.has_photo = Some(true);
        ldap.photo = Some(vec![1, 2, 3]);
        let (people, truncated) = merge(vec![vec![ews], vec![ldap]], UserIdProperty::Alias, 10);
        assert!(!truncated);
        assert_eq!(people.len(), 1, "{people:#?}");
        let mara = &people[0];
        assert_eq!(mara.person.display_name.as_deref(), Some("Mara Whitley"));
        assert_eq!(mara.person.job_title.as_deref(), Some("Engineer"));
        assert_eq!(mara.person.department.as_deref(), Some("Platform"));
        assert_eq!(mara.person.has_photo, Some(true));
        assert_eq!(mara.person.sources, ["ews", "ldap"]);
        assert_eq!(mara.photo.as_deref(), Some(&[1u8, 2, 3][..]));
    }

    #[test]
    fn by_email_different_domains_stay_apart_and_by_alias_they_merge() {
        let found = || {
            vec![
                vec![hit("ews", "mara@contoso.com", "Mara Whitley")],
                vec![hit("ldap", "mara@corp.contoso.com", "Mara Whitley")],
            ]
        };
        assert_eq!(merge(found(), UserIdProperty::Email, 10).0.len(), 2);
        assert_eq!(merge(found(), UserIdProperty::Alias, 10).0.len(), 1);
    }

    #[test]
    fn results_are_sorted_by_name_and_bounded() {
        let found = vec![
            vec![
                hit("ews", "sadie@contoso.com", "Sadie Daniels"),
                hit("ews", "alfred@contoso.com", "alfred Hall"),
            ],
            vec![hit("ldap", "marek@contoso.com", "Marek Lindqvist")],
        ];
        let (people, truncated) = merge(found, UserIdProperty::Email, 2);
        let names: Vec<_> = people
            .iter()
            .map(|h| h.person.display_name.as_deref().unwrap_or_default())
            .collect();
        assert_eq!(names, ["alfred Hall", "Marek Lindqvist"]);
        assert!(truncated);
    }

    #[test]
    fn a_backend_with_more_than_the_limit_marks_the_answer_truncated() {
        let found = vec![vec![
            hit("ldap", "a@contoso.com", "A"),
            hit("ldap", "b@contoso.com", "B"),
        ]];
        let (people, truncated) = merge(found, UserIdProperty::Email, 1);
        assert_eq!(people.len(), 1);
        assert!(truncated);
    }
}
