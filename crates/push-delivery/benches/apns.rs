//! APNs sender throughput against the mock APNs over TLS on loopback (in-process, so the
//! mock's cost is included: see `examples/push_load.rs` for the sender alone against an
//! external server), and the cost of building one request.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exchange_sim::push::{MockApns, MockApnsConfig, keys};
use push_delivery::{
    ApnsAuth, ApnsConfig, ApnsEndpoint, ApnsSender, DeviceToken, Notification, Push, PushSender,
};

const BATCH: u64 = 10_000;
const CONCURRENCY: usize = 500;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (mock, sender) = runtime.block_on(async {
        let key = keys::p8_key_pair().expect("key");
        let mut config = MockApnsConfig::new(
            "TEAM123456",
            "KEY1234567",
            key.public_pem.clone(),
            "com.example.mail",
        );
        config.record_limit = 0;
        let mock = MockApns::start(config).await.expect("mock");
        let mut config = ApnsConfig::new(
            ApnsAuth::token("TEAM123456", "KEY1234567", key.private_pem),
            "com.example.mail",
        );
        config.endpoint = ApnsEndpoint::Url(mock.url());
        config.extra_ca_pem = vec![mock.ca_pem().to_owned()];
        config.trust_system_roots = false;
        (mock, Arc::new(ApnsSender::new(config).expect("sender")))
    });
    let token = DeviceToken::apns(&"a1".repeat(32)).expect("token");
    let notification = Notification::alert("New mail", "From: Mara Whitley")
        .badge(1)
        .collapse_id("mailbox-1");

    let mut group = c.benchmark_group("apns");
    group.throughput(Throughput::Elements(BATCH));
    group.measurement_time(Duration::from_secs(10));
    group.sample_size(10);
    group.bench_function("send_10k_to_mock_over_tls", |b| {
        b.to_async(&runtime).iter(|| {
            let sender = Arc::clone(&sender);
            let token = token.clone();
            let notification = notification.clone();
            async move {
                let mut tasks = Vec::with_capacity(CONCURRENCY);
                for worker in 0..CONCURRENCY as u64 {
                    let sender = Arc::clone(&sender);
                    let token = token.clone();
                    let notification = notification.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut n = worker;
                        while n < BATCH {
                            let push = Push::new(token.clone(), notification.clone());
                            assert!(sender.send(&push).await.is_delivered());
                            n += CONCURRENCY as u64;
                        }
                    }));
                }
                for task in tasks {
                    task.await.expect("task");
                }
            }
        });
    });
    group.finish();
    drop(mock);
}

criterion_group!(benches, bench);
criterion_main!(benches);
