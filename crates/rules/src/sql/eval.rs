//! Evaluation of a parsed statement against one message.

use std::cell::Cell;
use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::Value;

use super::ast::{BinOp, CastType, Expr, From, Literal, Query, SelectItem, SqlVersion};
use super::functions;
use super::value::Val;

/// The message a rule is evaluated against.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// The topic it was published to (a Basic Ingest `$aws/rules/NAME/` prefix is hidden from `topic()`).
    pub topic: Arc<str>,
    /// The raw payload: JSON or any bytes (shared with the broker's copy, not copied).
    pub payload: Bytes,
    /// The MQTT client id; `clientid()` answers `n/a` without one.
    pub client_id: Option<Arc<str>>,
    /// The publisher's principal (certificate id, ...); `principal()` is Undefined without one.
    pub principal: Option<Arc<str>>,
    /// The Publish-In trace id; `traceid()` is Undefined without one.
    pub trace_id: Option<String>,
    /// The account that owns the rule, for `accountid()`.
    pub account_id: Arc<str>,
    /// Milliseconds since the epoch at which the rules engine saw the message, for `timestamp()`.
    pub timestamp_ms: i64,
    /// The payload parsed as JSON, once per SQL version, on first use: every rule and every
    /// substitution template evaluated against this message share it. Leave it default.
    pub parsed: ParsedPayload,
}

/// The parse of a [`Message`]'s payload, per SQL version (`None` inside: not JSON).
#[derive(Clone, Default)]
pub struct ParsedPayload {
    by_version: [OnceLock<Option<Val>>; 2],
}

impl std::fmt::Debug for ParsedPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParsedPayload")
    }
}

impl Message {
    /// The payload as JSON under `version` (an empty payload reads as `{}`); `None` when it is
    /// not JSON. Parsed at the first call for that version, then shared.
    pub(crate) fn json(&self, version: SqlVersion) -> Option<&Val> {
        let slot = match version {
            SqlVersion::V2015_10_08 => &self.parsed.by_version[0],
            SqlVersion::V2016_03_23 => &self.parsed.by_version[1],
        };
        slot.get_or_init(|| {
            if self.payload.is_empty() {
                Some(Val::Obj(Vec::new()))
            } else {
                Val::parse_json(&self.payload, version)
            }
        })
        .as_ref()
    }
}

/// One call of a function that reaches outside the engine (`get_thing_shadow`), for FunctionExecution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionExecution {
    /// The function's name as the SQL spells it (`get_thing_shadow`).
    pub function: String,
    /// The entry's `ruleAction`: `GetThingShadow`, by analogy with the documented
    /// `MachinelearningPredict` (unconfirmed).
    pub rule_action: String,
    /// The entry's `resources`: `ThingName`, and `ShadowName` for a named shadow (unconfirmed names).
    pub resources: serde_json::Map<String, Value>,
    /// `Err(message)` when the call failed.
    pub outcome: Result<(), String>,
}

/// What the evaluator needs from outside: shadows, and a place to report external function calls.
pub trait Environment {
    /// The shadow document of a thing (`None` when there is none), for `get_thing_shadow`.
    fn get_thing_shadow(
        &self,
        thing_name: &str,
        shadow_name: Option<&str>,
        role_arn: &str,
    ) -> Result<Option<Value>, String> {
        let _ = (thing_name, shadow_name, role_arn);
        Err("get_thing_shadow is not available".into())
    }

    /// Called after each external function call, so the caller can log a FunctionExecution entry.
    fn function_executed(&self, execution: &FunctionExecution) {
        let _ = execution;
    }
}

/// An environment with no shadows, which ignores function reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEnvironment;

impl Environment for NoEnvironment {}

/// A failure that stops the rule (AWS logs it as a rule execution error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// An external function failed.
    #[error("function {function} failed: {message}")]
    Function {
        /// The function's name.
        function: String,
        /// Why.
        message: String,
    },
    /// The statement asks a binary (non-JSON) payload for something only JSON has.
    #[error("binary payload: {0}")]
    BinaryPayload(String),
    /// The evaluation would take more than [`MAX_COST`] steps and bytes (nested queries over
    /// arrays, `replace` that multiplies a string), so it stops instead of exhausting memory or time.
    #[error("the statement is too expensive to evaluate (more than {MAX_COST} steps and bytes)")]
    TooExpensive,
}

/// How much one evaluation may do: each expression evaluated costs 1 plus the size of its value
/// (bytes of strings, one per element and key), so a short hostile statement cannot build
/// gigabytes or run for hours.
pub const MAX_COST: usize = 1 << 24;

/// The outgoing payload of a matching rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A JSON document: an object, or any value with `SELECT VALUE`.
    Json(JsonPayload),
    /// Raw bytes: `SELECT *` of a non-JSON payload, or `SELECT VALUE` of Undefined (an empty payload).
    Binary(Vec<u8>),
}

impl Output {
    /// A JSON output whose text is `value` serialized.
    pub fn json(value: Value) -> Output {
        let text = value.to_string();
        Output::Json(JsonPayload { value: OnceLock::from(value), val: None, text })
    }

    /// The payload as bytes, as the rule's actions receive it (keys in SELECT order).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Output::Json(j) => j.text.clone().into_bytes(),
            Output::Binary(b) => b.clone(),
        }
    }
}

/// A JSON output: the value, and its text with the keys in the order the SELECT produced them
/// (AWS keeps that order; serde_json's map may not). The value is built from the SQL's own
/// result only when an action asks for it (most, such as republish, need the text alone).
#[derive(Debug, Clone)]
pub struct JsonPayload {
    value: OnceLock<Value>,
    /// What `value` is built from, when it has not been built yet.
    val: Option<Val>,
    text: String,
}

impl JsonPayload {
    /// The document.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            self.val
                .as_ref()
                .and_then(Val::to_json)
                .unwrap_or_else(|| serde_json::from_str(&self.text).unwrap_or(Value::Null))
        })
    }

    /// The document as the actions receive it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The document, owned.
    pub fn into_value(self) -> Value {
        self.value();
        self.value.into_inner().unwrap_or(Value::Null)
    }
}

/// Equal when the documents are equal, whatever the order of their keys.
impl PartialEq for JsonPayload {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

pub(crate) struct Ctx<'a> {
    pub msg: &'a Message,
    pub env: &'a dyn Environment,
    pub version: SqlVersion,
    /// The parsed payload; `None` when it is not JSON.
    pub json: Option<&'a Val>,
    /// What the evaluation has cost so far, against [`MAX_COST`].
    pub cost: Cell<usize>,
}

pub(crate) fn evaluate(
    q: &Query,
    version: SqlVersion,
    msg: &Message,
    env: &dyn Environment,
) -> Result<Option<Output>, EvalError> {
    if msg.payload.is_empty() && q.items == [SelectItem::Wildcard] && !q.value {
        // `SELECT *` of an empty payload is an empty payload; an empty payload is `{}` otherwise.
        let root = Val::Obj(Vec::new());
        let ctx = Ctx { msg, env, version, json: Some(&root), cost: Cell::new(0) };
        if let Some(cond) = &q.condition {
            if !is_true(&ctx.eval(cond, &root)?) {
                return Ok(None);
            }
        }
        return Ok(Some(Output::Binary(Vec::new())));
    }
    let ctx = Ctx { msg, env, version, json: msg.json(version), cost: Cell::new(0) };
    let undefined = Val::Undefined;
    let root = ctx.json.unwrap_or(&undefined);
    if let Some(cond) = &q.condition {
        if !is_true(&ctx.eval(cond, root)?) {
            return Ok(None);
        }
    }
    if ctx.json.is_none() && q.items.contains(&SelectItem::Wildcard) {
        if q.items.len() == 1 {
            return Ok(Some(Output::Binary(msg.payload.to_vec())));
        }
        return Err(EvalError::BinaryPayload("'*' of a non-JSON payload can only be selected alone".into()));
    }
    let out = ctx.project(q, root)?;
    if out.is_undefined() {
        return Ok(Some(Output::Binary(Vec::new())));
    }
    // Room for the document in most cases: about the size of the payload it came from.
    let mut text = String::with_capacity(msg.payload.len().clamp(16, 4096));
    out.write_json(&mut text);
    Ok(Some(Output::Json(JsonPayload { value: OnceLock::new(), val: Some(out), text })))
}

/// Evaluates a lone expression against a message's payload (for substitution templates).
pub(crate) fn evaluate_expr(
    e: &Expr,
    version: SqlVersion,
    msg: &Message,
    env: &dyn Environment,
) -> Result<Val, EvalError> {
    let ctx = Ctx { msg, env, version, json: msg.json(version), cost: Cell::new(0) };
    let undefined = Val::Undefined;
    ctx.eval(e, ctx.json.unwrap_or(&undefined))
}

/// Whether a WHERE result lets the rule act: true, or the string "true".
fn is_true(v: &Val) -> bool {
    v.to_bool() == Some(true)
}

impl Ctx<'_> {
    fn project(&self, q: &Query, root: &Val) -> Result<Val, EvalError> {
        if q.value {
            return match q.items.first() {
                Some(SelectItem::Expr { expr, .. }) => self.eval(expr, root),
                _ => Ok(root.clone()),
            };
        }
        if q.items.len() == 1 && q.items[0] == SelectItem::Wildcard && !matches!(root, Val::Obj(_)) {
            return Ok(root.clone());
        }
        let mut out: Vec<(String, Val)> = Vec::new();
        for (n, item) in q.items.iter().enumerate() {
            match item {
                SelectItem::Wildcard => {
                    if let Val::Obj(fields) = root {
                        for (k, v) in fields {
                            insert(&mut out, std::slice::from_ref(k), v.clone());
                        }
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let v = self.eval(expr, root)?;
                    if v.is_undefined() {
                        continue;
                    }
                    match alias {
                        Some(path) => insert(&mut out, path, v),
                        None => insert_key(&mut out, derived_key(expr, n + 1), v),
                    }
                }
            }
        }
        Ok(Val::Obj(out))
    }

    /// Spends `units` of the evaluation's budget; `TooExpensive` once it is exhausted.
    pub(crate) fn charge(&self, units: usize) -> Result<(), EvalError> {
        let spent = self.cost.get().saturating_add(units);
        self.cost.set(spent);
        if spent > MAX_COST {
            return Err(EvalError::TooExpensive);
        }
        Ok(())
    }

    /// What is left of the budget, for functions that check a result's size before building it.
    pub(crate) fn remaining(&self) -> usize {
        MAX_COST.saturating_sub(self.cost.get())
    }

    pub fn eval(&self, e: &Expr, root: &Val) -> Result<Val, EvalError> {
        self.charge(1)?;
        let v = self.eval_inner(e, root)?;
        self.charge(v.size())?;
        Ok(v)
    }

    fn eval_inner(&self, e: &Expr, root: &Val) -> Result<Val, EvalError> {
        Ok(match e {
            Expr::Literal(l) => match l {
                Literal::Null => Val::Null,
                Literal::Bool(b) => Val::Bool(*b),
                Literal::Int(i) => Val::Int(*i),
                Literal::Decimal(d) => Val::dec(*d, self.version),
                Literal::String(s) => Val::Str(s.clone()),
            },
            Expr::Field(name) => root.get(name),
            Expr::Wildcard => root.clone(),
            Expr::Member(base, name) => self.eval(base, root)?.get(name),
            Expr::Index(base, index) => {
                let base = self.eval(base, root)?;
                let index = self.eval(index, root)?;
                match (&base, &index) {
                    (Val::Obj(_), Val::Str(k)) => base.get(k),
                    (Val::Arr(a), i) => i
                        .to_int()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| a.get(i).cloned())
                        .unwrap_or(Val::Undefined),
                    _ => Val::Undefined,
                }
            }
            Expr::Not(inner) => match self.eval(inner, root)?.to_bool() {
                Some(b) => Val::Bool(!b),
                None => Val::Undefined,
            },
            Expr::Neg(inner) => match self.eval(inner, root)? {
                Val::Int(i) => i.checked_neg().map_or(Val::Dec(-(i as f64)), Val::Int),
                v => v.to_dec().map_or(Val::Undefined, |d| Val::dec(-d, self.version)),
            },
            Expr::Binary(op, l, r) => {
                let l = self.eval(l, root)?;
                let r = self.eval(r, root)?;
                self.binary(*op, &l, &r)
            }
            Expr::Call(name, args) => functions::call(self, name, args, root)?,
            Expr::Cast(inner, ty) => self.cast(self.eval(inner, root)?, *ty),
            Expr::Case { operand, branches, otherwise } => {
                let v = self.eval(operand, root)?;
                if v.is_undefined() {
                    return Ok(Val::Undefined);
                }
                for (when, then) in branches {
                    if equals(&v, &self.eval(when, root)?) == Some(true) {
                        return self.eval(then, root);
                    }
                }
                match otherwise {
                    Some(e) => self.eval(e, root)?,
                    None => Val::Undefined,
                }
            }
            Expr::Object(fields) => {
                let mut out = Vec::new();
                for (k, v) in fields {
                    let v = self.eval(v, root)?;
                    if !v.is_undefined() {
                        insert(&mut out, std::slice::from_ref(k), v);
                    }
                }
                Val::Obj(out)
            }
            Expr::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.push(self.eval(item, root)?);
                }
                Val::Arr(out)
            }
            Expr::Subquery(q) => {
                let From::Expr(source) = &q.from else { return Ok(Val::Undefined) };
                let elements = match self.eval(source, root)? {
                    Val::Arr(a) => a,
                    // Over one object the query gives its projection itself, not an array of it
                    // (the transform function's third example).
                    obj @ Val::Obj(_) => {
                        if let Some(cond) = &q.condition {
                            if !is_true(&self.eval(cond, &obj)?) {
                                return Ok(Val::Undefined);
                            }
                        }
                        return self.project(q, &obj);
                    }
                    _ => return Ok(Val::Undefined),
                };
                let mut out = Vec::new();
                for el in &elements {
                    if let Some(cond) = &q.condition {
                        if !is_true(&self.eval(cond, el)?) {
                            continue;
                        }
                    }
                    let v = self.project(q, el)?;
                    if !v.is_undefined() {
                        out.push(v);
                    }
                }
                Val::Arr(out)
            }
        })
    }

    fn binary(&self, op: BinOp, l: &Val, r: &Val) -> Val {
        use BinOp::*;
        match op {
            And | Or => match (l.to_bool(), r.to_bool()) {
                (Some(a), Some(b)) => Val::Bool(if op == And { a && b } else { a || b }),
                _ => Val::Undefined,
            },
            Eq | Ne => match equals(l, r) {
                Some(eq) => Val::Bool(if op == Eq { eq } else { !eq }),
                None => Val::Undefined,
            },
            Lt | Le | Gt | Ge => {
                let (Some(a), Some(b)) = (l.to_dec(), r.to_dec()) else { return Val::Undefined };
                let Some(ord) = a.partial_cmp(&b) else { return Val::Undefined };
                Val::Bool(match op {
                    Lt => ord == Ordering::Less,
                    Le => ord != Ordering::Greater,
                    Gt => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                })
            }
            Add if matches!(l, Val::Str(_)) || matches!(r, Val::Str(_)) => match (l.to_str(), r.to_str()) {
                (Some(a), Some(b)) => Val::Str(a + &b),
                _ => Val::Undefined,
            },
            Add | Sub | Mul | Div | Mod => self.arithmetic(op, l, r),
        }
    }

    pub(crate) fn arithmetic(&self, op: BinOp, l: &Val, r: &Val) -> Val {
        if let (Val::Int(a), Val::Int(b)) = (l, r) {
            let (a, b) = (*a, *b);
            let exact = match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                BinOp::Div if b == 0 => return Val::Undefined,
                BinOp::Div => a.checked_div(b),
                BinOp::Mod if b == 0 => return Val::Undefined,
                _ => a.checked_rem(b),
            };
            if let Some(i) = exact {
                return Val::Int(i);
            }
        }
        // Only strings, Ints and Decimals convert; `+` of numbers does not take strings (that concatenates).
        let numeric = |v: &Val| matches!(v, Val::Int(_) | Val::Dec(_) | Val::Str(_));
        if !numeric(l) || !numeric(r) {
            return Val::Undefined;
        }
        let (Some(a), Some(b)) = (l.to_dec(), r.to_dec()) else { return Val::Undefined };
        let d = match op {
            BinOp::Add => tidy(a + b),
            BinOp::Sub => tidy(a - b),
            BinOp::Mul => tidy(a * b),
            BinOp::Div if b == 0.0 => return Val::Undefined,
            BinOp::Div => a / b,
            BinOp::Mod if b == 0.0 => return Val::Undefined,
            _ => a % b,
        };
        Val::dec(d, self.version)
    }

    pub fn cast(&self, v: Val, ty: CastType) -> Val {
        match ty {
            CastType::String => match v {
                Val::Null | Val::Undefined => Val::Undefined,
                v => v.to_str().map_or(Val::Undefined, Val::Str),
            },
            CastType::Int => match v {
                Val::Bool(b) => Val::Int(i64::from(b)),
                Val::Dec(d) => Val::Int(d.floor() as i64),
                Val::Str(s) => {
                    super::value::parse_decimal(&s).map_or(Val::Undefined, |d| Val::Int(d.floor() as i64))
                }
                Val::Int(i) => Val::Int(i),
                _ => Val::Undefined,
            },
            CastType::Decimal => match v {
                Val::Bool(b) => Val::dec(if b { 1.0 } else { 0.0 }, self.version),
                v => v.to_dec().map_or(Val::Undefined, |d| Val::dec(d, self.version)),
            },
            CastType::Boolean => match v {
                Val::Int(i) => Val::Bool(i != 0),
                Val::Dec(d) => Val::Bool(d != 0.0),
                v => v.to_bool().map_or(Val::Undefined, Val::Bool),
            },
        }
    }
}

/// Rounds a sum, difference or product to 15 significant digits, so that binary floating point
/// gives what AWS's decimal arithmetic gives for ordinary operands (`0.1 + 0.2` = `0.3`).
fn tidy(d: f64) -> f64 {
    format!("{d:.14e}").parse().unwrap_or(d)
}

/// SQL equality: `None` (Undefined) when either side is Undefined; mismatched types are unequal.
pub(crate) fn equals(l: &Val, r: &Val) -> Option<bool> {
    Some(match (l, r) {
        (Val::Undefined, _) | (_, Val::Undefined) => return None,
        (Val::Int(a), Val::Int(b)) => a == b,
        (Val::Int(_) | Val::Dec(_), Val::Int(_) | Val::Dec(_)) => l.to_dec() == r.to_dec(),
        (Val::Str(a), Val::Str(b)) => a == b,
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Null, Val::Null) => true,
        (Val::Arr(a), Val::Arr(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equals(x, y) == Some(true))
        }
        (Val::Obj(a), Val::Obj(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| equals(v, &r.get(k)) == Some(true))
        }
        _ => false,
    })
}

/// The output key of an item without `AS`: the last field name, the function name, or `_N`.
fn derived_key(e: &Expr, n: usize) -> String {
    match e {
        Expr::Field(name) | Expr::Member(_, name) => name.clone(),
        Expr::Index(base, _) => derived_key(base, n),
        Expr::Call(name, _) => name.clone(),
        _ => format!("_{n}"),
    }
}

/// Sets `key` in an object (the key moved in, not copied).
fn insert_key(obj: &mut Vec<(String, Val)>, key: String, v: Val) {
    match obj.iter_mut().find(|(k, _)| *k == key) {
        Some((_, slot)) => *slot = v,
        None => obj.push((key, v)),
    }
}

/// Sets `path` in an object, creating (or replacing non-objects with) nested objects.
fn insert(obj: &mut Vec<(String, Val)>, path: &[String], v: Val) {
    let Some((first, rest)) = path.split_first() else { return };
    let idx = match obj.iter().position(|(k, _)| k == first) {
        Some(i) => i,
        None => {
            obj.push((first.clone(), Val::Undefined));
            obj.len() - 1
        }
    };
    if rest.is_empty() {
        obj[idx].1 = v;
        return;
    }
    if !matches!(obj[idx].1, Val::Obj(_)) {
        obj[idx].1 = Val::Obj(Vec::new());
    }
    if let Val::Obj(inner) = &mut obj[idx].1 {
        insert(inner, rest, v);
    }
}
