//! Binary data inside event arguments.
//!
//! Socket.IO sends binary values out of band: the JSON carries a placeholder
//! `{"_placeholder":true,"num":N}` and the bytes follow as attachment N. Put a [`Binary`]
//! anywhere inside your serde types and Portico does that in both directions:
//!
//! ```
//! use portico::Binary;
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Upload { name: String, data: Binary }
//! ```
//!
//! A client's `Buffer`, `ArrayBuffer` or typed array arrives as a `Binary`; a `Binary` you
//! emit arrives in the browser as an `ArrayBuffer` (in Node as a `Buffer`).

use std::cell::RefCell;
use std::ops::Deref;

use bytes::Bytes;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Bytes that travel as a Socket.IO binary attachment.
///
/// Put a `Binary` anywhere inside your serde types: a client's `Buffer`, `ArrayBuffer` or
/// typed array arrives as one, and one you emit arrives in the browser as an `ArrayBuffer`
/// (in Node as a `Buffer`). On the wire the JSON carries a placeholder
/// `{"_placeholder":true,"num":N}` and the bytes follow as attachment N.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Binary(pub Bytes);

impl Binary {
    /// The bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
    /// Take the bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Binary {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Bytes> for Binary {
    fn from(b: Bytes) -> Self {
        Binary(b)
    }
}
impl From<Vec<u8>> for Binary {
    fn from(b: Vec<u8>) -> Self {
        Binary(Bytes::from(b))
    }
}
impl From<&'static [u8]> for Binary {
    fn from(b: &'static [u8]) -> Self {
        Binary(Bytes::from_static(b))
    }
}

thread_local! {
    /// Attachments collected while serializing one packet (`Some` only inside [`collect`]).
    static OUT: RefCell<Option<Vec<Bytes>>> = const { RefCell::new(None) };
    /// Attachments of the packet being deserialized (`Some` only inside [`with_attachments`]).
    static IN: RefCell<Option<Vec<Bytes>>> = const { RefCell::new(None) };
}

/// Run `f` (a serialization) collecting the [`Binary`] values it meets as attachments.
pub(crate) fn collect<T>(f: impl FnOnce() -> T) -> (T, Vec<Bytes>) {
    let prev = OUT.with(|o| o.borrow_mut().replace(Vec::new()));
    let out = f();
    let bins = OUT
        .with(|o| std::mem::replace(&mut *o.borrow_mut(), prev))
        .unwrap_or_default();
    (out, bins)
}

/// Run `f` (a deserialization) with `attachments` available to [`Binary`] placeholders.
pub(crate) fn with_attachments<T>(attachments: &[Bytes], f: impl FnOnce() -> T) -> T {
    if attachments.is_empty() {
        return f();
    }
    let prev = IN.with(|i| i.borrow_mut().replace(attachments.to_vec()));
    let out = f();
    IN.with(|i| *i.borrow_mut() = prev);
    out
}

/// The attachments visible to the current deserialization.
pub(crate) fn current_attachments() -> Vec<Bytes> {
    IN.with(|i| i.borrow().clone().unwrap_or_default())
}

impl Serialize for Binary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let num = OUT.with(|o| {
            o.borrow_mut().as_mut().map(|v| {
                v.push(self.0.clone());
                v.len() - 1
            })
        });
        match num {
            Some(num) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("_placeholder", &true)?;
                m.serialize_entry("num", &num)?;
                m.end()
            }
            // Outside a packet (e.g. plain serde_json): plain bytes.
            None => s.serialize_bytes(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Binary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        if let Some(num) = portico_proto::sio::is_placeholder(&v) {
            return IN
                .with(|i| i.borrow().as_ref().and_then(|a| a.get(num).cloned()))
                .map(Binary)
                .ok_or_else(|| D::Error::custom(format!("binary attachment {num} is missing")));
        }
        match v {
            Value::Array(items) => items
                .iter()
                .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect::<Option<Vec<u8>>>()
                .map(Binary::from)
                .ok_or_else(|| D::Error::custom("expected binary data")),
            _ => Err(D::Error::custom("expected binary data")),
        }
    }
}

/// A JSON value together with the attachments its placeholders point at; serializes with
/// the placeholders turned back into [`Binary`] values (so they are re-numbered for the packet
/// being built).
pub(crate) struct WithBinary<'a>(pub &'a Value, pub &'a [Bytes]);

impl Serialize for WithBinary<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        if self.1.is_empty() {
            return self.0.serialize(s);
        }
        if let Some(bin) = portico_proto::sio::is_placeholder(self.0).and_then(|n| self.1.get(n)) {
            return Binary(bin.clone()).serialize(s);
        }
        match self.0 {
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&WithBinary(item, self.1))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, &WithBinary(v, self.1))?;
                }
                m.end()
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializing_collects_attachments_in_order() {
        #[derive(Serialize)]
        struct S {
            a: Binary,
            b: Vec<Binary>,
        }
        let s = S {
            a: Binary::from(vec![1]),
            b: vec![Binary::from(vec![2]), Binary::from(vec![3])],
        };
        let (v, bins) = collect(|| serde_json::to_value(&s).unwrap());
        assert_eq!(
            v,
            json!({"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]})
        );
        assert_eq!(
            bins,
            vec![
                Bytes::from_static(&[1]),
                Bytes::from_static(&[2]),
                Bytes::from_static(&[3])
            ]
        );
        // Outside a packet, bytes are plain arrays.
        assert_eq!(
            serde_json::to_value(Binary::from(vec![7])).unwrap(),
            json!([7])
        );
    }

    #[test]
    fn deserializing_resolves_placeholders() {
        #[derive(Deserialize)]
        struct S {
            data: Binary,
        }
        let v = json!({"data":{"_placeholder":true,"num":1}});
        let atts = [Bytes::from_static(b"x"), Bytes::from_static(b"yz")];
        let s: S = with_attachments(&atts, || serde_json::from_value(v.clone())).unwrap();
        assert_eq!(&*s.data, b"yz");
        // A placeholder pointing past the attachments is an error, not a panic.
        let bad = json!({"data":{"_placeholder":true,"num":5}});
        assert!(with_attachments(&atts, || serde_json::from_value::<S>(bad)).is_err());
    }

    #[test]
    fn with_binary_renumbers() {
        let v = json!(["a", {"_placeholder":true,"num":1}, {"k": {"_placeholder":true,"num":0}}]);
        let atts = [Bytes::from_static(b"first"), Bytes::from_static(b"second")];
        let (out, bins) = collect(|| serde_json::to_value(WithBinary(&v, &atts)).unwrap());
        assert_eq!(
            out,
            json!(["a", {"_placeholder":true,"num":0}, {"k": {"_placeholder":true,"num":1}}])
        );
        assert_eq!(
            bins,
            vec![Bytes::from_static(b"second"), Bytes::from_static(b"first")]
        );
    }
}
