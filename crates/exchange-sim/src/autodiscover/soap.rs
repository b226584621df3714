//! SOAP Autodiscover: `GetUserSettings` at `POST /autodiscover/autodiscover.svc`.
//!
//! - Each user gets the requested settings the simulator knows (see [`super::settings`]),
//!   with a `UserSettingError` (`SettingIsNotAvailable` or `InvalidSetting`) for the others.
//! - An unknown mailbox gets the user-level `InvalidUser`.
//! - A host scripted `RedirectAddr` / `RedirectUrl` answers every user with
//!   `RedirectAddress` / `RedirectUrl` and the scripted `RedirectTarget`.
//! - An envelope that reads but lacks users, asks for no setting, or names more than 100
//!   users (the simulator's limit) gets the response-level `InvalidRequest`; a body that is not a SOAP envelope
//!   with `GetUserSettingsRequestMessage` gets a `soap:Client` fault with HTTP 500.
//! - The header carries `ServerVersionInfo` of the profile's Exchange (15.x).
//!
//! Spec: [GetUserSettings operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getusersettings-operation-soap).

use axum::response::{IntoResponse as _, Response};
use ews_proto::ProtoError;
use ews_proto::autodiscover::{
    AutodiscoverErrorCode, AutodiscoverServerVersion, GetUserSettingsRequest,
    GetUserSettingsResponse, UserResponse, UserSetting, UserSettingError,
};
use ews_proto::soap::{SoapFault, SoapHeader, write_fault};
use http::{Method, StatusCode, header};

use super::auth;
use super::facts::{Facts, Version};
use super::incoming::Incoming;
use super::settings::{Lookup, lookup};
use crate::scenario::HostBehaviour;
use crate::sim::Ctx;

/// The most users one `GetUserSettings` request may name here; more get `InvalidRequest`.
const MAX_USERS: usize = 100;

/// Answers a SOAP request that reached a host behaving as an Autodiscover server.
pub(crate) async fn answer(ctx: &Ctx, incoming: Incoming, behaviour: &HostBehaviour) -> Response {
    if let Some(challenge) = auth::challenge(ctx, &incoming) {
        return challenge;
    }
    if incoming.method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    }
    let body = match incoming.read_body().await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let request = match GetUserSettingsRequest::from_xml(&body) {
        Ok(request) => request,
        // The envelope and the message read, but they name no user.
        Err(ProtoError::Missing {
            parent: "Users", ..
        }) => {
            return invalid_request(ctx, "The request names no user.");
        }
        Err(error) => return fault(&format!("The request could not be read: {error}")),
    };
    if request.settings.is_empty() {
        return invalid_request(ctx, "At least one setting must be requested.");
    }
    if request.mailboxes.len() > MAX_USERS {
        return invalid_request(ctx, "The request exceeds the limit of 100 users.");
    }
    let users = request
        .mailboxes
        .iter()
        .map(|mailbox| user_response(ctx, behaviour, mailbox, &request.settings))
        .collect();
    let mut response = GetUserSettingsResponse::default();
    response.user_responses = users;
    envelope(ctx, response)
}

/// The answer for one mailbox.
pub(crate) fn user_response(
    ctx: &Ctx,
    behaviour: &HostBehaviour,
    mailbox: &str,
    settings: &[String],
) -> UserResponse {
    match behaviour {
        HostBehaviour::RedirectAddr(target) => {
            return UserResponse::redirect(AutodiscoverErrorCode::RedirectAddress, target.as_str());
        }
        HostBehaviour::RedirectUrl(url) => {
            return UserResponse::redirect(AutodiscoverErrorCode::RedirectUrl, url.as_str());
        }
        _ => {}
    }
    let Some(facts) = Facts::for_address(ctx, mailbox) else {
        let mut user = UserResponse::default();
        user.error_code = AutodiscoverErrorCode::InvalidUser;
        user.error_message = Some(format!("Invalid user '{}'.", mailbox.trim()));
        return user;
    };
    let mut user = UserResponse::settings(Vec::new());
    let mut seen = std::collections::BTreeSet::new();
    for name in settings {
        if !seen.insert(name.as_str()) {
            continue;
        }
        match lookup(&facts, name) {
            Lookup::Value(value) => user.settings.push(UserSetting::string(name, &value)),
            Lookup::NotAvailable => user.setting_errors.push(setting_error(
                AutodiscoverErrorCode::SettingIsNotAvailable,
                name,
                format!("User setting '{name}' is not available."),
            )),
            Lookup::Invalid => user.setting_errors.push(setting_error(
                AutodiscoverErrorCode::InvalidSetting,
                name,
                format!("Setting '{name}' is not a valid user setting."),
            )),
        }
    }
    user
}

fn setting_error(code: AutodiscoverErrorCode, name: &str, message: String) -> UserSettingError {
    let mut error = UserSettingError::default();
    error.error_code = code;
    error.error_message = Some(message);
    error.setting_name = name.to_owned();
    error
}

/// `ServerVersionInfo` of the profile's Exchange.
pub(crate) fn server_version(ctx: &Ctx) -> AutodiscoverServerVersion {
    let version = Version::of(ctx.world.scenario.profile);
    let mut out = AutodiscoverServerVersion::default();
    out.major_version = Some(version.major);
    out.minor_version = Some(version.minor);
    out.major_build_number = Some(version.build);
    out.minor_build_number = Some(version.revision);
    out.version = Some(version.schema.to_owned());
    out
}

/// The response-level `InvalidRequest`.
fn invalid_request(ctx: &Ctx, message: &str) -> Response {
    let mut response = GetUserSettingsResponse::default();
    response.error_code = AutodiscoverErrorCode::InvalidRequest;
    response.error_message = Some(message.to_owned());
    envelope(ctx, response)
}

fn envelope(ctx: &Ctx, mut response: GetUserSettingsResponse) -> Response {
    response.server_version = Some(server_version(ctx));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        response.to_xml(),
    )
        .into_response()
}

/// A `soap:Client` fault with HTTP 500, as SOAP 1.1 sends faults.
fn fault(text: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        write_fault(&SoapHeader::default(), &SoapFault::client(text)),
    )
        .into_response()
}
