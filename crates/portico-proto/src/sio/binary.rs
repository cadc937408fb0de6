//! Binary attachments: placeholders in the JSON and the frames that follow a binary packet.
//!
//! Spec: <https://github.com/socketio/socket.io-protocol#sending-and-receiving-data-1>.
//! A BINARY_EVENT or BINARY_ACK replaces each binary value in its data by
//! `{"_placeholder":true,"num":i}` and announces the count: `51-["x",{"_placeholder":true,"num":0}]`.
//! The `n` attachments follow, each one Engine.IO binary message, in `num` order.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::packet::{DecodeError, Packet};

/// The placeholder object for attachment `num`: `{"_placeholder":true,"num":<num>}`.
pub fn placeholder(num: usize) -> Value {
    let mut obj = Map::new();
    obj.insert("_placeholder".to_owned(), Value::Bool(true));
    obj.insert("num".to_owned(), Value::from(num));
    Value::Object(obj)
}

/// If `v` is a placeholder object (`"_placeholder": true`), its `num`, only if `num` is a
/// non-negative integer that fits a `usize`. Other keys are ignored, as by the reference
/// parser.
pub fn is_placeholder(v: &Value) -> Option<usize> {
    placeholder_num(v)?.ok()
}

/// `None` if `v` is not a placeholder; `Some(Err)` if it is one with an unusable `num`.
fn placeholder_num(v: &Value) -> Option<Result<usize, ()>> {
    let obj = v.as_object()?;
    if obj.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    let num = obj
        .get("num")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok());
    Some(num.ok_or(()))
}

/// Count the placeholders in `v` (placeholders with an unusable `num` included).
pub fn count_placeholders(v: &Value) -> usize {
    let mut count = 0usize;
    // The visitor never fails.
    let _ = walk(v, |_| {
        count += 1;
        Ok(())
    });
    count
}

/// Check that every placeholder in `v` has an integer `num` below `attachments`.
///
/// # Errors
/// [`DecodeError::InvalidPlaceholder`] at the first placeholder that does not.
pub fn validate_placeholders(v: &Value, attachments: usize) -> Result<(), DecodeError> {
    walk(v, |num| match num {
        Ok(n) if n < attachments => Ok(()),
        _ => Err(DecodeError::InvalidPlaceholder),
    })
}

/// Visit every placeholder in `v` (depth first, without recursion so that a deeply nested
/// value cannot overflow the stack); placeholders are not descended into.
fn walk(
    v: &Value,
    mut visit: impl FnMut(Result<usize, ()>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        if let Some(num) = placeholder_num(v) {
            visit(num)?;
            continue;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Object(obj) => stack.extend(obj.values().rev()),
            _ => {}
        }
    }
    Ok(())
}

/// Most attachment slots reserved up front, whatever a packet announces.
const MAX_PREALLOCATED: usize = 16;

/// Collects the binary attachments that follow a BINARY_EVENT or BINARY_ACK.
///
/// Create one per decoded binary packet, then [`push`](BinaryAssembler::push) each binary
/// message that follows until the packet is complete. It holds at most
/// `packet.attachments` buffers (which [`Packet::decode`] caps with
/// [`super::Limits::max_attachments`]); the size of each buffer is capped by the engine's
/// `maxPayload`.
#[derive(Debug, Clone)]
pub struct BinaryAssembler {
    /// `None` once the packet has been handed out.
    packet: Option<Packet>,
    buffers: Vec<Bytes>,
}

impl BinaryAssembler {
    /// Start collecting the attachments of `packet` (normally `packet.attachments > 0`; a
    /// packet announcing none is complete at once, see
    /// [`take_if_complete`](BinaryAssembler::take_if_complete)).
    pub fn new(packet: Packet) -> Self {
        let buffers = Vec::with_capacity(packet.attachments.min(MAX_PREALLOCATED));
        BinaryAssembler {
            packet: Some(packet),
            buffers,
        }
    }

    /// Number of attachments still expected (0 once complete or handed out).
    pub fn remaining(&self) -> usize {
        self.packet
            .as_ref()
            .map_or(0, |p| p.attachments.saturating_sub(self.buffers.len()))
    }

    /// Add one attachment. Returns `Some((packet, attachments))`, attachments in `num` order,
    /// when the last one has arrived; `None` while more are expected.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedAttachment`] if the packet is already complete or handed out;
    /// [`DecodeError::InvalidPlaceholder`] on completion if a placeholder in the data has a
    /// `num` that is not an integer below the number of attachments.
    pub fn push(&mut self, bin: Bytes) -> Result<Option<(Packet, Vec<Bytes>)>, DecodeError> {
        if self.remaining() == 0 {
            return Err(DecodeError::UnexpectedAttachment);
        }
        self.buffers.push(bin);
        self.take_if_complete()
    }

    /// Hand out the packet and its attachments if all have arrived (at once for a packet that
    /// announces none); `None` while more are expected or once handed out.
    ///
    /// # Errors
    /// [`DecodeError::InvalidPlaceholder`] as for [`push`](BinaryAssembler::push).
    pub fn take_if_complete(&mut self) -> Result<Option<(Packet, Vec<Bytes>)>, DecodeError> {
        let complete = self
            .packet
            .as_ref()
            .is_some_and(|p| p.attachments <= self.buffers.len());
        if !complete {
            return Ok(None);
        }
        let Some(packet) = self.packet.take() else {
            return Ok(None);
        };
        if let Some(data) = &packet.data {
            validate_placeholders(data, self.buffers.len())?;
        }
        Ok(Some((packet, std::mem::take(&mut self.buffers))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use serde_json::json;

    use super::*;
    use crate::sio::{Limits, PacketType};

    #[test]
    fn placeholder_shape() {
        assert_eq!(
            placeholder(3).to_string(),
            r#"{"_placeholder":true,"num":3}"#
        );
        assert_eq!(is_placeholder(&placeholder(3)), Some(3));
    }

    #[test]
    fn is_placeholder_table() {
        let cases = [
            (json!({"_placeholder": true, "num": 0}), Some(0)),
            (json!({"num": 7, "_placeholder": true, "extra": 1}), Some(7)),
            (json!({"_placeholder": true, "num": -1}), None),
            (json!({"_placeholder": true, "num": 1.5}), None),
            (json!({"_placeholder": true, "num": "0"}), None),
            (json!({"_placeholder": true}), None),
            (json!({"_placeholder": false, "num": 0}), None),
            (json!({"_placeholder": "true", "num": 0}), None),
            (json!([{"_placeholder": true, "num": 0}]), None),
            (json!(null), None),
        ];
        for (v, expected) in cases {
            assert_eq!(is_placeholder(&v), expected, "{v}");
        }
    }

    #[test]
    fn count_and_validate() {
        let v = json!(["x", placeholder(0), {"a": [placeholder(1), {"b": placeholder(2)}]}]);
        assert_eq!(count_placeholders(&v), 3);
        assert_eq!(validate_placeholders(&v, 3), Ok(()));
        assert_eq!(
            validate_placeholders(&v, 2),
            Err(DecodeError::InvalidPlaceholder)
        );
        let bad = json!(["x", {"_placeholder": true, "num": 0.5}]);
        assert_eq!(count_placeholders(&bad), 1);
        assert_eq!(
            validate_placeholders(&bad, 10),
            Err(DecodeError::InvalidPlaceholder)
        );
        assert_eq!(count_placeholders(&json!(["x", {"num": 0}])), 0);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut v = placeholder(0);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(count_placeholders(&v), 1);
        assert_eq!(validate_placeholders(&v, 1), Ok(()));
        // Drop iteratively too: serde_json's recursive Drop would overflow.
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn assembles_in_order() {
        let text =
            r#"52-/admin,7["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        let packet = Packet::decode(text, &Limits::default()).unwrap();
        assert_eq!(packet.kind, PacketType::BinaryEvent);
        let mut asm = BinaryAssembler::new(packet.clone());
        assert_eq!(asm.remaining(), 2);
        assert_eq!(asm.push(Bytes::from_static(&[1, 2])), Ok(None));
        assert_eq!(asm.remaining(), 1);
        let (done, bins) = asm.push(Bytes::from_static(&[3, 4])).unwrap().unwrap();
        assert_eq!(done, packet);
        assert_eq!(
            bins,
            vec![Bytes::from_static(&[1, 2]), Bytes::from_static(&[3, 4])]
        );
        assert_eq!(asm.remaining(), 0);
        assert_eq!(
            asm.push(Bytes::new()),
            Err(DecodeError::UnexpectedAttachment)
        );
    }

    #[test]
    fn out_of_range_placeholder_on_completion() {
        // Built by hand (decode would already reject it).
        let packet = Packet::binary_event("/", json!(["x", placeholder(1)]), None, 1);
        let mut asm = BinaryAssembler::new(packet);
        assert_eq!(asm.push(Bytes::new()), Err(DecodeError::InvalidPlaceholder));
        assert_eq!(
            asm.push(Bytes::new()),
            Err(DecodeError::UnexpectedAttachment)
        );
    }

    #[test]
    fn zero_attachments_is_complete_at_once() {
        let packet = Packet::binary_event("/", json!(["x"]), None, 0);
        let mut asm = BinaryAssembler::new(packet.clone());
        assert_eq!(asm.remaining(), 0);
        assert_eq!(
            asm.push(Bytes::new()),
            Err(DecodeError::UnexpectedAttachment)
        );
        assert_eq!(asm.take_if_complete(), Ok(Some((packet, vec![]))));
        assert_eq!(asm.take_if_complete(), Ok(None));
    }

    #[test]
    fn huge_announcement_does_not_preallocate() {
        let packet = Packet::binary_event("/", json!(["x"]), None, usize::MAX);
        let mut asm = BinaryAssembler::new(packet);
        assert_eq!(asm.push(Bytes::new()), Ok(None));
        assert_eq!(asm.remaining(), usize::MAX - 1);
    }
}
