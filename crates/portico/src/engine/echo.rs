//! The Engine.IO conformance server's handler: every message goes back as it came. It is the
//! proof that the engine needs nothing of Socket.IO.

use std::sync::Arc;

use portico_proto::engine::session::{CloseReason, Incoming};
use portico_proto::engine::{Frame, Packet};

use super::{Conn, ConnHandler, Handler};

/// Echoes every message of every session.
pub(crate) struct Echo;

struct EchoConn(Arc<Conn>);

impl Handler for Echo {
    fn on_open(&self, conn: &Arc<Conn>) -> Arc<dyn ConnHandler> {
        Arc::new(EchoConn(conn.clone()))
    }
}

impl ConnHandler for EchoConn {
    fn on_message(&self, msg: Incoming) {
        let frame = match msg {
            Incoming::Text(t) => Packet::Message(t).to_frame(),
            Incoming::Binary(b) => Frame::Binary(b),
        };
        let _ = self.0.send(&[frame]);
    }

    fn on_close(&self, _: CloseReason) {}
}
