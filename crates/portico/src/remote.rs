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
    /// For a socket on another node: its namespace, to reach it through the cluster.
    remote: Option<crate::Namespace>,
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
            remote: None,
        }
    }

    /// A socket that another node described (`{id, handshake, rooms, data}`).
    pub(crate) fn from_wire(
        ns: &crate::Namespace,
        v: &crate::cluster::Value,
    ) -> Option<RemoteSocket> {
        let json = crate::cluster::plain(v);
        let id = Sid::parse(json.get("id")?.as_str()?)?;
        let mut rooms: Vec<String> = json
            .get("rooms")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        rooms.sort();
        Some(RemoteSocket {
            id,
            nsp: ns.name().to_owned(),
            handshake: Handshake::from_json(json.get("handshake").unwrap_or(&Value::Null)),
            rooms,
            data: json.get("data").cloned().unwrap_or(Value::Null),
            local: None,
            remote: Some(ns.clone()),
        })
    }

    /// The selection of just this socket, on whichever node it lives.
    fn selection(&self) -> Option<crate::BroadcastOperator> {
        self.remote.as_ref().map(|ns| ns.to(self.id.to_string()))
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
    /// Emit to it (through the cluster when it lives on another node).
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        match (&self.local, self.selection()) {
            (Some(s), _) => s.emit(event, data),
            (None, Some(sel)) => sel.emit(event, data),
            (None, None) => Err(EmitError::Disconnected),
        }
    }
    /// Make it join a room (on its node).
    pub fn join(&self, room: impl AsRef<str>) -> Result<(), crate::ClusterError> {
        match (&self.local, self.selection()) {
            (Some(s), _) => {
                s.join(room);
                Ok(())
            }
            (None, Some(sel)) => sel.sockets_join(room),
            (None, None) => Ok(()),
        }
    }
    /// Make it leave a room (on its node).
    pub fn leave(&self, room: impl AsRef<str>) -> Result<(), crate::ClusterError> {
        match (&self.local, self.selection()) {
            (Some(s), _) => {
                s.leave(room);
                Ok(())
            }
            (None, Some(sel)) => sel.sockets_leave(room),
            (None, None) => Ok(()),
        }
    }
    /// Disconnect it (`server namespace disconnect`); with `close`, close its whole
    /// connection too.
    pub fn disconnect(&self, close: bool) -> Result<(), crate::ClusterError> {
        match (&self.local, self.selection()) {
            (Some(s), _) => {
                s.disconnect_with(close);
                Ok(())
            }
            (None, Some(sel)) => sel.disconnect_sockets(close),
            (None, None) => Ok(()),
        }
    }
}
