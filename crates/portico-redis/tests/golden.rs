//! Byte-compatibility with Node's `@socket.io/redis-adapter` 8.x and
//! `@socket.io/redis-emitter` 5.x, on the golden vectors in `golden_data/`: every message
//! Node published decodes, and re-encoding it gives Node's channel and bytes exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod golden_data;

use portico::cluster::{Body, Message, ResponseBody, Value};
use portico_redis::codec::{self, ClassicChannels, Sharded, SubscriptionMode};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn payload(format: &str, text: &str) -> Vec<u8> {
    match format {
        "msgpack" => hex(text),
        _ => text.as_bytes().to_vec(),
    }
}

/// The namespace of a classic channel: `socket.io#<nsp>#...` or `socket.io-xxx#<nsp>#...`.
fn nsp_of(channel: &str) -> &str {
    channel.split('#').nth(1).unwrap()
}

fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if bytes.first() == Some(&b'{') => s.to_owned(),
        _ => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

#[test]
fn classic_messages_decode_and_encode_to_nodes_bytes() {
    let mut checked = 0;
    for &(what, channel, format, text) in golden_data::CLASSIC {
        let bytes = payload(format, text);
        let nsp = nsp_of(channel);
        if channel.starts_with("socket.io#") {
            // A broadcast (pattern subscription).
            let msg = codec::classic_decode_broadcast(nsp, &bytes).expect(what);
            let uid = msg.uid.clone().expect(what);
            let ch = ClassicChannels::new("socket.io", nsp, &uid);
            let out = codec::classic_encode(&ch, nsp, &uid, &msg);
            assert_eq!(out.channel, channel, "{what}");
            assert_eq!(show(&out.payload), show(&bytes), "{what}");
        } else if channel.starts_with("socket.io-request#") {
            let msg = codec::classic_decode_request(&bytes)
                .expect(what)
                .expect(what);
            let uid = msg.uid.clone().expect(what);
            let ch = ClassicChannels::new("socket.io", nsp, &uid);
            let out = codec::classic_encode(&ch, nsp, &uid, &msg);
            assert_eq!(out.channel, channel, "{what}");
            assert_eq!(show(&out.payload), show(&bytes), "{what}");
        } else {
            let resp = codec::classic_decode_response(&bytes)
                .expect(what)
                .expect(what);
            let ch = ClassicChannels::new("socket.io", nsp, "xxxxxx");
            let out = codec::classic_encode_response(&ch, &resp);
            assert_eq!(out.channel, channel, "{what}");
            assert_eq!(show(&out.payload), show(&bytes), "{what}");
        }
        checked += 1;
    }
    assert_eq!(checked, 20);
}

#[test]
fn classic_decoded_values_are_what_node_sent() {
    let v = golden_data::CLASSIC;
    // io.emit('bin', Buffer[1,2,3], {nested: Buffer[4]}): binary stays binary.
    let (what, channel, format, text) = v[4];
    let msg = codec::classic_decode_broadcast(nsp_of(channel), &payload(format, text)).expect(what);
    let Body::Broadcast { data, opts } = msg.body else {
        panic!("{what}")
    };
    assert_eq!(data[0], Value::from("bin"));
    assert_eq!(data[1], Value::Binary(vec![1, 2, 3]));
    assert_eq!(
        data[2],
        Value::Map(vec![(Value::from("nested"), Value::Binary(vec![4]))])
    );
    assert!(opts.rooms.is_empty() && opts.except.is_empty());
    // io.volatile.compress(false): both flags.
    let (what, channel, format, text) = v[5];
    let msg = codec::classic_decode_broadcast(nsp_of(channel), &payload(format, text)).expect(what);
    let Body::Broadcast { opts, .. } = msg.body else {
        panic!("{what}")
    };
    assert!(opts.flags.volatile);
    assert_eq!(opts.flags.compress, Some(false));
    // The broadcast-with-ack request carries its timeout.
    let (what, _, format, text) = v[7];
    let msg = codec::classic_decode_request(&payload(format, text))
        .unwrap()
        .unwrap();
    let Body::BroadcastWithAck {
        request_id, opts, ..
    } = msg.body
    else {
        panic!("{what}")
    };
    assert_eq!(request_id, "sEVywO");
    assert_eq!(opts.flags.timeout, Some(1000));
    // A broadcast for another namespace is refused by this one.
    let (_, _, format, text) = v[6];
    assert!(codec::classic_decode_broadcast("/", &payload(format, text)).is_err());
}

#[test]
fn sharded_messages_decode_and_encode_to_nodes_bytes() {
    let mut checked = 0;
    for &(what, channel, format, text) in golden_data::SHARDED {
        let bytes = payload(format, text);
        let nsp = nsp_of(channel);
        let decoded = codec::sharded_decode(nsp, &bytes).expect(what).expect(what);
        let out = match decoded {
            Sharded::Message(msg) => {
                let uid = msg.uid.clone().expect(what);
                codec::sharded_encode("socket.io", nsp, &uid, SubscriptionMode::Dynamic, &msg)
            }
            Sharded::Response(resp) => {
                let uid = resp.uid.clone().expect(what);
                // `socket.io#<nsp>#<requester>#`
                let requester = channel.split('#').nth(2).unwrap();
                codec::sharded_encode_response("socket.io", nsp, &uid, requester, &resp)
            }
        };
        assert_eq!(out.channel, channel, "{what}");
        assert_eq!(show(&out.payload), show(&bytes), "{what}");
        checked += 1;
    }
    assert_eq!(checked, 18);
}

#[test]
fn sharded_static_mode_publishes_room_broadcasts_on_the_namespace_channel() {
    let (what, _, format, text) = golden_data::SHARDED[1]; // io.to('room1')
    let Sharded::Message(msg) = codec::sharded_decode("/", &payload(format, text))
        .unwrap()
        .unwrap()
    else {
        panic!("{what}")
    };
    let uid = msg.uid.clone().unwrap();
    let out = |mode| codec::sharded_encode("socket.io", "/", &uid, mode, &msg).channel;
    assert_eq!(out(SubscriptionMode::Dynamic), "socket.io#/#room1#");
    assert_eq!(out(SubscriptionMode::DynamicPrivate), "socket.io#/#room1#");
    assert_eq!(out(SubscriptionMode::Static), "socket.io#/#");
    // A 20-character room is taken for a socket id: its own channel only in dynamic-private.
    let sid = "THvj2oKHi888ycyRAAAA".to_owned();
    let private = Message {
        uid: Some(uid.clone()),
        body: Body::Broadcast {
            data: vec![Value::from("private")],
            opts: portico::cluster::Opts {
                rooms: vec![sid.clone()],
                ..Default::default()
            },
        },
    };
    let out = |mode| codec::sharded_encode("socket.io", "/", &uid, mode, &private).channel;
    assert_eq!(out(SubscriptionMode::Dynamic), "socket.io#/#");
    assert_eq!(
        out(SubscriptionMode::DynamicPrivate),
        format!("socket.io#/#{sid}#")
    );
}

#[test]
fn emitter_messages_decode() {
    let v = golden_data::EMITTER;
    assert_eq!(v.len(), 10);
    let mut broadcasts = 0;
    for &(what, channel, format, text) in v {
        let bytes = payload(format, text);
        let nsp = nsp_of(channel);
        let msg = if channel.starts_with("socket.io#") {
            broadcasts += 1;
            codec::classic_decode_broadcast(nsp, &bytes).expect(what)
        } else {
            codec::classic_decode_request(&bytes)
                .expect(what)
                .expect(what)
        };
        match (&msg.uid, &msg.body) {
            // socket.broadcast from a Node server, or the emitter.
            (Some(uid), Body::Broadcast { .. }) => {
                assert!(uid == "emitter" || uid == "f4MBlV", "{what}")
            }
            (
                Some(uid),
                Body::ServerSideEmit {
                    request_id: None,
                    data,
                },
            ) => {
                assert_eq!(uid, "emitter");
                assert_eq!(data, &vec![Value::from("srv-evt"), Value::from("x")]);
            }
            // The emitter's join/leave/disconnect requests carry no uid.
            (None, Body::SocketsJoin { opts, rooms }) => {
                assert_eq!(opts.rooms, vec!["room1"]);
                assert_eq!(rooms, &vec!["room5"]);
            }
            (None, Body::SocketsLeave { opts, rooms }) => {
                assert!(opts.rooms.is_empty());
                assert_eq!(rooms, &vec!["room5"]);
            }
            (None, Body::DisconnectSockets { opts, close }) => {
                assert_eq!(opts.rooms, vec!["room1"]);
                assert!(*close);
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(broadcasts, 6);
    // emitter.to(['room1','room2']).except('room3').volatile.compress(true).emit('e3', Buffer[9])
    let (what, channel, format, text) = v[4];
    let msg = codec::classic_decode_broadcast(nsp_of(channel), &payload(format, text)).expect(what);
    let Body::Broadcast { data, opts } = msg.body else {
        panic!("{what}")
    };
    assert_eq!(data, vec![Value::from("e3"), Value::Binary(vec![9])]);
    assert_eq!(opts.rooms, vec!["room1", "room2"]);
    assert_eq!(opts.except, vec!["room3"]);
    assert!(opts.flags.volatile);
    assert_eq!(opts.flags.compress, Some(true));
}

#[test]
fn responses_carry_their_request_ids() {
    let answers: Vec<_> = golden_data::CLASSIC
        .iter()
        .filter(|(_, channel, _, _)| channel.starts_with("socket.io-response#"))
        .map(|&(what, _, format, text)| {
            let r = codec::classic_decode_response(&payload(format, text))
                .unwrap()
                .expect(what);
            (what, r.body)
        })
        .collect();
    assert_eq!(answers.len(), 5);
    for (what, body) in answers {
        match body {
            ResponseBody::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                assert_eq!((request_id.as_str(), client_count), ("sEVywO", 1), "{what}")
            }
            ResponseBody::BroadcastAck { request_id, value } => {
                assert_eq!(request_id, "sEVywO");
                assert_eq!(value, Value::from("ack-from-client-need-ack"));
            }
            ResponseBody::FetchSockets {
                request_id,
                sockets,
            } => {
                assert_eq!(request_id, "tGOLl-");
                assert_eq!(sockets.len(), 1);
            }
            ResponseBody::ServerSideEmit { request_id, value } => {
                assert_eq!(request_id, "B5Misj");
                assert_eq!(value, Value::from("B-reply"));
            }
            ResponseBody::AllRooms { request_id, rooms } => {
                assert_eq!(request_id, "tyT1zX");
                assert_eq!(rooms, vec!["l5YBi8hC-aVL93qIAAAA", "room1"]);
            }
        }
    }
}

#[test]
fn hostile_payloads_are_errors_not_panics() {
    let deep = "[".repeat(10_000);
    let mut nested = vec![0x91u8; 10_000]; // 10,000 nested one-element arrays
    nested.push(0xc0);
    for bytes in [
        &b""[..],
        b"{",
        b"{\"type\":7}",
        b"\xc1",
        b"\x93\xa1x",
        deep.as_bytes(),
        &nested,
        b"\xdd\xff\xff\xff\xff", // an array announcing 4 billion items
    ] {
        let _ = codec::classic_decode_broadcast("/", bytes);
        let _ = codec::classic_decode_request(bytes);
        let _ = codec::classic_decode_response(bytes);
        let _ = codec::sharded_decode("/", bytes);
    }
}
