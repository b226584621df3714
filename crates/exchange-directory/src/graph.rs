//! The Microsoft Graph backend, for Microsoft 365 tenants
//! ([List users](https://learn.microsoft.com/en-us/graph/api/user-list),
//! [Get profilePhoto](https://learn.microsoft.com/en-us/graph/api/profilephoto-get)):
//!
//! - search: `GET /v1.0/users?$filter=startswith(displayName,'…') or startswith(givenName,'…')
//!   or startswith(surname,'…') or startswith(mail,'…') or startswith(userPrincipalName,'…')
//!   &$select=…&$top=N`. `$filter` with `startswith` works on these properties without
//!   "advanced queries" (`ConsistencyLevel: eventual`), and its string literals have one
//!   escaping rule (OData: `'` is written `''`); the whole value is then percent-encoded
//!   (RFC 3986), so the text can neither end the literal nor add a parameter.
//! - photo: `GET /v1.0/users/{address}/photo/$value` (the address percent-encoded as one path
//!   segment); 404 means no photo.
//!
//! The token is the application's [`Authenticator`]'s, one for Graph's resource.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exchange_auth::{Authenticator, HttpRequest};
use serde::Deserialize;
use url::Url;

use super::{BackendKind, DirectoryBackend, DirectoryError, Hit, Person, SearchQuery};

const KIND: BackendKind = BackendKind::Graph;
/// The largest list answer read.
const MAX_ANSWER: usize = 4 << 20;
/// What a search selects.
const SELECT: &str =
    "id,displayName,givenName,surname,mail,userPrincipalName,jobTitle,department,mailNickname";
/// The properties a search matches the start of.
const MATCHED: [&str; 5] = [
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
];

/// Microsoft 365's directory through Graph.
pub struct GraphDirectory {
    auth: Arc<dyn Authenticator>,
    base: String,
    timeout: Duration,
}

impl std::fmt::Debug for GraphDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphDirectory")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn failed(reason: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::unavailable(KIND, reason.to_string())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(super) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An OData string literal: quoted, `'` doubled.
pub(super) fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The `$filter` of a search for `text`.
pub(super) fn search_filter(text: &str) -> String {
    let literal = odata_string(text);
    MATCHED
        .iter()
        .map(|property| format!("startswith({property},{literal})"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[derive(Debug, Deserialize)]
struct UserList {
    #[serde(default)]
    value: Vec<User>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    mail: Option<String>,
    user_principal_name: Option<String>,
    job_title: Option<String>,
    department: Option<String>,
    mail_nickname: Option<String>,
}

fn some(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

impl User {
    fn hit(self) -> Option<Hit> {
        let email = some(self.mail).or_else(|| some(self.user_principal_name))?;
        let mut person = Person::new(email);
        person.display_name = some(self.display_name);
        person.given_name = some(self.given_name);
        person.surname = some(self.surname);
        person.job_title = some(self.job_title);
        person.department = some(self.department);
        person.alias = some(self.mail_nickname);
        person.sources = vec![KIND.as_str()];
        Some(Hit::new(person))
    }
}

impl GraphDirectory {
    /// Asks Graph at `base_url` (`https://graph.microsoft.com`) through `auth`, whose tokens
    /// are for Graph; each request within `timeout`.
    pub fn new(auth: Arc<dyn Authenticator>, base_url: &Url, timeout: Duration) -> Self {
        Self {
            auth,
            base: base_url.as_str().trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    /// The search request's URL.
    pub(super) fn search_url(&self, text: &str, limit: usize) -> Result<Url, DirectoryError> {
        let url = format!(
            "{}/v1.0/users?$filter={}&$select={}&$top={}",
            self.base,
            percent_encode(&search_filter(text)),
            percent_encode(SELECT),
            limit.clamp(1, 999)
        );
        Url::parse(&url).map_err(failed)
    }

    /// The photo request's URL.
    pub(super) fn photo_url(&self, address: &str) -> Result<Url, DirectoryError> {
        let url = format!(
            "{}/v1.0/users/{}/photo/$value",
            self.base,
            percent_encode(address)
        );
        Url::parse(&url).map_err(failed)
    }

    fn get(&self, url: Url, accept: &str) -> HttpRequest {
        HttpRequest::get(url)
            .header("Accept", accept)
            .timeout(Some(self.timeout))
    }
}

#[async_trait]
impl DirectoryBackend for GraphDirectory {
    fn kind(&self) -> BackendKind {
        KIND
    }

    async fn search(
        &self,
        _caller: &str,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<Hit>, DirectoryError> {
        let request = self.get(self.search_url(query.as_str(), limit)?, "application/json");
        let response = self.auth.send(request).await.map_err(failed)?;
        let status = response.status;
        let body = response.bytes(MAX_ANSWER).await.map_err(failed)?;
        if status != 200 {
            return Err(failed(format_args!("GET /v1.0/users: HTTP {status}")));
        }
        let list: UserList = serde_json::from_slice(&body)
            .map_err(|e| failed(format_args!("not a list of users: {e}")))?;
        Ok(list
            .value
            .into_iter()
            .filter_map(User::hit)
            .take(limit)
            .collect())
    }

    async fn photo(
        &self,
        _caller: &str,
        address: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, DirectoryError> {
        let request = self.get(self.photo_url(address)?, "image/*");
        let response = self.auth.send(request).await.map_err(failed)?;
        match response.status {
            200 => {}
            404 => return Ok(None),
            status => return Err(failed(format_args!("GET photo: HTTP {status}"))),
        }
        let too_large = response
            .header("Content-Length")
            .and_then(|n| n.trim().parse::<usize>().ok())
            .is_some_and(|n| n > max_bytes);
        if too_large {
            return Ok(None);
        }
        match response.bytes(max_bytes).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(exchange_auth::AuthError::Protocol(reason)) if reason.contains("larger than") => {
                Ok(None)
            }
            Err(error) => Err(failed(error)),
        }
    }
}

#[cfg(test)]
mod tests;
