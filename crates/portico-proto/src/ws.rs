//! WebSocket framing (RFC 6455), sans-IO: the frames under Engine.IO's WebSocket transport.
//!
//! [`Decoder`] turns received bytes into [`Message`]s for one side of a connection ([`Role`]):
//! it checks what RFC 6455 section 5 requires of a peer (reserved bits clear, known opcodes,
//! control frames short and unfragmented, masking by clients only, continuation frames only
//! inside a fragmented message, UTF-8 text and close reasons, valid close codes) and caps a
//! message's size *before* its payload arrives, so a peer cannot make the reader buffer more
//! than `max_message` bytes. [`header`], [`apply_mask`] and [`control_frame`] build frames.
//!
//! No extension is negotiated (no permessage-deflate), so every RSV bit must be clear.
//!
//! The caller owns the bytes and the socket: hand [`Decoder::decode`] what has arrived so far
//! and it says how much one frame consumed, or how many bytes that frame needs in all.

use std::fmt;

use bytes::{Bytes, BytesMut};

/// Opcode of a continuation frame.
pub const CONTINUATION: u8 = 0x0;
/// Opcode of a text frame.
pub const TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const PONG: u8 = 0xA;

/// FIN bit of the first header byte.
const FIN: u8 = 0x80;
/// Largest control frame payload (RFC 6455 section 5.5).
const MAX_CONTROL: usize = 125;

/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: going away (server shutting down).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: text that is not UTF-8.
pub const CLOSE_INVALID_DATA: u16 = 1007;
/// Close code: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Which side of the connection decodes: a server reads masked frames, a client unmasked ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads frames sent by a client (they must be masked).
    Server,
    /// Reads frames sent by a server (they must not be masked).
    Client,
}

/// A whole WebSocket message (fragments reassembled), or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Text, checked to be UTF-8.
    Text(Bytes),
    /// Binary data.
    Binary(Bytes),
    /// A ping; the other side expects a pong with the same payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame, with its code and reason when it carried one.
    Close(Option<CloseFrame>),
}

/// The body of a close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code (RFC 6455 section 7.4).
    pub code: u16,
    /// The reason, UTF-8.
    pub reason: String,
}

/// Why received bytes are not a valid WebSocket stream. The connection must be closed;
/// [`WsError::close_code`] is the code to close it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// An RSV bit is set, but no extension was negotiated.
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A control frame without FIN or with more than 125 bytes of payload.
    BadControlFrame,
    /// A client frame without a mask (read by a server).
    Unmasked,
    /// A server frame with a mask (read by a client).
    Masked,
    /// A continuation frame outside a fragmented message.
    UnexpectedContinuation,
    /// A new text or binary frame before the previous fragmented message ended.
    InterruptedMessage,
    /// A 64-bit length with its most significant bit set.
    BadLength,
    /// The message is larger than the limit.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Text or a close reason that is not UTF-8.
    InvalidUtf8,
    /// A close frame with a 1-byte payload or a code that may not be sent.
    InvalidCloseCode(u16),
}

impl WsError {
    /// The close code that reports this error to the peer.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::TooLarge { .. } => CLOSE_TOO_BIG,
            WsError::InvalidUtf8 => CLOSE_INVALID_DATA,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::ReservedBits => f.write_str("reserved bits set without an extension"),
            WsError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            WsError::BadControlFrame => {
                f.write_str("control frame fragmented or longer than 125 bytes")
            }
            WsError::Unmasked => f.write_str("client frame without a mask"),
            WsError::Masked => f.write_str("server frame with a mask"),
            WsError::UnexpectedContinuation => {
                f.write_str("continuation frame outside a fragmented message")
            }
            WsError::InterruptedMessage => {
                f.write_str("new message before the fragmented one ended")
            }
            WsError::BadLength => f.write_str("64-bit payload length with the top bit set"),
            WsError::TooLarge { limit } => write!(f, "message larger than {limit} bytes"),
            WsError::InvalidUtf8 => f.write_str("text is not UTF-8"),
            WsError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
        }
    }
}

impl std::error::Error for WsError {}

/// What one call to [`Decoder::decode`] found at the start of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame: `consumed` bytes of input. `message` is `None` for a fragment that did
    /// not end its message.
    Frame {
        /// Bytes of input the frame took.
        consumed: usize,
        /// The message the frame completed, if any.
        message: Option<Message>,
    },
    /// The frame is not all there: it needs `needed` bytes of input in all (at least one
    /// more than given). Its size was already checked against the limit.
    Incomplete {
        /// Bytes of input the frame needs, counted from the start of the input.
        needed: usize,
    },
}

/// A checked frame header: where the payload lies in the input.
#[derive(Debug)]
struct Head {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// Start of the payload.
    at: usize,
    /// End of the frame.
    end: usize,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Partial {
    text: bool,
    data: BytesMut,
}

/// Decodes the frames one side of a connection receives.
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    max_message: usize,
    partial: Option<Partial>,
}

impl Decoder {
    /// A decoder for `role` that refuses messages over `max_message` bytes.
    pub fn new(role: Role, max_message: usize) -> Self {
        Decoder {
            role,
            max_message,
            partial: None,
        }
    }

    /// Decode the frame at the start of `input` (its payload is copied out).
    ///
    /// # Errors
    /// A [`WsError`] when the bytes break RFC 6455 or the limit; the connection must then be
    /// closed with [`WsError::close_code`].
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, WsError> {
        let head = match self.parse_header(input)? {
            Ok(head) => head,
            Err(needed) => return Ok(Decoded::Incomplete { needed }),
        };
        let payload = input.get(head.at..head.end).unwrap_or_default();
        let message = if head.opcode == CONTINUATION {
            // Straight into the message being reassembled.
            self.continue_message(&head, payload)?
        } else {
            let mut data = BytesMut::with_capacity(payload.len());
            extend_unmasked(&mut data, payload, head.mask);
            self.finish(&head, data)?
        };
        Ok(Decoded::Frame {
            consumed: head.end,
            message,
        })
    }

    /// Decode the frame at the start of `buf` without copying its payload: a whole frame is
    /// split off `buf` (unmasked in place), and a message's bytes share `buf`'s allocation.
    /// Returns `Ok(None)` when the frame is not all there (then `buf` is left as it was, with
    /// room reserved for the rest of the frame).
    ///
    /// # Errors
    /// As [`Decoder::decode`].
    pub fn decode_buf(&mut self, buf: &mut BytesMut) -> Result<Option<Option<Message>>, WsError> {
        let head = match self.parse_header(buf)? {
            Ok(head) => head,
            Err(needed) => {
                buf.reserve(needed.saturating_sub(buf.len()));
                return Ok(None);
            }
        };
        let mut frame = buf.split_to(head.end);
        bytes::Buf::advance(&mut frame, head.at);
        if head.opcode == CONTINUATION {
            return self.continue_message(&head, &frame).map(Some);
        }
        if let Some(mask) = head.mask {
            apply_mask(&mut frame, mask);
        }
        self.finish(&head, frame).map(Some)
    }

    /// Parse and check a frame header: `Err(needed)` when incomplete.
    fn parse_header(&self, input: &[u8]) -> Result<Result<Head, usize>, WsError> {
        let [b0, b1, ..] = *input else {
            return Ok(Err(2));
        };
        if b0 & 0x70 != 0 {
            return Err(WsError::ReservedBits);
        }
        let fin = b0 & FIN != 0;
        let opcode = b0 & 0x0F;
        let control = match opcode {
            CONTINUATION | TEXT | BINARY => false,
            CLOSE | PING | PONG => true,
            other => return Err(WsError::UnknownOpcode(other)),
        };
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => return Err(WsError::Unmasked),
            (Role::Client, true) => return Err(WsError::Masked),
            _ => {}
        }
        let len7 = b1 & 0x7F;
        if control && (!fin || usize::from(len7) > MAX_CONTROL) {
            return Err(WsError::BadControlFrame);
        }
        let (len, mut at) = match len7 {
            126 => match input.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(Err(4)),
            },
            127 => match input.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                Some(b) => {
                    let len = u64::from_be_bytes(b);
                    if len >> 63 != 0 {
                        return Err(WsError::BadLength);
                    }
                    (len, 10)
                }
                None => return Ok(Err(10)),
            },
            short => (u64::from(short), 2),
        };
        // Sequencing and size are checked as soon as the header says them, before the payload
        // is waited for, so a peer cannot make the reader buffer an oversized frame.
        let so_far = match (opcode, &self.partial) {
            (CONTINUATION, None) => return Err(WsError::UnexpectedContinuation),
            (CONTINUATION, Some(p)) => p.data.len(),
            (TEXT | BINARY, Some(_)) => return Err(WsError::InterruptedMessage),
            _ => 0,
        };
        let limit = self.max_message;
        let len = match usize::try_from(len) {
            Ok(l) if !control && l > limit.saturating_sub(so_far) => {
                return Err(WsError::TooLarge { limit })
            }
            Ok(l) => l,
            Err(_) => return Err(WsError::TooLarge { limit }),
        };
        let mask = if masked {
            match input
                .get(at..at + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
            {
                Some(m) => {
                    at += 4;
                    Some(m)
                }
                None => return Ok(Err(at + 4)),
            }
        } else {
            None
        };
        let end = at.saturating_add(len);
        if input.len() < end {
            return Ok(Err(end));
        }
        Ok(Ok(Head {
            fin,
            opcode,
            mask,
            at,
            end,
        }))
    }

    /// A continuation frame's (still masked) payload joins the message being reassembled.
    fn continue_message(
        &mut self,
        head: &Head,
        payload: &[u8],
    ) -> Result<Option<Message>, WsError> {
        let Some(p) = self.partial.as_mut() else {
            return Err(WsError::UnexpectedContinuation);
        };
        extend_unmasked(&mut p.data, payload, head.mask);
        if !head.fin {
            return Ok(None);
        }
        match self.partial.take() {
            Some(p) => whole(p.text, p.data.freeze()).map(Some),
            None => Ok(None),
        }
    }

    /// What a text, binary or control frame with its unmasked payload `data` means.
    fn finish(&mut self, head: &Head, data: BytesMut) -> Result<Option<Message>, WsError> {
        match head.opcode {
            TEXT | BINARY => {
                let text = head.opcode == TEXT;
                if head.fin {
                    whole(text, data.freeze()).map(Some)
                } else {
                    self.partial = Some(Partial { text, data });
                    Ok(None)
                }
            }
            PING => Ok(Some(Message::Ping(data.freeze()))),
            PONG => Ok(Some(Message::Pong(data.freeze()))),
            _ => Ok(Some(Message::Close(close_body(&data)?))),
        }
    }

    /// Bytes of a fragmented message received so far (0 outside one).
    pub fn buffered(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.data.len())
    }
}

/// [`Decoder`] plus the bytes of a frame that has not arrived whole: what a connection's
/// read side needs, still without I/O.
///
/// Feed it each read with [`Reader::next_from`] (a message is decoded straight from the read
/// when nothing is pending; only what remains is copied and kept), and call
/// [`Reader::next_buffered`] until it returns `None` before reading again. What it keeps is
/// capped by the decoder's limit plus a frame header; an idle reader holds no buffer.
#[derive(Debug)]
pub struct Reader {
    decoder: Decoder,
    pending: BytesMut,
}

impl Reader {
    /// A reader for `role` that refuses messages over `max_message` bytes.
    pub fn new(role: Role, max_message: usize) -> Self {
        Reader {
            decoder: Decoder::new(role, max_message),
            pending: BytesMut::new(),
        }
    }

    /// Bytes that arrived before the WebSocket started (after the HTTP upgrade response or
    /// request): they are the start of the frame stream.
    pub fn with_initial(mut self, bytes: &[u8]) -> Self {
        self.pending.extend_from_slice(bytes);
        self
    }

    /// The next message from the bytes already kept; `None` when they hold no whole message.
    ///
    /// # Errors
    /// A [`WsError`]: the connection must be closed (see [`WsError::close_code`]).
    pub fn next_buffered(&mut self) -> Result<Option<Message>, WsError> {
        while !self.pending.is_empty() {
            match self.decoder.decode_buf(&mut self.pending)? {
                Some(Some(message)) => {
                    self.release_if_empty();
                    return Ok(Some(message));
                }
                Some(None) => self.release_if_empty(),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// An empty buffer gives its allocation back (messages split off it keep their bytes), so
    /// an idle reader holds nothing.
    fn release_if_empty(&mut self) {
        if self.pending.is_empty() {
            self.pending = BytesMut::new();
        }
    }

    /// The buffer to read into when reading in bulk: read straight into it (e.g. with
    /// `tokio::io::AsyncReadExt::read_buf`), then call [`Reader::next_buffered`]; messages are
    /// then split off the read's buffer without a copy.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.pending
    }

    /// Take bytes just read and return the first message they complete, if any; the rest is
    /// kept for [`Reader::next_buffered`].
    ///
    /// # Errors
    /// As [`Reader::next_buffered`].
    pub fn next_from(&mut self, mut input: &[u8]) -> Result<Option<Message>, WsError> {
        if !self.pending.is_empty() {
            self.pending.extend_from_slice(input);
            return self.next_buffered();
        }
        while !input.is_empty() {
            match self.decoder.decode(input)? {
                Decoded::Frame { consumed, message } => {
                    input = input.get(consumed..).unwrap_or_default();
                    if message.is_some() {
                        self.pending.extend_from_slice(input);
                        return Ok(message);
                    }
                }
                Decoded::Incomplete { needed } => {
                    self.pending.reserve(needed);
                    self.pending.extend_from_slice(input);
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    /// Bytes kept: a partial frame, and a fragmented message so far.
    pub fn buffered(&self) -> usize {
        self.pending.len() + self.decoder.buffered()
    }

    /// Drop what is kept (after an error, when nothing more will be read).
    pub fn clear(&mut self) {
        self.pending = BytesMut::new();
    }
}

fn whole(text: bool, data: Bytes) -> Result<Message, WsError> {
    if text {
        // Most Socket.IO text is ASCII: the word-at-a-time ASCII check is far cheaper than a
        // full UTF-8 validation on short messages.
        if !data.is_ascii() && std::str::from_utf8(&data).is_err() {
            return Err(WsError::InvalidUtf8);
        }
        Ok(Message::Text(data))
    } else {
        Ok(Message::Binary(data))
    }
}

/// The code and reason of a close frame's payload.
fn close_body(data: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    match data {
        [] => Ok(None),
        [_] => Err(WsError::InvalidCloseCode(0)),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            // Codes a peer may send (RFC 6455 section 7.4 and the IANA registry): 1004-1006
            // and 1015 are reserved for local use, under 1000 and 1016-2999 are not assigned.
            let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !sendable {
                return Err(WsError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}

/// Append `payload` to `out`, unmasked with `mask` when there is one.
fn extend_unmasked(out: &mut BytesMut, payload: &[u8], mask: Option<[u8; 4]>) {
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = mask {
        apply_mask(&mut out[start..], mask);
    }
}

/// XOR `data` with the masking key, the first byte with `mask[0]` (RFC 6455 section 5.3).
/// Masking and unmasking are the same operation.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so the key's phase is back at mask[0].
    for (byte, m) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= m;
    }
}

/// The `Sec-WebSocket-Accept` value answering a `Sec-WebSocket-Key` (RFC 6455 section 4.2.2):
/// base64 of the SHA-1 of the key followed by the protocol's GUID.
pub fn accept_key(key: &[u8]) -> String {
    AcceptKey::of(key).as_str().to_owned()
}

/// [`accept_key`] without an allocation: the 28 characters in place (a server's `101` writes
/// them as they are).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AcceptKey([u8; ACCEPT_KEY_LEN]);

/// Base64 of a SHA-1 digest (20 bytes, padded): 28 characters.
const ACCEPT_KEY_LEN: usize = 28;

impl AcceptKey {
    /// The value answering `key` (a `Sec-WebSocket-Key`, as sent).
    pub fn of(key: &[u8]) -> AcceptKey {
        use base64::Engine as _;
        use sha1::{Digest, Sha1};
        let mut sha = Sha1::new();
        sha.update(key);
        sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        let mut out = [0; ACCEPT_KEY_LEN];
        // Cannot fail: a digest's 20 bytes are 28 characters, the buffer's size.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(sha.finalize(), &mut out);
        AcceptKey(out)
    }

    /// The value's characters (base64: ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        // Cannot fail: base64's alphabet is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AcceptKey").field(&self.as_str()).finish()
    }
}

/// A frame header: up to 14 bytes (15 with a payload prefix).
#[derive(Debug, Clone, Copy)]
pub struct Header {
    bytes: [u8; 15],
    len: usize,
}

impl Header {
    /// The header's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The header followed by the payload's first byte `b` (Engine.IO v3 binary messages start
    /// with a type byte kept apart from the shared payload); `len` given to [`header`] must
    /// already count it.
    #[inline]
    pub fn with_payload_prefix(mut self, b: u8) -> Header {
        // `header` uses at most 14 bytes only with a mask; a server header is at most 10.
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
        self
    }
}

/// The header of a final frame (`FIN` set) with `opcode`, a `len`-byte payload and, for a
/// client, the masking key the payload is masked with.
#[inline]
pub fn header(opcode: u8, len: usize, mask: Option<[u8; 4]>) -> Header {
    let mut bytes = [0u8; 15];
    bytes[0] = FIN | (opcode & 0x0F);
    let mut n = 2;
    if let Ok(short @ 0..=125) = u8::try_from(len) {
        bytes[1] = short;
    } else if let Ok(medium) = u16::try_from(len) {
        bytes[1] = 126;
        bytes[2..4].copy_from_slice(&medium.to_be_bytes());
        n = 4;
    } else {
        bytes[1] = 127;
        bytes[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        n = 10;
    }
    if let Some(m) = mask {
        bytes[1] |= 0x80;
        bytes[n..n + 4].copy_from_slice(&m);
        n += 4;
    }
    Header { bytes, len: n }
}

/// A whole control frame (ping, pong or close) with `payload` (truncated to 125 bytes),
/// masked with `mask` when given.
pub fn control_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let payload = &payload[..payload.len().min(MAX_CONTROL)];
    let h = header(opcode, payload.len(), mask);
    let mut out = Vec::with_capacity(h.len + payload.len());
    out.extend_from_slice(h.as_bytes());
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(m) = mask {
        apply_mask(&mut out[start..], m);
    }
    out
}

/// The payload of a close frame: the code, then as much of `reason` as fits in 123 bytes
/// (cut on a character boundary).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut cut = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = Vec::with_capacity(2 + cut);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&reason.as_bytes()[..cut]);
    out
}

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;
