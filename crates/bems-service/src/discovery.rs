//! A tenant's settings as the `autodiscover` crate takes them.

use bems_settings::TenantSettings;

/// The `autodiscover` crate's settings: the override URL, "allow HTTP redirection and DNS
/// SRV record", "use internal EWS URL", the Connectivity Node route as the proxy, every
/// trusted certificate (Exchange's CA for HTTPS, Active Directory's for LDAPS), and, with
/// SCP lookup, the domain controllers, LDAPS for "SSL for SCP", and the service account
/// as the LDAP bind user.
///
/// Secrets read from files or variables must have been loaded
/// ([`ServiceSettings::load`](bems_settings::ServiceSettings::load) does it).
pub fn autodiscover_settings(tenant: &TenantSettings) -> autodiscover::Settings {
    let mut settings = autodiscover::Settings::default();
    settings.override_url = tenant.autodiscover_url_override.clone();
    settings.allow_redirect_and_srv = tenant.allow_http_redirection_and_dns_srv;
    settings.use_internal_ews_url = tenant.use_internal_ews_url;
    settings.proxy = tenant.connectivity_node_route.clone();
    settings.trusted_ca_pem = tenant.trusted_pems(|_| true);
    if tenant.scp_lookup {
        let mut scp = autodiscover::ScpSettings::default();
        scp.domain_controllers = tenant.scp_domain_controllers.as_slice().to_vec();
        scp.ldaps = tenant.scp_ssl;
        scp.bind_user = tenant.service_account_username.clone();
        scp.bind_password = tenant.service_account_password.clone();
        settings.scp = Some(scp);
    }
    settings
}
