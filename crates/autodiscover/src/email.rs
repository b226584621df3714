//! Email addresses and the domains Autodiscover derives from them.

use crate::error::Error;

/// A syntactically valid address, with its domain in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Email {
    address: String,
    domain: String,
}

impl Email {
    /// Parses `local@domain`; the domain must be a host name (letters, digits, `-`, `.`).
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let invalid = || Error::InvalidEmail(text.to_owned());
        let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if local.is_empty()
            || local.len() > 64
            || local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
            || domain.len() > 253
            || !domain.contains('.')
            || !domain.split('.').all(label_ok)
        {
            return Err(invalid());
        }
        Ok(Self {
            address: format!("{local}@{domain}"),
            domain,
        })
    }

    /// The address, domain lower-cased.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The domain.
    pub(crate) fn domain(&self) -> &str {
        &self.domain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases_the_domain() {
        let email = Email::parse(" Mara@Contoso.COM ").unwrap();
        assert_eq!(email.address(), "Mara@contoso.com");
        assert_eq!(email.domain(), "contoso.com");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "mara",
            "@contoso.com",
            "mara@",
            "mara@localhost",
            "ma ra@contoso.com",
            "mara@conto_so.com",
            "mara@-x.com",
            "mara@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
