//! Autodiscover speed: a cached lookup, and a cold discovery in which one candidate answers at
//! once and another never answers (a black hole), against `exchange-sim` over TLS with its DNS.
//!
//! Run with `cargo bench --bench autodiscover`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bems::autodiscover::{Autodiscover, Basic, Credentials, Settings};
use criterion::{Criterion, criterion_group, criterion_main};
use exchange_sim::scenario::{Host, HostBehaviour};
use exchange_sim::{Scenario, Sim};

const SCENARIO: &str = r#"
[[domains]]
name = "contoso.com"
[[servers]]
name = "mbx1"
[[users]]
smtp = "mara@contoso.com"
[[service_accounts]]
name = "svc"
upn = "svc@contoso.com"
password = "secret"
rights = ["ApplicationImpersonation"]
"#;

fn start(runtime: &tokio::runtime::Runtime) -> (Sim, Autodiscover) {
    runtime.block_on(async {
        let mut scenario = Scenario::from_toml(SCENARIO).expect("scenario");
        // contoso.com is a black hole: it accepts connections and never answers.
        let mut hole = Host::default();
        hole.name = "contoso.com".into();
        hole.address = "127.0.0.2".into();
        hole.behaviour = HostBehaviour::Blackhole;
        scenario.hosts.push(hole);
        let sim = Sim::builder()
            .scenario(scenario)
            .dns(true)
            .start()
            .await
            .expect("sim");
        let mut settings = Settings::default();
        settings.dns_server = sim.dns_addr();
        settings.https_port = sim.https_addr().port();
        settings.http_port = sim.http_addr().port();
        settings.trusted_ca_pem = vec![sim.ca_pem().to_owned()];
        settings.trusted_ca_only = true;
        // A candidate timeout far longer than an iteration: waiting for the black hole would show.
        settings.timeouts.candidate = Duration::from_secs(30);
        let credentials: Arc<dyn Credentials> = Arc::new(Basic::new("svc@contoso.com", "secret"));
        let locator = Autodiscover::new(settings, Some(credentials)).expect("client");
        (sim, locator)
    })
}

fn autodiscover(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (_sim, locator) = start(&runtime);
    runtime
        .block_on(locator.discover("mara@contoso.com"))
        .expect("warm");

    let mut group = c.benchmark_group("autodiscover");
    group.bench_function("cached lookup", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(locator.discover("mara@contoso.com").await.expect("cached"))
        })
    });
    group.sample_size(20);
    group.bench_function("cold discovery, one candidate black-holed", |b| {
        b.to_async(&runtime).iter(|| async {
            locator.clear_cache();
            let found = locator.discover("mara@contoso.com").await.expect("found");
            assert!(!found.from_cache);
            black_box(found)
        })
    });
    group.finish();
}

criterion_group!(benches, autodiscover);
criterion_main!(benches);
