//! `iotemu check-entries`: validates JSON-lines log files (iotemu's, or entries exported from
//! CloudWatch) against the documented entries of [`Spec`].
//!
//! Each line must be one JSON object whose `eventType` (or LoRaWAN `event`) the spec knows. Its
//! common attributes must be there with their JSON types, a `timestamp` in AWS's format
//! (`YYYY-MM-DD HH:MM:SS.mmm`; RFC 3339 to the nanosecond for LoRaWAN), a lower-case UUID
//! `traceId`, a 12-digit `accountId` and a `logLevel` the spec gives for its `status`; a Failure
//! carries `reason` and `details`. For established entries, every required attribute must be
//! present with its type (and one of its documented values), and nothing else may be: an
//! attribute neither documented for the entry nor common is reported. `--require` names event
//! types of which at least one valid entry must appear.

use crate::spec::{Attribute, EntrySpec, LogGroup, Spec};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead};

/// What is wrong with an entry (or a file, or the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The line is not JSON (or not UTF-8).
    NotJson,
    /// The line is JSON but not an object.
    NotObject,
    /// No `eventType` (or `event`) string.
    NoEventType,
    /// An event type the spec does not know.
    UnknownEventType,
    /// A required attribute is absent.
    Missing,
    /// An attribute neither documented for the entry nor common.
    Extra,
    /// An attribute of the wrong JSON type.
    WrongType,
    /// A value outside the documented list (`protocol`, `status`, `disconnectReason`, ...).
    BadValue,
    /// `timestamp` not in AWS's format.
    BadTimestamp,
    /// `traceId` not a lower-case UUID.
    BadTraceId,
    /// `accountId` not 12 digits.
    BadAccountId,
    /// `logLevel` not one the spec gives for the entry's `status`.
    LevelMismatch,
    /// A `status` the entry never has (a Success RuleNotFound).
    UnexpectedStatus,
    /// A Failure without its `reason` or `details`.
    FailureWithoutReason,
    /// A file with no entry at all.
    NoEntries,
    /// A `--require`d event type of which no valid entry appeared.
    RequiredNotSeen,
}

/// One problem, where it was found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub event_type: Option<String>,
    pub kind: ProblemKind,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            _ => {}
        }
        if let Some(event) = &self.event_type {
            write!(f, "{event}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: usize,
    pub entries: usize,
    /// Valid entries by event type.
    pub valid: BTreeMap<String, usize>,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line per problem, then a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for problem in &self.problems {
            out.push_str(&problem.to_string());
            out.push('\n');
        }
        let valid: Vec<String> = self.valid.iter().map(|(k, n)| format!("{k}={n}")).collect();
        out.push_str(&format!(
            "{} entries in {} file(s), {} problem(s); valid: {}\n",
            self.entries,
            self.files,
            self.problems.len(),
            if valid.is_empty() { "none".to_string() } else { valid.join(", ") }
        ));
        out
    }

    /// The machine-readable report.
    pub fn to_json(&self) -> Value {
        json!({
            "clean": self.is_clean(),
            "files": self.files,
            "entries": self.entries,
            "valid": self.valid,
            "problems": self.problems,
        })
    }
}

/// Checks entries one by one and keeps the report.
pub struct Checker<'s> {
    spec: &'s Spec,
    required: Vec<String>,
    report: Report,
}

impl<'s> Checker<'s> {
    /// A checker that also requires a valid entry of each of `required`; an event type the
    /// spec does not know is an error.
    pub fn new(spec: &'s Spec, required: &[String]) -> Result<Self, String> {
        for name in required {
            if spec.entry(name).is_none() {
                return Err(format!("--require {name}: not a documented event type"));
            }
        }
        Ok(Checker { spec, required: required.to_vec(), report: Report::default() })
    }

    /// Checks every line of one file.
    pub fn check_reader(&mut self, file: &str, mut reader: impl BufRead) -> io::Result<()> {
        self.report.files += 1;
        let before = self.report.entries;
        let mut buf = Vec::new();
        let mut number = 0;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            number += 1;
            match std::str::from_utf8(&buf) {
                Ok(text) => self.check_line(file, number, text),
                Err(_) => {
                    self.report.entries += 1;
                    self.push(file, Some(number), None, ProblemKind::NotJson, "not UTF-8".into());
                }
            }
        }
        if self.report.entries == before {
            self.push(file, None, None, ProblemKind::NoEntries, "no log entries".into());
        }
        Ok(())
    }

    /// Checks one line (blank lines are skipped).
    pub fn check_line(&mut self, file: &str, number: usize, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.report.entries += 1;
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => {
                return self.push(file, Some(number), None, ProblemKind::NotJson, format!("not JSON: {e}"))
            }
        };
        let (name, problems) = check_entry(self.spec, &value);
        if problems.is_empty() {
            if let Some(name) = &name {
                *self.report.valid.entry(name.clone()).or_default() += 1;
            }
        }
        for (kind, message) in problems {
            self.push(file, Some(number), name.clone(), kind, message);
        }
    }

    /// The report, with the `--require`d types that never appeared valid.
    pub fn finish(mut self) -> Report {
        for name in std::mem::take(&mut self.required) {
            if !self.report.valid.contains_key(&name) {
                let message = format!("no valid {name} entry was seen");
                self.report.problems.push(Problem {
                    file: None,
                    line: None,
                    event_type: Some(name),
                    kind: ProblemKind::RequiredNotSeen,
                    message,
                });
            }
        }
        self.report
    }

    fn push(
        &mut self,
        file: &str,
        line: Option<usize>,
        event: Option<String>,
        kind: ProblemKind,
        message: String,
    ) {
        self.report.problems.push(Problem {
            file: Some(file.to_string()),
            line,
            event_type: event,
            kind,
            message,
        });
    }
}

/// The event type of one parsed entry and its problems (none when it is valid).
pub fn check_entry(spec: &Spec, value: &Value) -> (Option<String>, Vec<(ProblemKind, String)>) {
    let Some(entry) = value.as_object() else {
        return (None, vec![(ProblemKind::NotObject, "not a JSON object".into())]);
    };
    let Some((group, name)) = identify(spec, entry) else {
        return (None, vec![(ProblemKind::NoEventType, "no eventType (or LoRaWAN event) string".into())]);
    };
    let Some(documented) = spec.entry(name).filter(|e| e.log_group == group.name) else {
        let problem = format!("{} {name:?} is not documented", group.type_attribute);
        return (Some(name.to_string()), vec![(ProblemKind::UnknownEventType, problem)]);
    };
    let mut problems = Vec::new();
    Check { group, entry: documented, value: entry, problems: &mut problems }.run();
    (Some(name.to_string()), problems)
}

/// The log group and event type of an entry: `eventType` names AWSIotLogsV2 entries, `event`
/// those of LoRaWAN.
fn identify<'s, 'v>(spec: &'s Spec, entry: &'v Map<String, Value>) -> Option<(&'s LogGroup, &'v str)> {
    let mut fallback = None;
    for group in &spec.log_groups {
        if let Some(name) = entry.get(&group.type_attribute).and_then(Value::as_str) {
            if spec.entry(name).is_some_and(|e| e.log_group == group.name) {
                return Some((group, name));
            }
            fallback.get_or_insert((group, name));
        }
    }
    fallback
}

/// The checks of one entry.
struct Check<'a> {
    group: &'a LogGroup,
    entry: &'a EntrySpec,
    value: &'a Map<String, Value>,
    problems: &'a mut Vec<(ProblemKind, String)>,
}

impl Check<'_> {
    fn run(&mut self) {
        let status = self.value.get("status").and_then(Value::as_str);
        let failure = status == Some("Failure");
        for (name, attribute) in self.group.attributes.iter() {
            let optional = self.entry.optional_common.iter().any(|c| c == name);
            self.attribute(name, attribute, attribute.required && !optional);
        }
        self.timestamp();
        self.trace_id();
        self.account_id();
        self.level(status);
        if failure {
            for name in &self.entry.failure_requires {
                let given =
                    self.value.get(name).and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty());
                if !given {
                    let problem = format!("a Failure without {name}");
                    self.problems.push((ProblemKind::FailureWithoutReason, problem));
                }
            }
        }
        for (name, attribute) in self.group.failure_attributes.iter() {
            let listed = self.entry.established && self.entry.attributes.get(name).is_some();
            if (failure || self.entry.attributes.get(name).is_some()) && !listed {
                self.attribute(name, attribute, false);
            }
        }
        if !self.entry.established {
            return;
        }
        for (name, attribute) in self.entry.attributes.iter() {
            // A Failure's missing reason or details is reported once, as such.
            let reported = failure && self.entry.failure_requires.iter().any(|r| r == name);
            self.attribute(name, attribute, attribute.required && !reported);
        }
        for name in self.value.keys() {
            let known = self.entry.attributes.get(name).is_some()
                || self.group.attributes.get(name).is_some()
                || (failure && self.group.failure_attributes.get(name).is_some());
            if !known {
                let problem = format!("{name} is not documented for {} (nor common)", self.entry.name);
                self.problems.push((ProblemKind::Extra, problem));
            }
        }
    }

    /// Presence, JSON type and documented values of one attribute.
    fn attribute(&mut self, name: &str, attribute: &Attribute, required: bool) {
        let Some(value) = self.value.get(name) else {
            if required {
                self.problems.push((ProblemKind::Missing, format!("missing {name}")));
            }
            return;
        };
        if !attribute.json_type.admits(value) {
            let problem = format!(
                "{name} is {}, documented as {}",
                crate::spec::JsonType::of(value),
                attribute.json_type
            );
            self.problems.push((ProblemKind::WrongType, problem));
            return;
        }
        if let (Some(text), false) = (value.as_str(), attribute.values.is_empty()) {
            if !attribute.values.iter().any(|v| v == text) {
                let problem = format!("{name} {text:?} is not one of {}", attribute.values.join(", "));
                self.problems.push((ProblemKind::BadValue, problem));
            }
        }
    }

    fn timestamp(&mut self) {
        let Some(text) = self.value.get("timestamp").and_then(Value::as_str) else { return };
        let ok =
            if self.group.type_attribute == "event" { is_rfc3339_utc(text) } else { is_aws_timestamp(text) };
        if !ok {
            let problem = format!("timestamp {text:?} is not {}", self.group.timestamp_format);
            self.problems.push((ProblemKind::BadTimestamp, problem));
        }
    }

    fn trace_id(&mut self) {
        let Some(text) = self.value.get("traceId").and_then(Value::as_str) else { return };
        if !is_lower_uuid(text) {
            self.problems
                .push((ProblemKind::BadTraceId, format!("traceId {text:?} is not a lower-case UUID")));
        }
    }

    fn account_id(&mut self) {
        let Some(text) = self.value.get("accountId").and_then(Value::as_str) else { return };
        if text.len() != 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
            self.problems.push((ProblemKind::BadAccountId, format!("accountId {text:?} is not 12 digits")));
        }
    }

    /// `logLevel` against the levels the spec gives for the entry's `status`.
    fn level(&mut self, status: Option<&str>) {
        let has_status = self.group.attributes.get("status").is_some();
        let status = if has_status {
            match status {
                Some(s @ ("Success" | "Failure")) => Some(s),
                _ => return, // already reported as missing or a bad value
            }
        } else {
            None
        };
        let allowed = self.entry.levels.for_status(status);
        if allowed.is_empty() {
            let problem =
                format!("status {} is not documented for {}", status.unwrap_or("-"), self.entry.name);
            self.problems.push((ProblemKind::UnexpectedStatus, problem));
            return;
        }
        let Some(level) = self.value.get("logLevel").and_then(Value::as_str) else { return };
        let known = self.group.attributes.get("logLevel").is_none_or(|a| a.values.iter().any(|v| v == level));
        if known && !allowed.iter().any(|l| l == level) {
            let of = status.map(|s| format!("a {s} ")).unwrap_or_default();
            let problem =
                format!("logLevel {level} for {of}{} (documented: {})", self.entry.name, allowed.join(", "));
            self.problems.push((ProblemKind::LevelMismatch, problem));
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm`, a real UTC date and time.
pub fn is_aws_timestamp(text: &str) -> bool {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
    );
    text.len() == 23
        && text.as_bytes()[0].is_ascii_digit()
        && time::PrimitiveDateTime::parse(text, format).is_ok()
}

/// RFC 3339 in UTC (`Z`) with at most nine fraction digits, as LoRaWAN entries have it.
pub fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shape = |i: usize, pattern: &[u8]| {
        pattern.iter().enumerate().all(|(k, p)| {
            bytes.get(i + k).is_some_and(|b| if *p == b'9' { b.is_ascii_digit() } else { b == p })
        })
    };
    if !shape(0, b"9999-99-99T99:99:99") || !text.ends_with('Z') {
        return false;
    }
    let fraction = &text[19..text.len() - 1];
    let fraction_ok = fraction.is_empty()
        || (fraction.starts_with('.')
            && (2..=10).contains(&fraction.len())
            && fraction[1..].bytes().all(|b| b.is_ascii_digit()));
    fraction_ok && time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok()
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower-case hex.
pub fn is_lower_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

#[cfg(test)]
mod tests;
