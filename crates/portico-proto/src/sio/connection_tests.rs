//! Golden tables of [`Connection`]: for each end and protocol, the messages in and what they
//! mean, or the error; and the packets each end sends.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use super::*;
use serde_json::json;

fn conn(role: Role, version: Version) -> Connection {
    Connection::new(role, version, Encoding::Json, Limits::default())
}

/// Feed text messages; what each meant (or its error), as debug strings.
fn outcomes(
    c: &mut Connection,
    texts: &[&str],
) -> Vec<Result<Option<Received<'static>>, ProtocolError>> {
    texts
        .iter()
        .map(|t| c.handle_text(t.as_bytes()).map(|r| r.map(owned)))
        .collect()
}

fn owned(r: Received<'_>) -> Received<'static> {
    let o = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
    match r {
        Received::Connect { nsp, auth } => Received::Connect { nsp: o(nsp), auth },
        Received::Connected { nsp, sid, pid } => Received::Connected {
            nsp: o(nsp),
            sid,
            pid,
        },
        Received::ConnectError { nsp, message, data } => Received::ConnectError {
            nsp: o(nsp),
            message,
            data,
        },
        Received::Disconnect { nsp } => Received::Disconnect { nsp: o(nsp) },
        Received::Event {
            nsp,
            name,
            args,
            id,
            binary,
        } => Received::Event {
            nsp: o(nsp),
            name: o(name),
            args,
            id,
            binary,
        },
        Received::Ack {
            nsp,
            id,
            args,
            binary,
        } => Received::Ack {
            nsp: o(nsp),
            id,
            args,
            binary,
        },
    }
}

fn s(v: &str) -> Cow<'static, str> {
    Cow::Owned(v.to_owned())
}

#[test]
fn a_server_reads_what_clients_send_v5() {
    let mut c = conn(Role::Server, Version::V5);
    let got = outcomes(
        &mut c,
        &[
            "0",
            r#"0/admin,{"token":"x"}"#,
            r#"2["chat","hi",1]"#,
            r#"2/admin,7["q"]"#,
            r#"31[true]"#,
            "1/admin,",
            r#"4{"message":"x"}"#,
            r#"2["disconnect"]"#,
            "9",
        ],
    );
    assert_eq!(
        got,
        vec![
            Ok(Some(Received::Connect {
                nsp: s("/"),
                auth: None
            })),
            Ok(Some(Received::Connect {
                nsp: s("/admin"),
                auth: Some(json!({"token": "x"}))
            })),
            Ok(Some(Received::Event {
                nsp: s("/"),
                name: s("chat"),
                args: vec![json!("hi"), json!(1)],
                id: None,
                binary: vec![]
            })),
            Ok(Some(Received::Event {
                nsp: s("/admin"),
                name: s("q"),
                args: vec![],
                id: Some(7),
                binary: vec![]
            })),
            Ok(Some(Received::Ack {
                nsp: s("/"),
                id: 1,
                args: vec![json!(true)],
                binary: vec![]
            })),
            Ok(Some(Received::Disconnect { nsp: s("/admin") })),
            Err(ProtocolError::UnexpectedPacket(PacketType::ConnectError)),
            Err(ProtocolError::Decode(DecodeError::ReservedEvent)),
            Err(ProtocolError::Decode(DecodeError::UnknownType(b'9'))),
        ]
    );
}

#[test]
fn v4_namespaces_carry_their_query_as_auth() {
    let mut c = conn(Role::Server, Version::V4);
    let got = outcomes(&mut c, &["0/admin?token=a%20b&x=1&x=2,", "0/plain,"]);
    assert_eq!(
        got,
        vec![
            Ok(Some(Received::Connect {
                nsp: s("/admin"),
                auth: Some(json!({"token": "a b", "x": "2"}))
            })),
            Ok(Some(Received::Connect {
                nsp: s("/plain"),
                auth: None
            })),
        ]
    );
}

#[test]
fn binary_packets_wait_for_their_attachments_and_nothing_else() {
    let mut c = conn(Role::Server, Version::V5);
    let head = r#"52-["up",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#;
    assert_eq!(c.handle_text(head.as_bytes()), Ok(None));
    assert!(c.awaiting_attachments());
    assert_eq!(c.handle_binary(Bytes::from_static(b"a")), Ok(None));
    let done = c.handle_binary(Bytes::from_static(b"b")).unwrap().unwrap();
    let Received::Event {
        name, args, binary, ..
    } = done
    else {
        panic!("{done:?}")
    };
    assert_eq!(name, "up");
    assert_eq!(args.len(), 2);
    assert_eq!(
        binary,
        vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
    );
    assert!(!c.awaiting_attachments());
    // An attachment nobody announced, and text in the middle of attachments, end the connection.
    assert_eq!(
        c.handle_binary(Bytes::new()),
        Err(ProtocolError::Decode(DecodeError::UnexpectedAttachment))
    );
    assert_eq!(
        c.handle_text(br#"51-["x",{"_placeholder":true,"num":0}]"#),
        Ok(None)
    );
    assert_eq!(
        c.handle_text(b"2[\"y\"]"),
        Err(ProtocolError::TextDuringAttachments)
    );
    // Binary acks too.
    let mut c = conn(Role::Client, Version::V5);
    assert_eq!(
        c.handle_text(br#"61-3[{"_placeholder":true,"num":0}]"#),
        Ok(None)
    );
    let ack = c.handle_binary(Bytes::from_static(b"z")).unwrap().unwrap();
    assert_eq!(
        ack,
        Received::Ack {
            nsp: s("/"),
            id: 3,
            args: vec![json!({"_placeholder": true, "num": 0})],
            binary: vec![Bytes::from_static(b"z")]
        }
    );
}

#[test]
fn bad_text_is_a_protocol_error_not_a_panic() {
    let mut c = conn(Role::Server, Version::V5);
    assert_eq!(c.handle_text(&[0x32, 0xff]), Err(ProtocolError::NotUtf8));
    assert_eq!(
        c.handle_text(b""),
        Err(ProtocolError::Decode(DecodeError::Empty))
    );
    let mut m = Connection::new(
        Role::Server,
        Version::V5,
        Encoding::MsgPack,
        Limits::default(),
    );
    assert_eq!(m.handle_text(b"0"), Err(ProtocolError::TextOnMsgPack));
    assert!(m.handle_binary(Bytes::from_static(&[0xc1])).is_err());
}

#[test]
fn a_client_reads_the_servers_answers_v5_and_v4() {
    let mut c = conn(Role::Client, Version::V5);
    let got = outcomes(
        &mut c,
        &[
            r#"0{"sid":"abc","pid":"p"}"#,
            r#"4/admin,{"message":"not authorized","data":{"code":401}}"#,
            "1",
        ],
    );
    assert_eq!(
        got,
        vec![
            Ok(Some(Received::Connected {
                nsp: s("/"),
                sid: Some("abc".into()),
                pid: Some("p".into())
            })),
            Ok(Some(Received::ConnectError {
                nsp: s("/admin"),
                message: "not authorized".into(),
                data: Some(json!({"code": 401}))
            })),
            Ok(Some(Received::Disconnect { nsp: s("/") })),
        ]
    );
    let mut c = conn(Role::Client, Version::V4);
    let got = outcomes(
        &mut c,
        &["0", r#"4"Invalid namespace""#, r#"4/a,{"code":1}"#],
    );
    assert_eq!(
        got,
        vec![
            Ok(Some(Received::Connected {
                nsp: s("/"),
                sid: None,
                pid: None
            })),
            Ok(Some(Received::ConnectError {
                nsp: s("/"),
                message: "Invalid namespace".into(),
                data: None
            })),
            Ok(Some(Received::ConnectError {
                nsp: s("/a"),
                message: String::new(),
                data: Some(json!({"code": 1}))
            })),
        ]
    );
}

#[test]
fn the_connect_reply_frame_is_the_connect_reply_encoded() {
    let names = ["/", "", "/a", "/chat/room-1", "/ü"];
    let ids = [
        "abc",
        "Xy-_09",
        "quote\"back\\slash",
        "\u{0}\u{1f}\n\t",
        "é✓😀",
    ];
    for version in [Version::V5, Version::V4] {
        let c = conn(Role::Server, version);
        for nsp in names {
            for sid in ids {
                for pid in [None, Some("p"), Some(sid)] {
                    assert_eq!(
                        c.connect_reply_frame(nsp, sid, pid),
                        c.connect_reply(nsp, sid, pid).encode_engine_frame(),
                        "{version:?} {nsp:?} {sid:?} {pid:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn each_end_writes_the_shapes_of_its_protocol() {
    let v5 = conn(Role::Server, Version::V5);
    let v4 = conn(Role::Server, Version::V4);
    let table = [
        (
            v5.connect_reply("/", "abc", None).encode(),
            r#"0{"sid":"abc"}"#,
        ),
        (
            v5.connect_reply("/a", "abc", Some("p")).encode(),
            r#"0/a,{"sid":"abc","pid":"p"}"#,
        ),
        (v4.connect_reply("/", "abc", None).encode(), "0"),
        (v4.connect_reply("/a", "abc", None).encode(), "0/a,"),
        (
            v5.connect_error("/", "Invalid namespace", None).encode(),
            r#"4{"message":"Invalid namespace"}"#,
        ),
        (
            v5.connect_error("/", "no", Some(json!({"code": 1})))
                .encode(),
            r#"4{"message":"no","data":{"code":1}}"#,
        ),
        (
            v4.connect_error("/", "Invalid namespace", None).encode(),
            r#"4"Invalid namespace""#,
        ),
        (
            v4.connect_error("/", "no", Some(json!({"code": 1})))
                .encode(),
            r#"4{"code":1}"#,
        ),
    ];
    for (got, want) in table {
        assert_eq!(got, want);
    }
    let c5 = conn(Role::Client, Version::V5);
    let c4 = conn(Role::Client, Version::V4);
    assert_eq!(
        c5.connect("/", Some(json!({"token": "x"})))
            .unwrap()
            .encode(),
        r#"0{"token":"x"}"#
    );
    assert_eq!(c5.connect("/a", None).unwrap().encode(), "0/a,");
    assert!(
        c4.connect("/", Some(json!({"token": "x"}))).is_none(),
        "v4 joins / implicitly"
    );
    assert_eq!(
        c4.connect("/a", Some(json!({"t": "a b&c", "n": 1})))
            .unwrap()
            .encode(),
        "0/a?t=a%20b%26c&n=1,"
    );
    // What a v4 client writes, a v4 server reads back.
    let mut server = conn(Role::Server, Version::V4);
    let text = c4
        .connect("/a", Some(json!({"t": "a b&c"})))
        .unwrap()
        .encode();
    assert_eq!(
        server.handle_text(text.as_bytes()).unwrap().map(owned),
        Some(Received::Connect {
            nsp: s("/a"),
            auth: Some(json!({"t": "a b&c"}))
        })
    );
}
