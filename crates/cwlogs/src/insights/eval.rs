//! Running a parsed query over log events: the fields Insights discovers in a JSON message
//! (nested keys joined with `.`, array items by index), the system fields (`@timestamp`,
//! `@message`, `@logStream`, `@log`, `@ingestionTime`), the commands in order, and the values
//! as GetQueryResults shows them.

use super::ast::{AggFunc, Aggregate, ArithOp, CmpOp, Command, Expr, Func, Named, ParsePattern, Query};
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    /// Epoch milliseconds, shown as `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
    Time(i64),
}

impl Val {
    fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Time(t) => Some(*t as f64),
            Val::Str(s) => s.trim().parse().ok(),
            Val::Bool(_) | Val::Null => None,
        }
    }

    fn present(&self) -> bool {
        !matches!(self, Val::Null)
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Null => false,
            Val::Str(s) => !s.is_empty(),
            Val::Num(_) | Val::Time(_) => true,
        }
    }

    /// The text GetQueryResults shows.
    pub fn text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Str(s) => Some(s.clone()),
            Val::Num(n) => Some(number_text(*n)),
            Val::Bool(b) => Some(b.to_string()),
            Val::Time(t) => Some(format_time(*t)),
        }
    }
}

/// A number as Insights shows it: whole numbers without a fraction.
pub fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC (how Insights shows `@timestamp`).
pub fn format_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}.{milli:03}")
}

/// One record: its fields by name.
pub type Record = HashMap<String, Val>;

/// A stored event as a record.
pub struct Source<'a> {
    pub id: i64,
    pub timestamp: i64,
    pub ingestion: i64,
    pub message: &'a str,
    pub stream: &'a str,
    /// `account:group`.
    pub log: &'a str,
}

/// The record of an event: its system fields and the fields of a JSON message.
pub fn record(src: &Source) -> Record {
    let mut r = Record::new();
    if let Ok(Json::Object(map)) = serde_json::from_str::<Json>(src.message) {
        for (k, v) in map {
            flatten(&mut r, k, v, 0);
        }
    }
    r.insert("@timestamp".into(), Val::Time(src.timestamp));
    r.insert("@ingestionTime".into(), Val::Time(src.ingestion));
    r.insert("@message".into(), Val::Str(src.message.to_string()));
    r.insert("@logStream".into(), Val::Str(src.stream.to_string()));
    r.insert("@log".into(), Val::Str(src.log.to_string()));
    r.insert("@ptr".into(), Val::Str(format!("{:016x}", src.id)));
    r
}

/// How deep a message's JSON is flattened into fields (deeper values stay one JSON text).
const MAX_FLATTEN_DEPTH: usize = 16;

fn flatten(r: &mut Record, key: String, v: Json, depth: usize) {
    match v {
        Json::Object(map) if depth < MAX_FLATTEN_DEPTH => {
            for (k, v) in map {
                flatten(r, format!("{key}.{k}"), v, depth + 1);
            }
        }
        Json::Array(items) if depth < MAX_FLATTEN_DEPTH => {
            for (i, v) in items.into_iter().enumerate() {
                flatten(r, format!("{key}.{i}"), v, depth + 1);
            }
        }
        Json::Null => {}
        Json::String(s) => {
            r.insert(key, Val::Str(s));
        }
        Json::Number(n) => {
            r.insert(key, Val::Num(n.as_f64().unwrap_or(0.0)));
        }
        Json::Bool(b) => {
            r.insert(key, Val::Bool(b));
        }
        other => {
            r.insert(key, Val::Str(other.to_string()));
        }
    }
}

fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    if !a.present() || !b.present() {
        return None;
    }
    let numeric = matches!(a, Val::Num(_) | Val::Time(_)) || matches!(b, Val::Num(_) | Val::Time(_));
    if numeric {
        if let (Some(x), Some(y)) = (a.num(), b.num()) {
            return x.partial_cmp(&y);
        }
    }
    Some(a.text()?.cmp(&b.text()?))
}

/// The value of `e` in `r`.
pub fn eval(e: &Expr, r: &Record) -> Val {
    match e {
        Expr::Field(name) => r.get(name).cloned().unwrap_or(Val::Null),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Num(n) => Val::Num(*n),
        Expr::Not(e) => Val::Bool(!eval(e, r).truthy()),
        Expr::And(a, b) => Val::Bool(eval(a, r).truthy() && eval(b, r).truthy()),
        Expr::Or(a, b) => Val::Bool(eval(a, r).truthy() || eval(b, r).truthy()),
        Expr::Cmp(a, op, b) => {
            let ord = compare(&eval(a, r), &eval(b, r));
            Val::Bool(ord.is_some_and(|o| match op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
            }))
        }
        Expr::Arith(a, op, b) => {
            let (Some(x), Some(y)) = (eval(a, r).num(), eval(b, r).num()) else { return Val::Null };
            let v = match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                ArithOp::Mul => x * y,
                ArithOp::Div if y != 0.0 => x / y,
                ArithOp::Mod if y != 0.0 => x % y,
                _ => return Val::Null,
            };
            Val::Num(v)
        }
        Expr::Like { expr, pattern, negated } => match eval(expr, r).text() {
            Some(text) => Val::Bool(pattern.is_match(&text) != *negated),
            None => Val::Bool(false),
        },
        Expr::In { expr, list, negated } => {
            let v = eval(expr, r);
            if !v.present() {
                return Val::Bool(false);
            }
            let found = list.iter().any(|item| compare(&v, &eval(item, r)) == Some(Ordering::Equal));
            Val::Bool(found != *negated)
        }
        Expr::Bin(period) => match r.get("@timestamp") {
            Some(Val::Time(t)) => Val::Time(t - t.rem_euclid(*period)),
            _ => Val::Null,
        },
        Expr::Call(func, args) => call(*func, args, r),
    }
}

fn call(func: Func, args: &[Expr], r: &Record) -> Val {
    let first = || eval(&args[0], r);
    let text = || first().text();
    match func {
        Func::IsPresent => Val::Bool(first().present()),
        Func::IsEmpty => Val::Bool(text().is_none_or(|s| s.is_empty())),
        Func::IsBlank => Val::Bool(text().is_none_or(|s| s.trim().is_empty())),
        Func::StrLen => text().map_or(Val::Null, |s| Val::Num(s.chars().count() as f64)),
        Func::ToLower => text().map_or(Val::Null, |s| Val::Str(s.to_lowercase())),
        Func::ToUpper => text().map_or(Val::Null, |s| Val::Str(s.to_uppercase())),
        Func::Concat => Val::Str(args.iter().filter_map(|a| eval(a, r).text()).collect()),
        Func::Coalesce => args.iter().map(|a| eval(a, r)).find(Val::present).unwrap_or(Val::Null),
        Func::Abs | Func::Floor | Func::Ceil => match first().num() {
            Some(n) => Val::Num(match func {
                Func::Abs => n.abs(),
                Func::Floor => n.floor(),
                _ => n.ceil(),
            }),
            None => Val::Null,
        },
    }
}

/// Whether a command works record by record (and so can run while the events are read).
pub fn streams(c: &Command) -> bool {
    matches!(c, Command::Fields(_) | Command::Display(_) | Command::Filter(_) | Command::Parse { .. })
}

/// Applies a record-by-record command; `false` when the record is filtered out.
pub fn apply_to_record(c: &Command, r: &mut Record) -> bool {
    match c {
        Command::Fields(named) => {
            for Named { expr, name } in named {
                let v = eval(expr, r);
                if v.present() {
                    r.insert(name.clone(), v);
                }
            }
            true
        }
        Command::Filter(e) => eval(e, r).truthy(),
        Command::Parse { field, pattern } => {
            let Some(text) = r.get(field).and_then(Val::text) else { return true };
            match pattern {
                ParsePattern::Glob { regex, names } => {
                    if let Some(caps) = regex.captures(&text) {
                        for (i, name) in names.iter().enumerate() {
                            if let Some(m) = caps.get(i + 1) {
                                r.insert(name.clone(), Val::Str(m.as_str().to_string()));
                            }
                        }
                    }
                }
                ParsePattern::Regex(regex) => {
                    if let Some(caps) = regex.captures(&text) {
                        for name in regex.capture_names().flatten() {
                            if let Some(m) = caps.name(name) {
                                r.insert(name.to_string(), Val::Str(m.as_str().to_string()));
                            }
                        }
                    }
                }
            }
            true
        }
        _ => true,
    }
}

/// Which fields the results show, as the commands so far decide.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// `None`: no `fields`, `display` or `stats` yet (the results show `@timestamp` and `@message`).
    pub fields: Option<Vec<String>>,
    /// Whether the rows are statistics (no `@ptr`).
    pub stats: bool,
}

impl Projection {
    /// Follows a command.
    pub fn follow(&mut self, c: &Command) {
        let add = |fields: &mut Option<Vec<String>>, names: Vec<String>| {
            let list = fields.get_or_insert_with(Vec::new);
            for n in names {
                if !list.contains(&n) {
                    list.push(n);
                }
            }
        };
        match c {
            Command::Fields(named) => add(&mut self.fields, named.iter().map(|n| n.name.clone()).collect()),
            Command::Display(names) => self.fields = Some(names.clone()),
            Command::Stats { aggs, by } => {
                let mut names: Vec<String> = by.iter().map(|n| n.name.clone()).collect();
                names.extend(aggs.iter().map(|a| a.name.clone()));
                self.fields = Some(names);
                self.stats = true;
            }
            Command::Parse { pattern, .. } if self.fields.is_some() => {
                let names = match pattern {
                    ParsePattern::Glob { names, .. } => names.clone(),
                    ParsePattern::Regex(re) => re.capture_names().flatten().map(str::to_string).collect(),
                };
                add(&mut self.fields, names);
            }
            _ => {}
        }
    }

    /// The fields of the results.
    pub fn columns(&self) -> Vec<String> {
        self.fields.clone().unwrap_or_else(|| vec!["@timestamp".into(), "@message".into()])
    }
}

/// Runs `commands` (from some point of the query on) over materialized records.
pub fn apply_to_all(commands: &[Command], mut rows: Vec<Record>) -> Vec<Record> {
    for c in commands {
        rows = match c {
            Command::Sort(keys) => {
                let mut keyed: Vec<(Vec<Val>, Record)> =
                    rows.into_iter().map(|r| (keys.iter().map(|(e, _)| eval(e, &r)).collect(), r)).collect();
                keyed.sort_by(|(a, _), (b, _)| {
                    for (i, (_, desc)) in keys.iter().enumerate() {
                        // Records without the field come last either way.
                        let o = match (a[i].present(), b[i].present()) {
                            (false, false) => Ordering::Equal,
                            (false, true) => Ordering::Greater,
                            (true, false) => Ordering::Less,
                            _ => {
                                let o = compare(&a[i], &b[i]).unwrap_or(Ordering::Equal);
                                if *desc {
                                    o.reverse()
                                } else {
                                    o
                                }
                            }
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    Ordering::Equal
                });
                keyed.into_iter().map(|(_, r)| r).collect()
            }
            Command::Limit(n) => {
                rows.truncate(*n);
                rows
            }
            Command::Stats { aggs, by } => stats(aggs, by, &rows),
            other => {
                rows.into_iter().filter_map(|mut r| apply_to_record(other, &mut r).then_some(r)).collect()
            }
        };
    }
    rows
}

/// `stats`: one row per group of the `by` values (in ascending order of them).
fn stats(aggs: &[Aggregate], by: &[Named], rows: &[Record]) -> Vec<Record> {
    let mut groups: BTreeMap<Vec<GroupKey>, (Vec<Val>, Vec<&Record>)> = BTreeMap::new();
    for r in rows {
        let values: Vec<Val> = by.iter().map(|n| eval(&n.expr, r)).collect();
        let key = values.iter().map(GroupKey::of).collect();
        groups.entry(key).or_insert_with(|| (values, Vec::new())).1.push(r);
    }
    if by.is_empty() && groups.is_empty() {
        groups.insert(Vec::new(), (Vec::new(), Vec::new()));
    }
    groups
        .into_values()
        .map(|(values, members)| {
            let mut out = Record::new();
            for (n, v) in by.iter().zip(values) {
                if v.present() {
                    out.insert(n.name.clone(), v);
                }
            }
            for a in aggs {
                let v = aggregate(a, &members);
                if v.present() {
                    out.insert(a.name.clone(), v);
                }
            }
            out
        })
        .collect()
}

/// A `by` value as an ordered key: missing first, then numbers and times by value, then text.
#[derive(Debug, Clone, PartialEq)]
enum GroupKey {
    Missing,
    Num(f64),
    Text(String),
}

impl Eq for GroupKey {}
impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (GroupKey::Num(a), GroupKey::Num(b)) => a.total_cmp(b),
            (GroupKey::Text(a), GroupKey::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}
impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl GroupKey {
    fn rank(&self) -> u8 {
        match self {
            GroupKey::Missing => 0,
            GroupKey::Num(_) => 1,
            GroupKey::Text(_) => 2,
        }
    }

    fn of(v: &Val) -> GroupKey {
        match v {
            Val::Null => GroupKey::Missing,
            Val::Num(n) => GroupKey::Num(*n),
            Val::Time(t) => GroupKey::Num(*t as f64),
            other => GroupKey::Text(other.text().unwrap_or_default()),
        }
    }
}

fn aggregate(a: &Aggregate, members: &[&Record]) -> Val {
    let values: Vec<Val> = match &a.arg {
        None => return Val::Num(members.len() as f64),
        Some(e) => members.iter().map(|r| eval(e, r)).filter(Val::present).collect(),
    };
    let numbers = || values.iter().filter_map(Val::num).collect::<Vec<f64>>();
    match a.func {
        AggFunc::Count => Val::Num(values.len() as f64),
        AggFunc::CountDistinct => {
            Val::Num(values.iter().filter_map(Val::text).collect::<HashSet<String>>().len() as f64)
        }
        AggFunc::Sum => Val::Num(numbers().iter().sum()),
        AggFunc::Avg => {
            let n = numbers();
            if n.is_empty() {
                Val::Null
            } else {
                Val::Num(n.iter().sum::<f64>() / n.len() as f64)
            }
        }
        AggFunc::Min | AggFunc::Max => {
            let want = if a.func == AggFunc::Min { Ordering::Less } else { Ordering::Greater };
            values
                .into_iter()
                .reduce(|best, v| if compare(&v, &best) == Some(want) { v } else { best })
                .unwrap_or(Val::Null)
        }
        AggFunc::Pct(p) => {
            let mut n = numbers();
            if n.is_empty() {
                return Val::Null;
            }
            n.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
            // Nearest rank: the smallest value with at least p% of the values at or below it.
            let rank = ((p / 100.0) * n.len() as f64).ceil() as usize;
            Val::Num(n[rank.clamp(1, n.len()) - 1])
        }
    }
}

/// Runs a whole query over records already read (the tests' entry point; the service streams).
pub fn run(query: &Query, records: Vec<Record>) -> (Vec<String>, bool, Vec<Record>) {
    let mut projection = Projection::default();
    for c in &query.commands {
        projection.follow(c);
    }
    let rows = apply_to_all(&query.commands, records);
    (projection.columns(), projection.stats, rows)
}
