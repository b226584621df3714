//! The one error of this crate.

use std::time::Duration;

use ews_proto::ResponseCode;
use ews_proto::call::AnswerError;
use ews_proto::soap::SoapFault;
use exchange_auth::AuthError;

/// Why a call gave no response.
///
/// Callers branch on the accessors: [`CallError::status`] with [`CallError::retry_after`],
/// [`CallError::response_code`] with [`CallError::back_off`], and [`CallError::auth`] for the
/// authenticator's own error (refused credentials, the network).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The authenticator could not send the request or receive its answer.
    #[error(transparent)]
    Auth(AuthError),
    /// The answer was larger than the call's bound.
    #[error("answer larger than {limit} bytes")]
    TooLarge {
        /// The bound in bytes.
        limit: usize,
    },
    /// An HTTP status without a SOAP fault.
    #[error("HTTP {status}")]
    Status {
        /// The status code.
        status: u16,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// Exchange answered with a SOAP fault, or with a 200 that is not the operation's
    /// response.
    #[error(transparent)]
    Answer(AnswerError),
}

impl CallError {
    pub(crate) fn from_answer(error: AnswerError, retry_after: Option<Duration>) -> Self {
        match error.status() {
            Some(status) => Self::Status {
                status,
                retry_after,
            },
            None => Self::Answer(error),
        }
    }

    /// The HTTP status, when that is all there was.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// `Retry-After` of an HTTP status.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The SOAP fault.
    pub fn fault(&self) -> Option<&SoapFault> {
        match self {
            Self::Answer(error) => error.fault(),
            _ => None,
        }
    }

    /// The SOAP fault's EWS response code.
    pub fn response_code(&self) -> Option<&ResponseCode> {
        self.fault().and_then(SoapFault::response_code)
    }

    /// How long the server asked us to wait (`BackOffMilliseconds` of `ErrorServerBusy`).
    pub fn back_off(&self) -> Option<Duration> {
        self.fault().and_then(SoapFault::back_off)
    }

    /// The authenticator's error.
    pub fn auth(&self) -> Option<&AuthError> {
        match self {
            Self::Auth(error) => Some(error),
            _ => None,
        }
    }
}

impl From<AnswerError> for CallError {
    fn from(error: AnswerError) -> Self {
        Self::from_answer(error, None)
    }
}
