//! What a [`Directory`](crate::Directory) and its backends are configured with: plain values
//! that the application fills from its own settings, and the errors of values that cannot work.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The placeholder of an LDAP query template that the user's text replaces, escaped
/// (RFC 4515).
pub const QUERY_KEY: &str = "{key}";

/// BEMS's default LDAP user name query template: `mail`, `name`, `displayName`,
/// `sAMAccountName`, `givenName` and `sn` containing the text, among enabled person objects.
pub const DEFAULT_QUERY_TEMPLATE: &str = "(&(objectCategory=person)(objectClass=user)\
     (!(userAccountControl:1.2.840.113556.1.4.803:=2))\
     (|(mail=*{key}*)(name=*{key}*)(displayName=*{key}*)(sAMAccountName=*{key}*)\
     (givenName=*{key}*)(sn=*{key}*)))";

/// The default template that finds one person's photo: the default template's person
/// restriction with `mail={key}`, `{key}` being the address.
pub const DEFAULT_PHOTO_QUERY_TEMPLATE: &str = "(&(objectCategory=person)(objectClass=user)\
     (!(userAccountControl:1.2.840.113556.1.4.803:=2))(mail={key}))";

/// A directory's bounds and merge rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectorySettings {
    /// What makes hits of different backends one person (BEMS's "User ID Property Name").
    pub user_id_property: UserIdProperty,
    /// The most people one search returns (25).
    pub max_results: u32,
    /// The shortest search text, in characters (2).
    pub min_query_length: u32,
    /// The largest photo served, in bytes (100 KiB, Active Directory's `thumbnailPhoto`
    /// limit); larger photos are not served.
    pub max_photo_bytes: u32,
    /// How long search results and photos are kept, in seconds (300; 0 keeps nothing).
    pub cache_ttl_seconds: u32,
    /// How long one backend may take to answer, in seconds (10).
    pub timeout_seconds: u32,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        Self {
            user_id_property: UserIdProperty::Alias,
            max_results: 25,
            min_query_length: 2,
            max_photo_bytes: 100 * 1024,
            cache_ttl_seconds: 300,
            timeout_seconds: 10,
        }
    }
}

impl DirectorySettings {
    /// How long one backend may take to answer.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.timeout_seconds))
    }

    /// How long answers are kept.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.cache_ttl_seconds))
    }

    /// The largest photo served, in bytes.
    pub fn max_photo(&self) -> usize {
        usize::try_from(self.max_photo_bytes).unwrap_or(usize::MAX)
    }
}

/// A directory backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BackendKind {
    /// Exchange's address book: EWS `ResolveNames` with contact data, `GetUserPhoto`.
    Ews,
    /// Microsoft Graph: `GET /v1.0/users`, `GET /v1.0/users/{id}/photo/$value`.
    Graph,
    /// An LDAP directory (Active Directory): the query template, `thumbnailPhoto`.
    Ldap,
}

impl BackendKind {
    /// The backend's name in answers and logs (`ews`, `graph`, `ldap`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ews => "ews",
            Self::Graph => "graph",
            Self::Ldap => "ldap",
        }
    }
}

/// "User ID Property Name": the property whose equal values (compared without regard to
/// case) make hits of different backends one person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserIdProperty {
    /// The Exchange alias, BEMS's default: LDAP `mailNickname`, Graph `mailNickname`; EWS
    /// does not return it, and it is taken as the local part of the SMTP address (Exchange's
    /// default alias). A hit without either falls back to its address's local part.
    #[default]
    Alias,
    /// The primary SMTP address: LDAP and Graph `mail`, EWS's mailbox address.
    Email,
}

/// An LDAP directory (Active Directory), as BEMS's "Enable LDAP Lookup" describes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSettings {
    /// The servers (`dc1.contoso.com`, `dc1.contoso.com:3268`, `[::1]:636`), asked in order
    /// until one answers.
    pub servers: Vec<String>,
    /// The port of servers given without one: 389, or 636 with `ssl`, when not set.
    pub port: Option<u16>,
    /// LDAPS, the server's certificate checked against `trusted_ca_pem` only.
    pub ssl: bool,
    /// The certificate authorities (PEM) that LDAPS trusts.
    pub trusted_ca_pem: Vec<String>,
    /// The base DN; empty: the server's `defaultNamingContext`, else its first
    /// `namingContexts`.
    pub base_dn: String,
    /// The search filter, every [`QUERY_KEY`] replaced by the user's text, escaped
    /// ([`DEFAULT_QUERY_TEMPLATE`] by default).
    pub query_template: String,
    /// The filter that finds one person's photo, [`QUERY_KEY`] being the address
    /// ([`DEFAULT_PHOTO_QUERY_TEMPLATE`] by default).
    pub photo_query_template: String,
    /// Who binds (`DOMAIN\user`, a UPN or a DN); anonymous when not set.
    pub bind_user: Option<String>,
    /// The bind password; an empty one binds anonymously.
    #[serde(skip_serializing)]
    pub bind_password: Option<SecretString>,
}

impl Default for LdapSettings {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            port: None,
            ssl: false,
            trusted_ca_pem: Vec::new(),
            base_dn: String::new(),
            query_template: DEFAULT_QUERY_TEMPLATE.to_owned(),
            photo_query_template: DEFAULT_PHOTO_QUERY_TEMPLATE.to_owned(),
            bind_user: None,
            bind_password: None,
        }
    }
}

impl LdapSettings {
    /// The port of a server given without one.
    pub fn default_port(&self) -> u16 {
        self.port.unwrap_or(if self.ssl { 636 } else { 389 })
    }
}

/// Why a backend cannot be set up with its settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No LDAP server is named.
    #[error("no LDAP server is configured")]
    NoLdapServer,
    /// An LDAP server is not `host` or `host:port`.
    #[error("LDAP server {server:?}: {problem}")]
    LdapServer {
        /// The server as given.
        server: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A bind user without its password.
    #[error("the LDAP bind user is set without its password")]
    BindWithoutPassword,
    /// LDAPS without a certificate authority to check the server against.
    #[error("SSL LDAP needs the directory's CA certificate")]
    NoTrustedCa,
    /// A trusted certificate authority could not be read.
    #[error("trusted CA {index}: {source}")]
    TrustedCa {
        /// Its place in [`LdapSettings::trusted_ca_pem`].
        index: usize,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// TLS could not be set up.
    #[error("TLS setup: {source}")]
    Tls {
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_template_asks_bems_attributes_of_enabled_people() {
        let template = DEFAULT_QUERY_TEMPLATE;
        for attribute in [
            "mail",
            "name",
            "displayName",
            "sAMAccountName",
            "givenName",
            "sn",
        ] {
            assert!(
                template.contains(&format!("({attribute}=*{{key}}*)")),
                "{attribute}"
            );
        }
        assert!(template.contains("(!(userAccountControl:1.2.840.113556.1.4.803:=2))"));
        assert!(!template.contains(char::is_whitespace), "{template}");
        assert!(DEFAULT_PHOTO_QUERY_TEMPLATE.ends_with("(mail={key}))"));
        assert!(!DEFAULT_PHOTO_QUERY_TEMPLATE.contains(char::is_whitespace));
    }

    #[test]
    fn the_port_follows_ssl_unless_given() {
        let mut ldap = LdapSettings::default();
        assert_eq!(ldap.default_port(), 389);
        ldap.ssl = true;
        assert_eq!(ldap.default_port(), 636);
        ldap.port = Some(3269);
        assert_eq!(ldap.default_port(), 3269);
    }
}
