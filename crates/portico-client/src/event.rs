//! What the server sends to the application: [`Events`], [`Event`], [`Message`].

use std::fmt;

use bytes::Bytes;
use portico_proto::sio::{Limits, Packet as SioPacket, PacketType};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::client::Command;
use crate::core::Delivery;
use crate::error::ClientError;

/// Why the connection ended, named as socket.io-client names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server disconnected the socket (`DISCONNECT` packet): `io server disconnect`.
    ServerDisconnect,
    /// The client closed the connection ([`crate::Client::close`], or every handle dropped):
    /// `io client disconnect`.
    ClientDisconnect,
    /// The server closed the Engine.IO session or the connection closed: `transport close`.
    TransportClose,
    /// The connection failed (I/O error, HTTP error, bad frame): `transport error`.
    TransportError,
    /// The server stopped pinging (no ping within `pingInterval + pingTimeout`): `ping timeout`.
    PingTimeout,
    /// The server sent something this client cannot parse: `parse error`.
    ParseError,
}

impl DisconnectReason {
    /// The reason as socket.io-client spells it (`io server disconnect`, `transport close`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ServerDisconnect => "io server disconnect",
            DisconnectReason::ClientDisconnect => "io client disconnect",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event from the server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Message {
    /// The event name.
    pub name: String,
    /// The arguments. Binary arguments appear as placeholders
    /// (`{"_placeholder":true,"num":i}`) whose `num` indexes [`Message::attachments`].
    pub args: Vec<Value>,
    /// The binary attachments, in `num` order (empty for a plain event).
    pub attachments: Vec<Bytes>,
    ack: Option<AckHandle>,
}

/// What an [`Events`] stream yields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// An event from the server.
    Message(Message),
    /// The connection ended; nothing follows.
    Disconnected(DisconnectReason),
}

/// What [`Events::recv_raw`] yields: events left unparsed, for load generators that only
/// count them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RawEvent {
    /// A Socket.IO `EVENT` packet as text, without the Engine.IO `4` (e.g. `2["b","xx"]`,
    /// or `2/admin,["b"]` on another namespace). Parse it with [`Events::parse`].
    Text(Bytes),
    /// Anything else (binary events, the disconnection), already parsed. Boxed: a burst of
    /// `Text` events is buffered until read, and an unboxed [`Event`] would make each of them
    /// three times larger.
    Event(Box<Event>),
}

impl RawEvent {
    /// Whether this is [`Event::Disconnected`] (the last event of a connection).
    pub fn is_disconnection(&self) -> bool {
        matches!(self, RawEvent::Event(e) if matches!(**e, Event::Disconnected(_)))
    }
}

/// The stream of [`Event`]s of one connection, in arrival order.
///
/// Events queue without bound until read: read them, or drop the `Events` (the connection
/// then discards what arrives).
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Delivery>,
    /// Events of a burst not yet returned.
    pending: std::vec::IntoIter<RawEvent>,
    nsp: String,
    commands: mpsc::WeakUnboundedSender<Command>,
    finished: bool,
}

impl Events {
    pub(crate) fn new(
        rx: mpsc::UnboundedReceiver<Delivery>,
        nsp: String,
        commands: mpsc::WeakUnboundedSender<Command>,
    ) -> Events {
        Events {
            rx,
            pending: Vec::new().into_iter(),
            nsp,
            commands,
            finished: false,
        }
    }

    /// The next event; `None` after [`Event::Disconnected`] has been returned.
    ///
    /// Packets that do not parse, or belong to another namespace, are skipped.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.recv_raw().await? {
                RawEvent::Event(event) => return Some(*event),
                RawEvent::Text(text) => {
                    if let Some(message) = self.parse(&text) {
                        return Some(Event::Message(message));
                    }
                }
            }
        }
    }

    /// The next event, without parsing plain events (see [`RawEvent`]); `None` after the
    /// disconnection has been returned.
    pub async fn recv_raw(&mut self) -> Option<RawEvent> {
        if self.pending.as_slice().is_empty() && !self.fill().await {
            return None;
        }
        let event = self.pending.next()?;
        self.note(&event);
        Some(event)
    }

    /// Up to `limit` events at once, appended to `buf` (waits for at least one); returns how
    /// many were added, 0 after the disconnection has been returned. One wake-up for a whole
    /// burst: for load generators that receive many small events.
    pub async fn recv_raw_many(&mut self, buf: &mut Vec<RawEvent>, limit: usize) -> usize {
        if limit == 0 || (self.pending.as_slice().is_empty() && !self.fill().await) {
            return 0;
        }
        let start = buf.len();
        loop {
            let room = limit - (buf.len() - start);
            buf.extend(self.pending.by_ref().take(room));
            if buf.len() - start == limit {
                break;
            }
            // Room left: take what has already arrived, without waiting.
            match self.rx.try_recv() {
                Ok(Delivery::One(e)) => self.pending = vec![e].into_iter(),
                Ok(Delivery::Many(batch)) => self.pending = batch.into_iter(),
                Err(_) => break,
            }
        }
        let n = buf.len() - start;
        for e in &buf[start..] {
            if e.is_disconnection() {
                self.finished = true;
            }
        }
        n
    }

    /// Wait for the next delivery into `pending`; `false` once the disconnection was returned.
    async fn fill(&mut self) -> bool {
        if self.finished {
            return false;
        }
        let batch = match self.rx.recv().await {
            Some(Delivery::One(e)) => vec![e],
            Some(Delivery::Many(batch)) => batch,
            // The connection task is gone without a word: report it as a transport close.
            None => vec![RawEvent::Event(Box::new(Event::Disconnected(
                DisconnectReason::TransportClose,
            )))],
        };
        self.pending = batch.into_iter();
        true
    }

    fn note(&mut self, event: &RawEvent) {
        if event.is_disconnection() {
            self.finished = true;
        }
    }

    /// Parse the text of a [`RawEvent::Text`]; `None` if it does not parse or belongs to
    /// another namespace.
    pub fn parse(&self, text: &[u8]) -> Option<Message> {
        let text = std::str::from_utf8(text).ok()?;
        let packet = SioPacket::decode(text, &Limits::default()).ok()?;
        if packet.nsp != self.nsp || packet.kind != PacketType::Event {
            return None;
        }
        let ack = packet.id.map(|id| AckHandle {
            id,
            nsp: self.nsp.clone(),
            commands: self.commands.clone(),
        });
        message(packet.data, Vec::new(), ack)
    }
}

/// Build a [`Message`] from the data of an event (`["name", ...args]`).
pub(crate) fn message(
    data: Option<Value>,
    attachments: Vec<Bytes>,
    ack: Option<AckHandle>,
) -> Option<Message> {
    let Some(Value::Array(mut items)) = data else {
        return None;
    };
    if items.is_empty() {
        return None;
    }
    let Value::String(name) = items.remove(0) else {
        return None;
    };
    Some(Message {
        name,
        args: items,
        attachments,
        ack,
    })
}

impl Message {
    pub(crate) fn new(
        name: String,
        args: Vec<Value>,
        attachments: Vec<Bytes>,
        ack: Option<AckHandle>,
    ) -> Message {
        Message {
            name,
            args,
            attachments,
            ack,
        }
    }

    /// Whether the server asked for an acknowledgement.
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// Answer the server's acknowledgement request with `args` (does nothing if none was
    /// asked for).
    ///
    /// # Errors
    /// [`ClientError::Closed`] if the connection is gone.
    pub fn ack(&self, args: &[Value]) -> Result<(), ClientError> {
        let Some(ack) = &self.ack else {
            return Ok(());
        };
        let packet = SioPacket::ack(&ack.nsp, ack.id, Value::Array(args.to_vec()));
        let commands = ack.commands.upgrade().ok_or(ClientError::Closed)?;
        commands
            .send(Command::Send(packet.encode_engine_frame()))
            .map_err(|_| ClientError::Closed)
    }
}

/// Where to send an acknowledgement of a server event.
#[derive(Debug, Clone)]
pub(crate) struct AckHandle {
    pub id: u64,
    pub nsp: String,
    pub commands: mpsc::WeakUnboundedSender<Command>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst is buffered as `RawEvent`s until read (a broadcast of 1,000 events to 1,000
    /// clients holds up to a million of them): the parsed variant is boxed so that a `Text`
    /// costs its `Bytes` and a tag, not the size of a parsed `Message`.
    #[test]
    fn a_raw_event_is_no_larger_than_a_bytes_and_a_tag() {
        assert!(std::mem::size_of::<Message>() > 64);
        assert!(std::mem::size_of::<RawEvent>() <= std::mem::size_of::<Bytes>() + 8);
    }

    #[test]
    fn is_disconnection_tells_the_last_event() {
        let last = RawEvent::Event(Box::new(Event::Disconnected(
            DisconnectReason::TransportClose,
        )));
        assert!(last.is_disconnection());
        assert!(!RawEvent::Text(Bytes::from_static(b"2[\"b\"]")).is_disconnection());
    }
}
