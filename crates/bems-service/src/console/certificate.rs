//! Client Certificate's `.pfx` upload ([`super`]'s route table).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bems_store::model::TenantId;

use super::{
    Console, Refusal, page, pages, posted, refusal, settings, settings_view, show_refusal,
    tenant_settings, viewer,
};

/// Client Certificate's upload: the `.pfx` must open with its password and hold a key and a
/// certificate valid now (as the service loads it); then both are written to files of their
/// own in the secret directory and the settings name them, saved as Save does.
pub(super) async fn upload_certificate(
    State(console): State<Console>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    mut multipart: axum::extract::Multipart,
) -> Response {
    // Signed in before the upload is read; its CSRF token is checked once read.
    if let Err(answer) = viewer(&console, &headers) {
        return *answer;
    }
    let mut csrf = String::new();
    let mut pfx = Vec::new();
    let mut password = String::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => {
                return page(
                    StatusCode::BAD_REQUEST,
                    pages::message(
                        "Certificate",
                        &format!("The upload is not readable: {error}"),
                    ),
                );
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let Ok(bytes) = field.bytes().await else {
            return page(
                StatusCode::BAD_REQUEST,
                pages::message("Certificate", "The upload is not readable (too large?)."),
            );
        };
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "pfx" => pfx = bytes.to_vec(),
            "password" => password = String::from_utf8_lossy(&bytes).into_owned(),
            _ => {}
        }
    }
    let session = match posted(&console, &headers, &uri, &csrf) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let (tenant, current) = match tenant_settings(&console, &raw).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // The page again, with Client Certificate chosen: the upload and its refusals show.
    let mut values = settings::Values::of_settings(&current);
    values.set_text("authentication", "client_certificate");
    let mut view = settings_view(&console, &tenant, &current).await;
    let problem = |view: &mut pages::SettingsView<'_>, rule: String| {
        view.problems
            .entry(CERTIFICATE_FIELD)
            .or_default()
            .push(rule);
    };
    let secret = secrecy::SecretString::from(password.clone());
    let status = if pfx.is_empty() {
        problem(&mut view, "choose the certificate file (.pfx)".to_owned());
        StatusCode::UNPROCESSABLE_ENTITY
    } else if let Err(error) = exchange_auth::ClientCertificate::from_pfx(&pfx, &secret) {
        problem(&mut view, error.to_string());
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        match store_certificate(&console, &tenant, &current, &pfx, &password).await {
            Ok(()) => {
                tracing::info!(tenant = %tenant, "console: client certificate stored");
                view.saved = Some(
                    "Certificate checked and saved. It applies at the next start of each node.",
                );
                if let Ok(Some(saved)) = crate::api::current_settings(&console.api, &tenant).await {
                    values = settings::Values::of_settings(&saved);
                }
                StatusCode::OK
            }
            Err(refusal) => show_refusal(&mut view, refusal, |field| {
                field
                    .contains("client_certificate")
                    .then_some(CERTIFICATE_FIELD)
            }),
        }
    };
    page(
        status,
        pages::settings(&session.csrf, tenant.as_str(), &values, &view),
    )
}

/// The key the certificate upload's refusals are shown under.
pub(crate) const CERTIFICATE_FIELD: &str = "client_certificate.pfx_file";

/// Writes the `.pfx` and its password to new files and saves the settings naming them (the
/// authentication type set to Client Certificate); the files are removed if that is refused.
async fn store_certificate(
    console: &Console,
    tenant: &TenantId,
    current: &serde_json::Value,
    pfx: &[u8],
    password: &str,
) -> Result<(), Refusal> {
    let directory = console
        .api
        .settings
        .secrets
        .in_force()
        .into_iter()
        .next()
        .ok_or_else(|| {
            Refusal::Fields(vec![(
                format!("tenants[{tenant}].{CERTIFICATE_FIELD}"),
                "no secret directory is configured ([secrets] directories)".to_owned(),
            )])
        })?;
    let write = |key: &str, bytes: &[u8]| {
        settings::write_secret_file(&directory, tenant.as_str(), key, bytes)
            .map_err(Refusal::Failed)
    };
    let pfx_path = write("client_certificate.pfx", pfx)?;
    let password_path = match write("client_certificate.password", password.as_bytes()) {
        Ok(path) => path,
        Err(error) => {
            let _ = std::fs::remove_file(&pfx_path);
            return Err(error);
        }
    };
    let mut updated = current.clone();
    updated["authentication"] = serde_json::Value::from("client_certificate");
    let certificate = serde_json::json!({
        "pfx_file": pfx_path.display().to_string(),
        "password_file": password_path.display().to_string(),
    });
    updated["client_certificate"] = certificate;
    let outcome = match settings::to_admin_toml(&updated) {
        Err(error) => Err(Refusal::Failed(error)),
        Ok(body) => crate::api::save_tenant_settings(&console.api, tenant, &body)
            .await
            .map_err(refusal),
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(&pfx_path);
        let _ = std::fs::remove_file(&password_path);
    }
    outcome
}
