//! Bad requests on the polling transport get their Engine.IO error, close at most the session
//! they name, and leave every other session working.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use bytes::Bytes;
use common::Client;
use http::{Method, StatusCode};
use portico::{DisconnectReason, Server};

const MAX_PAYLOAD: u64 = 1_000;

struct Fixture {
    io: Server,
    client: Client,
    /// A session that must survive every bad request of the test.
    witness: String,
    next_ack: u64,
    disconnects: Disconnects,
}

type Disconnects = tokio::sync::mpsc::UnboundedReceiver<(portico::Sid, DisconnectReason)>;

impl Fixture {
    async fn new() -> Fixture {
        let io = Server::builder().max_payload(MAX_PAYLOAD).build().unwrap();
        let disconnects = common::echo_server(&io);
        let client = Client::new(&io);
        let witness = client.join().await;
        Fixture {
            io,
            client,
            witness,
            next_ack: 0,
            disconnects,
        }
    }

    /// The witness still works, and so does a new session; no socket left.
    async fn others_still_work(&mut self) {
        assert!(
            self.disconnects.is_empty(),
            "a socket disconnected: {:?}",
            self.disconnects.try_recv()
        );
        self.next_ack += 1;
        self.client.assert_alive(&self.witness, self.next_ack).await;
        let fresh = self.client.join().await;
        self.client.assert_alive(&fresh, 1).await;
    }

    async fn send(&self, method: Method, query: &str, body: &str) -> common::Reply {
        self.client
            .request(
                method,
                &self.client.url(query),
                &[("content-type", "text/plain;charset=UTF-8")],
                Bytes::from(body.to_owned()),
            )
            .await
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_sid() {
    let mut f = Fixture::new().await;
    for sid in ["nope", "AAAAAAAAAAAAAAAAAAAA", ""] {
        let q = format!("EIO=4&transport=polling&sid={sid}");
        f.send(Method::GET, &q, "")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1);
        f.send(Method::POST, &q, "40")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1);
    }
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn bad_protocol_version() {
    let mut f = Fixture::new().await;
    for q in [
        "EIO=5&transport=polling",
        "EIO=3&transport=polling",
        "EIO=x&transport=polling",
        "transport=polling",
    ] {
        f.send(Method::GET, q, "")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 5);
    }
    assert_eq!(f.io.connection_count(), 1);
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn bad_transport() {
    let mut f = Fixture::new().await;
    let witness = f.witness.clone();
    for q in [
        "EIO=4&transport=carrier-pigeon".to_owned(),
        "EIO=4".to_owned(),
        format!("EIO=4&transport=flashsocket&sid={witness}"),
    ] {
        f.send(Method::GET, &q, "")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 0);
    }
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn unsupported_methods() {
    let mut f = Fixture::new().await;
    let victim = f.client.join().await;
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let res = f
            .send(
                method.clone(),
                &format!("EIO=4&transport=polling&sid={victim}"),
                "40",
            )
            .await;
        res.assert_error(StatusCode::BAD_REQUEST, 3);
        // Without a session: not a handshake method.
        f.send(method, "EIO=4&transport=polling", "")
            .await
            .assert_error(StatusCode::BAD_REQUEST, 2);
    }
    f.others_still_work().await;
    // The session they named is not hurt by a request it did not make either.
    f.client.assert_alive(&victim, 9).await;
}

#[tokio::test(start_paused = true)]
async fn oversized_post_is_413_and_the_session_is_kept() {
    let mut f = Fixture::new().await;
    let sender = f.client.join().await;
    let big = format!("42[\"echo\",\"{}\"]", "x".repeat(MAX_PAYLOAD as usize));
    let q = format!("EIO=4&transport=polling&sid={sender}");
    // Declared too large (Content-Length), and too large only once read (no length).
    let declared = f
        .client
        .request(
            Method::POST,
            &f.client.url(&q),
            &[
                ("content-type", "text/plain;charset=UTF-8"),
                ("content-length", &big.len().to_string()),
            ],
            Bytes::from(big.clone()),
        )
        .await;
    assert_eq!(declared.status, StatusCode::PAYLOAD_TOO_LARGE);
    let streamed = f.send(Method::POST, &q, &big).await;
    assert_eq!(streamed.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Exactly max_payload is fine.
    let fits = format!(
        "421[\"echo\",\"{}\"]",
        "y".repeat(MAX_PAYLOAD as usize - "421[\"echo\",\"\"]".len())
    );
    assert_eq!(fits.len() as u64, MAX_PAYLOAD);
    f.client.post_ok(&sender, &fits).await;
    f.client
        .poll_until(&sender, |p| p.starts_with("431["))
        .await;

    f.client.assert_alive(&sender, 2).await;
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn malformed_payload_is_400_and_closes_that_session() {
    let mut f = Fixture::new().await;
    for body in ["x", "9", "4hello\x1e", "\x1e40", "b!!!notbase64"] {
        let victim = f.client.join().await;
        let res = f.client.post(&victim, body).await;
        res.assert_error(StatusCode::BAD_REQUEST, 3);
        let (_, reason) = common::next_disconnect(&mut f.disconnects).await;
        assert_eq!(reason, DisconnectReason::ParseError, "after {body:?}");
        f.client
            .get(&victim)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1);
        f.others_still_work().await;
    }
}
