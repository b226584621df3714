//! Where credentials may go, and where nothing may go.
//!
//! The rules, after Guardicore's 2021 "Autodiscovering the Great Leak" and Microsoft's own
//! guidance:
//!
//! | target | credentials (POX, SOAP) | anything at all |
//! |---|---|---|
//! | plain `http://` | never | the unauthenticated redirect GET only |
//! | `autodiscover.<public suffix>` (`autodiscover.com.br`, ...) | never | never |
//! | the administrator's **Autodiscover URL override**: its origin (`https`, host, port) | yes, wherever it is | yes |
//! | a host of the mailbox domain's registrable domain (public suffix list) | yes | yes |
//! | a host on the credential allow-list (Microsoft's Exchange Online hosts by default) | yes | yes |
//! | any other host: what a redirect, an SRV record or an SCP entry names | no (refused, in the trace) | unauthenticated probes only |
//!
//! The override is the administrator's own choice (the seed document allows any URL), so it is
//! trusted where it is; what it *answers* is not: a redirect from it to another host, like any
//! redirect or SRV target, is judged by the rows below it. Trust is by exact origin, so neither
//! another port of the override's host nor its subdomains inherit it.
//!
//! The **Connectivity Node route** (the `proxy` setting) is the administrator's too: every
//! request goes through it, credentials included, whatever its host. It carries a TLS tunnel
//! to the target (HTTP `CONNECT` or SOCKS5), so the rules above apply to the target named in
//! the request, never to the route.
//!
//! A plain-HTTP redirect is followed only to `https` and an Autodiscover path.

use url::{Origin, Url};

use crate::settings::Settings;

/// The registrable domain ("eTLD+1") of a host, lower-cased; the host itself when the public
/// suffix list does not know it.
pub(crate) fn registrable(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&host).map_or_else(|| host.clone(), str::to_owned)
}

/// Whether `host` is a public suffix (`com`, `co.uk`, `github.io`, ...).
pub(crate) fn is_public_suffix(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    psl::suffix_str(&host).is_some_and(|suffix| suffix == host)
}

/// Why nothing may be sent to `host` at all, if so.
pub(crate) fn forbidden_host(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let rest = host.strip_prefix("autodiscover.")?;
    is_public_suffix(rest)
        .then(|| format!("{host} is autodiscover.<public suffix>: never contacted"))
}

/// Who, besides the mailbox's own registrable domain, may receive credentials: the allow-list
/// and the administrator's Autodiscover URL override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trust {
    /// Hosts (and their subdomains) credentials may go to whatever the mailbox's domain.
    allow_list: Vec<String>,
    /// The origin of the administrator's Autodiscover URL override, if any.
    configured: Option<Origin>,
}

impl Trust {
    /// The trust the settings give: their allow-list and override URL.
    pub(crate) fn new(settings: &Settings) -> Self {
        Self {
            allow_list: settings.credential_allow_list.clone(),
            configured: settings.override_url.as_ref().map(Url::origin),
        }
    }

    /// Why credentials may not be sent to `url` for a mailbox in `domain`, if so.
    pub(crate) fn refusal(&self, url: &Url, domain: &str) -> Option<String> {
        if url.scheme() != "https" {
            return Some(format!("{url}: credentials never go over plain HTTP"));
        }
        let Some(host) = url.host_str() else {
            return Some(format!("{url}: no host"));
        };
        if let Some(reason) = forbidden_host(host) {
            return Some(reason);
        }
        if self.configured.as_ref() == Some(&url.origin()) {
            return None;
        }
        let host = host.to_ascii_lowercase();
        let allowed = self.allow_list.iter().any(|entry| {
            let entry = entry.trim_end_matches('.').to_ascii_lowercase();
            host == entry || host.ends_with(&format!(".{entry}"))
        });
        if allowed {
            return None;
        }
        let (mine, theirs) = (registrable(domain), registrable(&host));
        (mine != theirs).then(|| {
            format!(
                "{host} is outside {mine}, not on the credential allow-list and not the \
                 Autodiscover URL override"
            )
        })
    }
}

/// Whether a plain-HTTP redirect target is acceptable: `https` and an Autodiscover path
/// (`/autodiscover/autodiscover.xml`, also with segments between, as Exchange Online sends:
/// `/Autodiscover/<mailbox>/Autodiscover.xml`).
pub(crate) fn redirect_target_refusal(url: &Url) -> Option<String> {
    if url.scheme() != "https" {
        return Some(format!("{url}: redirect to plain HTTP refused"));
    }
    let path = url.path().to_ascii_lowercase();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ok = segments.len() >= 2
        && segments.first() == Some(&"autodiscover")
        && segments.last() == Some(&"autodiscover.xml")
        && segments[1..segments.len() - 1]
            .iter()
            .all(|s| !s.is_empty());
    if !ok {
        return Some(format!("{url}: not an Autodiscover path"));
    }
    if let Some(host) = url.host_str() {
        return forbidden_host(host);
    }
    Some(format!("{url}: no host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("autodiscover.mail.contoso.com"), "contoso.com");
        assert_eq!(registrable("mail.contoso.co.uk"), "contoso.co.uk");
        assert!(is_public_suffix("co.uk"));
        assert!(is_public_suffix("com.br"));
        assert!(!is_public_suffix("contoso.com"));
    }

    #[test]
    fn autodiscover_public_suffix_is_forbidden() {
        assert!(forbidden_host("autodiscover.com.br").is_some());
        assert!(forbidden_host("autodiscover.com").is_some());
        assert!(forbidden_host("autodiscover.co.uk").is_some());
        assert!(forbidden_host("autodiscover.contoso.com").is_none());
    }

    fn trust(override_url: Option<&str>) -> Trust {
        let settings = Settings {
            credential_allow_list: vec!["outlook.office365.com".to_owned()],
            override_url: override_url.map(url),
            ..Settings::default()
        };
        Trust::new(&settings)
    }

    #[test]
    fn credentials_stay_home() {
        let trust = trust(None);
        let refused = |text: &str| trust.refusal(&url(text), "contoso.com");
        assert!(refused("https://autodiscover.contoso.com/x").is_none());
        assert!(refused("https://mail.eu.contoso.com/x").is_none());
        assert!(refused("https://outlook.office365.com/x").is_none());
        assert!(refused("http://autodiscover.contoso.com/x").is_some());
        assert!(refused("https://contoso.com.evil.net/x").is_some());
        assert!(refused("https://evil-contoso.com/x").is_some());
        assert!(refused("https://autodiscover.com/x").is_some());
        assert!(refused("https://office365.com.evil.net/x").is_some());
    }

    #[test]
    fn the_override_origin_is_trusted_and_nothing_beside_it() {
        let trust = trust(Some(
            "https://ad.hosted-mail.net:8443/autodiscover/autodiscover.xml",
        ));
        let refused = |text: &str| trust.refusal(&url(text), "contoso.com");
        assert!(refused("https://ad.hosted-mail.net:8443/autodiscover/autodiscover.xml").is_none());
        assert!(refused("https://AD.hosted-mail.net:8443/autodiscover/autodiscover.svc").is_none());
        // Another port, a sibling, a subdomain, plain HTTP: not what was configured.
        assert!(refused("https://ad.hosted-mail.net/autodiscover/autodiscover.xml").is_some());
        assert!(refused("https://www.hosted-mail.net:8443/x").is_some());
        assert!(refused("https://x.ad.hosted-mail.net:8443/x").is_some());
        assert!(refused("http://ad.hosted-mail.net:8443/x").is_some());
        // The usual rules still hold beside it.
        assert!(refused("https://autodiscover.contoso.com/x").is_none());
        assert!(refused("https://evil.test/x").is_some());
    }

    #[test]
    fn a_plain_http_or_public_suffix_override_gets_nothing() {
        let http = trust(Some(
            "http://ad.hosted-mail.net/autodiscover/autodiscover.xml",
        ));
        let reason = http
            .refusal(
                &url("http://ad.hosted-mail.net/autodiscover/autodiscover.xml"),
                "contoso.com",
            )
            .unwrap_or_default();
        assert!(reason.contains("plain HTTP"), "{reason}");
        let suffix = trust(Some(
            "https://autodiscover.com.br/autodiscover/autodiscover.xml",
        ));
        let reason = suffix
            .refusal(
                &url("https://autodiscover.com.br/autodiscover/autodiscover.xml"),
                "contoso.com",
            )
            .unwrap_or_default();
        assert!(reason.contains("public suffix"), "{reason}");
    }

    #[test]
    fn redirect_targets() {
        assert!(
            redirect_target_refusal(&url(
                "https://autodiscover.contoso.com/autodiscover/autodiscover.xml"
            ))
            .is_none()
        );
        assert!(
            redirect_target_refusal(&url(
                "https://autodiscover-s.outlook.com/Autodiscover/mara@contoso.com/Autodiscover.xml"
            ))
            .is_none()
        );
        assert!(
            redirect_target_refusal(&url(
                "http://autodiscover.contoso.com/autodiscover/autodiscover.xml"
            ))
            .is_some()
        );
        assert!(redirect_target_refusal(&url("https://autodiscover.contoso.com/login")).is_some());
        assert!(
            redirect_target_refusal(&url(
                "https://autodiscover.com.br/autodiscover/autodiscover.xml"
            ))
            .is_some()
        );
    }
}
