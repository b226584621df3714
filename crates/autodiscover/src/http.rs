//! The HTTP client every probe uses: TLS 1.2 or newer with certificate validation, the
//! configured CAs, proxy and DNS server, no automatic redirects.

use std::time::Duration;

use crate::dns::Dns;
use crate::error::Error;
use crate::settings::Settings;

/// Builds the client.
pub(crate) fn client(settings: &Settings, dns: &Dns) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeouts.candidate)
        .connect_timeout(settings.timeouts.candidate.min(Duration::from_secs(5)))
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .user_agent(concat!("bems-autodiscover/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30));
    let mut roots = Vec::new();
    for pem in &settings.trusted_ca_pem {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| Error::Config {
                setting: "trusted_ca_pem",
                reason: e.to_string(),
            })?;
        roots.extend(certs);
    }
    builder = if settings.trusted_ca_only {
        builder.tls_certs_only(roots)
    } else {
        builder.tls_certs_merge(roots)
    };
    if let Some(proxy) = &settings.proxy {
        let proxy = reqwest::Proxy::all(proxy.as_str()).map_err(|e| Error::Config {
            setting: "proxy",
            reason: e.to_string(),
        })?;
        builder = builder.proxy(proxy);
    } else {
        builder = builder.no_proxy();
    }
    if let Some(resolver) = dns.http_resolver() {
        builder = builder.dns_resolver(resolver);
    }
    builder.build().map_err(|e| Error::Config {
        setting: "http client",
        reason: e.to_string(),
    })
}
