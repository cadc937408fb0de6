//! Acknowledgements the client asked for.

use serde::Serialize;

use crate::errors::EmitError;
use crate::Socket;

/// The acknowledgement callback of an incoming event (the function the client passed as the
/// last argument of `emit`). Call [`Ack::send`] once; if the client did not ask for an
/// acknowledgement, sending does nothing.
#[derive(Debug)]
#[must_use = "the client waits for this acknowledgement"]
pub struct Ack {
    socket: Socket,
    id: Option<u64>,
}

impl Ack {
    pub(crate) fn new(socket: Socket, id: Option<u64>) -> Ack {
        if id.is_some() {
            // Owed until the Ack is sent or dropped (see its Drop).
            socket.add_work();
        }
        Ack { socket, id }
    }

    pub(crate) fn none(socket: Socket) -> Ack {
        Ack { socket, id: None }
    }

    /// Whether the client asked for an acknowledgement.
    pub fn requested(&self) -> bool {
        self.id.is_some()
    }

    /// Answer the client. `data` maps to arguments as described in [`crate::args`] (a tuple
    /// sends several, `()` none).
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        match self.id {
            Some(id) => self.socket.send_ack(id, data),
            None => Ok(()),
        }
    }
}

impl Drop for Ack {
    /// Sent or not, the acknowledgement is no longer owed (a graceful shutdown waits for the
    /// owed ones).
    fn drop(&mut self) {
        if self.id.is_some() {
            self.socket.end_work();
        }
    }
}
