//! Tests of [`Packet`](super::Packet): golden vectors from the v5 spec and the reference
//! parser's test suite, malformed input, and encode/decode round trips.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::{json, Value};

use super::*;
use crate::sio::placeholder;
use crate::test_rng::Rng;

fn decode(text: &str) -> Result<Packet, DecodeError> {
    Packet::decode(text, &Limits::default())
}

/// Golden vectors valid in both directions: (wire text without the engine `4`, packet).
fn golden() -> Vec<(&'static str, Packet)> {
    let p0 = || placeholder(0);
    vec![
        // CONNECT
        ("0", Packet::connect("/", None)),
        ("0/admin,", Packet::connect("/admin", None)),
        (
            r#"0{"token":"123"}"#,
            Packet::connect("/", Some(json!({"token": "123"}))),
        ),
        (
            r#"0/woot,{"token":"123"}"#,
            Packet::connect("/woot", Some(json!({"token": "123"}))),
        ),
        (
            r#"0{"sid":"abc"}"#,
            Packet::connect("/", Some(json!({"sid": "abc"}))),
        ),
        (
            r#"0/custom,{"sid":"x"}"#,
            Packet::connect("/custom", Some(json!({"sid": "x"}))),
        ),
        (
            r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
            Packet::connect("/admin", Some(json!({"sid": "oSO0OpakMV_3jnilAAAA"}))),
        ),
        // DISCONNECT: the comma after a custom nsp is written even with nothing after it.
        ("1", Packet::disconnect("/")),
        ("1/admin,", Packet::disconnect("/admin")),
        ("1/woot,", Packet::disconnect("/woot")),
        // EVENT
        (r#"2["foo"]"#, Packet::event("/", json!(["foo"]), None)),
        (r#"2["a",1]"#, Packet::event("/", json!(["a", 1]), None)),
        (
            r#"2["a",1,{}]"#,
            Packet::event("/", json!(["a", 1, {}]), None),
        ),
        (
            r#"2["hey","Jude"]"#,
            Packet::event("/", json!(["hey", "Jude"]), None),
        ),
        (
            r#"2/admin,["bar"]"#,
            Packet::event("/admin", json!(["bar"]), None),
        ),
        (
            r#"2/admin,["a"]"#,
            Packet::event("/admin", json!(["a"]), None),
        ),
        (r#"21["a"]"#, Packet::event("/", json!(["a"]), Some(1))),
        (
            r#"212["foo"]"#,
            Packet::event("/", json!(["foo"]), Some(12)),
        ),
        (
            r#"2/test,1["a",1,{}]"#,
            Packet::event("/test", json!(["a", 1, {}]), Some(1)),
        ),
        (
            r#"2/admin,1["tellme"]"#,
            Packet::event("/admin", json!(["tellme"]), Some(1)),
        ),
        (
            r#"218446744073709551615["max"]"#,
            Packet::event("/", json!(["max"]), Some(u64::MAX)),
        ),
        (
            "2[\"€\",\"😀\",\"a\\\"b\\\\c\\n\\u0001\",null,true,-5,1.5]",
            Packet::event(
                "/",
                json!(["€", "😀", "a\"b\\c\n\u{1}", null, true, -5, 1.5]),
                None,
            ),
        ),
        // Placeholders in a non-binary packet are plain data.
        (
            r#"2["a",{"_placeholder":true,"num":99}]"#,
            Packet::event("/", json!(["a", placeholder(99)]), None),
        ),
        // ACK
        (
            r#"3123["a",1,{}]"#,
            Packet::ack("/", 123, json!(["a", 1, {}])),
        ),
        (
            r#"3/admin,13["bar"]"#,
            Packet::ack("/admin", 13, json!(["bar"])),
        ),
        ("3/admin,1[]", Packet::ack("/admin", 1, json!([]))),
        ("312[]", Packet::ack("/", 12, json!([]))),
        // CONNECT_ERROR
        (
            r#"4"Unauthorized""#,
            Packet::new(
                PacketType::ConnectError,
                "/",
                None,
                Some(json!("Unauthorized")),
                0,
            ),
        ),
        (
            r#"4{"message":"Not authorized"}"#,
            Packet::connect_error("/", "Not authorized", None),
        ),
        (
            r#"4/random,{"message":"Invalid namespace"}"#,
            Packet::connect_error("/random", "Invalid namespace", None),
        ),
        // BINARY_EVENT / BINARY_ACK
        (
            r#"51-["baz",{"_placeholder":true,"num":0}]"#,
            Packet::binary_event("/", json!(["baz", p0()]), None, 1),
        ),
        (
            r#"51-["x",{"_placeholder":true,"num":0}]"#,
            Packet::binary_event("/", json!(["x", p0()]), None, 1),
        ),
        (
            r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            Packet::binary_event("/admin", json!(["baz", p0(), placeholder(1)]), None, 2),
        ),
        (
            r#"510-/a,9["e",{"_placeholder":true,"num":9}]"#,
            Packet::binary_event("/a", json!(["e", placeholder(9)]), Some(9), 10),
        ),
        (
            r#"61-15["bar",{"_placeholder":true,"num":0}]"#,
            Packet::binary_ack("/", 15, json!(["bar", p0()]), 1),
        ),
        (
            r#"61-/admin,1[{"_placeholder":true,"num":0}]"#,
            Packet::binary_ack("/admin", 1, json!([p0()]), 1),
        ),
    ]
}

#[test]
fn golden_decode() {
    for (wire, packet) in golden() {
        assert_eq!(decode(wire), Ok(packet), "{wire}");
    }
}

#[test]
fn golden_encode() {
    for (wire, packet) in golden() {
        assert_eq!(packet.encode(), wire);
        assert_eq!(packet.encode_engine_frame(), format!("4{wire}").as_bytes());
    }
}

#[test]
fn engine_frame_vectors() {
    assert_eq!(
        Packet::event("/", json!(["a", 1]), None).encode_engine_frame(),
        &br#"42["a",1]"#[..]
    );
    assert_eq!(Packet::disconnect("/").encode_engine_frame(), &b"41"[..]);
    assert_eq!(
        Packet::disconnect("/admin").encode_engine_frame(),
        &b"41/admin,"[..]
    );
    assert_eq!(
        Packet::connect("/", Some(json!({"sid": "abc"}))).encode_engine_frame(),
        &br#"40{"sid":"abc"}"#[..]
    );
    assert_eq!(
        Packet::binary_event("/", json!(["x", placeholder(0)]), None, 1).encode_engine_frame(),
        &br#"451-["x",{"_placeholder":true,"num":0}]"#[..]
    );
}

/// Whether serde_json keeps object keys in insertion order (its `preserve_order` feature).
fn preserves_order() -> bool {
    let v: Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
    v.as_object().unwrap().keys().next().map(String::as_str) == Some("b")
}

#[test]
fn connect_error_with_data() {
    let p = Packet::connect_error("/", "m", Some(json!({"code": 401})));
    let node = r#"44{"message":"m","data":{"code":401}}"#;
    let got = p.encode_engine_frame();
    if preserves_order() {
        assert_eq!(got, node.as_bytes());
    } else {
        // Without serde_json's `preserve_order`, keys come out sorted; same JSON value.
        assert_eq!(got, &br#"44{"data":{"code":401},"message":"m"}"#[..]);
    }
    assert_eq!(decode(&node[1..]), Ok(p));
}

#[test]
fn decode_only_vectors() {
    // Valid, but not what the encoder writes.
    let cases = [
        ("0/custom", Packet::connect("/custom", None)),
        ("0/admin", Packet::connect("/admin", None)),
        (
            r#"0/admin{"a":1}"#,
            Packet::connect(r#"/admin{"a":1}"#, None),
        ),
        ("0/", Packet::connect("/", None)),
        ("0/,", Packet::connect("/", None)),
        ("1/admin", Packet::disconnect("/admin")),
        (r#"2/,["a"]"#, Packet::event("/", json!(["a"]), None)),
        (r#"2007["a"]"#, Packet::event("/", json!(["a"]), Some(7))),
        ("2 [\"a\"] ", Packet::event("/", json!(["a"]), None)),
        ("0/admin?token=1,", Packet::connect("/admin?token=1", None)),
    ];
    for (wire, expected) in cases {
        assert_eq!(decode(wire), Ok(expected), "{wire}");
    }
}

#[test]
fn malformed() {
    use DecodeError::*;
    let deep = format!("2[\"a\",{}", "[".repeat(100_000));
    let cases: Vec<(&str, DecodeError)> = vec![
        ("", Empty),
        ("7", UnknownType(b'7')),
        ("999", UnknownType(b'9')),
        (" 2[\"a\"]", UnknownType(b' ')),
        ("-1", UnknownType(b'-')),
        ("4abc", InvalidJson),
        ("4", InvalidPayload),
        ("4[]", InvalidPayload),
        ("44", UnexpectedId),
        ("42{}", UnexpectedId),
        ("42abc[\"a\"]", InvalidJson),
        ("2{}", InvalidPayload),
        ("2abc[\"a\"]", InvalidJson),
        ("2", InvalidPayload),
        ("2[]", InvalidPayload),
        ("2[1]", InvalidPayload),
        ("2[\"a\"]x", InvalidJson),
        ("2[\"a\"", InvalidJson),
        ("2[\"a\"][]", InvalidJson),
        ("2/admin,{}", InvalidPayload),
        ("2/admin,\"invalid", InvalidJson),
        ("2[{\"toString\":\"foo\"}]", InvalidPayload),
        ("2[true,\"foo\"]", InvalidPayload),
        ("2[null,\"bar\"]", InvalidPayload),
        ("2[\"connect\"]", ReservedEvent),
        ("2[\"disconnect\",\"123\"]", ReservedEvent),
        ("2/admin,1[\"newListener\"]", ReservedEvent),
        ("442[\"some\",\"data\"", InvalidJson),
        ("0/admin,\"invalid\"", InvalidPayload),
        ("0[]", InvalidPayload),
        ("0/nsp,{bad", InvalidJson),
        ("01{}", UnexpectedId),
        ("1/admin,{}", InvalidPayload),
        ("1/admin,1", UnexpectedId),
        ("1[]", InvalidPayload),
        ("3[]", MissingAckId),
        ("3", MissingAckId),
        ("3/admin,[]", MissingAckId),
        ("31", InvalidPayload),
        ("31{}", InvalidPayload),
        ("31\"a\"", InvalidPayload),
        ("21111111111111111111111[\"a\"]", InvalidId),
        ("218446744073709551616[\"a\"]", InvalidId),
        ("5", InvalidAttachments),
        ("51", InvalidAttachments),
        ("50-", InvalidAttachments),
        ("50-[\"a\"]", InvalidAttachments),
        ("5a-", InvalidAttachments),
        ("51.23-", InvalidAttachments),
        ("5-[\"a\"]", InvalidAttachments),
        ("5+1-[\"a\"]", InvalidAttachments),
        ("51-", InvalidPayload),
        ("511-[\"a\"]", TooManyAttachments),
        ("5999999999999999999999-[]", TooManyAttachments),
        ("518446744073709551616-[\"a\"]", TooManyAttachments),
        (
            "51-[\"a\",{\"_placeholder\":true,\"num\":1}]",
            InvalidPlaceholder,
        ),
        (
            "51-[\"a\",{\"_placeholder\":true,\"num\":-1}]",
            InvalidPlaceholder,
        ),
        (
            "51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]",
            InvalidPlaceholder,
        ),
        ("51-[\"a\",{\"_placeholder\":true}]", InvalidPlaceholder),
        (
            "52-[\"a\",[{\"x\":{\"_placeholder\":true,\"num\":2}}]]",
            InvalidPlaceholder,
        ),
        ("61-[]", MissingAckId),
        ("61-1{}", InvalidPayload),
        (
            "61-1[{\"_placeholder\":true,\"num\":5}]",
            InvalidPlaceholder,
        ),
        (
            "51-[\"connect\",{\"_placeholder\":true,\"num\":0}]",
            ReservedEvent,
        ),
        (&deep, InvalidJson),
    ];
    for (wire, err) in &cases {
        let wire_short: String = wire.chars().take(60).collect();
        assert_eq!(decode(wire).as_ref(), Err(err), "{wire_short}");
    }
    let zero = Limits { max_attachments: 0 };
    assert_eq!(Packet::decode("51-[\"a\"]", &zero), Err(TooManyAttachments));
    let two = Limits { max_attachments: 2 };
    let three = r#"53-["hello",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]"#;
    assert_eq!(Packet::decode(three, &two), Err(TooManyAttachments));
    assert!(Packet::decode(three, &Limits::default()).is_ok());
}

/// A random JSON value; no floats that would not print and parse back exactly.
fn gen_value(rng: &mut Rng, depth: usize) -> Value {
    let leaf = depth == 0 || rng.one_in(2);
    match rng.below(if leaf { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => json!(rng.next_u64()),
        3 => json!(rng.next_u64() as i64),
        4 => json!(*rng.pick(&[0.5, -1.25, 1e100, 3.0e-5, 12345.678])),
        5 => Value::String(gen_string(rng)),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| gen_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (gen_string(rng), gen_value(rng, depth - 1)))
                .collect(),
        ),
    }
}

fn gen_string(rng: &mut Rng) -> String {
    const PARTS: &[&str] = &[
        "a",
        "hello",
        "€",
        "😀",
        "\"",
        "\\",
        "\n",
        "\u{1}",
        "/",
        ",",
        "-",
        "1",
        " ",
        "_placeholder",
    ];
    (0..rng.below(5)).map(|_| *rng.pick(PARTS)).collect()
}

fn gen_event_name(rng: &mut Rng) -> Value {
    loop {
        let name = gen_string(rng);
        if !is_reserved_event(&name) {
            return Value::String(name);
        }
    }
}

/// Up to `max - 1` random arguments.
fn gen_args(rng: &mut Rng, max: usize) -> Vec<Value> {
    let n = rng.below(max);
    (0..n).map(|_| gen_value(rng, 3)).collect()
}

/// A random packet that [`Packet::decode`] must accept.
fn gen_packet(rng: &mut Rng) -> Packet {
    const NSPS: &[&str] = &[
        "/",
        "/",
        "/admin",
        "/a-b_c.d",
        "/ünï",
        "/nested/path",
        "/123",
        "/?x=1",
    ];
    let nsp = *rng.pick(NSPS);
    let gen_id = |rng: &mut Rng| rng.one_in(2).then(|| rng.next_u64() >> rng.below(64));
    match rng.below(7) {
        0 => {
            let data = rng
                .one_in(2)
                .then(|| json!({"sid": gen_string(rng), "k": gen_value(rng, 2)}));
            Packet::connect(nsp, data)
        }
        1 => Packet::disconnect(nsp),
        2 => {
            let mut args = vec![gen_event_name(rng)];
            args.extend(gen_args(rng, 4));
            let id = gen_id(rng);
            Packet::event(nsp, Value::Array(args), id)
        }
        3 => {
            let id = rng.next_u64() >> rng.below(64);
            Packet::ack(nsp, id, Value::Array(gen_args(rng, 4)))
        }
        4 => {
            if rng.one_in(2) {
                Packet::connect_error(
                    nsp,
                    &gen_string(rng),
                    rng.one_in(2).then(|| gen_value(rng, 2)),
                )
            } else {
                Packet::new(
                    PacketType::ConnectError,
                    nsp,
                    None,
                    Some(Value::String(gen_string(rng))),
                    0,
                )
            }
        }
        kind => {
            let attachments = 1 + rng.below(10);
            let mut args = gen_args(rng, 3);
            for _ in 0..rng.below(4) {
                let at = rng.below(args.len() + 1);
                args.insert(at, placeholder(rng.below(attachments)));
            }
            if kind == 5 {
                args.insert(0, gen_event_name(rng));
                let id = gen_id(rng);
                Packet::binary_event(nsp, Value::Array(args), id, attachments)
            } else {
                let id = rng.next_u64() >> rng.below(64);
                Packet::binary_ack(nsp, id, Value::Array(args), attachments)
            }
        }
    }
}

#[test]
fn round_trip_generated_packets() {
    let mut rng = Rng::new(0x5eed);
    for i in 0..2000 {
        let packet = gen_packet(&mut rng);
        let text = packet.encode();
        assert_eq!(decode(&text), Ok(packet.clone()), "#{i}: {text}");
        let frame = packet.encode_engine_frame();
        assert_eq!(frame.first(), Some(&b'4'));
        assert_eq!(&frame[1..], text.as_bytes());
    }
}

/// Mutated golden vectors and random text: decode never panics, and whatever decodes
/// re-encodes to a text that decodes to the same packet.
#[test]
fn mutated_inputs_never_panic_and_round_trip() {
    let mut rng = Rng::new(42);
    let seeds: Vec<&str> = golden().into_iter().map(|(w, _)| w).collect();
    let interesting = b"0123456789-/,[]{}\":_ \\";
    let mut decoded = 0;
    for _ in 0..20_000 {
        let mut bytes = rng.pick(&seeds).as_bytes().to_vec();
        rng.mutate(&mut bytes, interesting);
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let limits = Limits {
            max_attachments: rng.below(12),
        };
        if let Ok(p) = Packet::decode(&text, &limits) {
            decoded += 1;
            assert_eq!(Packet::decode(&p.encode(), &limits), Ok(p), "{text}");
        }
    }
    assert!(decoded > 1000, "mutations too destructive: {decoded}");
}

#[test]
fn event_frames_are_sized_exactly_and_match_the_packet_encoding() {
    use super::encode_event_frame;
    let names = [
        None,
        Some("e"),
        Some("with \"quotes\""),
        Some("tab\there"),
        Some("é✓"),
    ];
    for kind in [
        PacketType::Event,
        PacketType::Ack,
        PacketType::BinaryEvent,
        PacketType::BinaryAck,
    ] {
        for name in names {
            let name = if matches!(kind, PacketType::Event | PacketType::BinaryEvent) {
                name.or(Some("ev"))
            } else {
                None
            };
            for nsp in ["/", "", "/admin"] {
                for id in [None, Some(0), Some(9), Some(10), Some(u64::MAX)] {
                    for (args, values) in [
                        ("", vec![]),
                        ("1", vec![serde_json::json!(1)]),
                        (
                            r#""a",{"b":[]}"#,
                            vec![serde_json::json!("a"), serde_json::json!({"b": []})],
                        ),
                    ] {
                        let attachments = if kind.is_binary() { 12 } else { 0 };
                        let frame =
                            encode_event_frame(kind, attachments, nsp, id, name, args.as_bytes());
                        let mut data = Vec::new();
                        data.extend(name.map(|n| Value::String(n.into())));
                        data.extend(values);
                        let packet = Packet {
                            kind,
                            nsp: nsp.to_owned(),
                            id,
                            data: Some(Value::Array(data)),
                            attachments,
                        };
                        assert_eq!(
                            frame,
                            packet.encode_engine_frame(),
                            "{kind:?} {name:?} {nsp} {id:?} {args}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn digit_counts() {
    for (n, d) in [
        (0u64, 1usize),
        (9, 1),
        (10, 2),
        (99, 2),
        (100, 3),
        (u64::MAX, 20),
    ] {
        assert_eq!(super::digits(n), d, "{n}");
        assert_eq!(n.to_string().len(), d);
    }
}

/// `decode_event` as `Packet::decode` would see it: the same packet, or the same error.
fn event_as_packet(text: &str, limits: &Limits) -> Option<Result<Packet, DecodeError>> {
    super::decode_event(text, limits).map(|r| {
        r.map(|ev| {
            let mut data = Vec::with_capacity(ev.args.len() + 1);
            data.push(Value::String(ev.name.into_owned()));
            data.extend(ev.args);
            Packet::event(ev.nsp, Value::Array(data), ev.id)
        })
    })
}

/// The event fast path gives `Packet::decode`'s verdict on every EVENT text: the golden and
/// malformed vectors, generated packets, and 20k mutations of them (including ones that turn
/// the type digit into another); it declines every other type.
#[test]
fn decode_event_agrees_with_packet_decode() {
    let limits = Limits::default();
    let mut texts: Vec<String> = golden().into_iter().map(|(w, _)| w.to_owned()).collect();
    texts.extend(
        [
            "2[\"a\"]x",
            "2[1]",
            "2[]",
            "2",
            "2{}",
            "2\"a\"",
            "21",
            "2null",
            "2[\"connect\"]",
            "2[1, }",
            "2[{\"a\":1},\"x\"]",
            "2[[1,2],\"x\"]",
            "2[\"caf\\u00e9\",1]",
            "2[\"a\\\"b\",{\"k\":[1,2.5,null,true]}]",
            "2/admin,7[\"ev\",\"x\",{\"y\":1}]",
            "2/admin?x=1,[\"ev\"]",
            "2[\"a\",1e400]",
            "218446744073709551616[\"a\"]",
        ]
        .map(str::to_owned),
    );
    let mut rng = Rng::new(7);
    for _ in 0..500 {
        let p = gen_packet(&mut rng);
        texts.push(p.encode());
    }
    let seeds = texts.clone();
    let interesting = b"0123456789-/,[]{}\":_ \\2";
    for _ in 0..20_000 {
        let mut bytes = rng.pick(&seeds).as_bytes().to_vec();
        rng.mutate(&mut bytes, interesting);
        if let Ok(text) = String::from_utf8(bytes) {
            texts.push(text);
        }
    }
    let mut events = 0;
    for text in &texts {
        match event_as_packet(text, &limits) {
            Some(fast) => {
                events += 1;
                assert_eq!(fast, Packet::decode(text, &limits), "{text}");
            }
            None => assert_ne!(text.as_bytes().first(), Some(&b'2'), "{text}"),
        }
    }
    assert!(events > 2000, "too few EVENT texts: {events}");
    // The name is borrowed from the text unless it has escapes.
    let ev = super::decode_event("2[\"plain\",1]", &limits)
        .unwrap()
        .unwrap();
    assert!(matches!(ev.name, std::borrow::Cow::Borrowed("plain")));
    let ev = super::decode_event("2[\"esc\\n\"]", &limits)
        .unwrap()
        .unwrap();
    assert_eq!(ev.name, "esc\n");
}
