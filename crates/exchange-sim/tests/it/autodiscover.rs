//! Tests of the simulator's Autodiscover endpoints, over real TLS and TCP on loopback.
//!
//! - [`pox`]: POX settings, errors, redirects, Exchange Online's per-mailbox path.
//! - [`soap`]: `GetUserSettings` settings, setting errors, users, redirects, bad envelopes.
//! - [`v2`]: the unauthenticated JSON endpoint, both URL forms and its errors.
//! - [`transport`]: authentication, the plain-HTTP redirect and the request log.
//! - [`scripted`]: scripted host behaviour, from the scenario and at run time.
//! - [`vectors`]: every request vector replayed, answers compared with the documented ones.

mod pox;
mod scripted;
mod soap;
mod transport;
mod v2;
mod vectors;

use base64::Engine as _;
use ews_proto::autodiscover::{
    GetUserSettingsRequest, GetUserSettingsResponse, PoxRequest, PoxResponse,
};
use exchange_sim::Sim;
use reqwest::StatusCode;

use crate::support;

/// A user of the standard scenario.
pub(crate) const MARA: &str = "mara@contoso.com";

/// The standard scenario's service account with impersonation rights, and its password.
pub(crate) const SVC: (&str, &str) = ("svc-bems@contoso.com", "Svc-Pa55w.rd");

/// An `Authorization: Basic` value.
pub(crate) fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// The service account's `Authorization` value.
pub(crate) fn svc() -> String {
    basic(SVC.0, SVC.1)
}

/// `https://<host>:<port><path>` on the simulator.
pub(crate) fn url(sim: &Sim, host: &str, path: &str) -> String {
    format!("{}{path}", sim.https_base(host))
}

/// POSTs `body` (as `text/xml`) to `path` on `host`, with an optional `Authorization`.
pub(crate) async fn post(
    sim: &Sim,
    host: &str,
    path: &str,
    body: Vec<u8>,
    authorization: Option<&str>,
) -> reqwest::Response {
    let mut request = support::client(sim)
        .post(url(sim, host, path))
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request.send().await.expect("request is answered")
}

/// A POX request for `address` to `host` as the service account; expects `200` and reads
/// the answer.
pub(crate) async fn pox_as_svc(sim: &Sim, host: &str, address: &str) -> PoxResponse {
    let body = PoxRequest::new(address).to_xml();
    let path = "/autodiscover/autodiscover.xml";
    let response = post(sim, host, path, body, Some(&svc())).await;
    read_pox(response).await
}

/// Expects `200` with a POX document and reads it.
pub(crate) async fn read_pox(response: reqwest::Response) -> PoxResponse {
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.expect("body");
    PoxResponse::from_xml(&bytes).expect("a POX response")
}

/// A `GetUserSettings` request for `mailboxes` to `host` as the service account; expects
/// `200` and reads the answer.
pub(crate) async fn settings_as_svc(
    sim: &Sim,
    host: &str,
    mailboxes: &[&str],
    settings: &[&str],
) -> GetUserSettingsResponse {
    let to = url(sim, host, "/autodiscover/autodiscover.svc");
    let mut request = GetUserSettingsRequest::new(mailboxes[0], settings, to);
    request.mailboxes = mailboxes.iter().map(|m| (*m).to_owned()).collect();
    let path = "/autodiscover/autodiscover.svc";
    let response = post(sim, host, path, request.to_xml(), Some(&svc())).await;
    read_settings(response).await
}

/// Expects `200` with a `GetUserSettings` response and reads it.
pub(crate) async fn read_settings(response: reqwest::Response) -> GetUserSettingsResponse {
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.expect("body");
    GetUserSettingsResponse::from_xml(&bytes).expect("a GetUserSettings response")
}
