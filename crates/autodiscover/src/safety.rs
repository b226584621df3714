//! Where credentials may go, and where nothing may go.
//!
//! The rules, after Guardicore's 2021 "Autodiscovering the Great Leak" and Microsoft's own
//! guidance:
//! - credentials never go over plain HTTP;
//! - credentials go only to hosts in the mailbox domain's registrable domain (by the public
//!   suffix list), or to hosts on the allow-list (Microsoft's Exchange Online hosts by default);
//! - nothing at all goes to `autodiscover.<public suffix>` (`autodiscover.com.br`, ...);
//! - a plain-HTTP redirect is followed only to `https` and an Autodiscover path.

use url::Url;

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

/// Why credentials may not be sent to `url` for a mailbox in `domain`, if so.
pub(crate) fn credential_refusal(url: &Url, domain: &str, allow_list: &[String]) -> Option<String> {
    if url.scheme() != "https" {
        return Some(format!("{url}: credentials never go over plain HTTP"));
    }
    let Some(host) = url.host_str() else {
        return Some(format!("{url}: no host"));
    };
    if let Some(reason) = forbidden_host(host) {
        return Some(reason);
    }
    let host = host.to_ascii_lowercase();
    let allowed = allow_list.iter().any(|entry| {
        let entry = entry.trim_end_matches('.').to_ascii_lowercase();
        host == entry || host.ends_with(&format!(".{entry}"))
    });
    if allowed {
        return None;
    }
    let (mine, theirs) = (registrable(domain), registrable(&host));
    (mine != theirs)
        .then(|| format!("{host} is outside {mine} and not on the credential allow-list"))
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

    #[test]
    fn credentials_stay_home() {
        let allow = vec!["outlook.office365.com".to_owned()];
        assert!(
            credential_refusal(
                &url("https://autodiscover.contoso.com/x"),
                "contoso.com",
                &allow
            )
            .is_none()
        );
        assert!(
            credential_refusal(&url("https://mail.eu.contoso.com/x"), "contoso.com", &allow)
                .is_none()
        );
        assert!(
            credential_refusal(
                &url("https://outlook.office365.com/x"),
                "contoso.com",
                &allow
            )
            .is_none()
        );
        assert!(
            credential_refusal(
                &url("http://autodiscover.contoso.com/x"),
                "contoso.com",
                &allow
            )
            .is_some()
        );
        assert!(
            credential_refusal(
                &url("https://contoso.com.evil.net/x"),
                "contoso.com",
                &allow
            )
            .is_some()
        );
        assert!(
            credential_refusal(&url("https://evil-contoso.com/x"), "contoso.com", &allow).is_some()
        );
        assert!(
            credential_refusal(&url("https://autodiscover.com/x"), "contoso.com", &allow).is_some()
        );
        assert!(
            credential_refusal(
                &url("https://office365.com.evil.net/x"),
                "contoso.com",
                &allow
            )
            .is_some()
        );
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
