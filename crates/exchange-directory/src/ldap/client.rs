//! The LDAP connection, with ldap3, as `autodiscover`'s SCP lookup makes it: LDAP or LDAPS
//! (the server's certificate checked against the configured CAs only), simple bind or
//! anonymous, the base DN from the RootDSE when none is configured. One bound connection is
//! kept and shared; when it fails, the servers are asked again in order.
//!
//! Every step has a deadline and runs in a task of its own: ldap3 panics on some malformed
//! answers, and a broken server must become an error, not a crashed request. The bind
//! password is sent only in the bind request and never appears in an error or a log.

use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::EntriesOnly;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchOptions};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::task::{JoinError, JoinHandle};

use super::entry::Entry;
use crate::ConfigError;

/// Why the directory could not be searched; the text never holds the bind password (see
/// [`Client::redact`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// The connection could not be made.
    #[error("connect: {0}")]
    Connect(#[source] LdapError),
    /// The bind was refused.
    #[error("bind as {user}: {source}")]
    Bind { user: String, source: LdapError },
    /// The RootDSE could not be read.
    #[error("RootDSE: {0}")]
    RootDse(#[source] LdapError),
    /// The RootDSE names no base DN.
    #[error("RootDSE: no defaultNamingContext or namingContexts")]
    NoNamingContext,
    /// Binding and reading the RootDSE took too long.
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
    /// The search failed.
    #[error("search: {0}")]
    Search(#[source] LdapError),
    /// The search took too long.
    #[error("search: no answer within {0:?}")]
    SearchTimeout(Duration),
    /// ldap3 panicked on a malformed answer.
    #[error("the LDAP client stopped on a malformed answer ({0})")]
    Stopped(#[source] JoinError),
    /// No server could be used: each, and why.
    #[error("{}", servers(.0))]
    Servers(Vec<(String, Self)>),
    /// The error's text held the bind password.
    #[error("the directory's error text held the password and is withheld")]
    Withheld,
}

fn servers(errors: &[(String, ClientError)]) -> String {
    let each: Vec<String> = errors
        .iter()
        .map(|(url, e)| format!("{url}: {e}"))
        .collect();
    each.join("; ")
}

/// A bound connection and the base DN found on it.
#[derive(Clone)]
struct Open {
    ldap: Ldap,
    base: String,
    generation: u64,
}

/// The servers, asked in order, and the connection in use.
pub(crate) struct Client {
    urls: Vec<String>,
    tls: Option<Arc<ClientConfig>>,
    bind: Option<(String, SecretString)>,
    base_dn: Option<String>,
    timeout: Duration,
    open: Mutex<(Option<Open>, u64)>,
}

impl Client {
    /// A client for `urls` (`ldap://` or `ldaps://`, all one kind); `tls` is required for
    /// `ldaps://`.
    pub(crate) fn new(
        urls: Vec<String>,
        tls: Option<Arc<ClientConfig>>,
        bind: Option<(String, SecretString)>,
        base_dn: Option<String>,
        timeout: Duration,
    ) -> Self {
        if bind.is_some() && tls.is_none() {
            tracing::warn!(
                "directory LDAP: simple bind over plain LDAP sends the password unencrypted; \
                 enable SSL LDAP"
            );
        }
        Self {
            urls,
            tls,
            bind,
            base_dn: base_dn.filter(|b| !b.trim().is_empty()),
            timeout,
            open: Mutex::new((None, 0)),
        }
    }

    /// At most `limit` entries matching `filter` (already escaped) under the base DN, each
    /// with `attrs`. A kept connection that fails (the server restarted) is replaced once.
    pub(crate) async fn search(
        &self,
        filter: String,
        attrs: &'static [&'static str],
        limit: usize,
    ) -> Result<Vec<Entry>, ClientError> {
        loop {
            let (open, fresh) = self.connection().await?;
            let job = search(
                open.ldap.clone(),
                open.base.clone(),
                filter.clone(),
                attrs,
                limit,
                self.timeout,
            );
            let ran = tokio::time::timeout(self.timeout, AbortOnDrop(tokio::spawn(job)).join());
            let error = match ran.await {
                Ok(Ok(Ok(entries))) => return Ok(entries),
                // The server answered: the connection serves other searches.
                Ok(Ok(Err(error @ LdapError::LdapResult { .. }))) => {
                    return Err(self.redact(ClientError::Search(error)));
                }
                Ok(Ok(Err(error))) => ClientError::Search(error),
                Ok(Err(panicked)) => ClientError::Stopped(panicked),
                Err(_) => ClientError::SearchTimeout(self.timeout),
            };
            self.forget(open.generation).await;
            if fresh {
                return Err(self.redact(error));
            }
            tracing::debug!(error = %self.redact(error), "kept LDAP connection failed; connecting again");
        }
    }

    async fn forget(&self, generation: u64) {
        let mut open = self.open.lock().await;
        if open.0.as_ref().is_some_and(|o| o.generation == generation) {
            open.0 = None;
        }
    }

    /// The open connection (`false`), or a new one to the first server that binds (`true`).
    async fn connection(&self) -> Result<(Open, bool), ClientError> {
        let mut open = self.open.lock().await;
        if let Some(connection) = &open.0 {
            return Ok((connection.clone(), false));
        }
        let mut errors = Vec::new();
        for url in &self.urls {
            let job = connect(
                url.clone(),
                self.tls.clone(),
                self.bind.clone(),
                self.base_dn.clone(),
                self.timeout,
            );
            let result = match AbortOnDrop(tokio::spawn(job)).join().await {
                Ok(result) => result,
                Err(panicked) => Err(ClientError::Stopped(panicked)),
            };
            match result {
                Ok((ldap, base)) => {
                    open.1 += 1;
                    let connection = Open {
                        ldap,
                        base,
                        generation: open.1,
                    };
                    open.0 = Some(connection.clone());
                    return Ok((connection, true));
                }
                Err(error) => {
                    let error = self.redact(error);
                    tracing::info!(%url, %error, "LDAP server not used");
                    errors.push((url.clone(), error));
                }
            }
        }
        Err(ClientError::Servers(errors))
    }

    /// Error text never holds the password, even if a server echoed it back.
    fn redact(&self, error: ClientError) -> ClientError {
        match self.bind.as_ref().map(|(_, p)| p.expose_secret()) {
            Some(password) if !password.is_empty() && error.to_string().contains(password) => {
                ClientError::Withheld
            }
            _ => error,
        }
    }
}

/// Connects, binds and finds the base DN, all within `timeout` each.
async fn connect(
    url: String,
    tls: Option<Arc<ClientConfig>>,
    bind: Option<(String, SecretString)>,
    base_dn: Option<String>,
    timeout: Duration,
) -> Result<(Ldap, String), ClientError> {
    let mut settings = LdapConnSettings::new().set_conn_timeout(timeout);
    if let Some(tls) = tls {
        settings = settings.set_config(tls);
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &url)
        .await
        .map_err(ClientError::Connect)?;
    tokio::spawn(async move {
        if let Err(error) = conn.drive().await {
            tracing::debug!(%error, "directory LDAP connection ended");
        }
    });
    let work = async {
        if let Some((user, password)) = &bind {
            ldap.simple_bind(user, password.expose_secret())
                .await
                .and_then(|r| r.success())
                .map_err(|source| ClientError::Bind {
                    user: user.clone(),
                    source,
                })?;
        }
        let base = match base_dn {
            Some(base) => base,
            None => naming_context(&mut ldap)
                .await
                .map_err(ClientError::RootDse)?
                .ok_or(ClientError::NoNamingContext)?,
        };
        Ok::<_, ClientError>(base)
    };
    let base = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ClientError::NoAnswer(timeout))??;
    Ok((ldap, base))
}

/// The RootDSE's `defaultNamingContext`, else its first `namingContexts`.
async fn naming_context(ldap: &mut Ldap) -> Result<Option<String>, LdapError> {
    const ATTRS: &[&str] = &["defaultNamingContext", "namingContexts"];
    let entries = search(
        ldap.clone(),
        String::new(),
        "(objectClass=*)".into(),
        ATTRS,
        1,
        Duration::ZERO,
    )
    .await?;
    let Some(root) = entries.first() else {
        return Ok(None);
    };
    Ok(root
        .text("defaultNamingContext")
        .or_else(|| root.text("namingContexts")))
}

/// One search: entries only (continuation references skipped), at most `limit`.
async fn search(
    mut ldap: Ldap,
    base: String,
    filter: String,
    attrs: &'static [&'static str],
    limit: usize,
    timeout: Duration,
) -> Result<Vec<Entry>, LdapError> {
    let (scope, limit) = if base.is_empty() {
        (Scope::Base, 1)
    } else {
        (Scope::Subtree, limit.max(1))
    };
    let seconds = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
    let options = SearchOptions::new()
        .sizelimit(i32::try_from(limit).unwrap_or(i32::MAX))
        .timelimit(seconds);
    let mut stream = ldap
        .with_search_options(options)
        .streaming_search_with(EntriesOnly::new(), &base, scope, &filter, attrs.to_vec())
        .await?;
    let mut entries = Vec::new();
    while let Some(entry) = stream.next().await? {
        match Entry::parse(entry.0) {
            Some(entry) => entries.push(entry),
            None => tracing::debug!("skipping a malformed search result entry"),
        }
        if entries.len() == limit {
            let id = stream.ldap_handle().last_id();
            // Best effort: what still comes for this search is dropped anyway.
            let _ = stream.ldap_handle().abandon(id).await;
            return Ok(entries);
        }
    }
    let done = stream.finish().await;
    // 4: sizeLimitExceeded keeps what came; 10: a referral is skipped, not an error.
    match done.rc {
        0 | 4 | 10 => Ok(entries),
        _ => Err(LdapError::LdapResult { result: done }),
    }
}

/// The TLS configuration for LDAPS: TLS 1.2 or 1.3, only the given CAs trusted.
pub(crate) fn tls_config(trusted_ca_pem: &[String]) -> Result<Arc<ClientConfig>, ConfigError> {
    let mut roots = RootCertStore::empty();
    for (index, pem) in trusted_ca_pem.iter().enumerate() {
        let unreadable = |source: Box<dyn std::error::Error + Send + Sync>| {
            ConfigError::TrustedCa { index, source }
        };
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| unreadable(e.into()))?;
            roots.add(cert).map_err(|e| unreadable(e.into()))?;
        }
    }
    if roots.is_empty() {
        return Err(ConfigError::NoTrustedCa);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ConfigError::Tls { source: e.into() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Aborts the task when dropped: a cancelled request leaves nothing running.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
