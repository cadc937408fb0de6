//! One Socket.IO packet, encoded by the default parser.
//!
//! Spec: <https://github.com/socketio/socket.io-protocol#packet-encoding>. The text form is
//! `<type>[<attachments>-][<nsp>,][<id>][<json>]`, e.g. `2["a",1]`, `2/admin,1["a"]`,
//! `51-["x",{"_placeholder":true,"num":0}]`. On the wire it is the data of an Engine.IO
//! `message`, so it is preceded by `4` (`42["a",1]`).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::binary::validate_placeholders;

/// The Socket.IO packet type, the first character of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: connect to a namespace (client), or accept the connection (server, `{"sid":..}`).
    Connect = 0,
    /// `1`: leave a namespace. Carries no data.
    Disconnect = 1,
    /// `2`: an event: `["name", ...args]`, optionally with an ack id.
    Event = 2,
    /// `3`: the answer to an event with an ack id: `[...args]`.
    Ack = 3,
    /// `4`: the server refuses a namespace connection: `{"message":..,"data":..}`.
    ConnectError = 4,
    /// `5`: an event with binary attachments (placeholders in the data).
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments (placeholders in the data).
    BinaryAck = 6,
}

impl PacketType {
    /// The type for its wire digit (`b'0'..=b'6'`).
    pub fn from_digit(digit: u8) -> Option<PacketType> {
        Some(match digit {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit (`b'0'..=b'6'`).
    pub fn digit(self) -> u8 {
        b'0' + self as u8
    }

    /// Whether this type announces binary attachments (`BinaryEvent`, `BinaryAck`).
    pub fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// A Socket.IO packet.
///
/// Build one with the constructors ([`Packet::event`], [`Packet::ack`], ...) or decode one
/// with [`Packet::decode`]. `nsp` must start with `/` and must not contain `,` (the default
/// parser has no escaping; the reference encoder throws on such a namespace, this one would
/// write a packet that does not decode back).
///
/// Socket.IO protocol v4 (socket.io-client 2.x, over Engine.IO v3) uses the same encoding,
/// with these differences the caller handles: a client's CONNECT may carry a query string in
/// the namespace (`0/admin?token=1,`, decoded here as part of `nsp`), the server's CONNECT
/// has no data (`40`, `40/admin,`), type 4 is named ERROR and usually carries a plain string
/// (`44"Not authorized"`), and the default namespace is connected implicitly.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet type.
    pub kind: PacketType,
    /// The namespace, `"/"` by default.
    pub nsp: String,
    /// The ack id (events that want an answer, and acks).
    pub id: Option<u64>,
    /// The JSON payload, with binary replaced by placeholders
    /// (see [`super::placeholder`]).
    pub data: Option<Value>,
    /// Number of binary attachments announced (only for [`PacketType::BinaryEvent`] and
    /// [`PacketType::BinaryAck`]; 0 otherwise).
    pub attachments: usize,
}

/// Limits enforced while decoding packets from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest number of binary attachments one packet may announce; more is
    /// [`DecodeError::TooManyAttachments`]. Default 10, as the reference parser's
    /// `maxAttachments`.
    pub max_attachments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attachments: 10,
        }
    }
}

/// Event names a peer must not send (they have a special meaning in the reference
/// implementation); an event with one of them as its name does not decode.
pub const RESERVED_EVENTS: &[&str] = &[
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is one of the [`RESERVED_EVENTS`].
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// Why a text is not a valid Socket.IO packet, or binary attachments do not fit their packet.
///
/// Compare variants in tests; the [`fmt::Display`] text is not API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text is empty.
    Empty,
    /// The first byte is not a packet type digit `'0'..='6'`; holds that byte.
    UnknownType(u8),
    /// A binary type without a positive `<n>-` attachment count, or that count is malformed.
    InvalidAttachments,
    /// More attachments than [`Limits::max_attachments`].
    TooManyAttachments,
    /// The ack id does not fit in a `u64`.
    InvalidId,
    /// An ack id on a type that has none (CONNECT, DISCONNECT, CONNECT_ERROR).
    UnexpectedId,
    /// An ACK or BINARY_ACK without an ack id.
    MissingAckId,
    /// The data after the header is not valid JSON (this includes trailing garbage).
    InvalidJson,
    /// The data does not have the shape the packet type requires (e.g. an event that is not
    /// an array starting with a string name, or data on a DISCONNECT).
    InvalidPayload,
    /// An event named with one of the [`RESERVED_EVENTS`].
    ReservedEvent,
    /// A placeholder whose `num` is not an integer below the number of attachments; or, in
    /// a msgpack packet with inline binary, a map shaped like a placeholder.
    InvalidPlaceholder,
    /// A binary attachment arrived that no packet announced.
    UnexpectedAttachment,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Empty => "empty socket.io packet",
            DecodeError::UnknownType(_) => "unknown socket.io packet type",
            DecodeError::InvalidAttachments => "illegal attachments",
            DecodeError::TooManyAttachments => "too many attachments",
            DecodeError::InvalidId => "invalid ack id",
            DecodeError::UnexpectedId => "ack id on a packet type that has none",
            DecodeError::MissingAckId => "ack without an id",
            DecodeError::InvalidJson => "invalid JSON in socket.io packet",
            DecodeError::InvalidPayload => "invalid payload",
            DecodeError::ReservedEvent => "reserved event name",
            DecodeError::InvalidPlaceholder => "invalid binary placeholder",
            DecodeError::UnexpectedAttachment => "unexpected binary attachment",
        })
    }
}

impl std::error::Error for DecodeError {}

/// Longest ack id or attachment count accepted, in digits (`u64::MAX` has 20).
const MAX_DIGITS: usize = 20;

impl Packet {
    /// Decode the Socket.IO text (the Engine.IO message data, WITHOUT the engine `4`).
    ///
    /// Rules, as the reference parser (and the official v5 test suite) expect:
    /// - A namespace is present iff the text after the type (and attachment count) starts
    ///   with `/`; it ends at the first `,` or at the end of the text (`0/custom` is valid).
    ///   Default `"/"`.
    /// - The ack id is the ASCII digits directly before the JSON (at most 20 digits, must fit
    ///   a `u64`).
    /// - CONNECT: data absent or an object. DISCONNECT: no data. CONNECT_ERROR: an object or
    ///   a string. EVENT/BINARY_EVENT: a non-empty array whose first element is a string that
    ///   is not a [reserved](RESERVED_EVENTS) name. ACK/BINARY_ACK: an array, and an id.
    ///   Only events and acks may carry an id.
    /// - BINARY_EVENT/BINARY_ACK must announce `<n>-` attachments with
    ///   `1 <= n <= limits.max_attachments`, and every placeholder in the data must have a
    ///   `num` below `n`.
    ///
    /// # Errors
    /// Any violation of the rules above; never panics, whatever the input.
    pub fn decode(text: &str, limits: &Limits) -> Result<Packet, DecodeError> {
        let Header {
            kind,
            attachments,
            nsp,
            id,
            rest,
        } = Header::decode(text, limits)?;
        let data = if rest.is_empty() {
            None
        } else {
            Some(serde_json::from_str::<Value>(rest).map_err(|_| DecodeError::InvalidJson)?)
        };

        validate(kind, id, data.as_ref())?;
        if let Some(data) = &data {
            if kind.is_binary() {
                validate_placeholders(data, attachments)?;
            }
        }
        Ok(Packet {
            kind,
            nsp: nsp.to_owned(),
            id,
            data,
            attachments,
        })
    }

    /// Encode to text, without the engine `4`, as the reference encoder does.
    ///
    /// The namespace is written only when it is not `"/"`, and then always followed by a
    /// comma, even with nothing after it (`1/admin,`). Binary types write `<n>-` first.
    /// Data is compact JSON.
    pub fn encode(&self) -> String {
        let mut out = Vec::with_capacity(self.size_hint());
        self.encode_into(&mut out);
        // Only ASCII and serde_json output (UTF-8) were written.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Encode straight into a full Engine.IO text frame: `4` followed by [`Packet::encode`],
    /// in one buffer with no copy (the hot path of every emit). The result is UTF-8, for
    /// `engine::Frame::Text`.
    pub fn encode_engine_frame(&self) -> Bytes {
        let mut out = Vec::with_capacity(1 + self.size_hint());
        out.push(b'4');
        self.encode_into(&mut out);
        Bytes::from(out)
    }

    fn size_hint(&self) -> usize {
        // type + "<n>-" + "nsp," + id; the JSON is usually small, leave room for it.
        1 + MAX_DIGITS + 1 + self.nsp.len() + 1 + MAX_DIGITS + 64
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        encode_header_into(self.kind, self.attachments, &self.nsp, self.id, out);
        if let Some(data) = &self.data {
            // Writing a `Value` into a `Vec` cannot fail.
            let _ = serde_json::to_writer(&mut *out, data);
        }
    }

    /// A CONNECT packet: from a client with optional auth data (an object), or the server's
    /// answer with `{"sid":..}`.
    pub fn connect(nsp: &str, data: Option<Value>) -> Packet {
        Packet::new(PacketType::Connect, nsp, None, data, 0)
    }

    /// A CONNECT_ERROR packet with data `{"message":message}`, plus `"data":data` when given
    /// (as the reference server writes middleware errors).
    pub fn connect_error(nsp: &str, message: &str, data: Option<Value>) -> Packet {
        let mut obj = Map::new();
        obj.insert("message".to_owned(), Value::String(message.to_owned()));
        if let Some(data) = data {
            obj.insert("data".to_owned(), data);
        }
        Packet::new(
            PacketType::ConnectError,
            nsp,
            None,
            Some(Value::Object(obj)),
            0,
        )
    }

    /// A DISCONNECT packet (no data).
    pub fn disconnect(nsp: &str) -> Packet {
        Packet::new(PacketType::Disconnect, nsp, None, None, 0)
    }

    /// An EVENT packet. `data` is the array `["name", ...args]`; `id` asks for an ack.
    /// For data with binary placeholders use [`Packet::binary_event`].
    pub fn event(nsp: &str, data: Value, id: Option<u64>) -> Packet {
        Packet::new(PacketType::Event, nsp, id, Some(data), 0)
    }

    /// A BINARY_EVENT packet announcing `attachments` binary frames, which `data` references
    /// with placeholders (see [`super::placeholder`]).
    pub fn binary_event(nsp: &str, data: Value, id: Option<u64>, attachments: usize) -> Packet {
        Packet::new(PacketType::BinaryEvent, nsp, id, Some(data), attachments)
    }

    /// An ACK packet answering the event with ack id `id`; `data` is the array of args.
    pub fn ack(nsp: &str, id: u64, data: Value) -> Packet {
        Packet::new(PacketType::Ack, nsp, Some(id), Some(data), 0)
    }

    /// A BINARY_ACK packet announcing `attachments` binary frames referenced by placeholders.
    pub fn binary_ack(nsp: &str, id: u64, data: Value, attachments: usize) -> Packet {
        Packet::new(
            PacketType::BinaryAck,
            nsp,
            Some(id),
            Some(data),
            attachments,
        )
    }

    fn new(
        kind: PacketType,
        nsp: &str,
        id: Option<u64>,
        data: Option<Value>,
        attachments: usize,
    ) -> Packet {
        Packet {
            kind,
            nsp: nsp.to_owned(),
            id,
            data,
            attachments,
        }
    }
}

/// The part of a packet before its JSON.
struct Header<'a> {
    kind: PacketType,
    attachments: usize,
    nsp: &'a str,
    id: Option<u64>,
    /// The JSON text (empty when there is none).
    rest: &'a str,
}

impl<'a> Header<'a> {
    fn decode(text: &'a str, limits: &Limits) -> Result<Header<'a>, DecodeError> {
        let bytes = text.as_bytes();
        let first = *bytes.first().ok_or(DecodeError::Empty)?;
        let kind = PacketType::from_digit(first).ok_or(DecodeError::UnknownType(first))?;
        // Everything consumed so far is ASCII, so `rest` always starts on a char boundary.
        let mut rest = text.get(1..).unwrap_or_default();

        let mut attachments = 0;
        if kind.is_binary() {
            let (digits, after) = split_digits(rest);
            let after = after
                .strip_prefix('-')
                .ok_or(DecodeError::InvalidAttachments)?;
            if digits.is_empty() {
                return Err(DecodeError::InvalidAttachments);
            }
            let n = parse_u64(digits).ok_or(DecodeError::TooManyAttachments)?;
            if n == 0 {
                return Err(DecodeError::InvalidAttachments);
            }
            attachments = usize::try_from(n)
                .ok()
                .filter(|&n| n <= limits.max_attachments)
                .ok_or(DecodeError::TooManyAttachments)?;
            rest = after;
        }

        let nsp = if rest.starts_with('/') {
            let (nsp, after) = rest.split_once(',').unwrap_or((rest, ""));
            rest = after;
            nsp
        } else {
            "/"
        };

        let (digits, after) = split_digits(rest);
        let id = if digits.is_empty() {
            None
        } else {
            Some(parse_u64(digits).ok_or(DecodeError::InvalidId)?)
        };
        Ok(Header {
            kind,
            attachments,
            nsp,
            id,
            rest: after,
        })
    }
}

/// A plain (not binary) EVENT packet, decoded without building the `[name, args..]` array:
/// the namespace is borrowed from the text, and so is the name unless it has escapes. What
/// [`decode_event`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    /// The namespace, `"/"` by default.
    pub nsp: &'a str,
    /// The ack id, if the sender wants an answer.
    pub id: Option<u64>,
    /// The event name (never a [reserved](RESERVED_EVENTS) one).
    pub name: Cow<'a, str>,
    /// The arguments after the name.
    pub args: Vec<Value>,
}

/// Decode `text` if it is a plain EVENT packet (type `2`): the hot path of a server, with
/// exactly [`Packet::decode`]'s verdicts for such a text (the same errors for the same
/// input). `None` for any other packet type, which [`Packet::decode`] handles.
pub fn decode_event<'a>(text: &'a str, limits: &Limits) -> Option<Result<Event<'a>, DecodeError>> {
    if text.as_bytes().first() != Some(&PacketType::Event.digit()) {
        return None;
    }
    Some(decode_event_inner(text, limits))
}

fn decode_event_inner<'a>(text: &'a str, limits: &Limits) -> Result<Event<'a>, DecodeError> {
    let header = Header::decode(text, limits)?;
    if header.rest.is_empty() {
        return Err(DecodeError::InvalidPayload);
    }
    let mut de = serde_json::Deserializer::from_str(header.rest);
    let shape = serde::Deserializer::deserialize_any(&mut de, EventVisitor)
        .map_err(|_| DecodeError::InvalidJson)?;
    de.end().map_err(|_| DecodeError::InvalidJson)?;
    match shape {
        EventShape::Event(name, _) if is_reserved_event(&name) => Err(DecodeError::ReservedEvent),
        EventShape::Event(name, args) => Ok(Event {
            nsp: header.nsp,
            id: header.id,
            name,
            args,
        }),
        EventShape::Invalid => Err(DecodeError::InvalidPayload),
    }
}

/// What the JSON of an EVENT turned out to be. The whole text is always read, so that
/// invalid JSON anywhere is [`DecodeError::InvalidJson`] before a wrong shape is reported,
/// as [`Packet::decode`] does.
enum EventShape<'a> {
    Event(Cow<'a, str>, Vec<Value>),
    Invalid,
}

/// The `visit_*` methods of JSON values a visitor reads through and drops, answering `$other`
/// (the whole text must still be valid JSON).
macro_rules! drop_other_values {
    ($de:lifetime, $other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_map<A: MapAccess<$de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = EventShape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventShape<'de>, A::Error> {
        let Some(first) = seq.next_element::<NameOrValue<'de>>()? else {
            return Ok(EventShape::Invalid);
        };
        let mut args = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            args.push(v);
        }
        Ok(match first {
            NameOrValue::Name(name) => EventShape::Event(name, args),
            NameOrValue::Other => EventShape::Invalid,
        })
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<EventShape<'de>, E> {
        Ok(EventShape::Invalid)
    }

    drop_other_values!('de, EventShape::Invalid);
}

/// The first element of an event: its name if it is a string, anything else read and dropped.
enum NameOrValue<'a> {
    Name(Cow<'a, str>),
    Other,
}

impl<'de> Deserialize<'de> for NameOrValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NameOrValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(NameOrValue::Name(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(NameOrValue::Name(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(NameOrValue::Name(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(NameOrValue::Other)
            }
            drop_other_values!('de, NameOrValue::Other);
        }
        d.deserialize_any(V)
    }
}

/// Check the id and data against what `kind` allows.
pub(crate) fn validate(
    kind: PacketType,
    id: Option<u64>,
    data: Option<&Value>,
) -> Result<(), DecodeError> {
    let ok = match kind {
        PacketType::Connect | PacketType::Disconnect | PacketType::ConnectError if id.is_some() => {
            return Err(DecodeError::UnexpectedId)
        }
        PacketType::Ack | PacketType::BinaryAck if id.is_none() => {
            return Err(DecodeError::MissingAckId)
        }
        PacketType::Connect => matches!(data, None | Some(Value::Object(_))),
        PacketType::Disconnect => data.is_none(),
        PacketType::ConnectError => matches!(data, Some(Value::Object(_) | Value::String(_))),
        PacketType::Ack | PacketType::BinaryAck => matches!(data, Some(Value::Array(_))),
        PacketType::Event | PacketType::BinaryEvent => {
            match data.and_then(Value::as_array).and_then(|a| a.first()) {
                Some(Value::String(name)) if is_reserved_event(name) => {
                    return Err(DecodeError::ReservedEvent)
                }
                Some(Value::String(_)) => true,
                _ => false,
            }
        }
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::InvalidPayload)
    }
}

/// Split off the leading ASCII digits.
fn split_digits(s: &str) -> (&str, &str) {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    // The first `n` bytes are ASCII, so `n` is a char boundary.
    s.split_at_checked(n).unwrap_or(("", s))
}

/// Write a packet's header: type, `<attachments>-` for a binary type, `<nsp>,` unless the
/// namespace is `/`, then the ack id.
pub(super) fn encode_header_into(
    kind: PacketType,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
    out: &mut Vec<u8>,
) {
    out.push(kind.digit());
    if kind.is_binary() {
        crate::decimal::put(out, attachments as u64);
        out.push(b'-');
    }
    if !nsp.is_empty() && nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        crate::decimal::put(out, id);
    }
}

/// A whole Engine.IO text frame for an EVENT or ACK packet (binary or not) whose arguments
/// are already JSON: `args` is the arguments' JSON texts joined by commas (empty for none).
/// The data is `[event, args..]` for an event, `[args..]` for an ack. This is [`Packet`]'s
/// encoding without building a `serde_json::Value` first: emitters serialize their data
/// straight to JSON text.
///
/// `args` must be valid JSON values separated by commas (the caller wrote them with
/// serde_json); the result is then UTF-8.
pub fn encode_event_frame(
    kind: PacketType,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
    event: Option<&str>,
    args: &[u8],
) -> Bytes {
    // The exact size, so that the buffer becomes `Bytes` without another allocation. A name
    // without characters JSON escapes is written as it is, between quotes.
    let plain_name = event.filter(|e| !e.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
    let name_len = match (event, plain_name) {
        (None, _) => 0,
        (Some(e), Some(_)) => e.len() + 2 + usize::from(!args.is_empty()),
        // Escaped: sized generously, then shrunk.
        (Some(e), None) => 6 * e.len() + 3,
    };
    let nsp_len = if nsp.is_empty() || nsp == "/" {
        0
    } else {
        nsp.len() + 1
    };
    let binary_len = if kind.is_binary() {
        digits(attachments as u64) + 1
    } else {
        0
    };
    let header = 1 + binary_len + nsp_len + id.map_or(0, digits);
    let mut out = Vec::with_capacity(1 + header + 1 + name_len + args.len() + 1);
    out.push(b'4');
    encode_header_into(kind, attachments, nsp, id, &mut out);
    out.push(b'[');
    if let Some(event) = event {
        match plain_name {
            Some(name) => {
                out.push(b'"');
                out.extend_from_slice(name.as_bytes());
                out.push(b'"');
            }
            // Writing a string into a `Vec` cannot fail.
            None => {
                let _ = serde_json::to_writer(&mut out, event);
            }
        }
        if !args.is_empty() {
            out.push(b',');
        }
    }
    out.extend_from_slice(args);
    out.push(b']');
    if out.len() != out.capacity() {
        out.shrink_to_fit();
    }
    Bytes::from(out)
}

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Parse ASCII digits as a `u64`; `None` past [`MAX_DIGITS`] or on overflow.
fn parse_u64(digits: &str) -> Option<u64> {
    if digits.len() > MAX_DIGITS {
        return None;
    }
    digits.bytes().try_fold(0u64, |acc, d| {
        let d = d.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
