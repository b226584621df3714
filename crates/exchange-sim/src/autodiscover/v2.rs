//! Autodiscover v2 (JSON), unauthenticated:
//! `GET /autodiscover/autodiscover.json?Email=<addr>&Protocol=EWS` and
//! `GET /autodiscover/autodiscover.json/v1.0/<addr>?Protocol=EWS`.
//!
//! Success is `200` with `{"Protocol":"EWS","Url":"<external EWS URL>"}`. Protocols:
//! `EWS`, `ActiveSync` and `AutodiscoverV1` (the POX URL), matched without regard to case.
//! Errors use the JSON error form; Microsoft documents no status codes, so these are the
//! simulator's choices:
//!
//! | Case | Status | `ErrorCode` |
//! |---|---|---|
//! | `Protocol` missing or unknown | 400 | `InvalidProtocol` |
//! | no address, or one without `@` | 400 | `MandatoryParameterMissing` |
//! | no such mailbox | 404 | `UserNotFound` |
//! | a method other than `GET`/`HEAD` | 405 | (no body) |
//!
//! Scripted `RedirectAddr` / `RedirectUrl` do not apply: v2 has no redirect form.

use axum::response::{IntoResponse as _, Response};
use ews_proto::autodiscover::V2Response;
use http::{Method, StatusCode, header};

use super::incoming::{Incoming, domain_of_host};
use crate::sim::Ctx;

/// Answers a v2 request; `path_address` is the address of the `/v1.0/<addr>` form.
pub(crate) fn answer(ctx: &Ctx, incoming: &Incoming, path_address: Option<String>) -> Response {
    if incoming.method != Method::GET && incoming.method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")]).into_response();
    }
    let mut email = None;
    let mut protocol = None;
    for (key, value) in
        url::form_urlencoded::parse(incoming.query.as_deref().unwrap_or("").as_bytes())
    {
        if key.eq_ignore_ascii_case("email") {
            email = Some(value.into_owned());
        } else if key.eq_ignore_ascii_case("protocol") {
            protocol = Some(value.into_owned());
        }
    }
    let protocol = protocol.unwrap_or_default();
    let Some(protocol) = Protocol::parse(&protocol) else {
        let message = format!(
            "The given protocol value '{protocol}' is invalid. Supported values are 'Ews,ActiveSync,AutodiscoverV1'."
        );
        return json(StatusCode::BAD_REQUEST, &error("InvalidProtocol", &message));
    };
    let address = path_address
        .or(email)
        .map(|a| a.trim().to_owned())
        .unwrap_or_default();
    if !address.contains('@') {
        let message = "A valid value must be provided for the query parameter 'Email'.";
        return json(
            StatusCode::BAD_REQUEST,
            &error("MandatoryParameterMissing", message),
        );
    }
    let Some(user) = ctx.world.directory.user_by_smtp(&address) else {
        let message = format!("The user '{address}' was not found.");
        return json(StatusCode::NOT_FOUND, &error("UserNotFound", &message));
    };
    let url = match protocol {
        Protocol::Ews => ctx.world.external_ews_url(user),
        Protocol::ActiveSync => ctx
            .world
            .external_ews_url(user)
            .replace("/EWS/Exchange.asmx", "/Microsoft-Server-ActiveSync"),
        Protocol::AutodiscoverV1 => {
            let domain = address
                .rsplit_once('@')
                .map(|(_, d)| domain_of_host(&ctx.world.scenario, &d.to_ascii_lowercase()))
                .unwrap_or_default();
            let host = ctx.world.authority(&format!("autodiscover.{domain}"));
            format!("https://{host}/autodiscover/autodiscover.xml")
        }
    };
    let endpoint = V2Response::Endpoint {
        protocol: protocol.name().to_owned(),
        url,
    };
    json(StatusCode::OK, &endpoint)
}

/// The protocols v2 answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Ews,
    ActiveSync,
    AutodiscoverV1,
}

impl Protocol {
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ews" => Some(Self::Ews),
            "activesync" => Some(Self::ActiveSync),
            "autodiscoverv1" => Some(Self::AutodiscoverV1),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Ews => "EWS",
            Self::ActiveSync => "ActiveSync",
            Self::AutodiscoverV1 => "AutodiscoverV1",
        }
    }
}

fn error(code: &str, message: &str) -> V2Response {
    V2Response::Error {
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

fn json(status: StatusCode, body: &V2Response) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_json(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_match_without_case() {
        assert_eq!(Protocol::parse("EWS"), Some(Protocol::Ews));
        assert_eq!(Protocol::parse("ews"), Some(Protocol::Ews));
        assert_eq!(Protocol::parse("ActiveSync"), Some(Protocol::ActiveSync));
        assert_eq!(
            Protocol::parse("AutoDiscoverV1"),
            Some(Protocol::AutodiscoverV1)
        );
        assert_eq!(Protocol::parse("Rest"), None);
        assert_eq!(Protocol::parse(""), None);
    }
}
