//! Decode a captured `GetStreamingEvents` response body into one JSON line per event.
//!
//! ```text
//! cargo run --example parse_stream -- capture.xml
//! curl ... | cargo run --example parse_stream
//! ```
//!
//! The body is a series of SOAP envelopes, as Exchange streams it; it is read in 64 KiB
//! chunks and cut into envelopes as they complete, so a capture of any size streams through.
//! Each event prints as `{"subscription_id": ..., "kind": ..., "item_id": ..., ...}`; the
//! counts (envelopes, heartbeats, events, errors) go to standard error at the end.

use std::io::{BufWriter, Read, Write};
use std::process::ExitCode;

use bems::ews_proto::EnvelopeSplitter;
use bems::ews_proto::operations::{ConnectionStatus, GetStreamingEventsResponse};
use bems::ews_proto::soap::read_envelope;

/// The allocator of the `bems` binary, so the parse is timed as the service runs it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let path = std::env::args().nth(1);
    let input: Box<dyn Read> = match &path {
        Some(path) if path != "-" => match std::fs::File::open(path) {
            Ok(file) => Box::new(file),
            Err(error) => {
                eprintln!("parse_stream: cannot open {path}: {error}");
                return ExitCode::FAILURE;
            }
        },
        _ => Box::new(std::io::stdin().lock()),
    };
    match run(input) {
        Ok(counts) => {
            eprintln!(
                "{} envelopes: {} events, {} heartbeats, {} errors, {} closed",
                counts.envelopes, counts.events, counts.heartbeats, counts.errors, counts.closed
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("parse_stream: {error}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Default)]
struct Counts {
    envelopes: u64,
    events: u64,
    heartbeats: u64,
    errors: u64,
    closed: u64,
}

fn run(mut input: Box<dyn Read>) -> Result<Counts, String> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut splitter = EnvelopeSplitter::new();
    let mut counts = Counts::default();
    let mut chunk = vec![0; 64 << 10];
    let mut offset = 0u64;
    loop {
        let n = input
            .read(&mut chunk)
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            break;
        }
        splitter.push(&chunk[..n]);
        while let Some(envelope) = splitter
            .next_envelope_slice()
            .map_err(|e| format!("the stream breaks near byte {offset}: {e}"))?
        {
            counts.envelopes += 1;
            let body = read_envelope::<GetStreamingEventsResponse>(envelope)
                .map_err(|e| {
                    format!(
                        "envelope {} is not a GetStreamingEvents answer: {e}",
                        counts.envelopes
                    )
                })?
                .body;
            for message in body.messages {
                if !message.status.is_success() {
                    counts.errors += 1;
                    let line = serde_json::json!({
                        "error": message.status.code.as_str(),
                        "message": message.status.message_text,
                        "subscription_ids": message.error_subscription_ids,
                    });
                    writeln!(out, "{line}").map_err(|e| e.to_string())?;
                }
                if message.notifications.is_empty()
                    && message.connection_status == Some(ConnectionStatus::Ok)
                {
                    counts.heartbeats += 1;
                }
                if message.connection_status == Some(ConnectionStatus::Closed) {
                    counts.closed += 1;
                }
                for notification in message.notifications {
                    for event in notification.events {
                        counts.events += 1;
                        let mut line = serde_json::to_value(&event).map_err(|e| e.to_string())?;
                        line["subscription_id"] = notification.subscription_id.as_str().into();
                        writeln!(out, "{line}").map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        offset += n as u64;
    }
    splitter
        .finish()
        .map_err(|e| format!("the stream ends inside an envelope: {e}"))?;
    out.flush().map_err(|e| e.to_string())?;
    Ok(counts)
}
