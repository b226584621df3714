//! Service-account user names, in the formats the seed's page asks for.

use crate::error::AuthError;

/// Which Exchange the service account signs in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Target {
    /// On-premises Exchange: `DOMAIN\user` or a UPN.
    #[default]
    OnPremises,
    /// Microsoft 365: a UPN (`user@domain.com`).
    Microsoft365,
    /// On-premises and Microsoft 365: the on-premises rules.
    Hybrid,
}

/// Checks `user` against `target`'s formats; the error names the setting and the rule.
pub fn validate(user: &str, target: Target) -> Result<(), AuthError> {
    let bad = |rule: &str| {
        Err(AuthError::config(
            "service_account_username",
            rule.to_owned(),
        ))
    };
    let user = user.trim();
    if user.is_empty() {
        return bad("the service account username is empty");
    }
    if user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("the service account username has white space in it");
    }
    let upn = is_upn(user);
    match target {
        Target::Microsoft365 if !upn => {
            bad("Microsoft 365 needs a user principal name (user@domain.com)")
        }
        Target::OnPremises | Target::Hybrid if !upn && !is_down_level(user) => {
            bad("on-premises Exchange needs DOMAIN\\user or a user principal name (user@domain)")
        }
        _ => Ok(()),
    }
}

fn is_upn(user: &str) -> bool {
    match user.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !user.contains('\\')
        }
        None => false,
    }
}

fn is_down_level(user: &str) -> bool {
    match user.split_once('\\') {
        Some((domain, name)) => {
            !domain.is_empty() && !name.is_empty() && !name.contains('\\') && !user.contains('@')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_per_target() {
        assert!(validate("CONTOSO\\svc", Target::OnPremises).is_ok());
        assert!(validate("svc@contoso.com", Target::OnPremises).is_ok());
        assert!(validate("svc@contoso.com", Target::Microsoft365).is_ok());
        assert!(validate("CONTOSO\\svc", Target::Microsoft365).is_err());
        assert!(validate("svc", Target::OnPremises).is_err());
        assert!(validate("svc@contoso", Target::Microsoft365).is_err());
        assert!(validate("\\svc", Target::OnPremises).is_err());
        assert!(validate("a b@contoso.com", Target::Microsoft365).is_err());
        let error = validate("svc", Target::Microsoft365)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("service_account_username") && error.contains("user principal name"),
            "{error}"
        );
    }
}
