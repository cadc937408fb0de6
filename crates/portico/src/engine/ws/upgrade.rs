//! The WebSocket transport: the HTTP upgrade, for a new session or to upgrade a polling one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use http::header::{SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION};
use http::Request;
use portico_cors::RequestHeaders;
use portico_proto::engine::session::{CloseReason, Protocol, Transport};
use portico_proto::engine::ErrorCode;

use super::stream::{Io, WsConn};
use crate::engine::conn::Conn;
use crate::engine::polling::open_frame;
use crate::engine::{driver, Engine, WsTarget};
use crate::handshake::ConnInfo;
use crate::http::{error, Answer, Leaves};

/// Whether a request is a WebSocket upgrade, as the router is told it.
#[derive(Debug)]
pub(crate) enum Upgrading<'a> {
    /// Not decided: the router reads the request's headers (`Upgrade`, `Connection`) and body
    /// (hyper's requests), and hyper's upgrade of the request (taken out of its extensions)
    /// gives the stream of one.
    Undecided(Option<hyper::upgrade::OnUpgrade>),
    /// Not an upgrade (Portico's own HTTP/1 decided it).
    No,
    /// An upgrade Portico's own HTTP/1 (`crate::h1`) took: what is to run on the connection
    /// once its `101` is written is left here, and the connection's own task runs it (a
    /// parameter, not a request extension: an extension costs a request allocations and a
    /// hash).
    Direct(&'a mut Option<Start>),
}

/// What runs on a connection Portico's own HTTP/1 answered with a `101`, in that connection's
/// own task: no task spawned, no channel, and the `101` and the session's first frame written
/// in the task's one poll.
pub(crate) enum Start {
    /// A new WebSocket-only session: its driver.
    Session(driver::Pending),
    /// A WebSocket to upgrade this polling session: offered to the session's driver as its
    /// probe.
    Probe(Arc<Conn>),
}

impl std::fmt::Debug for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Start::Session(_) => f.write_str("Start::Session"),
            Start::Probe(conn) => write!(f, "Start::Probe({})", conn.sid),
        }
    }
}

/// A connection Portico's own HTTP/1 gives over to the WebSocket once it answered `101`.
#[derive(Debug)]
pub(crate) struct Handed {
    pub(crate) stream: TcpStream,
    /// The bytes read past the request (the first frames, when the client sent them at once).
    pub(crate) read: Bytes,
    /// The `101`'s bytes when they are to leave with the session's first frame (see
    /// [`crate::http::Leaves`]); empty when the `101` is written.
    pub(crate) unwritten: Vec<u8>,
}

impl Handed {
    /// The WebSocket on this connection, with `engine`'s limits.
    pub(crate) fn into_ws(self, engine: &Engine) -> WsConn {
        WsConn::on(
            Io::Tcp(self.stream),
            &self.read,
            self.unwritten,
            max_message(engine),
            max_stall(engine),
        )
    }
}

/// Offer the WebSocket on `handed` to `conn`'s driver, as the probe of its upgrade. One
/// refused (another is already waiting, or the session ended) is closed with a close frame,
/// as the driver closes those, not dropped: the client sees 1000, not 1006.
pub(crate) async fn offer_probe(conn: Arc<Conn>, handed: Handed) {
    let ws = handed.into_ws(&conn.engine);
    offer_probe_ws(&conn, ws).await;
}

async fn offer_probe_ws(conn: &Conn, ws: WsConn) {
    if let Err(mut refused) = conn.offer_upgrade(Box::new(ws)) {
        refused.close(portico_proto::ws::CLOSE_NORMAL, "").await;
    }
}

/// Where an accepted upgrade's stream comes from.
pub(crate) enum Upgrade<'a> {
    /// hyper's connection, once it wrote the `101`.
    Hyper(hyper::upgrade::OnUpgrade),
    /// Portico's own HTTP/1, which runs what is left here once it wrote the `101` (and drops
    /// it unrun if it could not).
    Direct(&'a mut Option<Start>),
}

impl Upgrade<'_> {
    /// hyper's upgrade of a request. None (a request hyper did not read) gives an upgrade
    /// that fails, as `hyper::upgrade::on` does.
    pub(crate) fn hyper(on: Option<hyper::upgrade::OnUpgrade>) -> Upgrade<'static> {
        Upgrade::Hyper(on.unwrap_or_else(|| hyper::upgrade::on(Request::new(()))))
    }
}

/// hyper's WebSocket, once it wrote the `101`, with `engine`'s limits; an error when the
/// connection ended first.
async fn hyper_ws(on: hyper::upgrade::OnUpgrade, engine: &Engine) -> Result<WsConn, String> {
    match on.await {
        Ok(up) => Ok(WsConn::new(up, max_message(engine), max_stall(engine))),
        Err(e) => Err(e.to_string()),
    }
}

/// The largest WebSocket message accepted: `max_payload`.
fn max_message(engine: &Engine) -> usize {
    usize::try_from(engine.config.max_payload).unwrap_or(usize::MAX)
}

/// A client that reads nothing for a whole heartbeat round is gone.
fn max_stall(engine: &Engine) -> Duration {
    engine.config.ping_interval + engine.config.ping_timeout
}

/// Answer a WebSocket upgrade request: for the polling session being upgraded, or a new
/// WebSocket-only session.
///
/// `headers`: the request's; `stream`: where the connection's stream comes from once the
/// `101` is written (`None`, for a request that reached here without one, fails the upgrade
/// as hyper's would).
pub(crate) fn accept<H: RequestHeaders + ?Sized>(
    engine: &Arc<Engine>,
    headers: &H,
    target: WsTarget,
    info: Arc<ConnInfo>,
    protocol: Protocol,
    stream: Option<Upgrade<'_>>,
) -> Answer {
    let version_ok = headers.get_bytes(&SEC_WEBSOCKET_VERSION) == Some(b"13");
    let Some(key) = headers.get_bytes(&SEC_WEBSOCKET_KEY).filter(|_| version_ok) else {
        return error(ErrorCode::BadRequest).into();
    };
    let accept = portico_proto::ws::AcceptKey::of(key);
    let on_upgrade = stream.unwrap_or_else(|| Upgrade::hyper(None));
    let mut handshake = None;
    // A new v4 session's `101` may leave with its open packet; any other alone.
    let mut leaves = Leaves::Alone;
    match target {
        WsTarget::Upgrade(conn) => match on_upgrade {
            Upgrade::Direct(start) => *start = Some(Start::Probe(conn)),
            Upgrade::Hyper(on) => {
                tokio::spawn(async move {
                    match hyper_ws(on, &conn.engine).await {
                        Ok(ws) => offer_probe_ws(&conn, ws).await,
                        Err(e) => tracing::debug!(sid = %conn.sid, error = %e, "upgrade failed"),
                    }
                });
            }
        },
        WsTarget::New(slot) => {
            if matches!(protocol, Protocol::V4) {
                leaves = Leaves::WithOpenPacket;
            }
            let conn = Conn::new(engine.clone(), Transport::WebSocket, protocol, info);
            handshake = Some(conn.sid);
            let open = open_frame(engine, &conn, Transport::WebSocket, protocol);
            let _ = conn.session().send(open);
            engine.insert_session(conn.clone());
            let handler = conn.open();
            conn.log_opened();
            match on_upgrade {
                // Run by the connection's own task once the `101` is written.
                Upgrade::Direct(start) => {
                    *start = Some(Start::Session(driver::Pending::new(conn, handler, slot)));
                }
                Upgrade::Hyper(on) => {
                    let session = conn.clone();
                    let accept: driver::WsAccept = Box::pin(async move {
                        match hyper_ws(on, &session.engine).await {
                            Ok(ws) => Some(ws),
                            Err(e) => {
                                tracing::debug!(sid = %session.sid, error = %e, "upgrade failed");
                                session
                                    .session()
                                    .handle_transport_closed(CloseReason::TransportError);
                                None
                            }
                        }
                    });
                    tokio::spawn(driver::run(conn, handler, Some(accept), slot));
                }
            }
        }
    }
    Answer::Switching(accept, leaves).marked(handshake.filter(|_| engine.config.mark_handshakes))
}
