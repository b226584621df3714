//! Mail delivered to the simulator at a fixed rate, and the pushes that announce it read back
//! from mock APNs: the part both modes share.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bems_demo::World;

/// What the drive measured, from the first mail delivered to the last push read.
pub(crate) struct Measured {
    mails: usize,
    rate: u64,
    drive: Duration,
    waited: Duration,
    announced: usize,
    pushes: usize,
    not_200: usize,
    /// From the first mail to the last push.
    total: Duration,
    /// Mail-to-push latencies, sorted.
    latencies: Vec<Duration>,
    /// The slowest mail-to-push latency of the mails delivered in each second of the drive.
    max_by_second: Vec<Duration>,
}

impl Measured {
    /// The latency at quantile `q`, in milliseconds.
    fn quantile_ms(&self, q: f64) -> f64 {
        let rank = ((self.latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
        self.latencies
            .get(rank)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    /// Every mail was announced.
    pub(crate) fn complete(&self) -> bool {
        self.announced >= self.mails
    }

    /// The summary's fields about mail and pushes.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "mails": self.mails,
            "target_mails_per_second": self.rate,
            "drive_seconds": self.drive.as_secs_f64(),
            "mails_announced": self.announced,
            "pushes": self.pushes,
            "events_per_second": self.announced as f64 / self.total.as_secs_f64().max(1e-9),
            "mail_to_push_ms": {
                "p50": self.quantile_ms(0.50),
                "p99": self.quantile_ms(0.99),
                "max": self.quantile_ms(1.0),
                "max_by_second_delivered": self
                    .max_by_second
                    .iter()
                    .map(|d| (d.as_secs_f64() * 1e4).round() / 10.0)
                    .collect::<Vec<_>>(),
            },
            "wait_after_driving_seconds": self.waited.as_secs_f64(),
            "non_200_at_mock": self.not_200,
        })
    }
}

/// Delivers `mails` mails at `rate` per second to `mailboxes` in turn (each with the APNs
/// token beside it), then reads mock APNs until every mail is announced or `patience` has
/// passed since the last one was delivered. A push announcing n mails (its body names the
/// number) accounts for the n oldest mails of its mailbox not yet announced.
pub(crate) async fn drive(
    world: &World,
    mailboxes: &[(String, String)],
    mails: usize,
    rate: u64,
    patience: Duration,
) -> Measured {
    let by_token: HashMap<&str, usize> = mailboxes
        .iter()
        .enumerate()
        .map(|(i, (_, token))| (token.as_str(), i))
        .collect();
    let mut delivered: Vec<VecDeque<Instant>> = vec![VecDeque::new(); mailboxes.len()];
    let before = world.apns.received_len();
    let driving = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    for n in 0..mails {
        let due = driving + interval.mul_f64(n as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let i = n % mailboxes.len();
        world
            .sim
            .deliver_mail(&mailboxes[i].0, "load", "load@contoso.com")
            .expect("delivered");
        delivered[i].push_back(Instant::now());
        if n % (rate as usize).max(1) == 0 && n > 0 {
            eprintln!(
                "  {n} mails delivered, {} pushes",
                world.apns.received_len() - before
            );
        }
    }
    let drive = driving.elapsed();
    // Each push is read once: copying every push received at each look would take the CPU
    // being measured.
    let deadline = Instant::now() + patience;
    let mut latencies = Vec::with_capacity(mails);
    let mut max_by_second = Vec::new();
    let mut announced = 0usize;
    let mut not_200 = 0usize;
    let mut last = driving;
    let mut read = before;
    loop {
        let received = world.apns.received_since(read);
        read += received.len();
        for push in &received {
            if push.status != 200 {
                not_200 += 1;
                continue;
            }
            last = last.max(push.at);
            let Some(&i) = by_token.get(push.token.as_str()) else {
                continue;
            };
            let body = push.payload["aps"]["alert"]["body"]
                .as_str()
                .unwrap_or_default();
            let count = body
                .split_whitespace()
                .find_map(|w| w.parse::<usize>().ok())
                .unwrap_or(1);
            for _ in 0..count {
                if let Some(at) = delivered[i].pop_front() {
                    let latency = push.at.saturating_duration_since(at);
                    latencies.push(latency);
                    let second = at.saturating_duration_since(driving).as_secs() as usize;
                    if max_by_second.len() <= second {
                        max_by_second.resize(second + 1, Duration::ZERO);
                    }
                    max_by_second[second] = max_by_second[second].max(latency);
                    announced += 1;
                }
            }
        }
        if announced >= mails || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    latencies.sort();
    Measured {
        mails,
        rate,
        drive,
        waited: driving.elapsed() - drive,
        announced,
        pushes: read - before,
        not_200,
        total: last.saturating_duration_since(driving),
        latencies,
        max_by_second,
    }
}

/// Adds `more`'s fields to the object `summary`.
pub(crate) fn merge(summary: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(summary), serde_json::Value::Object(more)) = (summary.as_object_mut(), more) {
        summary.extend(more);
    }
}

/// A line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
pub(crate) fn proc_status_bytes(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// Bytes as MiB, to a tenth.
pub(crate) fn mib(bytes: u64) -> f64 {
    (bytes as f64 / (1024.0 * 1024.0) * 10.0).round() / 10.0
}
