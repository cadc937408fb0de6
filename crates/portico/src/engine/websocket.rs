//! The WebSocket transport: the HTTP upgrade, for a new session or to upgrade a polling one.

use std::sync::Arc;

use http::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use portico_proto::engine::session::{CloseReason, Protocol, Transport};
use portico_proto::engine::ErrorCode;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::conn::Conn;
use super::driver;
use super::polling::open_frame;
use crate::handshake::ConnInfo;
use crate::http::{error, Body};
use crate::server::ServerInner;

/// Initial WebSocket read buffer, in bytes.
const READ_BUFFER: usize = 512;
/// Bytes of frames buffered before a write, in bytes.
const WRITE_BUFFER: usize = 16 * 1024;

fn ws_config(server: &ServerInner) -> WebSocketConfig {
    let max = usize::try_from(server.config.max_payload).unwrap_or(usize::MAX);
    // Idle connections should cost little: tungstenite zero-fills its whole read buffer on
    // every read, so start it small (it grows to fit a frame when one needs more). Writes are
    // buffered up to 16 KiB so that a burst of frames leaves in few syscalls, while the
    // buffer an active connection keeps stays bounded. Messages over max_payload close the
    // connection.
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(
            WRITE_BUFFER
                .saturating_mul(4)
                .max(max.saturating_add(WRITE_BUFFER)),
        )
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Answer a WebSocket upgrade request. `conn` is the polling session being upgraded, or
/// `None` for a new WebSocket-only session.
pub(crate) fn accept<B>(
    server: Arc<ServerInner>,
    mut req: Request<B>,
    conn: Option<Arc<Conn>>,
    info: Arc<ConnInfo>,
    protocol: Protocol,
) -> Response<Body> {
    let version_ok = req
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).filter(|_| version_ok) else {
        return error(ErrorCode::BadRequest);
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = ws_config(&server);
    let mut handshake = None;
    match conn {
        Some(conn) => {
            tokio::spawn(async move {
                match on_upgrade.await {
                    Ok(up) => {
                        let ws = WebSocketStream::from_raw_socket(
                            TokioIo::new(up),
                            Role::Server,
                            Some(config),
                        )
                        .await;
                        // The driver takes it as a probe (or closes it if the session cannot
                        // be upgraded any more).
                        conn.offer_upgrade(Box::new(ws));
                    }
                    Err(e) => tracing::debug!(sid = %conn.sid, error = %e, "upgrade failed"),
                }
            });
        }
        None => {
            let conn = Conn::new(server.clone(), Transport::WebSocket, protocol, info);
            handshake = Some(conn.sid);
            let open = open_frame(&server, &conn, Transport::WebSocket, protocol);
            let _ = conn.session().send(open);
            server.insert_session(conn.clone());
            crate::sio::client::on_open(&conn);
            tracing::debug!(sid = %conn.sid, "new websocket session");
            tokio::spawn(async move {
                let ws = match on_upgrade.await {
                    Ok(up) => Some(
                        WebSocketStream::from_raw_socket(
                            TokioIo::new(up),
                            Role::Server,
                            Some(config),
                        )
                        .await,
                    ),
                    Err(e) => {
                        tracing::debug!(sid = %conn.sid, error = %e, "upgrade failed");
                        conn.session()
                            .handle_transport_closed(CloseReason::TransportError);
                        None
                    }
                };
                driver::run(conn, ws).await;
            });
        }
    }
    let mut res = Response::new(Body::default());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(sid) = handshake {
        res.extensions_mut()
            .insert(crate::http::HandshakeResponse(sid));
    }
    res
}
