//! The log entries AWS IoT documents, as data: the JSON files of the repository's `spec/`
//! folder (its `README.md` describes the format), embedded at build time so that the binary
//! carries them wherever it runs.
//!
//! [`Spec::aws`] is the parsed spec. For each entry it gives its log group, the log level(s) of
//! each `status`, its attributes (JSON type, whether required, allowed values, a one-line
//! meaning) and AWS's documented example. Entries AWS lists without documenting their fields
//! are marked not [`established`](EntrySpec::established): only their common attributes are
//! checked. [`crate::check`] validates log lines against it.

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::fmt;
use std::sync::OnceLock;

/// `spec/common.json`: the log groups and their common attributes.
const COMMON: &str = include_str!("../../../spec/common.json");

/// One file per AWS component.
const COMPONENTS: &[(&str, &str)] = &[
    ("broker.json", include_str!("../../../spec/broker.json")),
    ("shadow.json", include_str!("../../../spec/shadow.json")),
    ("rules.json", include_str!("../../../spec/rules.json")),
    ("jobs.json", include_str!("../../../spec/jobs.json")),
    ("provisioning.json", include_str!("../../../spec/provisioning.json")),
    ("dynamic-groups.json", include_str!("../../../spec/dynamic-groups.json")),
    ("lorawan.json", include_str!("../../../spec/lorawan.json")),
];

/// The JSON type of an attribute. `integer` is a number without a fraction; `number` admits
/// integers too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

impl JsonType {
    /// The type of a value (`integer` for whole numbers).
    pub fn of(value: &Value) -> JsonType {
        match value {
            Value::String(_) => JsonType::String,
            Value::Number(n) if n.is_i64() || n.is_u64() => JsonType::Integer,
            Value::Number(_) => JsonType::Number,
            Value::Bool(_) => JsonType::Boolean,
            Value::Object(_) => JsonType::Object,
            Value::Array(_) => JsonType::Array,
            Value::Null => JsonType::Null,
        }
    }

    /// Whether `value` is of this type.
    pub fn admits(self, value: &Value) -> bool {
        let actual = JsonType::of(value);
        actual == self || (self == JsonType::Number && actual == JsonType::Integer)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::Null => "null",
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attribute of an entry or of a log group.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    #[serde(rename = "type")]
    pub json_type: JsonType,
    /// Whether every entry has it (failure attributes: see [`EntrySpec::failure_requires`]).
    #[serde(default)]
    pub required: bool,
    /// The only values AWS documents, when it documents a closed list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// What it means, in one line.
    pub meaning: String,
}

/// Attributes in the order the spec lists them (AWS's example order).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Attributes(pub Vec<(String, Attribute)>);

impl Attributes {
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Attribute)> {
        self.0.iter().map(|(n, a)| (n.as_str(), a))
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of attributes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut out = Vec::new();
                while let Some((name, attribute)) = map.next_entry::<String, Attribute>()? {
                    out.push((name, attribute));
                }
                Ok(Attributes(out))
            }
        }
        d.deserialize_map(Ordered)
    }
}

/// A log group and what all of its entries carry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogGroup {
    #[serde(skip_deserializing)]
    pub name: String,
    pub meaning: String,
    /// The attribute that names the entry: `eventType`, or `event` for LoRaWAN.
    pub type_attribute: String,
    /// The `timestamp` format, in words.
    pub timestamp_format: String,
    /// The common attributes.
    pub attributes: Attributes,
    /// What a Failure entry adds (`reason`, `details`); none for groups without `status`.
    #[serde(default)]
    pub failure_attributes: Attributes,
}

/// The log levels an entry is written at, by `status` (`any` for groups without one).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    #[serde(rename = "Success", default, skip_serializing_if = "Vec::is_empty")]
    pub success: Vec<String>,
    #[serde(rename = "Failure", default, skip_serializing_if = "Vec::is_empty")]
    pub failure: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<String>,
}

impl Levels {
    /// The levels documented for an entry of `status` (`None` for groups without status);
    /// empty when the entry has no such status.
    pub fn for_status(&self, status: Option<&str>) -> &[String] {
        let specific = match status {
            Some("Success") => &self.success,
            Some("Failure") => &self.failure,
            _ => &self.any,
        };
        if specific.is_empty() && self.success.is_empty() && self.failure.is_empty() {
            &self.any
        } else {
            specific
        }
    }
}

/// One documented entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntrySpec {
    /// Its `eventType` (or LoRaWAN `event`).
    pub name: String,
    pub component: String,
    pub log_group: String,
    pub meaning: String,
    /// False for entries AWS lists without documenting their fields: only the common
    /// attributes are checked, and `attributes` are our presumption.
    pub established: bool,
    /// Common attributes AWS's example leaves out (so an entry may too).
    pub optional_common: Vec<String>,
    /// The failure attributes a Failure entry must carry.
    pub failure_requires: Vec<String>,
    pub levels: Levels,
    pub attributes: Attributes,
    /// AWS's documented example, verbatim.
    pub example: Option<Value>,
    pub note: Option<String>,
}

/// The whole spec.
#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    pub log_groups: Vec<LogGroup>,
    pub entries: Vec<EntrySpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CommonFile {
    #[allow(dead_code)]
    about: String,
    #[allow(dead_code)]
    source: String,
    log_groups: RawGroups,
}

/// Log groups in file order.
struct RawGroups(Vec<(String, LogGroup)>);

impl<'de> Deserialize<'de> for RawGroups {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = RawGroups;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of log groups")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawGroups, A::Error> {
                let mut out = Vec::new();
                while let Some((name, group)) = map.next_entry::<String, LogGroup>()? {
                    out.push((name, group));
                }
                Ok(RawGroups(out))
            }
        }
        d.deserialize_map(Ordered)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ComponentFile {
    component: String,
    #[allow(dead_code)]
    source: String,
    log_group: String,
    entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawEntry {
    event_type: Option<String>,
    event: Option<String>,
    meaning: String,
    #[serde(default = "yes")]
    established: bool,
    #[serde(default)]
    optional_common: Vec<String>,
    failure_requires: Option<Vec<String>>,
    levels: Levels,
    attributes: Attributes,
    example: Option<Value>,
    note: Option<String>,
}

fn yes() -> bool {
    true
}

impl Spec {
    /// The spec embedded from `spec/` (parsed once; its unit tests prove it parses).
    pub fn aws() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| {
            Spec::parse(COMMON, COMPONENTS).unwrap_or_else(|e| panic!("the embedded spec/ is invalid: {e}"))
        })
    }

    /// Parses `common.json` and the component files, and checks that they agree.
    pub fn parse(common: &str, components: &[(&str, &str)]) -> Result<Spec, String> {
        let common: CommonFile = serde_json::from_str(common).map_err(|e| format!("common.json: {e}"))?;
        let log_groups: Vec<LogGroup> =
            common.log_groups.0.into_iter().map(|(name, group)| LogGroup { name, ..group }).collect();
        let mut entries: Vec<EntrySpec> = Vec::new();
        for (file, text) in components {
            let parsed: ComponentFile = serde_json::from_str(text).map_err(|e| format!("{file}: {e}"))?;
            let group = log_groups
                .iter()
                .find(|g| g.name == parsed.log_group)
                .ok_or_else(|| format!("{file}: unknown log group {}", parsed.log_group))?;
            for raw in parsed.entries {
                let (name, key) = match (raw.event_type, raw.event) {
                    (Some(name), None) => (name, "eventType"),
                    (None, Some(name)) => (name, "event"),
                    _ => return Err(format!("{file}: an entry needs exactly one of eventType and event")),
                };
                if key != group.type_attribute {
                    return Err(format!(
                        "{file}: {name} is named by {key}, its log group by {}",
                        group.type_attribute
                    ));
                }
                if entries.iter().any(|e| e.name == name) {
                    return Err(format!("{file}: {name} is specified twice"));
                }
                for common in &raw.optional_common {
                    if group.attributes.get(common).is_none() {
                        return Err(format!(
                            "{file}: {name}: optionalCommon {common} is not a common attribute"
                        ));
                    }
                }
                let failure_requires = raw
                    .failure_requires
                    .unwrap_or_else(|| group.failure_attributes.0.iter().map(|(n, _)| n.clone()).collect());
                entries.push(EntrySpec {
                    name,
                    component: parsed.component.clone(),
                    log_group: group.name.clone(),
                    meaning: raw.meaning,
                    established: raw.established,
                    optional_common: raw.optional_common,
                    failure_requires,
                    levels: raw.levels,
                    attributes: raw.attributes,
                    example: raw.example,
                    note: raw.note,
                });
            }
        }
        Ok(Spec { log_groups, entries })
    }

    /// The entry named `name` (`eventType`, or LoRaWAN `event`).
    pub fn entry(&self, name: &str) -> Option<&EntrySpec> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn log_group(&self, name: &str) -> Option<&LogGroup> {
        self.log_groups.iter().find(|g| g.name == name)
    }

    /// AWS's example of `name`; panics if the spec has none (for tests).
    pub fn example(&self, name: &str) -> Value {
        self.entry(name).and_then(|e| e.example.clone()).unwrap_or_else(|| panic!("no example of {name}"))
    }
}
