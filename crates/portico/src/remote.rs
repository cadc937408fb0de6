//! A socket seen through a server-wide query ([`crate::BroadcastOperator::fetch_sockets`]).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::errors::EmitError;
use crate::handshake::Handshake;
use crate::sid::Sid;
use crate::Socket;

/// What a server-wide query returns for one socket (Node's `RemoteSocket`): its id,
/// handshake, rooms and data at the time of the query, and the operations that work on any
/// node. On a single node every socket is local.
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    id: Sid,
    nsp: String,
    handshake: Handshake,
    rooms: Vec<String>,
    data: Value,
    local: Option<Socket>,
}

impl RemoteSocket {
    pub(crate) fn of(socket: &Socket) -> RemoteSocket {
        RemoteSocket {
            id: socket.id(),
            nsp: socket.ns().to_owned(),
            handshake: socket.handshake().clone(),
            rooms: socket.rooms(),
            data: socket.data_value(),
            local: Some(socket.clone()),
        }
    }

    /// The socket id.
    pub fn id(&self) -> Sid {
        self.id
    }
    /// The namespace.
    pub fn ns(&self) -> &str {
        &self.nsp
    }
    /// The handshake.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }
    /// The rooms it was in, sorted.
    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }
    /// Its data as JSON (see [`Socket::set_data`]).
    pub fn data_value(&self) -> &Value {
        &self.data
    }
    /// Its data as your type.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
    /// The socket itself, when it lives on this node.
    pub fn local(&self) -> Option<&Socket> {
        self.local.as_ref()
    }
    /// Emit to it.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        match &self.local {
            Some(s) => s.emit(event, data),
            None => Err(EmitError::Disconnected),
        }
    }
    /// Make it join a room.
    pub fn join(&self, room: impl AsRef<str>) {
        if let Some(s) = &self.local {
            s.join(room);
        }
    }
    /// Make it leave a room.
    pub fn leave(&self, room: impl AsRef<str>) {
        if let Some(s) = &self.local {
            s.leave(room);
        }
    }
    /// Disconnect it (`server namespace disconnect`); with `close`, close its whole
    /// connection too.
    pub fn disconnect(&self, close: bool) {
        if let Some(s) = &self.local {
            s.disconnect_with(close);
        }
    }
}
