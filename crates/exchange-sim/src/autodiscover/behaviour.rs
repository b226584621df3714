//! Scripted behaviour per host: which script applies to a request, and the answers of hosts
//! that are not Autodiscover servers at all (HTTP errors, junk, huge bodies, silence).

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use http::{StatusCode, header};

use super::incoming::Incoming;
use super::state::Script;
use crate::scenario::HostBehaviour;
use crate::sim::Ctx;

/// The body a `Malformed` host answers with: a web server's default page.
const MALFORMED_BODY: &str = "<!DOCTYPE html>\n<html><head><title>Welcome</title></head>\
<body><h1>It works!</h1><p>This domain is parked.</p></body></html>\n";

/// The script for a request: a run-time override for its host, else the scenario's host of
/// that name, else the scenario's host served on the local address the client reached, else
/// the default (settings, no delay).
pub(crate) fn script_for(ctx: &Ctx, incoming: &Incoming) -> Script {
    if let Some(script) = ctx.autodiscover.override_for(&incoming.host) {
        return script;
    }
    let hosts = &ctx.world.scenario.hosts;
    let by_name = hosts
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(&incoming.host));
    let by_address = || {
        let local = incoming.local?.ip();
        hosts.iter().find(|h| {
            h.address.parse::<IpAddr>().is_ok_and(|ip| {
                ip == local && !ip.is_unspecified() && ip != IpAddr::from([127, 0, 0, 1])
            })
        })
    };
    match by_name.or_else(by_address) {
        Some(host) => Script {
            behaviour: host.behaviour.clone(),
            delay: Duration::from_millis(host.delay_ms),
        },
        None => Script {
            behaviour: HostBehaviour::Settings,
            delay: Duration::ZERO,
        },
    }
}

/// The answer of a host that does not behave as an Autodiscover server, or `None` when the
/// endpoint should answer.
///
/// `Blackhole` reached here (a host without its own address, or set at run time) holds the
/// request until the simulator stops. `Refuse` works only at the listener (the host needs its
/// own `address`); a `Refuse` host reached by name on the shared listener is served as
/// `Settings`.
pub(crate) async fn non_autodiscover_answer(
    ctx: &Ctx,
    behaviour: &HostBehaviour,
) -> Option<Response> {
    match behaviour {
        HostBehaviour::HttpError(status) => Some(http_error(*status)),
        HostBehaviour::Malformed => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                MALFORMED_BODY,
            )
                .into_response(),
        ),
        HostBehaviour::Oversized(size) => Some(oversized(*size)),
        HostBehaviour::Blackhole => {
            ctx.shutdown.cancelled().await;
            Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
        _ => None,
    }
}

/// A bare HTTP error, as IIS sends it; a status that is not an error code becomes `500`.
fn http_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = format!(
        "{} {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("Error")
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `200` with exactly `size` bytes: the start of an Autodiscover document padded with
/// spaces, streamed in 64 KiB chunks so a huge size costs no memory.
fn oversized(size: usize) -> Response {
    const CHUNK: usize = 64 * 1024;
    static PADDING: [u8; CHUNK] = [b' '; CHUNK];
    let head = Bytes::from_static(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">",
    );
    let head = head.slice(..head.len().min(size));
    let mut remaining = size - head.len();
    let padding = Bytes::from_static(&PADDING);
    let tail = std::iter::from_fn(move || {
        if remaining == 0 {
            return None;
        }
        let n = remaining.min(CHUNK);
        remaining -= n;
        Some(padding.slice(..n))
    });
    let chunks = std::iter::once(head)
        .chain(tail)
        .map(Ok::<_, std::convert::Infallible>);
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/xml; charset=utf-8".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn oversized_bodies_have_the_exact_size() {
        for size in [0, 10, 64 * 1024 + 7, 300_000] {
            let response = oversized(size);
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await;
            assert_eq!(bytes.map(|b| b.len()).ok(), Some(size));
        }
    }

    #[test]
    fn http_errors_keep_error_statuses_only() {
        assert_eq!(http_error(503).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(http_error(404).status(), StatusCode::NOT_FOUND);
        assert_eq!(http_error(200).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(http_error(1000).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
