//! Serde adapters for values that exports write in more than one way.
//!
//! An error code is a number in Graph and a string in diagnostic `resultType`; a Log
//! Analytics dynamic column is an object in one table and JSON text in another. These
//! wrappers accept each spelling and reject anything else with a reason that names what was
//! expected, so the record is quarantined rather than guessed at.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::values::{parse_bool, parse_int};

/// Text that borrows from the record where it holds no escapes.
///
/// Serde borrows a `Cow<str>` only for a field whose type is exactly `Cow<str>`; inside an
/// `Option` (every optional text field of a record) it allocates a `String` for each value,
/// which made allocation a third of the cost of parsing a diagnostic record. Optional text
/// fields are read with [`text`], lists of text as `Vec<Borrowed>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Borrowed<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Borrowed<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Borrowed<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Borrowed(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Borrowed(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Borrowed(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor(PhantomData))
    }
}

/// An optional text field, borrowed where it can be: `#[serde(borrow, default,
/// deserialize_with = "text")]`.
pub fn text<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    Ok(Option::<Borrowed<'a>>::deserialize(deserializer)?.map(|t| t.0))
}

/// An integer written as a JSON number or as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or integer text")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                parse_int(&v.to_string()).map(Int).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                parse_int(v)
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(IntVisitor)
    }
}

/// A boolean written as `true`/`false`, as text in any case, or as 0/1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bool(pub bool);

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoolVisitor;
        impl Visitor<'_> for BoolVisitor {
            type Value = Bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Bool, E> {
                Ok(Bool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bool, E> {
                match v {
                    0 | 1 => Ok(Bool(v == 1)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bool, E> {
                match v {
                    0 | 1 => Ok(Bool(v == 1)),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bool, E> {
                parse_bool(v)
                    .map(Bool)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(BoolVisitor)
    }
}

/// A floating-point number written as a JSON number or as text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Float(pub f64);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FloatVisitor;
        impl Visitor<'_> for FloatVisitor {
            type Value = Float;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Float, E> {
                Ok(Float(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Float, E> {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(Float)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(FloatVisitor)
    }
}

/// A Log Analytics dynamic column: a nested object, or the same object as JSON text (as
/// `AADNonInteractiveUserSignInLogs` and every CSV export write it).
#[derive(Debug, Clone)]
pub enum Dynamic<'a, T> {
    Value(T),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for Dynamic<'a, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DynVisitor<'a, T>(PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for DynVisitor<'a, T> {
            type Value = Dynamic<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object, a list or JSON text")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Dynamic::Value)
            }
            // A list column (`AuthenticationDetails`) written as a JSON array.
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Dynamic::Value)
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Dynamic::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Dynamic::Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Dynamic::Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_any(DynVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Sample<'a> {
        code: Option<Int>,
        flag: Option<Bool>,
        #[serde(borrow)]
        detail: Option<Dynamic<'a, Inner<'a>>>,
    }

    #[derive(Deserialize, Debug)]
    struct Inner<'a> {
        #[serde(borrow)]
        city: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    struct Texts<'a> {
        #[serde(borrow, default, deserialize_with = "text")]
        plain: Option<Cow<'a, str>>,
        #[serde(borrow, default, deserialize_with = "text")]
        escaped: Option<Cow<'a, str>>,
        #[serde(borrow, default, deserialize_with = "text")]
        null: Option<Cow<'a, str>>,
        #[serde(borrow, default, deserialize_with = "text")]
        missing: Option<Cow<'a, str>>,
    }

    #[test]
    fn text_borrows_unless_it_holds_escapes() {
        let json = r#"{"plain":"Oslo","escaped":"a\"b","null":null}"#;
        let t: Texts = serde_json::from_str(json).unwrap();
        assert!(matches!(t.plain, Some(Cow::Borrowed("Oslo"))));
        assert!(matches!(t.escaped.as_deref(), Some("a\"b")));
        assert!(matches!(t.escaped, Some(Cow::Owned(_))));
        assert_eq!(t.null, None);
        assert_eq!(t.missing, None);
        assert!(serde_json::from_str::<Texts>(r#"{"plain":5}"#).is_err());
    }

    #[test]
    fn integers_as_numbers_or_text() {
        let s: Sample = serde_json::from_str(r#"{"code":"50126","flag":"True"}"#).unwrap();
        assert_eq!(s.code, Some(Int(50126)));
        assert_eq!(s.flag, Some(Bool(true)));
        let s: Sample = serde_json::from_str(r#"{"code":0,"flag":false}"#).unwrap();
        assert_eq!(s.code, Some(Int(0)));
        assert_eq!(s.flag, Some(Bool(false)));
    }

    #[test]
    fn wrong_types_are_errors_that_say_what_was_expected() {
        let err = serde_json::from_str::<Sample>(r#"{"code":"abc"}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("an integer"), "{err}");
        assert!(serde_json::from_str::<Sample>(r#"{"flag":"maybe"}"#).is_err());
        assert!(serde_json::from_str::<Sample>(r#"{"code":[1]}"#).is_err());
    }

    #[test]
    fn dynamic_columns_as_objects_or_json_text() {
        let s: Sample = serde_json::from_str(r#"{"detail":{"city":"Oslo"}}"#).unwrap();
        match s.detail.unwrap() {
            Dynamic::Value(inner) => assert_eq!(inner.city.as_deref(), Some("Oslo")),
            Dynamic::Text(t) => panic!("an object read as text: {t}"),
        }
        let s: Sample = serde_json::from_str(r#"{"detail":"{\"city\":\"Bergen\"}"}"#).unwrap();
        match s.detail.unwrap() {
            Dynamic::Text(t) => {
                let inner: Inner = serde_json::from_str(&t).unwrap();
                assert_eq!(inner.city.as_deref(), Some("Bergen"));
            }
            Dynamic::Value(_) => panic!("JSON text read as an object"),
        }
    }
}
