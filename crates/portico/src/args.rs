//! How event arguments map to and from Rust values.
//!
//! A Socket.IO event carries a list of arguments (`socket.emit("ev", a, b)`). Portico maps
//! that list to one Rust value:
//!
//! - a **tuple** `(A, B, ..)` takes the arguments in order (`()` means "no arguments");
//! - [`Args`] takes all of them as JSON values, with their binary attachments;
//! - **any other type** takes the first argument (`null` when there is none), and further
//!   arguments are ignored.
//!
//! Emitting works the same way round: a tuple sends several arguments, `()` sends none,
//! [`Args`] sends its values, and any other value is sent as the one argument.

use bytes::Bytes;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::binary::{self, WithBinary};

const ARGS_MAGIC: &str = "$portico::Args";

/// Every argument of an event as JSON, with the binary attachments its placeholders refer to.
///
/// Use it as a handler argument to receive any number of arguments, or emit it to send them
/// back unchanged (binary included):
///
/// ```no_run
/// # fn f(socket: portico::Socket) {
/// socket.on("echo", |socket: portico::Socket, args: portico::Args| async move {
///     socket.emit("echo", &args)
/// });
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    /// The arguments. Binary values appear as `{"_placeholder":true,"num":N}`.
    pub values: Vec<Value>,
    /// The binary attachments, indexed by the placeholders' `num`.
    pub binary: Vec<Bytes>,
}

impl Args {
    /// Arguments from JSON values (no binary).
    pub fn new(values: Vec<Value>) -> Args {
        Args {
            values,
            binary: Vec::new(),
        }
    }
    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.values.len()
    }
    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Seq<'a>(&'a Args);
        impl Serialize for Seq<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.values.len()))?;
                for v in &self.0.values {
                    seq.serialize_element(&WithBinary(v, &self.0.binary))?;
                }
                seq.end()
            }
        }
        s.serialize_newtype_struct(ARGS_MAGIC, &Seq(self))
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<Value>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Vec<Value>, D::Error> {
                Vec::<Value>::deserialize(d)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(out)
            }
        }
        let values = d.deserialize_newtype_struct(ARGS_MAGIC, V)?;
        Ok(Args {
            values,
            binary: binary::current_attachments(),
        })
    }
}

/// Serialize `data` into event arguments and the binary attachments they reference.
pub(crate) fn to_args<T: Serialize + ?Sized>(
    data: &T,
) -> Result<(Vec<Value>, Vec<Bytes>), serde_json::Error> {
    let (res, bins) = binary::collect(|| data.serialize(ArgsSerializer));
    Ok((res?, bins))
}

/// Deserialize event arguments (with their attachments) into `T`.
pub(crate) fn from_args<T: DeserializeOwned>(
    args: Vec<Value>,
    bins: &[Bytes],
) -> Result<T, serde_json::Error> {
    binary::with_attachments(bins, || T::deserialize(ArgsDeserializer { args }))
}

// ---------------------------------------------------------------------------------------
// Serializer: intercepts the top level only; nested values go through serde_json.

struct ArgsSerializer;

use serde_json::value::Serializer as JsonSer;

fn one(v: Value) -> Vec<Value> {
    vec![v]
}

macro_rules! forward_ser {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $name(self, $($arg: $ty),*) -> Result<Vec<Value>, serde_json::Error> {
            JsonSer.$name($($arg),*).map(one)
        })*
    };
}

/// Wraps one of serde_json's compound serializers so that its result becomes one argument.
struct One<S>(S);

macro_rules! one_compound {
    ($trait:ident, $method:ident $(, $key:ident)?) => {
        impl<S: ser::$trait<Ok = Value, Error = serde_json::Error>> ser::$trait for One<S> {
            type Ok = Vec<Value>;
            type Error = serde_json::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, $($key: &'static str,)? v: &T) -> Result<(), serde_json::Error> {
                self.0.$method($($key,)? v)
            }
            fn end(self) -> Result<Vec<Value>, serde_json::Error> {
                self.0.end().map(one)
            }
        }
    };
}
one_compound!(SerializeSeq, serialize_element);
one_compound!(SerializeTupleStruct, serialize_field);
one_compound!(SerializeTupleVariant, serialize_field);
one_compound!(SerializeStruct, serialize_field, key);
one_compound!(SerializeStructVariant, serialize_field, key);

impl<S: ser::SerializeMap<Ok = Value, Error = serde_json::Error>> ser::SerializeMap for One<S> {
    type Ok = Vec<Value>;
    type Error = serde_json::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), serde_json::Error> {
        self.0.serialize_key(k)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), serde_json::Error> {
        self.0.serialize_value(v)
    }
    fn end(self) -> Result<Vec<Value>, serde_json::Error> {
        self.0.end().map(one)
    }
}

/// A top-level tuple: each element is one argument.
struct Many(Vec<Value>);

impl ser::SerializeTuple for Many {
    type Ok = Vec<Value>;
    type Error = serde_json::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), serde_json::Error> {
        self.0.push(serde_json::to_value(v)?);
        Ok(())
    }
    fn end(self) -> Result<Vec<Value>, serde_json::Error> {
        Ok(self.0)
    }
}

impl Serializer for ArgsSerializer {
    type Ok = Vec<Value>;
    type Error = serde_json::Error;
    type SerializeSeq = One<<JsonSer as Serializer>::SerializeSeq>;
    type SerializeTuple = Many;
    type SerializeTupleStruct = One<<JsonSer as Serializer>::SerializeTupleStruct>;
    type SerializeTupleVariant = One<<JsonSer as Serializer>::SerializeTupleVariant>;
    type SerializeMap = One<<JsonSer as Serializer>::SerializeMap>;
    type SerializeStruct = One<<JsonSer as Serializer>::SerializeStruct>;
    type SerializeStructVariant = One<<JsonSer as Serializer>::SerializeStructVariant>;

    forward_ser! {
        serialize_bool(v: bool);
        serialize_i8(v: i8); serialize_i16(v: i16); serialize_i32(v: i32); serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8); serialize_u16(v: u16); serialize_u32(v: u32); serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32); serialize_f64(v: f64); serialize_char(v: char);
        serialize_str(v: &str); serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, idx: u32, variant: &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Vec<Value>, serde_json::Error> {
        serde_json::to_value(v).map(one)
    }
    fn serialize_unit(self) -> Result<Vec<Value>, serde_json::Error> {
        Ok(Vec::new())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<Vec<Value>, serde_json::Error> {
        if name == ARGS_MAGIC {
            return match serde_json::to_value(v)? {
                Value::Array(items) => Ok(items),
                other => Ok(vec![other]),
            };
        }
        serde_json::to_value(v).map(one)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        idx: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Vec<Value>, serde_json::Error> {
        JsonSer
            .serialize_newtype_variant(name, idx, variant, v)
            .map(one)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, serde_json::Error> {
        JsonSer.serialize_seq(len).map(One)
    }
    fn serialize_tuple(self, len: usize) -> Result<Many, serde_json::Error> {
        Ok(Many(Vec::with_capacity(len)))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, serde_json::Error> {
        JsonSer.serialize_tuple_struct(name, len).map(One)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        idx: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, serde_json::Error> {
        JsonSer
            .serialize_tuple_variant(name, idx, variant, len)
            .map(One)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, serde_json::Error> {
        JsonSer.serialize_map(len).map(One)
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, serde_json::Error> {
        JsonSer.serialize_struct(name, len).map(One)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        idx: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, serde_json::Error> {
        JsonSer
            .serialize_struct_variant(name, idx, variant, len)
            .map(One)
    }
}

// ---------------------------------------------------------------------------------------
// Deserializer: tuples and Args see every argument; everything else sees the first.

struct ArgsDeserializer {
    args: Vec<Value>,
}

impl ArgsDeserializer {
    fn first(self) -> Value {
        self.args.into_iter().next().unwrap_or(Value::Null)
    }
}

macro_rules! forward_de {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $name<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, serde_json::Error> {
            self.first().$name($($arg,)* visitor)
        })*
    };
}

impl<'de> Deserializer<'de> for ArgsDeserializer {
    type Error = serde_json::Error;

    forward_de! {
        deserialize_any(); deserialize_bool();
        deserialize_i8(); deserialize_i16(); deserialize_i32(); deserialize_i64(); deserialize_i128();
        deserialize_u8(); deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
        deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str(); deserialize_string();
        deserialize_bytes(); deserialize_byte_buf(); deserialize_option();
        deserialize_unit_struct(name: &'static str);
        deserialize_seq(); deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier(); deserialize_ignored_any();
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        if name == ARGS_MAGIC {
            return visitor.visit_newtype_struct(Value::Array(self.args));
        }
        self.first().deserialize_newtype_struct(name, visitor)
    }
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        visitor.visit_seq(de::value::SeqDeserializer::new(
            self.args
                .into_iter()
                .map(IntoDeserializer::into_deserializer),
        ))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        self.deserialize_tuple(len, visitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Binary;
    use serde_json::json;

    #[test]
    fn emitting_maps_values_to_arguments() {
        assert_eq!(to_args(&()).unwrap().0, Vec::<Value>::new());
        assert_eq!(to_args(&1).unwrap().0, vec![json!(1)]);
        assert_eq!(to_args(&None::<u8>).unwrap().0, vec![json!(null)]);
        assert_eq!(to_args(&(1, "a")).unwrap().0, vec![json!(1), json!("a")]);
        assert_eq!(to_args(&vec![1, 2]).unwrap().0, vec![json!([1, 2])]);
        assert_eq!(to_args(&json!({"a": 1})).unwrap().0, vec![json!({"a": 1})]);
        let (vals, bins) = to_args(&(Binary::from(vec![1u8]), "x")).unwrap();
        assert_eq!(vals, vec![json!({"_placeholder":true,"num":0}), json!("x")]);
        assert_eq!(bins.len(), 1);
    }

    #[test]
    fn receiving_maps_arguments_to_values() {
        let args = vec![json!("a"), json!(2)];
        let s: String = from_args(args.clone(), &[]).unwrap();
        assert_eq!(s, "a");
        let t: (String, u8) = from_args(args.clone(), &[]).unwrap();
        assert_eq!(t, ("a".to_owned(), 2));
        let all: Args = from_args(args.clone(), &[]).unwrap();
        assert_eq!(all.values, args);
        let none: Option<u8> = from_args(vec![], &[]).unwrap();
        assert_eq!(none, None);
        let () = from_args(vec![json!(1)], &[]).unwrap();
        assert!(from_args::<u8>(vec![json!("x")], &[]).is_err());
    }

    #[test]
    fn args_round_trip_with_binary() {
        let atts = [Bytes::from_static(b"bin")];
        let args: Args =
            from_args(vec![json!({"_placeholder":true,"num":0}), json!(1)], &atts).unwrap();
        assert_eq!(args.binary, atts.to_vec());
        let (vals, bins) = to_args(&args).unwrap();
        assert_eq!(vals, vec![json!({"_placeholder":true,"num":0}), json!(1)]);
        assert_eq!(bins, atts.to_vec());
        let b: Binary = from_args(vec![json!({"_placeholder":true,"num":0})], &atts).unwrap();
        assert_eq!(&*b, b"bin");
    }
}

// ---------------------------------------------------------------------------------------
// Shape: how a value maps to arguments, without serializing its content (the emit fast path
// serializes the value once, straight to JSON text, and uses the shape to cut that text into
// arguments).

/// How a serialized value maps to event arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `()`: no argument (serde_json writes `null`).
    None,
    /// One argument: the whole JSON text.
    One,
    /// A tuple or [`Args`]: serde_json writes a JSON array whose elements are the arguments.
    Many,
}

/// The [`Shape`] of `data`: only its top-level serialize call is looked at, no field or
/// element is serialized.
pub(crate) fn shape<T: Serialize + ?Sized>(data: &T) -> Shape {
    data.serialize(ShapeProbe).unwrap_or(Shape::One)
}

struct ShapeProbe;

/// Accepts every field or element without serializing it.
struct Skip(Shape);

macro_rules! skip_compound {
    ($trait:ident, $method:ident $(, $key:ident)?) => {
        impl ser::$trait for Skip {
            type Ok = Shape;
            type Error = serde_json::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, $($key: &'static str,)? _: &T) -> Result<(), serde_json::Error> {
                Ok(())
            }
            fn end(self) -> Result<Shape, serde_json::Error> {
                Ok(self.0)
            }
        }
    };
}

skip_compound!(SerializeSeq, serialize_element);
skip_compound!(SerializeTuple, serialize_element);
skip_compound!(SerializeTupleStruct, serialize_field);
skip_compound!(SerializeTupleVariant, serialize_field);
skip_compound!(SerializeStruct, serialize_field, _key);
skip_compound!(SerializeStructVariant, serialize_field, _key);

impl ser::SerializeMap for Skip {
    type Ok = Shape;
    type Error = serde_json::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), serde_json::Error> {
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), serde_json::Error> {
        Ok(())
    }
    fn end(self) -> Result<Shape, serde_json::Error> {
        Ok(self.0)
    }
}

macro_rules! probe_one {
    ($($name:ident($($ty:ty),*);)*) => {
        $(fn $name(self, $(_: $ty),*) -> Result<Shape, serde_json::Error> {
            Ok(Shape::One)
        })*
    };
}

impl Serializer for ShapeProbe {
    type Ok = Shape;
    type Error = serde_json::Error;
    type SerializeSeq = Skip;
    type SerializeTuple = Skip;
    type SerializeTupleStruct = Skip;
    type SerializeTupleVariant = Skip;
    type SerializeMap = Skip;
    type SerializeStruct = Skip;
    type SerializeStructVariant = Skip;

    probe_one! {
        serialize_bool(bool);
        serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32); serialize_f64(f64); serialize_char(char);
        serialize_str(&str); serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Shape, serde_json::Error> {
        Ok(Shape::One)
    }
    fn serialize_unit(self) -> Result<Shape, serde_json::Error> {
        Ok(Shape::None)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: &T,
    ) -> Result<Shape, serde_json::Error> {
        Ok(if name == ARGS_MAGIC {
            Shape::Many
        } else {
            Shape::One
        })
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Shape, serde_json::Error> {
        Ok(Shape::One)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Skip, serde_json::Error> {
        Ok(Skip(Shape::One))
    }
    fn serialize_tuple(self, _: usize) -> Result<Skip, serde_json::Error> {
        Ok(Skip(Shape::Many))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Skip, serde_json::Error> {
        Ok(Skip(Shape::One))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Skip, serde_json::Error> {
        Ok(Skip(Shape::One))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Skip, serde_json::Error> {
        Ok(Skip(Shape::One))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Skip, serde_json::Error> {
        Ok(Skip(Shape::One))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Skip, serde_json::Error> {
        Ok(Skip(Shape::One))
    }
}
