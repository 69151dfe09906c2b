//! The IoT policy language: parsing a policy document and evaluating documents for one request
//! (`iot-policies.md`, `iot-policy-actions.md`, `iot-policy-variables.md`).
//!
//! Evaluation follows AWS: the union of the statements of every policy that applies; an
//! explicit `Deny` wins; without an `Allow` the request is denied. Resources match with `*`
//! (any run of characters, `/` included) and `?` (one character), case-sensitively; MQTT `+`
//! and `#` in a resource are plain characters. Action names match case-insensitively.
//!
//! Policy variables (`${iot:ClientId}` and the others in [`PolicyVariables`]) are replaced
//! before matching, and their values are literal text, never wildcards. A variable that cannot
//! be resolved leaves its resource (or condition value) unmatched, as AWS says: "no
//! substitution is made and authorization fails" (`cert-policy-variables.md`).
//!
//! Conditions: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase,
//! StringLike, StringNotLike, Bool and Null, each optionally `...IfExists`; keys are looked up
//! among the policy variables, case-insensitively. An operator the emulator does not know is
//! accepted in the document but never satisfied (a statement using it does not apply), and
//! documented as such in `docs/coverage.md`.

use serde_json::Value;

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    allow: bool,
    /// Lower-case action patterns, such as `iot:publish` or `iot:*`.
    actions: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    operator: String,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

/// The values of the policy variables for one request: `name` is the variable without `${}`,
/// such as `iot:ClientId` or `iot:Connection.Thing.Attributes[room]`, compared
/// case-insensitively by the implementor.
pub trait PolicyVariables {
    fn get(&self, name: &str) -> Option<String>;
}

/// The outcome of evaluating the policies for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A statement denies the request explicitly.
    ExplicitDeny,
    /// No statement allows it.
    ImplicitDeny,
}

impl PolicyDocument {
    /// Parses a document as CreatePolicy receives it; the error says what is wrong
    /// (MalformedPolicyException).
    pub fn parse(text: &str) -> Result<PolicyDocument, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("Policy document is not JSON: {e}"))?;
        let Value::Object(doc) = value else { return Err("Policy document must be a JSON object".into()) };
        for key in doc.keys() {
            if !["Version", "Statement", "Id"].contains(&key.as_str()) {
                return Err(format!("Policy document has an unknown element {key:?}"));
            }
        }
        // `Version` is optional, as in IAM, whose conventions IoT policies follow.
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(Value::String(v)) => {
                return Err(format!("Policy document has an unsupported Version {v:?}"))
            }
            _ => return Err("Policy document's Version must be a string such as \"2012-10-17\"".into()),
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items.iter().collect::<Vec<_>>(),
            Some(item @ Value::Object(_)) => vec![item],
            _ => return Err("Policy document must have a non-empty Statement".into()),
        };
        let statements = statements.into_iter().map(parse_statement).collect::<Result<_, _>>()?;
        Ok(PolicyDocument { statements })
    }

    /// Evaluates `docs` together for `action` (such as `iot:Publish`) on the ARN `resource`.
    pub fn evaluate<'a>(
        docs: impl IntoIterator<Item = &'a PolicyDocument>,
        action: &str,
        resource: &str,
        vars: &dyn PolicyVariables,
    ) -> Decision {
        let action = action.to_ascii_lowercase();
        let mut allowed = false;
        for statement in docs.into_iter().flat_map(|d| &d.statements) {
            if !statement.applies(&action, resource, vars) {
                continue;
            }
            if !statement.allow {
                return Decision::ExplicitDeny;
            }
            allowed = true;
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

fn parse_statement(value: &Value) -> Result<Statement, String> {
    let Value::Object(s) = value else { return Err("Each Statement must be a JSON object".into()) };
    for key in s.keys() {
        if !["Sid", "Effect", "Action", "Resource", "Condition"].contains(&key.as_str()) {
            return Err(format!("Statement element {key:?} is not supported in AWS IoT policies"));
        }
    }
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err("Statement Effect must be \"Allow\" or \"Deny\"".into()),
    };
    let actions = strings(s.get("Action"), "Action")?.into_iter().map(|a| a.to_ascii_lowercase()).collect();
    let resources = strings(s.get("Resource"), "Resource")?;
    let mut conditions = Vec::new();
    if let Some(block) = s.get("Condition") {
        let Value::Object(operators) = block else { return Err("Condition must be a JSON object".into()) };
        for (operator, keys) in operators {
            let Value::Object(keys) = keys else {
                return Err(format!("Condition {operator} must map keys to values"));
            };
            let (operator, if_exists) = match operator.strip_suffix("IfExists") {
                Some(base) => (base.to_string(), true),
                None => (operator.clone(), false),
            };
            for (key, values) in keys {
                let values = match values {
                    Value::String(v) => vec![v.clone()],
                    Value::Bool(b) => vec![b.to_string()],
                    Value::Number(n) => vec![n.to_string()],
                    Value::Array(_) => strings(Some(values), "Condition value")?,
                    _ => return Err(format!("Condition value of {key} must be a string or a list")),
                };
                // Keys keep their case: attribute names inside them are case-sensitive; the
                // variables' lookup ignores the case of the rest.
                conditions.push(Condition {
                    operator: operator.clone(),
                    if_exists,
                    key: key.clone(),
                    values,
                });
            }
        }
    }
    Ok(Statement { allow, actions, resources, conditions })
}

/// A string or a non-empty list of strings.
fn strings(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("{what} must hold strings")))
            .collect(),
        _ => Err(format!("Statement must have an {what} (a string or a list of strings)")),
    }
}

impl Statement {
    fn applies(&self, action: &str, resource: &str, vars: &dyn PolicyVariables) -> bool {
        self.actions.iter().any(|pattern| glob(&[Part::Pattern(pattern)], action))
            && self
                .resources
                .iter()
                .any(|pattern| substitute(pattern, vars).is_some_and(|parts| glob(&parts, resource)))
            && self.conditions.iter().all(|c| c.holds(vars))
    }
}

impl Condition {
    fn holds(&self, vars: &dyn PolicyVariables) -> bool {
        let Some(actual) = vars.get(&self.key) else {
            return match self.operator.as_str() {
                "Null" => self.values.iter().any(|v| v.eq_ignore_ascii_case("true")),
                _ => self.if_exists,
            };
        };
        let expected = || self.values.iter().filter_map(|v| substitute(v, vars));
        let literal = |parts: Vec<Part>| parts.iter().map(Part::text).collect::<String>();
        match self.operator.as_str() {
            "StringEquals" => expected().any(|p| literal(p) == actual),
            "StringNotEquals" => !expected().any(|p| literal(p) == actual),
            "StringEqualsIgnoreCase" => expected().any(|p| literal(p).eq_ignore_ascii_case(&actual)),
            "StringNotEqualsIgnoreCase" => !expected().any(|p| literal(p).eq_ignore_ascii_case(&actual)),
            "StringLike" => expected().any(|p| glob(&p, &actual)),
            "StringNotLike" => !expected().any(|p| glob(&p, &actual)),
            "Bool" => self.values.iter().any(|v| v.eq_ignore_ascii_case(&actual)),
            "Null" => self.values.iter().any(|v| v.eq_ignore_ascii_case("false")),
            _ => false,
        }
    }
}

/// A piece of a pattern after variable substitution.
#[derive(Debug, Clone)]
enum Part<'a> {
    /// Policy text, where `*` and `?` are wildcards.
    Pattern(&'a str),
    /// A variable's value, matched literally.
    Literal(String),
}

impl Part<'_> {
    fn text(&self) -> &str {
        match self {
            Part::Pattern(s) => s,
            Part::Literal(s) => s,
        }
    }
}

/// Splits `pattern` at its `${...}` variables and resolves them; `None` when one cannot be.
fn substitute<'a>(pattern: &'a str, vars: &dyn PolicyVariables) -> Option<Vec<Part<'a>>> {
    if !pattern.contains("${") {
        return Some(vec![Part::Pattern(pattern)]);
    }
    let mut parts = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}')? + start;
        parts.push(Part::Pattern(&rest[..start]));
        let value = vars.get(&rest[start + 2..end])?;
        parts.push(Part::Literal(value));
        rest = &rest[end + 1..];
    }
    parts.push(Part::Pattern(rest));
    Some(parts)
}

/// Matches `text` against the concatenation of `parts`: `*` and `?` are wildcards inside
/// [`Part::Pattern`] pieces only.
fn glob(parts: &[Part<'_>], text: &str) -> bool {
    // One token per character: None = `*`, Some(None) = `?`, Some(Some(c)) = literal.
    let mut tokens: Vec<Option<Option<char>>> = Vec::new();
    for part in parts {
        match part {
            Part::Literal(s) => tokens.extend(s.chars().map(|c| Some(Some(c)))),
            Part::Pattern(s) => tokens.extend(s.chars().map(|c| match c {
                '*' => None,
                '?' => Some(None),
                c => Some(Some(c)),
            })),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Some(None)) => {
                t += 1;
                p += 1;
            }
            Some(Some(Some(c))) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(None) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(Option::is_none)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<String, String>);

    impl PolicyVariables for Vars {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(&name.to_ascii_lowercase()).cloned()
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars(pairs.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect())
    }

    const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

    fn decide(doc: &str, action: &str, resource: &str, v: &Vars) -> Decision {
        let doc = PolicyDocument::parse(doc).expect("valid policy");
        PolicyDocument::evaluate([&doc], action, &format!("{ARN}:{resource}"), v)
    }

    #[test]
    fn wildcards_and_default_deny() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish",
            "Resource":"arn:aws:iot:us-east-1:123456789012:topic/room/?/temp*"}]}"#;
        let v = vars(&[]);
        assert_eq!(decide(doc, "iot:Publish", "topic/room/1/temperature", &v), Decision::Allow);
        assert_eq!(decide(doc, "iot:publish", "topic/room/1/temp", &v), Decision::Allow);
        assert_eq!(decide(doc, "iot:Publish", "topic/room/12/temp", &v), Decision::ImplicitDeny);
        assert_eq!(decide(doc, "iot:Receive", "topic/room/1/temp", &v), Decision::ImplicitDeny);
    }

    #[test]
    fn explicit_deny_wins_over_allow() {
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"iot:*","Resource":"*"},
            {"Effect":"Deny","Action":["iot:Subscribe"],"Resource":["arn:aws:iot:*:*:topicfilter/secret/#"]}]}"#;
        let v = vars(&[]);
        assert_eq!(decide(doc, "iot:Subscribe", "topicfilter/secret/#", &v), Decision::ExplicitDeny);
        assert_eq!(decide(doc, "iot:Subscribe", "topicfilter/secret/+", &v), Decision::Allow, "# is literal");
    }

    #[test]
    fn variables_are_literal_and_unresolved_ones_match_nothing() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect",
            "Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"}]}"#;
        let v = vars(&[("iot:Connection.Thing.ThingName", "lamp*")]);
        assert_eq!(decide(doc, "iot:Connect", "client/lamp*", &v), Decision::Allow);
        assert_eq!(
            decide(doc, "iot:Connect", "client/lamp-1", &v),
            Decision::ImplicitDeny,
            "value is literal"
        );
        assert_eq!(decide(doc, "iot:Connect", "client/lamp*", &vars(&[])), Decision::ImplicitDeny);
    }

    #[test]
    fn conditions() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect",
            "Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"},
            "StringLike":{"iot:ClientId":["lamp-*","fan-?"]}}}]}"#;
        let attached = |id: &str| vars(&[("iot:Connection.Thing.IsAttached", "true"), ("iot:ClientId", id)]);
        assert_eq!(decide(doc, "iot:Connect", "client/x", &attached("lamp-9")), Decision::Allow);
        assert_eq!(decide(doc, "iot:Connect", "client/x", &attached("fan-10")), Decision::ImplicitDeny);
        let detached = vars(&[("iot:Connection.Thing.IsAttached", "false"), ("iot:ClientId", "lamp-9")]);
        assert_eq!(decide(doc, "iot:Connect", "client/x", &detached), Decision::ImplicitDeny);
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "not json",
            "[]",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Version":"2012-10-17","Statement":[]}"#,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"iot:*","Resource":"*"}]}"#,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","NotResource":"*"}]}"#,
        ] {
            assert!(PolicyDocument::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deeply_nested_documents_are_refused_without_exhausting_the_stack() {
        // serde_json reads at most 128 levels; nothing here recurses further.
        let condition = format!(
            r#"{{"StringEquals":{{"iot:ClientId":{}"x"{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{condition}}}]}}"#
        );
        let err = PolicyDocument::parse(&doc).unwrap_err();
        assert!(err.contains("recursion limit exceeded"), "{err}");
    }
}
