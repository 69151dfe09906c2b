//! The intrinsic functions and `Ref` (`provision-template.md`, "Intrinsic functions"), with the
//! depth and output limits of the module doc. [`check_calls`] checks their shape when a template
//! is created; [`Evaluator`] runs them.

use super::{
    as_call, too_deep, Inputs, ParamType, Template, TemplateError, FUNCTIONS, MAX_DEPTH, MAX_OUTPUT_BYTES,
};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::collections::BTreeMap;

fn invalid(function: &str, what: &str) -> TemplateError {
    TemplateError::invalid(format!("{function} takes {what}"))
}

/// Checks the shape of every function call in `value` (CreateProvisioningTemplate).
pub(crate) fn check_calls(value: &Value, depth: usize) -> Result<(), TemplateError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    let Some((name, arg)) = as_call(value) else {
        return match value {
            Value::Array(items) => items.iter().try_for_each(|v| check_calls(v, depth + 1)),
            Value::Object(map) => map.values().try_for_each(|v| check_calls(v, depth + 1)),
            _ => Ok(()),
        };
    };
    let args = |n: usize, what: &str| -> Result<&Vec<Value>, TemplateError> {
        match arg.as_array() {
            Some(items) if items.len() == n => Ok(items),
            _ => Err(invalid(name, what)),
        }
    };
    let children: Vec<&Value> = match name {
        "Ref" => {
            return arg.is_string().then_some(()).ok_or_else(|| invalid("Ref", "the name of a parameter"));
        }
        "Fn::Join" => args(2, "[delimiter, [values]]")?.iter().collect(),
        "Fn::Select" => args(2, "[index, [values]]")?.iter().collect(),
        "Fn::Split" => args(2, "[delimiter, string]")?.iter().collect(),
        "Fn::FindInMap" => args(3, "[MapName, TopLevelKey, SecondLevelKey]")?.iter().collect(),
        "Fn::Sub" => match arg {
            Value::String(text) => {
                sub_names(text)?;
                return Ok(());
            }
            Value::Array(items) if items.len() == 2 && items[0].is_string() && items[1].is_object() => {
                sub_names(items[0].as_str().unwrap_or_default())?;
                items[1].as_object().map(|m| m.values().collect()).unwrap_or_default()
            }
            _ => return Err(invalid("Fn::Sub", "a string, or [string, {variables}]")),
        },
        other => {
            return Err(TemplateError::invalid(format!(
                "{other} is not an intrinsic function of provisioning templates (they are Ref, {})",
                FUNCTIONS.join(", ")
            )))
        }
    };
    children.into_iter().try_for_each(|child| check_calls(child, depth + 1))
}

/// One piece of an `Fn::Sub` string.
#[derive(Debug, PartialEq, Eq)]
enum SubPart<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits an `Fn::Sub` string into text and `${name}` variables (`${!x}` is the text `${x}`).
fn sub_names(text: &str) -> Result<Vec<SubPart<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        parts.push(SubPart::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end =
            after.find('}').ok_or_else(|| invalid("Fn::Sub", "a string whose every ${ is closed by }"))?;
        let name = &after[..end];
        if let Some(literal) = name.strip_prefix('!') {
            parts.push(SubPart::Text("${"));
            parts.push(SubPart::Text(literal));
            parts.push(SubPart::Text("}"));
        } else if name.is_empty() {
            return Err(invalid("Fn::Sub", "variables with a name: ${} is empty"));
        } else {
            parts.push(SubPart::Var(name));
        }
        rest = &after[end + 1..];
    }
    parts.push(SubPart::Text(rest));
    Ok(parts)
}

/// A parameter's value as its type makes it: a string, or for the list types a list of strings.
pub(crate) fn typed_value(name: &str, ty: ParamType, text: &str) -> Result<Value, TemplateError> {
    let number = |s: &str| -> Result<(), TemplateError> {
        s.trim()
            .parse::<f64>()
            .map(|_| ())
            .map_err(|_| TemplateError::evaluation(format!("Parameter {name} must be a number, not {s:?}")))
    };
    Ok(match ty {
        ParamType::String => Value::String(text.to_string()),
        ParamType::Number => {
            number(text)?;
            Value::String(text.to_string())
        }
        ParamType::CommaDelimitedList | ParamType::NumberList => {
            let items: Vec<&str> = text.split(',').map(str::trim).collect();
            if ty == ParamType::NumberList {
                items.iter().try_for_each(|item| number(item))?;
            }
            Value::Array(items.into_iter().map(|s| Value::String(s.to_string())).collect())
        }
    })
}

/// Evaluates values of one template with one request's inputs.
pub(crate) struct Evaluator<'a> {
    template: &'a Template,
    inputs: &'a Inputs<'a>,
    /// The declared parameters, resolved.
    declared: BTreeMap<&'a str, Value>,
    /// Bytes of strings produced so far.
    produced: Cell<usize>,
}

impl<'a> Evaluator<'a> {
    /// Resolves the declared parameters (every one must have a value).
    pub fn new(template: &'a Template, inputs: &'a Inputs<'a>) -> Result<Self, TemplateError> {
        let mut declared = BTreeMap::new();
        for (name, parameter) in &template.parameters {
            let text = inputs
                .pseudo
                .get(name)
                .or_else(|| inputs.parameters.get(name))
                .or(parameter.default.as_ref())
                .ok_or_else(|| TemplateError::evaluation(format!("Parameter {name} has no value")))?;
            declared.insert(name.as_str(), typed_value(name, parameter.ty, text)?);
        }
        Ok(Evaluator { template, inputs, declared, produced: Cell::new(0) })
    }

    /// Counts `bytes` against [`MAX_OUTPUT_BYTES`].
    fn spend(&self, bytes: usize) -> Result<(), TemplateError> {
        let total = self.produced.get().saturating_add(bytes);
        self.produced.set(total);
        if total > MAX_OUTPUT_BYTES {
            return Err(TemplateError::evaluation(format!(
                "The template's values exceed {MAX_OUTPUT_BYTES} bytes when evaluated"
            )));
        }
        Ok(())
    }

    fn string(&self, s: String) -> Result<Value, TemplateError> {
        self.spend(s.len())?;
        Ok(Value::String(s))
    }

    /// `Ref`: see the module doc for the order.
    fn reference(&self, name: &str) -> Result<Value, TemplateError> {
        let value = match self.declared.get(name) {
            Some(v) => v.clone(),
            None => match self.inputs.pseudo.get(name).or_else(|| self.inputs.parameters.get(name)) {
                Some(text) => Value::String(text.clone()),
                None => {
                    return Err(TemplateError::evaluation(format!(
                        "Ref {name}: no parameter or pseudo-parameter of that name has a value"
                    )))
                }
            },
        };
        self.spend(value.as_str().map_or(0, str::len))?;
        Ok(value)
    }

    /// Evaluates every function call in `value`.
    pub fn value(&self, value: &Value, depth: usize) -> Result<Value, TemplateError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        if let Some((name, arg)) = as_call(value) {
            return self.call(name, arg, depth + 1);
        }
        Ok(match value {
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.value(v, depth + 1)).collect::<Result<_, _>>()?)
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.value(v, depth + 1)?);
                }
                Value::Object(out)
            }
            Value::String(s) => self.string(s.clone())?,
            other => other.clone(),
        })
    }

    /// Evaluates `value` to a string (numbers are written as text).
    pub fn text(&self, value: &Value, depth: usize, what: &str) -> Result<String, TemplateError> {
        match self.value(value, depth)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(TemplateError::evaluation(format!("{what} must be a string, not {other}"))),
        }
    }

    /// Evaluates `value` to a list.
    fn list(&self, value: &Value, depth: usize, what: &str) -> Result<Vec<Value>, TemplateError> {
        match self.value(value, depth)? {
            Value::Array(items) => Ok(items),
            other => Err(TemplateError::evaluation(format!("{what} must be a list, not {other}"))),
        }
    }

    fn call(&self, name: &str, arg: &Value, depth: usize) -> Result<Value, TemplateError> {
        let args = arg.as_array().map(Vec::as_slice).unwrap_or_default();
        match (name, args) {
            ("Ref", _) => self.reference(arg.as_str().unwrap_or_default()),
            ("Fn::Join", [delimiter, values]) => {
                let delimiter = self.text(delimiter, depth, "The Fn::Join delimiter")?;
                let mut parts = Vec::new();
                for item in self.list(values, depth, "The values of Fn::Join")? {
                    parts.push(self.text(&item, depth, "Each value of Fn::Join")?);
                }
                self.string(parts.join(&delimiter))
            }
            ("Fn::Select", [index, values]) => {
                let index = match self.value(index, depth)? {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse::<u64>().ok(),
                    _ => None,
                }
                .ok_or_else(|| {
                    TemplateError::evaluation("The Fn::Select index must be a non-negative integer")
                })?;
                let values = self.list(values, depth, "The values of Fn::Select")?;
                match usize::try_from(index).ok().and_then(|i| values.get(i)) {
                    Some(Value::Null) | None => Err(TemplateError::evaluation(format!(
                        "Fn::Select: index {index} is out of the list's {} values or selects null",
                        values.len()
                    ))),
                    Some(value) => Ok(value.clone()),
                }
            }
            ("Fn::Split", [delimiter, source]) => {
                let delimiter = self.text(delimiter, depth, "The Fn::Split delimiter")?;
                if delimiter.is_empty() {
                    return Err(TemplateError::evaluation("The Fn::Split delimiter must not be empty"));
                }
                let source = self.text(source, depth, "The string of Fn::Split")?;
                let parts: Vec<Value> =
                    source.split(delimiter.as_str()).map(|s| Value::String(s.into())).collect();
                self.spend(source.len())?;
                Ok(Value::Array(parts))
            }
            ("Fn::FindInMap", [map, top, second]) => {
                let map = self.text(map, depth, "The Fn::FindInMap map name")?;
                let top = self.text(top, depth, "The Fn::FindInMap top-level key")?;
                let second = self.text(second, depth, "The Fn::FindInMap second-level key")?;
                let found =
                    self.template.mappings.get(&map).and_then(|m| m.get(&top)).and_then(|m| m.get(&second));
                let found = found.ok_or_else(|| {
                    TemplateError::evaluation(format!("Fn::FindInMap: Mappings has no {map}.{top}.{second}"))
                })?;
                self.spend(found.as_str().map_or(0, str::len))?;
                Ok(found.clone())
            }
            ("Fn::Sub", _) => self.sub(arg, depth),
            _ => Err(TemplateError::invalid(format!("{name} is not a valid function call"))),
        }
    }

    /// `Fn::Sub`: `${name}` from the variables given, then as `Ref` does.
    fn sub(&self, arg: &Value, depth: usize) -> Result<Value, TemplateError> {
        let (text, variables) = match arg {
            Value::Array(items) => (items[0].as_str().unwrap_or_default(), items[1].as_object()),
            other => (other.as_str().unwrap_or_default(), None),
        };
        let mut out = String::new();
        for part in sub_names(text)? {
            match part {
                SubPart::Text(t) => out.push_str(t),
                SubPart::Var(name) => {
                    let value = match variables.and_then(|v| v.get(name)) {
                        Some(v) => self.text(v, depth, &format!("Fn::Sub variable {name}"))?,
                        None => match self.reference(name)? {
                            Value::String(s) => s,
                            _ => {
                                return Err(TemplateError::evaluation(format!(
                                    "Fn::Sub variable {name} is a list, not a string"
                                )))
                            }
                        },
                    };
                    self.spend(value.len())?;
                    out.push_str(&value);
                }
            }
        }
        self.string(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_strings_split_into_text_and_variables() {
        assert_eq!(
            sub_names("a-${X}-${!Literal}").unwrap(),
            vec![
                SubPart::Text("a-"),
                SubPart::Var("X"),
                SubPart::Text("-"),
                SubPart::Text("${"),
                SubPart::Text("Literal"),
                SubPart::Text("}"),
                SubPart::Text("")
            ]
        );
        assert!(sub_names("${open").is_err());
        assert!(sub_names("${}").is_err());
    }

    #[test]
    fn typed_values_check_numbers_and_split_lists() {
        assert_eq!(typed_value("n", ParamType::Number, "42").unwrap(), Value::String("42".into()));
        assert!(typed_value("n", ParamType::Number, "forty").is_err());
        assert_eq!(
            typed_value("l", ParamType::CommaDelimitedList, "a, b,c").unwrap(),
            serde_json::json!(["a", "b", "c"])
        );
        assert!(typed_value("l", ParamType::NumberList, "1,x").is_err());
    }
}
