//! Shapes of values: host names, addresses, GUIDs, URLs, PEM certificates.

use std::net::{IpAddr, Ipv6Addr};

use base64::Engine as _;
use url::Url;

/// A DNS host name: dot-separated labels of letters, digits and inner hyphens, at most 253
/// characters.
pub fn is_host_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A domain controller: `host`, `host:port`, an IP address, `[v6]` or `[v6]:port`.
pub(super) fn check_host_port(text: &str) -> Result<(), String> {
    if text.contains("://") {
        return Err(format!("{text:?} is a URL: give host or host:port"));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(format!("{text:?} lacks the closing ']'"));
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{text:?} is not an IPv6 address in brackets"));
        }
        match after {
            "" => return Ok(()),
            _ => match after.strip_prefix(':') {
                Some(port) => (v6, port),
                None => return Err(format!("{text:?} has something after ']'")),
            },
        }
    } else if text.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, port),
            None => (text, "389"),
        }
    };
    if !(host.parse::<IpAddr>().is_ok() || is_host_name(host)) {
        return Err(format!("{host:?} is not a host name"));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err(format!("{port:?} is not a port (1-65535)")),
    }
}

/// An email address: `local@domain`, the domain a host name with a dot.
pub(super) fn is_address(text: &str) -> bool {
    match text.rsplit_once('@') {
        Some((local, domain)) => {
            (1..=64).contains(&local.len())
                && !local.contains(['@', '"', '<', '>', ',', ';'])
                && !local.chars().any(|c| c.is_whitespace() || c.is_control())
                && domain.contains('.')
                && is_host_name(domain)
        }
        None => false,
    }
}

/// A GUID in its usual form: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal.
pub(super) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An `https` URL with a host, without credentials or a fragment.
pub(super) fn check_https(url: &Url) -> Result<(), String> {
    if url.scheme() != "https" {
        return Err(format!("{url} must be an https URL"));
    }
    check_plain(url)
}

/// A URL with a host, without credentials or a fragment.
pub(super) fn check_plain(url: &Url) -> Result<(), String> {
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries credentials (they would be logged): remove them".into());
    }
    if url.fragment().is_some() {
        return Err(format!("{url} has a fragment (#...)"));
    }
    Ok(())
}

/// An origin-like URL: `https://host[:port]`, no path, query or fragment.
pub(super) fn check_https_origin(url: &Url) -> Result<(), String> {
    check_https(url)?;
    if url.path() != "/" || url.query().is_some() {
        return Err(format!(
            "{url} must be just https://host, without a path or query"
        ));
    }
    Ok(())
}

/// PEM text with at least one certificate, each one's body base64; returns their number.
pub(super) fn count_pem_certificates(text: &str) -> Result<usize, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut count = 0;
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(end) = after.find(END) else {
            return Err(format!("certificate {} has no {END} line", count + 1));
        };
        let body: String = after[..end].split_whitespace().collect();
        if body.is_empty()
            || base64::engine::general_purpose::STANDARD
                .decode(&body)
                .is_err()
        {
            return Err(format!("certificate {} is not base64", count + 1));
        }
        count += 1;
        rest = &after[end + END.len()..];
    }
    if count == 0 {
        return Err(format!("holds no PEM certificate ({BEGIN})"));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_and_domain_controllers() {
        for good in ["dc1", "dc1.corp.example.com", "a-b.example", "10.0.0.1"] {
            assert!(check_host_port(good).is_ok(), "{good}");
        }
        for good in [
            "dc1.example.com:636",
            "[::1]",
            "[::1]:3636",
            "::1",
            "10.0.0.1:389",
        ] {
            assert!(check_host_port(good).is_ok(), "{good}");
        }
        for bad in [
            "-dc1.example.com",
            "dc_1.example.com",
            "dc1..example.com",
            "dc1.example.com.",
            "ldap://dc1.example.com",
            "dc1 .example.com",
            "dc1:0",
            "dc1:65536",
            "dc1:ldap",
            "[::1",
            "[dc1]:389",
            "[::1]x",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
        assert!(!is_host_name(&format!("{}.com", "a".repeat(64))));
    }

    #[test]
    fn addresses_and_guids() {
        assert!(is_address("alice@contoso.com"));
        assert!(is_address("first.last+tag@mail.contoso.co.uk"));
        for bad in [
            "alice",
            "alice@contoso",
            "@contoso.com",
            "a b@contoso.com",
            "a@b@c.com",
        ] {
            assert!(!is_address(bad), "{bad}");
        }
        assert!(is_guid("1b730954-1685-4b74-9bfd-dac224a7b894"));
        assert!(is_guid("1B730954-1685-4B74-9BFD-DAC224A7B894"));
        for bad in [
            "1b730954168548749bfddac224a7b894",
            "{1b730954-1685-4b74-9bfd-dac224a7b894}",
            "1b730954-1685-4b74-9bfd-dac224a7b89",
            "1b730954-1685-4b74-9bfd-dac224a7b89g",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
    }

    #[test]
    fn urls_by_rule() {
        let url = |s: &str| Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(
            check_https(&url(
                "https://autodiscover.contoso.com/autodiscover/autodiscover.xml"
            ))
            .is_ok()
        );
        assert!(check_https(&url("http://autodiscover.contoso.com/")).is_err());
        assert!(check_https(&url("https://user:pw@contoso.com/")).is_err());
        assert!(check_https_origin(&url("https://outlook.office365.com")).is_ok());
        assert!(check_https_origin(&url("https://outlook.office365.com/ews")).is_err());
        assert!(check_plain(&url("socks5://10.0.0.5:1080")).is_ok());
    }

    #[test]
    fn pem_certificates_are_counted() {
        let one = "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n";
        assert_eq!(count_pem_certificates(one), Ok(1));
        assert_eq!(count_pem_certificates(&format!("{one}{one}")), Ok(2));
        assert!(count_pem_certificates("not a certificate").is_err());
        assert!(count_pem_certificates("-----BEGIN CERTIFICATE-----\nTUlJQg==\n").is_err());
        assert!(count_pem_certificates(&one.replace("TUlJQg==", "!!")).is_err());
    }
}
