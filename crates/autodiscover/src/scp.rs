//! Service connection points in Active Directory (SCP lookup).
//!
//! Exchange publishes its Autodiscover URLs as `serviceConnectionPoint` objects in the
//! configuration naming context of the forest. [`lookup`] asks the configured domain
//! controllers in order, over LDAP, StartTLS or LDAPS:
//!
//! 1. connect (within the timeout), simple bind as the configured user or stay anonymous;
//! 2. read `configurationNamingContext` from the RootDSE;
//! 3. search it for SCPs with either keyword: `77378F46-…` (the binding is an Autodiscover URL)
//!    or `67661d7F-…` (the binding is an LDAP path to search instead);
//! 4. follow a pointer SCP whose `Domain=` keyword is the email's domain (at most 10, never in a
//!    loop); rank the URLs: own `Site=` first, then no site, then other sites; drop duplicates
//!    (case-insensitive) and every URL that is not `https`.
//!
//! The first domain controller that answers decides; one that fails (connection, TLS, bind,
//! timeout) is recorded in the trace and the next one is asked. Nothing here fails: every
//! problem is a trace entry. See Microsoft's
//! [SCP lookup](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-find-autodiscover-endpoints-by-using-scp-lookup-in-exchange).
//!
//! Security: the domain controller's certificate is verified (the configured CAs, plus the
//! system's unless `trusted_ca_only`); a TLS failure happens before the password is sent. The
//! password is sent only in the bind request, and never appears in a trace or log. A simple
//! bind over plain LDAP sends it unencrypted: Active Directory refuses that by default, and the
//! lookup logs a warning. Pointer SCPs naming another server are searched with the same
//! protection and credentials (pointers are written by the forest's administrators).

mod entry;
mod ldap;
mod path;
mod read;
mod tls;
mod walk;

use std::time::Duration;

use secrecy::ExposeSecret;
use url::Url;

use self::ldap::LdapDirectory;
use self::path::{Security, Server};
use crate::settings::ScpSettings;
use crate::trace::{Method, Outcome, TraceEntry};

/// What an SCP lookup found: Autodiscover URLs ranked by site, and the trace of the
/// directory queries.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScpLookup {
    /// POX Autodiscover URLs, best first: own site, then no site, then other sites.
    /// Only `https` URLs; no two equal but for case.
    pub urls: Vec<Url>,
    /// What was asked of which domain controller: one entry per search (target
    /// `ldaps://dc1.corp.example.test:636`, with `/<base DN>` after a pointer), and a
    /// `Refused` entry for each URL not used (plain `http`, not a URL) and each pointer not
    /// followed (a bad path, a loop, past 10 hops).
    pub trace: Vec<TraceEntry>,
}

/// Looks up Autodiscover SCPs for `email`'s domain; failures go into the trace, never an error.
///
/// `timeout` bounds connecting to a domain controller (TLS included) and, separately,
/// everything after it (bind, RootDSE, search) for each search. Runs on the current Tokio
/// runtime, one task per search.
pub async fn lookup(
    settings: &ScpSettings,
    trusted_ca_pem: &[String],
    trusted_ca_only: bool,
    email: &str,
    timeout: Duration,
) -> ScpLookup {
    let mut out = ScpLookup::default();
    let security = if settings.ldaps {
        Security::Ldaps
    } else if settings.starttls {
        Security::StartTls
    } else {
        Security::Plain
    };
    let mut dir = match directory(settings, security, trusted_ca_pem, trusted_ca_only, timeout) {
        Ok(dir) => dir,
        Err(error) => {
            for dc in &settings.domain_controllers {
                let error = format!("not asked: {error}");
                out.trace.push(failed(dc, email, error));
            }
            return out;
        }
    };
    let domain = email
        .rsplit_once('@')
        .map_or("", |(_, domain)| domain.trim().trim_end_matches('.'));
    let site = settings.site.as_deref();
    for dc in &settings.domain_controllers {
        let server = match Server::parse(dc) {
            Ok(server) => server,
            Err(e) => {
                out.trace.push(failed(
                    dc,
                    email,
                    format!("not a domain controller address: {e}"),
                ));
                continue;
            }
        };
        let walk = walk::walk(&mut dir, &server, email, domain, site).await;
        tracing::debug!(dc = %server.url(security), answered = walk.answered, urls = walk.urls.len(), "SCP lookup");
        out.trace.extend(walk.trace);
        if walk.answered {
            out.urls = walk.urls;
            break;
        }
    }
    out
}

/// The directory client for these settings, or why there can be none.
fn directory(
    settings: &ScpSettings,
    security: Security,
    trusted_ca_pem: &[String],
    trusted_ca_only: bool,
    timeout: Duration,
) -> Result<LdapDirectory, String> {
    let password = settings
        .bind_password
        .clone()
        .filter(|p| !p.expose_secret().is_empty());
    let bind = match (settings.bind_user.as_deref().map(str::trim), password) {
        (None | Some(""), None) => None,
        (Some(user), Some(password)) if !user.is_empty() => Some((user.to_owned(), password)),
        // An empty password makes an "unauthenticated bind": anonymous in disguise.
        (Some(_), None) => return Err("bind_user is set without bind_password".into()),
        (_, Some(_)) => return Err("bind_password is set without bind_user".into()),
    };
    if bind.is_some() && security == Security::Plain {
        tracing::warn!(
            "SCP lookup: simple bind over plain LDAP sends the password unencrypted; set ldaps or starttls"
        );
    }
    let tls = if security.is_tls() {
        Some(tls::client_config(trusted_ca_pem, trusted_ca_only)?)
    } else {
        None
    };
    Ok(LdapDirectory::new(security, tls, bind, timeout))
}

fn failed(target: &str, email: &str, error: String) -> TraceEntry {
    TraceEntry::new(
        Method::Scp,
        target,
        email,
        Outcome::Failed { error },
        Duration::ZERO,
    )
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    /// Settings whose domain controllers must never be reached (port 9 is "discard").
    fn settings() -> ScpSettings {
        ScpSettings {
            domain_controllers: vec!["127.0.0.1:9".into(), "[::1]:9".into()],
            bind_user: Some("reader@corp.test".into()),
            bind_password: Some(SecretString::from("Reader-Passw0rd")),
            ..ScpSettings::default()
        }
    }

    async fn errors(settings: &ScpSettings) -> Vec<String> {
        let found = lookup(settings, &[], true, "u@corp.test", Duration::from_secs(1)).await;
        assert!(found.urls.is_empty());
        found
            .trace
            .iter()
            .map(|e| match &e.outcome {
                Outcome::Failed { error } if !e.credentials_sent => {
                    format!("{}: {error}", e.target)
                }
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn debug_does_not_print_the_bind_password() {
        let settings = settings();
        let basic = crate::Basic::new("reader@corp.test", "Reader-Passw0rd");
        let rendered = format!("{settings:?} {settings:#?} {basic:?}");
        assert!(!rendered.contains("Reader-Passw0rd"), "{rendered}");
        assert!(rendered.contains("bind_password: Some("), "{rendered}");
    }

    #[tokio::test]
    async fn a_user_without_a_password_is_not_bound_anonymously() {
        for password in [None, Some(SecretString::from(""))] {
            let settings = ScpSettings {
                bind_password: password,
                ..settings()
            };
            assert_eq!(
                errors(&settings).await,
                [
                    "127.0.0.1:9: not asked: bind_user is set without bind_password",
                    "[::1]:9: not asked: bind_user is set without bind_password",
                ]
            );
        }
        let settings = ScpSettings {
            bind_user: None,
            ..settings()
        };
        assert_eq!(errors(&settings).await.len(), 2);
    }

    #[tokio::test]
    async fn tls_without_a_trusted_ca_asks_no_one() {
        let settings = ScpSettings {
            ldaps: true,
            ..settings()
        };
        let errors = errors(&settings).await;
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0].contains("not asked: trusted_ca_only"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_lookup_can_be_spawned() {
        fn spawnable<T: Send + 'static>(_: impl FnOnce() -> T) {}
        spawnable(|| async {
            let settings = settings();
            lookup(&settings, &[], false, "u@corp.test", Duration::ZERO).await
        });
    }

    #[tokio::test]
    async fn bad_addresses_are_trace_entries() {
        let settings = ScpSettings {
            domain_controllers: vec!["ldaps://dc1".into(), " ".into()],
            ..settings()
        };
        let errors = errors(&settings).await;
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0].starts_with("ldaps://dc1: not a domain controller address"),
            "{errors:?}"
        );
    }
}
