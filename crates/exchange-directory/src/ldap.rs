//! The LDAP backend ("Enable LDAP Lookup"), as BEMS offers it: a server on port 389, or 636
//! with SSL and the trusted CA; the "LDAP User Name Query Template" with the user's text,
//! escaped (RFC 4515), for every `{key}`; the base DN from the RootDSE when empty; photos from
//! `thumbnailPhoto`.

mod client;
mod entry;
mod filter;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use self::client::{Client, tls_config};
use self::entry::PERSON_ATTRIBUTES;
use self::filter::render;
use super::{BackendKind, DirectoryBackend, DirectoryError, Hit, SearchQuery};
use crate::{ConfigError, DirectorySettings, LdapSettings};

const KIND: BackendKind = BackendKind::Ldap;
const PHOTO_ATTRIBUTES: &[&str] = &["mail", "thumbnailPhoto"];

/// An LDAP directory (Active Directory).
pub struct LdapDirectory {
    client: Client,
    query_template: String,
    photo_query_template: String,
    max_photo: usize,
}

impl std::fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapDirectory")
            .field("query_template", &self.query_template)
            .finish_non_exhaustive()
    }
}

/// `ldap://host:port` or `ldaps://host:port` for `server` (`host`, `host:port`, `[v6]:port`,
/// an IPv6 address).
fn server_url(server: &str, ssl: bool, default_port: u16) -> Result<String, ConfigError> {
    let scheme = if ssl { "ldaps" } else { "ldap" };
    let server = server.trim();
    let refused = |problem| ConfigError::LdapServer {
        server: server.to_owned(),
        problem,
    };
    if server.contains("://") || server.is_empty() || server.contains('/') {
        return Err(refused("not host or host:port"));
    }
    let (host, port) = if let Some(rest) = server.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| refused("lacks the closing ']'"))?;
        (format!("[{v6}]"), after.strip_prefix(':'))
    } else if server.matches(':').count() > 1 {
        (format!("[{server}]"), None)
    } else {
        match server.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (server.to_owned(), None),
        }
    };
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| refused("the port is not 1-65535"))?,
        None => default_port,
    };
    Ok(format!("{scheme}://{host}:{port}"))
}

impl LdapDirectory {
    /// The backend `ldap` describes, within `directory`'s timeout and photo bound; binds as
    /// `bind_user` (anonymously without one, or with an empty password).
    pub fn new(ldap: &LdapSettings, directory: &DirectorySettings) -> Result<Self, ConfigError> {
        let urls = ldap
            .servers
            .iter()
            .map(|s| server_url(s, ldap.ssl, ldap.default_port()))
            .collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Err(ConfigError::NoLdapServer);
        }
        let tls = if ldap.ssl {
            Some(tls_config(&ldap.trusted_ca_pem)?)
        } else {
            None
        };
        let bind = match (&ldap.bind_user, &ldap.bind_password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (Some(_), None) => return Err(ConfigError::BindWithoutPassword),
            (None, _) => None,
        };
        let bind = bind
            .filter(|(_, password): &(String, SecretString)| !password.expose_secret().is_empty());
        let base = Some(ldap.base_dn.trim().to_owned());
        Ok(Self {
            client: Client::new(urls, tls, bind, base, directory.timeout()),
            query_template: ldap.query_template.clone(),
            photo_query_template: ldap.photo_query_template.clone(),
            max_photo: directory.max_photo(),
        })
    }

    /// The filter a search for `query` sends.
    pub fn filter(&self, query: &SearchQuery) -> String {
        render(&self.query_template, query.as_str())
    }
}

#[async_trait]
impl DirectoryBackend for LdapDirectory {
    fn kind(&self) -> BackendKind {
        KIND
    }

    async fn search(
        &self,
        _caller: &str,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<Hit>, DirectoryError> {
        let entries = self
            .client
            .search(self.filter(query), &PERSON_ATTRIBUTES, limit)
            .await
            .map_err(|e| DirectoryError::unavailable(KIND, e.to_string()))?;
        Ok(entries
            .iter()
            .filter_map(|entry| entry.hit(self.max_photo))
            .collect())
    }

    async fn photo(
        &self,
        _caller: &str,
        address: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, DirectoryError> {
        let filter = render(&self.photo_query_template, address);
        let entries = self
            .client
            .search(filter, PHOTO_ATTRIBUTES, 1)
            .await
            .map_err(|e| DirectoryError::unavailable(KIND, e.to_string()))?;
        Ok(entries
            .first()
            .and_then(|entry| entry.bytes("thumbnailPhoto"))
            .filter(|photo| !photo.is_empty() && photo.len() <= max_bytes)
            .map(<[u8]>::to_vec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_become_urls_with_the_default_port() {
        let url = |s, ssl, port| server_url(s, ssl, port).ok();
        assert_eq!(
            url("dc1.corp.test", false, 389).as_deref(),
            Some("ldap://dc1.corp.test:389")
        );
        assert_eq!(
            url("dc1.corp.test", true, 636).as_deref(),
            Some("ldaps://dc1.corp.test:636")
        );
        assert_eq!(
            url("127.0.0.1:3268", false, 389).as_deref(),
            Some("ldap://127.0.0.1:3268")
        );
        assert_eq!(
            url("[::1]:636", true, 636).as_deref(),
            Some("ldaps://[::1]:636")
        );
        assert_eq!(url("::1", false, 389).as_deref(), Some("ldap://[::1]:389"));
        for bad in ["ldap://dc1", "dc1:0", "dc1:x", "", "dc1/x"] {
            assert!(url(bad, false, 389).is_none(), "{bad:?}");
        }
    }
}
