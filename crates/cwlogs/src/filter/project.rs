//! Reading only what a JSON pattern looks at: each event is deserialized into a
//! [`serde_json::Value`] that keeps the keys and array elements on the pattern's selectors and
//! skips the rest without allocating, so evaluation is the same as on the whole event.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::ast::{Expr, Step};

/// The keys and indexes a pattern reads, as a tree. Where a node has no children, a scalar is
/// kept whole and an array or object is kept empty (its kind is all a condition can use).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Projection {
    children: Vec<(Step, Projection)>,
}

impl Projection {
    pub fn of(expr: &Expr) -> Projection {
        let mut root = Projection::default();
        root.add(expr);
        root
    }

    fn add(&mut self, expr: &Expr) {
        match expr {
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| self.add(e)),
            Expr::Cond(c) => {
                let mut node = self;
                for step in &c.path {
                    node = node.child_mut(step);
                }
            }
        }
    }

    fn child_mut(&mut self, step: &Step) -> &mut Projection {
        let i = match self.children.iter().position(|(s, _)| s == step) {
            Some(i) => i,
            None => {
                self.children.push((step.clone(), Projection::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[i].1
    }

    fn key(&self, key: &str) -> Option<&Projection> {
        self.children.iter().find_map(|(s, p)| matches!(s, Step::Key(k) if k == key).then_some(p))
    }

    fn index(&self, index: usize) -> Option<&Projection> {
        self.children.iter().find_map(|(s, p)| matches!(s, Step::Index(i) if *i == index).then_some(p))
    }

    fn last_index(&self) -> Option<usize> {
        self.children.iter().filter_map(|(s, _)| if let Step::Index(i) = s { Some(*i) } else { None }).max()
    }

    /// `message` parsed as JSON, keeping only this projection; `None` when it is not JSON.
    pub fn parse(&self, message: &str) -> Option<Value> {
        let mut de = serde_json::Deserializer::from_str(message);
        let value = self.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(value)
    }
}

impl<'de> DeserializeSeed<'de> for &Projection {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &Projection {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // Elements up to the last index read (unread ones before it are placeholders), then skip.
        let mut items = Vec::new();
        if let Some(last) = self.last_index() {
            for i in 0..=last {
                let next = match self.index(i) {
                    Some(child) => seq.next_element_seed(child)?,
                    None => seq.next_element::<IgnoredAny>()?.map(|_| Value::Null),
                };
                match next {
                    Some(value) => items.push(value),
                    None => return Ok(Value::Array(items)),
                }
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed(self))? {
            match key {
                Some((name, child)) => {
                    let value = map.next_value_seed(child)?;
                    kept.insert(name, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }
}

/// Reads an object key without allocating unless the projection wants it.
struct KeySeed<'p>(&'p Projection);

impl<'de, 'p> DeserializeSeed<'de> for KeySeed<'p> {
    type Value = Option<(String, &'p Projection)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'p> Visitor<'_> for KeySeed<'p> {
    type Value = Option<(String, &'p Projection)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.key(v).map(|child| (v.to_owned(), child)))
    }
}
