//! The Socket.IO side of one connection as a state machine, for either end: feed it each
//! Engine.IO message ([`Connection::handle_text`], [`Connection::handle_binary`]) and get
//! back what it means ([`Received`]), or the [`ProtocolError`] that ends the connection; ask
//! it for the packets to send ([`Connection::connect`], [`Connection::connect_reply`],
//! [`Connection::connect_error`]) in the connection's protocol [`Version`]. No I/O, no clock.
//!
//! The server, `portico-client` and `portico doctor` all read a connection through it, so
//! the rules (binary reassembly, what each side may send, the v4 shapes of socket.io-client
//! 2.x) live in one place.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::packet::{decode_event, encode_header_into, DecodeError, Limits, Packet, PacketType};
use super::{decode_msgpack, BinaryAssembler};

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A server: clients send CONNECT, never CONNECT_ERROR.
    Server,
    /// A client: the server answers CONNECT with CONNECT or CONNECT_ERROR.
    Client,
}

/// The Socket.IO protocol revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Protocol v4, socket.io-client 2.x over Engine.IO v3: `/` is joined without a CONNECT,
    /// a namespace's query rides on its name (`/admin?token=x`), the CONNECT reply carries no
    /// data and CONNECT_ERROR carries the error's data (or its message) alone.
    V4,
    /// Protocol v5, socket.io-client 3.x and 4.x: `auth` in CONNECT, `{sid}` in the reply,
    /// `{message, data}` in CONNECT_ERROR.
    V5,
}

/// How packets are encoded on the wire (the client's `parser` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// socket.io-parser: text packets, binary data as attachments that follow.
    Json,
    /// socket.io-msgpack-parser: one binary message per packet.
    MsgPack,
}

/// What one message (or the last attachment of a binary packet) meant.
#[derive(Debug, Clone, PartialEq)]
pub enum Received<'a> {
    /// (server) A client asks to join `nsp`. `auth`: its auth object (v5), or the query of
    /// the namespace's name, as an object of strings (v4).
    Connect {
        /// The namespace.
        nsp: Cow<'a, str>,
        /// The auth object (v5), or the name's query (v4).
        auth: Option<Value>,
    },
    /// (client) The server accepted the namespace: the socket id (v5), and the private id
    /// when connection state recovery is on.
    Connected {
        /// The namespace.
        nsp: Cow<'a, str>,
        /// The socket id (v5).
        sid: Option<String>,
        /// The private id of connection state recovery.
        pid: Option<String>,
    },
    /// (client) The server refused the namespace.
    ConnectError {
        /// The namespace.
        nsp: Cow<'a, str>,
        /// The error's message (empty when v4 sent data only).
        message: String,
        /// The error's data.
        data: Option<Value>,
    },
    /// The other end left the namespace.
    Disconnect {
        /// The namespace.
        nsp: Cow<'a, str>,
    },
    /// An event, with its attachments (empty unless it was a binary event).
    Event {
        /// The namespace.
        nsp: Cow<'a, str>,
        /// The event's name.
        name: Cow<'a, str>,
        /// The arguments (placeholders where attachments go).
        args: Vec<Value>,
        /// The ack id, when the sender wants an acknowledgement.
        id: Option<u64>,
        /// The attachments, in placeholder order.
        binary: Vec<Bytes>,
    },
    /// An acknowledgement of event `id`.
    Ack {
        /// The namespace.
        nsp: Cow<'a, str>,
        /// The id of the acknowledged event.
        id: u64,
        /// The arguments (placeholders where attachments go).
        args: Vec<Value>,
        /// The attachments, in placeholder order.
        binary: Vec<Bytes>,
    },
}

/// Why a message breaks the protocol; the connection cannot go on.
///
/// Compare variants in tests; the [`fmt::Display`] text is not API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A text message that is not UTF-8.
    NotUtf8,
    /// A text message while a binary packet still waits for attachments.
    TextDuringAttachments,
    /// A text message on a msgpack connection.
    TextOnMsgPack,
    /// A packet this end never receives (CONNECT_ERROR sent to a server).
    UnexpectedPacket(PacketType),
    /// The packet or its attachments do not decode.
    Decode(DecodeError),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::NotUtf8 => f.write_str("text packet is not UTF-8"),
            ProtocolError::TextDuringAttachments => {
                f.write_str("text packet while binary attachments were expected")
            }
            ProtocolError::TextOnMsgPack => f.write_str("text packet on a msgpack connection"),
            ProtocolError::UnexpectedPacket(t) => write!(f, "unexpected packet type {t:?}"),
            ProtocolError::Decode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ProtocolError {}

impl From<DecodeError> for ProtocolError {
    fn from(e: DecodeError) -> Self {
        ProtocolError::Decode(e)
    }
}

/// The Socket.IO state of one connection: its end, protocol, encoding and limits, and a
/// binary packet waiting for its attachments.
#[derive(Debug, Clone)]
pub struct Connection {
    role: Role,
    version: Version,
    encoding: Encoding,
    limits: Limits,
    /// Boxed: a connection waits for attachments rarely, and an idle one keeps only a
    /// pointer here.
    assembler: Option<Box<BinaryAssembler>>,
}

impl Connection {
    /// A connection at the start: nothing pending.
    pub fn new(role: Role, version: Version, encoding: Encoding, limits: Limits) -> Connection {
        Connection {
            role,
            version,
            encoding,
            limits,
            assembler: None,
        }
    }

    /// The protocol revision.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether a binary packet waits for attachments (a text message now is an error).
    pub fn awaiting_attachments(&self) -> bool {
        self.assembler.is_some()
    }

    /// Handle an Engine.IO text message. `Ok(None)` when it starts a binary packet whose
    /// attachments follow.
    ///
    /// # Errors
    /// The [`ProtocolError`] that ends the connection; never panics, whatever the input.
    pub fn handle_text<'a>(
        &mut self,
        text: &'a [u8],
    ) -> Result<Option<Received<'a>>, ProtocolError> {
        if self.encoding == Encoding::MsgPack {
            return Err(ProtocolError::TextOnMsgPack);
        }
        if self.assembler.is_some() {
            return Err(ProtocolError::TextDuringAttachments);
        }
        let text = std::str::from_utf8(text).map_err(|_| ProtocolError::NotUtf8)?;
        // A plain event (the usual packet) skips building its `[name, args..]` array.
        if let Some(event) = decode_event(text, &self.limits) {
            let e = event?;
            return Ok(Some(Received::Event {
                nsp: Cow::Borrowed(e.nsp),
                name: e.name,
                args: e.args,
                id: e.id,
                binary: Vec::new(),
            }));
        }
        let packet = Packet::decode(text, &self.limits)?;
        if packet.kind.is_binary() && packet.attachments > 0 {
            self.assembler = Some(Box::new(BinaryAssembler::new(packet)));
            return Ok(None);
        }
        self.received(packet, Vec::new()).map(Some)
    }

    /// Handle an Engine.IO binary message: an attachment (JSON), or a whole packet
    /// (msgpack). `Ok(None)` while more attachments are expected.
    ///
    /// # Errors
    /// As [`Connection::handle_text`], e.g. an attachment no packet announced.
    pub fn handle_binary(
        &mut self,
        data: Bytes,
    ) -> Result<Option<Received<'static>>, ProtocolError> {
        if self.encoding == Encoding::MsgPack {
            let (packet, binary) = decode_msgpack(&data, &self.limits)?;
            return self.received(packet, binary).map(Some);
        }
        let Some(assembler) = self.assembler.as_mut() else {
            return Err(DecodeError::UnexpectedAttachment.into());
        };
        match assembler.push(data) {
            Ok(Some((packet, binary))) => {
                self.assembler = None;
                self.received(packet, binary).map(Some)
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.assembler = None;
                Err(e.into())
            }
        }
    }

    /// What a whole packet means at this end.
    fn received(
        &self,
        packet: Packet,
        binary: Vec<Bytes>,
    ) -> Result<Received<'static>, ProtocolError> {
        let Packet {
            kind,
            nsp,
            id,
            data,
            ..
        } = packet;
        Ok(match (kind, self.role) {
            (PacketType::Connect, Role::Server) => match self.version {
                Version::V5 => Received::Connect {
                    nsp: Cow::Owned(nsp),
                    auth: data,
                },
                Version::V4 => {
                    let (name, query) = split_query(&nsp);
                    Received::Connect {
                        nsp: Cow::Owned(name.to_owned()),
                        auth: query.map(query_object).or(data),
                    }
                }
            },
            (PacketType::Connect, Role::Client) => {
                let field = |k: &str| data.as_ref()?.get(k)?.as_str().map(str::to_owned);
                Received::Connected {
                    sid: field("sid"),
                    pid: field("pid"),
                    nsp: Cow::Owned(nsp),
                }
            }
            (PacketType::ConnectError, Role::Client) => {
                let (message, data) = match data {
                    Some(Value::Object(mut o))
                        if o.get("message").is_some_and(Value::is_string) =>
                    {
                        let message = o
                            .remove("message")
                            .and_then(|m| m.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        (message, o.remove("data"))
                    }
                    Some(Value::String(s)) => (s, None),
                    // v4: the error's data alone.
                    other => (String::new(), other),
                };
                Received::ConnectError {
                    nsp: Cow::Owned(nsp),
                    message,
                    data,
                }
            }
            (PacketType::ConnectError, Role::Server) => {
                return Err(ProtocolError::UnexpectedPacket(kind))
            }
            (PacketType::Disconnect, _) => Received::Disconnect {
                nsp: Cow::Owned(nsp),
            },
            (PacketType::Event | PacketType::BinaryEvent, _) => {
                // Decoding checked the shape: an array whose first element is the name.
                let Some(Value::Array(mut items)) = data else {
                    return Err(DecodeError::InvalidPayload.into());
                };
                let name = match (!items.is_empty()).then(|| items.remove(0)) {
                    Some(Value::String(name)) => name,
                    _ => return Err(DecodeError::InvalidPayload.into()),
                };
                Received::Event {
                    nsp: Cow::Owned(nsp),
                    name: Cow::Owned(name),
                    args: items,
                    id,
                    binary,
                }
            }
            (PacketType::Ack | PacketType::BinaryAck, _) => {
                let id = id.ok_or(DecodeError::MissingAckId)?;
                let args = match data {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                Received::Ack {
                    nsp: Cow::Owned(nsp),
                    id,
                    args,
                    binary,
                }
            }
        })
    }

    /// (client) The CONNECT for `nsp` with `auth`; `None` where v4 sends none (`/` is joined
    /// with the Engine.IO connection). In v4 `auth` travels as the name's query.
    pub fn connect(&self, nsp: &str, auth: Option<Value>) -> Option<Packet> {
        match self.version {
            Version::V5 => Some(Packet::connect(nsp, auth)),
            Version::V4 if nsp == "/" => None,
            Version::V4 => {
                let query = auth.as_ref().and_then(Value::as_object).map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                            format!("{}={}", encode_component(k), encode_component(&v))
                        })
                        .collect::<Vec<_>>()
                        .join("&")
                });
                Some(match query {
                    Some(q) if !q.is_empty() => Packet::connect(&format!("{nsp}?{q}"), None),
                    _ => Packet::connect(nsp, None),
                })
            }
        }
    }

    /// (server) The reply that accepts `nsp`: `{sid}` (and `pid` with recovery) in v5,
    /// nothing in v4.
    pub fn connect_reply(&self, nsp: &str, sid: &str, pid: Option<&str>) -> Packet {
        match self.version {
            Version::V4 => Packet::connect(nsp, None),
            Version::V5 => {
                let mut o = Map::new();
                o.insert("sid".to_owned(), Value::String(sid.to_owned()));
                if let Some(pid) = pid {
                    o.insert("pid".to_owned(), Value::String(pid.to_owned()));
                }
                Packet::connect(nsp, Some(Value::Object(o)))
            }
        }
    }

    /// (server) [`connect_reply`](Self::connect_reply) as a whole Engine.IO text frame (`4`,
    /// then the packet), its JSON written by hand: what
    /// `connect_reply(nsp, sid, pid).encode_engine_frame()` returns, byte for byte, without a
    /// `serde_json` map per connection.
    pub fn connect_reply_frame(&self, nsp: &str, sid: &str, pid: Option<&str>) -> Bytes {
        let mut out =
            Vec::with_capacity(4 + nsp.len() + 20 + sid.len() + pid.map_or(0, |p| p.len() + 9));
        out.push(b'4');
        encode_header_into(PacketType::Connect, 0, nsp, None, &mut out);
        if self.version == Version::V5 {
            out.extend_from_slice(b"{\"sid\":");
            crate::json::put_str(&mut out, sid);
            if let Some(pid) = pid {
                out.extend_from_slice(b",\"pid\":");
                crate::json::put_str(&mut out, pid);
            }
            out.push(b'}');
        }
        Bytes::from(out)
    }

    /// (server) The CONNECT_ERROR that refuses `nsp`: `{message, data}` in v5; in v4 the
    /// data, or else the message, as Node sends it. A v4 packet carries the data only when it
    /// is an object or a string, as [`Packet::decode`] requires of a CONNECT_ERROR; other data
    /// (a number, `null`, an array) is replaced by the message.
    pub fn connect_error(&self, nsp: &str, message: &str, data: Option<Value>) -> Packet {
        match self.version {
            Version::V5 => Packet::connect_error(nsp, message, data),
            Version::V4 => {
                let mut p = Packet::connect_error(nsp, message, None);
                p.data = Some(match data {
                    Some(data @ (Value::Object(_) | Value::String(_))) => data,
                    _ => Value::String(message.to_owned()),
                });
                p
            }
        }
    }
}

/// `/admin?token=x` → (`/admin`, `Some("token=x")`).
fn split_query(nsp: &str) -> (&str, Option<&str>) {
    match nsp.split_once('?') {
        Some((name, query)) => (name, Some(query)),
        None => (nsp, None),
    }
}

/// Most query parameters read from a namespace's name.
const MAX_QUERY_PAIRS: usize = 64;

/// A query string as an object of strings (`+` is a space, `%XX` decoded; the last value of
/// a repeated key wins).
fn query_object(query: &str) -> Value {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut o = Map::new();
    for kv in query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .take(MAX_QUERY_PAIRS)
    {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        o.insert(decode(k), Value::String(decode(v)));
    }
    Value::Object(o)
}

/// A query component, percent-encoded as `encodeURIComponent` does.
fn encode_component(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'!')
        .remove(b'~')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
