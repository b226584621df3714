//! What the server sends: each frame checked where it came and applied.
//!
//! <https://www.rfc-editor.org/rfc/rfc9113#section-6>

use std::sync::atomic::Ordering;

use bytes::Buf as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite};

use super::super::frame::{self, FrameHead, Reason, flag, kind, setting};
use super::{
    CONNECTION_WINDOW, Connection, Continuation, Fault, MAX_FRAME, MAX_HEADER_BLOCK, STREAM_WINDOW,
    StreamError, frame_size, protocol,
};

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<T> {
    /// Handles every whole frame read so far; a partial one waits for more bytes.
    pub(super) fn read_frames(&mut self) -> Result<(), Fault> {
        let buf = std::mem::take(&mut self.rbuf);
        let mut at = 0;
        let result = loop {
            let rest = &buf[at..];
            let Some(head) = rest.first_chunk::<9>().map(FrameHead::parse) else {
                break Ok(());
            };
            if head.len > MAX_FRAME {
                break Err(frame_size("a frame larger than SETTINGS_MAX_FRAME_SIZE"));
            }
            let Some(payload) = rest.get(FrameHead::SIZE..FrameHead::SIZE + head.len) else {
                break Ok(());
            };
            if let Err(fault) = self.frame(head, payload) {
                break Err(fault);
            }
            at += FrameHead::SIZE + head.len;
        };
        self.rbuf = buf;
        self.rbuf.advance(at);
        result
    }

    fn frame(&mut self, head: FrameHead, payload: &[u8]) -> Result<(), Fault> {
        if let Some(c) = &self.continuation
            && (head.kind != kind::CONTINUATION || head.stream != c.stream)
        {
            return Err(protocol("a frame inside a header block"));
        }
        match head.kind {
            kind::DATA => self.on_data(head, payload),
            kind::HEADERS => self.on_headers(head, payload),
            kind::CONTINUATION => self.on_continuation(head, payload),
            kind::PRIORITY => {
                if head.stream == 0 {
                    return Err(protocol("PRIORITY on stream 0"));
                }
                if payload.len() != 5 {
                    self.reset(
                        head.stream,
                        Reason::FRAME_SIZE_ERROR,
                        "PRIORITY not 5 bytes",
                    );
                }
                Ok(())
            }
            kind::RST_STREAM => self.on_rst_stream(head, payload),
            kind::SETTINGS => self.on_settings(head, payload),
            kind::PUSH_PROMISE => Err(protocol("PUSH_PROMISE, though push is disabled")),
            kind::PING => self.on_ping(head, payload),
            kind::GOAWAY => self.on_goaway(head, payload),
            kind::WINDOW_UPDATE => self.on_window_update(head, payload),
            _ => Ok(()),
        }
    }

    /// A stream id the server may send on: one we opened (`false`: since closed).
    fn opened(&self, id: u32) -> Result<bool, Fault> {
        if id == 0 {
            return Err(protocol("a stream frame on stream 0"));
        }
        if id.is_multiple_of(2) || id >= self.next_id {
            return Err(protocol("a frame on a stream we did not open"));
        }
        Ok(self.streams.contains_key(&id))
    }

    fn on_data(&mut self, head: FrameHead, payload: &[u8]) -> Result<(), Fault> {
        let open = self.opened(head.stream)?;
        let len = payload.len() as u32;
        self.recv_window -= i64::from(len);
        if self.recv_window < 0 {
            return Err(Fault::Protocol(
                Reason::FLOW_CONTROL_ERROR,
                "DATA beyond the connection's window",
            ));
        }
        self.recv_unacked += len;
        if self.recv_unacked >= CONNECTION_WINDOW / 2 {
            frame::put_window_update(&mut self.wbuf, 0, self.recv_unacked);
            self.recv_window += i64::from(self.recv_unacked);
            self.recv_unacked = 0;
        }
        let data = frame::unpad(&head, payload).ok_or(protocol("DATA padding past its end"))?;
        if !open {
            return Ok(());
        }
        let max_body = self.options.max_body;
        let Some(stream) = self.streams.get_mut(&head.stream) else {
            return Ok(());
        };
        stream.received += payload.len();
        if stream.status.is_none() {
            self.reset(
                head.stream,
                Reason::PROTOCOL_ERROR,
                "DATA before the response",
            );
            return Ok(());
        }
        if stream.received > STREAM_WINDOW as usize {
            self.reset(
                head.stream,
                Reason::FLOW_CONTROL_ERROR,
                "DATA beyond the window",
            );
            return Ok(());
        }
        let room = max_body.saturating_sub(stream.body.len());
        stream.body.extend_from_slice(&data[..data.len().min(room)]);
        if head.has(flag::END_STREAM) {
            self.complete(head.stream);
        }
        Ok(())
    }

    fn on_headers(&mut self, head: FrameHead, payload: &[u8]) -> Result<(), Fault> {
        self.opened(head.stream)?;
        let mut block =
            frame::unpad(&head, payload).ok_or(protocol("HEADERS padding past its end"))?;
        if head.has(flag::PRIORITY) {
            block = block
                .get(5..)
                .ok_or(frame_size("HEADERS too short for its priority"))?;
        }
        let end_stream = head.has(flag::END_STREAM);
        if head.has(flag::END_HEADERS) {
            return self.on_block(head.stream, block, end_stream);
        }
        self.continuation = Some(Continuation {
            stream: head.stream,
            block: block.to_vec(),
            end_stream,
        });
        Ok(())
    }

    fn on_continuation(&mut self, head: FrameHead, payload: &[u8]) -> Result<(), Fault> {
        let Some(mut c) = self.continuation.take() else {
            return Err(protocol("CONTINUATION without HEADERS"));
        };
        if c.block.len() + payload.len() > MAX_HEADER_BLOCK {
            return Err(Fault::Protocol(
                Reason::ENHANCE_YOUR_CALM,
                "a header block over 64 KiB",
            ));
        }
        c.block.extend_from_slice(payload);
        if head.has(flag::END_HEADERS) {
            return self.on_block(c.stream, &c.block, c.end_stream);
        }
        self.continuation = Some(c);
        Ok(())
    }

    /// A whole header block: decoded always (the table must follow the server's), applied
    /// when its stream is open.
    fn on_block(&mut self, id: u32, block: &[u8], end_stream: bool) -> Result<(), Fault> {
        let keep = self.options.keep;
        let mut status: Option<Option<u16>> = None;
        let mut headers = HeaderMap::new();
        self.decoder
            .decode(block, |name, value| {
                if name == b":status" {
                    status = Some(parse_status(value));
                } else if keep.iter().any(|k| k.as_bytes() == name)
                    && let (Ok(n), Ok(v)) =
                        (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
                {
                    headers.append(n, v);
                }
            })
            .map_err(|e| Fault::Protocol(Reason::COMPRESSION_ERROR, e.0))?;
        let Some(stream) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        if stream.status.is_none() {
            match status {
                Some(Some(code)) if code >= 200 => {
                    stream.status = Some(code);
                    stream.headers = headers;
                }
                Some(Some(_)) if !end_stream => return Ok(()),
                _ => {
                    self.reset(
                        id,
                        Reason::PROTOCOL_ERROR,
                        "a response without a final :status",
                    );
                    return Ok(());
                }
            }
        } else if !end_stream {
            self.reset(
                id,
                Reason::PROTOCOL_ERROR,
                "trailers that do not end the stream",
            );
            return Ok(());
        }
        if end_stream {
            self.complete(id);
        }
        Ok(())
    }

    fn on_rst_stream(&mut self, head: FrameHead, payload: &[u8]) -> Result<(), Fault> {
        if payload.len() != 4 {
            return Err(frame_size("RST_STREAM not 4 bytes"));
        }
        self.opened(head.stream)?;
        let reason = Reason(frame::u32_at(payload));
        if let Some(stream) = self.streams.remove(&head.stream) {
            let error = if reason == Reason::REFUSED_STREAM {
                StreamError::Refused(format!("the server reset the stream: {reason}"))
            } else {
                StreamError::Reset(reason.to_string())
            };
            let _ = stream.reply.send(Err(error));
        }
        Ok(())
    }

    fn on_settings(&mut self, head: FrameHead, payload: &[u8]) -> Result<(), Fault> {
        if head.stream != 0 {
            return Err(protocol("SETTINGS on a stream"));
        }
        if head.has(flag::ACK) {
            return match payload.len() {
                0 => Ok(()),
                _ => Err(frame_size("a SETTINGS acknowledgement with a payload")),
            };
        }
        if !payload.len().is_multiple_of(6) {
            return Err(frame_size("SETTINGS not a multiple of 6 bytes"));
        }
        for entry in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([entry[0], entry[1]]);
            let value = frame::u32_at(&entry[2..]);
            match id {
                setting::HEADER_TABLE_SIZE => self.encoder.set_limit(value as usize),
                setting::ENABLE_PUSH if value != 0 => {
                    return Err(protocol("a server's SETTINGS_ENABLE_PUSH is not 0"));
                }
                setting::MAX_CONCURRENT_STREAMS => {
                    self.max_streams = value as usize;
                    self.status
                        .max_streams
                        .store(value as usize, Ordering::Relaxed);
                }
                setting::INITIAL_WINDOW_SIZE => {
                    let value = i64::from(value);
                    if value > frame::MAX_WINDOW {
                        return Err(Fault::Protocol(
                            Reason::FLOW_CONTROL_ERROR,
                            "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
                        ));
                    }
                    let delta = value - self.initial_window;
                    self.initial_window = value;
                    for stream in self.streams.values_mut() {
                        stream.send_window += delta;
                        if stream.send_window > frame::MAX_WINDOW {
                            return Err(Fault::Protocol(
                                Reason::FLOW_CONTROL_ERROR,
                                "a stream window over 2^31-1",
                            ));
                        }
                    }
                }
                setting::MAX_FRAME_SIZE => {
                    if !(16_384..=16_777_215).contains(&value) {
                        return Err(protocol("SETTINGS_MAX_FRAME_SIZE out of range"));
                    }
                    self.max_frame = value as usize;
                }
                _ => {}
            }
        }
        if !self.status.settings.swap(true, Ordering::Relaxed)
            && self.status.max_streams.load(Ordering::Relaxed) == usize::MAX
        {
            // No limit announced: none but ours.
            self.max_streams = usize::MAX;
        }
        frame::put_settings_ack(&mut self.wbuf);
        self.send_blocked();
        Ok(())
    }

    fn on_ping(&mut self, head: FrameHead, payload: &[u8]) -> Result<(), Fault> {
        if head.stream != 0 {
            return Err(protocol("PING on a stream"));
        }
        let Ok(data) = <[u8; 8]>::try_from(payload) else {
            return Err(frame_size("PING not 8 bytes"));
        };
        if head.has(flag::ACK) {
            if let Some(ack) = self.pings.pop_front() {
                let _ = ack.send(());
            }
        } else {
            frame::put_ping(&mut self.wbuf, data, true);
        }
        Ok(())
    }

    fn on_goaway(&mut self, head: FrameHead, payload: &[u8]) -> Result<(), Fault> {
        if head.stream != 0 {
            return Err(protocol("GOAWAY on a stream"));
        }
        if payload.len() < 8 {
            return Err(frame_size("GOAWAY shorter than 8 bytes"));
        }
        let last = frame::u32_at(payload) & 0x7fff_ffff;
        let reason = Reason(frame::u32_at(&payload[4..]));
        let message = String::from_utf8_lossy(&payload[8..payload.len().min(8 + 200)]);
        tracing::debug!(last, %reason, %message, "the server sent GOAWAY");
        self.goaway = Some(self.goaway.map_or(last, |before| before.min(last)));
        self.status.closed.store(true, Ordering::Relaxed);
        let refused: Vec<u32> = self
            .streams
            .keys()
            .copied()
            .filter(|&id| id > last)
            .collect();
        for id in refused {
            if let Some(stream) = self.streams.remove(&id) {
                let detail = format!("the server sent GOAWAY {reason} (last stream {last})");
                let _ = stream.reply.send(Err(StreamError::Refused(detail)));
            }
        }
        for request in self.waiting.drain(..) {
            let detail = format!("the server sent GOAWAY {reason} before it was sent");
            let _ = request.reply.send(Err(StreamError::Refused(detail)));
        }
        Ok(())
    }

    fn on_window_update(&mut self, head: FrameHead, payload: &[u8]) -> Result<(), Fault> {
        if payload.len() != 4 {
            return Err(frame_size("WINDOW_UPDATE not 4 bytes"));
        }
        let increment = i64::from(frame::u32_at(payload) & 0x7fff_ffff);
        if head.stream == 0 {
            if increment == 0 {
                return Err(protocol("a WINDOW_UPDATE of 0"));
            }
            self.send_window += increment;
            if self.send_window > frame::MAX_WINDOW {
                return Err(Fault::Protocol(
                    Reason::FLOW_CONTROL_ERROR,
                    "the connection's window over 2^31-1",
                ));
            }
        } else if self.opened(head.stream)? {
            if increment == 0 {
                self.reset(head.stream, Reason::PROTOCOL_ERROR, "a WINDOW_UPDATE of 0");
                return Ok(());
            }
            if let Some(stream) = self.streams.get_mut(&head.stream) {
                stream.send_window += increment;
                if stream.send_window > frame::MAX_WINDOW {
                    self.reset(
                        head.stream,
                        Reason::FLOW_CONTROL_ERROR,
                        "a window over 2^31-1",
                    );
                    return Ok(());
                }
            }
        }
        self.send_blocked();
        Ok(())
    }
}

/// `:status`: three digits.
fn parse_status(value: &[u8]) -> Option<u16> {
    match value {
        [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}
