//! # ews-proto
//!
//! The sans-io wire layer for Exchange Web Services notifications and Autodiscover: typed
//! requests and responses with a writer and a reader for each, so clients and servers share one
//! faithful implementation of the wire format. No sockets, no runtime, no clock: bytes in,
//! values out, and back.
//!
//! - [`call`]: one EWS call, sans-io: the headers (`SOAPAction`, affinity) and envelope of a
//!   request, and its answer read back into the operation's response or an error.
//! - [`soap`]: the SOAP 1.1 envelope, its headers (`RequestServerVersion`,
//!   `ExchangeImpersonation`, `ServerVersionInfo`), faults and response status.
//! - [`operations`]: `Subscribe`, `GetEvents`, `GetStreamingEvents`, `Unsubscribe`,
//!   `SendNotification` / `SendNotificationResult`, `GetFolder`, `GetItem`, `ResolveNames`,
//!   `GetUserPhoto`.
//! - [`Notification`] and [`Event`]: what subscriptions deliver.
//! - [`autodiscover`]: POX, SOAP `GetUserSettings` and the v2 JSON answer.
//! - [`EnvelopeSplitter`]: cut a `GetStreamingEvents` body into envelopes as bytes arrive.
//!
//! Readers match elements by *local name* in any namespace prefix (or none), accept children
//! in any order, skip what they do not know, and keep unknown codes and event kinds as
//! `Unknown(String)`. They return [`ProtoError`] on bad input and never panic. Writers emit
//! compact XML, byte-for-byte the same for the same value.
//!
//! ```
//! use ews_proto::operations::{GetStreamingEvents, GetStreamingEventsResponse, Subscribe};
//! use ews_proto::soap::{ConnectingSid, ExchangeVersion, SoapHeader, read_envelope, write_envelope};
//! use ews_proto::{BaseFolderId, EventType, SubscriptionId};
//!
//! // A client writes a streaming Subscribe, impersonating the mailbox.
//! let header = SoapHeader::request(ExchangeVersion::Exchange2013)
//!     .impersonating(ConnectingSid::PrimarySmtpAddress("mara@contoso.com".into()));
//! let subscribe = Subscribe::streaming(vec![BaseFolderId::inbox()], vec![EventType::NewMail]);
//! let bytes = write_envelope(&header, &subscribe);
//!
//! // A server reads it back.
//! let request = read_envelope::<Subscribe>(&bytes)?;
//! assert_eq!(request.body, subscribe);
//! assert_eq!(request.header.impersonation, header.impersonation);
//!
//! // One envelope of a GetStreamingEvents stream.
//! let envelope = br#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>
//!   <GetStreamingEventsResponse xmlns="http://schemas.microsoft.com/exchange/services/2006/messages">
//!   <ResponseMessages><GetStreamingEventsResponseMessage ResponseClass="Success">
//!   <ResponseCode>NoError</ResponseCode><ConnectionStatus>OK</ConnectionStatus>
//!   </GetStreamingEventsResponseMessage></ResponseMessages></GetStreamingEventsResponse>
//!   </Body></Envelope>"#;
//! let response = read_envelope::<GetStreamingEventsResponse>(envelope)?;
//! assert!(response.body.messages[0].status.is_success());
//! # let _ = GetStreamingEvents::new(vec![SubscriptionId::new("x")], 30);
//! # Ok::<(), ews_proto::ProtoError>(())
//! ```

pub mod affinity;
pub mod autodiscover;
pub mod call;
mod error;
mod event;
pub mod namespaces;
pub mod operations;
mod response_code;
pub mod soap;
mod splitter;
mod types;
mod wire_enum;
mod xml;

pub use error::ProtoError;
pub use event::{ChangedObject, Event, Notification};
pub use response_code::ResponseCode;
pub use splitter::{DEFAULT_MAX_ENVELOPE, EnvelopeSplitter};
pub use types::{
    BaseFolderId, DistinguishedFolder, EmailAddress, EventType, FolderId, Importance, ItemId,
    SubscriptionId, Watermark,
};
