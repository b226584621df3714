//! `[tenants.directory]` and `[tenants.follow_me]`: the services a tenant gets automatically,
//! BlackBerry Directory Lookup and BlackBerry Follow-Me.
//!
//! The directory settings are those of the BEMS Dashboard's "User Directory Lookup" page:
//! GAL lookup (here the `ews` backend), LDAP lookup with its server, port, SSL, query
//! template and base DN, and the user id property that merges the hits of both; plus
//! Microsoft Graph for Microsoft 365 tenants, and the bounds this service keeps.
//!
//! ```toml
//! [tenants.directory]
//! backends = ["ews", "ldap"]          # ews | graph | ldap, asked together, merged in this order
//! user_id_property = "alias"          # alias | email
//!
//! [tenants.directory.ldap]
//! servers = ["dc1.contoso.com"]       # host or host:port, asked in order
//! ssl = true                          # LDAPS on 636, checked against the active_directory CA
//! base_dn = ""                        # empty: the directory's default naming context
//! bind_user = 'CONTOSO\svc-bems'      # default: the service account
//! bind_password_env = "CONTOSO_LDAP_PASSWORD"
//! ```

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::list::CommaList;
use super::service::fixed_url;

/// The placeholder of [`LdapDirectorySettings::query_template`] that the user's text replaces,
/// escaped (RFC 4515).
pub const QUERY_KEY: &str = "{key}";

/// BEMS's default LDAP user name query template: `mail`, `name`, `displayName`,
/// `sAMAccountName`, `givenName` and `sn` containing the text, among enabled person objects.
pub const DEFAULT_QUERY_TEMPLATE: &str = "(&(objectCategory=person)(objectClass=user)\
     (!(userAccountControl:1.2.840.113556.1.4.803:=2))\
     (|(mail=*{key}*)(name=*{key}*)(displayName=*{key}*)(sAMAccountName=*{key}*)\
     (givenName=*{key}*)(sn=*{key}*)))";

/// Microsoft Graph's origin, the default of [`GraphDirectorySettings::base_url`].
pub const GRAPH_BASE_URL: &str = "https://graph.microsoft.com";

/// `[tenants.directory]`: BlackBerry Directory Lookup, on by default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectorySettings {
    /// Whether devices may search the directory (on: the tenant gets it automatically).
    pub enabled: bool,
    /// The backends asked, in order of precedence when their hits are merged: `ews` ("Enable
    /// GAL Lookup": `ResolveNames` and `GetUserPhoto` as the caller), `graph` (Microsoft 365's
    /// directory) and `ldap` ("Enable LDAP Lookup"). `["ews"]` by default.
    pub backends: Vec<DirectoryBackendKind>,
    /// "User ID Property Name": what makes two hits the same person.
    pub user_id_property: UserIdProperty,
    /// The most people one search returns, 1-100 (25).
    pub max_results: u32,
    /// The shortest search text, 1-16 characters (2).
    pub min_query_length: u32,
    /// The largest photo served, in bytes, 1 KiB-4 MiB (100 KiB, Active Directory's
    /// `thumbnailPhoto` limit); larger photos are not served.
    pub max_photo_bytes: u32,
    /// How long search results and photos are kept, 0-86400 seconds (300; 0 keeps nothing).
    pub cache_ttl_seconds: u32,
    /// How long one backend may take to answer, 1-120 seconds (10).
    pub timeout_seconds: u32,
    /// The LDAP backend.
    pub ldap: LdapDirectorySettings,
    /// The Microsoft Graph backend.
    pub graph: GraphDirectorySettings,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            backends: vec![DirectoryBackendKind::Ews],
            user_id_property: UserIdProperty::Alias,
            max_results: 25,
            min_query_length: 2,
            max_photo_bytes: 100 * 1024,
            cache_ttl_seconds: 300,
            timeout_seconds: 10,
            ldap: LdapDirectorySettings::default(),
            graph: GraphDirectorySettings::default(),
        }
    }
}

/// A directory backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryBackendKind {
    /// Exchange's address book: EWS `ResolveNames` with contact data, `GetUserPhoto`.
    Ews,
    /// Microsoft Graph: `GET /v1.0/users`, `GET /v1.0/users/{id}/photo/$value`.
    Graph,
    /// An LDAP directory (Active Directory): the query template, `thumbnailPhoto`.
    Ldap,
}

impl DirectoryBackendKind {
    /// The name used in settings and answers (`ews`, `graph`, `ldap`).
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

/// `[tenants.directory.ldap]`: "Enable LDAP Lookup" and its fields.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapDirectorySettings {
    /// The LDAP servers (`dc1.contoso.com`, `dc1.contoso.com:3268`), asked in order until one
    /// answers; a comma-separated string or an array.
    pub servers: CommaList,
    /// The port of servers given without one: 389, or 636 with `ssl`.
    pub port: Option<u16>,
    /// "Enable SSL LDAP": LDAPS, the server's certificate checked against the tenant's
    /// `active_directory` trusted certificates only.
    pub ssl: bool,
    /// "LDAP Base DN"; empty: the server's `defaultNamingContext`, else its first
    /// `namingContexts`.
    pub base_dn: String,
    /// "LDAP User Name Query Template": an LDAP filter in which every `{key}` is replaced by
    /// the user's text, escaped ([`DEFAULT_QUERY_TEMPLATE`] by default).
    pub query_template: String,
    /// The template that finds one person's photo by address: `{key}` is the address
    /// (the default template's person restriction with `mail={key}`).
    pub photo_query_template: String,
    /// Who binds (`DOMAIN\user`, a UPN or a DN); the tenant's service account when not set,
    /// anonymous when there is none.
    pub bind_user: Option<String>,
    /// The bind password, written in the file.
    #[serde(skip_serializing)]
    pub bind_password: Option<SecretString>,
    /// A file holding the bind password.
    pub bind_password_file: Option<PathBuf>,
    /// An environment variable holding the bind password.
    pub bind_password_env: Option<String>,
}

impl Default for LdapDirectorySettings {
    fn default() -> Self {
        Self {
            servers: CommaList::default(),
            port: None,
            ssl: false,
            base_dn: String::new(),
            query_template: DEFAULT_QUERY_TEMPLATE.to_owned(),
            photo_query_template: "(&(objectCategory=person)(objectClass=user)\
                 (!(userAccountControl:1.2.840.113556.1.4.803:=2))(mail={key}))"
                .to_owned(),
            bind_user: None,
            bind_password: None,
            bind_password_file: None,
            bind_password_env: None,
        }
    }
}

impl LdapDirectorySettings {
    /// The port of a server given without one.
    pub fn default_port(&self) -> u16 {
        self.port.unwrap_or(if self.ssl { 636 } else { 389 })
    }
}

/// `[tenants.directory.graph]`: Microsoft 365's directory, with the tenant's modern
/// authentication (a token for Graph instead of Exchange).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphDirectorySettings {
    /// Graph's origin (`https://graph.microsoft.com`; national clouds have their own); the
    /// token is asked for `<base_url>/.default`.
    pub base_url: Url,
}

impl Default for GraphDirectorySettings {
    fn default() -> Self {
        Self {
            base_url: fixed_url(GRAPH_BASE_URL),
        }
    }
}

/// `[tenants.follow_me]`: BlackBerry Follow-Me, the launcher's settings that follow a user
/// from device to device, on by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FollowMeSettings {
    /// Whether users may keep documents.
    pub enabled: bool,
    /// The largest document, 1 byte-1 MiB (64 KiB).
    pub max_document_bytes: u32,
    /// The most documents one user keeps, 1-1000 (64).
    pub max_documents: u32,
}

impl Default for FollowMeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_document_bytes: 64 * 1024,
            max_documents: 64,
        }
    }
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
    }

    #[test]
    fn the_port_follows_ssl_unless_given() {
        let mut ldap = LdapDirectorySettings::default();
        assert_eq!(ldap.default_port(), 389);
        ldap.ssl = true;
        assert_eq!(ldap.default_port(), 636);
        ldap.port = Some(3269);
        assert_eq!(ldap.default_port(), 3269);
    }
}
