//! The files the settings name, opened as the service opens them. `serve` builds its push
//! senders and its TLS listener with these functions; `check-config` calls every one of them
//! ([`open_all`]) without starting anything, so a file `serve` would refuse is refused by
//! `check-config` first, with the same message.
//!
//! | file | opened and checked by |
//! |---|---|
//! | `push.apns.key_file` (`.p8`), `push.apns.ca_file` | [`apns_config`], then [`apns_sender`] (the key is parsed) |
//! | `push.fcm.service_account_file`, `push.fcm.ca_file` | [`fcm_sender`] (the account is parsed) |
//! | `server.tls_cert_file`, `server.tls_key_file` | [`tls_config`] |
//! | `tenants[..].client_certificate.pfx_file` (`.pfx` and its password) | the tenant's authenticator, [`crate::service::connect`] |
//! | `*_file` secrets, `trusted_certificates[..].pem_file` | [`ServiceSettings::read_files`] (on load) |

use std::path::Path;
use std::sync::Arc;

use push_delivery::{ApnsAuth, ApnsConfig, ApnsEndpoint, ApnsSender, FcmConfig, FcmSender};

use crate::error::StartError;
use crate::service::Overrides;
use bems_settings::{ApnsSettings, FcmSettings, ServiceSettings};
use bems_store::{SqliteStore, Store, StoreKey};

fn read(path: &Path, field: &'static str) -> Result<String, StartError> {
    std::fs::read_to_string(path).map_err(|source| StartError::Read {
        field,
        path: path.to_owned(),
        source,
    })
}

/// The APNs sender's configuration: the `.p8` key and the extra CA read (the key is parsed by
/// [`apns_sender`]).
pub fn apns_config(apns: &ApnsSettings) -> Result<ApnsConfig, StartError> {
    let key_file = apns
        .key_file
        .as_ref()
        .ok_or(StartError::Required("push.apns.key_file"))?;
    let p8 = read(key_file, "push.apns.key_file")?;
    let mut config = ApnsConfig::new(
        ApnsAuth::token(apns.team_id.clone(), apns.key_id.clone(), p8),
        apns.topic.clone(),
    );
    let origin = apns.endpoint.as_str().trim_end_matches('/');
    config.endpoint = match origin {
        bems_settings::APNS_PRODUCTION => ApnsEndpoint::Production,
        bems_settings::APNS_SANDBOX => ApnsEndpoint::Sandbox,
        other => ApnsEndpoint::Url(other.to_owned()),
    };
    if let Some(ca) = &apns.ca_file {
        config.extra_ca_pem.push(read(ca, "push.apns.ca_file")?);
    }
    Ok(config)
}

/// The APNs sender of `config`: its key parsed, its TLS set up; it connects on the first push.
pub fn apns_sender(config: ApnsConfig) -> Result<ApnsSender, StartError> {
    ApnsSender::new(config).map_err(|e| StartError::part("push.apns", e))
}

/// The FCM sender: the service account read and parsed, the extra CA read; it asks for a
/// token on the first push.
pub fn fcm_sender(fcm: &FcmSettings) -> Result<FcmSender, StartError> {
    let file = fcm
        .service_account_file
        .as_ref()
        .ok_or(StartError::Required("push.fcm.service_account_file"))?;
    let mut config = FcmConfig::new(read(file, "push.fcm.service_account_file")?);
    config.base_url = fcm.base_url.as_str().trim_end_matches('/').to_owned();
    config.token_url = fcm.token_url.as_ref().map(ToString::to_string);
    if let Some(ca) = &fcm.ca_file {
        config.extra_ca_pem.push(read(ca, "push.fcm.ca_file")?);
    }
    FcmSender::new(config).map_err(|e| StartError::part("push.fcm", e))
}

/// The API's TLS configuration from the certificate chain and private key (PEM).
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, StartError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| StartError::File {
            field: "server.tls_cert_file",
            path: cert.to_owned(),
            source: e.into(),
        })?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| StartError::File {
        field: "server.tls_key_file",
        path: key.to_owned(),
        source: e.into(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| StartError::part("server TLS", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| StartError::part("server TLS", e))?;
    // HTTP/2 for clients that offer it: many requests on one connection, where HTTP/1.1
    // takes a connection (and a TLS handshake) per request in flight.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Opens every file `settings` (loaded: secrets read, paths checked) name, as `serve` would,
/// and builds each tenant's authenticator (which opens its `.pfx`) with a store in memory:
/// nothing is started and nothing is sent. Returns what was checked, or every refusal, in
/// `serve`'s words.
pub async fn open_all(settings: &ServiceSettings) -> Result<Vec<String>, Vec<StartError>> {
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    let mut note = |result: Result<(), StartError>, what: String| match result {
        Ok(()) => checked.push(what),
        Err(problem) => problems.push(problem),
    };
    if let Some(apns) = &settings.push.apns {
        let result = apns_config(apns).and_then(apns_sender).map(drop);
        note(result, "push.apns.key_file".into());
    }
    if let Some(fcm) = &settings.push.fcm {
        note(
            fcm_sender(fcm).map(drop),
            "push.fcm.service_account_file".into(),
        );
    }
    if let (Some(cert), Some(key)) = (
        &settings.server.tls_cert_file,
        &settings.server.tls_key_file,
    ) {
        note(
            tls_config(cert, key).map(drop),
            "server.tls_cert_file and server.tls_key_file".into(),
        );
    }
    let store: Arc<dyn Store> = match StoreKey::generate() {
        Ok(key) => match SqliteStore::in_memory(key).await {
            Ok(store) => Arc::new(store),
            Err(error) => return Err(vec![StartError::part("a store in memory", error)]),
        },
        Err(error) => return Err(vec![StartError::part("a store key", error)]),
    };
    for tenant in &settings.tenants {
        let public_url = settings.server.public_url.as_ref();
        let result = crate::service::connect(tenant, &store, public_url, &Overrides::default())
            .map(drop)
            .map_err(|e| e.of_tenant(&tenant.id, "connection"));
        note(result, format!("tenant {}'s authentication", tenant.id));
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(problems)
    }
}
