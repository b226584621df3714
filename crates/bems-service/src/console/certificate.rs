//! Client Certificate's `.pfx` upload ([`super`]'s route table).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bems_store::model::TenantId;

use secrecy::{ExposeSecret as _, SecretString};

use super::{
    Console, Refusal, Written, page, pages, posted, secret_directory, settings, settings_view,
    show_refusal, store, tenant_settings, viewer,
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
    let mut password = SecretString::from(String::new());
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
            "password" => {
                password = SecretString::from(String::from_utf8_lossy(&bytes).into_owned())
            }
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
    let status = if pfx.is_empty() {
        problem(&mut view, "choose the certificate file (.pfx)".to_owned());
        StatusCode::UNPROCESSABLE_ENTITY
    } else if let Err(error) = exchange_auth::ClientCertificate::from_pfx(&pfx, &password) {
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
/// authentication type set to Client Certificate), the files handled as [`Written`] says.
async fn store_certificate(
    console: &Console,
    tenant: &TenantId,
    current: &serde_json::Value,
    pfx: &[u8],
    password: &SecretString,
) -> Result<(), Refusal> {
    let directory = secret_directory(console).map_err(|rule| {
        Refusal::Fields(vec![(
            format!("tenants[{tenant}].{CERTIFICATE_FIELD}"),
            rule,
        )])
    })?;
    let mut written = Written::new(tenant);
    let outcome = async {
        let pfx_file = written
            .write(&directory, "client_certificate.pfx", pfx)
            .map_err(Refusal::Failed)?;
        let password_file = written
            .write(
                &directory,
                "client_certificate.password",
                password.expose_secret().as_bytes(),
            )
            .map_err(Refusal::Failed)?;
        let mut updated = current.clone();
        updated["authentication"] = serde_json::Value::from("client_certificate");
        updated["client_certificate"] = serde_json::json!({
            "pfx_file": pfx_file.display().to_string(),
            "password_file": password_file.display().to_string(),
        });
        store(console, tenant, &updated).await
    }
    .await;
    written.settle(&outcome, current);
    outcome
}
