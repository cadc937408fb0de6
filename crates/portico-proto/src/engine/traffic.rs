//! What one session carried: Engine.IO packets and their bytes, in and out.
//!
//! Counted by the [`Session`](super::session::Session) itself, as plain integers under
//! whatever lock the caller already holds for it: a packet costs two additions and no atomic
//! operation. A server adds the counts of closed sessions to its totals, and those of open
//! sessions when asked (see `portico::Server::stats`).

use super::packet::{Frame, Packet};

/// Engine.IO packets and bytes a session received and sent.
///
/// Bytes are the Engine.IO packets' own: a text packet with its type character, a binary
/// packet by its raw length; no HTTP, WebSocket or polling-payload framing. Heartbeats count
/// as packets too. "Out" counts a frame when the transport takes it (written to the
/// WebSocket, or put in a polling response).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Traffic {
    /// Packets received from the client.
    pub packets_in: u64,
    /// Bytes of the packets received.
    pub bytes_in: u64,
    /// Packets handed to the transport for the client.
    pub packets_out: u64,
    /// Bytes of the packets handed to the transport.
    pub bytes_out: u64,
}

impl Traffic {
    /// Count one packet received.
    pub(crate) fn received(&mut self, packet: &Packet) {
        let bytes = match packet {
            Packet::Open(d) | Packet::Ping(d) | Packet::Pong(d) | Packet::Message(d) => 1 + d.len(),
            Packet::Binary(d) => d.len(),
            Packet::Close | Packet::Upgrade | Packet::Noop => 1,
        };
        self.packets_in += 1;
        self.bytes_in += bytes as u64;
    }

    /// Count frames handed to the transport.
    pub(crate) fn sent<'a>(&mut self, frames: impl IntoIterator<Item = &'a Frame>) {
        for f in frames {
            let (Frame::Text(b) | Frame::Binary(b)) = f;
            self.packets_out += 1;
            self.bytes_out += b.len() as u64;
        }
    }
}

/// The sum of two counts (saturating).
impl std::ops::Add for Traffic {
    type Output = Traffic;

    fn add(self, other: Traffic) -> Traffic {
        Traffic {
            packets_in: self.packets_in.saturating_add(other.packets_in),
            bytes_in: self.bytes_in.saturating_add(other.bytes_in),
            packets_out: self.packets_out.saturating_add(other.packets_out),
            bytes_out: self.bytes_out.saturating_add(other.bytes_out),
        }
    }
}

impl std::ops::AddAssign for Traffic {
    fn add_assign(&mut self, other: Traffic) {
        *self = *self + other;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn counts_packets_with_their_type_character_and_binary_raw() {
        let mut t = Traffic::default();
        t.received(&Packet::Message(Bytes::from_static(b"2[\"a\"]")));
        t.received(&Packet::Binary(Bytes::from_static(&[1, 2, 3])));
        t.received(&Packet::Close);
        t.sent(&[
            Frame::Text(Bytes::from_static(b"42[\"a\"]")),
            Frame::Binary(Bytes::from_static(&[9])),
        ]);
        assert_eq!(
            t,
            Traffic {
                packets_in: 3,
                bytes_in: 7 + 3 + 1,
                packets_out: 2,
                bytes_out: 7 + 1,
            }
        );
        assert_eq!((t + t).bytes_in, 22);
    }
}
