//! Ack ids a client chooses. Any id that fits a `u64` is answered with exactly that id (leading
//! zeros dropped); anything else closes that connection with `parse error`.
//!
//! Node differs on purpose in two ways: it reads the id with JavaScript's `Number`, so an id
//! past 2^53 is answered with a rounded id (9007199254740993 gets 9007199254740992) and one
//! past 2^64 is still accepted (a 23-digit id gets `1e+23`); Portico answers the id it was
//! sent and refuses ids longer than 20 digits or above `u64::MAX`.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::Fixture;
use portico::{DisconnectReason, Server};

async fn fixture() -> Fixture {
    Fixture::new(Server::builder().build().unwrap()).await
}

#[tokio::test(start_paused = true)]
async fn ids_that_fit_a_u64_are_answered_exactly() {
    let mut f = fixture().await;
    let sid = f.client.join().await;
    for (sent, answered) in [
        ("18446744073709551615", "18446744073709551615"),
        ("9007199254740993", "9007199254740993"),
        ("007", "7"),
        ("00000000000000000000", "0"),
        ("0", "0"),
    ] {
        f.client
            .post_ok(&sid, &format!(r#"42{sent}["echo","{sent}"]"#))
            .await;
        let want = format!(r#"43{answered}["{sent}"]"#);
        f.client.poll_until(&sid, |p| p == want).await;
    }
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn ids_that_do_not_fit_close_the_connection() {
    let mut f = fixture().await;
    for id in [
        "18446744073709551616",
        "99999999999999999999",
        "999999999999999999999999",
        "000000000000000000001",
        "-1",
        "1.5",
        "1e3",
        "+1",
        "0x1",
    ] {
        f.victim_closes(
            &format!(r#"42{id}["echo","x"]"#),
            DisconnectReason::ParseError,
        )
        .await;
    }
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn acks_from_the_client_with_bad_ids_close_and_unknown_ids_are_ignored() {
    let mut f = fixture().await;
    for body in [
        r#"43["x"]"#,
        r#"43999999999999999999999["x"]"#,
        r#"43-1["x"]"#,
        "437",
        r#"437{"x":1}"#,
        r#"437"x""#,
    ] {
        f.victim_closes(body, DisconnectReason::ParseError).await;
    }
    // Ids the server never used (or used up) are dropped; the connection stays.
    let sid = f.client.join().await;
    for body in [r#"430["x"]"#, r#"4318446744073709551615["x"]"#, "431[]"] {
        f.client.post_ok(&sid, body).await;
    }
    f.client.assert_alive(&sid, 5).await;
    f.others_still_work().await;
}
