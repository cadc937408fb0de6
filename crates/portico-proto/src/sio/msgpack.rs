//! The msgpack parser of `socket.io-msgpack-parser`: each Socket.IO packet is one Engine.IO
//! binary message holding a msgpack map `{type, nsp, data, id?}`; binary values sit inline in
//! `data` (no attachments, and the types stay EVENT/ACK).
//!
//! To share the rest of the server with the JSON parser, decoding turns inline binary into
//! placeholders plus attachments (and reports BINARY_EVENT/BINARY_ACK), and encoding does the
//! reverse.

use bytes::Bytes;
use rmpv::Value as Mp;
use serde_json::{Map, Number, Value};

use super::binary::{count_placeholders, is_placeholder, placeholder};
use super::packet::{validate, DecodeError, Limits, Packet, PacketType};

/// Deepest nesting accepted in a msgpack packet, in rmpv's units: rmpv counts two per array or
/// map level (its value and its body), so this is 128 levels: the packet's map, then its data
/// exactly as deep as the JSON parser takes it (serde_json's recursion limit lets 127 levels
/// through). (128 here, as before, let only 63 levels through.) A value read here is encoded
/// back recursively (`to_mp`), so this also bounds that.
const MAX_DEPTH: usize = 2 * 128;

/// Encode `packet` (placeholders resolved from `attachments`) as one msgpack message.
pub fn encode_msgpack(packet: &Packet, attachments: &[Bytes]) -> Bytes {
    let kind = match packet.kind {
        PacketType::BinaryEvent => PacketType::Event,
        PacketType::BinaryAck => PacketType::Ack,
        k => k,
    };
    let mut map = vec![
        (Mp::from("type"), Mp::from(kind.digit() - b'0')),
        (Mp::from("nsp"), Mp::from(packet.nsp.as_str())),
    ];
    if let Some(data) = &packet.data {
        map.push((Mp::from("data"), to_mp(data, attachments)));
    }
    if let Some(id) = packet.id {
        map.push((Mp::from("id"), Mp::from(id)));
    }
    let mut out = Vec::with_capacity(64);
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &Mp::Map(map));
    Bytes::from(out)
}

/// Decode one msgpack message into a packet, with its inline binary values as attachments
/// (BINARY_EVENT/BINARY_ACK when there are any).
///
/// # Errors
/// Any [`DecodeError`], e.g. [`DecodeError::InvalidPlaceholder`] for a packet with inline
/// binary that also holds a map shaped like a placeholder (`{"_placeholder": true, ..}`),
/// which would be taken for an attachment. Never panics, whatever the input.
pub fn decode_msgpack(bytes: &[u8], limits: &Limits) -> Result<(Packet, Vec<Bytes>), DecodeError> {
    let mut rd = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH)
        .map_err(|_| DecodeError::InvalidJson)?;
    if !rd.is_empty() {
        return Err(DecodeError::InvalidJson);
    }
    let Mp::Map(entries) = value else {
        return Err(DecodeError::InvalidPayload);
    };
    let (mut kind, mut nsp, mut data, mut id) = (None, None, None, None);
    for (k, v) in entries {
        match k.as_str() {
            Some("type") => kind = v.as_u64(),
            Some("nsp") => nsp = v.as_str().map(str::to_owned),
            Some("data") => data = Some(v),
            Some("id") => id = Some(v.as_u64().ok_or(DecodeError::InvalidId)?),
            _ => {}
        }
    }
    let kind = kind
        .and_then(|k| u8::try_from(k).ok())
        .and_then(|k| PacketType::from_digit(k.saturating_add(b'0')))
        .ok_or(DecodeError::UnknownType(b'?'))?;
    let nsp = nsp.ok_or(DecodeError::InvalidPayload)?;
    if !nsp.starts_with('/') {
        return Err(DecodeError::InvalidPayload);
    }
    let mut bins = Vec::new();
    let data = match data {
        Some(Mp::Nil) | None => None,
        Some(ref v) if is_undefined(v) => None,
        Some(v) => Some(from_mp(v, &mut bins, limits)?),
    };
    // Inline binary becomes placeholders: a map shaped like one next to real binary would be
    // taken for an attachment, so such a packet is refused.
    if let (false, Some(data)) = (bins.is_empty(), &data) {
        if count_placeholders(data) != bins.len() {
            return Err(DecodeError::InvalidPlaceholder);
        }
    }
    // The type says whether there is binary, whatever the sender wrote (its encoder writes
    // EVENT/ACK; a 5 or 6 without binary inside is a plain event or ack).
    let kind = match (kind, bins.is_empty()) {
        (PacketType::Event | PacketType::BinaryEvent, false) => PacketType::BinaryEvent,
        (PacketType::Ack | PacketType::BinaryAck, false) => PacketType::BinaryAck,
        (PacketType::BinaryEvent, true) => PacketType::Event,
        (PacketType::BinaryAck, true) => PacketType::Ack,
        (k, _) => k,
    };
    validate(kind, id, data.as_ref())?;
    let attachments = bins.len();
    Ok((
        Packet {
            kind,
            nsp,
            id,
            data,
            attachments,
        },
        bins,
    ))
}

fn to_mp(v: &Value, attachments: &[Bytes]) -> Mp {
    if let Some(bin) = is_placeholder(v).and_then(|n| attachments.get(n)) {
        return Mp::Binary(bin.to_vec());
    }
    match v {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Mp::from(u),
            (_, Some(i), _) => Mp::from(i),
            (_, _, Some(f)) => Mp::F64(f),
            _ => Mp::Nil,
        },
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => Mp::Array(items.iter().map(|x| to_mp(x, attachments)).collect()),
        Value::Object(map) => Mp::Map(
            map.iter()
                .map(|(k, x)| (Mp::from(k.as_str()), to_mp(x, attachments)))
                .collect(),
        ),
    }
}

fn from_mp(v: Mp, bins: &mut Vec<Bytes>, limits: &Limits) -> Result<Value, DecodeError> {
    Ok(match v {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::from(u),
            (_, Some(s)) => Value::from(s),
            _ => return Err(DecodeError::InvalidPayload),
        },
        Mp::F32(f) => Number::from_f64(f64::from(f))
            .map(Value::Number)
            .ok_or(DecodeError::InvalidPayload)?,
        Mp::F64(f) => Number::from_f64(f)
            .map(Value::Number)
            .ok_or(DecodeError::InvalidPayload)?,
        Mp::String(s) => Value::String(s.into_str().ok_or(DecodeError::InvalidPayload)?),
        Mp::Binary(b) => {
            if bins.len() >= limits.max_attachments {
                return Err(DecodeError::TooManyAttachments);
            }
            bins.push(Bytes::from(b));
            placeholder(bins.len() - 1)
        }
        Mp::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|x| from_mp(x, bins, limits))
                .collect::<Result<_, _>>()?,
        ),
        Mp::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (k, x) in entries {
                let Mp::String(k) = k else {
                    return Err(DecodeError::InvalidPayload);
                };
                let k = k.into_str().ok_or(DecodeError::InvalidPayload)?;
                map.insert(k, from_mp(x, bins, limits)?);
            }
            Value::Object(map)
        }
        // JavaScript's `undefined` (notepack writes it as ext type 0); JSON would say null.
        ref v if is_undefined(v) => Value::Null,
        Mp::Ext(..) => return Err(DecodeError::InvalidPayload),
    })
}

/// `undefined` as the JavaScript msgpack encoder writes it: fixext 1, type 0.
fn is_undefined(v: &Mp) -> bool {
    matches!(v, Mp::Ext(0, data) if data.len() <= 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_with_inline_binary() {
        let p = Packet {
            kind: PacketType::BinaryEvent,
            nsp: "/admin".into(),
            id: Some(7),
            data: Some(json!(["up", {"f": placeholder(0)}, 1.5, -3])),
            attachments: 1,
        };
        let bytes = encode_msgpack(&p, &[Bytes::from_static(b"\x01\x02")]);
        let (back, bins) = decode_msgpack(&bytes, &Limits::default()).unwrap();
        assert_eq!(back, p);
        assert_eq!(bins, vec![Bytes::from_static(b"\x01\x02")]);
    }

    #[test]
    fn matches_the_js_parser_layout() {
        // {"type":2,"nsp":"/","data":["a"]} as socket.io-msgpack-parser writes it (keys may come
        // in any order; this is the order of its packet objects).
        let mut js = Vec::new();
        rmpv::encode::write_value(
            &mut js,
            &Mp::Map(vec![
                (Mp::from("type"), Mp::from(2)),
                (Mp::from("data"), Mp::Array(vec![Mp::from("a")])),
                (Mp::from("nsp"), Mp::from("/")),
            ]),
        )
        .unwrap();
        let (p, bins) = decode_msgpack(&js, &Limits::default()).unwrap();
        assert_eq!(p, Packet::event("/", json!(["a"]), None));
        assert!(bins.is_empty());
    }

    #[test]
    fn javascript_undefined_is_absent_data_or_null() {
        // {type:0, nsp:"/", data: undefined} as notepack.io writes it.
        let bytes: &[u8] = b"\x83\xa4type\x00\xa4data\xd4\x00\x00\xa3nsp\xa1/";
        let (p, _) = decode_msgpack(bytes, &Limits::default()).unwrap();
        assert_eq!(p, Packet::connect("/", None));
    }

    #[test]
    fn takes_arguments_exactly_as_deep_as_the_json_parser() {
        for depth in [1, 2, 64, 65, 125, 126, 127, 128, 129, 1000] {
            let json = format!("2[\"echo\",{}{}]", "[".repeat(depth), "]".repeat(depth));
            let mut mp = vec![0x83];
            mp.extend(b"\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa4echo");
            mp.extend(std::iter::repeat_n(0x91, depth - 1));
            mp.push(0x90);
            let by_json = Packet::decode(&json, &Limits::default()).is_ok();
            let by_msgpack = decode_msgpack(&mp, &Limits::default()).is_ok();
            assert_eq!(by_json, by_msgpack, "depth {depth}");
            assert_eq!(by_json, depth <= 126, "depth {depth}");
        }
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let bad: &[&[u8]] = &[
            b"",
            b"\xc1",
            b"\x92\x01\x02",
            b"\x81\xa4type\x09",
            b"\xdd\xff\xff\xff\xff",
        ];
        for b in bad {
            assert!(decode_msgpack(b, &Limits::default()).is_err(), "{b:?}");
        }
        // Deep nesting is refused, not a stack overflow.
        let mut deep = vec![0x91u8; 100_000];
        deep.push(0xc0);
        assert!(decode_msgpack(&deep, &Limits::default()).is_err());
        // Reserved names and wrong shapes are refused as in the JSON parser.
        let mut reserved = Vec::new();
        rmpv::encode::write_value(
            &mut reserved,
            &Mp::Map(vec![
                (Mp::from("type"), Mp::from(2)),
                (Mp::from("nsp"), Mp::from("/")),
                (Mp::from("data"), Mp::Array(vec![Mp::from("disconnect")])),
            ]),
        )
        .unwrap();
        assert_eq!(
            decode_msgpack(&reserved, &Limits::default()).unwrap_err(),
            DecodeError::ReservedEvent
        );
    }
}
