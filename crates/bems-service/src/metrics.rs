//! Counters and latency histograms, rendered in the Prometheus text format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(value.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The `q` quantile (0-1), as the upper bound of the bucket it falls in.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, bound) in self.counts.iter().zip(BUCKETS) {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(Duration::from_secs_f64(bound));
            }
        }
        // Beyond the last bucket.
        Some(Duration::from_secs(3600))
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bucket, bound) in self.counts.iter().zip(BUCKETS) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let labels = labels.trim_end_matches(',');
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Everything `/metrics` shows, besides the gauges read at render time.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Mailbox events by kind.
    events: Mutex<BTreeMap<String, u64>>,
    /// Pushes by platform and outcome.
    pushes: Mutex<BTreeMap<(String, String), u64>>,
    /// Device registrations by result.
    registrations: Mutex<BTreeMap<String, u64>>,
    /// Mailbox events by tenant (for the console).
    tenant_events: Mutex<BTreeMap<String, u64>>,
    /// Pushes by tenant and outcome (for the console).
    tenant_pushes: Mutex<BTreeMap<(String, String), u64>>,
    /// Event seen → push accepted by the provider.
    pub event_to_push: Histogram,
    /// One provider request.
    pub push_send: Histogram,
}

/// Gauges read when `/metrics` is rendered.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// (tenant, state) → mailboxes.
    pub subscriptions: Vec<(String, &'static str, u64)>,
    /// Streaming connections open, by tenant.
    pub streams_open: Vec<(String, u64)>,
    /// (tenant, outcome) → Graph notifications since the start (counters read at render).
    pub graph_notifications: Vec<(String, &'static str, u64)>,
    /// (tenant, outcome) → requests for the details of new mail (counters read at render).
    pub mail_details: Vec<(String, &'static str, u64)>,
    /// Devices registered.
    pub devices: u64,
    /// Pushes waiting in the outbox.
    pub outbox: u64,
    /// This node among the nodes sharing the store.
    pub node: Option<crate::cluster::NodeStatus>,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default() += 1;
}

impl Metrics {
    /// Counts a mailbox event.
    pub fn event(&self, kind: &str) {
        bump(&self.events, kind.to_owned());
    }

    /// Counts a push outcome.
    pub fn push(&self, platform: &str, outcome: &str) {
        bump(&self.pushes, (platform.to_owned(), outcome.to_owned()));
    }

    /// Counts a mailbox event of `tenant` ([`event`](Self::event) counts it by kind).
    pub fn tenant_event(&self, tenant: &str) {
        bump(&self.tenant_events, tenant.to_owned());
    }

    /// Counts a push outcome of `tenant` ([`push`](Self::push) counts it by platform).
    pub fn tenant_push(&self, tenant: &str, outcome: &str) {
        bump(&self.tenant_pushes, (tenant.to_owned(), outcome.to_owned()));
    }

    /// Mailbox events so far, by tenant.
    pub fn events_by_tenant(&self) -> BTreeMap<String, u64> {
        self.tenant_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Pushes so far, by (tenant, outcome).
    pub fn pushes_by_tenant(&self) -> BTreeMap<(String, String), u64> {
        self.tenant_pushes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts a registration result (`accepted`, `forbidden`, `unentitled`, ...).
    pub fn registration(&self, result: &str) {
        bump(&self.registrations, result.to_owned());
    }

    /// Mailbox events counted so far, of every kind.
    pub fn events_total(&self) -> u64 {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }

    /// Pushes counted so far, by (platform, outcome).
    pub fn pushes_by_outcome(&self) -> BTreeMap<(String, String), u64> {
        self.pushes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Pushes counted with `outcome`, on every platform.
    pub fn pushes_with(&self, outcome: &str) -> u64 {
        self.pushes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((_, o), _)| o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// The Prometheus text exposition.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let lock =
            |m: &Mutex<BTreeMap<String, u64>>| m.lock().unwrap_or_else(|p| p.into_inner()).clone();
        out.push_str("# HELP bems_events_total Mailbox events received, by kind.\n# TYPE bems_events_total counter\n");
        for (kind, n) in lock(&self.events) {
            let _ = writeln!(out, "bems_events_total{{kind=\"{}\"}} {n}", escape(&kind));
        }
        out.push_str("# HELP bems_pushes_total Pushes by platform and outcome.\n# TYPE bems_pushes_total counter\n");
        let pushes = self
            .pushes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for ((platform, outcome), n) in pushes {
            let _ = writeln!(
                out,
                "bems_pushes_total{{platform=\"{}\",outcome=\"{}\"}} {n}",
                escape(&platform),
                escape(&outcome)
            );
        }
        out.push_str("# HELP bems_registrations_total Device registrations, by result.\n# TYPE bems_registrations_total counter\n");
        for (result, n) in lock(&self.registrations) {
            let _ = writeln!(
                out,
                "bems_registrations_total{{result=\"{}\"}} {n}",
                escape(&result)
            );
        }
        out.push_str("# HELP bems_subscriptions Watched mailboxes, by tenant and subscription state.\n# TYPE bems_subscriptions gauge\n");
        by_tenant(
            &mut out,
            "bems_subscriptions",
            "state",
            &gauges.subscriptions,
        );
        out.push_str("# HELP bems_streaming_connections Open GetStreamingEvents connections.\n# TYPE bems_streaming_connections gauge\n");
        for (tenant, n) in &gauges.streams_open {
            let _ = writeln!(
                out,
                "bems_streaming_connections{{tenant=\"{}\"}} {n}",
                escape(tenant)
            );
        }
        out.push_str("# HELP bems_graph_notifications_total Graph change notifications by tenant and outcome: accepted (for this node's mailboxes), forwarded (for another node's, kept in the store), taken (forwarded by another node), refused (a clientState that does not match; counts requests), unknown (of no subscription), busy (requests answered 503).\n# TYPE bems_graph_notifications_total counter\n");
        by_tenant(
            &mut out,
            "bems_graph_notifications_total",
            "outcome",
            &gauges.graph_notifications,
        );
        out.push_str("# HELP bems_mail_details_requests_total Requests for the details of new mail (sender, subject, importance) by tenant and outcome: answered, failed, timed_out (the generic alert went), over_budget (not made: the tenant's requests of the second were spent).\n# TYPE bems_mail_details_requests_total counter\n");
        by_tenant(
            &mut out,
            "bems_mail_details_requests_total",
            "outcome",
            &gauges.mail_details,
        );
        let _ = writeln!(
            out,
            "# HELP bems_devices Registered devices.\n# TYPE bems_devices gauge\nbems_devices {}",
            gauges.devices
        );
        let _ = writeln!(
            out,
            "# HELP bems_outbox Pushes waiting to be sent.\n# TYPE bems_outbox gauge\nbems_outbox {}",
            gauges.outbox
        );
        if let Some(node) = &gauges.node {
            render_node(&mut out, node);
        }
        out.push_str("# HELP bems_event_to_push_seconds From a mailbox event to the provider accepting its push.\n# TYPE bems_event_to_push_seconds histogram\n");
        self.event_to_push
            .render(&mut out, "bems_event_to_push_seconds", "");
        out.push_str("# HELP bems_push_send_seconds One request to APNs or FCM.\n# TYPE bems_push_send_seconds histogram\n");
        self.push_send
            .render(&mut out, "bems_push_send_seconds", "");
        out
    }
}

/// This node's gauges: its mailboxes against its capacity, the alarms BEMS raises at 80% and
/// 100%, and the cluster around it.
fn render_node(out: &mut String, node: &crate::cluster::NodeStatus) {
    use crate::cluster::Alarm;
    let name = escape(node.node.as_str());
    let _ = writeln!(
        out,
        "# HELP bems_node_mailboxes Mailboxes whose lease this node holds.\n# TYPE bems_node_mailboxes gauge\nbems_node_mailboxes{{node=\"{name}\"}} {}",
        node.mailboxes
    );
    let _ = writeln!(
        out,
        "# HELP bems_node_capacity Mailboxes this node watches at most.\n# TYPE bems_node_capacity gauge\nbems_node_capacity{{node=\"{name}\"}} {}",
        node.capacity
    );
    out.push_str("# HELP bems_capacity_alarm 1 while this node's capacity alarm is raised: warning from 80% of its capacity, critical at 100%.\n# TYPE bems_capacity_alarm gauge\n");
    for (level, raised) in [
        ("warning", node.alarm != Alarm::Ok),
        ("critical", node.alarm == Alarm::Critical),
    ] {
        let _ = writeln!(
            out,
            "bems_capacity_alarm{{node=\"{name}\",level=\"{level}\"}} {}",
            u8::from(raised)
        );
    }
    let _ = writeln!(
        out,
        "# HELP bems_cluster_nodes Nodes alive sharing the store.\n# TYPE bems_cluster_nodes gauge\nbems_cluster_nodes {}",
        node.nodes_alive
    );
    let _ = writeln!(
        out,
        "# HELP bems_mailboxes_waiting Stored mailboxes no node holds (all full, or a dead node's leases not yet run out).\n# TYPE bems_mailboxes_waiting gauge\nbems_mailboxes_waiting {}",
        node.waiting
    );
}

/// One sample of `name` per (tenant, `label` value) row.
fn by_tenant(out: &mut String, name: &str, label: &str, rows: &[(String, &'static str, u64)]) {
    for (tenant, value, n) in rows {
        let _ = writeln!(
            out,
            "{name}{{tenant=\"{}\",{label}=\"{value}\"}} {n}",
            escape(tenant)
        );
    }
}

/// Escapes a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_histograms_render_in_the_text_format() {
        let metrics = Metrics::default();
        metrics.event("NewMailEvent");
        metrics.event("NewMailEvent");
        metrics.push("apns", "delivered");
        metrics.registration("forbidden");
        metrics.event_to_push.observe(Duration::from_millis(3));
        metrics.event_to_push.observe(Duration::from_millis(40));
        let gauges = Gauges {
            subscriptions: vec![("contoso".into(), "subscribed", 3)],
            streams_open: vec![("contoso".into(), 2)],
            graph_notifications: vec![("contoso".into(), "forwarded", 5)],
            mail_details: vec![("contoso".into(), "timed_out", 2)],
            devices: 4,
            outbox: 1,
            node: Some(crate::cluster::NodeStatus {
                node: bems_store::NodeId::new("bems-1").unwrap(),
                capacity: 10,
                mailboxes: 8,
                percent: 80,
                alarm: crate::cluster::Alarm::Warning,
                waiting: 3,
                nodes_alive: 2,
                settings_pending: Vec::new(),
            }),
        };
        let text = metrics.render(&gauges);
        for line in [
            "bems_events_total{kind=\"NewMailEvent\"} 2",
            "bems_pushes_total{platform=\"apns\",outcome=\"delivered\"} 1",
            "bems_registrations_total{result=\"forbidden\"} 1",
            "bems_subscriptions{tenant=\"contoso\",state=\"subscribed\"} 3",
            "bems_devices 4",
            "bems_graph_notifications_total{tenant=\"contoso\",outcome=\"forwarded\"} 5",
            "bems_mail_details_requests_total{tenant=\"contoso\",outcome=\"timed_out\"} 2",
            "bems_node_mailboxes{node=\"bems-1\"} 8",
            "bems_node_capacity{node=\"bems-1\"} 10",
            "bems_capacity_alarm{node=\"bems-1\",level=\"warning\"} 1",
            "bems_capacity_alarm{node=\"bems-1\",level=\"critical\"} 0",
            "bems_cluster_nodes 2",
            "bems_mailboxes_waiting 3",
            "bems_event_to_push_seconds_bucket{le=\"0.005\"} 1",
            "bems_event_to_push_seconds_bucket{le=\"0.05\"} 2",
            "bems_event_to_push_seconds_bucket{le=\"+Inf\"} 2",
            "bems_event_to_push_seconds_count{} 2",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn quantiles_come_from_the_buckets() {
        let histogram = Histogram::default();
        assert_eq!(histogram.quantile(0.5), None);
        for ms in 1..=100 {
            histogram.observe(Duration::from_millis(ms));
        }
        assert_eq!(histogram.quantile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(histogram.quantile(0.01), Some(Duration::from_millis(1)));
        assert_eq!(histogram.quantile(0.99), Some(Duration::from_millis(100)));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
