//! The XML namespaces of the messages this crate reads and writes.

/// SOAP 1.1 envelope.
pub const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope (accepted on read; never written).
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// EWS messages (`m:`).
pub const MESSAGES: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// EWS types (`t:`).
pub const TYPES: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
/// EWS fault detail errors (`e:`).
pub const ERRORS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";
/// SOAP Autodiscover (`GetUserSettings`).
pub const AUTODISCOVER: &str = "http://schemas.microsoft.com/exchange/2010/Autodiscover";
/// WS-Addressing, used in SOAP Autodiscover headers.
pub const ADDRESSING: &str = "http://www.w3.org/2005/08/addressing";
/// XML Schema instance (`xsi:nil`, `i:type`).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// POX Autodiscover request.
pub const POX_REQUEST: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
/// POX Autodiscover response root (and error payloads).
pub const POX_RESPONSE: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
/// POX Autodiscover "outlook" response schema, the one clients ask for.
pub const POX_OUTLOOK_RESPONSE: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// A namespace as the reader classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    Soap,
    Messages,
    Types,
    Errors,
    Autodiscover,
    Pox,
    /// Any other namespace, or none.
    Other,
}

impl Ns {
    pub(crate) fn classify(uri: &str) -> Self {
        match uri {
            SOAP | SOAP12 => Self::Soap,
            MESSAGES => Self::Messages,
            TYPES => Self::Types,
            ERRORS => Self::Errors,
            AUTODISCOVER => Self::Autodiscover,
            POX_REQUEST | POX_RESPONSE | POX_OUTLOOK_RESPONSE => Self::Pox,
            _ => Self::Other,
        }
    }
}
