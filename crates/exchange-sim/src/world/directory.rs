//! Who exists: users with mailboxes, service accounts, and registered apps.

use std::collections::HashMap;

use super::mailbox::FolderKind;
use crate::scenario::{App, Right, Scenario, ServiceAccount, User};

/// The directory, read-only after start.
#[derive(Debug)]
pub(crate) struct Directory {
    pub(crate) users: Vec<User>,
    pub(crate) accounts: Vec<ServiceAccount>,
    pub(crate) apps: Vec<App>,
    /// Lower-cased SMTP address → user index (which is also the mailbox id).
    by_smtp: HashMap<String, usize>,
    /// Lower-cased logon names (`upn`, `DOMAIN\name`, `name`) → account index.
    account_logons: HashMap<String, usize>,
    /// The down-level domain of users (`CONTOSO`).
    netbios: String,
}

/// Someone a request is authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// A service account (Basic, NTLM or client certificate).
    Account(usize),
    /// A user signing in as themselves (Basic, or a delegated token).
    User(usize),
    /// An application with an app-only token.
    App {
        /// The app's client id.
        client_id: String,
        /// Granted roles (`full_access_as_app`).
        roles: Vec<String>,
    },
    /// A user through a delegated token (`EWS.AccessAsUser.All`).
    Delegated {
        /// The signed-in user.
        user: usize,
        /// The client id of the app acting for them.
        client_id: String,
    },
}

impl Principal {
    /// A stable key for budgets and subscription ownership.
    pub(crate) fn key(&self) -> String {
        match self {
            Self::Account(i) => format!("account:{i}"),
            Self::User(i) => format!("user:{i}"),
            Self::App { client_id, .. } => format!("app:{client_id}"),
            Self::Delegated { user, client_id } => format!("delegated:{client_id}:{user}"),
        }
    }
}

impl Directory {
    pub(crate) fn new(scenario: &Scenario) -> Self {
        let by_smtp = scenario
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.smtp.to_ascii_lowercase(), i))
            .collect();
        let netbios = scenario
            .domains
            .first()
            .map(|d| {
                d.name
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase()
            })
            .unwrap_or_default();
        let mut account_logons = HashMap::new();
        for (i, account) in scenario.service_accounts.iter().enumerate() {
            let domain = if account.netbios_domain.is_empty() {
                netbios.clone()
            } else {
                account.netbios_domain.to_ascii_uppercase()
            };
            for logon in [
                account.upn.clone(),
                format!("{domain}\\{}", account.name),
                account.name.clone(),
            ] {
                if !logon.is_empty() && logon != "\\" {
                    account_logons.insert(logon.to_ascii_lowercase(), i);
                }
            }
        }
        Self {
            users: scenario.users.clone(),
            accounts: scenario.service_accounts.clone(),
            apps: scenario.apps.clone(),
            by_smtp,
            account_logons,
            netbios,
        }
    }

    /// The user (and mailbox) with this SMTP address.
    pub(crate) fn user_by_smtp(&self, smtp: &str) -> Option<usize> {
        self.by_smtp.get(&smtp.trim().to_ascii_lowercase()).copied()
    }

    /// The service account with this logon name (`upn`, `DOMAIN\name` or `name`).
    pub(crate) fn account_by_logon(&self, logon: &str) -> Option<usize> {
        self.account_logons
            .get(&logon.to_ascii_lowercase())
            .copied()
    }

    /// The user a logon name names (`smtp`/UPN or `DOMAIN\local-part`).
    pub(crate) fn user_by_logon(&self, logon: &str) -> Option<usize> {
        if let Some(user) = self.user_by_smtp(logon) {
            return Some(user);
        }
        let (domain, name) = logon.split_once('\\')?;
        if !domain.eq_ignore_ascii_case(&self.netbios) {
            return None;
        }
        self.users.iter().position(|u| {
            u.smtp
                .split_once('@')
                .is_some_and(|(local, _)| local.eq_ignore_ascii_case(name))
        })
    }

    /// Checks a password for a logon name: a service account first, then a user.
    pub(crate) fn check_password(&self, logon: &str, password: &str) -> Option<Principal> {
        if let Some(i) = self.account_by_logon(logon) {
            let account = &self.accounts[i];
            return constant_time_eq(account.password.as_bytes(), password.as_bytes())
                .then_some(Principal::Account(i));
        }
        let i = self.user_by_logon(logon)?;
        let user = &self.users[i];
        (!user.password.is_empty()
            && constant_time_eq(user.password.as_bytes(), password.as_bytes()))
        .then_some(Principal::User(i))
    }

    /// The registered app with this client id.
    pub(crate) fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    /// Whether `principal` may act as mailbox `target` through `ExchangeImpersonation`.
    pub(crate) fn may_impersonate(&self, principal: &Principal, target: usize) -> bool {
        match principal {
            Principal::Account(i) => self.accounts[*i]
                .rights
                .contains(&Right::ApplicationImpersonation),
            Principal::App { roles, .. } => roles.iter().any(|r| r == "full_access_as_app"),
            Principal::User(i) | Principal::Delegated { user: i, .. } => *i == target,
        }
    }

    /// Whether `principal` holds FullAccess on mailbox `target` (delegate access; the
    /// scenario's `full_access` on the mailbox's user). App-only tokens never do: they reach
    /// mailboxes by impersonation only.
    pub(crate) fn has_full_access(&self, principal: &Principal, target: usize) -> bool {
        let Some(owner) = self.users.get(target) else {
            return false;
        };
        let names = self.names(principal);
        owner
            .full_access
            .iter()
            .any(|granted| is_one_of(granted, &names))
    }

    /// Whether `principal` may reach folder `folder` of mailbox `target` by delegate access:
    /// FullAccess on the mailbox, or a delegate's permission on that folder.
    pub(crate) fn may_reach(
        &self,
        principal: &Principal,
        target: usize,
        folder: FolderKind,
    ) -> bool {
        if self.has_full_access(principal, target) {
            return true;
        }
        let Some(owner) = self.users.get(target) else {
            return false;
        };
        let names = self.names(principal);
        owner
            .delegates
            .iter()
            .any(|d| d.folders.contains(&folder) && is_one_of(&d.user, &names))
    }

    /// The names a grant may give a principal by: a user's SMTP address, an account's name and
    /// UPN; none for apps.
    fn names(&self, principal: &Principal) -> Vec<&str> {
        match principal {
            Principal::User(i) | Principal::Delegated { user: i, .. } => self
                .users
                .get(*i)
                .map(|u| vec![u.smtp.as_str()])
                .unwrap_or_default(),
            Principal::Account(i) => self
                .accounts
                .get(*i)
                .map(|a| vec![a.name.as_str(), a.upn.as_str()])
                .unwrap_or_default(),
            Principal::App { .. } => Vec::new(),
        }
    }

    /// The mailbox a principal acts as without impersonation, if it has one.
    pub(crate) fn own_mailbox(&self, principal: &Principal) -> Option<usize> {
        match principal {
            Principal::User(i) | Principal::Delegated { user: i, .. } => Some(*i),
            Principal::Account(i) => self.user_by_smtp(&self.accounts[*i].upn),
            Principal::App { .. } => None,
        }
    }
}

/// Whether a grant names one of `names` (case-insensitive).
fn is_one_of(granted: &str, names: &[&str]) -> bool {
    names
        .iter()
        .any(|name| !name.is_empty() && granted.trim().eq_ignore_ascii_case(name))
}

/// Compares secrets without leaking where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
[[domains]]
name = "contoso.com"

[[servers]]
name = "mbx1"

[[users]]
smtp = "mara@contoso.com"

[[users]]
smtp = "sadie@contoso.com"
full_access = ["Mara@Contoso.com", "svc-plain"]

[[users.delegates]]
user = "svc-bems"
folders = ["inbox", "calendar"]

[[service_accounts]]
name = "svc-plain"
upn = "svc-plain@contoso.com"

[[service_accounts]]
name = "svc-bems"
upn = "svc-bems@contoso.com"
rights = ["ApplicationImpersonation"]
"#;

    #[test]
    fn full_access_is_granted_by_name_to_users_and_accounts_only() {
        let scenario = Scenario::from_toml(SCENARIO).expect("valid scenario");
        let directory = Directory::new(&scenario);
        let (mara, sadie) = (0, 1);
        assert!(directory.has_full_access(&Principal::User(mara), sadie));
        assert!(!directory.has_full_access(&Principal::User(sadie), mara));
        assert!(directory.has_full_access(&Principal::Account(0), sadie));
        assert!(
            !directory.has_full_access(&Principal::Account(1), sadie),
            "impersonation rights are not delegate rights"
        );
        let app = Principal::App {
            client_id: "x".into(),
            roles: vec!["full_access_as_app".into()],
        };
        assert!(!directory.has_full_access(&app, sadie));
        assert!(!directory.has_full_access(&Principal::User(mara), 7));
        assert_eq!(directory.own_mailbox(&Principal::Account(0)), None);
        let bems = Principal::Account(1);
        assert!(directory.may_reach(&bems, sadie, FolderKind::Inbox));
        assert!(directory.may_reach(&bems, sadie, FolderKind::Calendar));
        assert!(
            !directory.may_reach(&bems, sadie, FolderKind::Root),
            "only the folders granted"
        );
        assert!(!directory.may_reach(&bems, mara, FolderKind::Inbox));
        assert!(directory.may_reach(&Principal::User(mara), sadie, FolderKind::Root));
    }
}
