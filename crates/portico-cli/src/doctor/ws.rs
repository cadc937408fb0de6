//! The WebSocket side of the probe: the upgrade request a browser sends (with `Origin`, and
//! no CORS), the `Sec-WebSocket-Accept` check, and text frames over the upgraded connection
//! (framing from `portico_proto::ws`, masked as a client must).

use std::time::Duration;

use base64::Engine as _;
use portico_proto::ws::{self, Message, Reader, Role};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::http::{Io, Request, Response};

/// Largest WebSocket message read, in bytes.
const MAX_MESSAGE: usize = 1 << 20;

/// The upgrade request for `path_and_query` from a page on `origin`, and its key.
pub(crate) fn upgrade_request(path_and_query: &str, origin: &str) -> (Request, String) {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let request = Request::new("GET", path_and_query)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Origin", origin)
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", key.clone())
        .header("User-Agent", super::USER_AGENT);
    (request, key)
}

/// Checks a `101` answer as a browser does: `Upgrade: websocket`, `Connection: upgrade` and
/// the right `Sec-WebSocket-Accept`.
pub(crate) fn check_101(response: &Response, key: &str) -> Result<(), String> {
    let has = |name: &str, token: &str| {
        response
            .header_all(name)
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has("upgrade", "websocket") || !has("connection", "upgrade") {
        return Err("the 101 answer lacks `Upgrade: websocket` or `Connection: Upgrade`".into());
    }
    if response.header("sec-websocket-accept") != Some(ws::accept_key(key.as_bytes()).as_str()) {
        return Err("the 101 answer has a wrong Sec-WebSocket-Accept".into());
    }
    Ok(())
}

/// What arrived on the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(usize),
    /// The server closed (code and reason when given).
    Closed(String),
}

/// An open WebSocket (client side).
pub(crate) struct WsConn {
    io: Box<dyn Io>,
    reader: Reader,
}

impl WsConn {
    /// The connection after a `101`, with the bytes that followed the answer's head.
    pub fn new(io: Box<dyn Io>, initial: &[u8]) -> WsConn {
        WsConn {
            io,
            reader: Reader::new(Role::Client, MAX_MESSAGE).with_initial(initial),
        }
    }

    /// Sends a text message, masked.
    pub async fn send_text(&mut self, text: &str, timeout: Duration) -> Result<(), String> {
        let mask: [u8; 4] = rand::random();
        let mut frame = ws::header(ws::TEXT, text.len(), Some(mask))
            .as_bytes()
            .to_vec();
        let start = frame.len();
        frame.extend_from_slice(text.as_bytes());
        ws::apply_mask(&mut frame[start..], mask);
        self.write(&frame, timeout).await
    }

    async fn write(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), String> {
        match tokio::time::timeout(timeout, self.io.write_all(bytes)).await {
            Err(_) => Err("timed out writing".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The next text or binary message or the close, within `timeout` (`None` when it
    /// passes); WebSocket pings are answered on the way.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<Incoming>, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let message = match self.reader.next_buffered() {
                Err(e) => return Err(format!("invalid WebSocket frames: {e}")),
                Ok(Some(m)) => m,
                Ok(None) => {
                    let mut buf = [0u8; 8192];
                    let n = match tokio::time::timeout_at(deadline, self.io.read(&mut buf)).await {
                        Err(_) => return Ok(None),
                        Ok(Err(e)) => {
                            return Ok(Some(Incoming::Closed(format!("connection error: {e}"))))
                        }
                        Ok(Ok(0)) => {
                            return Ok(Some(Incoming::Closed(
                                "connection closed without a close frame".into(),
                            )))
                        }
                        Ok(Ok(n)) => n,
                    };
                    match self.reader.next_from(&buf[..n]) {
                        Err(e) => return Err(format!("invalid WebSocket frames: {e}")),
                        Ok(None) => continue,
                        Ok(Some(m)) => m,
                    }
                }
            };
            match message {
                Message::Text(t) => {
                    return Ok(Some(Incoming::Text(
                        String::from_utf8_lossy(&t).into_owned(),
                    )))
                }
                Message::Binary(b) => return Ok(Some(Incoming::Binary(b.len()))),
                Message::Ping(data) => {
                    let pong = ws::control_frame(ws::PONG, &data, Some(rand::random()));
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    self.write(&pong, left.max(Duration::from_millis(10)))
                        .await?;
                }
                Message::Pong(_) => {}
                Message::Close(frame) => {
                    let text = match frame {
                        Some(f) => format!("close frame {} {:?}", f.code, f.reason),
                        None => "close frame without a code".into(),
                    };
                    return Ok(Some(Incoming::Closed(text)));
                }
            }
        }
    }

    /// Sends a close frame (best effort, bounded).
    pub async fn close(mut self) {
        let frame = ws::control_frame(
            ws::CLOSE,
            &ws::close_payload(ws::CLOSE_NORMAL, ""),
            Some(rand::random()),
        );
        let _ = self.write(&frame, Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn upgrade_request_and_accept() {
        let (req, key) = upgrade_request("/socket.io/?EIO=4&transport=websocket", "http://a.test");
        let ev = req.evidence();
        assert_eq!(
            ev[0],
            "> GET /socket.io/?EIO=4&transport=websocket HTTP/1.1"
        );
        assert!(ev.contains(&"> Origin: http://a.test".to_string()));
        let mut ok = Response {
            status: 101,
            reason: "Switching Protocols".into(),
            headers: vec![
                ("upgrade".into(), "websocket".into()),
                ("connection".into(), "Upgrade".into()),
                (
                    "sec-websocket-accept".into(),
                    ws::accept_key(key.as_bytes()),
                ),
            ],
            body: vec![],
        };
        assert_eq!(check_101(&ok, &key), Ok(()));
        ok.headers[2].1 = "nope".into();
        assert!(check_101(&ok, &key).is_err());
    }

    #[tokio::test]
    async fn reads_text_and_answers_pings() {
        let (client, mut server) = tokio::io::duplex(4096);
        let mut conn = WsConn::new(Box::new(client), &[]);
        let mut frames = ws::control_frame(ws::PING, b"hi", None);
        frames.extend_from_slice(ws::header(ws::TEXT, 1, None).as_bytes());
        frames.push(b'2');
        server.write_all(&frames).await.unwrap();
        let got = conn.next(Duration::from_secs(1)).await.unwrap();
        assert_eq!(got, Some(Incoming::Text("2".into())));
        // The pong came back, masked.
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        let mut reader = Reader::new(Role::Server, 1024);
        assert_eq!(
            reader.next_from(&buf[..n]).unwrap(),
            Some(Message::Pong(bytes::Bytes::from_static(b"hi")))
        );
        conn.send_text("3", Duration::from_secs(1)).await.unwrap();
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(
            reader.next_from(&buf[..n]).unwrap(),
            Some(Message::Text(bytes::Bytes::from_static(b"3")))
        );
        assert_eq!(conn.next(Duration::from_millis(20)).await.unwrap(), None);
        drop(server);
        assert!(matches!(
            conn.next(Duration::from_secs(1)).await.unwrap(),
            Some(Incoming::Closed(_))
        ));
    }
}
