//! Where to ask: domain controller addresses from the settings, and the LDAP paths of pointer
//! SCPs (`LDAP://host/DN`, `LDAP://DN`, `LDAP://host`).

use std::fmt;
use std::net::Ipv6Addr;

/// How the LDAP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// Plain LDAP (port 389).
    Plain,
    /// LDAP (port 389), then the StartTLS extended operation.
    StartTls,
    /// LDAP over TLS (port 636).
    Ldaps,
}

impl Security {
    /// The URL scheme ldap3 connects with (StartTLS is a connection setting on `ldap://`).
    pub(crate) fn scheme(self) -> &'static str {
        match self {
            Self::Plain | Self::StartTls => "ldap",
            Self::Ldaps => "ldaps",
        }
    }

    /// The port used when none is given.
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Self::Plain | Self::StartTls => 389,
            Self::Ldaps => 636,
        }
    }

    /// Whether TLS protects the connection.
    pub(crate) fn is_tls(self) -> bool {
        self != Self::Plain
    }
}

/// An LDAP server: a host name or IP address (IPv6 without brackets) and maybe a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Server {
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
}

impl Server {
    /// Parses `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty".into());
        }
        if text.contains("://") {
            return Err(format!("{text:?} is a URL; give host or host:port"));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: missing ']'"))?;
            host.parse::<Ipv6Addr>()
                .map_err(|_| format!("{text:?}: not an IPv6 address in brackets"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("{text:?}: junk after ']'")),
                },
            }
        } else if text.matches(':').count() > 1 {
            text.parse::<Ipv6Addr>()
                .map_err(|_| format!("{text:?}: not host:port nor an IPv6 address"))?;
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/?#@[]\\".contains(c))
        {
            return Err(format!("{text:?}: not a host name"));
        }
        let port = match port {
            None => None,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port != 0 => Some(port),
                _ => return Err(format!("{text:?}: bad port")),
            },
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The URL ldap3 connects to, which is also the trace target: `ldaps://dc1:636`.
    pub(crate) fn url(&self, security: Security) -> String {
        let port = self.port.unwrap_or(security.default_port());
        if self.host.contains(':') {
            format!("{}://[{}]:{port}", security.scheme(), self.host)
        } else {
            format!("{}://{}:{port}", security.scheme(), self.host)
        }
    }

    /// Identity for loop detection and connection reuse (host names are case-insensitive).
    pub(crate) fn key(&self, security: Security) -> String {
        self.url(security).to_ascii_lowercase()
    }
}

/// Where a pointer SCP sends the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pointer {
    /// Another server, or `None` for the server that returned the pointer (`LDAP://DN`).
    pub(crate) server: Option<Server>,
    /// Where to search, or `None` for that server's configuration naming context
    /// (`LDAP://host`, as Exchange's own lookup restarts at `<path>/RootDSE`).
    pub(crate) base: Option<String>,
}

impl Pointer {
    /// Parses the ADSI path of a pointer SCP's `serviceBindingInformation`.
    ///
    /// The first segment is a server unless it holds a `=` (then the whole path is a DN).
    /// ADSI escapes a `/` inside the DN as `\/`.
    pub(crate) fn parse(path: &str) -> Result<Self, String> {
        let path = path.trim();
        let rest = match path.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("LDAP://") => &path[7..],
            _ => return Err("not an LDAP:// path".into()),
        };
        let first_slash = first_unescaped_slash(rest);
        let head = &rest[..first_slash.unwrap_or(rest.len())];
        if head.contains('=') {
            return Ok(Self {
                server: None,
                base: Some(unescape_dn(rest)),
            });
        }
        let server = Server::parse(head).map_err(|e| format!("bad server in LDAP path: {e}"))?;
        let base = first_slash
            .map(|i| unescape_dn(&rest[i + 1..]))
            .filter(|dn| !dn.is_empty());
        Ok(Self {
            server: Some(server),
            base,
        })
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LDAP://")?;
        if let Some(server) = &self.server {
            f.write_str(&server.host)?;
            if let Some(port) = server.port {
                write!(f, ":{port}")?;
            }
            if self.base.is_some() {
                f.write_str("/")?;
            }
        }
        f.write_str(self.base.as_deref().unwrap_or(""))
    }
}

fn first_unescaped_slash(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b'/' && (i == 0 || bytes[i - 1] != b'\\'))
}

fn unescape_dn(dn: &str) -> String {
    dn.trim().replace("\\/", "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, port: Option<u16>) -> Server {
        Server {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn domain_controllers_parse() {
        assert_eq!(
            Server::parse("dc1.corp.example.test"),
            Ok(server("dc1.corp.example.test", None))
        );
        assert_eq!(Server::parse(" dc1:3389 "), Ok(server("dc1", Some(3389))));
        assert_eq!(
            Server::parse("127.0.0.1:636"),
            Ok(server("127.0.0.1", Some(636)))
        );
        assert_eq!(Server::parse("[::1]"), Ok(server("::1", None)));
        assert_eq!(Server::parse("[::1]:636"), Ok(server("::1", Some(636))));
        assert_eq!(Server::parse("fe80::1"), Ok(server("fe80::1", None)));
        for bad in [
            "",
            "ldap://dc1",
            "dc1:0",
            "dc1:x",
            "dc1:70000",
            "[::1",
            "[dc1]",
            "a b",
            "u@dc1",
            ":389",
            "dc1/x",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn urls_carry_scheme_and_port() {
        assert_eq!(server("dc1", None).url(Security::Ldaps), "ldaps://dc1:636");
        assert_eq!(
            server("dc1", None).url(Security::StartTls),
            "ldap://dc1:389"
        );
        assert_eq!(
            server("dc1", Some(3268)).url(Security::Plain),
            "ldap://dc1:3268"
        );
        assert_eq!(server("::1", None).url(Security::Plain), "ldap://[::1]:389");
        assert_eq!(
            server("DC1", None).key(Security::Plain),
            server("dc1", Some(389)).key(Security::Plain)
        );
    }

    #[test]
    fn pointer_paths_parse() {
        let dn = "CN=Fabrikam Exchange,DC=corp,DC=example,DC=test";
        assert_eq!(
            Pointer::parse(&format!("LDAP://dc2.fabrikam.test/{dn}")),
            Ok(Pointer {
                server: Some(server("dc2.fabrikam.test", None)),
                base: Some(dn.into())
            })
        );
        assert_eq!(
            Pointer::parse(&format!("ldap://dc2:3268/{dn}")),
            Ok(Pointer {
                server: Some(server("dc2", Some(3268))),
                base: Some(dn.into())
            })
        );
        assert_eq!(
            Pointer::parse(&format!("LDAP://{dn}")),
            Ok(Pointer {
                server: None,
                base: Some(dn.into())
            })
        );
        assert_eq!(
            Pointer::parse("LDAP://fabrikam.test"),
            Ok(Pointer {
                server: Some(server("fabrikam.test", None)),
                base: None
            })
        );
        assert_eq!(
            Pointer::parse("LDAP://fabrikam.test/"),
            Ok(Pointer {
                server: Some(server("fabrikam.test", None)),
                base: None
            })
        );
        assert_eq!(
            Pointer::parse("LDAP://[::1]:389/CN=x,DC=y"),
            Ok(Pointer {
                server: Some(server("::1", Some(389))),
                base: Some("CN=x,DC=y".into())
            })
        );
        assert_eq!(
            Pointer::parse(r"LDAP://CN=a\/b,DC=y"),
            Ok(Pointer {
                server: None,
                base: Some("CN=a/b,DC=y".into())
            })
        );
        assert_eq!(
            Pointer::parse(r"LDAP://dc2/CN=a\/b,DC=y"),
            Ok(Pointer {
                server: Some(server("dc2", None)),
                base: Some("CN=a/b,DC=y".into())
            })
        );
        for bad in [
            "",
            "LDAP://",
            "https://dc2/CN=x",
            "GC://dc2",
            "LDAP",
            "LDAP://a b/CN=x",
        ] {
            assert!(Pointer::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn pointers_print_as_paths() {
        for path in [
            "LDAP://dc2:3268/CN=x,DC=y",
            "LDAP://CN=x,DC=y",
            "LDAP://dc2",
        ] {
            assert_eq!(
                Pointer::parse(path).map(|p| p.to_string()),
                Ok(path.to_owned())
            );
        }
    }
}
