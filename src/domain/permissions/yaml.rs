//! YAML documents (serde-saphyr: panic-free, alias and size budgets on
//! hostile input). serde-saphyr refuses a mapping key twice by default
//! (`DuplicateKeyPolicy::Error`), but its error names a line, not the key's
//! path; [`duplicate`] reads the text again, with the repeated entries
//! passed through, to name the path the way the JSON check does.

use crate::domain::json::JsonProblem;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

/// Every document of a YAML stream (empty documents left out); `None` if
/// it is not YAML, breaks a budget, or has a key twice in one mapping.
pub fn documents(text: &str) -> Option<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).ok()?;
    Some(docs.into_iter().filter(|d| !d.is_null()).collect())
}

thread_local! {
    static FOUND: RefCell<Option<JsonProblem>> = const { RefCell::new(None) };
    static DOCUMENT: Cell<usize> = const { Cell::new(0) };
}

/// The first key that appears twice in one mapping of a YAML stream, with
/// its path (`rules[0].verbs`; `(document 2).metadata.name` past the
/// first document). `None` if there is none, or the text is no YAML.
pub fn duplicate(text: &str) -> Option<JsonProblem> {
    FOUND.with(|f| f.borrow_mut().take());
    DOCUMENT.with(|d| d.set(0));
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::options::DuplicateKeyPolicy::PassThrough;
    let _ = serde_saphyr::from_multiple_with_options::<Checked>(text, options);
    FOUND.with(|f| f.borrow_mut().take())
}

/// One document, walked for repeated keys.
struct Checked;

impl<'de> de::Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = DOCUMENT.with(|c| {
            let n = c.get();
            c.set(n + 1);
            n
        });
        let path = if n == 0 {
            String::new()
        } else {
            format!("(document {})", n + 1)
        };
        Probe { path }.deserialize(d).map(|()| Checked)
    }
}

struct Probe {
    path: String,
}

impl Probe {
    fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Probe {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Probe {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(Probe {
                path: format!("{}[{i}]", self.path),
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(Key(name)) = map.next_key::<Key>()? {
            let Some(name) = name else {
                // A sequence or mapping as a key: never compared.
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let path = self.key(&name);
            if !seen.insert(name.clone()) {
                FOUND.with(|f| {
                    f.borrow_mut().get_or_insert(JsonProblem::Duplicate {
                        path,
                        name: name.escape_debug().to_string(),
                    });
                });
                return Err(de::Error::custom("a key appears twice"));
            }
            map.next_value_seed(Probe { path })?;
        }
        Ok(())
    }
}

/// A mapping key as text (`1` and `"1"` are the same name once read as
/// JSON, so the same name here); `None` for a collection used as a key.
struct Key(Option<String>);

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(Key(Some(v.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Key, E> {
        Ok(Key(Some("null".to_owned())))
    }
    fn visit_none<E>(self) -> Result<Key, E> {
        Ok(Key(Some("null".to_owned())))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Key(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Key(None))
    }
}
