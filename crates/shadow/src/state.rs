//! The shadow document and the pure functions of the Device Shadow service: request checks, the
//! merge of an update with per-field metadata, the delta, and every answer payload
//! (device-shadow-document.md, device-shadow-data-flow.md, device-shadow-mqtt.md).

use crate::ShadowError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The longest `clientToken` AWS accepts, in bytes (device-shadow-document.md, "Client tokens").
pub const MAX_CLIENT_TOKEN_BYTES: usize = 64;

/// The service's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of `desired` and `reported` (compact JSON, metadata not counted).
    pub max_document_bytes: usize,
    /// The most levels of objects inside `desired` or `reported`.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_document_bytes: 8192, max_depth: 6 }
    }
}

/// A stored shadow. A deleted shadow is kept as a tombstone (`deleted`, empty state) so that the
/// next update continues its version (device-shadow-data-flow.md, "Deleting a shadow").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Map<String, Value>>,
    /// `desired`'s tree with `{"timestamp": t}` for each value (an array per array element).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_metadata: Option<Map<String, Value>>,
    /// `reported`'s metadata, as `desired_metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_metadata: Option<Map<String, Value>>,
    /// Incremented by every accepted update.
    pub version: u64,
    /// The last update or deletion, epoch seconds.
    pub timestamp: u64,
    /// Deleted: answers 404 until the next update.
    #[serde(default)]
    pub deleted: bool,
}

impl ShadowDocument {
    /// `{"desired", "reported"}`, each only if present.
    pub fn state(&self) -> Value {
        sections(&self.desired, &self.reported)
    }

    /// `{"desired", "reported"}` of the metadata, each only if present.
    pub fn metadata(&self) -> Value {
        sections(&self.desired_metadata, &self.reported_metadata)
    }

    /// The desired values that differ from the reported ones, with their metadata; `None` when
    /// nothing differs.
    pub fn delta(&self) -> Option<(Map<String, Value>, Map<String, Value>)> {
        let desired = self.desired.as_ref()?;
        let (state, metadata) = delta(desired, self.reported.as_ref(), self.desired_metadata.as_ref());
        (!state.is_empty()).then_some((state, metadata))
    }

    /// `{"state", "metadata", "version"}`: one side of a `/documents` message.
    fn snapshot(&self) -> Value {
        json!({"state": self.state(), "metadata": self.metadata(), "version": self.version})
    }
}

fn sections(desired: &Option<Map<String, Value>>, reported: &Option<Map<String, Value>>) -> Value {
    let mut out = Map::new();
    // An empty section is no section (documents stored before this rule may hold one).
    if let Some(d) = desired.as_ref().filter(|d| !d.is_empty()) {
        out.insert("desired".into(), Value::Object(d.clone()));
    }
    if let Some(r) = reported.as_ref().filter(|r| !r.is_empty()) {
        out.insert("reported".into(), Value::Object(r.clone()));
    }
    Value::Object(out)
}

/// What an accepted update publishes and stores.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateOutcome {
    /// The `/update/accepted` payload (and UpdateThingShadow's response): the sections sent,
    /// their metadata, `version`, `timestamp`, `clientToken`.
    pub accepted: Value,
    /// The `/update/delta` payload, when the request had `desired` and desired now differs from
    /// reported (device-shadow-mqtt.md, "/update/delta").
    pub delta: Option<Value>,
    /// The `/update/documents` payload: `previous`, `current`, `timestamp`, `clientToken`.
    pub documents: Value,
    /// The shadow after the update.
    pub document: ShadowDocument,
}

/// One section of an update request.
enum Section<'a> {
    Absent,
    /// `null`: removes the section.
    Remove,
    Merge(&'a Map<String, Value>),
}

/// Checks the encoding and JSON of a request payload and returns it (an empty payload is
/// `{}`, as a `/get` or `/delete` may be empty).
pub fn parse_request(payload: &[u8]) -> Result<Map<String, Value>, ShadowError> {
    let text = std::str::from_utf8(payload).map_err(|_| ShadowError::unsupported_encoding())?;
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        // serde_json stops at 128 levels, far past the shadow's own limit: the document is too
        // deep, which AWS says so (device-shadow-error-messages.md), rather than invalid.
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            Err(ShadowError::too_deep(Limits::default().max_depth))
        }
        _ => Err(ShadowError::invalid_json()),
    }
}

/// The request's `clientToken` if it is a valid one: what a `/rejected` answer echoes, and what
/// `/get` and `/delete` answers echo.
pub fn client_token_of(payload: &[u8]) -> Option<String> {
    let request = parse_request(payload).ok()?;
    client_token(&request).ok().flatten()
}

fn client_token(request: &Map<String, Value>) -> Result<Option<String>, ShadowError> {
    match request.get("clientToken") {
        None => Ok(None),
        Some(Value::String(t)) if t.len() <= MAX_CLIENT_TOKEN_BYTES => Ok(Some(t.clone())),
        Some(_) => Err(ShadowError::invalid_client_token()),
    }
}

fn section<'a>(
    state: &'a Map<String, Value>,
    name: &str,
    not_object: fn() -> ShadowError,
) -> Result<Section<'a>, ShadowError> {
    match state.get(name) {
        None => Ok(Section::Absent),
        Some(Value::Null) => Ok(Section::Remove),
        Some(Value::Object(m)) => Ok(Section::Merge(m)),
        Some(_) => Err(not_object()),
    }
}

/// Levels of objects inside `map` (`{"a": {"b": 1}}` has 1 inside it); arrays add none.
fn depth(map: &Map<String, Value>) -> usize {
    fn value_depth(v: &Value) -> usize {
        match v {
            Value::Object(m) => 1 + depth(m),
            Value::Array(a) => a.iter().map(value_depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    map.values().map(value_depth).max().unwrap_or(0)
}

/// Whether an array anywhere in `v` holds a `null` (device-shadow-document.md, "Arrays can't
/// have null values").
fn null_in_array(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().any(null_in_array),
        Value::Array(a) => a.iter().any(|e| e.is_null() || null_in_array(e)),
        _ => false,
    }
}

/// Applies an update request (already parsed by [`parse_request`]) to `current` at `now`
/// (epoch seconds). `current` may be a tombstone: the version goes on from it.
pub fn apply_update(
    current: Option<&ShadowDocument>,
    request: &Map<String, Value>,
    now: u64,
    limits: &Limits,
) -> Result<UpdateOutcome, ShadowError> {
    let token = client_token(request)?;
    let expected = match request.get("version") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(ShadowError::invalid_version)?),
    };
    let empty = Map::new();
    // `{"state": null}` clears both sections: AWS accepts it, answers `"state": null` with a new
    // version, and a later get shows `"state": {}` (aws-greengrass-shadow-manager #193, "only
    // `{"state": null}` will clear the full shadow"; aws-iot-device-sdk-python-v2 #268).
    let clear = matches!(request.get("state"), Some(Value::Null));
    let state = match request.get("state") {
        None => return Err(ShadowError::missing_state()),
        Some(Value::Object(s)) => s,
        Some(Value::Null) => &empty,
        Some(_) => return Err(ShadowError::state_not_object()),
    };
    if state.keys().any(|k| k != "desired" && k != "reported") {
        return Err(ShadowError::invalid_state_node());
    }
    let desired = section(state, "desired", ShadowError::desired_not_object)?;
    let reported = section(state, "reported", ShadowError::reported_not_object)?;
    for s in [&desired, &reported] {
        if let Section::Merge(m) = s {
            if depth(m) > limits.max_depth {
                return Err(ShadowError::too_deep(limits.max_depth));
            }
            if m.values().any(null_in_array) {
                return Err(ShadowError::invalid_json());
            }
        }
    }
    let live = current.filter(|c| !c.deleted);
    let current_version = current.map_or(0, |c| c.version);
    if expected.is_some_and(|v| v != current_version) {
        return Err(ShadowError::version_conflict());
    }

    let (desired, reported) = if clear { (Section::Remove, Section::Remove) } else { (desired, reported) };
    let mut next = live.cloned().unwrap_or_default();
    apply_section(&mut next.desired, &mut next.desired_metadata, &desired, now);
    apply_section(&mut next.reported, &mut next.reported_metadata, &reported, now);
    next.version = current_version + 1;
    next.timestamp = now;
    next.deleted = false;
    if document_bytes(&next) > limits.max_document_bytes {
        return Err(ShadowError::payload_too_large());
    }

    let mut accepted_state = Map::new();
    let mut accepted_metadata = Map::new();
    for (name, s) in [("desired", &desired), ("reported", &reported)] {
        let sent = match s {
            Section::Absent => continue,
            Section::Remove => Value::Null,
            // An empty section sent is no section in the answer, as in the document.
            Section::Merge(m) if m.is_empty() => continue,
            Section::Merge(m) => Value::Object((*m).clone()),
        };
        accepted_metadata.insert(name.into(), value_metadata(&sent, now));
        accepted_state.insert(name.into(), sent);
    }
    let accepted = if clear {
        with_token(json!({"state": null, "version": next.version, "timestamp": now}), &token)
    } else {
        with_token(
            json!({"state": accepted_state, "metadata": accepted_metadata, "version": next.version, "timestamp": now}),
            &token,
        )
    };
    let delta = match desired {
        Section::Merge(_) => next.delta().map(|(state, metadata)| {
            with_token(
                json!({"version": next.version, "timestamp": now, "state": state, "metadata": metadata}),
                &token,
            )
        }),
        _ => None,
    };
    let previous = live.map_or(Value::Null, ShadowDocument::snapshot);
    let documents =
        with_token(json!({"previous": previous, "current": next.snapshot(), "timestamp": now}), &token);
    Ok(UpdateOutcome { accepted, delta, documents, document: next })
}

fn apply_section(
    target: &mut Option<Map<String, Value>>,
    metadata: &mut Option<Map<String, Value>>,
    update: &Section,
    now: u64,
) {
    match update {
        Section::Absent => {}
        Section::Remove => {
            *target = None;
            *metadata = None;
        }
        Section::Merge(patch) => {
            merge(target.get_or_insert_with(Map::new), metadata.get_or_insert_with(Map::new), patch, now);
            // A top-level section left empty is removed from the document (device-shadow-document.md,
            // "Empty shadow document properties"); nested empty objects stay.
            if target.as_ref().is_some_and(Map::is_empty) {
                *target = None;
                *metadata = None;
            }
        }
    }
}

/// Merges `patch` into `target` field by field: `null` removes a field, an object merges into
/// an object (replacing a non-object), anything else (arrays included) replaces the value.
fn merge(
    target: &mut Map<String, Value>,
    metadata: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    now: u64,
) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
                metadata.remove(key);
            }
            Value::Object(inner) => {
                // A value that was not an object (and its `{"timestamp"}`) is replaced.
                if !target.get(key).is_some_and(Value::is_object) {
                    target.insert(key.clone(), Value::Object(Map::new()));
                    metadata.insert(key.clone(), Value::Object(Map::new()));
                }
                let t = target.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
                let m = metadata.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
                if !m.is_object() {
                    *m = Value::Object(Map::new());
                }
                if let (Value::Object(t), Value::Object(m)) = (t, m) {
                    merge(t, m, inner, now);
                }
            }
            _ => {
                target.insert(key.clone(), value.clone());
                metadata.insert(key.clone(), value_metadata(value, now));
            }
        }
    }
}

/// The metadata of a value: `{"timestamp": now}` for a scalar or `null`, the same tree for an
/// object, one entry per element for an array.
fn value_metadata(value: &Value, now: u64) -> Value {
    match value {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), value_metadata(v, now))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| value_metadata(v, now)).collect()),
        _ => json!({"timestamp": now}),
    }
}

/// The desired fields that differ from the reported ones (objects compared field by field,
/// arrays and scalars as whole values), and their desired metadata.
fn delta(
    desired: &Map<String, Value>,
    reported: Option<&Map<String, Value>>,
    metadata: Option<&Map<String, Value>>,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut state = Map::new();
    let mut meta = Map::new();
    for (key, d) in desired {
        let r = reported.and_then(|r| r.get(key));
        let m = metadata.and_then(|m| m.get(key));
        match (d, r) {
            (Value::Object(d), Some(Value::Object(r))) => {
                let (s, sm) = delta(d, Some(r), m.and_then(Value::as_object));
                if !s.is_empty() {
                    state.insert(key.clone(), Value::Object(s));
                    meta.insert(key.clone(), Value::Object(sm));
                }
            }
            (d, Some(r)) if d == r => {}
            (d, _) => {
                state.insert(key.clone(), d.clone());
                meta.insert(key.clone(), m.cloned().unwrap_or(Value::Null));
            }
        }
    }
    (state, meta)
}

/// Bytes of `desired` and `reported` in compact JSON: what the size limit counts.
pub fn document_bytes(doc: &ShadowDocument) -> usize {
    let len =
        |m: &Option<Map<String, Value>>| m.as_ref().map_or(0, |m| Value::Object(m.clone()).to_string().len());
    len(&doc.desired) + len(&doc.reported)
}

fn with_token(mut answer: Value, token: &Option<String>) -> Value {
    if let (Some(t), Value::Object(m)) = (token, &mut answer) {
        m.insert("clientToken".into(), Value::String(t.clone()));
    }
    answer
}

/// The `/get/accepted` payload (and GetThingShadow's response): the whole state with `delta`
/// when desired differs from reported, metadata, `version`, `timestamp` (`now`), `clientToken`.
pub fn get_document(doc: &ShadowDocument, client_token: Option<&str>, now: u64) -> Value {
    let mut state = doc.state();
    let mut metadata = doc.metadata();
    if let (Some((delta, delta_metadata)), Value::Object(s), Value::Object(m)) =
        (doc.delta(), &mut state, &mut metadata)
    {
        s.insert("delta".into(), Value::Object(delta));
        m.insert("delta".into(), Value::Object(delta_metadata));
    }
    with_token(
        json!({"state": state, "metadata": metadata, "version": doc.version, "timestamp": now}),
        &client_token.map(str::to_string),
    )
}

/// The `/delete/accepted` payload (and DeleteThingShadow's response): `{version, timestamp}`.
pub fn delete_answer(version: u64, client_token: Option<&str>, now: u64) -> Value {
    with_token(json!({"version": version, "timestamp": now}), &client_token.map(str::to_string))
}

/// A `/rejected` payload: `{code, message, timestamp, clientToken}`.
pub fn rejected(error: &ShadowError, client_token: Option<&str>, now: u64) -> Value {
    with_token(
        json!({"code": error.code, "message": error.message, "timestamp": now}),
        &client_token.map(str::to_string),
    )
}

/// A thing name: 1-128 bytes of `[a-zA-Z0-9:_-]` (botocore `iot-data` `ThingName`).
pub fn check_thing_name(name: &str) -> Result<(), ShadowError> {
    let ok = (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b":_-".contains(&b));
    ok.then_some(()).ok_or_else(ShadowError::invalid_thing_name)
}

/// A shadow name: 1-64 bytes of `[$a-zA-Z0-9:_-]` (botocore `iot-data` `ShadowName`).
pub fn check_shadow_name(name: &str) -> Result<(), ShadowError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"$:_-".contains(&b));
    ok.then_some(()).ok_or_else(ShadowError::invalid_shadow_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_document_bytes: 8192, max_depth: 6 };

    fn req(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn update(current: Option<&ShadowDocument>, v: Value, now: u64) -> Result<UpdateOutcome, ShadowError> {
        apply_update(current, &req(v), now, &LIMITS)
    }

    #[test]
    fn desired_update_answers_accepted_delta_and_documents() {
        // device-shadow-data-flow.md, "Updating a shadow when a client requests a state change".
        let out = update(
            None,
            json!({"state": {"desired": {"color": {"r": 10}, "engine": "ON"}}, "clientToken": "tok"}),
            100,
        )
        .unwrap();
        assert_eq!(
            out.accepted,
            json!({
                "state": {"desired": {"color": {"r": 10}, "engine": "ON"}},
                "metadata": {"desired": {"color": {"r": {"timestamp": 100}}, "engine": {"timestamp": 100}}},
                "version": 1, "timestamp": 100, "clientToken": "tok"
            })
        );
        assert_eq!(
            out.delta,
            Some(json!({
                "state": {"color": {"r": 10}, "engine": "ON"},
                "metadata": {"color": {"r": {"timestamp": 100}}, "engine": {"timestamp": 100}},
                "version": 1, "timestamp": 100, "clientToken": "tok"
            }))
        );
        assert_eq!(
            out.documents,
            json!({
                "previous": null,
                "current": {
                    "state": {"desired": {"color": {"r": 10}, "engine": "ON"}},
                    "metadata": {"desired": {"color": {"r": {"timestamp": 100}}, "engine": {"timestamp": 100}}},
                    "version": 1
                },
                "timestamp": 100, "clientToken": "tok"
            })
        );
    }

    #[test]
    fn reported_update_answers_only_its_section_and_no_delta_message() {
        let first =
            update(None, json!({"state": {"desired": {"color": "RED", "state": "STOP"}}}), 10).unwrap();
        let out = update(
            Some(&first.document),
            json!({"state": {"reported": {"color": "GREEN", "engine": "ON"}}}),
            20,
        )
        .unwrap();
        assert_eq!(
            out.accepted,
            json!({
                "state": {"reported": {"color": "GREEN", "engine": "ON"}},
                "metadata": {"reported": {"color": {"timestamp": 20}, "engine": {"timestamp": 20}}},
                "version": 2, "timestamp": 20
            })
        );
        assert_eq!(out.delta, None, "/update/delta goes out only for a request with desired");
        assert_eq!(out.documents["previous"], first.document.snapshot());
        assert_eq!(out.documents["current"]["version"], json!(2));
        // device-shadow-document.md, "Delta state": the first example.
        let got = get_document(&out.document, None, 30);
        assert_eq!(
            got,
            json!({
                "state": {
                    "desired": {"color": "RED", "state": "STOP"},
                    "reported": {"color": "GREEN", "engine": "ON"},
                    "delta": {"color": "RED", "state": "STOP"}
                },
                "metadata": {
                    "desired": {"color": {"timestamp": 10}, "state": {"timestamp": 10}},
                    "reported": {"color": {"timestamp": 20}, "engine": {"timestamp": 20}},
                    "delta": {"color": {"timestamp": 10}, "state": {"timestamp": 10}}
                },
                "version": 2, "timestamp": 30
            })
        );
    }

    #[test]
    fn nested_delta_keeps_the_path_to_the_root() {
        // device-shadow-document.md, "Delta state": the lights example.
        let a = update(
            None,
            json!({"state": {"reported": {"lights": {"color": {"r": 255, "g": 0, "b": 255}}}}}),
            1,
        )
        .unwrap();
        let b = update(
            Some(&a.document),
            json!({"state": {"desired": {"lights": {"color": {"r": 255, "g": 255, "b": 255}}}}}),
            2,
        )
        .unwrap();
        let delta = b.delta.unwrap();
        assert_eq!(delta["state"], json!({"lights": {"color": {"g": 255}}}));
        assert_eq!(delta["metadata"], json!({"lights": {"color": {"g": {"timestamp": 2}}}}));
        assert_eq!(
            get_document(&b.document, None, 3)["state"]["delta"],
            json!({"lights": {"color": {"g": 255}}})
        );
    }

    #[test]
    fn delta_follows_the_rules_of_the_mqtt_page() {
        // device-shadow-mqtt.md, "/update/delta": differing, desired-only and reported-deleted
        // fields are in; equal and reported-only ones are not.
        let a =
            update(None, json!({"state": {"reported": {"same": 1, "differs": 1, "gone": 1, "extra": 1}}}), 1)
                .unwrap();
        let b = update(Some(&a.document), json!({"state": {"reported": {"gone": null}}}), 2).unwrap();
        let c = update(
            Some(&b.document),
            json!({"state": {"desired": {"same": 1, "differs": 2, "gone": 1, "new": 1}}}),
            3,
        )
        .unwrap();
        assert_eq!(c.delta.unwrap()["state"], json!({"differs": 2, "gone": 1, "new": 1}));
        // When reported catches up, there is no delta.
        let d =
            update(Some(&c.document), json!({"state": {"reported": {"differs": 2, "gone": 1, "new": 1}}}), 4)
                .unwrap();
        assert_eq!(d.document.delta(), None);
        assert!(get_document(&d.document, None, 5)["state"].get("delta").is_none());
        // A desired update that leaves nothing different publishes no delta.
        let e = update(Some(&d.document), json!({"state": {"desired": {"same": 1}}}), 6).unwrap();
        assert_eq!(e.delta, None);
    }

    #[test]
    fn arrays_are_whole_values() {
        // device-shadow-document.md, "Array values in shadow documents".
        let a = update(None, json!({"state": {"desired": {"colors": ["RED", "GREEN", "BLUE"]}}}), 1).unwrap();
        assert_eq!(
            a.document.desired_metadata,
            Some(req(json!({"colors": [{"timestamp": 1}, {"timestamp": 1}, {"timestamp": 1}]})))
        );
        let b = update(Some(&a.document), json!({"state": {"desired": {"colors": ["RED"]}}}), 2).unwrap();
        assert_eq!(b.document.state(), json!({"desired": {"colors": ["RED"]}}));
        let c = update(Some(&b.document), json!({"state": {"reported": {"colors": ["RED", "BLUE"]}}}), 3)
            .unwrap();
        assert_eq!(c.document.delta().unwrap().0, req(json!({"colors": ["RED"]})));
        let err = update(Some(&c.document), json!({"state": {"desired": {"colors": [null, "RED"]}}}), 4);
        assert_eq!(err.unwrap_err().code, 400);
    }

    #[test]
    fn null_removes_a_field_and_a_section() {
        // device-shadow-data-flow.md, "Deleting a property"; device-shadow-document.md, "Empty
        // shadow document properties".
        let a = update(None, json!({"state": {"desired": {"engine": "ON", "color": "red"}}}), 1).unwrap();
        let b = update(Some(&a.document), json!({"state": {"desired": {"engine": null}}}), 2).unwrap();
        assert_eq!(b.document.state(), json!({"desired": {"color": "red"}}));
        assert_eq!(b.document.metadata(), json!({"desired": {"color": {"timestamp": 1}}}));
        assert_eq!(b.accepted["state"], json!({"desired": {"engine": null}}));
        assert_eq!(b.accepted["metadata"], json!({"desired": {"engine": {"timestamp": 2}}}));
        let c =
            update(Some(&b.document), json!({"state": {"reported": {"color": "red"}, "desired": null}}), 3)
                .unwrap();
        assert_eq!(c.document.state(), json!({"reported": {"color": "red"}}));
        assert_eq!(c.document.metadata(), json!({"reported": {"color": {"timestamp": 3}}}));
        assert_eq!(c.accepted["state"], json!({"reported": {"color": "red"}, "desired": null}));
        assert_eq!(c.delta, None);
        assert_eq!(c.document.version, 3);
    }

    #[test]
    fn an_emptied_top_level_section_is_omitted_everywhere() {
        // device-shadow-document.md, "Empty shadow document properties".
        let a = update(None, json!({"state": {"desired": {"x": 1}, "reported": {"x": 2}}}), 1).unwrap();
        let b = update(Some(&a.document), json!({"state": {"desired": {"x": null}}}), 2).unwrap();
        assert_eq!(b.document.state(), json!({"reported": {"x": 2}}));
        assert_eq!(b.document.metadata(), json!({"reported": {"x": {"timestamp": 1}}}));
        assert_eq!(b.delta, None);
        assert_eq!(get_document(&b.document, None, 3)["state"], json!({"reported": {"x": 2}}));
        let c =
            update(Some(&b.document), json!({"state": {"desired": {}, "reported": {"o": {}}}}), 3).unwrap();
        assert_eq!(c.accepted["state"], json!({"reported": {"o": {}}}));
        assert_eq!(c.document.state(), json!({"reported": {"x": 2, "o": {}}}));
        assert_eq!(c.documents["current"]["state"], json!({"reported": {"x": 2, "o": {}}}));
    }

    #[test]
    fn a_null_state_clears_the_shadow_and_keeps_its_version() {
        let a = update(None, json!({"state": {"desired": {"x": 1}, "reported": {"y": 2}}}), 1).unwrap();
        let b = update(Some(&a.document), json!({"state": null, "clientToken": "t"}), 2).unwrap();
        assert_eq!(b.accepted, json!({"state": null, "version": 2, "timestamp": 2, "clientToken": "t"}));
        assert_eq!(b.delta, None);
        let got = get_document(&b.document, None, 3);
        assert_eq!((&got["state"], &got["metadata"], &got["version"]), (&json!({}), &json!({}), &json!(2)));
        assert_eq!(b.documents["current"]["state"], json!({}));
    }

    #[test]
    fn removing_the_last_nested_field_keeps_the_empty_parent() {
        // As AWS does (aws-greengrass-shadow-manager #213, "keep the empty parent object (which
        // matches IoT Shadow)").
        let a = update(None, json!({"state": {"desired": {"o": {"x": 1}}}}), 1).unwrap();
        let b = update(Some(&a.document), json!({"state": {"desired": {"o": {"x": null}}}}), 2).unwrap();
        assert_eq!(b.document.state(), json!({"desired": {"o": {}}}));
        assert_eq!(b.document.metadata(), json!({"desired": {"o": {}}}));
    }

    #[test]
    fn metadata_is_per_field() {
        let a = update(None, json!({"state": {"reported": {"a": 1, "o": {"x": 1}}}}), 1).unwrap();
        let b =
            update(Some(&a.document), json!({"state": {"reported": {"b": 2, "o": {"y": 2}}}}), 2).unwrap();
        assert_eq!(
            b.document.metadata(),
            json!({"reported": {
                "a": {"timestamp": 1}, "b": {"timestamp": 2},
                "o": {"x": {"timestamp": 1}, "y": {"timestamp": 2}}
            }})
        );
        // A scalar replaced by an object (and back) takes the new shape.
        let c =
            update(Some(&b.document), json!({"state": {"reported": {"a": {"z": 3}, "o": 4}}}), 3).unwrap();
        assert_eq!(c.document.state(), json!({"reported": {"a": {"z": 3}, "b": 2, "o": 4}}));
        assert_eq!(c.document.metadata()["reported"]["a"], json!({"z": {"timestamp": 3}}));
        assert_eq!(c.document.metadata()["reported"]["o"], json!({"timestamp": 3}));
    }

    #[test]
    fn version_increments_and_a_stale_version_conflicts() {
        // device-shadow-data-flow.md, "Optimistic locking".
        let mut doc = ShadowDocument::default();
        for i in 1..=10 {
            doc = update(Some(&doc), json!({"state": {"desired": {"colors": ["RED", "GREEN", "BLUE"]}}}), i)
                .unwrap()
                .document;
        }
        assert_eq!(doc.version, 10);
        let stale = json!({"state": {"desired": {"colors": ["BLUE"]}}, "version": 9,
            "clientToken": "426bfd96-e720-46d3-95cd-014e3ef12bb6"});
        let err = update(Some(&doc), stale, 11).unwrap_err();
        assert_eq!(err, ShadowError::version_conflict());
        assert_eq!(
            rejected(&err, Some("426bfd96-e720-46d3-95cd-014e3ef12bb6"), 11),
            json!({"code": 409, "message": "Version conflict", "timestamp": 11,
                "clientToken": "426bfd96-e720-46d3-95cd-014e3ef12bb6"})
        );
        let ok = update(Some(&doc), json!({"state": {"desired": {"colors": ["BLUE"]}}, "version": 10}), 12)
            .unwrap();
        assert_eq!(ok.document.state(), json!({"desired": {"colors": ["BLUE"]}}));
        assert_eq!(ok.document.version, 11);
        // An empty update is an update too.
        assert_eq!(update(Some(&ok.document), json!({"state": {}}), 13).unwrap().document.version, 12);
    }

    #[test]
    fn a_tombstone_continues_its_version_with_an_empty_state() {
        let tomb = ShadowDocument { version: 4, timestamp: 5, deleted: true, ..Default::default() };
        assert_eq!(delete_answer(4, None, 1591057529), json!({"version": 4, "timestamp": 1591057529}));
        let out = update(Some(&tomb), json!({"state": {"reported": {"a": 1}}}), 6).unwrap();
        assert_eq!(out.document.version, 5);
        assert!(!out.document.deleted);
        assert_eq!(out.documents["previous"], Value::Null);
        assert_eq!(out.documents["current"]["version"], json!(5));
    }

    #[test]
    fn every_request_error_has_aws_code_and_message() {
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}});
        let cases: Vec<(&[u8], u16, &str)> = vec![
            (b"\xff\xfe", 415, "Unsupported documented encoding; supported encoding is UTF-8"),
            (b"{not json", 400, "Invalid JSON"),
            (b"[1, 2]", 400, "Invalid JSON"),
            (br#"{"clientToken": "x"}"#, 400, "Missing required node: state"),
            (br#"{"state": 1}"#, 400, "State node must be an object"),
            (br#"{"state": {"desired": 1}}"#, 400, "Desired node must be an object"),
            (br#"{"state": {"reported": [1]}}"#, 400, "Reported node must be an object"),
            (br#"{"state": {"delta": {}}}"#, 400, "State contains an invalid node"),
            (br#"{"state": {}, "version": "1"}"#, 400, "Invalid version"),
            (br#"{"state": {}, "version": -1}"#, 400, "Invalid version"),
            (br#"{"state": {}, "clientToken": 5}"#, 400, "Invalid clientToken"),
            (br#"{"state": {}, "version": 3}"#, 409, "Version conflict"),
        ];
        for (payload, code, message) in cases {
            let err = parse_request(payload).and_then(|r| apply_update(None, &r, 1, &LIMITS)).unwrap_err();
            assert_eq!(
                (err.code, err.message.as_str()),
                (code, message),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        let long = "t".repeat(65);
        let err = update(None, json!({"state": {}, "clientToken": long}), 1).unwrap_err();
        assert_eq!(err, ShadowError::invalid_client_token());
        assert!(update(None, json!({"state": {}, "clientToken": "t".repeat(64)}), 1).is_ok());
        let err = update(None, json!({"state": {"reported": deep}}), 1).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (400, "JSON contains too many levels of nesting; maximum is 6")
        );
        let big = json!({"state": {"desired": {"s": "x".repeat(9000)}}});
        let err = update(None, big, 1).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (413, "The payload exceeds the maximum size allowed"));
        assert_eq!(ShadowError::not_found("lamp").message, "No shadow exists with name: 'lamp'");
        assert_eq!(ShadowError::not_found("lamp").code, 404);
        assert_eq!(ShadowError::too_many_requests().code, 429);
        assert_eq!(ShadowError::unauthorized().code, 401);
        assert_eq!(ShadowError::forbidden().code, 403);
        assert_eq!(ShadowError::internal().message, "Internal service failure");
    }

    #[test]
    fn rest_exception_names_follow_botocore() {
        use iotemu_core::ServiceError;
        let cases = [
            (ShadowError::invalid_json(), "InvalidRequestException"),
            (ShadowError::not_found("x"), "ResourceNotFoundException"),
            (ShadowError::version_conflict(), "ConflictException"),
            (ShadowError::payload_too_large(), "RequestEntityTooLargeException"),
            (ShadowError::unsupported_encoding(), "UnsupportedDocumentEncodingException"),
            (ShadowError::too_many_requests(), "ThrottlingException"),
            (ShadowError::unauthorized(), "UnauthorizedException"),
            (ShadowError::internal(), "InternalFailureException"),
        ];
        for (err, name) in cases {
            assert_eq!(err.error_type(), name);
            assert_eq!(err.http_status(), err.code);
        }
    }

    #[test]
    fn nesting_allows_six_levels_of_objects() {
        let six = json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}});
        assert!(update(None, json!({"state": {"desired": six}}), 1).is_ok());
        // Arrays add no level.
        let six_in_array = json!({"a": [{"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}]});
        assert!(update(None, json!({"state": {"desired": six_in_array}}), 1).is_ok());
        let limits = Limits { max_depth: 2, ..LIMITS };
        let err = apply_update(
            None,
            &req(json!({"state": {"desired": {"a": {"b": {"c": {"d": 1}}}}}})),
            1,
            &limits,
        );
        assert_eq!(err.unwrap_err().message, "JSON contains too many levels of nesting; maximum is 2");
        // Far deeper than serde_json reads: the same answer, not a stack overflow.
        let deep =
            format!(r#"{{"state":{{"desired":{}1{}}}}}"#, r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
        let err = parse_request(deep.as_bytes()).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (400, "JSON contains too many levels of nesting; maximum is 6")
        );
    }

    #[test]
    fn size_counts_desired_and_reported_of_the_result_only() {
        let limits = Limits { max_document_bytes: 40, ..LIMITS };
        // {"k":"xxxxxxxxxx"} is 18 bytes.
        let ten = "x".repeat(10);
        let a = apply_update(None, &req(json!({"state": {"desired": {"k": ten}}})), 1, &limits).unwrap();
        assert_eq!(document_bytes(&a.document), 18);
        let b = apply_update(Some(&a.document), &req(json!({"state": {"reported": {"k": ten}}})), 2, &limits)
            .unwrap();
        assert_eq!(document_bytes(&b.document), 36, "metadata does not count");
        let err =
            apply_update(Some(&b.document), &req(json!({"state": {"reported": {"j": ten}}})), 3, &limits);
        assert_eq!(err.unwrap_err(), ShadowError::payload_too_large());
        // Removing fields brings it back under the limit.
        let c =
            apply_update(Some(&b.document), &req(json!({"state": {"reported": null}})), 4, &limits).unwrap();
        assert_eq!(document_bytes(&c.document), 18);
    }

    #[test]
    fn answers_echo_the_client_token() {
        assert_eq!(client_token_of(br#"{"clientToken": "abc"}"#), Some("abc".to_string()));
        assert_eq!(client_token_of(b""), None);
        assert_eq!(client_token_of(b"not json"), None);
        let long = format!(r#"{{"clientToken": "{}"}}"#, "t".repeat(65));
        assert_eq!(client_token_of(long.as_bytes()), None);
        let doc = update(None, json!({"state": {"reported": {"a": 1}}}), 1).unwrap().document;
        assert_eq!(get_document(&doc, Some("g"), 2)["clientToken"], json!("g"));
        assert_eq!(delete_answer(1, Some("d"), 2), json!({"version": 1, "timestamp": 2, "clientToken": "d"}));
        assert_eq!(
            rejected(&ShadowError::invalid_json(), None, 3),
            json!({"code": 400, "message": "Invalid JSON", "timestamp": 3})
        );
    }

    #[test]
    fn names_follow_botocore() {
        assert!(check_thing_name("lamp-1:a_b").is_ok());
        assert!(check_thing_name(&"x".repeat(128)).is_ok());
        assert_eq!(check_thing_name(&"x".repeat(129)), Err(ShadowError::invalid_thing_name()));
        assert!(check_thing_name("").is_err());
        assert!(check_thing_name("a/b").is_err());
        assert!(check_shadow_name("$package").is_ok());
        assert!(check_shadow_name(&"s".repeat(64)).is_ok());
        assert_eq!(check_shadow_name(&"s".repeat(65)), Err(ShadowError::invalid_shadow_name()));
        assert!(check_shadow_name("a b").is_err());
    }

    #[test]
    fn the_document_round_trips_through_json() {
        let doc = update(None, json!({"state": {"desired": {"a": [1, {"b": 2}]}}}), 7).unwrap().document;
        let back: ShadowDocument = serde_json::from_value(serde_json::to_value(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
    }
}
