//! Client-certificate authentication: the TLS handshake presents the service account's
//! certificate; nothing is added to requests.

use async_trait::async_trait;

use crate::certificate::ClientCertificate;
use crate::error::AuthError;
use crate::http::{self, ClientTls, HttpRequest, HttpResponse, TransportSettings};
use crate::{AuthMethod, AuthStatus, Authenticator};

/// Authenticates with a TLS client certificate.
#[derive(Debug)]
pub struct CertificateAuth {
    certificate: ClientCertificate,
    client: reqwest::Client,
}

impl CertificateAuth {
    /// Presents `certificate` on every connection.
    pub fn new(
        certificate: ClientCertificate,
        transport: &TransportSettings,
    ) -> Result<Self, AuthError> {
        let config = crate::tls::client_config(transport, Some(&certificate))?;
        let client = http::client(transport, Some(ClientTls { config }))?;
        Ok(Self {
            certificate,
            client,
        })
    }
}

#[async_trait]
impl Authenticator for CertificateAuth {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
        http::send(&self.client, &request, None).await
    }

    fn status(&self) -> AuthStatus {
        let mut status = AuthStatus::new(
            AuthMethod::ClientCertificate,
            self.certificate.subject().to_owned(),
        );
        status.expires_at = Some(self.certificate.not_after());
        status
    }
}
