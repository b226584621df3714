//! One EWS call, sans-io: the HTTP headers and envelope of a request, and the typed answer.
//!
//! [`request`] turns an [`Operation`] and its [`CallOptions`] (the `RequestServerVersion`, the
//! mailbox to impersonate, the affinity headers) into what to `POST`; [`read_answer`] turns
//! the answer's status and body (read up to a bound by the caller) into the operation's
//! response or an [`AnswerError`]. Sending is the caller's: no sockets here.
//!
//! Spec: [EWS operations](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/ews-operations-in-exchange),
//! [SOAP 1.1 §6.1.1, the `SOAPAction` header](https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383528).
//!
//! ```
//! use ews_proto::BaseFolderId;
//! use ews_proto::call::{CallOptions, read_answer, request};
//! use ews_proto::operations::GetFolder;
//! use ews_proto::soap::ExchangeVersion;
//!
//! let options = CallOptions::as_mailbox(ExchangeVersion::Exchange2013, "mara@contoso.com");
//! let post = request(&options, &GetFolder::new(vec![BaseFolderId::inbox()]));
//! assert!(post.headers.contains(&(
//!     "SOAPAction",
//!     "\"http://schemas.microsoft.com/exchange/services/2006/messages/GetFolder\"".to_owned(),
//! )));
//! assert!(post.headers.contains(&("X-AnchorMailbox", "mara@contoso.com".to_owned())));
//!
//! // A 503 without a SOAP body is an HTTP error.
//! let error = read_answer::<GetFolder>(503, b"").unwrap_err();
//! assert_eq!(error.status(), Some(503));
//! ```

use std::time::Duration;

use crate::ProtoError;
use crate::affinity;
use crate::operations::Operation;
use crate::response_code::ResponseCode;
use crate::soap::{ConnectingSid, ExchangeVersion, SoapFault, SoapHeader, read_envelope};

/// The `Content-Type` of an EWS request.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The name of the `SOAPAction` header.
pub const SOAP_ACTION: &str = "SOAPAction";

/// How a request is sent: the schema version it asks for, the mailbox it acts as, and the
/// headers that route it to the mailbox's server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// `RequestServerVersion`.
    pub version: ExchangeVersion,
    /// `ExchangeImpersonation`: the mailbox the service account acts as.
    pub impersonation: Option<ConnectingSid>,
    /// `X-AnchorMailbox`: the mailbox that routes the request.
    pub anchor_mailbox: Option<String>,
    /// `X-PreferServerAffinity: true`: route by the back-end cookie once it is known.
    pub prefer_server_affinity: bool,
    /// The `X-BackEndOverrideCookie` value to replay in `Cookie`.
    pub back_end_cookie: Option<String>,
}

impl CallOptions {
    /// A request asking for `version`, with no impersonation and no affinity headers.
    pub fn new(version: ExchangeVersion) -> Self {
        Self {
            version,
            impersonation: None,
            anchor_mailbox: None,
            prefer_server_affinity: false,
            back_end_cookie: None,
        }
    }

    /// A request acting as `mailbox` (`PrimarySmtpAddress`) and routed by it
    /// (`X-AnchorMailbox`), as a service account sends it.
    pub fn as_mailbox(version: ExchangeVersion, mailbox: &str) -> Self {
        Self::new(version)
            .impersonating(Some(ConnectingSid::PrimarySmtpAddress(mailbox.to_owned())))
            .anchor_mailbox(mailbox)
    }

    /// The same options with this impersonation (`None`: the account acts as itself).
    pub fn impersonating(mut self, sid: Option<ConnectingSid>) -> Self {
        self.impersonation = sid;
        self
    }

    /// The same options routed by `mailbox`.
    pub fn anchor_mailbox(mut self, mailbox: &str) -> Self {
        self.anchor_mailbox = Some(mailbox.to_owned());
        self
    }

    /// The same options asking Exchange to route by the back-end cookie, and replaying
    /// `cookie` when it is known.
    pub fn server_affinity(mut self, cookie: Option<&str>) -> Self {
        self.prefer_server_affinity = true;
        self.back_end_cookie = cookie.map(str::to_owned);
        self
    }
}

/// What to `POST` to the EWS URL: the headers and the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EwsRequest {
    /// The headers, in order: `Content-Type`, `Accept`, `SOAPAction`, then the affinity
    /// headers and `Cookie` that `CallOptions` asks for.
    pub headers: Vec<(&'static str, String)>,
    /// The SOAP envelope.
    pub body: Vec<u8>,
}

/// The request for `operation` with `options`.
///
/// `SOAPAction` carries the operation's [`Operation::SOAP_ACTION`] as a quoted string, as
/// SOAP 1.1 writes it.
pub fn request<O: Operation>(options: &CallOptions, operation: &O) -> EwsRequest {
    let mut header = SoapHeader::request(options.version.clone());
    if let Some(sid) = &options.impersonation {
        header = header.impersonating(sid.clone());
    }
    let mut headers = vec![
        ("Content-Type", CONTENT_TYPE.to_owned()),
        ("Accept", "text/xml".to_owned()),
        (SOAP_ACTION, format!("\"{}\"", O::SOAP_ACTION)),
    ];
    if let Some(anchor) = &options.anchor_mailbox {
        headers.push((affinity::ANCHOR_MAILBOX, anchor.clone()));
    }
    if options.prefer_server_affinity {
        headers.push((affinity::PREFER_SERVER_AFFINITY, "true".to_owned()));
    }
    if let Some(cookie) = &options.back_end_cookie {
        headers.push(("Cookie", affinity::cookie_header(cookie)));
    }
    EwsRequest {
        headers,
        body: crate::soap::write_envelope(&header, operation),
    }
}

/// Why an answer did not give the operation's response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// An HTTP status other than 200, without a SOAP fault.
    #[error("HTTP {status}")]
    Status {
        /// The status code.
        status: u16,
    },
    /// A SOAP fault (Exchange sends them with 500: `ErrorServerBusy`, a schema violation).
    #[error("SOAP fault: {0}")]
    Fault(Box<SoapFault>),
    /// A 200 whose body is not the operation's response.
    #[error("unreadable answer: {0}")]
    Unreadable(#[source] ProtoError),
}

impl AnswerError {
    /// The HTTP status, when that is all there was.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status } => Some(*status),
            _ => None,
        }
    }

    /// The SOAP fault, when Exchange sent one.
    pub fn fault(&self) -> Option<&SoapFault> {
        match self {
            Self::Fault(fault) => Some(fault),
            _ => None,
        }
    }

    /// The fault's EWS response code.
    pub fn response_code(&self) -> Option<&ResponseCode> {
        self.fault().and_then(SoapFault::response_code)
    }

    /// How long the server asked us to wait (`BackOffMilliseconds` of `ErrorServerBusy`).
    pub fn back_off(&self) -> Option<Duration> {
        self.fault().and_then(SoapFault::back_off)
    }
}

/// Reads an answer of `O`: its response on 200, the SOAP fault of a 200 or 500, the status
/// otherwise (and for a 500 that holds no readable fault).
pub fn read_answer<O: Operation>(status: u16, body: &[u8]) -> Result<O::Response, AnswerError> {
    match status {
        200 => match read_envelope::<O::Response>(body) {
            Ok(envelope) => Ok(envelope.body),
            Err(ProtoError::Fault(fault)) => Err(AnswerError::Fault(fault)),
            Err(other) => Err(AnswerError::Unreadable(other)),
        },
        500 => match read_envelope::<O::Response>(body) {
            Err(ProtoError::Fault(fault)) => Err(AnswerError::Fault(fault)),
            _ => Err(AnswerError::Status { status }),
        },
        _ => Err(AnswerError::Status { status }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::{Subscribe, SubscribeResponse, SubscribeResponseMessage, Unsubscribe};
    use crate::soap::{write_envelope, write_fault};
    use crate::{BaseFolderId, EventType, SubscriptionId};

    fn header<'a>(request: &'a EwsRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_request_carries_its_action_version_impersonation_and_affinity() {
        let options = CallOptions::as_mailbox(ExchangeVersion::Exchange2010Sp2, "mara@contoso.com")
            .server_affinity(Some("mbx1~42"));
        let subscribe = Subscribe::streaming(vec![BaseFolderId::inbox()], vec![EventType::NewMail]);
        let post = request(&options, &subscribe);
        assert_eq!(
            header(&post, "SOAPAction"),
            Some("\"http://schemas.microsoft.com/exchange/services/2006/messages/Subscribe\"")
        );
        assert_eq!(header(&post, "Content-Type"), Some(CONTENT_TYPE));
        assert_eq!(header(&post, "X-AnchorMailbox"), Some("mara@contoso.com"));
        assert_eq!(header(&post, "X-PreferServerAffinity"), Some("true"));
        assert_eq!(
            header(&post, "Cookie"),
            Some("X-BackEndOverrideCookie=mbx1~42")
        );
        let sent = read_envelope::<Subscribe>(&post.body).unwrap();
        assert_eq!(sent.body, subscribe);
        assert_eq!(
            sent.header.request_server_version,
            Some(ExchangeVersion::Exchange2010Sp2)
        );
        assert_eq!(
            sent.header.impersonation,
            Some(ConnectingSid::PrimarySmtpAddress("mara@contoso.com".into()))
        );
    }

    #[test]
    fn a_request_as_itself_sends_no_impersonation_and_no_affinity() {
        let post = request(
            &CallOptions::new(ExchangeVersion::Exchange2016),
            &Unsubscribe::new(SubscriptionId::new("s1")),
        );
        let names: Vec<&str> = post.headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["Content-Type", "Accept", "SOAPAction"]);
        let sent = read_envelope::<Unsubscribe>(&post.body).unwrap();
        assert_eq!(sent.header.impersonation, None);
        assert_eq!(
            sent.header.request_server_version,
            Some(ExchangeVersion::Exchange2016)
        );
    }

    #[test]
    fn an_answer_is_its_response_a_fault_or_a_status() {
        let ok = write_envelope(
            &SoapHeader::default(),
            &SubscribeResponse::single(SubscribeResponseMessage::success(
                SubscriptionId::new("s1"),
                None,
            )),
        );
        let response = read_answer::<Subscribe>(200, &ok).unwrap();
        assert!(response.messages[0].status.is_success());

        let busy = write_fault(
            &SoapHeader::default(),
            &SoapFault::server_busy(Duration::from_millis(1234)),
        );
        let error = read_answer::<Subscribe>(500, &busy).unwrap_err();
        assert_eq!(error.response_code(), Some(&ResponseCode::ErrorServerBusy));
        assert_eq!(error.back_off(), Some(Duration::from_millis(1234)));
        // A fault in a 200 is a fault too.
        assert!(
            read_answer::<Subscribe>(200, &busy)
                .unwrap_err()
                .fault()
                .is_some()
        );

        let html = read_answer::<Subscribe>(500, b"<html>").unwrap_err();
        assert_eq!(html.status(), Some(500));
        assert_eq!(
            read_answer::<Subscribe>(401, &ok).unwrap_err().status(),
            Some(401)
        );
        let garbage = read_answer::<Subscribe>(200, b"<x").unwrap_err();
        assert!(matches!(garbage, AnswerError::Unreadable(_)), "{garbage:?}");
    }
}
