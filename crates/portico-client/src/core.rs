//! The protocol state of one connection, shared by both transports: the open packet,
//! heartbeats, the namespace `CONNECT`, acknowledgements, binary reassembly and event
//! delivery. No I/O: the transports feed it Engine.IO packets and send what it returns.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use portico_proto::engine::Packet as EnginePacket;
use portico_proto::sio::{
    Connection, Encoding, Limits, Packet as SioPacket, Received, Role, Version,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::client::Command;
use crate::error::ClientError;
use crate::event::{AckHandle, DisconnectReason, Event, Message, RawEvent};

/// The data of the Engine.IO `open` packet.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Open {
    pub sid: String,
    #[serde(default)]
    pub upgrades: Vec<String>,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    #[serde(default)]
    pub max_payload: Option<u64>,
}

impl Open {
    /// Parse the first packet of a session, which must be `open`.
    pub fn parse(packet: &EnginePacket) -> Result<Open, ClientError> {
        let EnginePacket::Open(data) = packet else {
            return Err(ClientError::protocol(format!(
                "expected the open packet (0), got {packet:?}"
            )));
        };
        serde_json::from_slice(data)
            .map_err(|e| ClientError::protocol(format!("bad open packet: {e}")))
    }

    /// How long without a ping before the server counts as gone.
    pub fn ping_deadline(&self) -> Duration {
        Duration::from_millis(self.ping_interval.saturating_add(self.ping_timeout))
    }
}

/// The answer an acknowledgement waiter gets.
pub(crate) type AckReply = Vec<Value>;

/// What handling one packet led to.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing special (replies, if any, were pushed to the output).
    Continue,
    /// The namespace accepted the connection; holds the socket id.
    Connected(String),
    /// The namespace refused the connection.
    Refused(ClientError),
    /// The connection is over.
    Closed(DisconnectReason),
}

/// Protocol state of one connection.
#[derive(Debug)]
pub(crate) struct Core {
    nsp: String,
    acks: HashMap<u64, oneshot::Sender<AckReply>>,
    events: mpsc::UnboundedSender<Delivery>,
    /// Events held back while a burst of packets is handled (see [`Core::begin_batch`]).
    batch: Option<Vec<RawEvent>>,
    commands: mpsc::WeakUnboundedSender<Command>,
    /// Decoding, binary reassembly and what a client may receive.
    protocol: Connection,
}

/// Events a batch makes room for once it holds two: a whole read burst of the WebSocket task
/// (`READ_BATCH` + 1 packets), so a burst does not reallocate (and copy) its batch again.
const BATCH_CAPACITY: usize = 257;

/// What the connection hands to [`crate::Events`]: one event, or the events of a burst at once
/// (one channel operation and one wake-up for the lot).
#[derive(Debug)]
pub(crate) enum Delivery {
    One(RawEvent),
    Many(Vec<RawEvent>),
}

impl Core {
    pub fn new(
        nsp: String,
        events: mpsc::UnboundedSender<Delivery>,
        commands: mpsc::WeakUnboundedSender<Command>,
    ) -> Core {
        Core {
            nsp,
            acks: HashMap::new(),
            events,
            batch: None,
            commands,
            protocol: Connection::new(Role::Client, Version::V5, Encoding::Json, Limits::default()),
        }
    }

    /// Hold events back until [`Core::end_batch`], which delivers them together.
    pub fn begin_batch(&mut self) {
        if self.batch.is_none() {
            self.batch = Some(Vec::new());
        }
    }

    /// Deliver the events held back since [`Core::begin_batch`].
    pub fn end_batch(&mut self) {
        match self.batch.take() {
            Some(mut batch) if batch.len() == 1 => {
                if let Some(e) = batch.pop() {
                    let _ = self.events.send(Delivery::One(e));
                }
            }
            Some(batch) if !batch.is_empty() => {
                let _ = self.events.send(Delivery::Many(batch));
            }
            _ => {}
        }
    }

    fn emit_event(&mut self, event: RawEvent) {
        match self.batch.as_mut() {
            Some(batch) => {
                // A lone event (the common case outside bursts) costs a small allocation; the
                // second one sizes the batch for the whole burst, so it never grows again.
                if batch.len() == 1 {
                    batch.reserve(BATCH_CAPACITY);
                }
                batch.push(event);
            }
            None => {
                let _ = self.events.send(Delivery::One(event));
            }
        }
    }

    /// The `CONNECT` packet for the namespace, as an Engine.IO text frame.
    pub fn connect_frame(&self, auth: Option<Value>) -> Bytes {
        SioPacket::connect(&self.nsp, auth).encode_engine_frame()
    }

    /// Remember who waits for acknowledgement `id`.
    pub fn add_ack(&mut self, id: u64, waiter: oneshot::Sender<AckReply>) {
        self.acks.insert(id, waiter);
    }

    /// Forget acknowledgement `id` (its waiter gave up).
    pub fn forget_ack(&mut self, id: u64) {
        self.acks.remove(&id);
    }

    /// Handle one Engine.IO packet from the server; frames to send back go to `out`.
    pub fn on_packet(&mut self, packet: EnginePacket, out: &mut Vec<Bytes>) -> Step {
        match packet {
            EnginePacket::Ping(data) => {
                out.push(EnginePacket::Pong(data).to_frame_bytes());
                Step::Continue
            }
            EnginePacket::Close => Step::Closed(DisconnectReason::TransportClose),
            EnginePacket::Message(text) => self.on_message(text),
            EnginePacket::Binary(data) => self.on_binary(data),
            EnginePacket::Open(_)
            | EnginePacket::Pong(_)
            | EnginePacket::Upgrade
            | EnginePacket::Noop => Step::Continue,
        }
    }

    fn on_message(&mut self, text: Bytes) -> Step {
        // Plain events go to the application unparsed: it may only count them.
        if text.first() == Some(&b'2') && !self.protocol.awaiting_attachments() {
            self.emit_event(RawEvent::Text(text));
            return Step::Continue;
        }
        match self.protocol.handle_text(&text) {
            Ok(Some(received)) => self.on_received(received),
            Ok(None) => Step::Continue,
            Err(_) => Step::Closed(DisconnectReason::ParseError),
        }
    }

    fn on_binary(&mut self, data: Bytes) -> Step {
        match self.protocol.handle_binary(data) {
            Ok(Some(received)) => self.on_received(received),
            Ok(None) => Step::Continue,
            Err(_) => Step::Closed(DisconnectReason::ParseError),
        }
    }

    /// A whole packet from the server, as the protocol state read it.
    fn on_received(&mut self, received: Received<'_>) -> Step {
        let nsp = match &received {
            Received::Connect { nsp, .. }
            | Received::Connected { nsp, .. }
            | Received::ConnectError { nsp, .. }
            | Received::Disconnect { nsp }
            | Received::Event { nsp, .. }
            | Received::Ack { nsp, .. } => nsp,
        };
        if *nsp != *self.nsp {
            // Another namespace's packet.
            return Step::Continue;
        }
        match received {
            Received::Connected { sid, .. } => Step::Connected(sid.unwrap_or_default()),
            Received::ConnectError { message, data, .. } => {
                Step::Refused(ClientError::ConnectError { message, data })
            }
            Received::Disconnect { .. } => Step::Closed(DisconnectReason::ServerDisconnect),
            Received::Ack { id, args, .. } => {
                if let Some(waiter) = self.acks.remove(&id) {
                    let _ = waiter.send(args);
                }
                Step::Continue
            }
            Received::Event {
                name,
                args,
                id,
                binary,
                ..
            } => {
                let ack = id.map(|id| AckHandle {
                    id,
                    nsp: self.nsp.clone(),
                    commands: self.commands.clone(),
                });
                let m = Message::new(name.into_owned(), args, binary, ack);
                self.emit_event(RawEvent::Event(Box::new(Event::Message(m))));
                Step::Continue
            }
            // A client's connection never reads a CONNECT request.
            Received::Connect { .. } => Step::Closed(DisconnectReason::ParseError),
        }
    }

    /// The connection ended: tell the application (once) and fail every pending ack.
    pub fn finish(&mut self, reason: DisconnectReason) {
        self.acks.clear();
        self.end_batch();
        let _ = self.events.send(Delivery::One(RawEvent::Event(Box::new(
            Event::Disconnected(reason),
        ))));
    }
}

/// Engine.IO packets to the bytes of a text frame.
trait ToFrameBytes {
    fn to_frame_bytes(&self) -> Bytes;
}

impl ToFrameBytes for EnginePacket {
    fn to_frame_bytes(&self) -> Bytes {
        match self.to_frame() {
            portico_proto::engine::Frame::Text(b) | portico_proto::engine::Frame::Binary(b) => b,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    fn core() -> (Core, mpsc::UnboundedReceiver<Delivery>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (cmd_tx, _cmd_rx) = mpsc::unbounded_channel();
        (Core::new("/".into(), tx, cmd_tx.downgrade()), rx)
    }

    fn msg(s: &'static str) -> EnginePacket {
        EnginePacket::Message(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn pings_are_answered() {
        let (mut core, _rx) = core();
        let mut out = Vec::new();
        core.on_packet(EnginePacket::Ping(Bytes::new()), &mut out);
        assert_eq!(out, vec![Bytes::from_static(b"3")]);
    }

    #[test]
    fn connect_reply_and_refusal() {
        let (mut core, _rx) = core();
        let mut out = Vec::new();
        assert!(
            matches!(core.on_packet(msg(r#"0{"sid":"abc"}"#), &mut out), Step::Connected(s) if s == "abc")
        );
        assert!(matches!(
            core.on_packet(msg(r#"4{"message":"no"}"#), &mut out),
            Step::Refused(ClientError::ConnectError { .. })
        ));
        // Another namespace's packets are ignored.
        assert!(matches!(
            core.on_packet(msg(r#"0/x,{"sid":"abc"}"#), &mut out),
            Step::Continue
        ));
        assert!(matches!(
            core.on_packet(msg("1"), &mut out),
            Step::Closed(DisconnectReason::ServerDisconnect)
        ));
    }

    #[test]
    fn refusals_keep_the_servers_message_and_data() {
        // (These were ClientError::connect_error's assertions; the shapes are read by the
        // shared protocol state now.)
        let (mut core, _rx) = core();
        let mut out = Vec::new();
        let Step::Refused(e) =
            core.on_packet(msg(r#"4{"message":"no","data":{"code":401}}"#), &mut out)
        else {
            panic!("not refused")
        };
        assert!(
            matches!(&e, ClientError::ConnectError { message, data: Some(d) } if message == "no" && d["code"] == 401)
        );
        assert!(e.is_refused());
        let Step::Refused(e) = core.on_packet(msg(r#"4"bad""#), &mut out) else {
            panic!("not refused")
        };
        assert!(
            matches!(&e, ClientError::ConnectError { message, data: None } if message == "bad")
        );
    }

    #[test]
    fn acks_resolve_and_events_flow() {
        let (mut core, mut rx) = core();
        let (tx, mut waiter) = oneshot::channel();
        core.add_ack(7, tx);
        let mut out = Vec::new();
        core.on_packet(msg(r#"37[1,"a"]"#), &mut out);
        assert_eq!(
            waiter.try_recv().unwrap(),
            vec![Value::from(1), Value::from("a")]
        );
        core.on_packet(msg(r#"2["hi",1]"#), &mut out);
        assert!(
            matches!(rx.try_recv().unwrap(), Delivery::One(RawEvent::Text(t)) if &t[..] == br#"2["hi",1]"#)
        );
        // In a batch, events wait for end_batch and leave together, in order.
        core.begin_batch();
        core.on_packet(msg(r#"2["a"]"#), &mut out);
        core.on_packet(msg(r#"2["b"]"#), &mut out);
        assert!(rx.try_recv().is_err(), "nothing before end_batch");
        core.end_batch();
        let Delivery::Many(batch) = rx.try_recv().unwrap() else {
            panic!("one delivery for the batch")
        };
        let texts: Vec<_> = batch
            .iter()
            .map(|e| match e {
                RawEvent::Text(t) => t.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            texts,
            vec![
                Bytes::from_static(br#"2["a"]"#),
                Bytes::from_static(br#"2["b"]"#)
            ]
        );
        // The disconnection delivers what a batch still held first.
        core.begin_batch();
        core.on_packet(msg(r#"2["c"]"#), &mut out);
        core.finish(DisconnectReason::TransportClose);
        assert!(matches!(
            rx.try_recv().unwrap(),
            Delivery::One(RawEvent::Text(_))
        ));
        assert!(matches!(
            rx.try_recv().unwrap(),
            Delivery::One(e) if e.is_disconnection()
        ));
    }

    #[test]
    fn binary_events_are_reassembled() {
        let (mut core, mut rx) = core();
        let mut out = Vec::new();
        core.on_packet(msg(r#"51-["bin",{"_placeholder":true,"num":0}]"#), &mut out);
        core.on_packet(EnginePacket::Binary(Bytes::from_static(&[1, 2])), &mut out);
        let Ok(Delivery::One(RawEvent::Event(e))) = rx.try_recv() else {
            panic!("no event")
        };
        let Event::Message(m) = *e else {
            panic!("not a message: {e:?}")
        };
        assert_eq!(m.name, "bin");
        assert_eq!(m.attachments, vec![Bytes::from_static(&[1, 2])]);
        // An attachment nobody announced is a protocol error.
        assert!(matches!(
            core.on_packet(EnginePacket::Binary(Bytes::new()), &mut out),
            Step::Closed(DisconnectReason::ParseError)
        ));
    }
}
