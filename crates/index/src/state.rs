//! The index's data (pure): the indexing configuration ([`IndexingConfig`]), a thing's indexed
//! document ([`ThingDoc`], flattened into searchable fields) and the evaluation of a parsed
//! [`Query`] against it (iot-indexing.md, managing-index.md, query-syntax.md).

use crate::query::{Bound, Matcher, Query};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The one thing index (`AWS_Things`) and its query version.
pub const THING_INDEX: &str = "AWS_Things";
/// The one thing-group index (ListIndices lists it when thingGroupIndexingMode is ON).
pub const GROUP_INDEX: &str = "AWS_ThingGroups";
pub const QUERY_VERSION: &str = "2017-09-30";

/// UpdateIndexingConfiguration's configuration, as stored per account and region (botocore
/// `ThingIndexingConfiguration`, `ThingGroupIndexingConfiguration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexingConfig {
    /// OFF, REGISTRY or REGISTRY_AND_SHADOW.
    pub thing_indexing_mode: String,
    /// OFF or STATUS.
    pub thing_connectivity_indexing_mode: String,
    /// Named shadows indexed (`filter.namedShadowNames`), with `namedShadowIndexingMode` ON.
    #[serde(default)]
    pub named_shadow_indexing_mode: String,
    #[serde(default)]
    pub named_shadow_names: Vec<String>,
    /// The thing configuration's `customFields` as given (name, type).
    #[serde(default)]
    pub custom_fields: Vec<Value>,
    /// OFF or ON.
    pub thing_group_indexing_mode: String,
}

impl Default for IndexingConfig {
    fn default() -> Self {
        IndexingConfig {
            thing_indexing_mode: "OFF".into(),
            thing_connectivity_indexing_mode: "OFF".into(),
            named_shadow_indexing_mode: "OFF".into(),
            named_shadow_names: Vec::new(),
            custom_fields: Vec::new(),
            thing_group_indexing_mode: "OFF".into(),
        }
    }
}

impl IndexingConfig {
    pub fn things_on(&self) -> bool {
        self.thing_indexing_mode != "OFF"
    }
    pub fn shadows_on(&self) -> bool {
        self.thing_indexing_mode == "REGISTRY_AND_SHADOW"
    }
    pub fn connectivity_on(&self) -> bool {
        self.things_on() && self.thing_connectivity_indexing_mode == "STATUS"
    }
    pub fn named_shadows_on(&self) -> bool {
        self.shadows_on() && self.named_shadow_indexing_mode == "ON"
    }
}

/// A client's connectivity as the broker reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Connectivity {
    pub connected: bool,
    pub timestamp: u64,
    pub disconnect_reason: Option<String>,
}

/// One searchable value: its lower-cased text and, when it reads as one, its number.
#[derive(Debug, Clone, PartialEq)]
pub struct Val {
    pub text: String,
    pub num: Option<f64>,
}

impl Val {
    pub fn new(text: &str) -> Self {
        Val { text: text.to_lowercase(), num: text.trim().parse::<f64>().ok().filter(|n| n.is_finite()) }
    }
}

/// A thing as indexed: what SearchIndex returns, and its flattened fields.
#[derive(Debug, Clone, Default)]
pub struct ThingDoc {
    pub thing_name: String,
    pub thing_id: String,
    pub thing_type_name: Option<String>,
    pub thing_group_names: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    /// The classic shadow's document (state and metadata), as SearchIndex's `shadow` string.
    pub shadow: Option<Value>,
    pub connectivity: Option<Connectivity>,
    pub fields: BTreeMap<String, Vec<Val>>,
}

/// The raw parts of a document.
pub struct DocParts<'a> {
    pub thing_name: &'a str,
    pub thing_id: &'a str,
    pub thing_type_name: Option<&'a str>,
    pub groups: Vec<String>,
    pub attributes: &'a BTreeMap<String, String>,
    /// The classic shadow's GetThingShadow document, if indexed and present.
    pub shadow: Option<Value>,
    /// Named shadows' documents, if indexed.
    pub named: Vec<(String, Value)>,
    pub connectivity: Option<Connectivity>,
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Vec<Val>>, depth: usize) {
    if depth > 12 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out, depth + 1);
            }
        }
        // "the myvalues array ... contains a value of 2" (example-queries.md).
        Value::Array(items) => {
            for item in items {
                flatten(prefix, item, out, depth + 1);
            }
        }
        Value::Null => {}
        Value::String(s) => out.entry(prefix.to_string()).or_default().push(Val::new(s)),
        other => out.entry(prefix.to_string()).or_default().push(Val::new(&other.to_string())),
    }
}

/// A shadow's sections under `prefix` (`shadow` or `shadow.name.<n>`): reported, desired,
/// delta, metadata, `hasDelta` (query-syntax.md: "reported, desired, delta, and metadata").
fn shadow_fields(prefix: &str, doc: &Value, out: &mut BTreeMap<String, Vec<Val>>) {
    let state = &doc["state"];
    for section in ["reported", "desired", "delta"] {
        flatten(&format!("{prefix}.{section}"), &state[section], out, 0);
    }
    flatten(&format!("{prefix}.metadata"), &doc["metadata"], out, 0);
    let has_delta = state.get("delta").is_some_and(|d| d.as_object().is_some_and(|m| !m.is_empty()));
    out.entry(format!("{prefix}.hasDelta")).or_default().push(Val::new(&has_delta.to_string()));
}

impl ThingDoc {
    pub fn build(parts: DocParts<'_>) -> ThingDoc {
        let mut fields: BTreeMap<String, Vec<Val>> = BTreeMap::new();
        let mut put = |k: String, v: &str| fields.entry(k).or_default().push(Val::new(v));
        put("thingName".into(), parts.thing_name);
        put("thingId".into(), parts.thing_id);
        if let Some(t) = parts.thing_type_name {
            put("thingTypeName".into(), t);
        }
        for g in &parts.groups {
            put("thingGroupNames".into(), g);
        }
        for (k, v) in parts.attributes {
            put(format!("attributes.{k}"), v);
        }
        if let Some(shadow) = &parts.shadow {
            shadow_fields("shadow", shadow, &mut fields);
        }
        for (name, doc) in &parts.named {
            shadow_fields(&format!("shadow.name.{name}"), doc, &mut fields);
        }
        if let Some(c) = &parts.connectivity {
            let mut put = |k: &str, v: &str| fields.entry(k.to_string()).or_default().push(Val::new(v));
            put("connectivity.connected", &c.connected.to_string());
            put("connectivity.timestamp", &c.timestamp.to_string());
            if let Some(reason) = &c.disconnect_reason {
                put("connectivity.disconnectReason", reason);
            }
        }
        ThingDoc {
            thing_name: parts.thing_name.to_string(),
            thing_id: parts.thing_id.to_string(),
            thing_type_name: parts.thing_type_name.map(str::to_string),
            thing_group_names: parts.groups,
            attributes: parts.attributes.clone(),
            shadow: parts.shadow,
            connectivity: parts.connectivity,
            fields,
        }
    }

    /// Replaces the groups (after the dynamic memberships moved).
    pub fn set_groups(&mut self, groups: Vec<String>) {
        self.fields.remove("thingGroupNames");
        for g in &groups {
            self.fields.entry("thingGroupNames".into()).or_default().push(Val::new(g));
        }
        self.thing_group_names = groups;
    }

    /// SearchIndex's `ThingDocument`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("thingName".into(), json!(self.thing_name));
        out.insert("thingId".into(), json!(self.thing_id));
        if let Some(t) = &self.thing_type_name {
            out.insert("thingTypeName".into(), json!(t));
        }
        if !self.thing_group_names.is_empty() {
            out.insert("thingGroupNames".into(), json!(self.thing_group_names));
        }
        out.insert("attributes".into(), json!(self.attributes));
        if let Some(shadow) = &self.shadow {
            out.insert("shadow".into(), json!(shadow.to_string()));
        }
        if let Some(c) = &self.connectivity {
            let mut conn = json!({ "connected": c.connected, "timestamp": c.timestamp });
            if let Some(reason) = &c.disconnect_reason {
                conn["disconnectReason"] = json!(reason);
            }
            out.insert("connectivity".into(), conn);
        }
        Value::Object(out)
    }

    /// The values of `field` (a numeric field for the aggregations).
    pub fn values(&self, field: &str) -> &[Val] {
        self.fields.get(field).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// `*` any run of characters, `?` one, `\` escapes the next.
pub fn glob(pattern: &str, text: &str) -> bool {
    // Fast paths: no special character (equality), or one trailing `*` (a prefix).
    let special = |c: char| matches!(c, '*' | '?' | '\\');
    match pattern.find(special) {
        None => return pattern == text,
        Some(i) if i + 1 == pattern.len() && pattern.ends_with('*') => {
            return text.starts_with(&pattern[..i])
        }
        _ => {}
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point (linear in practice, no recursion).
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let (lit, next) = match p.get(pi) {
            Some('\\') => (p.get(pi + 1).copied(), pi + 2),
            Some('*') => {
                star = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some('?') => (None, pi + 1),
            Some(c) => (Some(*c), pi + 1),
            None => (Some('\0'), usize::MAX),
        };
        let ok = next != usize::MAX && lit.is_none_or(|c| c == t[ti]);
        if ok {
            pi = next;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while p.get(pi) == Some(&'*') {
        pi += 1;
    }
    pi >= p.len()
}

fn in_range(v: &Val, low: &Bound, high: &Bound) -> bool {
    let nums = |b: &Bound| b.value.as_ref().map(|s| s.parse::<f64>().ok());
    let (ln, hn) = (nums(low), nums(high));
    let numeric = !matches!(ln, Some(None)) && !matches!(hn, Some(None)) && (ln.is_some() || hn.is_some());
    if numeric {
        let Some(x) = v.num else { return false };
        let lo_ok = match ln.flatten() {
            None => true,
            Some(l) => x > l || (low.inclusive && x == l),
        };
        let hi_ok = match hn.flatten() {
            None => true,
            Some(h) => x < h || (high.inclusive && x == h),
        };
        return lo_ok && hi_ok;
    }
    let x = v.text.as_str();
    let lo_ok = low.value.as_deref().is_none_or(|l| x > l || (low.inclusive && x == l));
    let hi_ok = high.value.as_deref().is_none_or(|h| x < h || (high.inclusive && x == h));
    lo_ok && hi_ok
}

fn value_matches(matcher: &Matcher, v: &Val) -> bool {
    match matcher {
        Matcher::Pattern(p) => glob(p, &v.text) || (v.num.is_some() && p.parse::<f64>().ok() == v.num),
        Matcher::Phrase(p) => &v.text == p,
        Matcher::Exists => true,
        Matcher::Range { low, high } => in_range(v, low, high),
    }
}

/// Whether `doc` matches `query`. A term without a field looks in every registry and shadow
/// field (not connectivity's).
pub fn matches(query: &Query, doc: &ThingDoc) -> bool {
    match query {
        Query::All => true,
        Query::And(items) => items.iter().all(|q| matches(q, doc)),
        Query::Or(items) => items.iter().any(|q| matches(q, doc)),
        Query::Not(q) => !matches(q, doc),
        Query::Term { field: Some(field), matcher } => {
            doc.values(field).iter().any(|v| value_matches(matcher, v))
        }
        Query::Term { field: None, matcher } => doc
            .fields
            .iter()
            .filter(|(k, _)| !k.starts_with("connectivity."))
            .any(|(_, vals)| vals.iter().any(|v| value_matches(matcher, v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    fn doc(name: &str, attrs: &[(&str, &str)], shadow: Option<Value>, connected: Option<bool>) -> ThingDoc {
        let attributes: BTreeMap<String, String> =
            attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ThingDoc::build(DocParts {
            thing_name: name,
            thing_id: "id",
            thing_type_name: Some("aa"),
            groups: vec!["g1".into()],
            attributes: &attributes,
            shadow,
            named: vec![(
                "cfg".into(),
                json!({"state": {"desired": {"filament": "pla"}, "delta": {"x": 1}}}),
            )],
            connectivity: connected.map(|c| Connectivity {
                connected: c,
                timestamp: 1557651600001,
                disconnect_reason: (!c).then(|| "CLIENT_INITIATED_DISCONNECT".to_string()),
            }),
        })
    }

    /// The meanings example-queries.md gives, on documents built for them.
    #[test]
    fn documented_meanings_hold() {
        let shadow = json!({"state": {"reported": {"location": "x", "myvalues": [1, 2], "stats": {"battery": 80}},
                                      "desired": {"on": true}, "delta": {"on": true}}});
        let a = doc(
            "myThingName",
            &[("myAttribute", "75"), ("serialNumber", "abce"), ("model", "v2")],
            Some(shadow),
            Some(true),
        );
        let b = doc(
            "abz",
            &[("myAttribute", "81"), ("model", "legacy"), ("attr1", "abc"), ("attr2", "4"), ("attr3", "11")],
            None,
            Some(false),
        );
        let cases: &[(&str, bool, bool)] = &[
            ("thingName:myThingName", true, false),
            ("thingName:my*", true, false),
            ("thingName:ab?", false, true),
            ("thingTypeName:aa", true, true),
            ("attributes.myAttribute:75", true, false),
            ("attributes.myAttribute:[75 TO 80]", true, false),
            ("attributes.myAttribute:{75 TO 80]", false, false),
            ("attributes.serialNumber:[\"abcd\" TO \"abcf\"]", true, false),
            ("attributes.attr1:abc AND attributes.attr2<5 NOT attributes.attr3>10", false, false),
            ("attributes.attr1:abc AND attributes.attr2<5", false, true),
            ("shadow.hasDelta:true", true, false),
            ("NOT attributes.model:legacy", true, false),
            ("shadow.reported.stats.battery:{70 TO 100} (v2 OR v3) NOT attributes.model:legacy", true, false),
            ("shadow.reported.myvalues:2", true, false),
            ("shadow.reported.location:* NOT shadow.desired.stats.battery:*", true, false),
            ("shadow.name.cfg.hasDelta:true", true, true),
            ("shadow.name.cfg.desired.filament:*", true, true),
            ("connectivity.connected:true", true, false),
            ("connectivity.connected:false", false, true),
            ("connectivity.connected:true AND connectivity.timestamp > 1557651600000", true, false),
            ("connectivity.disconnectReason:CLIENT_INITIATED_DISCONNECT", false, true),
            ("connectivity.connected:*", true, true),
            ("*", true, true),
            ("abc", false, true),
            ("thingName:(my* AND -abz)", true, false),
        ];
        for (q, want_a, want_b) in cases {
            let query = parse(q).unwrap();
            assert_eq!((matches(&query, &a), matches(&query, &b)), (*want_a, *want_b), "{q}");
        }
    }

    #[test]
    fn glob_handles_stars_questions_and_escapes() {
        assert!(glob("i*t", "integrat"));
        assert!(!glob("i*t", "intel"));
        assert!(glob("a?c", "abc"));
        assert!(glob("a\\*", "a*"));
        assert!(!glob("a\\*", "ab"));
        assert!(glob("*", ""));
    }
}
