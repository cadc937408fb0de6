//! RESP2 replies from Redis (or from anything that pretends to be Redis): the incremental
//! decoder never panics, and whatever it decodes, split anywhere, decodes the same.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use portico_redis::resp::{Decoder, Limits};

fuzz_target!(|data: &[u8]| {
    let mut whole = BytesMut::from(data);
    let mut decoder = Decoder::new(Limits::default());
    let mut values = Vec::new();
    while let Ok(Some(v)) = decoder.decode(&mut whole) {
        values.push(v);
    }
    // The same bytes one at a time give the same values (as far as they decode).
    let mut split = BytesMut::new();
    let mut decoder = Decoder::new(Limits::default());
    let mut again = Vec::new();
    'outer: for b in data {
        split.extend_from_slice(&[*b]);
        loop {
            match decoder.decode(&mut split) {
                Ok(Some(v)) => again.push(v),
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
    }
    let n = values.len().min(again.len());
    assert_eq!(values[..n], again[..n]);
});
