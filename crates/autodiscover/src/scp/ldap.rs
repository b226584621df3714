//! The directory over the network, with ldap3: connect (LDAP, StartTLS or LDAPS), simple bind
//! or anonymous, read `configurationNamingContext` from the RootDSE, search for SCPs.
//!
//! Every step has a deadline, and each search runs in a task of its own: ldap3 panics on some
//! malformed answers, and a broken domain controller must become a failed trace entry, not a
//! crashed discovery.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope};
use rustls::ClientConfig;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;

use super::entry::{FILTER, Scp};
use super::path::{Security, Server};
use super::read::{config_nc, scp, search};
use super::walk::{Answer, Directory};

/// Connections to domain controllers, reused by the searches of one lookup.
pub(crate) struct LdapDirectory {
    security: Security,
    tls: Option<Arc<ClientConfig>>,
    bind: Option<(String, SecretString)>,
    timeout: Duration,
    connections: HashMap<String, Connection>,
}

/// An open, bound connection and what was learnt on it.
#[derive(Clone)]
struct Connection {
    ldap: Ldap,
    config_nc: Option<String>,
}

impl LdapDirectory {
    /// A directory client; `tls` must be set unless `security` is plain LDAP.
    pub(crate) fn new(
        security: Security,
        tls: Option<Arc<ClientConfig>>,
        bind: Option<(String, SecretString)>,
        timeout: Duration,
    ) -> Self {
        Self {
            security,
            tls,
            bind,
            timeout,
            connections: HashMap::new(),
        }
    }
}

impl Directory for LdapDirectory {
    fn security(&self) -> Security {
        self.security
    }

    async fn search(&mut self, server: &Server, base: Option<&str>) -> Answer {
        let key = server.key(self.security);
        let reused = self.connections.get(&key).cloned();
        // A reused connection was bound with the password, if there is one.
        let bound_before = reused.is_some() && self.bind.is_some();
        let job = Job {
            url: server.url(self.security),
            security: self.security,
            tls: self.tls.clone(),
            bind: if reused.is_some() {
                None
            } else {
                self.bind.clone()
            },
            timeout: self.timeout,
            base: base.map(str::to_owned),
        };
        let (credentials_sent, result) =
            match AbortOnDrop(tokio::spawn(job.run(reused))).join().await {
                Ok(done) => {
                    if let Some(connection) = done.connection {
                        self.connections.insert(key, connection);
                    }
                    (bound_before || done.password_sent, done.result)
                }
                Err(error) => (
                    self.bind.is_some(),
                    Err(format!(
                        "the LDAP client stopped on a malformed answer ({error})"
                    )),
                ),
            };
        let password = self.bind.as_ref().map(|(_, password)| password);
        Answer {
            result: result.map_err(|e| redact(e, password)),
            credentials_sent,
        }
    }
}

/// One search, run as its own task.
struct Job {
    url: String,
    security: Security,
    tls: Option<Arc<ClientConfig>>,
    /// Set when a new connection must bind with a password.
    bind: Option<(String, SecretString)>,
    timeout: Duration,
    base: Option<String>,
}

/// What a [`Job`] did.
struct Done {
    /// The connection, when worth keeping: bound, and answering.
    connection: Option<Connection>,
    /// Whether this job sent the password (in a bind request).
    password_sent: bool,
    /// The SCPs found, or what failed.
    result: Result<Vec<Scp>, String>,
}

impl Job {
    /// Connects unless `reused`, binds a new connection, finds the base, searches.
    /// Connecting (TLS included) has `timeout`; everything after it has `timeout` again.
    async fn run(self, reused: Option<Connection>) -> Done {
        let mut connection = match reused {
            Some(connection) => connection,
            None => match self.connect().await {
                Ok(connection) => connection,
                Err(e) => {
                    return Done {
                        connection: None,
                        password_sent: false,
                        result: Err(e),
                    };
                }
            },
        };
        let timeout = self.timeout;
        let mut password_sent = false;
        let mut stage = "bind";
        let work = async {
            if let Some((user, password)) = &self.bind {
                password_sent = true;
                let bound = connection
                    .ldap
                    .simple_bind(user, password.expose_secret())
                    .await;
                bound
                    .and_then(|r| r.success())
                    .map_err(|e| Step::Bind(user.clone(), e))?;
            }
            let base = match (&self.base, &connection.config_nc) {
                (Some(base), _) => base.clone(),
                (None, Some(config_nc)) => config_nc.clone(),
                (None, None) => {
                    stage = "RootDSE";
                    let config_nc = config_nc(&mut connection.ldap)
                        .await
                        .map_err(Step::RootDse)?
                        .ok_or(Step::NoConfigNc)?;
                    connection.config_nc = Some(config_nc.clone());
                    config_nc
                }
            };
            stage = "search";
            let attrs = ["keywords", "serviceBindingInformation"];
            let ldap = &mut connection.ldap;
            let entries = search(ldap, &base, Scope::Subtree, FILTER, &attrs)
                .await
                .map_err(Step::Search)?;
            Ok::<_, Step>(entries.iter().map(scp).collect())
        };
        // One deadline for bind, RootDSE and search (ldap3's per-operation ones would restart).
        let outcome = tokio::time::timeout(timeout, work).await;
        let (keep, result) = match outcome {
            Ok(Ok(scps)) => (true, Ok(scps)),
            // The server answered (no such base, say): the connection serves other searches.
            Ok(Err(step @ Step::Search(LdapError::LdapResult { .. }))) => {
                (true, Err(step.to_string()))
            }
            Ok(Err(step)) => (false, Err(step.to_string())),
            Err(_) => (false, Err(format!("{stage}: no answer within {timeout:?}"))),
        };
        Done {
            connection: keep.then_some(connection),
            password_sent,
            result,
        }
    }

    async fn connect(&self) -> Result<Connection, String> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.security == Security::StartTls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .map_err(|e| match e {
                LdapError::Timeout { .. } if self.security.is_tls() => {
                    format!("connect: no TLS connection within {:?}", self.timeout)
                }
                LdapError::Timeout { .. } => {
                    format!("connect: no connection within {:?}", self.timeout)
                }
                e => format!("connect: {e}"),
            })?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        Ok(Connection {
            ldap,
            config_nc: None,
        })
    }
}

/// Where a search failed.
enum Step {
    Bind(String, LdapError),
    RootDse(LdapError),
    NoConfigNc,
    Search(LdapError),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bind(user, e) => write!(f, "bind as {user}: {e}"),
            Self::RootDse(e) => write!(f, "RootDSE: {e}"),
            Self::NoConfigNc => f.write_str("RootDSE: no configurationNamingContext"),
            Self::Search(e) => write!(f, "search: {e}"),
        }
    }
}

/// Error text never holds the password, even if a server echoed it back.
fn redact(error: String, password: Option<&SecretString>) -> String {
    match password.map(ExposeSecret::expose_secret) {
        Some(password) if !password.is_empty() && error.contains(password) => {
            "the directory's error text held the password and is withheld".to_owned()
        }
        _ => error,
    }
}

/// Aborts the task when dropped: a cancelled lookup leaves no search running.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_holding_the_password_is_withheld() {
        let secret = SecretString::from("Hunter2-Secret");
        let echoed = "bind: bad password Hunter2-Secret".to_owned();
        assert!(!redact(echoed, Some(&secret)).contains("Hunter2"));
        let plain = "bind as u@corp.test: rc=49 (invalidCredentials)".to_owned();
        assert_eq!(redact(plain.clone(), Some(&secret)), plain);
        assert_eq!(redact(plain.clone(), Some(&SecretString::from(""))), plain);
        assert_eq!(redact(plain.clone(), None), plain);
    }
}
