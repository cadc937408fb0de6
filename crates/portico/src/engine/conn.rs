//! One Engine.IO connection: the session state machine behind a lock, plus what the HTTP
//! handlers and the Socket.IO layer need to reach it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use portico_proto::engine::session::{CloseReason, Protocol, SendError, Session, Transport};
use portico_proto::engine::Frame;
use tokio::sync::{mpsc, Notify};

use crate::handshake::ConnInfo;
use crate::server::ServerInner;
use crate::sid::Sid;
use crate::sio::client::ClientState;

/// The WebSocket type every transport uses.
pub(crate) type WsStream =
    tokio_tungstenite::WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

pub(crate) struct Conn {
    pub(crate) sid: Sid,
    pub(crate) server: Arc<ServerInner>,
    session: Mutex<Session>,
    /// Wakes the driver task: output for the WebSocket, a close, a new deadline.
    pub(crate) driver_wake: Notify,
    /// Wakes the pending polling GET.
    pub(crate) get_wake: Notify,
    /// Hands a probing WebSocket to the driver. Boxed: tokio's channel allocates a block of
    /// 32 slots up front, which for an unboxed stream cost ~16 KB per session.
    pub(crate) upgrade_tx: mpsc::Sender<Box<WsStream>>,
    /// A polling POST is being read (a second one at the same time is an error).
    pub(crate) post_busy: AtomicBool,
    pub(crate) info: Arc<ConnInfo>,
    pub(crate) sio: Mutex<ClientState>,
}

/// Current time on tokio's clock (paused in tests), as the `std` instant the state machine uses.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Conn {
    pub(crate) fn new(
        server: Arc<ServerInner>,
        transport: Transport,
        protocol: Protocol,
        info: Arc<ConnInfo>,
    ) -> (Arc<Conn>, mpsc::Receiver<Box<WsStream>>) {
        let (upgrade_tx, upgrade_rx) = mpsc::channel(1);
        let session = Session::new(now(), transport, server.config.session(protocol));
        let conn = Arc::new(Conn {
            sid: Sid::new(),
            session: Mutex::new(session),
            driver_wake: Notify::new(),
            get_wake: Notify::new(),
            upgrade_tx,
            post_busy: AtomicBool::new(false),
            info,
            sio: Mutex::new(ClientState::default()),
            server,
        });
        (conn, upgrade_rx)
    }

    /// The session state. Never held across an `.await` or a call into user code.
    pub(crate) fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue frames (atomically) and wake whoever writes them.
    pub(crate) fn send(&self, frames: &[Frame]) -> Result<(), SendError> {
        let (res, transport) = {
            let mut s = self.session();
            (s.send_all(frames), s.transport())
        };
        match (&res, transport) {
            (Ok(()), Transport::Polling) => self.get_wake.notify_one(),
            (Ok(()), Transport::WebSocket) => self.driver_wake.notify_one(),
            (Err(SendError::Full), _) => {
                tracing::warn!(sid = %self.sid, "client does not read fast enough: closing with `send buffer full`");
                self.wake_all();
            }
            (Err(SendError::Closed), _) => {}
        }
        res
    }

    /// Queue frames only if the transport can write them now (a pending GET, or an idle
    /// WebSocket); `false` when they were dropped.
    pub(crate) fn send_volatile(&self, frames: &[Frame]) -> bool {
        let transport = {
            let mut s = self.session();
            if !s.is_writable() || s.send_all(frames).is_err() {
                return false;
            }
            s.transport()
        };
        match transport {
            Transport::Polling => self.get_wake.notify_one(),
            Transport::WebSocket => self.driver_wake.notify_one(),
        }
        true
    }

    /// Close the connection. Frames queued before a server-decided close are still sent.
    pub(crate) fn close(&self, reason: CloseReason) {
        self.session().close_at(reason, Some(now()));
        self.wake_all();
    }

    pub(crate) fn wake_all(&self) {
        self.driver_wake.notify_one();
        self.get_wake.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.session().is_closed()
    }

    pub(crate) fn protocol(&self) -> Protocol {
        self.session().protocol()
    }

    pub(crate) fn transport(&self) -> Transport {
        self.session().transport()
    }

    /// Mark a POST as in progress; `false` if one already is.
    pub(crate) fn begin_post(&self) -> bool {
        !self.post_busy.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn end_post(&self) {
        self.post_busy.store(false, Ordering::Release);
    }
}
