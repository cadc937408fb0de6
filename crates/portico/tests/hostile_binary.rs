//! Binary packets a client gets wrong on purpose: placeholders that point nowhere, attachment
//! counts that lie, attachments nobody announced, text in the middle of a binary packet. Each
//! closes that connection with `parse error` before anything is allocated by the claimed
//! count; valid binary packets up to `max_attachments` still round-trip.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{Fixture, SEPARATOR};
use portico::{Ack, Args, DisconnectReason, Server, Socket};

/// `/` with the common echo handlers, `/bin` echoing binary (its ack carries the same
/// attachments).
async fn fixture() -> Fixture {
    let io = Server::builder().build().unwrap();
    io.of("/bin").on_connection(|socket: Socket| async move {
        socket.on("echo", |_s: Socket, args: Args, ack: Ack| async move {
            ack.send(&args)
        });
    });
    Fixture::new(io).await
}

fn payload(items: &[&str]) -> String {
    items.join(&SEPARATOR.to_string())
}

#[tokio::test(start_paused = true)]
async fn placeholders_that_point_nowhere_close_the_connection() {
    let mut f = fixture().await;
    for num in [
        "1",
        "10",
        "-1",
        "0.5",
        "1e0",
        "\"0\"",
        "\"splice\"",
        "\"__proto__\"",
        "\"length\"",
        "null",
        "true",
        "[0]",
        "{}",
        "18446744073709551616",
        "99999999999999999999999999",
    ] {
        let body = payload(&[
            &format!(r#"451-["echo",{{"_placeholder":true,"num":{num}}}]"#),
            "bAQID",
        ]);
        f.victim_closes(&body, DisconnectReason::ParseError).await;
    }
    // A placeholder without a `num`, and one nested deep in the arguments.
    for data in [
        r#"["echo",{"_placeholder":true}]"#,
        r#"["echo",{"a":[{"b":{"_placeholder":true,"num":3}}]}]"#,
    ] {
        let body = payload(&[&format!("451-{data}"), "bAQID"]);
        f.victim_closes(&body, DisconnectReason::ParseError).await;
    }
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn attachment_counts_that_lie_close_the_connection_up_front() {
    let mut f = fixture().await;
    // A huge count followed by a flood of attachments: refused at the header (the default
    // max_attachments is 10), the flood never reaches a packet.
    let flood: Vec<&str> = std::iter::once(r#"45999999-["echo",{"_placeholder":true,"num":0}]"#)
        .chain(std::iter::repeat_n("bAQID", 5000))
        .collect();
    f.victim_closes(&payload(&flood), DisconnectReason::ParseError)
        .await;
    for header in [
        "4511-",
        "4518446744073709551615-",
        "4518446744073709551616-",
        "45999999999999999999999999-",
        "450-",
        "45-",
        "45-1-",
        "45x-",
        "451",
        "461-",
    ] {
        let body = payload(&[
            &format!(r#"{header}["echo",{{"_placeholder":true,"num":0}}]"#),
            "bAQID",
        ]);
        f.victim_closes(&body, DisconnectReason::ParseError).await;
    }
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn attachments_out_of_turn_close_the_connection() {
    let mut f = fixture().await;
    // Binary with nothing announced.
    f.victim_closes("bAQID", DisconnectReason::ParseError).await;
    // One attachment too many.
    let body = payload(&[
        r#"451-["echo",{"_placeholder":true,"num":0}]"#,
        "bAQID",
        "bBAU=",
    ]);
    f.victim_closes(&body, DisconnectReason::ParseError).await;
    // A text packet while attachments are pending (in the same POST, and in the next one).
    let body = payload(&[
        r#"452-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        "bAQID",
        r#"42["echo","x"]"#,
    ]);
    f.victim_closes(&body, DisconnectReason::ParseError).await;
    let victim = f.client.join().await;
    f.client
        .post_ok(&victim, r#"451-["echo",{"_placeholder":true,"num":0}]"#)
        .await;
    f.client.post_ok(&victim, r#"41"#).await;
    let (_, reason) = common::next_disconnect(&mut f.disconnects).await;
    assert_eq!(reason, DisconnectReason::ParseError);
    f.others_still_work().await;
}

#[tokio::test(start_paused = true)]
async fn valid_binary_packets_round_trip_up_to_the_limit() {
    let mut f = fixture().await;
    let sid = f.client.join().await;
    f.client.post_ok(&sid, "40/bin,").await;
    f.client
        .poll_until(&sid, |p| p.starts_with(r#"40/bin,{"sid""#))
        .await;
    // Ten attachments (the default max_attachments), each placeholder used, in any order,
    // some twice.
    let placeholders: Vec<String> = (0..10)
        .rev()
        .chain([3])
        .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
        .collect();
    let head = format!("4510-/bin,7[\"echo\",{}]", placeholders.join(","));
    let bins: Vec<String> = (0u8..10).map(|i| format!("b{}", b64(&[i; 3]))).collect();
    let mut items = vec![head.as_str()];
    items.extend(bins.iter().map(String::as_str));
    f.client.post_ok(&sid, &payload(&items)).await;
    let mut got = Vec::new();
    while got.len() < 11 {
        got.extend(f.client.get_packets(&sid).await);
    }
    let ack_placeholders: Vec<String> = (0..11)
        .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
        .collect();
    assert_eq!(
        got[0],
        format!("4611-/bin,7[{}]", ack_placeholders.join(",")),
        "the ack re-numbers the attachments in argument order"
    );
    let want: Vec<String> = (0u8..10)
        .rev()
        .chain([3])
        .map(|i| format!("b{}", b64(&[i; 3])))
        .collect();
    assert_eq!(&got[1..], &want[..]);
    f.others_still_work().await;
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
