//! The walk over an in-memory directory.

use std::collections::HashMap;

use super::*;
use crate::scp::entry::{POINTER_GUID, URL_GUID};

const CONFIG: &str = "(config)";

/// A directory in memory: `(host, base)` to SCPs or an error; `CONFIG` is the config NC.
#[derive(Default)]
struct Fake {
    places: HashMap<(String, String), Result<Vec<Scp>, String>>,
    asked: Vec<(String, String)>,
}

impl Fake {
    fn at(mut self, host: &str, base: &str, scps: Vec<Scp>) -> Self {
        self.places.insert((host.into(), base.into()), Ok(scps));
        self
    }

    fn failing(mut self, host: &str, base: &str, error: &str) -> Self {
        self.places
            .insert((host.into(), base.into()), Err(error.into()));
        self
    }
}

impl Directory for Fake {
    fn security(&self) -> Security {
        Security::Ldaps
    }

    async fn search(&mut self, server: &Server, base: Option<&str>) -> Answer {
        let place = (server.host.clone(), base.unwrap_or(CONFIG).to_owned());
        self.asked.push(place.clone());
        let result = self
            .places
            .get(&place)
            .cloned()
            .unwrap_or_else(|| Err("noSuchObject".into()));
        Answer {
            result,
            credentials_sent: true,
        }
    }
}

fn url(url: &str, site: Option<&str>) -> Scp {
    let mut keywords = vec![URL_GUID.to_owned()];
    keywords.extend(site.map(|s| format!("Site={s}")));
    Scp {
        keywords,
        bindings: vec![url.into()],
    }
}

fn pointer(path: &str, domain: Option<&str>) -> Scp {
    let mut keywords = vec![POINTER_GUID.to_owned()];
    keywords.extend(domain.map(|d| format!("Domain={d}")));
    Scp {
        keywords,
        bindings: vec![path.into()],
    }
}

fn dc() -> Server {
    Server::parse("dc1").expect("test DC")
}

async fn run(fake: &mut Fake, email: &str) -> Walk {
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
    walk(fake, &dc(), email, domain, Some("HQ")).await
}

fn urls(walk: &Walk) -> Vec<&str> {
    walk.urls.iter().map(url::Url::as_str).collect()
}

fn outcomes(walk: &Walk) -> Vec<(&str, &Outcome)> {
    walk.trace
        .iter()
        .map(|e| (e.target.as_str(), &e.outcome))
        .collect()
}

#[tokio::test]
async fn one_search_lists_ranked_urls_and_refusals() {
    let mut fake = Fake::default().at(
        "dc1",
        CONFIG,
        vec![
            url("https://b.test/x", Some("Branch")),
            url("http://plain.test/x", Some("HQ")),
            url("https://a.test/x", Some("HQ")),
        ],
    );
    let walk = run(&mut fake, "u@corp.test").await;
    assert!(walk.answered);
    assert_eq!(urls(&walk), ["https://a.test/x", "https://b.test/x"]);
    assert_eq!(walk.trace[0].target, "ldaps://dc1:636");
    assert_eq!(
        walk.trace[0].outcome,
        Outcome::Listed {
            candidates: vec!["https://a.test/x".into(), "https://b.test/x".into()]
        }
    );
    assert!(walk.trace[0].credentials_sent);
    assert_eq!(walk.trace[1].target, "http://plain.test/x");
    assert!(matches!(walk.trace[1].outcome, Outcome::Refused { .. }));
    assert_eq!(walk.trace.len(), 2);
}

#[tokio::test]
async fn a_pointer_for_the_domain_restarts_the_search_there() {
    let mut fake = Fake::default()
        .at(
            "dc1",
            CONFIG,
            vec![
                url("https://corp.test/x", None),
                pointer(
                    "LDAP://dc2.fabrikam.test/CN=Exchange,DC=fabrikam",
                    Some("fabrikam.test"),
                ),
                pointer("LDAP://CN=Elsewhere", Some("other.test")),
            ],
        )
        .at(
            "dc2.fabrikam.test",
            "CN=Exchange,DC=fabrikam",
            vec![url("https://fabrikam.test/x", None)],
        );
    let walk = run(&mut fake, "u@FABRIKAM.test").await;
    assert_eq!(urls(&walk), ["https://fabrikam.test/x"]);
    assert_eq!(
        walk.trace[1].target,
        "ldaps://dc2.fabrikam.test:636/CN=Exchange,DC=fabrikam"
    );
    // The same directory without the domain: the pointer is not followed.
    let walk = run(&mut fake, "u@corp.test").await;
    assert_eq!(urls(&walk), ["https://corp.test/x"]);
    assert_eq!(walk.trace.len(), 1);
}

#[tokio::test]
async fn a_serverless_pointer_stays_on_the_server_and_an_empty_target_falls_back() {
    let mut fake = Fake::default()
        .at(
            "dc1",
            CONFIG,
            vec![
                url("https://corp.test/x", None),
                pointer("LDAP://CN=Empty,DC=corp", Some("corp.test")),
            ],
        )
        .at("dc1", "CN=Empty,DC=corp", vec![]);
    let walk = run(&mut fake, "u@corp.test").await;
    assert_eq!(
        fake.asked[1],
        ("dc1".to_owned(), "CN=Empty,DC=corp".to_owned())
    );
    assert_eq!(urls(&walk), ["https://corp.test/x"]);
    assert_eq!(
        outcomes(&walk)[1],
        (
            "ldaps://dc1:636/CN=Empty,DC=corp",
            &Outcome::Listed { candidates: vec![] }
        )
    );
}

#[tokio::test]
async fn a_pointer_to_a_dead_server_falls_back_but_still_answers() {
    let mut fake = Fake::default()
        .at(
            "dc1",
            CONFIG,
            vec![
                url("https://corp.test/x", None),
                pointer("LDAP://dead.test", Some("corp.test")),
            ],
        )
        .failing("dead.test", CONFIG, "connect: refused");
    let walk = run(&mut fake, "u@corp.test").await;
    assert!(walk.answered);
    assert_eq!(urls(&walk), ["https://corp.test/x"]);
    assert_eq!(
        outcomes(&walk)[1],
        (
            "ldaps://dead.test:636",
            &Outcome::Failed {
                error: "connect: refused".into()
            }
        )
    );
}

#[tokio::test]
async fn the_fallback_pointer_is_followed_only_without_urls() {
    let target = vec![url("https://fallback.test/x", None)];
    let mut fake = Fake::default()
        .at("dc1", CONFIG, vec![pointer("LDAP://CN=Fallback", None)])
        .at("dc1", "CN=Fallback", target.clone());
    assert_eq!(
        urls(&run(&mut fake, "u@corp.test").await),
        ["https://fallback.test/x"]
    );
    let mut fake = Fake::default()
        .at(
            "dc1",
            CONFIG,
            vec![
                pointer("LDAP://CN=Fallback", None),
                url("https://corp.test/x", None),
            ],
        )
        .at("dc1", "CN=Fallback", target);
    assert_eq!(
        urls(&run(&mut fake, "u@corp.test").await),
        ["https://corp.test/x"]
    );
    assert_eq!(fake.asked.len(), 1);
}

#[tokio::test]
async fn loops_are_cut() {
    let mut fake = Fake::default()
        .at(
            "dc1",
            CONFIG,
            vec![
                url("https://corp.test/x", None),
                pointer("LDAP://CN=Loop", Some("loop.test")),
            ],
        )
        .at(
            "dc1",
            "CN=Loop",
            vec![pointer("LDAP://DC1/cn=loop", Some("loop.test"))],
        );
    let walk = run(&mut fake, "u@loop.test").await;
    assert_eq!(fake.asked.len(), 2);
    assert_eq!(urls(&walk), ["https://corp.test/x"]);
    let last = walk.trace.last().expect("trace");
    assert_eq!(last.target, "ldaps://DC1:636/cn=loop");
    assert!(matches!(&last.outcome, Outcome::Refused { reason } if reason.contains("loop")));
}

#[tokio::test]
async fn at_most_ten_pointers_are_followed() {
    let mut fake = Fake::default().at(
        "dc1",
        CONFIG,
        vec![pointer("LDAP://CN=1", Some("corp.test"))],
    );
    for i in 1..=12 {
        let scps = vec![
            url(&format!("https://hop{i}.test/x"), None),
            pointer(&format!("LDAP://CN={}", i + 1), Some("corp.test")),
        ];
        fake = fake.at("dc1", &format!("CN={i}"), scps);
    }
    let walk = run(&mut fake, "u@corp.test").await;
    assert_eq!(fake.asked.len(), 1 + MAX_POINTER_HOPS);
    assert_eq!(urls(&walk), ["https://hop10.test/x"]);
    let last = walk.trace.last().expect("trace");
    assert_eq!(last.target, "LDAP://CN=11");
    assert!(matches!(&last.outcome, Outcome::Refused { reason } if reason.contains("10 pointer")));
}

#[tokio::test]
async fn a_failing_first_search_is_not_an_answer() {
    let mut fake = Fake::default().failing("dc1", CONFIG, "bind: invalidCredentials");
    let walk = run(&mut fake, "u@corp.test").await;
    assert!(!walk.answered);
    assert!(walk.urls.is_empty());
    assert_eq!(
        outcomes(&walk),
        [(
            "ldaps://dc1:636",
            &Outcome::Failed {
                error: "bind: invalidCredentials".into()
            }
        )]
    );
}

#[tokio::test]
async fn a_bad_pointer_path_is_refused() {
    let mut fake = Fake::default().at(
        "dc1",
        CONFIG,
        vec![pointer("https://not.ldap/", Some("corp.test"))],
    );
    let walk = run(&mut fake, "u@corp.test").await;
    assert!(walk.answered);
    assert_eq!(walk.trace[1].target, "https://not.ldap/");
    assert!(matches!(walk.trace[1].outcome, Outcome::Refused { .. }));
}
