//! What the other crates are given: the transport, the username rules, the OAuth configuration,
//! the passive-authentication redirect URI and the trusted certificates by purpose.

use exchange_auth::{ModernAuth, Target, TransportSettings};
use url::Url;

use super::tenant::{AuthenticationType, CertificatePurpose, ExchangeTarget, TenantSettings};

impl TenantSettings {
    /// The `exchange-auth` transport: the Exchange CAs to trust (besides the system's) and
    /// the Connectivity Node route as the proxy of every connection (EWS and the identity
    /// provider).
    pub fn transport(&self) -> TransportSettings {
        let mut transport = TransportSettings::default();
        transport.trusted_ca_pem = self.trusted_pems(|p| p == CertificatePurpose::Exchange);
        transport.proxy = self.connectivity_node_route.clone();
        transport
    }

    /// Which username rules apply: [`Target::Microsoft365`] wants a UPN; on-premises and
    /// hybrid take `DOMAIN\user` or a UPN.
    pub fn username_target(&self) -> Target {
        match self.exchange {
            ExchangeTarget::OnPremises => Target::OnPremises,
            ExchangeTarget::Microsoft365 => Target::Microsoft365,
            ExchangeTarget::Hybrid => Target::Hybrid,
        }
    }

    /// The OAuth configuration the tenant's authentication uses: the `[tenants.passive]`
    /// table with Passive authentication, else `[tenants.modern_authentication]` when it is
    /// enabled; `None` otherwise, or when its authority or client application id is missing
    /// (which validation refuses).
    pub fn modern_auth(&self) -> Option<ModernAuth> {
        let (authority, client_id, server) = match self.authentication {
            AuthenticationType::Passive => (
                &self.passive.authority,
                &self.passive.client_application_id,
                &self.passive.server_name,
            ),
            AuthenticationType::Credential | AuthenticationType::ClientCertificate
                if self.modern_authentication.enabled =>
            {
                let modern = &self.modern_authentication;
                (
                    &modern.authority,
                    &modern.client_application_id,
                    &modern.server_name,
                )
            }
            AuthenticationType::Credential | AuthenticationType::ClientCertificate => {
                return None;
            }
        };
        Some(ModernAuth::new(
            authority.clone()?,
            client_id.clone()?,
            server.as_str().trim_end_matches('/'),
        ))
    }

    /// Passive authentication's "Redirect URI", which the console shows and no one edits:
    /// `<public_url>/oauth/<tenant id>/callback` (a path under `public_url` is kept). Register
    /// it with the Entra app. `None` when `public_url` cannot carry a path.
    pub fn redirect_uri(&self, public_url: &Url) -> Option<Url> {
        let mut uri = public_url.clone();
        uri.set_query(None);
        uri.set_fragment(None);
        uri.path_segments_mut().ok()?.pop_if_empty().extend([
            "oauth",
            self.id.as_str(),
            "callback",
        ]);
        Some(uri)
    }

    /// The PEM text of the trusted certificates whose purpose `wanted` accepts.
    pub fn trusted_pems(&self, wanted: impl Fn(CertificatePurpose) -> bool) -> Vec<String> {
        self.trusted_certificates
            .iter()
            .filter(|c| wanted(c.purpose))
            .filter_map(|c| c.pem.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests;
