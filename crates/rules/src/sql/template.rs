//! Substitution templates (`iot-substitution-templates`): `${expression}` in a rule action's
//! fields, evaluated against the original message (not the SELECT's output).

use super::ast::{Expr, SqlVersion};
use super::eval::{evaluate_expr, Environment, EvalError, Message};
use super::parser::{parse_expression, SqlError};
use super::value::Val;

/// A parsed action field such as `${topic()}/republish`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    version: SqlVersion,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr(Expr),
}

impl Template {
    /// Parses the text; an invalid `${...}` is an error that points at it.
    pub fn parse(text: &str, version: SqlVersion) -> Result<Template, SqlError> {
        let mut parts = Vec::new();
        let mut rest_start = 0;
        while let Some(found) = text[rest_start..].find("${") {
            let open = rest_start + found;
            if open > rest_start {
                parts.push(Part::Text(text[rest_start..open].to_string()));
            }
            let start = open + 2;
            let Some(end) = closing_brace(&text[start..]).map(|e| start + e) else {
                return Err(SqlError::at(text, open, "Unterminated substitution template '${'"));
            };
            parts.push(Part::Expr(parse_expression(text, start, &text[start..end], version)?));
            rest_start = end + 1;
        }
        if rest_start < text.len() {
            parts.push(Part::Text(text[rest_start..].to_string()));
        }
        Ok(Template { parts, version })
    }

    /// Whether the text has any `${...}`.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The text with each expression's value: strings as they are, other values as JSON, and
    /// Undefined or Null as nothing.
    pub fn render(&self, msg: &Message, env: &dyn Environment) -> Result<String, EvalError> {
        // Room for most topics and URLs at once rather than growing per part.
        let mut out = String::with_capacity(64);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => match evaluate_expr(e, self.version, msg, env)? {
                    Val::Str(s) => out.push_str(&s),
                    v => {
                        if let Some(s) = v.to_str() {
                            out.push_str(&s);
                        }
                    }
                },
            }
        }
        Ok(out)
    }
}

/// The offset of the `}` that closes a `${`, skipping quoted strings and nested braces.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') if depth == 0 => return Some(i),
            (None, '}') => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sql::NoEnvironment;

    fn msg() -> Message {
        Message {
            topic: "my/iot/topic".into(),
            payload: json!({"deviceid":"iot123","temp":54.98,"coords":{"latitude":47.615694}})
                .to_string()
                .into(),
            client_id: Some("c1".into()),
            account_id: "123456789012".into(),
            timestamp_ms: 1579637878451,
            ..Message::default()
        }
    }

    #[test]
    fn renders_the_aws_example_and_more() {
        let v = SqlVersion::V2016_03_23;
        let cases = [
            ("${topic()}/republish", "my/iot/topic/republish"),
            ("device/${deviceid}", "device/iot123"),
            ("${coords.latitude}", "47.615694"),
            ("${coords}", r#"{"latitude":47.615694}"#),
            ("${missing}x", "x"),
            ("${parse_time('yyyy', timestamp(), 'UTC')}", "2020"),
            ("${get({'a': '}'}, 'a')}", "}"),
            ("plain text", "plain text"),
            ("a ${clientid()} b ${upper(deviceid)}", "a c1 b IOT123"),
        ];
        for (text, expected) in cases {
            let t = Template::parse(text, v).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(t.render(&msg(), &NoEnvironment).unwrap(), expected, "{text}");
        }
        assert!(Template::parse("plain", v).unwrap().is_static());
        assert!(!Template::parse("${a}", v).unwrap().is_static());
    }

    #[test]
    fn errors_point_into_the_template() {
        let v = SqlVersion::V2016_03_23;
        let cases = [
            ("x/${topic()", "Unterminated substitution template '${' at 1:3"),
            ("x/${topic(}", "Expected an expression but found end of statement at 1:11"),
            ("x/${topic(1 2)}", "Expected ',' or ')' but found '2' at 1:13"),
            ("x/${a b}", "Unexpected 'b' after the expression at 1:7"),
            ("${}", "Expected an expression but found end of statement at 1:3"),
        ];
        for (text, message) in cases {
            assert_eq!(Template::parse(text, v).unwrap_err().to_string(), message, "{text}");
        }
    }
}
