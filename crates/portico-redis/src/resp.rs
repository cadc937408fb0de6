//! RESP2, the Redis serialization protocol: values, a command encoder and a bounded incremental
//! decoder.
//!
//! Spec: <https://redis.io/docs/latest/develop/reference/protocol-spec/> (RESP2 types only: we
//! never send `HELLO 3`, so a RESP3 type byte from the server is a [`ProtocolError`]).
//!
//! The [`Decoder`] treats its input as hostile: it never panics, and every limit in [`Limits`]
//! is checked on the length *header*, before any byte of the announced body is awaited or any
//! memory is reserved for it.

use bytes::{Bytes, BytesMut};

/// One RESP2 value, as Redis sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A simple string (`+OK`), without its `+` and CRLF.
    Simple(Bytes),
    /// An error reply (`-ERR ...`), without its `-` and CRLF.
    Error(Bytes),
    /// An integer (`:42`).
    Int(i64),
    /// A bulk string; `None` is the null bulk string (`$-1`).
    Bulk(Option<Bytes>),
    /// An array; `None` is the null array (`*-1`).
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The bytes of a simple or bulk string; `None` for every other value (and for null).
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Simple(b) | Value::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }
}

/// Why the decoder refused its input. After any of these the stream is out of sync: drop the
/// connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A type byte that is not one of the RESP2 types `+ - : $ *`.
    #[error("unexpected RESP type byte 0x{0:02x} (not a RESP2 reply)")]
    InvalidType(u8),
    /// A line (simple string, error, integer or length header) longer than the limit without
    /// its CRLF.
    #[error("RESP line longer than {max} bytes")]
    LineTooLong {
        /// [`Limits::max_line_len`].
        max: usize,
    },
    /// A `\r` not followed by `\n`, or a bulk string whose body is not followed by CRLF.
    #[error("malformed RESP line ending (expected CRLF)")]
    BadLineEnding,
    /// An integer or length that is not a decimal `i64` (or a length below -1).
    #[error("invalid RESP integer or length")]
    InvalidInteger,
    /// A bulk string header announcing more than the limit.
    #[error("RESP bulk string of {len} bytes exceeds the limit of {max} bytes")]
    BulkTooLong {
        /// The announced length.
        len: u64,
        /// [`Limits::max_bulk_len`].
        max: usize,
    },
    /// Arrays announcing more elements, in total over one reply, than the limit.
    #[error("RESP reply with more than {max} array elements")]
    ArrayTooLong {
        /// [`Limits::max_array_len`].
        max: usize,
    },
    /// Arrays nested deeper than the limit.
    #[error("RESP arrays nested deeper than {max}")]
    TooDeep {
        /// [`Limits::max_depth`].
        max: usize,
    },
    /// One reply larger than the limit.
    #[error("RESP reply larger than {max} bytes")]
    FrameTooLong {
        /// [`Limits::max_frame_len`].
        max: usize,
    },
}

/// Bounds on what the [`Decoder`] accepts. Each is checked before the data it announces is
/// buffered, so the read buffer never holds more than `max_frame_len` plus one read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest bulk string, in bytes. Default: 512 MiB, Redis' own `proto-max-bulk-len`.
    pub max_bulk_len: usize,
    /// Most array elements in one reply, counted over all nested arrays together (so nesting
    /// cannot multiply it). Default: 1 048 576.
    pub max_array_len: usize,
    /// Deepest array nesting; a flat array has depth 1. Default: 8 (pub/sub pushes use 1).
    pub max_depth: usize,
    /// Longest simple string, error or integer line, in bytes without CRLF. Default: 64 KiB.
    pub max_line_len: usize,
    /// Largest single reply, in bytes, headers included. Default: 513 MiB (one maximal bulk
    /// string plus room for the array around it).
    pub max_frame_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_array_len: 1 << 20,
            max_depth: 8,
            max_line_len: 64 * 1024,
            max_frame_len: 513 * 1024 * 1024,
        }
    }
}

/// Appends a command, an array of bulk strings, to `out`.
pub fn encode_command(out: &mut BytesMut, args: &[&[u8]]) {
    encode_array_header(out, args.len());
    for arg in args {
        encode_bulk(out, arg);
    }
}

/// Appends an array header `*<len>\r\n`.
pub fn encode_array_header(out: &mut BytesMut, len: usize) {
    out.extend_from_slice(b"*");
    push_decimal(out, len);
    out.extend_from_slice(b"\r\n");
}

/// Appends one bulk string `$<len>\r\n<bytes>\r\n`.
pub fn encode_bulk(out: &mut BytesMut, bytes: &[u8]) {
    encode_bulk_header(out, bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Appends only the header `$<len>\r\n` of a bulk string; the caller appends the `len` bytes
/// and the closing `\r\n` (lets a large payload be written without an extra copy).
pub fn encode_bulk_header(out: &mut BytesMut, len: usize) {
    out.extend_from_slice(b"$");
    push_decimal(out, len);
    out.extend_from_slice(b"\r\n");
}

/// Appends any value as Redis would send it (for tests, fakes and round-trip checks). Simple
/// strings and errors must not contain CR or LF. Recurses once per nesting level.
pub fn encode_value(out: &mut BytesMut, value: &Value) {
    match value {
        Value::Simple(s) => line(out, b'+', s),
        Value::Error(s) => line(out, b'-', s),
        Value::Int(n) => line(out, b':', n.to_string().as_bytes()),
        Value::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
        Value::Bulk(Some(b)) => encode_bulk(out, b),
        Value::Array(None) => out.extend_from_slice(b"*-1\r\n"),
        Value::Array(Some(items)) => {
            encode_array_header(out, items.len());
            for item in items {
                encode_value(out, item);
            }
        }
    }
    fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
        out.extend_from_slice(&[kind]);
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_decimal(out: &mut BytesMut, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Incremental RESP2 decoder: feed it the read buffer after every read.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    /// The buffer length below which the pending reply cannot be complete (skips re-scanning).
    need: usize,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder { limits, need: 0 }
    }

    /// Takes one complete reply off the front of `buf`. Returns `Ok(None)` when `buf` holds
    /// only part of a reply (read more, then call again with the same buffer). Never panics;
    /// after an `Err` the stream is unusable.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Value>, ProtocolError> {
        if buf.len() < self.need {
            return Ok(None);
        }
        match walk(buf, &self.limits, &mut Scan)? {
            Walk::Incomplete { need } => {
                self.need = need;
                Ok(None)
            }
            Walk::Complete { end, .. } => {
                self.need = 0;
                let frame = buf.split_to(end).freeze();
                match walk(&frame, &self.limits, &mut Build::new(&frame))? {
                    Walk::Complete { value: Some(v), .. } => Ok(Some(v)),
                    // Unreachable: the same bytes scanned complete a moment ago, and every
                    // complete reply yields a value.
                    _ => Err(ProtocolError::BadLineEnding),
                }
            }
        }
    }
}

/// What [`walk`] found.
enum Walk {
    Incomplete { need: usize },
    Complete { end: usize, value: Option<Value> },
}

/// Receives the values [`walk`] parses: a no-op for the scan, a tree builder for the build.
trait Visit {
    fn scalar(&mut self, kind: u8, range: (usize, usize), int: i64);
    fn bulk(&mut self, range: Option<(usize, usize)>);
    fn array(&mut self, len: Option<usize>);
    fn finish(&mut self) -> Option<Value>;
}

struct Scan;

impl Visit for Scan {
    fn scalar(&mut self, _: u8, _: (usize, usize), _: i64) {}
    fn bulk(&mut self, _: Option<(usize, usize)>) {}
    fn array(&mut self, _: Option<usize>) {}
    fn finish(&mut self) -> Option<Value> {
        None
    }
}

/// Builds the value tree iteratively (no recursion, whatever the configured depth).
struct Build<'a> {
    frame: &'a Bytes,
    stack: Vec<(Vec<Value>, usize)>,
    done: Option<Value>,
}

impl<'a> Build<'a> {
    fn new(frame: &'a Bytes) -> Self {
        Build {
            frame,
            stack: Vec::new(),
            done: None,
        }
    }

    fn push(&mut self, mut value: Value) {
        loop {
            let Some((items, len)) = self.stack.last_mut() else {
                self.done = Some(value);
                return;
            };
            items.push(value);
            if items.len() < *len {
                return;
            }
            match self.stack.pop() {
                Some((items, _)) => value = Value::Array(Some(items)),
                None => return,
            }
        }
    }
}

impl Visit for Build<'_> {
    fn scalar(&mut self, kind: u8, (a, b): (usize, usize), int: i64) {
        let v = match kind {
            b'+' => Value::Simple(self.frame.slice(a..b)),
            b'-' => Value::Error(self.frame.slice(a..b)),
            _ => Value::Int(int),
        };
        self.push(v);
    }
    fn bulk(&mut self, range: Option<(usize, usize)>) {
        self.push(Value::Bulk(range.map(|(a, b)| self.frame.slice(a..b))));
    }
    fn array(&mut self, len: Option<usize>) {
        match len {
            // The frame is complete, so `n` elements of at least 3 bytes each are present.
            Some(n) if n > 0 => self.stack.push((Vec::with_capacity(n), n)),
            Some(_) => self.push(Value::Array(Some(Vec::new()))),
            None => self.push(Value::Array(None)),
        }
    }
    fn finish(&mut self) -> Option<Value> {
        self.done.take()
    }
}

/// Parses one reply at the start of `buf`, checking every limit, and reports each value to
/// `visit` in order.
fn walk(buf: &[u8], limits: &Limits, visit: &mut impl Visit) -> Result<Walk, ProtocolError> {
    let frame_limit = |need: usize| {
        if need > limits.max_frame_len {
            Err(ProtocolError::FrameTooLong {
                max: limits.max_frame_len,
            })
        } else {
            Ok(Walk::Incomplete { need })
        }
    };
    // Elements still expected by each open array, innermost last.
    let mut open: Vec<usize> = Vec::new();
    let mut elements: usize = 0;
    let mut pos = 0;
    loop {
        let Some(&kind) = buf.get(pos) else {
            return frame_limit(pos + 1);
        };
        if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
            return Err(ProtocolError::InvalidType(kind));
        }
        let Some((start, end, next)) = line(buf, pos + 1, limits.max_line_len)? else {
            return frame_limit(buf.len() + 1);
        };
        let text = &buf[start..end];
        match kind {
            b'+' | b'-' => visit.scalar(kind, (start, end), 0),
            b':' => visit.scalar(kind, (start, end), parse_int(text)?),
            b'$' => match parse_len(text)? {
                None => visit.bulk(None),
                Some(len) => {
                    if len > limits.max_bulk_len as u64 {
                        return Err(ProtocolError::BulkTooLong {
                            len,
                            max: limits.max_bulk_len,
                        });
                    }
                    // `len <= max_bulk_len`, a usize, so the cast is lossless.
                    let body_end = next.saturating_add(len as usize);
                    let need = body_end.saturating_add(2);
                    if need > limits.max_frame_len {
                        return Err(ProtocolError::FrameTooLong {
                            max: limits.max_frame_len,
                        });
                    }
                    if buf.len() < need {
                        return Ok(Walk::Incomplete { need });
                    }
                    if &buf[body_end..need] != b"\r\n" {
                        return Err(ProtocolError::BadLineEnding);
                    }
                    visit.bulk(Some((next, body_end)));
                    pos = need;
                    if close(&mut open) {
                        return Ok(Walk::Complete {
                            end: pos,
                            value: visit.finish(),
                        });
                    }
                    continue;
                }
            },
            b'*' => match parse_len(text)? {
                None => visit.array(None),
                Some(0) => visit.array(Some(0)),
                Some(len) => {
                    let max = limits.max_array_len;
                    elements = elements.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                    if elements > max {
                        return Err(ProtocolError::ArrayTooLong { max });
                    }
                    if open.len() >= limits.max_depth {
                        return Err(ProtocolError::TooDeep {
                            max: limits.max_depth,
                        });
                    }
                    // `elements <= max_array_len`, so `len` fits a usize.
                    let len = len as usize;
                    visit.array(Some(len));
                    open.push(len);
                    pos = next;
                    continue;
                }
            },
            other => return Err(ProtocolError::InvalidType(other)),
        }
        pos = next;
        if close(&mut open) {
            return Ok(Walk::Complete {
                end: pos,
                value: visit.finish(),
            });
        }
    }
}

/// Counts one finished value against the open arrays; true when the whole reply is complete.
fn close(open: &mut Vec<usize>) -> bool {
    while let Some(left) = open.last_mut() {
        *left -= 1;
        if *left > 0 {
            return false;
        }
        open.pop();
    }
    true
}

/// Finds the CRLF-terminated line starting at `from`: `(start, end, next)` with `end` at the
/// `\r` and `next` after the `\n`; `None` when the CRLF has not arrived yet.
fn line(
    buf: &[u8],
    from: usize,
    max: usize,
) -> Result<Option<(usize, usize, usize)>, ProtocolError> {
    let rest = buf.get(from..).unwrap_or_default();
    let window = &rest[..rest.len().min(max.saturating_add(1))];
    match window.iter().position(|&b| b == b'\r') {
        Some(i) => match rest.get(i + 1) {
            Some(b'\n') => Ok(Some((from, from + i, from + i + 2))),
            Some(_) => Err(ProtocolError::BadLineEnding),
            None => Ok(None),
        },
        None if rest.len() > max => Err(ProtocolError::LineTooLong { max }),
        None => Ok(None),
    }
}

/// A strict decimal `i64`: optional `-`, then 1 to 19 digits, no overflow.
fn parse_int(text: &[u8]) -> Result<i64, ProtocolError> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(ProtocolError::InvalidInteger);
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(ProtocolError::InvalidInteger);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if neg {
                    n.checked_sub(i64::from(d - b'0'))
                } else {
                    n.checked_add(i64::from(d - b'0'))
                }
            })
            .ok_or(ProtocolError::InvalidInteger)?;
    }
    Ok(n)
}

/// A length header: `-1` is null (`None`); other negatives are invalid.
fn parse_len(text: &[u8]) -> Result<Option<u64>, ProtocolError> {
    match parse_int(text)? {
        -1 => Ok(None),
        n => u64::try_from(n)
            .map(Some)
            .map_err(|_| ProtocolError::InvalidInteger),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], limits: Limits) -> Result<Vec<Value>, ProtocolError> {
        let mut d = Decoder::new(limits);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(v) = d.decode(&mut buf)? {
            out.push(v);
        }
        Ok(out)
    }

    fn bulk(s: &str) -> Value {
        Value::Bulk(Some(Bytes::copy_from_slice(s.as_bytes())))
    }

    /// Golden vectors: wire bytes and the value they decode to.
    fn vectors() -> Vec<(&'static [u8], Value)> {
        vec![
            (b"+OK\r\n", Value::Simple(Bytes::from_static(b"OK"))),
            (b"+\r\n", Value::Simple(Bytes::new())),
            (
                b"-ERR unknown command\r\n",
                Value::Error(Bytes::from_static(b"ERR unknown command")),
            ),
            (b":0\r\n", Value::Int(0)),
            (b":-42\r\n", Value::Int(-42)),
            (b":9223372036854775807\r\n", Value::Int(i64::MAX)),
            (b":-9223372036854775808\r\n", Value::Int(i64::MIN)),
            (b"$-1\r\n", Value::Bulk(None)),
            (b"$0\r\n\r\n", bulk("")),
            (
                b"$5\r\na\r\nb\x00\r\n",
                Value::Bulk(Some(Bytes::from_static(b"a\r\nb\x00"))),
            ),
            (b"*-1\r\n", Value::Array(None)),
            (b"*0\r\n", Value::Array(Some(vec![]))),
            (
                b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nhi!\r\n",
                Value::Array(Some(vec![bulk("message"), bulk("ch"), bulk("hi!")])),
            ),
            (
                b"*2\r\n*2\r\n:1\r\n*0\r\n+x\r\n",
                Value::Array(Some(vec![
                    Value::Array(Some(vec![Value::Int(1), Value::Array(Some(vec![]))])),
                    Value::Simple(Bytes::from_static(b"x")),
                ])),
            ),
        ]
    }

    #[test]
    fn golden_vectors_decode() {
        for (wire, want) in vectors() {
            assert_eq!(
                decode_all(wire, Limits::default()).unwrap(),
                vec![want],
                "{wire:?}"
            );
        }
    }

    #[test]
    fn golden_vectors_encode_back() {
        for (wire, value) in vectors() {
            let mut out = BytesMut::new();
            encode_value(&mut out, &value);
            assert_eq!(&out[..], wire);
        }
    }

    #[test]
    fn split_at_every_byte() {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (wire, v) in vectors() {
            stream.extend_from_slice(wire);
            want.push(v);
        }
        for split in 0..=stream.len() {
            let mut d = Decoder::new(Limits::default());
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in [&stream[..split], &stream[split..]] {
                buf.extend_from_slice(chunk);
                while let Some(v) = d.decode(&mut buf).unwrap() {
                    got.push(v);
                }
            }
            assert_eq!(got, want, "split at {split}");
        }
        // And one byte at a time.
        let mut d = Decoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in &stream {
            buf.extend_from_slice(&[*b]);
            while let Some(v) = d.decode(&mut buf).unwrap() {
                got.push(v);
            }
        }
        assert_eq!(got, want);
        assert!(buf.is_empty());
    }

    #[test]
    fn encoded_command_is_an_array_of_bulks() {
        let mut out = BytesMut::new();
        encode_command(&mut out, &[b"PUBLISH", b"ch", b""]);
        assert_eq!(&out[..], b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$0\r\n\r\n");
        let back = decode_all(&out, Limits::default()).unwrap();
        assert_eq!(
            back,
            vec![Value::Array(Some(vec![
                bulk("PUBLISH"),
                bulk("ch"),
                bulk("")
            ]))]
        );
        let mut big = BytesMut::new();
        encode_bulk_header(&mut big, 1234567890);
        assert_eq!(&big[..], b"$1234567890\r\n");
    }

    #[test]
    fn limits_are_enforced_on_the_header() {
        let small = Limits {
            max_bulk_len: 10,
            max_array_len: 4,
            max_depth: 2,
            max_line_len: 8,
            max_frame_len: 64,
        };
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"$11\r\n", ProtocolError::BulkTooLong { len: 11, max: 10 }),
            (
                b"$99999999\r\n",
                ProtocolError::BulkTooLong {
                    len: 99999999,
                    max: 10,
                },
            ),
            (b"*5\r\n", ProtocolError::ArrayTooLong { max: 4 }),
            (b"*2\r\n*3\r\n", ProtocolError::ArrayTooLong { max: 4 }),
            (b"*1\r\n*1\r\n*1\r\n", ProtocolError::TooDeep { max: 2 }),
            (b"+123456789", ProtocolError::LineTooLong { max: 8 }),
            (b"+123456789\r\n", ProtocolError::LineTooLong { max: 8 }),
            (b"$-2\r\n", ProtocolError::InvalidInteger),
            (b":12a\r\n", ProtocolError::InvalidInteger),
            (b":\r\n", ProtocolError::InvalidInteger),
            (b"+a\rb\r\n", ProtocolError::BadLineEnding),
            (b"$1\r\nab\r\n", ProtocolError::BadLineEnding),
            (b"%1\r\n", ProtocolError::InvalidType(b'%')),
            (b"\r\n", ProtocolError::InvalidType(b'\r')),
        ];
        for (wire, want) in cases {
            assert_eq!(
                decode_all(wire, small.clone()),
                Err(want.clone()),
                "{wire:?}"
            );
        }
        assert_eq!(
            decode_all(b"+12345678\r\n", small.clone()).unwrap().len(),
            1
        );
        let tiny_frame = Limits {
            max_frame_len: 16,
            ..small
        };
        assert_eq!(
            decode_all(b"*1\r\n$10\r\n", tiny_frame),
            Err(ProtocolError::FrameTooLong { max: 16 })
        );
        assert_eq!(
            decode_all(b":9223372036854775808\r\n", Limits::default()),
            Err(ProtocolError::InvalidInteger)
        );
        assert_eq!(
            decode_all(b":-9223372036854775809\r\n", Limits::default()),
            Err(ProtocolError::InvalidInteger)
        );
        // The default bulk limit is Redis' own 512 MiB.
        assert_eq!(
            decode_all(b"$536870913\r\n", Limits::default()),
            Err(ProtocolError::BulkTooLong {
                len: 536870913,
                max: 512 * 1024 * 1024
            })
        );
    }

    #[test]
    fn many_small_elements_hit_the_frame_limit_before_completing() {
        let limits = Limits {
            max_frame_len: 100,
            ..Limits::default()
        };
        let mut d = Decoder::new(limits);
        let mut buf = BytesMut::from(&b"*1000\r\n"[..]);
        let mut err = None;
        for _ in 0..1000 {
            buf.extend_from_slice(b":1\r\n");
            if let Err(e) = d.decode(&mut buf) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(ProtocolError::FrameTooLong { max: 100 }));
    }

    /// xorshift64*: deterministic pseudo-random bytes without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"+-:$*\r\n0123456789-1%>_ab";
        let limits = Limits {
            max_bulk_len: 64,
            max_array_len: 32,
            max_depth: 4,
            max_line_len: 16,
            max_frame_len: 256,
        };
        for round in 0..20_000 {
            let len = (rng.next() % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next();
                    // Mostly protocol-looking bytes, sometimes anything.
                    if round % 3 == 0 {
                        r as u8
                    } else {
                        alphabet[(r % alphabet.len() as u64) as usize]
                    }
                })
                .collect();
            for limits in [limits.clone(), Limits::default()] {
                let mut d = Decoder::new(limits);
                let mut buf = BytesMut::new();
                for chunk in bytes.chunks(1 + (round % 7)) {
                    buf.extend_from_slice(chunk);
                    while let Ok(Some(v)) = d.decode(&mut buf) {
                        // Whatever decodes re-encodes to bytes that decode to the same value.
                        let mut again = BytesMut::new();
                        encode_value(&mut again, &v);
                        assert_eq!(
                            Decoder::new(Limits::default()).decode(&mut again),
                            Ok(Some(v))
                        );
                        assert!(again.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn decoded_bytes_are_removed_and_the_rest_kept() {
        let mut d = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"+OK\r\n$3\r\nab"[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Some(Value::Simple(Bytes::from_static(b"OK")))
        );
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"$3\r\nab");
        buf.extend_from_slice(b"c\r\n");
        assert_eq!(d.decode(&mut buf).unwrap(), Some(bulk("abc")));
        assert!(buf.is_empty());
    }
}
