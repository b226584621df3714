//! Everything the simulator knows and changes: the directory, mailboxes, servers with their
//! subscriptions, the clock, budgets and faults.

pub(crate) mod budget;
pub(crate) mod clock;
pub(crate) mod directory;
pub(crate) mod faults;
pub(crate) mod folders;
pub(crate) mod mailbox;
pub(crate) mod message;
pub(crate) mod server;
pub(crate) mod subscription;

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::scenario::Scenario;
use budget::Throttle;
use clock::Clock;
use directory::Directory;
use faults::Faults;
use mailbox::Mailbox;
use server::Server;

/// The simulator's state, shared by every handler.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) scenario: Scenario,
    pub(crate) directory: Directory,
    pub(crate) mailboxes: Vec<Arc<Mailbox>>,
    pub(crate) servers: Vec<Server>,
    pub(crate) clock: Clock,
    pub(crate) throttle: Throttle,
    pub(crate) faults: Faults,
    /// The HTTPS port clients reach this simulator on (written into URLs).
    pub(crate) https_port: std::sync::atomic::AtomicU16,
    /// The plain HTTP port.
    pub(crate) http_port: std::sync::atomic::AtomicU16,
    /// EWS activity counters.
    pub(crate) ews_counters: crate::ews::Counters,
}

impl World {
    pub(crate) fn new(scenario: Scenario) -> Self {
        let directory = Directory::new(&scenario);
        let domain = scenario
            .domains
            .first()
            .map_or_else(|| "exchange.test".to_owned(), |d| d.name.clone());
        let servers: Vec<Server> = scenario
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| Server::new(i, &s.name, &s.grouping_information, s.backends, &domain))
            .collect();
        let mailboxes = scenario
            .users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let server = scenario
                    .servers
                    .iter()
                    .position(|s| s.name == user.server)
                    .unwrap_or(0);
                let id = u32::try_from(i).unwrap_or(u32::MAX);
                Arc::new(Mailbox::new(id, user.smtp.clone(), server))
            })
            .collect();
        let clock = Clock::new(scenario.time_scale);
        let throttle = Throttle::new(scenario.budgets());
        Self {
            directory,
            mailboxes,
            servers,
            clock,
            throttle,
            faults: Faults::default(),
            https_port: 443.into(),
            http_port: 80.into(),
            ews_counters: crate::ews::Counters::default(),
            scenario,
        }
    }

    /// The mailbox with this SMTP address.
    pub(crate) fn mailbox(&self, smtp: &str) -> Option<&Arc<Mailbox>> {
        self.directory
            .user_by_smtp(smtp)
            .and_then(|i| self.mailboxes.get(i))
    }

    /// The oldest time an event can have and still be in a table.
    pub(crate) fn retention_start(&self) -> OffsetDateTime {
        self.clock.now() - Duration::from_secs(self.scenario.watermark_retention_days * 86_400)
    }

    /// The streaming heartbeat interval, scaled.
    pub(crate) fn heartbeat(&self) -> Duration {
        self.clock
            .scaled(Duration::from_secs(self.scenario.heartbeat_seconds))
    }

    /// The host and port part of URLs clients use for `host`.
    pub(crate) fn authority(&self, host: &str) -> String {
        match self.https_port.load(std::sync::atomic::Ordering::Relaxed) {
            443 => host.to_owned(),
            port => format!("{host}:{port}"),
        }
    }

    /// The external EWS URL of a mailbox.
    pub(crate) fn external_ews_url(&self, mailbox: usize) -> String {
        let host = self
            .domain_of(mailbox)
            .map(|d| d.external_host())
            .unwrap_or_default();
        format!("https://{}/EWS/Exchange.asmx", self.authority(&host))
    }

    /// The internal EWS URL of a mailbox.
    pub(crate) fn internal_ews_url(&self, mailbox: usize) -> String {
        let host = self
            .domain_of(mailbox)
            .map(|d| d.internal_host())
            .unwrap_or_default();
        format!("https://{}/EWS/Exchange.asmx", self.authority(&host))
    }

    /// `GroupingInformation` of a mailbox: its server's.
    pub(crate) fn grouping_information(&self, mailbox: usize) -> String {
        self.mailboxes
            .get(mailbox)
            .and_then(|m| self.servers.get(m.server()))
            .map(|s| s.grouping_information.clone())
            .unwrap_or_default()
    }

    fn domain_of(&self, mailbox: usize) -> Option<&crate::scenario::Domain> {
        let smtp = &self.directory.users.get(mailbox)?.smtp;
        let (_, domain) = smtp.rsplit_once('@')?;
        self.scenario
            .domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(domain))
    }
}
