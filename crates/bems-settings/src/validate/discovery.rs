//! A tenant's discovery rules: the Autodiscover override, the Connectivity Node route, the
//! internal EWS URL, SCP lookup and its domain controllers, the trusted certificates.

use std::collections::BTreeSet;

use super::checks::{check_host_port, check_https, check_plain, count_pem_certificates};
use super::tenant::Field;
use crate::tenant::{AuthenticationType, CertificatePurpose, TenantSettings};

/// The override URL, the Connectivity Node route and the internal EWS URL.
pub(super) fn discovery(tenant: &TenantSettings, at: &mut Field<'_>) {
    if let Some(url) = &tenant.autodiscover_url_override
        && let Err(rule) = check_https(url)
    {
        at.push("autodiscover_url_override", rule);
    }
    if let Some(route) = &tenant.connectivity_node_route {
        let rule = match route.scheme() {
            "http" | "socks5" | "socks5h" => {
                check_plain(route).and_then(|()| match (route.path(), route.query()) {
                    ("" | "/", None) => Ok(()),
                    _ => Err(format!("{route} must be just scheme://host:port")),
                })
            }
            scheme => Err(format!(
                "the route is a proxy: http://host:port or socks5://host:port, not {scheme}://"
            )),
        };
        if let Err(rule) = rule {
            at.push("connectivity_node_route", rule);
        }
    }
    if tenant.use_internal_ews_url {
        if tenant.connectivity_node_route.is_none() {
            at.push(
                "use_internal_ews_url",
                "the internal EWS URL is reached over the corporate network: it requires the \
                 Connectivity Node route (connectivity_node_route)",
            );
        }
        if tenant.modern_authentication.enabled {
            at.push(
                "use_internal_ews_url",
                "is not available when modern authentication is enabled",
            );
        }
    }
}

/// SCP lookup, SSL for SCP and the domain controllers.
pub(super) fn scp(tenant: &TenantSettings, at: &mut Field<'_>) {
    if tenant.scp_lookup {
        if tenant.authentication != AuthenticationType::Credential {
            at.push(
                "scp_lookup",
                "SCP lookup binds to Active Directory as the service account: it requires \
                 Credential authentication",
            );
        }
        if tenant.connectivity_node_route.is_none() {
            at.push(
                "scp_lookup",
                "Active Directory is reached over the corporate network: SCP lookup requires \
                 the Connectivity Node route (connectivity_node_route)",
            );
        }
        if tenant.autodiscover_url_override.is_some() {
            at.push(
                "scp_lookup",
                "is not available when an Autodiscover URL override is set",
            );
        }
        if tenant.scp_domain_controllers.is_empty() {
            at.push(
                "scp_domain_controllers",
                "SCP lookup needs at least one domain controller \
                 (dc1.example.com,dc2.example.com)",
            );
        }
    }
    for controller in &tenant.scp_domain_controllers {
        if let Err(rule) = check_host_port(controller) {
            at.push("scp_domain_controllers", rule);
        }
    }
    if tenant.scp_ssl {
        if !tenant.scp_lookup {
            at.push(
                "scp_ssl",
                "SSL for SCP requires SCP lookup (scp_lookup = true)",
            );
        }
        let has_ad = tenant
            .trusted_certificates
            .iter()
            .any(|c| c.purpose == CertificatePurpose::ActiveDirectory);
        if !has_ad {
            at.push(
                "scp_ssl",
                "SSL for SCP requires the Active Directory SSL certificate: add a \
                 [[tenants.trusted_certificates]] with purpose = \"active_directory\"",
            );
        }
    }
}

/// Trusted certificates: a unique name, one PEM source, PEM text that holds certificates.
pub(super) fn certificates(tenant: &TenantSettings, at: &mut Field<'_>) {
    let mut names = BTreeSet::new();
    for (index, certificate) in tenant.trusted_certificates.iter().enumerate() {
        let here = if certificate.name.trim().is_empty() {
            at.push(
                &format!("trusted_certificates[{index}].name"),
                "a trusted certificate needs a name",
            );
            format!("trusted_certificates[{index}]")
        } else {
            format!("trusted_certificates[{}]", certificate.name)
        };
        if !certificate.name.trim().is_empty() && !names.insert(certificate.name.as_str()) {
            at.push(
                &format!("{here}.name"),
                "another trusted certificate has this name",
            );
        }
        match (&certificate.pem, &certificate.pem_file) {
            (Some(_), Some(_)) => at.push(&here, "give pem or pem_file, not both"),
            (None, None) => at.push(&here, "give the certificate: pem or pem_file"),
            (Some(pem), None) => {
                if let Err(rule) = count_pem_certificates(pem) {
                    at.push(&format!("{here}.pem"), rule);
                }
            }
            (None, Some(_)) => {}
        }
    }
}
