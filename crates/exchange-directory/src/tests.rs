//! [`Directory`] over scripted backends: merging, partial failure, timeouts, caching.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A backend with fixed answers that counts what it is asked.
struct Scripted {
    kind: BackendKind,
    hits: Result<Vec<Hit>, DirectoryError>,
    photo: Option<Vec<u8>>,
    delay: Duration,
    searches: AtomicUsize,
    photos: AtomicUsize,
}

impl Scripted {
    fn new(kind: BackendKind, hits: Vec<Hit>) -> Self {
        Self {
            kind,
            hits: Ok(hits),
            photo: None,
            delay: Duration::ZERO,
            searches: AtomicUsize::new(0),
            photos: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl DirectoryBackend for Scripted {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    async fn search(
        &self,
        _caller: &str,
        _query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<Hit>, DirectoryError> {
        self.searches.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.hits
            .clone()
            .map(|hits| hits.into_iter().take(limit).collect())
    }

    async fn photo(
        &self,
        _caller: &str,
        _address: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, DirectoryError> {
        self.photos.fetch_add(1, Ordering::SeqCst);
        match &self.hits {
            Err(error) => Err(error.clone()),
            Ok(_) => Ok(self.photo.clone().filter(|p| p.len() <= max_bytes)),
        }
    }
}

fn person(source: &'static str, email: &str, name: &str) -> Hit {
    let mut person = Person::new(email);
    person.display_name = Some(name.to_owned());
    person.sources = vec![source];
    Hit::new(person)
}

fn settings() -> DirectorySettings {
    DirectorySettings {
        max_results: 10,
        ..DirectorySettings::default()
    }
}

fn query(text: &str) -> SearchQuery {
    SearchQuery::parse(text, 1).expect("a query")
}

#[tokio::test]
async fn backends_are_merged_and_a_failing_one_is_named() {
    let ews = Arc::new(Scripted::new(
        BackendKind::Ews,
        vec![person("ews", "mara@contoso.com", "Mara Whitley")],
    ));
    let mut ldap = Scripted::new(
        BackendKind::Ldap,
        vec![
            person("ldap", "MARA@contoso.com", "Mara Whitley"),
            person("ldap", "marek@contoso.com", "Marek Lindqvist"),
        ],
    );
    ldap.photo = Some(b"\x89PNG\r\n\x1a\nldap".to_vec());
    let broken = Arc::new(Scripted {
        hits: Err(DirectoryError::unavailable(BackendKind::Graph, "HTTP 503")),
        ..Scripted::new(BackendKind::Graph, Vec::new())
    });
    let directory = Directory::new(settings(), vec![ews, Arc::new(ldap), broken]);
    let answer = directory
        .search("sadie@contoso.com", &query("ma"), 10)
        .await
        .expect("two backends answered");
    let emails: Vec<_> = answer.people.iter().map(|p| p.email.as_str()).collect();
    assert_eq!(emails, ["mara@contoso.com", "marek@contoso.com"]);
    assert_eq!(answer.people[0].sources, ["ews", "ldap"]);
    let failed: Vec<String> = answer.failed.iter().map(ToString::to_string).collect();
    assert_eq!(failed, ["graph: HTTP 503"]);
    let photo = directory
        .photo("sadie@contoso.com", "mara@contoso.com")
        .await
        .expect("answered")
        .expect("LDAP has one");
    assert_eq!(photo.content_type, "image/png");
}

#[tokio::test]
async fn when_every_backend_fails_the_search_fails() {
    let broken = Arc::new(Scripted {
        hits: Err(DirectoryError::unavailable(
            BackendKind::Ldap,
            "bind refused",
        )),
        ..Scripted::new(BackendKind::Ldap, Vec::new())
    });
    let directory = Directory::new(settings(), vec![broken]);
    let error = directory
        .search("sadie@contoso.com", &query("ma"), 10)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "ldap: bind refused");
}

#[tokio::test(start_paused = true)]
async fn a_slow_backend_is_cut_off_at_the_timeout() {
    let slow = Arc::new(Scripted {
        delay: Duration::from_secs(3600),
        ..Scripted::new(BackendKind::Ldap, Vec::new())
    });
    let fast = Arc::new(Scripted::new(
        BackendKind::Ews,
        vec![person("ews", "mara@contoso.com", "Mara")],
    ));
    let directory = Directory::new(settings(), vec![fast, slow]);
    let answer = directory
        .search("sadie@contoso.com", &query("ma"), 10)
        .await
        .expect("EWS answered");
    assert_eq!(answer.people.len(), 1);
    let failed: Vec<String> = answer.failed.iter().map(ToString::to_string).collect();
    assert_eq!(failed, ["ldap: no answer within 10s"]);
}

#[tokio::test]
async fn complete_answers_and_photos_are_cached_and_results_bounded() {
    let hits = (0..30)
        .map(|i| {
            person(
                "ews",
                &format!("user{i:02}@contoso.com"),
                &format!("User {i:02}"),
            )
        })
        .collect();
    let mut ews = Scripted::new(BackendKind::Ews, hits);
    ews.photo = Some(vec![0xff, 0xd8, 0xff, 0xe0]);
    let ews = Arc::new(ews);
    let directory = Directory::new(settings(), vec![Arc::clone(&ews) as _]);
    let first = directory.search("a@contoso.com", &query("User"), 50).await;
    let first = first.expect("answered");
    assert_eq!(first.people.len(), 10, "max_results bounds the limit");
    assert!(first.truncated);
    let again = directory.search("a@contoso.com", &query("user"), 50).await;
    assert_eq!(again.expect("answered"), first);
    assert_eq!(
        ews.searches.load(Ordering::SeqCst),
        1,
        "the second came from the cache"
    );
    for _ in 0..2 {
        let photo = directory.photo("a@contoso.com", "User01@contoso.com").await;
        assert_eq!(
            photo.expect("answered").map(|p| p.content_type),
            Some("image/jpeg")
        );
    }
    assert_eq!(ews.photos.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn nothing_is_cached_with_a_zero_ttl_and_an_oversized_photo_is_not_served() {
    let mut ews = Scripted::new(
        BackendKind::Ews,
        vec![person("ews", "mara@contoso.com", "Mara")],
    );
    ews.photo = Some(vec![7; 2048]);
    let ews = Arc::new(ews);
    let settings = DirectorySettings {
        cache_ttl_seconds: 0,
        max_photo_bytes: 1024,
        ..settings()
    };
    let directory = Directory::new(settings, vec![Arc::clone(&ews) as _]);
    for _ in 0..2 {
        let _ = directory.search("a@contoso.com", &query("ma"), 5).await;
        let photo = directory.photo("a@contoso.com", "mara@contoso.com").await;
        assert_eq!(photo, Ok(None));
    }
    assert_eq!(ews.searches.load(Ordering::SeqCst), 2);
    assert_eq!(ews.photos.load(Ordering::SeqCst), 2);
}

#[test]
fn photos_carry_a_digest_etag_and_a_sniffed_type() {
    let png = Photo::new(b"\x89PNG\r\n\x1a\nrest".to_vec());
    let other = Photo::new(b"\x89PNG\r\n\x1a\nresT".to_vec());
    assert_eq!(png.content_type, "image/png");
    assert!(png.etag.starts_with('"') && png.etag.ends_with('"'));
    assert_ne!(png.etag, other.etag);
    assert_eq!(Photo::new(b"GIF89a".to_vec()).content_type, "image/gif");
    assert_eq!(
        Photo::new(b"<svg/>".to_vec()).content_type,
        "application/octet-stream"
    );
}

/// A locator that knows no mailbox.
struct Nowhere;

#[async_trait]
impl EwsLocator for Nowhere {
    async fn ews_url(&self, mailbox: &str) -> Result<url::Url, LocateError> {
        Err(LocateError::new(format!("{mailbox} is unknown")))
    }
}

/// Counts the requests it is asked to send, and sends none.
#[derive(Debug, Default)]
struct Counting(AtomicUsize);

#[async_trait]
impl exchange_auth::Authenticator for Counting {
    async fn send(
        &self,
        _: exchange_auth::HttpRequest,
    ) -> Result<exchange_auth::HttpResponse, exchange_auth::AuthError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(exchange_auth::AuthError::Protocol("not sent".into()))
    }

    fn status(&self) -> exchange_auth::AuthStatus {
        exchange_auth::AuthStatus::new(exchange_auth::AuthMethod::ModernClientSecret, "test".into())
    }
}

#[tokio::test]
async fn ews_without_the_callers_ews_url_fails_before_sending_anything() {
    let auth = Arc::new(Counting::default());
    let ews = EwsDirectory::new(
        Arc::clone(&auth) as _,
        Arc::new(Nowhere),
        Duration::from_secs(1),
        ews_proto::soap::ExchangeVersion::Exchange2013,
    );
    let error = ews
        .search("mara@contoso.com", &query("dan"), 5)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "ews: the EWS URL of mara@contoso.com: mara@contoso.com is unknown"
    );
    let error = ews
        .photo("mara@contoso.com", "dan@contoso.com", 1024)
        .await
        .unwrap_err();
    assert_eq!(error.backend(), "ews");
    assert_eq!(auth.0.load(Ordering::SeqCst), 0);
}

/// A library user's `max_results` of 0 (bems validates 1 to 100; a library caller may not)
/// answers with at most one person instead of panicking.
#[tokio::test]
async fn a_max_results_of_zero_answers_instead_of_panicking() {
    let hits = (0..3)
        .map(|i| person("ews", &format!("user{i}@contoso.com"), &format!("User {i}")))
        .collect();
    let settings = DirectorySettings {
        max_results: 0,
        ..DirectorySettings::default()
    };
    let directory = Directory::new(
        settings,
        vec![Arc::new(Scripted::new(BackendKind::Ews, hits))],
    );
    let answer = directory.search("a@contoso.com", &query("User"), 5).await;
    assert_eq!(answer.expect("answered").people.len(), 1);
}
