//! `[[tenants]]`: one organisation's Exchange, as the seed's "Email notifications" page sets
//! it up.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::list::CommaList;
use super::service::fixed_url;
use bems_store::model::TenantId;

/// Microsoft 365's EWS host, the default "Server name".
pub const OFFICE365_SERVER: &str = "https://outlook.office365.com";

/// One `[[tenants]]` table: the seed's "Email notifications" page for one organisation.
///
/// Every node of a cluster reads the same tenant settings ("when you configure modern
/// authentication, all nodes use the specified configuration"): nothing here is per node.
/// The values of a feature that is switched off (the domain controllers while `scp_lookup` is
/// false, the `[tenants.passive]` table under Credential authentication) are kept and unused.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// The tenant's id (`contoso`): letters, digits, `-` and `_`.
    pub id: TenantId,
    /// Which Exchange holds the mailboxes.
    pub exchange: ExchangeTarget,
    /// "Authentication type" (Credential by default).
    #[serde(default)]
    pub authentication: AuthenticationType,
    /// "Service account username": `DOMAIN\user` or a UPN on-premises, a UPN
    /// (`user@domain.com`) for Microsoft 365.
    pub service_account_username: Option<String>,
    /// "Service account password", written in the file.
    #[serde(skip_serializing)]
    pub service_account_password: Option<SecretString>,
    /// A file holding the service account's password.
    pub service_account_password_file: Option<PathBuf>,
    /// An environment variable holding the service account's password.
    pub service_account_password_env: Option<String>,
    /// The Client Certificate authentication type's `.pfx` file and password.
    #[serde(default)]
    pub client_certificate: ClientCertificateSettings,
    /// The Passive authentication type's identity provider.
    #[serde(default)]
    pub passive: PassiveSettings,
    /// "Enable Modern Authentication" and its fields.
    #[serde(default)]
    pub modern_authentication: ModernAuthSettings,
    /// "Autodiscover URL override": when set, only this URL is asked (an `https` URL). It may
    /// be on any host: being the administrator's own, it gets the service account's
    /// credentials even outside the mail domain; a redirect it answers gets them only inside
    /// the mail domain (or on Microsoft's Exchange Online hosts).
    pub autodiscover_url_override: Option<Url>,
    /// "Allow HTTP redirection and DNS SRV record" (on by default).
    #[serde(default = "on")]
    pub allow_http_redirection_and_dns_srv: bool,
    /// "Use BlackBerry Connectivity Node route": when set, every connection to Exchange,
    /// Active Directory and the identity provider goes through this proxy on the corporate
    /// network (`http://host:port` for HTTP CONNECT, `socks5://host:port`). Needed with
    /// Entra ID conditional access.
    pub connectivity_node_route: Option<Url>,
    /// "Use internal Exchange Web Services URL": prefer the internal EWS URL Autodiscover
    /// gives (needs the Connectivity Node route; not with modern authentication).
    #[serde(default)]
    pub use_internal_ews_url: bool,
    /// "Enable SCP Lookup": find Autodiscover URLs in Active Directory over LDAP (needs
    /// Credential authentication and the Connectivity Node route; not with an override URL).
    #[serde(default)]
    pub scp_lookup: bool,
    /// "Enable SSL for SCP": LDAPS, checked against the trusted Active Directory
    /// certificate.
    #[serde(default)]
    pub scp_ssl: bool,
    /// "Domain Controllers for SCP": `"dc1.example.com,dc2.example.com"` or an array;
    /// `host` or `host:port`, asked in order.
    #[serde(default)]
    pub scp_domain_controllers: CommaList,
    /// The Active Directory and Exchange CA certificates to trust.
    #[serde(default)]
    pub trusted_certificates: Vec<TrustedCertificate>,
    /// "User email address" used to test the connection.
    pub test_email_address: Option<String>,
    /// Who receives notifications.
    #[serde(default)]
    pub entitlement: EntitlementSettings,
    /// How Exchange tells the service about new mail.
    #[serde(default)]
    pub subscription: SubscriptionSettings,
    /// How devices prove which user they register for.
    #[serde(default)]
    pub registration: RegistrationSettings,
    /// "Use Microsoft Graph" (Exchange Online through Graph change notifications).
    #[serde(default)]
    pub graph: super::graph::GraphTenantSettings,
    /// BlackBerry Directory Lookup: backends, LDAP, bounds.
    #[serde(default)]
    pub directory: super::DirectorySettings,
    /// BlackBerry Follow-Me: per-user documents.
    #[serde(default)]
    pub follow_me: super::FollowMeSettings,
    /// `[tenants.alerts]`: what new-mail alerts carry.
    #[serde(default)]
    pub alerts: super::AlertSettings,
}

/// `[tenants.registration]`: a device registers with a bearer token (a JWT) from the tenant's
/// identity provider; its signature is checked against the provider's published keys, its
/// issuer and audience against these, and its `email` / `upn` claim must be the mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationSettings {
    /// The `iss` of the provider's tokens (`https://login.microsoftonline.com/<tenant id>/v2.0`).
    pub issuer: Option<String>,
    /// The `aud` the tokens are issued for: this service's id at the provider.
    pub audience: Option<String>,
    /// The provider's JWKS document
    /// (`https://login.microsoftonline.com/<tenant id>/discovery/v2.0/keys`).
    pub jwks_uri: Option<Url>,
}

fn on() -> bool {
    true
}

/// Which Exchange holds the tenant's mailboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeTarget {
    /// On-premises Exchange Server (`on_premises`).
    OnPremises,
    /// Microsoft 365, Exchange Online (`microsoft365`).
    Microsoft365,
    /// On-premises Exchange and Microsoft 365 (`hybrid`). With modern authentication the
    /// on-premises Exchange must be configured for hybrid modern authentication, or users
    /// receive no notifications.
    Hybrid,
}

/// "Authentication type".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticationType {
    /// The service account's username and password (`credential`): Basic or NTLM
    /// on-premises; Microsoft 365 requires modern authentication.
    #[default]
    Credential,
    /// A client certificate (`client_certificate`): TLS client authentication on-premises,
    /// or the Entra app's certificate with modern authentication.
    ClientCertificate,
    /// An identity provider signs the administrator in once and gives OAuth tokens
    /// (`passive`); the refresh token is kept, encrypted, in the store.
    Passive,
}

/// `[tenants.client_certificate]`: "Certificate file (.pfx)" and "Password".
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientCertificateSettings {
    /// The `.pfx` (PKCS#12) file with the certificate and its private key.
    pub pfx_file: Option<PathBuf>,
    /// Its password, written in the file.
    #[serde(skip_serializing)]
    pub password: Option<SecretString>,
    /// A file holding its password.
    pub password_file: Option<PathBuf>,
    /// An environment variable holding its password.
    pub password_env: Option<String>,
}

/// `[tenants.passive]`: the identity provider of Passive authentication.
///
/// The "Redirect URI" is not set here: it is derived from `server.public_url` and the
/// tenant's id (see [`TenantSettings::redirect_uri`]), and must be registered with the app.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassiveSettings {
    /// "Authentication Authority" (`https://login.microsoftonline.com/common`).
    pub authority: Option<Url>,
    /// "Client Application ID": the Entra app's id (a GUID).
    pub client_application_id: Option<String>,
    /// "Server Name" (`https://outlook.office365.com` by default).
    pub server_name: Url,
    /// The app's client secret, when it is registered as a confidential client (its refresh
    /// tokens then survive the administrator's password changes).
    #[serde(skip_serializing)]
    pub client_secret: Option<SecretString>,
    /// A file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// An environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// How many days a sign-in lasts before the identity provider's policy asks for a new one
    /// (a Conditional Access sign-in frequency; the seed says 90 by default). The refresh
    /// token is renewed at every refresh, so only such a policy ends a sign-in; the console
    /// reminds the administrator [`SIGN_IN_REMINDER_DAYS`] before.
    pub sign_in_lifetime_days: u32,
}

/// Days before a passive sign-in's lifetime ends that the console reminds the administrator.
pub const SIGN_IN_REMINDER_DAYS: u32 = 14;

impl Default for PassiveSettings {
    fn default() -> Self {
        Self {
            authority: None,
            client_application_id: None,
            server_name: fixed_url(OFFICE365_SERVER),
            client_secret: None,
            client_secret_file: None,
            client_secret_env: None,
            sign_in_lifetime_days: 90,
        }
    }
}

/// `[tenants.modern_authentication]`: "Enable Modern Authentication" and its fields.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModernAuthSettings {
    /// "Enable Modern Authentication" (required for Credential authentication to
    /// Microsoft 365).
    pub enabled: bool,
    /// "Authentication authority" (`https://login.microsoftonline.com/<tenant name or id>`).
    pub authority: Option<Url>,
    /// "Client application ID": the Entra app's id (a GUID).
    pub client_application_id: Option<String>,
    /// "Server name" (`https://outlook.office365.com` by default; the on-premises EWS host
    /// with hybrid modern authentication).
    pub server_name: Url,
    /// "Use credentials if modern authentication fails": fall back to the service account's
    /// username and password when modern authentication is not configured for the app.
    pub use_credentials_if_modern_auth_fails: bool,
}

impl Default for ModernAuthSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            authority: None,
            client_application_id: None,
            server_name: fixed_url(OFFICE365_SERVER),
            use_credentials_if_modern_auth_fails: false,
        }
    }
}

/// One `[[tenants.trusted_certificates]]`: a CA certificate to trust, from a file or inline.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedCertificate {
    /// A name for messages (`contoso-ad-ca`), unique in the tenant.
    pub name: String,
    /// What the certificate is trusted for.
    pub purpose: CertificatePurpose,
    /// A PEM file with the certificate(s).
    pub pem_file: Option<PathBuf>,
    /// The PEM text, inline (or read from `pem_file` when the settings are loaded). Shown
    /// (serialized) with its certificates only: a private key in the same file is not.
    #[serde(serialize_with = "certificates_only")]
    pub pem: Option<String>,
}

/// Serializes PEM text as its `CERTIFICATE` blocks alone.
fn certificates_only<S: serde::Serializer>(
    pem: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let Some(text) = pem else {
        return serializer.serialize_none();
    };
    let mut kept = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(BEGIN) {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let stop = start + end + END.len();
        kept.push_str(&rest[start..stop]);
        kept.push('\n');
        rest = &rest[stop..];
    }
    serializer.serialize_some(&kept)
}

/// What a trusted certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificatePurpose {
    /// The Microsoft Active Directory SSL certificate's CA ("Enable SSL for SCP"): LDAPS to
    /// the domain controllers.
    ActiveDirectory,
    /// The CA of Exchange's (or the identity provider's) HTTPS certificate.
    Exchange,
}

/// `[tenants.entitlement]`: who receives email notifications.
///
/// BlackBerry assigns the BlackBerry Cloud Enterprise Services entitlement
/// (`com.blackberry.gdservice-entitlement.cloud`) to users, and "users without the entitlement
/// receive no notifications". Here the tenant grants it: to the listed mailboxes and the
/// mailboxes of the listed domains (`list`, the default), or to everyone (`all`). Without
/// `[tenants.entitlement]` no one is entitled. A device registration for a mailbox that is
/// not entitled is refused, naming the rule.
///
/// ```toml
/// [tenants.entitlement]
/// mailboxes = ["ceo@contoso-holding.com"]
/// domains = ["contoso.com"]          # or: mode = "all"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntitlementSettings {
    /// `list` (the default) or `all`.
    pub mode: EntitlementMode,
    /// Entitled mailboxes (SMTP addresses), with `list`.
    pub mailboxes: CommaList,
    /// Entitled mail domains (`example.com`: its mailboxes, not its subdomains'), with `list`.
    pub domains: CommaList,
}

/// Who is entitled to notifications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntitlementMode {
    /// The listed mailboxes and domains only: no one when none is listed (the default).
    #[default]
    List,
    /// Every mailbox of the tenant.
    All,
}

impl EntitlementSettings {
    /// Whether `mailbox` (an SMTP address) is entitled; names compare without regard to
    /// case.
    pub fn allows(&self, mailbox: &str) -> bool {
        match self.mode {
            EntitlementMode::All => true,
            EntitlementMode::List => {
                let mailbox = mailbox.trim();
                let domain = mailbox.rsplit_once('@').map(|(_, domain)| domain);
                self.mailboxes
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(mailbox))
                    || domain.is_some_and(|domain| {
                        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
                    })
            }
        }
    }

    /// Who is entitled, in words: `all mailboxes`, `3 mailboxes, domains contoso.com`, or
    /// `no one (...)`.
    pub fn describe(&self) -> String {
        if self.mode == EntitlementMode::All {
            return "all mailboxes".into();
        }
        let mut parts = Vec::new();
        match self.mailboxes.as_slice().len() {
            0 => {}
            1 => parts.push(format!("1 mailbox ({})", self.mailboxes.as_slice()[0])),
            n => parts.push(format!("{n} mailboxes")),
        }
        if !self.domains.is_empty() {
            parts.push(format!("domains {}", self.domains.as_slice().join(", ")));
        }
        if parts.is_empty() {
            "no one ([tenants.entitlement] lists no mailbox or domain; mode = \"all\" entitles everyone)".into()
        } else {
            parts.join(", ")
        }
    }
}

/// `[tenants.subscription]`: how Exchange tells the service about changes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriptionSettings {
    /// `streaming` (the default), `push` or `pull`.
    pub mode: SubscriptionMode,
    /// Push: `StatusFrequency`, the heartbeat interval, 1-1440 minutes (15).
    pub status_frequency_minutes: u32,
    /// Streaming: `ConnectionTimeout`, after which a connection is reopened, 1-30 minutes
    /// (30).
    pub connection_timeout_minutes: u32,
    /// Pull: seconds between two `GetEvents` for a mailbox, 1-3600 (30).
    pub pull_interval_seconds: u32,
}

impl Default for SubscriptionSettings {
    fn default() -> Self {
        Self {
            mode: SubscriptionMode::Streaming,
            status_frequency_minutes: 15,
            connection_timeout_minutes: 30,
            pull_interval_seconds: 30,
        }
    }
}

/// The EWS subscription kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionMode {
    /// Exchange POSTs notifications to `server.public_url`: use it when Exchange can reach
    /// this service's listener.
    Push,
    /// Hanging `GetStreamingEvents` connections, up to 200 mailboxes each (works without
    /// inbound connections).
    #[default]
    Streaming,
    /// `GetEvents` at a fixed interval.
    Pull,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entitlement(mode: EntitlementMode, mailboxes: &str, domains: &str) -> EntitlementSettings {
        EntitlementSettings {
            mode,
            mailboxes: CommaList::parse(mailboxes).unwrap_or_default(),
            domains: CommaList::parse(domains).unwrap_or_default(),
        }
    }

    #[test]
    fn entitlement_lists_match_mailboxes_and_whole_domains() {
        let list = entitlement(
            EntitlementMode::List,
            "Alice@Contoso.com",
            "sales.contoso.com",
        );
        assert!(list.allows("alice@contoso.com"));
        assert!(list.allows("bob@SALES.contoso.com"));
        assert!(!list.allows("bob@contoso.com"));
        assert!(!list.allows("carol@eu.sales.contoso.com"));
        assert!(!list.allows("sales.contoso.com"));
        assert!(entitlement(EntitlementMode::All, "", "").allows("anyone@example.com"));
        assert!(!entitlement(EntitlementMode::List, "", "").allows("anyone@example.com"));
    }

    #[test]
    fn a_trusted_certificate_is_shown_without_a_key_beside_it() {
        let certificate = "-----BEGIN CERTIFICATE-----\nQUQ=\n-----END CERTIFICATE-----";
        let trusted = TrustedCertificate {
            name: "ca".into(),
            purpose: CertificatePurpose::Exchange,
            pem_file: None,
            pem: Some(format!(
                "{certificate}\n-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n"
            )),
        };
        let json = serde_json::to_value(&trusted).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["pem"], format!("{certificate}\n"));
    }

    #[test]
    fn no_one_is_entitled_by_default_and_the_description_says_who_is() {
        let nobody = EntitlementSettings::default();
        assert!(!nobody.allows("alice@contoso.com"));
        assert!(
            nobody.describe().starts_with("no one"),
            "{}",
            nobody.describe()
        );
        assert_eq!(
            entitlement(EntitlementMode::All, "", "").describe(),
            "all mailboxes"
        );
        assert_eq!(
            entitlement(
                EntitlementMode::List,
                "a@contoso.com,b@contoso.com,c@contoso.com",
                "contoso.com"
            )
            .describe(),
            "3 mailboxes, domains contoso.com"
        );
        assert_eq!(
            entitlement(EntitlementMode::List, "ceo@contoso.com", "").describe(),
            "1 mailbox (ceo@contoso.com)"
        );
    }
}
