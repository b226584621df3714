//! How long the simulator's strict reader takes to judge one typical request: a streaming
//! `Subscribe` and a `GetEvents`, from the shared vectors. Every EWS request the simulator
//! receives (the load example sends many) pays this once.

use criterion::{Criterion, criterion_group, criterion_main};
use exchange_sim::scenario::Profile;

fn vector(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../vectors/ews")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strict(c: &mut Criterion) {
    let subscribe = vector("subscribe-streaming-request.xml");
    let get_events = vector("getevents-request.xml");
    // Compile the schema outside the measurement (it happens once per process).
    assert!(exchange_sim::validate_request(Profile::Exchange2019, &subscribe).is_ok());
    assert!(exchange_sim::validate_request(Profile::Exchange2019, &get_events).is_ok());
    c.bench_function("strict/subscribe_streaming", |b| {
        b.iter(|| {
            exchange_sim::validate_request(Profile::Exchange2019, std::hint::black_box(&subscribe))
        })
    });
    c.bench_function("strict/get_events", |b| {
        b.iter(|| {
            exchange_sim::validate_request(Profile::Exchange2019, std::hint::black_box(&get_events))
        })
    });
}

criterion_group!(benches, strict);
criterion_main!(benches);
