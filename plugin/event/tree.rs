//! A JSON tree borrowed from the event's bytes: strings without escapes point into the
//! input, objects are small vectors searched linearly (events have tens of keys, where a
//! linear search beats hashing). Parsing an event this way allocates a handful of vectors
//! instead of a map and a string per field, which is most of the cost of a JSON DOM.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Node<'a>>),
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Parses JSON bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Node<'a>, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The member `key` of an object.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The members of an object.
    pub fn members(&self) -> Option<&[(Cow<'a, str>, Node<'a>)]> {
        match self {
            Node::Obj(m) => Some(m),
            _ => None,
        }
    }

    /// The items of an array.
    pub fn items(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::Arr(items) => Some(items),
            _ => None,
        }
    }

    /// True for objects.
    pub fn is_object(&self) -> bool {
        matches!(self, Node::Obj(_))
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A non-negative integer, from a number or a decimal string.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Node::UInt(u) => Some(*u),
            Node::Int(i) => u64::try_from(*i).ok(),
            Node::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Converts from a parsed `serde_json::Value` (owned strings).
    pub fn from_value(v: serde_json::Value) -> Node<'static> {
        use serde_json::Value;
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Node::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Node::UInt(u)
                } else {
                    Node::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => Node::Str(Cow::Owned(s)),
            Value::Array(items) => Node::Arr(items.into_iter().map(Node::from_value).collect()),
            Value::Object(m) => Node::Obj(
                m.into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Node::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to a `serde_json::Value`.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::UInt(u) => Value::from(*u),
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s.to_string()),
            Node::Arr(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Obj(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Node<'de>, E> {
        Ok(Node::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Node<'de>, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Node::Int(i),
            Err(_) => Node::UInt(u),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Node<'de>, E> {
        Ok(Node::Float(f))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s.to_string())))
    }

    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value = map.next_value()?;
            members.push((key.0, value));
        }
        Ok(Node::Obj(members))
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_round_trips() {
        let text = br#"{"a":"plain","b":"esc\"aped","c":[1,-2,18446744073709551615,1.5,true,null],"d":{}}"#;
        let n = Node::parse(text).unwrap();
        assert!(matches!(
            n.get("a"),
            Some(Node::Str(Cow::Borrowed("plain")))
        ));
        assert!(matches!(n.get("b"), Some(Node::Str(Cow::Owned(s))) if s == "esc\"aped"));
        let v: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(n.to_value(), v);
        assert_eq!(Node::from_value(v.clone()).to_value(), v);
        assert!(Node::parse(b"{\"a\":").is_err());
    }
}
