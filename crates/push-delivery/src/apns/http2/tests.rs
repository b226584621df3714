//! The connection against a scripted server on an in-memory pipe: each test plays one part
//! of RFC 9113 frame by frame and checks what the client wrote back. (Interoperation with
//! servers no one here wrote is tested against `nghttpd` and hyper's `h2`, in `tests/`.)

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
use tokio::sync::oneshot;

use super::conn::{Handle, Head, Options, Response, StreamError, client};
use super::frame::{self, FrameHead, Reason, flag, kind, setting};
use super::hpack::{Decoder, Encoder, Indexing};

const OPTIONS: Options = Options {
    keep: &["apns-id"],
    unindexed: &["apns-id"],
    max_body: 16,
};

/// The server's end of the pipe.
struct Peer {
    io: DuplexStream,
    decoder: Decoder,
    encoder: Encoder,
}

type Answer = oneshot::Receiver<Result<Response, StreamError>>;

impl Peer {
    /// A client on one end, its task spawned; the server on the other, past the preface.
    async fn start() -> (Handle, Self) {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (handle, connection) = client(ours, OPTIONS);
        tokio::spawn(connection.run());
        let mut peer = Self {
            io: theirs,
            decoder: Decoder::default(),
            encoder: Encoder::default(),
        };
        let mut preface = [0u8; 24];
        peer.io.read_exact(&mut preface).await.unwrap();
        assert_eq!(&preface[..], frame::PREFACE);
        let (head, payload) = peer.frame().await;
        assert_eq!(head.kind, kind::SETTINGS);
        assert!(
            payload
                .chunks(6)
                .any(|s| s[..2] == setting::ENABLE_PUSH.to_be_bytes())
        );
        let (head, _) = peer.frame().await;
        assert_eq!((head.kind, head.stream), (kind::WINDOW_UPDATE, 0));
        (handle, peer)
    }

    async fn frame(&mut self) -> (FrameHead, Vec<u8>) {
        let mut head = [0u8; 9];
        self.io.read_exact(&mut head).await.unwrap();
        let head = FrameHead::parse(&head);
        let mut payload = vec![0u8; head.len];
        self.io.read_exact(&mut payload).await.unwrap();
        (head, payload)
    }

    /// The next frame, if one comes within 100 ms.
    async fn maybe_frame(&mut self) -> Option<(FrameHead, Vec<u8>)> {
        tokio::time::timeout(Duration::from_millis(100), self.frame())
            .await
            .ok()
    }

    /// The next frame that is not a SETTINGS acknowledgement.
    async fn next(&mut self) -> (FrameHead, Vec<u8>) {
        loop {
            let (head, payload) = self.frame().await;
            if !(head.kind == kind::SETTINGS && head.has(flag::ACK)) {
                return (head, payload);
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
    }

    /// Sends what `write` puts down (frames, through `frame::put_*`).
    async fn put(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut out = Vec::new();
        write(&mut out);
        self.send(&out).await;
    }

    /// Our SETTINGS, then the client's acknowledgement of them.
    async fn settings(&mut self, settings: &[(u16, u32)]) {
        self.put(|out| frame::put_settings(out, settings)).await;
        let (head, _) = self.frame().await;
        assert_eq!((head.kind, head.flags), (kind::SETTINGS, flag::ACK));
    }

    fn fields(&mut self, block: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        self.decoder
            .decode(block, |n, v| {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                fields.push((text(n), text(v)));
            })
            .unwrap();
        fields
    }

    /// A response head, as HEADERS (and CONTINUATION when `split`).
    async fn respond(&mut self, stream: u32, status: &str, end_stream: bool, split: bool) {
        let mut block = Vec::new();
        self.encoder.field(
            &mut block,
            b":status",
            status.as_bytes(),
            Indexing::Incremental,
        );
        self.encoder
            .field(&mut block, b"apns-id", b"the-id", Indexing::Without);
        self.encoder
            .field(&mut block, b"server", b"scripted", Indexing::Incremental);
        let max = if split { 4 } else { 16_384 };
        self.put(|out| frame::put_headers(out, stream, &block, end_stream, max))
            .await;
    }
}

fn head(path: &str) -> Head {
    Head {
        method: Method::POST,
        authority: "api.push.example".parse().unwrap(),
        path: path.to_owned(),
        headers: vec![
            (
                HeaderName::from_static("apns-topic"),
                HeaderValue::from_static("com.example"),
            ),
            (
                HeaderName::from_static("apns-id"),
                HeaderValue::from_static("id-1"),
            ),
        ],
    }
}

async fn answer(answer: Answer) -> Result<Response, StreamError> {
    tokio::time::timeout(Duration::from_secs(5), answer)
        .await
        .expect("an answer in time")
        .expect("the connection answers")
}

fn request(handle: &Handle, body: &'static [u8]) -> Answer {
    request_by(handle, body, Duration::from_secs(10))
}

fn request_by(handle: &Handle, body: &'static [u8], within: Duration) -> Answer {
    let deadline = tokio::time::Instant::now() + within;
    handle.request(head("/3/device/abc"), Bytes::from_static(body), deadline)
}

#[tokio::test]
async fn a_request_goes_out_whole_and_its_response_comes_back() {
    let (handle, mut peer) = Peer::start().await;
    peer.settings(&[(setting::MAX_CONCURRENT_STREAMS, 10)])
        .await;
    let pending = request(&handle, b"{\"aps\":{}}");

    let (h, block) = peer.next().await;
    assert_eq!((h.kind, h.stream), (kind::HEADERS, 1));
    assert!(h.has(flag::END_HEADERS) && !h.has(flag::END_STREAM));
    let fields = peer.fields(&block);
    let expected = [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "api.push.example"),
        (":path", "/3/device/abc"),
        ("apns-topic", "com.example"),
        ("apns-id", "id-1"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(fields, expected);
    let (h, data) = peer.next().await;
    assert_eq!(
        (h.kind, h.stream, h.flags),
        (kind::DATA, 1, flag::END_STREAM)
    );
    assert_eq!(data, b"{\"aps\":{}}");

    // The response head in HEADERS and two CONTINUATIONs, then a body longer than kept.
    peer.respond(1, "400", false, true).await;
    peer.put(|out| frame::put_data(out, 1, b"{\"reason\":\"BadDeviceToken\"}", true))
        .await;
    let response = answer(pending).await.unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(response.headers["apns-id"], "the-id");
    assert!(
        !response.headers.contains_key("server"),
        "only the kept headers"
    );
    assert_eq!(
        response.body, b"{\"reason\":\"BadDe",
        "the first max_body bytes"
    );

    // The second request's repeated headers are indexed; the unique one is not.
    let pending = request(&handle, b"x");
    let (h, block) = peer.next().await;
    assert_eq!(h.stream, 3);
    assert_eq!(
        &block[..4],
        &[0x83, 0x87, 0xbf, 0x04],
        "POST, https, authority, path"
    );
    assert_eq!(peer.fields(&block).len(), 6);
    peer.next().await;
    peer.respond(3, "200", true, false).await;
    assert_eq!(answer(pending).await.unwrap().status, 200);
    assert!(
        peer.maybe_frame().await.is_none(),
        "no RST_STREAM for a finished stream"
    );
}

#[tokio::test]
async fn streams_wait_for_the_servers_limit_and_data_for_its_windows() {
    let (handle, mut peer) = Peer::start().await;
    peer.settings(&[
        (setting::MAX_CONCURRENT_STREAMS, 1),
        (setting::INITIAL_WINDOW_SIZE, 4),
    ])
    .await;
    let first = request(&handle, b"0123456789");
    let second = request(&handle, b"abc");

    let (h, _) = peer.next().await;
    assert_eq!((h.kind, h.stream), (kind::HEADERS, 1));
    let (h, data) = peer.next().await;
    assert_eq!(
        (h.kind, h.flags, data.as_slice()),
        (kind::DATA, 0, &b"0123"[..])
    );
    assert!(
        peer.maybe_frame().await.is_none(),
        "the stream's window is spent"
    );

    peer.put(|out| frame::put_window_update(out, 1, 100)).await;
    let (h, data) = peer.next().await;
    assert_eq!(
        (h.kind, h.flags, data.as_slice()),
        (kind::DATA, flag::END_STREAM, &b"456789"[..])
    );
    assert!(
        peer.maybe_frame().await.is_none(),
        "one stream open at most"
    );

    peer.respond(1, "200", true, false).await;
    assert_eq!(answer(first).await.unwrap().status, 200);
    let (h, _) = peer.next().await;
    assert_eq!((h.kind, h.stream), (kind::HEADERS, 3));
    let (h, data) = peer.next().await;
    assert_eq!(
        (h.kind, h.stream, data.as_slice()),
        (kind::DATA, 3, &b"abc"[..])
    );
    peer.respond(3, "200", true, false).await;
    assert_eq!(answer(second).await.unwrap().status, 200);
}

#[tokio::test]
async fn goaway_refuses_the_streams_above_its_last_id_and_lets_the_rest_finish() {
    let (handle, mut peer) = Peer::start().await;
    peer.settings(&[]).await;
    let answers: Vec<Answer> = (0..3).map(|_| request(&handle, b"")).collect();
    for id in [1, 3, 5] {
        let (h, _) = peer.next().await;
        assert_eq!(
            (h.kind, h.stream, h.flags),
            (kind::HEADERS, id, flag::END_HEADERS | flag::END_STREAM)
        );
    }
    peer.put(|out| frame::put_goaway(out, 3, Reason(0))).await;
    peer.respond(1, "200", true, false).await;
    peer.respond(3, "200", true, false).await;
    let mut answers = answers.into_iter();
    assert_eq!(answer(answers.next().unwrap()).await.unwrap().status, 200);
    assert_eq!(answer(answers.next().unwrap()).await.unwrap().status, 200);
    let refused = answer(answers.next().unwrap()).await.unwrap_err();
    assert!(matches!(refused, StreamError::Refused(_)), "{refused:?}");
    assert!(handle.status().is_closed());
    let late = answer(request(&handle, b"")).await.unwrap_err();
    assert!(matches!(late, StreamError::Refused(_)), "{late:?}");
}

#[tokio::test]
async fn reset_streams_fail_alone_and_refused_ones_as_not_processed() {
    let (handle, mut peer) = Peer::start().await;
    peer.settings(&[]).await;
    let refused = request(&handle, b"");
    let reset = request(&handle, b"");
    let kept = request(&handle, b"");
    for _ in 0..3 {
        peer.next().await;
    }
    peer.put(|out| {
        frame::put_rst_stream(out, 1, Reason::REFUSED_STREAM);
        frame::put_rst_stream(out, 3, Reason(0x2));
    })
    .await;
    peer.respond(5, "200", true, false).await;
    assert!(matches!(
        answer(refused).await,
        Err(StreamError::Refused(_))
    ));
    let reset = answer(reset).await.unwrap_err();
    assert_eq!(reset, StreamError::Reset("INTERNAL_ERROR (0x2)".into()));
    assert_eq!(answer(kept).await.unwrap().status, 200);
    assert!(!handle.status().is_closed());
}

#[tokio::test]
async fn pings_are_answered_and_ours_acknowledged() {
    let (handle, mut peer) = Peer::start().await;
    peer.settings(&[]).await;
    peer.put(|out| frame::put_ping(out, *b"12345678", false))
        .await;
    let (h, payload) = peer.next().await;
    assert_eq!(
        (h.kind, h.flags, payload.as_slice()),
        (kind::PING, flag::ACK, &b"12345678"[..])
    );

    let pong = handle.ping();
    let (h, payload) = peer.next().await;
    assert_eq!((h.kind, h.flags), (kind::PING, 0));
    peer.put(|out| frame::put_ping(out, payload.try_into().unwrap(), true))
        .await;
    tokio::time::timeout(Duration::from_secs(5), pong)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_server_table_of_0_is_signalled_and_nothing_indexed() {
    let (handle, mut peer) = Peer::start().await;
    peer.settings(&[(setting::HEADER_TABLE_SIZE, 0)]).await;
    let pending = request(&handle, b"");
    let (_, block) = peer.next().await;
    // A size update to 0, POST, https, then :authority as a literal not indexed (0x01).
    assert_eq!(&block[..4], &[0x20, 0x83, 0x87, 0x01]);
    assert_eq!(peer.fields(&block).len(), 6);
    peer.respond(1, "200", true, false).await;
    assert_eq!(answer(pending).await.unwrap().status, 200);
    let pending = request(&handle, b"");
    let (_, block) = peer.next().await;
    assert_eq!(
        &block[..3],
        &[0x83, 0x87, 0x01],
        "still a literal: nothing was indexed"
    );
    peer.respond(3, "200", true, false).await;
    assert_eq!(answer(pending).await.unwrap().status, 200);
}

/// Each fault: what the server sends, and the GOAWAY code the client must answer with.
#[tokio::test]
async fn faults_end_the_connection_with_the_code_the_rfc_names() {
    let mut big = Vec::new();
    frame::put_head(&mut big, 16_385, kind::DATA, 0, 1);
    big.resize(9 + 16_385, 0);
    let mut even = Vec::new();
    frame::put_data(&mut even, 2, b"x", true);
    let mut bad_hpack = Vec::new();
    frame::put_headers(&mut bad_hpack, 1, &[0xbe], true, 16_384);
    let mut push = Vec::new();
    frame::put_head(&mut push, 4, kind::PUSH_PROMISE, flag::END_HEADERS, 1);
    push.extend_from_slice(&2u32.to_be_bytes());
    let mut window = Vec::new();
    frame::put_window_update(&mut window, 0, 0x7fff_ffff);
    let mut interleaved = Vec::new();
    frame::put_head(&mut interleaved, 1, kind::HEADERS, 0, 1);
    interleaved.push(0x88);
    frame::put_ping(&mut interleaved, [0; 8], false);
    let cases = [
        (big, Reason::FRAME_SIZE_ERROR),
        (even, Reason::PROTOCOL_ERROR),
        (bad_hpack, Reason::COMPRESSION_ERROR),
        (push, Reason::PROTOCOL_ERROR),
        (window, Reason::FLOW_CONTROL_ERROR),
        (interleaved, Reason::PROTOCOL_ERROR),
    ];
    for (bytes, reason) in cases {
        let (handle, mut peer) = Peer::start().await;
        peer.settings(&[]).await;
        let pending = request(&handle, b"");
        peer.next().await;
        peer.send(&bytes).await;
        let (h, payload) = peer.next().await;
        assert_eq!(h.kind, kind::GOAWAY, "{reason}");
        assert_eq!(Reason(frame::u32_at(&payload[4..])), reason);
        let error = answer(pending).await.unwrap_err();
        assert!(
            matches!(error, StreamError::Connection(_)),
            "{reason}: {error:?}"
        );
        assert!(handle.status().is_closed());
    }
}

#[tokio::test]
async fn past_its_deadline_a_stream_is_cancelled_and_a_waiting_request_never_sent() {
    let (handle, mut peer) = Peer::start().await;
    peer.settings(&[(setting::MAX_CONCURRENT_STREAMS, 1)]).await;
    let sent = request_by(&handle, b"", Duration::from_millis(200));
    let waiting = request_by(&handle, b"", Duration::from_millis(300));
    let later = request_by(&handle, b"", Duration::from_secs(10));
    let (h, _) = peer.next().await;
    assert_eq!((h.kind, h.stream), (kind::HEADERS, 1));

    assert_eq!(answer(sent).await.unwrap_err(), StreamError::TimedOut);
    let (h, payload) = peer.next().await;
    assert_eq!((h.kind, h.stream), (kind::RST_STREAM, 1));
    assert_eq!(Reason(frame::u32_at(&payload)), Reason::CANCEL);
    // The freed stream goes to the next request in line.
    let (h, _) = peer.next().await;
    assert_eq!((h.kind, h.stream), (kind::HEADERS, 3));
    peer.respond(3, "200", true, false).await;
    assert_eq!(answer(waiting).await.unwrap().status, 200);
    let (h, _) = peer.next().await;
    assert_eq!((h.kind, h.stream), (kind::HEADERS, 5));
    peer.respond(5, "200", true, false).await;
    assert_eq!(answer(later).await.unwrap().status, 200);

    // Two waiting behind one that is never answered: the two time out unsent.
    let stuck = request_by(&handle, b"", Duration::from_millis(100));
    let (h, _) = peer.next().await;
    assert_eq!(h.stream, 7);
    let behind: Vec<Answer> = (0..2)
        .map(|_| request_by(&handle, b"", Duration::from_millis(50)))
        .collect();
    for answer_ in behind {
        assert_eq!(answer(answer_).await.unwrap_err(), StreamError::TimedOut);
    }
    assert_eq!(answer(stuck).await.unwrap_err(), StreamError::TimedOut);
    let (h, _) = peer.next().await;
    assert_eq!(
        (h.kind, h.stream),
        (kind::RST_STREAM, 7),
        "only stream 7 was opened"
    );
    assert!(peer.maybe_frame().await.is_none());
}

#[tokio::test]
async fn goaway_refuses_at_once_what_waits_for_a_stream() {
    let (handle, mut peer) = Peer::start().await;
    peer.settings(&[(setting::MAX_CONCURRENT_STREAMS, 1)]).await;
    let open = request(&handle, b"");
    let waiting = request(&handle, b"");
    let (h, _) = peer.next().await;
    assert_eq!(h.stream, 1);
    peer.put(|out| frame::put_goaway(out, 1, Reason(0))).await;
    let refused = answer(waiting).await.unwrap_err();
    assert!(matches!(refused, StreamError::Refused(_)), "{refused:?}");
    peer.respond(1, "200", true, false).await;
    assert_eq!(answer(open).await.unwrap().status, 200);
}
