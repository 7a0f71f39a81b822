//! Lenient deserialisation: a value of the wrong type becomes a problem of
//! its own key instead of failing the whole file, so one pass can name
//! every problem.

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, Visitor};
use toml::Value;

/// A config value as the file wrote it, and the same value as `T` when it
/// has `T`'s type. Deserialising a `Given<T>` never fails on a wrong type;
/// validation reports it under the key's name.
#[derive(Clone, Debug)]
pub(super) struct Given<T> {
    pub written: Value,
    pub typed: Option<T>,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Given<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let written = Value::deserialize(d)?;
        // serde derives accept a list for a struct (fields by position); a
        // table is written as a table, so only a table may become one.
        let typed = from_written(&written)
            .ok()
            .filter(|_| written.is_table() || !wants_struct::<T>());
        Ok(Given { written, typed })
    }
}

/// `written` as a `T`, read back from TOML text as the value of a one-key
/// document. Not through `Value`'s own deserializer, which hands a date
/// over as a string (`dir = 1979-05-27` would become a directory; no key
/// takes a date). As a document, tables and arrays of tables are written
/// as `[v]` / `[[v]]` sections, not inline, so nothing nests deeper than
/// in the file and the parser's depth limit refuses nothing the file passed.
pub(super) fn from_written<T: DeserializeOwned>(written: &Value) -> Result<T, String> {
    #[derive(serde::Deserialize)]
    struct Document<T> {
        v: T,
    }
    let one_key = toml::Table::from_iter([("v".to_string(), written.clone())]);
    let text = toml::to_string(&one_key).map_err(|e| e.to_string())?;
    toml::from_str::<Document<T>>(&text)
        .map(|d| d.v)
        .map_err(|e| e.message().to_string())
}

fn wants_struct<T: DeserializeOwned>() -> bool {
    !field_names::<T>().is_empty()
}

/// The field names of a serde-derived struct, in declaration order (empty
/// for anything that is not a struct). The raw section structs are the
/// one list of their keys; "unknown key" messages come from here.
pub(super) fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(FieldNames) {
        Err(Fields(names)) => names,
        Ok(_) => &[],
    }
}

/// A deserializer that yields nothing: asked for a struct, it answers with
/// the struct's field names as its "error".
struct FieldNames;

#[derive(Debug)]
struct Fields(&'static [&'static str]);

impl std::fmt::Display for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fields {:?}", self.0)
    }
}

impl std::error::Error for Fields {}

impl de::Error for Fields {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Fields(&[])
    }
}

impl<'de> Deserializer<'de> for FieldNames {
    type Error = Fields;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
        Err(Fields(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Fields> {
        Err(Fields(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Two {
        first: Option<Given<String>>,
        second: Option<Given<i64>>,
    }

    #[test]
    fn a_wrong_type_keeps_what_was_written() {
        let t: Two = toml::from_str("first = 5\nsecond = 7").unwrap();
        let first = t.first.unwrap();
        assert!(first.typed.is_none());
        assert_eq!(first.written, Value::Integer(5));
        assert_eq!(t.second.unwrap().typed, Some(7));
    }

    #[test]
    fn a_struct_is_only_made_from_a_table() {
        let g = Given::<Two>::deserialize(Value::Array(vec!["x".into(), 1.into()])).unwrap();
        assert!(g.typed.is_none(), "a list became a struct");
        let g: Given<Two> = toml::from_str("first = \"x\"").unwrap();
        assert!(g.typed.is_some());
    }

    #[test]
    fn a_date_is_not_a_string() {
        let t: Two = toml::from_str("first = 1979-05-27").unwrap();
        let first = t.first.unwrap();
        assert!(first.typed.is_none(), "a date became {:?}", first.typed);
        assert_eq!(first.written.type_str(), "datetime");
    }

    #[test]
    fn field_names_of_a_struct_and_of_a_plain_type() {
        assert_eq!(field_names::<Two>(), ["first", "second"]);
        assert!(field_names::<String>().is_empty());
        assert!(field_names::<Vec<i64>>().is_empty());
    }
}
