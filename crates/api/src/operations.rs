//! botocore's operations and name constraints (`model/`, extracted by `scripts/botocore_tables.py`):
//! which operation a REST request is, AWS's "1 validation error detected" answer for a name that
//! breaks the model's pattern or length, and UnknownOperationException for an operation iotemu
//! does not implement (docs/aws-behaviour.md §19).

use crate::ApiError;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const OPERATIONS: &str = include_str!("../model/operations.json");
const CONSTRAINTS: &str = include_str!("../model/constraints.json");

#[derive(Deserialize)]
struct Operations {
    services: BTreeMap<String, Service>,
}

#[derive(Deserialize)]
struct Service {
    model: String,
    operations: BTreeMap<String, Http>,
}

#[derive(Deserialize, Default)]
struct Http {
    method: Option<String>,
    uri: Option<String>,
}

#[derive(Deserialize)]
struct Constraints {
    services: BTreeMap<String, BTreeMap<String, BTreeMap<String, Constraint>>>,
}

/// One member's constraint in botocore's model.
#[derive(Deserialize)]
struct Constraint {
    pattern: Option<String>,
    min: Option<usize>,
    max: Option<usize>,
}

struct Tables {
    operations: Operations,
    constraints: Constraints,
    /// Patterns compiled whole (AWS matches the entire value).
    patterns: BTreeMap<String, Regex>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let operations: Operations = serde_json::from_str(OPERATIONS).expect("model/operations.json");
        let constraints: Constraints = serde_json::from_str(CONSTRAINTS).expect("model/constraints.json");
        let patterns = constraints
            .services
            .values()
            .flat_map(|ops| ops.values())
            .flat_map(|members| members.values())
            .filter_map(|c| c.pattern.clone())
            .filter_map(|p| Regex::new(&format!("^(?:{p})$")).ok().map(|r| (p, r)))
            .collect();
        Tables { operations, constraints, patterns }
    })
}

/// A REST request matched to a botocore operation: its name and URI labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    /// The URI labels (`{ruleName}` ...), percent-decoded.
    pub labels: Vec<(String, String)>,
}

/// The operation of `service` (SigV4 name) that `method` and `path` are, if botocore's model has
/// one (the operation whose URI template has the most literal segments wins).
pub fn operation(service: &str, method: &str, path: &str) -> Option<Operation> {
    let service = tables().operations.services.get(service)?;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut best: Option<(usize, Operation)> = None;
    for (name, http) in &service.operations {
        let (Some(m), Some(uri)) = (&http.method, &http.uri) else { continue };
        if !m.eq_ignore_ascii_case(method) {
            continue;
        }
        let template = uri.split('?').next().unwrap_or_default();
        if let Some((literals, labels)) = match_template(template, &segments) {
            if best.as_ref().is_none_or(|(l, _)| literals > *l) {
                best = Some((literals, Operation { name: name.clone(), labels }));
            }
        }
    }
    best.map(|(_, op)| op)
}

/// Matches path segments against a URI template: the number of literal segments, and the labels.
fn match_template(template: &str, segments: &[&str]) -> Option<(usize, Vec<(String, String)>)> {
    let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let mut labels = Vec::new();
    let mut literals = 0;
    for (i, part) in parts.iter().enumerate() {
        if let Some(label) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if let Some(greedy) = label.strip_suffix('+') {
                let rest = segments.get(i..).filter(|r| !r.is_empty())?.join("/");
                labels.push((greedy.to_string(), decode(&rest)));
                return Some((literals, labels));
            }
            let value = segments.get(i).filter(|s| !s.is_empty())?;
            labels.push((label.to_string(), decode(value)));
        } else if segments.get(i) == Some(part) {
            literals += 1;
        } else {
            return None;
        }
    }
    (parts.len() == segments.len()).then_some((literals, labels))
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Checks the URI labels of `op` against botocore's constraints: AWS's InvalidRequestException
/// "1 validation error detected: Value 'X' at 'ruleName' failed to satisfy constraint: Member
/// must satisfy regular expression pattern: ^[a-zA-Z0-9_]+$" (or the length forms).
pub fn validate(service: &str, op: &Operation) -> Result<(), ApiError> {
    let t = tables();
    let Some(members) = t.constraints.services.get(service).and_then(|s| s.get(&op.name)) else {
        return Ok(());
    };
    let mut errors = Vec::new();
    for (label, value) in &op.labels {
        let Some(c) = members.get(label) else { continue };
        let len = value.chars().count();
        let failed = if c.min.is_some_and(|min| len < min) {
            format!("Member must have length greater than or equal to {}", c.min.unwrap_or_default())
        } else if c.max.is_some_and(|max| len > max) {
            format!("Member must have length less than or equal to {}", c.max.unwrap_or_default())
        } else if let Some(p) =
            c.pattern.as_ref().filter(|p| t.patterns.get(*p).is_some_and(|r| !r.is_match(value)))
        {
            format!("Member must satisfy regular expression pattern: {p}")
        } else {
            continue;
        };
        errors.push(format!("Value '{value}' at '{label}' failed to satisfy constraint: {failed}"));
    }
    if errors.is_empty() {
        return Ok(());
    }
    let count = errors.len();
    let plural = if count == 1 { "" } else { "s" };
    Err(ApiError::invalid_request(format!(
        "{count} validation error{plural} detected: {}",
        errors.join("; ")
    )))
}

/// UnknownOperationException naming the operation: `iotemu does not implement iot:CreateDomainConfiguration`
/// (404 for a REST path, as the path is not served).
pub fn unknown_operation(service: &str, operation: Option<&str>, method: &str, path: &str) -> ApiError {
    let model = tables().operations.services.get(service).map_or(service, |s| s.model.as_str());
    let message = match operation {
        Some(op) => format!("iotemu does not implement {model}:{op}"),
        None => {
            format!("iotemu does not implement {method} {path} of {model}: botocore has no such operation")
        }
    };
    ApiError::new(404, "UnknownOperationException", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_matched_to_operations() {
        let op = operation("iot", "POST", "/rules/my_rule").unwrap();
        assert_eq!(op.name, "CreateTopicRule");
        assert_eq!(op.labels, vec![("ruleName".to_string(), "my_rule".to_string())]);
        assert_eq!(operation("iot", "GET", "/things/a%3Ab").unwrap().labels[0].1, "a:b");
        assert_eq!(operation("iot", "GET", "/things/t/principals").unwrap().name, "ListThingPrincipals");
        assert_eq!(operation("iot", "GET", "/no/such/path/here"), None);
    }

    #[test]
    fn names_are_checked_with_aws_wording() {
        let op = operation("iot", "POST", "/rules/bad-name").unwrap();
        assert_eq!(
            validate("iot", &op).unwrap_err().message,
            "1 validation error detected: Value 'bad-name' at 'ruleName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]+$"
        );
        let long = "t".repeat(129);
        let op = operation("iot", "POST", &format!("/things/{long}")).unwrap();
        assert!(validate("iot", &op)
            .unwrap_err()
            .message
            .ends_with("Member must have length less than or equal to 128"));
        assert!(validate("iot", &operation("iot", "POST", "/things/ok:name_1-2").unwrap()).is_ok());
    }
}
