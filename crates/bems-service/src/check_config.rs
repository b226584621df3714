//! `bems check-config`: a settings file loaded as `serve` loads it, every file it names opened
//! as `serve` opens them ([`crate::files::open_all`]), and, for each tenant, what the service
//! would do: who may register devices and who is entitled to notifications.
//!
//! ```text
//! /etc/bems/bems.toml: valid
//!   secret directories: /etc/bems
//!   opened: push.apns.key_file, tenant contoso's authentication
//!   tenant contoso: OnPremises Exchange, Credential authentication, Push subscriptions
//!     registration: devices register with the identity provider's tokens
//!     entitled: 1 mailbox (ceo@contoso-holding.com), domains contoso.com
//! ```

use std::fmt::Write as _;
use std::path::Path;

use bems_settings::{ServiceSettings, SettingsError};

use crate::error::StartError;

/// Why a settings file cannot be served: the settings' problems, or the files they name that
/// cannot be used, each in `serve`'s words.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblems {
    /// The settings break the page's rules.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// Files the settings name cannot be used.
    #[error("{}", unusable(.0))]
    Files(Vec<StartError>),
}

fn unusable(problems: &[StartError]) -> String {
    let count = problems.len();
    let mut text = format!(
        "{count} file{} the settings name cannot be used:",
        if count == 1 { "" } else { "s" }
    );
    for problem in problems {
        let _ = write!(text, "\n  - {problem}");
    }
    text
}

/// Checks the settings file at `path` as `serve` would start from it. The report on success;
/// every problem otherwise.
pub async fn check_config(path: &Path) -> Result<String, ConfigProblems> {
    let settings = ServiceSettings::load(path)?;
    let opened = crate::files::open_all(&settings)
        .await
        .map_err(ConfigProblems::Files)?;
    let mut report = format!("{}: valid", path.display());
    let directories: Vec<String> = settings
        .secrets
        .in_force()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    let _ = write!(report, "\n  secret directories: {}", directories.join(", "));
    if !opened.is_empty() {
        let _ = write!(report, "\n  opened: {}", opened.join(", "));
    }
    report.push_str(&tenants(&settings));
    Ok(report)
}

/// One paragraph per tenant: its kind, who may register, who is entitled.
pub fn tenants(settings: &ServiceSettings) -> String {
    let mut text = String::new();
    for tenant in &settings.tenants {
        let registration = if tenant.registration.jwks_uri.is_some() {
            "devices register with the identity provider's tokens"
        } else {
            "no [tenants.registration]: device registrations will be refused"
        };
        let _ = write!(
            text,
            "\n  tenant {}: {:?} Exchange, {:?} authentication, {:?} subscriptions\
             \n    registration: {registration}\n    entitled: {}",
            tenant.id,
            tenant.exchange,
            tenant.authentication,
            tenant.subscription.mode,
            tenant.entitlement.describe(),
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tenant_says_who_is_entitled() {
        let settings = ServiceSettings::from_toml_str(
            r#"
            [[tenants]]
            id = "contoso"
            exchange = "on_premises"
            [tenants.entitlement]
            mode = "all"
            [[tenants]]
            id = "fabrikam"
            exchange = "microsoft365"
            [tenants.entitlement]
            mailboxes = ["a@fabrikam.com", "b@fabrikam.com", "c@fabrikam.com"]
            domains = "contoso.com"
            [[tenants]]
            id = "northwind"
            exchange = "on_premises"
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let text = tenants(&settings);
        let entitled: Vec<&str> = text
            .lines()
            .filter_map(|line| line.trim().strip_prefix("entitled: "))
            .collect();
        assert_eq!(entitled.len(), 3, "{text}");
        assert_eq!(entitled[0], "all mailboxes");
        assert_eq!(entitled[1], "3 mailboxes, domains contoso.com");
        assert!(entitled[2].starts_with("no one"), "{text}");
    }
}
