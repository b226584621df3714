//! The streaming splitter: same envelopes however the stream is cut, clean errors.

use ews_proto::operations::GetStreamingEventsResponse;
use ews_proto::soap::read_envelope;
use ews_proto::{EnvelopeSplitter, ProtoError};

use crate::vector;

/// A stream as Exchange sends it: envelopes with different prefixes (or none), XML
/// declarations, CRLF and blank space between them, and markup that hides `>` and tags.
fn stream() -> (Vec<u8>, Vec<Vec<u8>>) {
    let events = strip_declaration(vector!("ews/getstreamingevents-response-events.xml"));
    let error = strip_declaration(vector!("ews/getstreamingevents-response-error.xml"));
    let unprefixed = br#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><GetStreamingEventsResponse xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"><ResponseMessages><GetStreamingEventsResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode><ConnectionStatus>OK</ConnectionStatus></GetStreamingEventsResponseMessage></ResponseMessages></GetStreamingEventsResponse></Body></Envelope>"#.to_vec();
    let tricky = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" note="a > b and </soap:Envelope>" other='x/>'><!-- </soap:Envelope> --><soap:Body><?pi </soap:Envelope> ?><x><![CDATA[</soap:Envelope> ]]]></x><e/><e a="1"/></soap:Body></soap:Envelope>"#.to_vec();
    let envelopes = vec![unprefixed, events, tricky, error];
    let mut stream = Vec::new();
    stream.extend_from_slice(b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    for (i, envelope) in envelopes.iter().enumerate() {
        stream.extend_from_slice(envelope);
        stream.extend_from_slice(if i % 2 == 0 {
            b"\r\n"
        } else {
            b"\n\n  <?xml version=\"1.0\"?><!-- heartbeat -->\t"
        });
    }
    (stream, envelopes)
}

fn strip_declaration(bytes: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    let start = text.find("?>").map_or(0, |end| end + 2);
    text[start..].trim().as_bytes().to_vec()
}

fn split(chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, ProtoError> {
    let mut splitter = EnvelopeSplitter::new();
    let mut out = Vec::new();
    for chunk in chunks {
        splitter.push(chunk);
        while let Some(envelope) = splitter.next_envelope()? {
            out.push(envelope);
        }
    }
    splitter.finish()?;
    Ok(out)
}

#[test]
fn whole_stream() {
    let (stream, expected) = stream();
    assert_eq!(split(&[&stream]).unwrap(), expected);
}

#[test]
fn every_single_cut() {
    let (stream, expected) = stream();
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(split(&[a, b]).unwrap(), expected, "cut at byte {cut}");
    }
}

#[test]
fn every_pair_of_cuts_in_a_window() {
    // All two-cut splits would be quadratic in the stream length; take every pair in the
    // region around the second envelope's start, where the state machine is busiest.
    let (stream, expected) = stream();
    let start = expected[0].len();
    for first in start..start + 80 {
        for second in first..start + 160 {
            let chunks = [&stream[..first], &stream[first..second], &stream[second..]];
            assert_eq!(
                split(&chunks).unwrap(),
                expected,
                "cuts at {first} and {second}"
            );
        }
    }
}

#[test]
fn byte_by_byte() {
    let (stream, expected) = stream();
    let chunks: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(split(&chunks).unwrap(), expected);
}

#[test]
fn envelopes_parse() {
    let (stream, _) = stream();
    let envelopes = split(&[&stream]).unwrap();
    let events = read_envelope::<GetStreamingEventsResponse>(&envelopes[1]).unwrap();
    assert_eq!(events.body.messages[0].notifications[0].events.len(), 3);
    let closed = read_envelope::<GetStreamingEventsResponse>(&envelopes[3]).unwrap();
    assert_eq!(
        closed.body.messages[0].connection_status,
        Some(ews_proto::operations::ConnectionStatus::Closed)
    );
}

#[test]
fn truncated_stream() {
    let (stream, expected) = stream();
    let cut = expected[0].len() + 100;
    let mut splitter = EnvelopeSplitter::new();
    splitter.push(&stream[..cut]);
    assert!(splitter.next_envelope().unwrap().is_some());
    assert!(splitter.next_envelope().unwrap().is_none());
    match splitter.finish() {
        Err(ProtoError::Truncated { buffered }) => assert!(buffered > 0),
        other => panic!("expected Truncated, got {other:?}"),
    }
    // Stopping inside markup is truncation too.
    let mut splitter = EnvelopeSplitter::new();
    splitter.push(b"<?xml version");
    assert!(splitter.next_envelope().unwrap().is_none());
    assert!(matches!(
        splitter.finish(),
        Err(ProtoError::Truncated { .. })
    ));
}

#[test]
fn oversized_envelope() {
    let mut splitter = EnvelopeSplitter::with_max_envelope(1024);
    splitter.push(b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>");
    assert!(splitter.next_envelope().unwrap().is_none());
    let filler = vec![b'a'; 600];
    splitter.push(&filler);
    assert!(splitter.next_envelope().unwrap().is_none());
    splitter.push(&filler);
    match splitter.next_envelope() {
        Err(ProtoError::EnvelopeTooLarge { limit }) => assert_eq!(limit, 1024),
        other => panic!("expected EnvelopeTooLarge, got {other:?}"),
    }
    // The splitter stays failed: it cannot find the next envelope's start.
    assert!(splitter.next_envelope().is_err());
}

#[test]
fn markup_between_envelopes_is_bounded() {
    // Whitespace is dropped as it is scanned, so it never accumulates...
    let mut splitter = EnvelopeSplitter::with_max_envelope(64);
    splitter.push(&[b' '; 100]);
    assert!(splitter.next_envelope().unwrap().is_none());
    splitter.push(b" ");
    assert_eq!(splitter.buffered(), 1);
    // ...but an endless comment counts against the limit.
    splitter.push(b"<!--");
    splitter.push(&[b'x'; 100]);
    assert!(matches!(
        splitter.next_envelope(),
        Err(ProtoError::EnvelopeTooLarge { .. })
    ));
}

#[test]
fn not_envelopes() {
    for bad in [
        &b"<html><body>502 Bad Gateway</body></html>"[..],
        b"HTTP/1.1 200 OK",
        b"</Envelope>",
        b"<!DOCTYPE x [<!ENTITY a 'b'>]><Envelope/>",
        b"<Envelope>< x/></Envelope>",
    ] {
        let mut splitter = EnvelopeSplitter::new();
        splitter.push(bad);
        assert!(
            splitter.next_envelope().is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn self_closing_envelope() {
    assert_eq!(
        split(&[b"<s:Envelope xmlns:s='x'/> <Envelope/>"])
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn self_closing_root_cut_before_its_end() {
    // Found by fuzzing: a cut between `/` and `>` of a self-closing root, after attribute
    // text with no quote in the first chunk.
    let stream = b"\n<oap:Envelope 7*/><x:Envelope a */>\n";
    let whole = split(&[stream]).unwrap();
    assert_eq!(whole.len(), 2);
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(split(&[a, b]).unwrap(), whole, "cut at {cut}");
    }
}
