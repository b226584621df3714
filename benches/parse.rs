//! Parsing speed of the wire layer: a large `GetStreamingEvents` body, split and read into
//! typed events, and single push callbacks.
//!
//! Run with `cargo bench --bench parse`. Throughput is reported both in bytes and in events,
//! with quick-xml's tokenizer alone on the same envelopes as the floor. With
//! `BEMS_DUMP_STREAM=<file>` the body is written out, for other parsers
//! (`scripts/bench-parse/lxml_trees.py <file>` times lxml building the trees).

use std::hint::black_box;

use bems::ews_proto::operations::{
    GetStreamingEventsResponse, GetStreamingEventsResponseMessage, SendNotification,
    SendNotificationResponseMessage,
};
use bems::ews_proto::soap::{ServerVersionInfo, SoapHeader, read_envelope, write_envelope};
use bems::ews_proto::{
    ChangedObject, EnvelopeSplitter, Event, EventType, FolderId, ItemId, Notification,
    SubscriptionId, Watermark,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The allocator of the `bems` binary, so parsing is measured as the service runs it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Envelopes in the stream; each carries `NOTIFICATIONS` notifications of `EVENTS` events.
const ENVELOPES: usize = 500;
const NOTIFICATIONS: usize = 8;
const EVENTS: usize = 3;

fn notification(n: usize) -> Notification {
    let item = format!(
        "AAMkADkzNjJjODUzLWZhMDMtNDVkMS05ZDdjLWVmMDlkYjQ1Zjc4MwBGAAAAAABSSWVKrmGUTJE+MVIvofglBwDZGACZQpSgSpyNkexYe2b7AAAAAAENAADZGACZQpSgSpyNkexYe2b7AAANGFYw{n:06}="
    );
    let folder = "AQMkADkzNjJjODUzLWZhMDMtNDVkMS05ZDdjLWVmMDlkYjQ1Zjc4MwAuAAADUkllSq5hlEyRPjFSL6H4JQEA2RgAmUKUoEqcjZHsWHtm+wAAAgENAAAA";
    let mut created = Event::new(EventType::Created);
    created.timestamp = Some("2026-11-29T10:00:00Z".into());
    created.object = Some(ChangedObject::Item(
        ItemId::new(item.clone()).with_change_key("CQAAAA=="),
    ));
    created.parent_folder_id = Some(FolderId::new(folder).with_change_key("AQAAAA=="));
    let mut new_mail = created.clone();
    new_mail.kind = EventType::NewMail;
    let mut modified = Event::new(EventType::Modified);
    modified.timestamp = created.timestamp.clone();
    modified.object = Some(ChangedObject::Folder(
        FolderId::new(folder).with_change_key("AQAAAA=="),
    ));
    modified.parent_folder_id = Some(FolderId::new(folder));
    modified.unread_count = Some(i32::try_from(n % 1000).unwrap_or(0));
    let mut notification = Notification::new(SubscriptionId::new(format!(
        "JgBibjFwcjAzbWIyMDIubmFtcHJkMDMucHJvZC5vdXRsb29rLmNvbRAAAADwXxVesOnHS5BxUHKw{n:08}="
    )));
    notification.events = vec![created, new_mail, modified];
    notification
}

fn streaming_body() -> Vec<u8> {
    let header = SoapHeader::response(ServerVersionInfo::new(15, 2, 1544, 4));
    let mut body = Vec::new();
    for e in 0..ENVELOPES {
        let notifications = (0..NOTIFICATIONS)
            .map(|n| notification(e * NOTIFICATIONS + n))
            .collect();
        let response = GetStreamingEventsResponse::single(
            GetStreamingEventsResponseMessage::notifications(notifications),
        );
        body.extend_from_slice(&write_envelope(&header, &response));
        body.extend_from_slice(b"\r\n");
    }
    body
}

/// Feeds `body` to a splitter in `chunk`-byte pieces and hands each envelope to `each`; the
/// sum of what `each` counts.
fn for_each_envelope(body: &[u8], chunk: usize, mut each: impl FnMut(&[u8]) -> usize) -> usize {
    let mut splitter = EnvelopeSplitter::new();
    let mut counted = 0;
    for piece in body.chunks(chunk) {
        splitter.push(piece);
        while let Some(envelope) = splitter.next_envelope_slice().expect("splits") {
            counted += each(envelope);
        }
    }
    counted
}

fn parse_stream(body: &[u8], chunk: usize) -> usize {
    for_each_envelope(body, chunk, |envelope| {
        let response = read_envelope::<GetStreamingEventsResponse>(envelope).expect("parses");
        response
            .body
            .messages
            .iter()
            .flat_map(|message| &message.notifications)
            .map(|notification| notification.events.len())
            .sum()
    })
}

/// The floor under `parse_stream`: the same envelopes through quick-xml's tokenizer (UTF-8
/// checked, end names checked, as the typed reader does), each event dropped.
fn tokenize_stream(body: &[u8], chunk: usize) -> usize {
    for_each_envelope(body, chunk, |envelope| {
        let text = std::str::from_utf8(envelope).expect("UTF-8");
        let mut reader = quick_xml::Reader::from_str(text);
        reader.config_mut().check_end_names = true;
        let mut events = 0;
        while reader.read_event().expect("well-formed") != quick_xml::events::Event::Eof {
            events += 1;
        }
        events
    })
}

fn streaming(c: &mut Criterion) {
    let body = streaming_body();
    if let Ok(path) = std::env::var("BEMS_DUMP_STREAM") {
        // For comparisons with other parsers (see the README's benchmark section).
        std::fs::write(path, &body).expect("dump written");
    }
    let events = ENVELOPES * NOTIFICATIONS * EVENTS;
    assert_eq!(parse_stream(&body, 16 * 1024), events);

    let mut group = c.benchmark_group("get_streaming_events");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("split+parse bytes (16 KiB chunks)", |b| {
        b.iter(|| parse_stream(black_box(&body), 16 * 1024))
    });
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("split+parse events (16 KiB chunks)", |b| {
        b.iter(|| parse_stream(black_box(&body), 16 * 1024))
    });
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(
        "split+tokenize bytes (16 KiB chunks, quick-xml events only)",
        |b| b.iter(|| tokenize_stream(black_box(&body), 16 * 1024)),
    );
    group.bench_function("split only bytes (1 KiB chunks)", |b| {
        b.iter(|| for_each_envelope(black_box(&body), 1024, <[u8]>::len))
    });
    group.finish();
}

fn push_callback(c: &mut Criterion) {
    let mut notification = notification(1);
    notification.previous_watermark =
        Some(Watermark::new("AQAAAOpvG0LURVdOhQkPOWZLPcI8EgAAAAAAAAE="));
    notification.more_events = Some(false);
    let body = write_envelope(
        &SoapHeader::default(),
        &SendNotification::single(SendNotificationResponseMessage::success(notification)),
    );
    let mut group = c.benchmark_group("send_notification");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("parse one callback", |b| {
        b.iter(|| read_envelope::<SendNotification>(black_box(&body)).expect("parses"))
    });
    group.finish();
}

criterion_group!(benches, streaming, push_callback);
criterion_main!(benches);
