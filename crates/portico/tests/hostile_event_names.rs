//! Event names a client chooses: anything that is not a string, and the reserved names, close
//! that client's connection with `parse error`; every other session goes on. A string name is
//! delivered whatever its characters.
//!
//! Node (socket.io-parser) also refuses non-string names and the reserved ones (the decoder
//! throws, the connection closes), with one difference: it takes a *number* as a name
//! (`42[1]` is event `1`). Portico refuses numbers too, on purpose: its handlers are keyed by
//! string, and a number that names a handler would be a second spelling of that name.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::Fixture;
use portico::{DisconnectReason, Server};

async fn fixture() -> Fixture {
    Fixture::new(Server::builder().build().unwrap()).await
}

#[tokio::test(start_paused = true)]
async fn names_that_are_not_strings_close_that_connection() {
    let mut f = fixture().await;
    for body in [
        r#"42[{"toString":"x"}]"#,
        r#"42[{"toString":"echo"},"hi"]"#,
        r#"421[{"__proto__":{"x":1}}]"#,
        "42[null]",
        "42[1]",
        "42[1.5]",
        "42[-1]",
        "42[true]",
        r#"42[["echo"]]"#,
        r#"42[[],"x"]"#,
        "42[]",
        r#"42{"0":"echo"}"#,
        r#"42"echo""#,
        "42null",
        "42",
    ] {
        f.victim_closes(body, DisconnectReason::ParseError).await;
        f.others_still_work().await;
    }
    assert_eq!(f.io.connection_count(), 1, "only the witness is left");
}

#[tokio::test(start_paused = true)]
async fn reserved_names_close_that_connection() {
    let mut f = fixture().await;
    for name in [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ] {
        // Plain, with an ack id, in a namespace's packet, and spelled with escapes.
        let escaped: String = name
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        for body in [
            format!(r#"42["{name}"]"#),
            format!(r#"427["{name}",{{"reason":"x"}}]"#),
            format!(r#"42["{escaped}"]"#),
        ] {
            f.victim_closes(&body, DisconnectReason::ParseError).await;
        }
        f.others_still_work().await;
    }
    // Binary events are checked the same way.
    f.victim_closes(
        r#"451-["disconnect",{"_placeholder":true,"num":0}]"#,
        DisconnectReason::ParseError,
    )
    .await;
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn string_names_are_delivered_whatever_their_characters() {
    let mut f = fixture().await;
    let sid = f.client.join().await;
    // `echo` spelled with escapes is `echo`.
    f.client
        .post_ok(&sid, r#"421["\u0065ch\u006f","escaped"]"#)
        .await;
    f.client
        .poll_until(&sid, |p| p == r#"431["escaped"]"#)
        .await;
    // Names nobody handles are dropped, the connection stays: near-misses of reserved names,
    // control characters, a very long name, the empty name.
    let long = "n".repeat(10_000);
    for name in [
        "Connect",
        "disconnect ",
        "error",
        "\\u0000",
        "__proto__",
        "constructor",
        long.as_str(),
        "",
    ] {
        f.client.post_ok(&sid, &format!(r#"422["{name}"]"#)).await;
    }
    f.client.assert_alive(&sid, 3).await;
    f.others_still_work().await;
    // A lone surrogate escape (which JavaScript's JSON.parse takes) is not valid JSON text for
    // serde_json, and a Rust string cannot hold it: the packet does not decode. Node would
    // deliver it.
    f.victim_closes(r#"42["echo","\ud800"]"#, DisconnectReason::ParseError)
        .await;
    f.others_still_work().await;
}
