//! What one SCP search found: the URL SCPs ranked by site and de-duplicated, the URLs refused,
//! and the pointer SCP to follow (as Exchange's `DirectoryHelper` does; see
//! <https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-find-autodiscover-endpoints-by-using-scp-lookup-in-exchange>).

use url::Url;

/// `keywords` value of an SCP whose `serviceBindingInformation` is an Autodiscover URL.
pub(crate) const URL_GUID: &str = "77378F46-2C66-4aa9-A6A6-3E7A48B19596";
/// `keywords` value of an SCP whose `serviceBindingInformation` is an LDAP path to search instead.
pub(crate) const POINTER_GUID: &str = "67661d7F-8FC4-4fa7-BFAC-E1D7794C1F68";
/// The search filter: either kind of SCP.
pub(crate) const FILTER: &str = "(&(objectClass=serviceConnectionPoint)(|(keywords=67661d7F-8FC4-4fa7-BFAC-E1D7794C1F68)(keywords=77378F46-2C66-4aa9-A6A6-3E7A48B19596)))";

/// How much of a refused value the trace keeps.
const MAX_VALUE_CHARS: usize = 256;

/// The two attributes read from each SCP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scp {
    /// `keywords`: the GUID, `Site=<site>`, `Domain=<domain>`.
    pub(crate) keywords: Vec<String>,
    /// `serviceBindingInformation`: a URL or an LDAP path.
    pub(crate) bindings: Vec<String>,
}

impl Scp {
    fn has_keyword(&self, keyword: &str) -> bool {
        self.keywords
            .iter()
            .any(|k| k.trim().eq_ignore_ascii_case(keyword))
    }

    /// Values of `name=value` keywords (`Site`, `Domain`), the name matched case-insensitively.
    fn keyword_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.keywords.iter().filter_map(move |k| {
            let (key, value) = k.trim().split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// A `serviceBindingInformation` value that is not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The value (shortened).
    pub(crate) value: String,
    /// Why it is not used.
    pub(crate) reason: String,
}

/// The result of one search, sorted out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Level {
    /// `https` Autodiscover URLs, best first: own site, no site, other sites; no duplicates.
    pub(crate) urls: Vec<Url>,
    /// URL SCP values that are not used (plain `http`, not a URL).
    pub(crate) refused: Vec<Refusal>,
    /// The LDAP path of the first pointer SCP for the email's domain (`Domain=<domain>`).
    pub(crate) pointer: Option<String>,
    /// The LDAP path of the first pointer SCP with no `Domain=` keyword at all: followed only
    /// when this level has no URL.
    pub(crate) fallback_pointer: Option<String>,
}

/// Sorts out the SCPs of one search for an address in `domain`, on a host in `site`.
///
/// With no `site`, SCPs without a `Site=` keyword come first and the others follow: a host
/// whose site is unknown still gets URLs (unlike the EWS Managed API).
pub(crate) fn sort_out(scps: &[Scp], domain: &str, site: Option<&str>) -> Level {
    let mut level = Level::default();
    let mut ranked: Vec<(u8, Url)> = Vec::new();
    for scp in scps {
        if scp.has_keyword(POINTER_GUID) {
            let binding = scp.bindings.first().map(|b| b.trim().to_owned());
            let mut domains = scp.keyword_values("Domain").peekable();
            if domains.peek().is_none() {
                if level.fallback_pointer.is_none() {
                    level.fallback_pointer = binding;
                }
            } else if level.pointer.is_none()
                && !domain.is_empty()
                && domains.any(|d| d.trim_end_matches('.').eq_ignore_ascii_case(domain))
            {
                level.pointer = binding;
            }
        }
        if scp.has_keyword(URL_GUID) {
            let priority = site_priority(scp, site);
            for value in &scp.bindings {
                match https_url(value) {
                    Ok(url) => ranked.push((priority, url)),
                    Err(reason) => level.refused.push(Refusal {
                        value: value.trim().chars().take(MAX_VALUE_CHARS).collect(),
                        reason,
                    }),
                }
            }
        }
    }
    ranked.sort_by_key(|(priority, _)| *priority);
    for (_, url) in ranked {
        if !level
            .urls
            .iter()
            .any(|seen| seen.as_str().eq_ignore_ascii_case(url.as_str()))
        {
            level.urls.push(url);
        }
    }
    level
}

/// 1: `Site=<own site>`; 2: no `Site=` keyword; 3: other sites only.
fn site_priority(scp: &Scp, own_site: Option<&str>) -> u8 {
    let mut sites = scp.keyword_values("Site").peekable();
    if sites.peek().is_none() {
        return 2;
    }
    match own_site.map(str::trim).filter(|s| !s.is_empty()) {
        Some(own) if sites.any(|s| s.eq_ignore_ascii_case(own)) => 1,
        _ => 3,
    }
}

/// Only `https` URLs are candidates: credentials never go over plain HTTP.
fn https_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        "http" => Err("plain http: credentials never go over unencrypted HTTP".into()),
        scheme => Err(format!("not an https URL (scheme {scheme})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_scp(url: &str, keywords: &[&str]) -> Scp {
        let mut all = vec![URL_GUID.to_owned()];
        all.extend(keywords.iter().map(|k| (*k).to_owned()));
        Scp {
            keywords: all,
            bindings: vec![url.into()],
        }
    }

    fn pointer(path: &str, keywords: &[&str]) -> Scp {
        let mut all = vec![POINTER_GUID.to_lowercase()];
        all.extend(keywords.iter().map(|k| (*k).to_owned()));
        Scp {
            keywords: all,
            bindings: vec![path.into()],
        }
    }

    fn urls(level: &Level) -> Vec<&str> {
        level.urls.iter().map(Url::as_str).collect()
    }

    fn sample() -> Vec<Scp> {
        vec![
            url_scp("https://other.test/a", &["Site=Branch"]),
            url_scp("https://nosite.test/a", &[]),
            url_scp("https://own.test/a", &["Site=HQ"]),
            url_scp("https://both.test/a", &["Site=Branch", "site=hq"]),
        ]
    }

    #[test]
    fn own_site_then_no_site_then_other_sites() {
        let level = sort_out(&sample(), "corp.test", Some("hq"));
        assert_eq!(
            urls(&level),
            [
                "https://own.test/a",
                "https://both.test/a",
                "https://nosite.test/a",
                "https://other.test/a"
            ]
        );
        let level = sort_out(&sample(), "corp.test", Some("Branch"));
        assert_eq!(
            urls(&level),
            [
                "https://other.test/a",
                "https://both.test/a",
                "https://nosite.test/a",
                "https://own.test/a"
            ]
        );
    }

    #[test]
    fn an_unknown_site_still_gives_urls() {
        for site in [None, Some(""), Some("Elsewhere")] {
            let level = sort_out(&sample(), "corp.test", site);
            assert_eq!(
                urls(&level),
                [
                    "https://nosite.test/a",
                    "https://other.test/a",
                    "https://own.test/a",
                    "https://both.test/a"
                ],
                "site {site:?}"
            );
        }
    }

    #[test]
    fn duplicates_differing_in_case_keep_the_best_rank() {
        let scps = vec![
            url_scp(
                "HTTPS://MAIL.corp.test/Autodiscover/Autodiscover.xml",
                &["Site=Branch"],
            ),
            url_scp(
                "https://mail.corp.test/autodiscover/autodiscover.xml",
                &["Site=HQ"],
            ),
            url_scp("https://mail.corp.test/AUTODISCOVER/autodiscover.xml", &[]),
        ];
        let level = sort_out(&scps, "corp.test", Some("HQ"));
        assert_eq!(
            urls(&level),
            ["https://mail.corp.test/autodiscover/autodiscover.xml"]
        );
    }

    #[test]
    fn only_https_urls_are_kept() {
        let scps = vec![
            url_scp(
                "http://legacy.corp.test/Autodiscover/Autodiscover.xml",
                &["Site=HQ"],
            ),
            url_scp("ftp://files.corp.test/", &[]),
            url_scp("not a url", &[]),
            url_scp("https://ok.corp.test/Autodiscover/Autodiscover.xml", &[]),
        ];
        let level = sort_out(&scps, "corp.test", Some("HQ"));
        assert_eq!(
            urls(&level),
            ["https://ok.corp.test/Autodiscover/Autodiscover.xml"]
        );
        let refused: Vec<_> = level.refused.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(
            refused,
            [
                "http://legacy.corp.test/Autodiscover/Autodiscover.xml",
                "ftp://files.corp.test/",
                "not a url"
            ]
        );
        assert!(level.refused[0].reason.contains("plain http"));
    }

    #[test]
    fn the_pointer_for_the_domain_is_chosen() {
        let scps = vec![
            pointer("LDAP://dc.other.test", &["Domain=other.test"]),
            pointer(
                "LDAP://dc.fabrikam.test",
                &["Domain=other2.test", "domain=FABRIKAM.test"],
            ),
            pointer("LDAP://dc.second.test", &["Domain=fabrikam.test"]),
            pointer("LDAP://dc.any.test", &[]),
        ];
        let level = sort_out(&scps, "fabrikam.test", None);
        assert_eq!(level.pointer.as_deref(), Some("LDAP://dc.fabrikam.test"));
        assert_eq!(
            level.fallback_pointer.as_deref(),
            Some("LDAP://dc.any.test")
        );
        let level = sort_out(&scps, "nowhere.test", None);
        assert_eq!(level.pointer, None);
        let level = sort_out(&scps, "", None);
        assert_eq!(level.pointer, None);
    }

    #[test]
    fn pointers_are_not_urls_and_urls_are_not_pointers() {
        let scps = vec![
            pointer("https://looks.like/a/url", &["Domain=corp.test"]),
            url_scp("LDAP://CN=x,DC=y", &["Domain=corp.test"]),
        ];
        let level = sort_out(&scps, "corp.test", None);
        assert!(level.urls.is_empty());
        assert_eq!(level.pointer.as_deref(), Some("https://looks.like/a/url"));
        assert_eq!(level.refused.len(), 1);
    }

    #[test]
    fn refused_values_are_shortened() {
        let long = format!("http://{}.test/", "a".repeat(1000));
        let level = sort_out(&[url_scp(&long, &[])], "corp.test", None);
        assert_eq!(level.refused[0].value.chars().count(), MAX_VALUE_CHARS);
    }
}
