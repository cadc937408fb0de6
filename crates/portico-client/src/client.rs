//! [`Client`]: the handle of one connection, and [`Client::connect`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use portico_proto::sio::Packet as SioPacket;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::config::{ClientConfig, Endpoint, Transport};
use crate::core::{AckReply, Core};
use crate::error::ClientError;
use crate::event::Events;
use crate::{polling, websocket};

/// How long [`Client::close`] waits for the connection to say goodbye.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a [`Client`] asks of its connection task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send this Engine.IO text frame.
    Send(Bytes),
    /// Send this frame and hand the acknowledgement with `id` to `waiter`.
    SendWithAck {
        frame: Bytes,
        id: u64,
        waiter: oneshot::Sender<AckReply>,
    },
    /// The waiter of acknowledgement `id` gave up.
    ForgetAck(u64),
    /// Say goodbye to the server, then tell `done`.
    Close(oneshot::Sender<()>),
}

/// The state every handle of one connection shares.
#[derive(Debug)]
struct Shared {
    id: String,
    nsp: String,
    transport: Transport,
    next_ack: AtomicU64,
    http_requests: Arc<AtomicU64>,
}

/// A connected Socket.IO client: a cheap handle ([`Clone`]) on one connection.
///
/// Each connection is driven by one tokio task, started by [`Client::connect`]. The
/// connection closes when [`Client::close`] is called or every handle is dropped; events
/// arrive on the [`Events`] returned with the client.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Client {
    /// Connect to the server and its namespace: handshake, upgrade if asked, `CONNECT`.
    ///
    /// Resolves once the server accepted the namespace (`40{"sid":..}`), within
    /// `config.connect_timeout`.
    ///
    /// # Errors
    /// - [`ClientError::InvalidConfig`]: the URL, path or namespace cannot be used.
    /// - [`ClientError::Io`]: TCP connection failed.
    /// - [`ClientError::Http`]: the server refused the handshake (status and body inside,
    ///   e.g. 403 for a refused origin).
    /// - [`ClientError::ConnectError`]: the namespace refused (`44`, e.g. a middleware).
    /// - [`ClientError::Timeout`]: not connected within `connect_timeout`.
    /// - [`ClientError::Protocol`], [`ClientError::WebSocket`], [`ClientError::Closed`]: the
    ///   server misbehaved or went away.
    pub async fn connect(config: ClientConfig) -> Result<(Client, Events), ClientError> {
        let endpoint = Endpoint::parse(&config)?;
        tokio::time::timeout(config.connect_timeout, connect(config, endpoint))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// The socket id the server gave this connection in its `CONNECT` reply.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The namespace this client is connected to.
    pub fn namespace(&self) -> &str {
        &self.shared.nsp
    }

    /// The transport in use: [`Transport::WebSocket`] or [`Transport::Polling`] (after an
    /// upgrade, `WebSocket`).
    pub fn transport(&self) -> Transport {
        self.shared.transport
    }

    /// How many HTTP requests this connection has sent (polling handshake, GETs and POSTs;
    /// the WebSocket upgrade request is not counted).
    pub fn http_requests(&self) -> u64 {
        self.shared.http_requests.load(Ordering::Relaxed)
    }

    /// Whether the connection is still running.
    pub fn is_connected(&self) -> bool {
        !self.commands.is_closed()
    }

    /// Emit `event` with `args`, without waiting for anything.
    ///
    /// # Errors
    /// [`ClientError::Closed`] if the connection is gone.
    pub fn emit(&self, event: &str, args: &[Value]) -> Result<(), ClientError> {
        let frame = self.event_frame(event, args, None);
        self.send(Command::Send(frame))
    }

    /// Send a pre-encoded Engine.IO text frame, e.g. `42["echo","x"]` (the full frame, engine
    /// type digit included). For load generators that encode once and send many times.
    ///
    /// # Errors
    /// [`ClientError::Closed`] if the connection is gone.
    pub fn emit_raw(&self, frame: Bytes) -> Result<(), ClientError> {
        self.send(Command::Send(frame))
    }

    /// Emit `event` with `args` and wait for the server's acknowledgement; returns its
    /// arguments (binary arguments as placeholders).
    ///
    /// # Errors
    /// [`ClientError::Timeout`] after `timeout`; [`ClientError::Closed`] if the connection is
    /// gone or ends before the answer.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        args: &[Value],
        timeout: Duration,
    ) -> Result<Vec<Value>, ClientError> {
        let id = self.shared.next_ack.fetch_add(1, Ordering::Relaxed);
        let frame = self.event_frame(event, args, Some(id));
        let (waiter, answer) = oneshot::channel();
        self.send(Command::SendWithAck { frame, id, waiter })?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => {
                let _ = self.commands.send(Command::ForgetAck(id));
                Err(ClientError::Timeout)
            }
        }
    }

    /// Emit `event` with `args` and return at once a [`PendingAck`], which resolves to the
    /// server's acknowledgement. No timer is armed: the caller decides how long to wait
    /// (dropping the `PendingAck` forgets the acknowledgement). For load generators that keep
    /// many acknowledgements in flight; [`Client::emit_with_ack`] is the everyday form.
    ///
    /// # Errors
    /// [`ClientError::Closed`] if the connection is gone.
    pub fn emit_with_ack_pending(
        &self,
        event: &str,
        args: &[Value],
    ) -> Result<PendingAck, ClientError> {
        let id = self.shared.next_ack.fetch_add(1, Ordering::Relaxed);
        let frame = self.event_frame(event, args, Some(id));
        let (waiter, answer) = oneshot::channel();
        self.send(Command::SendWithAck { frame, id, waiter })?;
        Ok(PendingAck {
            id,
            answer,
            commands: self.commands.downgrade(),
            done: false,
        })
    }

    /// Close the connection: tell the server (Engine.IO `close`), then wait (up to 5 s) for
    /// the connection task to end. Other handles of this connection see it closed.
    pub async fn close(self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, closed).await;
        }
    }

    fn event_frame(&self, event: &str, args: &[Value], id: Option<u64>) -> Bytes {
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(event.to_owned()));
        data.extend_from_slice(args);
        SioPacket::event(&self.shared.nsp, Value::Array(data), id).encode_engine_frame()
    }

    fn send(&self, command: Command) -> Result<(), ClientError> {
        self.commands.send(command).map_err(|_| ClientError::Closed)
    }
}

async fn connect(
    config: ClientConfig,
    endpoint: Endpoint,
) -> Result<(Client, Events), ClientError> {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let nsp = config.namespace.clone();
    let mut core = Core::new(nsp.clone(), event_tx, commands.downgrade());
    let http_requests = Arc::new(AtomicU64::new(0));

    let (id, transport) = match config.transport {
        Transport::WebSocket => {
            let (ws, open) = websocket::open(&endpoint).await?;
            let (ws, id) = websocket::connect_namespace(ws, &mut core, config.auth).await?;
            tokio::spawn(websocket::run(ws, core, command_rx, open.ping_deadline()));
            (id, Transport::WebSocket)
        }
        Transport::Polling | Transport::Upgrade => {
            let (mut http, session, open) = polling::open(&endpoint, http_requests.clone()).await?;
            let id =
                polling::connect_namespace(&mut http, &session, &mut core, config.auth).await?;
            if config.transport == Transport::Upgrade {
                if !open.upgrades.iter().any(|u| u == "websocket") {
                    return Err(ClientError::protocol(
                        "the server does not offer an upgrade to websocket",
                    ));
                }
                let ws = websocket::upgrade(&endpoint, &open.sid).await?;
                drop((http, session));
                tokio::spawn(websocket::run(ws, core, command_rx, open.ping_deadline()));
                (id, Transport::WebSocket)
            } else {
                tokio::spawn(polling::run(http, session, open, core, command_rx));
                (id, Transport::Polling)
            }
        }
    };
    let events = Events::new(event_rx, nsp.clone(), commands.downgrade());
    let shared = Arc::new(Shared {
        id,
        nsp,
        transport,
        next_ack: AtomicU64::new(0),
        http_requests,
    });
    Ok((Client { shared, commands }, events))
}

/// An acknowledgement on its way, from [`Client::emit_with_ack_pending`]: a future of the
/// server's answer (its arguments), or [`ClientError::Closed`] if the connection ends first.
/// Dropping it before the answer tells the connection to forget the acknowledgement.
#[derive(Debug)]
#[must_use = "dropping a PendingAck forgets the acknowledgement"]
pub struct PendingAck {
    id: u64,
    answer: oneshot::Receiver<AckReply>,
    commands: mpsc::WeakUnboundedSender<Command>,
    done: bool,
}

impl std::future::Future for PendingAck {
    type Output = Result<Vec<Value>, ClientError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.answer).poll(cx) {
            std::task::Poll::Ready(r) => {
                this.done = true;
                std::task::Poll::Ready(r.map_err(|_| ClientError::Closed))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

impl Drop for PendingAck {
    fn drop(&mut self) {
        if !self.done {
            if let Some(commands) = self.commands.upgrade() {
                let _ = commands.send(Command::ForgetAck(self.id));
            }
        }
    }
}
