//! What each mailbox's new mail of a batch becomes: the user's rules read, the mail's details
//! fetched when something needs them, and the level decided.
//!
//! | step | when |
//! |---|---|
//! | read the user's rules (`bems.alert-rules`) | the tenant honours rules (`alerts.rules`) |
//! | fetch details (sender, subject, importance) | the tenant lets alerts carry content, or the rules judge senders (VIPs) or importance, and the user is not muted |
//! | evaluate each new mail; the batch's level is the highest | always (no rules: normal) |
//!
//! Details come within the tenant's bound ([`Details`]); what did not arrive counts as unknown:
//! no VIP, not Important, and the generic text.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt as _;
use jiff::Timestamp;

use super::rules::{AlertRules, Level, MailFacts};
use crate::details::Details;
use crate::notify::MailAlert;
use bems_settings::{AlertContent, AlertSettings};
use bems_store::Store;
use bems_store::model::TenantId;

/// The key of a user's rules among their documents.
pub const RULES_KEY: &str = "bems.alert-rules";

/// `mailbox`'s user's rules as `store` keeps them: none when there is no document, or when it
/// cannot be read (then logged: a document another version wrote).
pub async fn stored_rules(store: &dyn Store, tenant: &TenantId, mailbox: &str) -> AlertRules {
    match store.follow_me(tenant, mailbox, RULES_KEY).await {
        Ok(Some(document)) => match AlertRules::from_json(&document.body) {
            Ok(rules) => rules,
            Err(error) => {
                tracing::warn!(%tenant, mailbox, %error, "alert rules unreadable; none applied");
                AlertRules::default()
            }
        },
        Ok(None) => AlertRules::default(),
        Err(error) => {
            tracing::warn!(%tenant, mailbox, %error, "alert rules not read; none applied");
            AlertRules::default()
        }
    }
}

/// The further folders `rules` ask for, as the watchers take them.
pub fn folders(rules: &AlertRules) -> Vec<ews_proto::BaseFolderId> {
    rules
        .folders()
        .iter()
        .map(super::rules::FolderName::to_base_folder_id)
        .collect()
}

/// A tenant's alerting: its settings, the store the rules are in, and the details fetcher.
pub struct Alerting {
    tenant: TenantId,
    settings: AlertSettings,
    store: Option<Arc<dyn Store>>,
    details: Option<Arc<Details>>,
}

impl std::fmt::Debug for Alerting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerting")
            .field("tenant", &self.tenant)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Alerting {
    /// Generic alerts at the normal level, no rules, no details: a pipeline without alerting.
    pub fn generic(tenant: TenantId) -> Self {
        Self {
            tenant,
            settings: AlertSettings {
                rules: false,
                ..AlertSettings::default()
            },
            store: None,
            details: None,
        }
    }

    /// `tenant`'s alerting, its rules read from `store`, details through `details`.
    pub fn new(
        tenant: TenantId,
        settings: AlertSettings,
        store: Arc<dyn Store>,
        details: Option<Arc<Details>>,
    ) -> Self {
        Self {
            tenant,
            settings,
            store: Some(store),
            details,
        }
    }

    /// A tenant's alerting as its settings (`[tenants.alerts]`) describe it: rules from
    /// `store`, details through `fetch` within the tenant's bounds.
    pub fn of_tenant(
        settings: &bems_settings::TenantSettings,
        store: &Arc<dyn Store>,
        fetch: Arc<dyn crate::details::MailDetails>,
    ) -> Self {
        let alerts = &settings.alerts;
        let details = Details::new(
            fetch,
            std::time::Duration::from_millis(alerts.details_timeout_ms.into()),
            alerts.details_per_second,
        );
        Self::new(
            settings.id.clone(),
            alerts.clone(),
            Arc::clone(store),
            Some(Arc::new(details)),
        )
    }

    /// The details fetcher's counts, when there is one.
    pub fn details(&self) -> Option<&Details> {
        self.details.as_deref()
    }

    /// A user's rules: none when the tenant does not honour them, when there is no document,
    /// or when it cannot be read (then logged: a document another version wrote).
    pub async fn rules_of(&self, mailbox: &str) -> AlertRules {
        match self.store.as_ref().filter(|_| self.settings.rules) {
            Some(store) => stored_rules(store.as_ref(), &self.tenant, mailbox).await,
            None => AlertRules::default(),
        }
    }

    /// The further folders `mailbox`'s user asks alerts for (none without rules).
    pub async fn folders_of(&self, mailbox: &str) -> Vec<ews_proto::BaseFolderId> {
        folders(&self.rules_of(mailbox).await)
    }

    /// The alerts of a batch's mailboxes with new mail (`new`: each mailbox's new item ids,
    /// oldest first), decided at `now`.
    pub async fn decide(
        &self,
        new: Vec<(String, Vec<String>)>,
        now: Timestamp,
    ) -> HashMap<String, MailAlert> {
        let started = tokio::time::Instant::now();
        let content = self.settings.content;
        let ruled: Vec<(String, Vec<String>, AlertRules)> = futures_util::stream::iter(new)
            .map(|(mailbox, items)| async move {
                let rules = self.rules_of(&mailbox).await;
                (mailbox, items, rules)
            })
            .buffer_unordered(64)
            .collect()
            .await;
        let wanted: Vec<(String, Vec<String>)> = ruled
            .iter()
            .filter(|(_, _, rules)| {
                let muted = rules.mute().is_some_and(|m| m.is_active(now));
                !muted && (content != AlertContent::None || rules.judges_senders())
            })
            .map(|(mailbox, items, _)| (mailbox.clone(), items.clone()))
            .collect();
        let found = match (&self.details, wanted.is_empty()) {
            (Some(details), false) => details.fetch(wanted, started).await,
            _ => HashMap::new(),
        };
        ruled
            .into_iter()
            .map(|(mailbox, items, rules)| {
                let summaries: Vec<_> = items.iter().filter_map(|id| found.get(id)).collect();
                let level = if items.is_empty() {
                    rules.evaluate(&MailFacts::new(None, false), now)
                } else {
                    Level::of_batch(items.iter().map(|id| {
                        let summary = found.get(id);
                        let facts = MailFacts::new(
                            summary.and_then(|s| s.from_address.as_deref()),
                            summary.is_some_and(|s| s.important),
                        );
                        rules.evaluate(&facts, now)
                    }))
                };
                let alert = MailAlert {
                    level: level.into(),
                    newest: summaries.last().map(|s| (*s).clone()),
                    content,
                    sealed_only: self.settings.sealed_only,
                };
                (mailbox, alert)
            })
            .collect()
    }
}
