//! The Autodiscover v2 JSON answer.
//!
//! `GET https://<host>/autodiscover/autodiscover.json?Email=<addr>&Protocol=EWS` answers,
//! without authentication, `{"Protocol":"EWS","Url":"https://.../EWS/Exchange.asmx"}`, or an
//! error object `{"ErrorCode":"...","ErrorMessage":"..."}`.

use crate::error::ProtoError;

/// An Autodiscover v2 answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum V2Response {
    /// The endpoint for the protocol asked for.
    Endpoint {
        /// `Protocol` (`EWS`, `ActiveSync`, ...).
        protocol: String,
        /// `Url`.
        url: String,
    },
    /// An error.
    Error {
        /// `ErrorCode`.
        code: String,
        /// `ErrorMessage`.
        message: String,
    },
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
struct Wire {
    #[serde(rename = "Protocol", default, skip_serializing_if = "Option::is_none")]
    protocol: Option<String>,
    #[serde(rename = "Url", default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(rename = "ErrorCode", default, skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
    #[serde(
        rename = "ErrorMessage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    error_message: Option<String>,
}

impl V2Response {
    /// Reads a v2 answer.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProtoError> {
        let wire: Wire = serde_json::from_slice(bytes).map_err(|error| ProtoError::Json {
            message: error.to_string(),
        })?;
        match wire {
            Wire {
                url: Some(url),
                protocol,
                ..
            } => Ok(Self::Endpoint {
                protocol: protocol.unwrap_or_default(),
                url,
            }),
            Wire {
                error_code: Some(code),
                error_message,
                ..
            } => Ok(Self::Error {
                code,
                message: error_message.unwrap_or_default(),
            }),
            _ => Err(ProtoError::Missing {
                parent: "autodiscover.json",
                missing: "Url or ErrorCode",
            }),
        }
    }

    /// Writes the answer as Exchange does.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = match self {
            Self::Endpoint { protocol, url } => Wire {
                protocol: Some(protocol.clone()),
                url: Some(url.clone()),
                ..Wire::default()
            },
            Self::Error { code, message } => Wire {
                error_code: Some(code.clone()),
                error_message: Some(message.clone()),
                ..Wire::default()
            },
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }
}
