//! Polling requests shaped to hurt: sids that are not quite a session's, bodies with truncated
//! UTF-8, and heartbeat packets sent the wrong way or in floods. Each gets its Engine.IO answer
//! and touches no other session.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use bytes::Bytes;
use common::{Fixture, SEPARATOR};
use http::{Method, StatusCode};
use portico::{DisconnectReason, Server};

async fn fixture() -> Fixture {
    Fixture::new(Server::builder().build().unwrap()).await
}

#[tokio::test(start_paused = true)]
async fn malformed_sids_are_unknown_sessions() {
    let mut f = fixture().await;
    let w = f.witness.clone();
    let long = "A".repeat(4096);
    let sids = [
        long.as_str(),
        &w[..19],
        &format!("{w}A"),
        &format!("{w}%00"),
        &w.to_lowercase(),
        &w.to_uppercase(),
        &format!("%20{w}"),
        &format!("+{w}"),
        &format!("{}%{}", &w[..10], &w[10..]),
        "%ZZ%",
        "%",
        "%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00",
        "%C3%A9AAAAAAAAAAAAAAAAAA",
        "%E2%82",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "AAAAAAAAAAAAAAAAAAA%",
        "%FF%FE%FD%FC%FB%FA%F9%F8%F7%F6",
    ];
    for sid in sids {
        let q = format!("EIO=4&transport=polling&sid={sid}");
        for method in [Method::GET, Method::POST] {
            let res = f
                .client
                .request(
                    method.clone(),
                    &f.client.url(&q),
                    &[("content-type", "text/plain;charset=UTF-8")],
                    Bytes::from_static(b"40"),
                )
                .await;
            res.assert_error(StatusCode::BAD_REQUEST, 1);
        }
    }
    // The same sids on a WebSocket upgrade: unknown too. The witness's own sid on a
    // "websocket" request that is no upgrade is a bad request that leaves it alone.
    let upgrade = [
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    for sid in [long.as_str(), &w[..19], "%ZZ%", "%E2%82"] {
        let q = format!("EIO=4&transport=websocket&sid={sid}");
        let res = f
            .client
            .request(Method::GET, &f.client.url(&q), &upgrade, Bytes::new())
            .await;
        res.assert_error(StatusCode::BAD_REQUEST, 1);
    }
    let q = format!("EIO=4&transport=websocket&sid={w}");
    let res = f
        .client
        .request(Method::GET, &f.client.url(&q), &[], Bytes::new())
        .await;
    res.assert_error(StatusCode::BAD_REQUEST, 3);
    // Two sids: the first one counts here (Node keeps the last), and it is unknown.
    let q = format!("EIO=4&transport=polling&sid=nope&sid={w}");
    let res = f
        .client
        .request(Method::GET, &f.client.url(&q), &[], Bytes::new())
        .await;
    res.assert_error(StatusCode::BAD_REQUEST, 1);
    assert_eq!(f.io.connection_count(), 1);
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn truncated_utf8_in_a_body_is_a_bad_request_that_closes_the_session() {
    let mut f = fixture().await;
    let bodies: [&[u8]; 5] = [
        b"42[\"echo\",\"\xe2\x82\"]",
        b"4\xe2",
        b"42[\"echo\",\"ok\"]\x1e4\xf0\x9f\x98",
        b"\xc3",
        b"42[\"\xed\xa0\x80\"]",
    ];
    for body in bodies {
        let victim = f.client.join().await;
        f.client
            .post(&victim, Bytes::from_static(body))
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3);
        let (_, reason) = common::next_disconnect(&mut f.disconnects).await;
        assert_eq!(reason, DisconnectReason::ParseError, "after {body:?}");
        f.client
            .get(&victim)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1);
    }
    // Multibyte characters that are whole are fine, next to the separator too.
    let sid = f.client.join().await;
    let body = format!(r#"421["echo","é€😀"]{SEPARATOR}422["echo","😀"]"#);
    f.client.post_ok(&sid, &body).await;
    f.client.poll_until(&sid, |p| p == r#"432["😀"]"#).await;
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn a_v4_client_ping_closes_its_session_with_transport_error() {
    let mut f = fixture().await;
    // The server pings in v4; a client `2` (with or without data, alone or in a flood) is
    // the wrong way round: Node closes with "invalid heartbeat direction".
    for body in [
        "2",
        "2probe",
        &vec!["2"; 10_000].join(&SEPARATOR.to_string()),
    ] {
        f.victim_closes(body, DisconnectReason::TransportError)
            .await;
    }
    // A client that POSTs pings and never GETs cannot grow the queue: the first closes it.
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn pong_noop_and_upgrade_floods_change_nothing() {
    let mut f = fixture().await;
    let sid = f.client.join().await;
    let sep = SEPARATOR.to_string();
    for packet in ["3", "3probe", "6", "5"] {
        // Unsolicited, in floods: nothing is answered or queued.
        f.client
            .post_ok(&sid, &vec![packet; 10_000].join(&sep))
            .await;
    }
    f.client.assert_alive(&sid, 1).await;
    // The heartbeat still works: the next ping comes on schedule and is answered.
    let start = tokio::time::Instant::now();
    let ping = f.client.get_packets(&sid).await;
    assert_eq!(ping, vec!["2".to_owned()]);
    assert!(common::since(start) <= std::time::Duration::from_secs(25));
    f.client.post_ok(&sid, "3").await;
    f.client.assert_alive(&sid, 2).await;
    f.others_still_work().await;
}
