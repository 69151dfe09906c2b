//! Values of the SQL engine, with `Undefined`, and AWS's standard conversions between types.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use super::ast::SqlVersion;

/// A value as the SQL engine sees it: JSON's types, Int apart from Decimal, and `Undefined`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Undefined,
    Null,
    Bool(bool),
    Int(i64),
    Dec(f64),
    Str(String),
    Arr(Vec<Val>),
    /// Keys in insertion order.
    Obj(Vec<(String, Val)>),
}

impl Val {
    /// A Decimal; with 2016-03-23 a whole number becomes an Int, as AWS documents.
    pub fn dec(d: f64, version: SqlVersion) -> Val {
        if !d.is_finite() {
            return Val::Undefined;
        }
        if version == SqlVersion::V2016_03_23 && d.fract() == 0.0 && d.abs() < 9.0e15 {
            return Val::Int(d as i64);
        }
        Val::Dec(d)
    }

    pub fn from_json(v: &Value, version: SqlVersion) -> Val {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::dec(n.as_f64().unwrap_or(f64::NAN), version),
            },
            Value::String(s) => Val::Str(s.clone()),
            Value::Array(a) => Val::Arr(a.iter().map(|x| Val::from_json(x, version)).collect()),
            Value::Object(o) => {
                Val::Obj(o.iter().map(|(k, x)| (k.clone(), Val::from_json(x, version))).collect())
            }
        }
    }

    /// JSON for output; `None` for Undefined, which JSON cannot hold (object members are dropped).
    pub fn to_json(&self) -> Option<Value> {
        Some(match self {
            Val::Undefined => return None,
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::Number((*i).into()),
            Val::Dec(d) => Number::from_f64(*d).map_or(Value::Null, Value::Number),
            Val::Str(s) => Value::String(s.clone()),
            Val::Arr(a) => Value::Array(a.iter().filter_map(Val::to_json).collect()),
            Val::Obj(o) => {
                let mut m = Map::new();
                for (k, v) in o {
                    if let Some(j) = v.to_json() {
                        m.insert(k.clone(), j);
                    }
                }
                Value::Object(m)
            }
        })
    }

    /// Writes the JSON text with object keys in their order here; Undefined members are left out.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Val::Arr(items) => {
                out.push('[');
                let mut first = true;
                for v in items.iter().filter(|v| !v.is_undefined()) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    v.write_json(out);
                }
                out.push(']');
            }
            Val::Obj(fields) => {
                out.push('{');
                let mut first = true;
                for (k, v) in fields.iter().filter(|(_, v)| !v.is_undefined()) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_json_str(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
            Val::Undefined => {}
            Val::Null => out.push_str("null"),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Int(i) => push_int(*i, out),
            // As serde_json writes it (NaN and infinities are Null).
            Val::Dec(d) => match Number::from_f64(*d) {
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => out.push_str("null"),
            },
            Val::Str(s) => write_json_str(s, out),
        }
    }

    pub fn get(&self, key: &str) -> Val {
        match self {
            Val::Obj(o) => o.iter().find(|(k, _)| k == key).map_or(Val::Undefined, |(_, v)| v.clone()),
            _ => Val::Undefined,
        }
    }

    /// The value's size for the evaluation budget: bytes of strings and keys, one per element.
    pub fn size(&self) -> usize {
        match self {
            Val::Str(s) => s.len(),
            Val::Arr(items) => items.iter().map(|v| 1 + v.size()).sum(),
            Val::Obj(fields) => fields.iter().map(|(k, v)| 1 + k.len() + v.size()).sum(),
            _ => 0,
        }
    }

    pub fn is_undefined(&self) -> bool {
        matches!(self, Val::Undefined)
    }

    /// The standard conversion to String; `None` for Null and Undefined.
    pub fn to_str(&self) -> Option<String> {
        match self {
            Val::Undefined | Val::Null => None,
            Val::Str(s) => Some(s.clone()),
            Val::Int(i) => Some(i.to_string()),
            Val::Dec(d) => Some(format_dec(*d)),
            Val::Bool(b) => Some(b.to_string()),
            Val::Arr(_) | Val::Obj(_) => self.to_json().map(|j| j.to_string()),
        }
    }

    /// The standard conversion to Decimal (numbers and numeric strings).
    pub fn to_dec(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Dec(d) => Some(*d),
            Val::Str(s) => parse_decimal(s),
            _ => None,
        }
    }

    /// The standard conversion to Int: Decimals round to the nearest, strings truncate.
    pub fn to_int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Dec(d) => Some(d.round() as i64),
            Val::Str(s) => parse_decimal(s).map(|d| d.trunc() as i64),
            _ => None,
        }
    }

    /// The standard conversion to Boolean: booleans and "true"/"false" in any case.
    pub fn to_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(*b),
            Val::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Val::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
}

/// Formats a Decimal as JSON does (`10.0`, `1.5`, `1e-7`).
pub(crate) fn format_dec(d: f64) -> String {
    Number::from_f64(d).map_or_else(|| d.to_string(), |n| n.to_string())
}

/// Parses what AWS converts to Decimal: `^-?\d+(\.\d+)?((?i)E-?\d+)?$`.
pub(crate) fn parse_decimal(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && b[i] == b'-' {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|d| d.is_finite())
}

/// Parses JSON straight into a [`Val`] under a SQL version (its number rule applied as numbers
/// are read), keeping the order of object keys (a repeated key keeps its first place and its
/// last value, as JSON parsers commonly do).
#[derive(Clone, Copy)]
struct ValSeed(SqlVersion);

impl<'de> serde::de::DeserializeSeed<'de> for ValSeed {
    type Value = Val;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        d.deserialize_any(ValVisitor(self.0))
    }
}

struct ValVisitor(SqlVersion);

/// Keys of an object searched one by one for a repeat; past this many, through a hash map.
const SMALL_OBJECT: usize = 16;

/// Writes an Int's decimal digits (what `{i}` formats), without the formatting machinery.
fn push_int(i: i64, out: &mut String) {
    let mut digits = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

/// Writes `s` as a JSON string, escaped as serde_json escapes it.
fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

impl<'de> serde::de::Visitor<'de> for ValVisitor {
    type Value = Val;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Val, E> {
        Ok(Val::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Val, E> {
        Ok(Val::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Val, E> {
        Ok(i64::try_from(u).map_or_else(|_| Val::dec(u as f64, self.0), Val::Int))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Val, E> {
        Ok(Val::dec(f, self.0))
    }

    fn visit_str<E>(self, s: &str) -> Result<Val, E> {
        Ok(Val::Str(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Val, E> {
        Ok(Val::Str(s))
    }

    fn visit_unit<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }

    fn visit_none<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(ValSeed(self.0))? {
            items.push(v);
        }
        Ok(Val::Arr(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        let mut fields: Vec<(String, Val)> = Vec::new();
        // Small objects (most payloads) look a repeated key up in place; larger ones index it.
        let mut index: Option<std::collections::HashMap<String, usize>> = None;
        while let Some((k, v)) = map.next_entry_seed(std::marker::PhantomData::<String>, ValSeed(self.0))? {
            if fields.len() == SMALL_OBJECT && index.is_none() {
                index = Some(fields.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect());
            }
            let found = match &index {
                Some(index) => index.get(&k).copied(),
                None => fields.iter().position(|(f, _)| *f == k),
            };
            match found {
                Some(i) => fields[i].1 = v,
                None => {
                    if let Some(index) = &mut index {
                        index.insert(k.clone(), fields.len());
                    }
                    fields.push((k, v));
                }
            }
        }
        Ok(Val::Obj(fields))
    }
}

impl Val {
    /// Parses a payload as JSON, keeping key order; `None` when it is not JSON. The version's
    /// number rule (2016-03-23: whole Decimals are Ints) applies throughout.
    pub fn parse_json(bytes: &[u8], version: SqlVersion) -> Option<Val> {
        use serde::de::DeserializeSeed;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let val = ValSeed(version).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(val)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output text is what serde_json writes for the same value, escapes and numbers alike.
    #[test]
    fn write_json_writes_what_serde_json_writes() {
        let doc = r#"{"a\"b\\c":"line\nbreak\ttab\r\u0001\u001f\u007f\b\f é ☃ 😀","i":-42,"d":1.5,"e":1e-7,"big":1e300,"t":true,"f":false,"n":null,"arr":[1,"x",{"k":[]}],"o":{}}"#;
        let val = Val::parse_json(doc.as_bytes(), SqlVersion::V2015_10_08).unwrap();
        let mut text = String::new();
        val.write_json(&mut text);
        let expected: Value = serde_json::from_str(doc).unwrap();
        // serde_json's escapes and number forms, in the document's key order.
        let written = concat!(
            r#"{"a\"b\\c":"line\nbreak\ttab\r\u0001\u001f"#,
            "\u{7f}",
            r#"\b\f é ☃ 😀","i":-42,"d":1.5,"e":1e-7,"big":1e+300,"t":true,"f":false,"n":null,"#,
            r#""arr":[1,"x",{"k":[]}],"o":{}}"#
        );
        assert_eq!(text, written);
        for k in ["a\"b\\c", "line\nbreak\u{1}\u{7f}", "é ☃ 😀", ""] {
            let mut one = String::new();
            write_json_str(k, &mut one);
            assert_eq!(one, Value::String(k.into()).to_string());
        }
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
    }

    #[test]
    fn ints_are_written_as_display_writes_them() {
        for i in [0, 7, -7, 10, 42, -100, 1234567890, i64::MAX, i64::MIN, i64::MIN + 1] {
            let mut out = String::new();
            push_int(i, &mut out);
            assert_eq!(out, i.to_string());
        }
    }

    /// A repeated key keeps its first place and its last value, in small and large objects.
    #[test]
    fn repeated_keys_keep_the_first_place_and_the_last_value() {
        let small = Val::parse_json(br#"{"a":1,"b":2,"a":3}"#, SqlVersion::V2015_10_08).unwrap();
        assert_eq!(small, Val::Obj(vec![("a".into(), Val::Int(3)), ("b".into(), Val::Int(2))]));
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        let mut doc: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("\"{k}\":{i}")).collect();
        doc.push("\"k3\":100".into());
        doc.push("\"k30\":300".into());
        let large =
            Val::parse_json(format!("{{{}}}", doc.join(",")).as_bytes(), SqlVersion::V2015_10_08).unwrap();
        let Val::Obj(fields) = large else { panic!("not an object") };
        assert_eq!(fields.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), keys);
        assert_eq!(fields[3].1, Val::Int(100));
        assert_eq!(fields[30].1, Val::Int(300));
        assert_eq!(fields[31].1, Val::Int(31));
    }
}
