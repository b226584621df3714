//! One EWS request within the watcher's budgets: [`ews_client::Call`] with the watcher's
//! version, impersonation and the group's affinity, and every failure turned into a
//! [`CallError`] that says what to do about it.

use std::sync::Arc;
use std::time::Duration;

use ews_client::{Call, CallOptions};
use ews_proto::operations::Operation;
use ews_proto::soap::{ConnectingSid, ExchangeVersion, ResponseStatus, SoapFault};
use ews_proto::{ProtoError, ResponseCode};
use exchange_auth::{AuthError, Authenticator, HttpResponse};
use tokio::sync::Semaphore;
use url::Url;

use crate::pace::RateLimiter;
use crate::recovery::{Recovery, recovery};
use crate::settings::WatchSettings;

/// The largest non-streaming answer read (a GetEvents answer of 50 events is ~30 KB).
const MAX_ANSWER: usize = 16 << 20;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    /// Exchange answered with an error code (in a response message or a SOAP fault).
    Ews {
        code: ResponseCode,
        text: String,
        back_off: Option<Duration>,
    },
    /// An HTTP status without a readable SOAP answer.
    Http {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The connection failed, timed out or was cut.
    Network(String),
    /// The answer could not be read.
    Protocol(String),
    /// The credentials were refused or could not be used.
    Auth(AuthFailure),
}

/// An authentication failure, sorted by whether waiting can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthFailure {
    pub(crate) text: String,
    pub(crate) transient: bool,
}

impl CallError {
    /// An error from a response message's status.
    pub(crate) fn from_status(status: &ResponseStatus) -> Self {
        Self::Ews {
            code: status.code.clone(),
            text: status.message_text.clone().unwrap_or_default(),
            back_off: status.back_off(),
        }
    }

    /// What to do about it.
    pub(crate) fn recovery(&self) -> Recovery {
        match self {
            Self::Ews { code, back_off, .. } => recovery(code, *back_off),
            Self::Http {
                status: 429 | 503,
                retry_after,
            } => retry_after.map_or(Recovery::Throttled, Recovery::BackOff),
            Self::Http {
                status: 401 | 403, ..
            } => Recovery::Fatal,
            Self::Auth(failure) if !failure.transient => Recovery::Fatal,
            Self::Http { .. } | Self::Network(_) | Self::Protocol(_) | Self::Auth(_) => {
                Recovery::Retry
            }
        }
    }

    /// The response code, when Exchange gave one.
    pub(crate) fn code(&self) -> Option<&ResponseCode> {
        match self {
            Self::Ews { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ews { code, text, .. } if text.is_empty() => write!(f, "{}", code.as_str()),
            Self::Ews { code, text, .. } => write!(f, "{}: {text}", code.as_str()),
            Self::Http { status, .. } => write!(f, "HTTP {status}"),
            Self::Network(text) => write!(f, "network: {text}"),
            Self::Protocol(text) => write!(f, "unreadable answer: {text}"),
            Self::Auth(failure) => write!(f, "authentication: {}", failure.text),
        }
    }
}

impl From<AuthError> for CallError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Network(text) => Self::Network(text),
            AuthError::Unauthorized => Self::Http {
                status: 401,
                retry_after: None,
            },
            AuthError::Throttled(wait) => Self::Http {
                status: 429,
                retry_after: Some(wait),
            },
            other => {
                let transient = matches!(other, AuthError::Protocol(_));
                Self::Auth(AuthFailure {
                    text: other.to_string(),
                    transient,
                })
            }
        }
    }
}

impl From<ews_client::CallError> for CallError {
    fn from(error: ews_client::CallError) -> Self {
        if let Some(fault) = error.fault() {
            return Self::from_fault(fault);
        }
        match error {
            ews_client::CallError::Auth(error) => error.into(),
            ews_client::CallError::Status {
                status,
                retry_after,
            } => Self::Http {
                status,
                retry_after,
            },
            other => Self::Protocol(other.to_string()),
        }
    }
}

impl From<ProtoError> for CallError {
    fn from(error: ProtoError) -> Self {
        match error {
            ProtoError::Fault(fault) => Self::from_fault(&fault),
            other => Self::Protocol(other.to_string()),
        }
    }
}

impl CallError {
    /// A SOAP fault's code, text and back-off.
    fn from_fault(fault: &SoapFault) -> Self {
        Self::Ews {
            code: fault
                .response_code()
                .cloned()
                .unwrap_or(ResponseCode::ErrorInternalServerError),
            back_off: fault.back_off(),
            text: fault
                .message
                .clone()
                .unwrap_or_else(|| fault.string.clone()),
        }
    }
}

/// Where a request goes and as whom.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// The EWS URL.
    pub(crate) url: &'a Url,
    /// The mailbox acted as.
    pub(crate) act_as: &'a str,
    /// The group's anchor (`X-AnchorMailbox`).
    pub(crate) anchor: &'a str,
    /// The group's `X-BackEndOverrideCookie`, once known.
    pub(crate) cookie: Option<&'a str>,
}

/// An answer and the affinity cookie it set.
#[derive(Debug)]
pub(crate) struct Answer<R> {
    pub(crate) body: R,
    pub(crate) cookie: Option<String>,
}

/// Sends EWS requests as the service account, within the watcher's budgets.
#[derive(Debug)]
pub(crate) struct Ews {
    auth: Arc<dyn Authenticator>,
    version: ExchangeVersion,
    impersonation: bool,
    request_timeout: Duration,
    in_flight: Semaphore,
    subscribes: RateLimiter,
}

impl Ews {
    pub(crate) fn new(auth: Arc<dyn Authenticator>, settings: &WatchSettings) -> Self {
        Self {
            auth,
            version: settings.version.clone(),
            impersonation: settings.impersonation,
            request_timeout: settings.limits.request_timeout,
            in_flight: Semaphore::new(settings.limits.concurrent_requests),
            subscribes: RateLimiter::new(settings.limits.subscribes_per_second),
        }
    }

    /// Waits for a `Subscribe` slot of the rate limit.
    pub(crate) async fn subscribe_slot(&self) {
        self.subscribes.acquire().await;
    }

    /// Sends `operation` and reads its answer.
    pub(crate) async fn call<O: Operation>(
        &self,
        target: Target<'_>,
        operation: &O,
    ) -> Result<Answer<O::Response>, CallError> {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| CallError::Network("the watcher is stopping".into()))?;
        let answer = self
            .request(target)
            .timeout(Some(self.request_timeout))
            .send(self.auth.as_ref(), operation)
            .await?;
        Ok(Answer {
            body: answer.body,
            cookie: answer.back_end_cookie,
        })
    }

    /// Opens a hanging request (`GetStreamingEvents`): the answer's head, its body unread.
    pub(crate) async fn open<O: Operation>(
        &self,
        target: Target<'_>,
        operation: &O,
        timeout: Duration,
    ) -> Result<(HttpResponse, Option<String>), CallError> {
        let opened = self
            .request(target)
            .timeout(Some(timeout))
            .open(self.auth.as_ref(), operation)
            .await?;
        Ok((opened.response, opened.back_end_cookie))
    }

    /// The call to `target`: the watcher's version, the mailbox impersonated (unless the
    /// credentials are its own), the group's anchor, server affinity and cookie.
    fn request(&self, target: Target<'_>) -> Call {
        let impersonation = self
            .impersonation
            .then(|| ConnectingSid::PrimarySmtpAddress(target.act_as.to_owned()));
        let options = CallOptions::new(self.version.clone())
            .impersonating(impersonation)
            .anchor_mailbox(target.anchor)
            .server_affinity(target.cookie);
        Call::new(target.url.clone(), options).max_answer(MAX_ANSWER)
    }
}

#[cfg(test)]
mod tests {
    use ews_proto::call::read_answer;
    use ews_proto::operations::Subscribe;
    use ews_proto::soap::{SoapHeader, write_fault};

    use super::*;

    /// An answer as the watcher sees it: `ews-client`'s reading, turned into a `CallError`.
    fn answer(status: u16, retry_after: Option<Duration>, body: &[u8]) -> CallError {
        match read_answer::<Subscribe>(status, body) {
            Ok(_) => panic!("an answer, not an error"),
            Err(error) => match ews_client::CallError::from(error) {
                ews_client::CallError::Status { status, .. } => ews_client::CallError::Status {
                    status,
                    retry_after,
                }
                .into(),
                other => other.into(),
            },
        }
    }

    #[test]
    fn a_busy_fault_carries_its_back_off() {
        let fault = write_fault(
            &SoapHeader::default(),
            &SoapFault::server_busy(Duration::from_millis(1234)),
        );
        let error = answer(500, None, &fault);
        assert_eq!(error.code(), Some(&ResponseCode::ErrorServerBusy));
        assert_eq!(
            error.recovery(),
            Recovery::BackOff(Duration::from_millis(1234))
        );
    }

    #[test]
    fn statuses_without_soap_are_sorted() {
        let busy = answer(503, Some(Duration::from_secs(7)), b"");
        assert_eq!(busy.recovery(), Recovery::BackOff(Duration::from_secs(7)));
        let refused = answer(401, None, b"");
        assert_eq!(refused.recovery(), Recovery::Fatal);
        let broken = answer(500, None, b"<html>");
        assert_eq!(broken.recovery(), Recovery::Retry);
        let garbage = answer(200, None, b"<x");
        assert!(matches!(garbage, CallError::Protocol(_)), "{garbage:?}");
        let large = CallError::from(ews_client::CallError::TooLarge { limit: 16 });
        assert_eq!(large.recovery(), Recovery::Retry);
    }

    #[test]
    fn refused_credentials_are_fatal_and_a_lost_handshake_is_retried() {
        // NTLM's wrong password is an error now, no longer an Ok(401).
        let refused = CallError::from(AuthError::Refused {
            account: "CONTOSO\\svc-bems".into(),
            reason: "NTLM authentication failed".into(),
        });
        assert_eq!(refused.recovery(), Recovery::Fatal);
        assert!(
            refused.to_string().contains("CONTOSO\\svc-bems"),
            "{refused}"
        );
        let lost = CallError::from(AuthError::Network(
            "the connection failed after the server's NTLM challenge".into(),
        ));
        assert_eq!(lost.recovery(), Recovery::Retry);
    }
}
