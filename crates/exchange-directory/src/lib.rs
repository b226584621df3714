//! # exchange-directory
//!
//! Directory Lookup, as BlackBerry's BEMS offers it: a device user looks up other users by
//! first name, last name, display name or address, and sees their photo.
//!
//! A [`Directory`] asks its backends together, each within its settings' timeout:
//!
//! | backend | search | photo |
//! |---|---|---|
//! | [`EwsDirectory`] ("GAL lookup") | `ResolveNames` with contact data, as the caller | `GetUserPhoto` |
//! | [`GraphDirectory`] (Microsoft 365) | `GET /v1.0/users?$filter=startswith(...)` | `GET /v1.0/users/{address}/photo/$value` |
//! | [`LdapDirectory`] ("LDAP lookup") | the query template, `{key}` replaced by the escaped text | `thumbnailPhoto` |
//!
//! and merges their hits by the user id property (BEMS's "User ID Property Name"), the first
//! backend in the configured order giving each field. Results are bounded
//! (`max_results`), photos too (`max_photo_bytes`), and both are kept for `cache_ttl_seconds`.
//!
//! User input never changes a query's meaning: it is a [`SearchQuery`] (trimmed, bounded, no
//! control characters), then escaped for each backend: RFC 4515 for LDAP filters, XML text in
//! the SOAP body for EWS, an OData string literal inside a percent-encoded query for Graph.
//!
//! The crate holds what it needs from its application behind traits it owns: an
//! [`Authenticator`](exchange_auth::Authenticator) sends the requests, an [`EwsLocator`] says
//! where a caller's mailbox is; its settings ([`DirectorySettings`], [`LdapSettings`]) are
//! plain values.
//!
//! ```
//! use std::sync::Arc;
//!
//! use async_trait::async_trait;
//! use exchange_directory::{
//!     BackendKind, Directory, DirectoryBackend, DirectoryError, DirectorySettings, Hit, Person,
//!     SearchQuery,
//! };
//!
//! /// A backend that knows one person.
//! struct One;
//!
//! #[async_trait]
//! impl DirectoryBackend for One {
//!     fn kind(&self) -> BackendKind {
//!         BackendKind::Ldap
//!     }
//!
//!     async fn search(
//!         &self,
//!         _caller: &str,
//!         query: &SearchQuery,
//!         _limit: usize,
//!     ) -> Result<Vec<Hit>, DirectoryError> {
//!         let mut mara = Person::new("mara@contoso.com");
//!         mara.display_name = Some("Mara Whitley".to_owned());
//!         let found = mara.email.starts_with(&query.as_str().to_lowercase());
//!         Ok(found.then(|| Hit::new(mara)).into_iter().collect())
//!     }
//!
//!     async fn photo(
//!         &self,
//!         _caller: &str,
//!         _address: &str,
//!         _max_bytes: usize,
//!     ) -> Result<Option<Vec<u8>>, DirectoryError> {
//!         Ok(None)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let query = SearchQuery::parse("  Mara ", 2).expect("a valid query");
//! assert_eq!(query.as_str(), "Mara");
//! assert!(SearchQuery::parse("m", 2).is_err());
//! assert!(SearchQuery::parse("ma\0ra", 2).is_err());
//!
//! let directory = Directory::new(DirectorySettings::default(), vec![Arc::new(One)]);
//! let answer = directory.search("sadie@contoso.com", &query, 10).await?;
//! assert_eq!(answer.people[0].display_name.as_deref(), Some("Mara Whitley"));
//! # Ok(())
//! # }
//! ```

mod cache;
mod ews;
mod graph;
mod ldap;
mod merge;
mod query;
mod settings;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::Mutex;

use self::cache::TtlCache;
pub use self::ews::{EwsDirectory, EwsLocator, LocateError};
pub use self::graph::GraphDirectory;
pub use self::ldap::LdapDirectory;
pub use self::query::{MAX_QUERY_CHARS, QueryError, SearchQuery, is_address};
pub use self::settings::{
    BackendKind, ConfigError, DEFAULT_PHOTO_QUERY_TEMPLATE, DEFAULT_QUERY_TEMPLATE,
    DirectorySettings, LdapSettings, QUERY_KEY, UserIdProperty,
};

/// Most search answers a directory keeps.
const SEARCHES_KEPT: usize = 1000;
/// Most photos a directory keeps, and their total size.
const PHOTOS_KEPT: usize = 512;
const PHOTO_BYTES_KEPT: usize = 32 * 1024 * 1024;

/// One person, as a backend (or the merge of several) describes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Person {
    /// The primary SMTP address.
    pub email: String,
    /// The display name.
    pub display_name: Option<String>,
    /// The first name.
    pub given_name: Option<String>,
    /// The last name.
    pub surname: Option<String>,
    /// The job title.
    pub job_title: Option<String>,
    /// The department.
    pub department: Option<String>,
    /// The Exchange alias (`mailNickname`), when the backend gives it.
    #[serde(skip)]
    pub alias: Option<String>,
    /// Whether the person has a photo: `None` when the backend does not say.
    #[serde(skip)]
    pub has_photo: Option<bool>,
    /// The backends that know the person, in the configured order.
    pub sources: Vec<&'static str>,
}

impl Person {
    /// A person known by `email`.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            ..Self::default()
        }
    }
}

/// A backend's hit: the person and, when the search brought it along, the photo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hit {
    /// Who.
    pub person: Person,
    /// Their photo's bytes, when the search returned them (LDAP's `thumbnailPhoto`).
    pub photo: Option<Vec<u8>>,
}

impl Hit {
    /// A hit without photo bytes.
    pub fn new(person: Person) -> Self {
        Self {
            person,
            photo: None,
        }
    }
}

/// Why a backend could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The backend could not be reached, or its answer could not be read.
    #[error("{backend}: {reason}")]
    Unavailable {
        /// `ews`, `graph` or `ldap`.
        backend: &'static str,
        /// What failed (never a password).
        reason: String,
    },
    /// The backend took longer than the directory's timeout.
    #[error("{backend}: no answer within {timeout:?}")]
    Timeout {
        /// `ews`, `graph` or `ldap`.
        backend: &'static str,
        /// The timeout.
        timeout: Duration,
    },
}

impl DirectoryError {
    /// `backend` could not answer, for `reason` (never a password).
    pub fn unavailable(backend: BackendKind, reason: impl Into<String>) -> Self {
        Self::Unavailable {
            backend: backend.as_str(),
            reason: reason.into(),
        }
    }

    /// The backend that failed.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Unavailable { backend, .. } | Self::Timeout { backend, .. } => backend,
        }
    }
}

/// One way to search a directory; what a [`Directory`] holds as `Arc<dyn DirectoryBackend>`.
#[async_trait]
pub trait DirectoryBackend: Send + Sync {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// At most `limit` people matching `query`, asked on behalf of `caller` (an address the
    /// caller's token proved).
    async fn search(
        &self,
        caller: &str,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<Hit>, DirectoryError>;

    /// The photo of the person with address `address` (checked by [`is_address`]), `None`
    /// when there is none or it is larger than `max_bytes`.
    async fn photo(
        &self,
        caller: &str,
        address: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, DirectoryError>;
}

/// What a search found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchAnswer {
    /// The people, by display name.
    pub people: Vec<Person>,
    /// Whether more people matched than were returned.
    pub truncated: bool,
    /// The backends that did not answer, and why (for logs: devices are told only which).
    pub failed: Vec<DirectoryError>,
}

/// A photo, ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Photo {
    /// The image.
    pub bytes: Arc<[u8]>,
    /// Its media type, from its first bytes (`image/png`, `image/jpeg`, `image/gif`).
    pub content_type: &'static str,
    /// A strong entity tag: a digest of the bytes, quoted.
    pub etag: String,
}

impl Photo {
    /// A photo of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&bytes);
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            content_type: sniff(&bytes),
            bytes: bytes.into(),
            etag: format!("\"{hex}\""),
        }
    }
}

fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else {
        "application/octet-stream"
    }
}

/// One Directory Lookup: its backends, its bounds, its caches.
pub struct Directory {
    settings: DirectorySettings,
    backends: Vec<Arc<dyn DirectoryBackend>>,
    searches: Mutex<TtlCache<(String, String, usize), SearchAnswer>>,
    photos: Mutex<TtlCache<String, Option<Photo>>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.backends.iter().map(|b| b.kind().as_str()).collect();
        f.debug_struct("Directory")
            .field("backends", &kinds)
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// A directory asking `backends` (in order of precedence) within `settings`' bounds.
    pub fn new(settings: DirectorySettings, backends: Vec<Arc<dyn DirectoryBackend>>) -> Self {
        let ttl = settings.cache_ttl();
        Self {
            searches: Mutex::new(TtlCache::new(ttl, SEARCHES_KEPT, usize::MAX)),
            photos: Mutex::new(TtlCache::new(ttl, PHOTOS_KEPT, PHOTO_BYTES_KEPT)),
            settings,
            backends,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &DirectorySettings {
        &self.settings
    }

    fn timeout(&self) -> Duration {
        self.settings.timeout()
    }

    fn max_photo(&self) -> usize {
        self.settings.max_photo()
    }

    /// At most `limit` (and `max_results`) people matching `query`, for `caller`. A backend
    /// that fails is named in [`SearchAnswer::failed`]; when every backend fails, the first
    /// error is returned. Complete answers are kept for the cache's time.
    pub async fn search(
        &self,
        caller: &str,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<SearchAnswer, DirectoryError> {
        let max = usize::try_from(self.settings.max_results).unwrap_or(usize::MAX);
        let limit = limit.clamp(1, max.max(1));
        let key = (
            caller.to_ascii_lowercase(),
            query.as_str().to_lowercase(),
            limit,
        );
        if let Some(answer) = self.searches.lock().await.get(&key, Instant::now()) {
            return Ok(answer);
        }
        let timeout = self.timeout();
        let asked = self.backends.iter().map(|backend| async move {
            let kind = backend.kind();
            // One more than asked for tells whether there were more.
            let search = backend.search(caller, query, limit + 1);
            match tokio::time::timeout(timeout, search).await {
                Ok(result) => result,
                Err(_) => Err(DirectoryError::Timeout {
                    backend: kind.as_str(),
                    timeout,
                }),
            }
        });
        let mut found = Vec::new();
        let mut failed = Vec::new();
        for result in join_all(asked).await {
            match result {
                Ok(hits) => found.push(hits),
                Err(error) => {
                    tracing::warn!(backend = error.backend(), %error, "directory search failed");
                    failed.push(error);
                }
            }
        }
        if found.is_empty() && !failed.is_empty() {
            return Err(failed.swap_remove(0));
        }
        let (hits, truncated) = merge::merge(found, self.settings.user_id_property, limit);
        let mut photos = self.photos.lock().await;
        let now = Instant::now();
        for hit in &hits {
            if let Some(bytes) = hit.photo.clone().filter(|b| b.len() <= self.max_photo()) {
                let weight = bytes.len();
                let photo = Some(Photo::new(bytes));
                photos.insert(hit.person.email.to_ascii_lowercase(), photo, weight, now);
            }
        }
        drop(photos);
        let answer = SearchAnswer {
            people: hits.into_iter().map(|hit| hit.person).collect(),
            truncated,
            failed,
        };
        if answer.failed.is_empty() {
            self.searches
                .lock()
                .await
                .insert(key, answer.clone(), 1, Instant::now());
        }
        Ok(answer)
    }

    /// The photo of `address`, from the first backend that has one; `None` when none has.
    /// An error only when every backend failed. Answers (and their absence) are kept for the
    /// cache's time.
    pub async fn photo(
        &self,
        caller: &str,
        address: &str,
    ) -> Result<Option<Photo>, DirectoryError> {
        let key = address.to_ascii_lowercase();
        if let Some(photo) = self.photos.lock().await.get(&key, Instant::now()) {
            return Ok(photo);
        }
        let max = self.max_photo();
        let timeout = self.timeout();
        let mut first_error = None;
        let mut answered = false;
        let mut found = None;
        for backend in &self.backends {
            let asked = backend.photo(caller, &key, max);
            let result = match tokio::time::timeout(timeout, asked).await {
                Ok(result) => result,
                Err(_) => Err(DirectoryError::Timeout {
                    backend: backend.kind().as_str(),
                    timeout,
                }),
            };
            match result {
                Ok(Some(bytes)) if bytes.len() <= max => {
                    found = Some(Photo::new(bytes));
                    answered = true;
                    break;
                }
                Ok(_) => answered = true,
                Err(error) => {
                    tracing::warn!(backend = error.backend(), %error, "directory photo failed");
                    first_error.get_or_insert(error);
                }
            }
        }
        if !answered && let Some(error) = first_error {
            return Err(error);
        }
        // "None" is kept only when every backend said so.
        if found.is_some() || first_error.is_none() {
            let weight = found.as_ref().map_or(1, |p| p.bytes.len());
            self.photos
                .lock()
                .await
                .insert(key, found.clone(), weight, Instant::now());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
