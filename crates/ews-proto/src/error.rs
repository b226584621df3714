//! The one error type of this crate.

use std::fmt;

use crate::soap::SoapFault;

/// Why a message could not be read.
///
/// Every reader in this crate returns this error for bad input and never panics. The text of
/// a variant names what was wrong; callers branch on [`ProtoError::fault`] (the server answered
/// with a SOAP fault) and [`ProtoError::back_off`] (the server asked us to wait).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The bytes are not well-formed XML (or not UTF-8).
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset where the reader stopped.
        position: u64,
        /// What the XML reader reported.
        message: String,
    },
    /// The document ended before the element was closed.
    #[error("document ended inside <{element}>")]
    UnexpectedEof {
        /// The element that was still open.
        element: String,
    },
    /// An element other than the expected one was found.
    #[error("expected <{expected}>, found <{found}>")]
    UnexpectedElement {
        /// The local name we expected.
        expected: &'static str,
        /// The local name we found.
        found: String,
    },
    /// A required element or attribute is missing.
    #[error("<{parent}> has no {missing}")]
    Missing {
        /// The element that should contain it.
        parent: &'static str,
        /// The missing child element or attribute.
        missing: &'static str,
    },
    /// A value could not be parsed.
    #[error("<{element}> has an invalid value {value:?}: {reason}")]
    InvalidValue {
        /// The element or attribute that holds the value.
        element: &'static str,
        /// The value as found (truncated to 64 characters).
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The server answered with a SOAP fault instead of the expected body.
    #[error("SOAP fault: {0}")]
    Fault(Box<SoapFault>),
    /// A JSON document (Autodiscover v2) could not be read.
    #[error("invalid JSON: {message}")]
    Json {
        /// What the JSON reader reported.
        message: String,
    },
    /// A streamed envelope grew past the configured limit.
    #[error("streamed envelope exceeds the limit of {limit} bytes")]
    EnvelopeTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The stream ended inside an envelope.
    #[error("stream ended inside an envelope ({buffered} bytes buffered)")]
    Truncated {
        /// How many bytes of the unfinished envelope were buffered.
        buffered: usize,
    },
    /// The stream carried something other than SOAP envelopes.
    #[error("unexpected content in envelope stream: {0}")]
    Stream(&'static str),
}

impl ProtoError {
    /// The SOAP fault, when the server answered with one.
    pub fn fault(&self) -> Option<&SoapFault> {
        match self {
            Self::Fault(fault) => Some(fault),
            _ => None,
        }
    }

    /// How long the server asked us to wait (`BackOffMilliseconds` of an `ErrorServerBusy`
    /// fault), if it did.
    pub fn back_off(&self) -> Option<std::time::Duration> {
        self.fault().and_then(SoapFault::back_off)
    }

    pub(crate) fn xml(position: u64, error: impl fmt::Display) -> Self {
        Self::Xml {
            position,
            message: error.to_string(),
        }
    }

    pub(crate) fn invalid(element: &'static str, value: &str, reason: &'static str) -> Self {
        let value = match value.char_indices().nth(64) {
            Some((cut, _)) => format!("{}…", &value[..cut]),
            None => value.to_owned(),
        };
        Self::InvalidValue {
            element,
            value,
            reason,
        }
    }
}
