//! The EWS backend ("GAL lookup"): `ResolveNames` in the directory with full contact data,
//! and `GetUserPhoto`, both as the caller (impersonation, `X-AnchorMailbox`) at the caller's
//! EWS URL, which the application's [`EwsLocator`] gives (the one it recorded for the mailbox,
//! else Autodiscover's).
//!
//! The user's text goes into the SOAP body as XML text (the writer escapes it); it is never
//! part of the markup.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ews_client::{Call, CallOptions};
use ews_proto::ResponseCode;
use ews_proto::operations::{
    GetUserPhoto, GetUserPhotoResponse, Operation, Resolution, ResolveNames, ResolveNamesResponse,
    UserPhotoSize,
};
use ews_proto::soap::ExchangeVersion;
use exchange_auth::Authenticator;
use url::Url;

use super::{BackendKind, DirectoryBackend, DirectoryError, Hit, Person, SearchQuery};

const KIND: BackendKind = BackendKind::Ews;
/// The largest `ResolveNames` answer read.
const MAX_ANSWER: usize = 4 << 20;

/// Where a mailbox's EWS endpoint is: what [`EwsDirectory`] asks before each request, and
/// what the application supplies (from what it recorded, or through Autodiscover).
#[async_trait]
pub trait EwsLocator: Send + Sync {
    /// The EWS URL of `mailbox` (an SMTP address).
    async fn ews_url(&self, mailbox: &str) -> Result<Url, LocateError>;
}

/// Why an [`EwsLocator`] could not say where a mailbox is.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct LocateError {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl LocateError {
    /// The locator failed because of `source`.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// Exchange's address book, through the service account.
pub struct EwsDirectory {
    auth: Arc<dyn Authenticator>,
    locator: Arc<dyn EwsLocator>,
    timeout: Duration,
    version: ExchangeVersion,
}

impl std::fmt::Debug for EwsDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsDirectory")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn failed(reason: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::unavailable(KIND, reason.to_string())
}

impl EwsDirectory {
    /// Asks through `auth` at the EWS URL `locator` gives for the caller's mailbox; each
    /// request within `timeout`, asking for `version` (the `RequestServerVersion`).
    pub fn new(
        auth: Arc<dyn Authenticator>,
        locator: Arc<dyn EwsLocator>,
        timeout: Duration,
        version: ExchangeVersion,
    ) -> Self {
        Self {
            auth,
            locator,
            timeout,
            version,
        }
    }

    /// The caller's EWS URL.
    async fn ews_url(&self, caller: &str) -> Result<Url, DirectoryError> {
        self.locator
            .ews_url(caller)
            .await
            .map_err(|e| failed(format_args!("the EWS URL of {caller}: {e}")))
    }

    /// Sends `operation` as `caller` and reads the answer of at most `limit` bytes.
    async fn call<O: Operation>(
        &self,
        caller: &str,
        operation: &O,
        limit: usize,
    ) -> Result<O::Response, DirectoryError> {
        let url = self.ews_url(caller).await?;
        Call::new(url, CallOptions::as_mailbox(self.version.clone(), caller))
            .timeout(Some(self.timeout))
            .max_answer(limit)
            .send(self.auth.as_ref(), operation)
            .await
            .map(|answer| answer.body)
            .map_err(failed)
    }
}

fn some(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// A resolution as a hit; `None` without an SMTP address.
fn hit(resolution: Resolution) -> Option<Hit> {
    let email = some(resolution.mailbox.email_address)?;
    let mut person = Person::new(email);
    person.display_name = some(resolution.mailbox.name);
    if let Some(contact) = resolution.contact {
        person.display_name = some(contact.display_name).or(person.display_name);
        person.given_name = some(contact.given_name);
        person.surname = some(contact.surname);
        person.job_title = some(contact.job_title);
        person.department = some(contact.department);
        person.has_photo = contact.has_picture;
    }
    person.sources = vec![KIND.as_str()];
    Some(Hit::new(person))
}

#[async_trait]
impl DirectoryBackend for EwsDirectory {
    fn kind(&self) -> BackendKind {
        KIND
    }

    async fn search(
        &self,
        caller: &str,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<Hit>, DirectoryError> {
        let request = ResolveNames::directory(query.as_str());
        let answer: ResolveNamesResponse = self.call(caller, &request, MAX_ANSWER).await?;
        let Some(message) = answer.into_first() else {
            return Err(failed("an answer without a response message"));
        };
        let code = &message.status.code;
        if *code == ResponseCode::ErrorNameResolutionNoResults {
            return Ok(Vec::new());
        }
        // Several matches come as a warning, ErrorNameResolutionMultipleResults.
        if !(message.status.is_success()
            || *code == ResponseCode::ErrorNameResolutionMultipleResults)
        {
            return Err(failed(format_args!("ResolveNames: {}", code.as_str())));
        }
        Ok(message
            .resolutions
            .into_iter()
            .filter_map(hit)
            .take(limit)
            .collect())
    }

    async fn photo(
        &self,
        caller: &str,
        address: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, DirectoryError> {
        let request = GetUserPhoto::new(address, UserPhotoSize::HR96x96);
        // Base64 takes a third more, and the envelope a little.
        let limit = max_bytes.saturating_mul(2).saturating_add(64 * 1024);
        let answer: GetUserPhotoResponse = match self.call(caller, &request, limit).await {
            Ok(answer) => answer,
            Err(DirectoryError::Unavailable { reason, .. }) if reason.contains("larger than") => {
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        if answer.status.code == ResponseCode::ErrorItemNotFound {
            return Ok(None);
        }
        if !answer.status.is_success() {
            return Err(failed(format_args!(
                "GetUserPhoto: {}",
                answer.status.code.as_str()
            )));
        }
        Ok(answer.picture_data.filter(|bytes| bytes.len() <= max_bytes))
    }
}
