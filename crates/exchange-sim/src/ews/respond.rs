//! Building EWS answers: envelopes, faults, and the broken answers fault injection sends.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ews_proto::soap::{
    ServerVersionInfo, SoapBody, SoapFault, SoapHeader, write_envelope, write_fault,
};
use ews_proto::{ProtoError, ResponseCode};

use crate::version::Version;
use crate::world::World;

/// The `ServerVersionInfo` of the profile's Exchange: the build Autodiscover reports too.
pub(crate) fn server_version(world: &World) -> SoapHeader {
    let version = Version::of(world.scenario.profile);
    let mut info = ServerVersionInfo::new(
        version.major,
        version.minor,
        version.build,
        version.revision,
    );
    info.version = Some(version.ews_schema.to_owned());
    SoapHeader::response(info)
}

/// `200 OK` with an envelope holding `body`.
pub(crate) fn ok<B: SoapBody>(world: &World, body: &B) -> Response {
    xml(StatusCode::OK, write_envelope(&server_version(world), body))
}

/// `500` with a SOAP fault.
pub(crate) fn fault(fault: &SoapFault) -> Response {
    xml(
        StatusCode::INTERNAL_SERVER_ERROR,
        write_fault(&SoapHeader::default(), fault),
    )
}

/// `ErrorServerBusy` with the configured `BackOffMilliseconds`.
pub(crate) fn server_busy(world: &World) -> Response {
    let back_off = std::time::Duration::from_millis(world.throttle.limits().back_off_ms);
    fault(&SoapFault::server_busy(back_off))
}

/// A request that could not be read: `ErrorSchemaValidation`, as Exchange answers.
pub(crate) fn schema_error(error: &ProtoError) -> Response {
    let fault_body = match error {
        ProtoError::UnexpectedElement { found, .. } => SoapFault::ews(
            ResponseCode::ErrorInvalidRequest,
            &format!("The request is invalid: unsupported operation {found}."),
        ),
        other => SoapFault::ews(
            ResponseCode::ErrorSchemaValidation,
            &format!("The request failed schema validation: {other}"),
        ),
    };
    fault(&fault_body)
}

/// An answer whose body fails at once, so the server resets the connection (recorded as
/// injected, not judged).
pub(crate) fn dropped() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault injection: connection dropped",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .extension(crate::record::Injected)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `200 OK` with a body that is not well-formed XML (recorded as injected, not judged).
pub(crate) fn malformed() -> Response {
    let mut response = xml(
        StatusCode::OK,
        b"<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><m:Subscr".to_vec(),
    );
    response.extensions_mut().insert(crate::record::Injected);
    response
}

fn xml(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}
