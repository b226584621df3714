//! The facts of an incoming Autodiscover request: host, endpoint, credentials, and its body
//! read with a size limit and a deadline.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, Method, StatusCode, header};

use super::state::AutodiscoverRequest;
use crate::net::ConnInfo;
use crate::scenario::Scenario;

/// The largest request body the endpoints read (Autodiscover requests are well under 4 KiB).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// How long a client may take to send its body.
const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// Which Autodiscover endpoint a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// POX at `/autodiscover/autodiscover.xml` (`direct`), or at
    /// `/autodiscover/<segments>/autodiscover.xml` as Exchange Online serves it.
    Pox {
        /// Whether the path is the plain `/autodiscover/autodiscover.xml`.
        direct: bool,
    },
    /// SOAP at `/autodiscover/autodiscover.svc`.
    Soap,
    /// v2 JSON: `/autodiscover/autodiscover.json`, with the address from
    /// `/autodiscover.json/v1.0/<address>` when the path carries one.
    V2 {
        /// The address in the path, percent-decoded.
        address: Option<String>,
    },
    /// Anything else under `/autodiscover/`.
    Unknown,
}

impl Endpoint {
    /// Classifies a (lower-cased) path.
    pub(crate) fn classify(path: &str) -> Self {
        let Some(rest) = path.strip_prefix("/autodiscover/") else {
            return Self::Unknown;
        };
        match rest {
            "autodiscover.xml" => return Self::Pox { direct: true },
            "autodiscover.svc" => return Self::Soap,
            "autodiscover.json" | "autodiscover.json/" => return Self::V2 { address: None },
            _ => {}
        }
        if let Some(address) = rest.strip_prefix("autodiscover.json/v1.0/") {
            let address = percent_decode(address.trim_end_matches('/'));
            return Self::V2 {
                address: (!address.is_empty()).then_some(address),
            };
        }
        if let Some(middle) = rest.strip_suffix("/autodiscover.xml")
            && !middle.is_empty()
            && middle.split('/').all(|segment| !segment.is_empty())
        {
            return Self::Pox { direct: false };
        }
        Self::Unknown
    }
}

/// An incoming request, taken apart.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) host: String,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) tls: bool,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

impl Incoming {
    pub(crate) fn new(request: Request) -> Self {
        let (parts, body) = request.into_parts();
        let conn = parts.extensions.get::<ConnInfo>();
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
            .map(|h| host_without_port(&h))
            .unwrap_or_default();
        Self {
            host,
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            // Without connection facts (never the case behind the listeners), assume TLS.
            tls: conn.is_none_or(|c| c.tls),
            local: conn.map(|c| c.local),
            headers: parts.headers,
            body,
        }
    }

    /// The `Authorization` header, when it is valid text.
    pub(crate) fn authorization(&self) -> Option<&str> {
        self.headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
    }

    /// The record the request log keeps.
    pub(crate) fn record(&self) -> AutodiscoverRequest {
        let authorization = self
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let auth_scheme = authorization
            .as_deref()
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_owned);
        AutodiscoverRequest {
            host: self.host.clone(),
            method: self.method.as_str().to_owned(),
            path: self.path.clone(),
            query: self.query.clone(),
            tls: self.tls,
            local_addr: self.local,
            auth_scheme,
            authorization,
        }
    }

    /// Reads the body: at most [`MAX_BODY`] bytes within 30 seconds. The error is the answer
    /// to send (`413` or `408`).
    pub(crate) async fn read_body(self) -> Result<bytes::Bytes, Response> {
        match tokio::time::timeout(BODY_DEADLINE, axum::body::to_bytes(self.body, MAX_BODY)).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(_)) => Err(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
            Err(_) => Err(StatusCode::REQUEST_TIMEOUT.into_response()),
        }
    }
}

/// `host[:port]` → `host`, lower-cased, without a trailing dot; IPv6 literals keep brackets.
pub(crate) fn host_without_port(authority: &str) -> String {
    let authority = authority.trim();
    let host = match authority.parse::<http::uri::Authority>() {
        Ok(parsed) => parsed.host().to_owned(),
        Err(_) => authority.to_owned(),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The mail domain a host name serves: a scenario domain the host is (or is under), else the
/// host without a leading `autodiscover.`.
pub(crate) fn domain_of_host(scenario: &Scenario, host: &str) -> String {
    let bare = host.strip_prefix("autodiscover.").unwrap_or(host);
    scenario
        .domains
        .iter()
        .map(|d| d.name.to_ascii_lowercase())
        .filter(|d| bare == d || bare.ends_with(&format!(".{d}")))
        .max_by_key(String::len)
        .unwrap_or_else(|| bare.to_owned())
}

/// Decodes `%XX` escapes; malformed escapes stay as they are.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_classify_as_exchange_serves_them() {
        assert_eq!(
            Endpoint::classify("/autodiscover/autodiscover.xml"),
            Endpoint::Pox { direct: true }
        );
        assert_eq!(
            Endpoint::classify("/autodiscover/mara@contoso.com/autodiscover.xml"),
            Endpoint::Pox { direct: false }
        );
        assert_eq!(
            Endpoint::classify("/autodiscover/a/b/autodiscover.xml"),
            Endpoint::Pox { direct: false }
        );
        assert_eq!(
            Endpoint::classify("/autodiscover//autodiscover.xml"),
            Endpoint::Unknown
        );
        assert_eq!(
            Endpoint::classify("/autodiscover/autodiscover.svc"),
            Endpoint::Soap
        );
        assert_eq!(
            Endpoint::classify("/autodiscover/autodiscover.json"),
            Endpoint::V2 { address: None }
        );
        assert_eq!(
            Endpoint::classify("/autodiscover/autodiscover.json/v1.0/mara%40contoso.com"),
            Endpoint::V2 {
                address: Some("mara@contoso.com".into())
            }
        );
        assert_eq!(
            Endpoint::classify("/autodiscover/autodiscover.json/v1.0/"),
            Endpoint::V2 { address: None }
        );
        assert_eq!(
            Endpoint::classify("/autodiscover/other.xml"),
            Endpoint::Unknown
        );
        assert_eq!(Endpoint::classify("/ews/exchange.asmx"), Endpoint::Unknown);
    }

    #[test]
    fn hosts_lose_port_case_and_trailing_dot() {
        assert_eq!(
            host_without_port("AutoDiscover.Contoso.com:8443"),
            "autodiscover.contoso.com"
        );
        assert_eq!(host_without_port("contoso.com."), "contoso.com");
        assert_eq!(host_without_port("[::1]:443"), "[::1]");
        assert_eq!(host_without_port("bad host:x"), "bad host:x");
    }

    #[test]
    fn domains_come_from_the_host() {
        let scenario = Scenario::from_toml(
            "[[domains]]\nname = \"contoso.com\"\n[[domains]]\nname = \"mail.contoso.com\"",
        )
        .unwrap_or_default();
        assert_eq!(
            domain_of_host(&scenario, "autodiscover.contoso.com"),
            "contoso.com"
        );
        assert_eq!(domain_of_host(&scenario, "contoso.com"), "contoso.com");
        assert_eq!(
            domain_of_host(&scenario, "autodiscover.mail.contoso.com"),
            "mail.contoso.com"
        );
        assert_eq!(
            domain_of_host(&scenario, "autodiscover.example.org"),
            "example.org"
        );
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%40b.com"), "a@b.com");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%"), "%zz%");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}
