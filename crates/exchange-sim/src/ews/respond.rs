//! Building EWS answers: envelopes, faults, and the broken answers fault injection sends.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ews_proto::ResponseCode;

use super::strict::{RequestRefusal, SOAP11, SOAP12};
use super::write;

use crate::world::World;

/// `500` with Exchange's SOAP fault for an EWS error whose `faultstring` and `Message` are
/// both `text`.
pub(crate) fn ews_fault(code: &ResponseCode, text: &str) -> Response {
    write::fault(code.as_str(), text, text, None)
}

/// `500` with SOAP's `Client` fault.
pub(crate) fn client_fault(text: &str) -> Response {
    write::soap_fault("Client", text)
}

/// `ErrorServerBusy` with the configured `BackOffMilliseconds`.
pub(crate) fn server_busy(world: &World) -> Response {
    let text = "The server cannot service this request right now. Try again later.";
    write::fault(
        ResponseCode::ErrorServerBusy.as_str(),
        text,
        text,
        Some(write::MessageXml::BackOff(
            world.throttle.limits().back_off_ms,
        )),
    )
}

/// The answer to a request the strict reader refused ([`super::strict`]), as Exchange gives it.
pub(crate) fn refused(refusal: &RequestRefusal) -> Response {
    match refusal {
        // WCF's SOAP 1.1 binding refuses other media types before reading the body.
        RequestRefusal::UnsupportedMediaType(media) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "Cannot process the message because the content type '{media}' was not the expected type 'text/xml; charset=utf-8'."
            ),
        )
            .into_response(),
        // Exchange reads and validates in one pass: a reader error is a validation failure.
        RequestRefusal::Malformed {
            line,
            position,
            reason,
        } => ews_error(
            "ErrorSchemaValidation",
            &format!("The request failed schema validation: {reason}"),
            "The request failed schema validation.",
            Some((*line, *position, reason)),
        ),
        RequestRefusal::VersionMismatch(namespace) => version_mismatch(namespace),
        RequestRefusal::MustUnderstand { local, namespace } => must_understand(local, namespace),
        RequestRefusal::InvalidServerVersion(_) => ews_error(
            "ErrorInvalidServerVersion",
            "The specified server version is invalid.",
            "The specified server version is invalid.",
            None,
        ),
        RequestRefusal::InvalidRequest(reason) => {
            tracing::debug!(%reason, "EWS request refused");
            ews_error(
                "ErrorInvalidRequest",
                "The request is invalid.",
                "The request is invalid.",
                None,
            )
        }
        RequestRefusal::SchemaViolation {
            line,
            position,
            violation,
        } => ews_error(
            "ErrorSchemaValidation",
            &format!("The request failed schema validation: {violation}"),
            "The request failed schema validation.",
            Some((*line, *position, violation)),
        ),
        RequestRefusal::Internal(reason) => {
            tracing::error!(%reason, "the simulator's EWS schema did not compile");
            ews_error(
                "ErrorInternalServerError",
                "An internal server error occurred. The operation failed.",
                "An internal server error occurred. The operation failed.",
                None,
            )
        }
    }
}

/// Exchange's SOAP fault for an EWS error, written by the simulator's writer
/// ([`write::fault`]), not by ews-proto, so the client's understanding of the shape is not ours.
fn ews_error(
    code: &str,
    fault_string: &str,
    message: &str,
    position: Option<(u32, u32, &str)>,
) -> Response {
    let violation = position.map(|(line, position, text)| write::Violation {
        line,
        position,
        text: text.to_owned(),
    });
    write::fault(
        code,
        fault_string,
        message,
        violation.as_ref().map(write::MessageXml::Violation),
    )
}

/// SOAP 1.1's `VersionMismatch` fault (SOAP 1.1 §4.4.1,
/// <https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383510>), worded as WCF's SOAP 1.1
/// encoder words a SOAP 1.2 envelope.
fn version_mismatch(namespace: &str) -> Response {
    let reason = if namespace == SOAP12 {
        format!(
            "The message version of the incoming message (Soap12 ({SOAP12}) AddressingNone) does not match that of the encoder (Soap11 ({SOAP11}) AddressingNone). Make sure the binding is configured with the same version as the expected messages."
        )
    } else {
        format!("The envelope namespace '{namespace}' is not SOAP 1.1's ({SOAP11}).")
    };
    write::soap_fault("VersionMismatch", &reason)
}

/// SOAP 1.1's `MustUnderstand` fault (SOAP 1.1 §4.4.1), worded as WCF words it.
fn must_understand(local: &str, namespace: &str) -> Response {
    write::soap_fault(
        "MustUnderstand",
        &format!(
            "The header '{local}' from the namespace '{namespace}' was not understood by the recipient of this message, causing the message to not be processed.  This error typically indicates that the sender of this message has enabled a communication protocol that the receiver cannot process.  Please ensure that the configuration of the client's binding is consistent with the service's binding."
        ),
    )
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
    let mut response = write::response(
        StatusCode::OK,
        b"<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><m:Subscr".to_vec(),
    );
    response.extensions_mut().insert(crate::record::Injected);
    response
}
