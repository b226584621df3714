//! The demo world as a Microsoft 365 tenant: the service over TLS (Graph calls webhooks over
//! https only) with a certificate of the simulator's CA, the tenant on Exchange Online with
//! the app's certificate (app-only tokens for EWS and for Graph), Graph's host name resolved
//! to the simulator.

use std::time::Duration;

use exchange_auth::SecretString;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

use crate::{APP, World};
use bems_settings::{AuthenticationType, ExchangeTarget};

/// The `.pfx` password of the app's certificate in the demo.
const PFX_PASSWORD: &str = "demo-pfx-Pa55";

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Result<std::path::PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// A `.pfx` of a PEM certificate and PKCS#8 key.
fn pfx(cert_pem: &str, key_pem: &str) -> Result<Vec<u8>, String> {
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    let key = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let chain = PrivateKeyChain::new(
        b"bems-demo".to_vec(),
        PrivateKey::from_der(key.secret_pkcs8_der()).map_err(|e| e.to_string())?,
        [Certificate::from_der(&cert).map_err(|e| e.to_string())?],
    );
    let mut store = KeyStore::new();
    store.add_entry("bems", KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(PFX_PASSWORD)
        .write()
        .map_err(|e| e.to_string())
}

/// Graph timings for a simulator whose clock runs faster.
fn fast_graph(settings: &mut graph_subscriptions::GraphSettings) {
    settings.tick = Duration::from_millis(100);
    settings.backoff_initial = Duration::from_millis(50);
    settings.backoff_max = Duration::from_secs(1);
    settings.startup_grace = Duration::from_secs(1);
}

impl World {
    /// Makes the tenant a Microsoft 365 one with "use Microsoft Graph" set to `enabled`
    /// (off: EWS with app-only tokens, as a tenant before the switch), and the service
    /// reachable over https at `https://localhost:<port>`.
    pub fn use_graph(&mut self, enabled: bool) -> Result<(), String> {
        let dir = self.dir.path().to_owned();
        let sim = &self.sim;
        let server = sim
            .issue_server_certificate(&["localhost"])
            .map_err(|e| e.to_string())?;
        let settings = &mut self.settings;
        settings.server.tls_cert_file = Some(write(&dir, "bems.crt", server.cert_pem.as_bytes())?);
        settings.server.tls_key_file = Some(write(&dir, "bems.key", server.key_pem.as_bytes())?);
        let port = settings.server.listen.port();
        settings.server.public_url = Some(
            format!("https://localhost:{port}")
                .parse()
                .map_err(|e| format!("public URL: {e}"))?,
        );
        let app = sim
            .identity()
            .app_certificate(APP)
            .map_err(|e| e.to_string())?;
        let pfx_file = write(&dir, "app.pfx", &pfx(&app.cert_pem, &app.key_pem)?)?;
        let authority = sim
            .identity()
            .authority()
            .parse()
            .map_err(|e| format!("authority: {e}"))?;
        let graph_endpoint = sim
            .graph()
            .origin()
            .parse()
            .map_err(|e| format!("Graph endpoint: {e}"))?;
        let tenant = settings
            .tenants
            .first_mut()
            .ok_or("the demo has a tenant")?;
        tenant.exchange = ExchangeTarget::Microsoft365;
        tenant.authentication = AuthenticationType::ClientCertificate;
        tenant.client_certificate.pfx_file = Some(pfx_file);
        tenant.client_certificate.password = Some(SecretString::from(PFX_PASSWORD));
        tenant.modern_authentication.enabled = true;
        tenant.modern_authentication.authority = Some(authority);
        tenant.modern_authentication.client_application_id = Some(APP.to_owned());
        tenant.graph.enabled = enabled;
        tenant.graph.endpoint = graph_endpoint;
        settings.validate().map_err(|e| e.to_string())?;
        self.overrides
            .resolve
            .push((exchange_sim::GRAPH_HOST.to_owned(), sim.https_addr()));
        if self.overrides.watch.is_some() {
            self.overrides.graph = Some(fast_graph);
        }
        Ok(())
    }

    /// An HTTP client that trusts the service's certificate (the simulator's CA).
    pub fn https_client(&self) -> Result<reqwest::Client, String> {
        let ca = reqwest::Certificate::from_pem(self.sim.ca_pem().as_bytes())
            .map_err(|e| e.to_string())?;
        reqwest::Client::builder()
            .tls_certs_merge([ca])
            .build()
            .map_err(|e| e.to_string())
    }

    /// The demo world as a Microsoft 365 tenant under passive authentication (the app
    /// [`APP`], the service's redirect URI registered with it), over HTTPS on a port chosen
    /// here: an administrator must sign in before any mailbox is watched.
    pub async fn passive_microsoft_365() -> Result<Self, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        drop(listener);
        let mut scenario = crate::scenario()?;
        let app = scenario
            .apps
            .iter_mut()
            .find(|app| app.client_id == APP)
            .ok_or("the sample scenario has no demo app")?;
        app.redirect_uris.push(format!(
            "https://localhost:{port}/oauth/{}/callback",
            crate::TENANT
        ));
        let mut world = Self::with_scenario(
            scenario,
            bems_settings::SubscriptionMode::Streaming,
            None,
            false,
        )
        .await?;
        world.settings.server.listen.set_port(port);
        world.use_graph(false)?;
        let tenant = world
            .settings
            .tenants
            .first_mut()
            .ok_or("the demo has no tenant")?;
        tenant.authentication = AuthenticationType::Passive;
        tenant.passive.authority = tenant.modern_authentication.authority.clone();
        tenant.passive.client_application_id = Some(APP.to_owned());
        world.settings.validate().map_err(|e| e.to_string())?;
        Ok(world)
    }
}
