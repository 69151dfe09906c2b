//! The functions of AWS IoT SQL (`iot-sql-functions`).

use std::ops::RangeInclusive;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::ast::{BinOp, Expr, SqlVersion};
use super::eval::{Ctx, EvalError, FunctionExecution};
use super::value::Val;

const ANY: usize = usize::MAX;

/// The argument counts a function takes in a SQL version; `None` when it does not exist there.
pub(crate) fn arity(name: &str, version: SqlVersion) -> Option<RangeInclusive<usize>> {
    let v2016 = version == SqlVersion::V2016_03_23;
    Some(match name {
        "clientid" | "principal" | "timestamp" | "traceid" | "accountid" | "newuuid" | "sql_version" => 0..=0,
        "topic" => 0..=1,
        "abs" | "ceil" | "floor" | "round" | "sign" | "sqrt" | "lower" | "upper" | "trim" | "ltrim"
        | "rtrim" | "isnull" | "isstring" | "isnumber" | "isboolean" | "isobject" | "isarray" => 1..=1,
        "acos" | "asin" | "atan" | "cos" | "cosh" | "sin" | "sinh" | "tan" | "tanh" | "exp" | "ln"
        | "log" | "bitnot" | "chr" | "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512" => 1..=1,
        "mod" | "remainder" | "power" | "startswith" | "endswith" | "regexp_matches" | "regexp_substr"
        | "get" | "atan2" | "bitand" | "bitor" | "bitxor" | "lpad" | "rpad" | "trunc" | "nanvl" => 2..=2,
        "rand" => 0..=0,
        "indexof" if v2016 => 2..=2,
        "numbytes" if v2016 => 1..=1,
        "replace" | "regexp_replace" => 3..=3,
        "substring" => 2..=3,
        "concat" => 0..=ANY,
        "isundefined" | "length" if v2016 => 1..=1,
        "encode" | "decode" if v2016 => 2..=2,
        "parse_time" | "get_thing_shadow" if v2016 => 2..=3,
        "transform" if v2016 => 3..=3,
        "time_to_epoch" if v2016 => 2..=2,
        _ => return None,
    })
}

/// Calls function `name` (lower-case, arity already checked by the parser).
pub(crate) fn call(ctx: &Ctx<'_>, name: &str, args: &[Expr], root: &Val) -> Result<Val, EvalError> {
    if name == "encode" {
        if let [Expr::Wildcard, scheme] = args {
            if !is_base64(&ctx.eval(scheme, root)?) {
                return Ok(Val::Undefined);
            }
            return Ok(Val::Str(STANDARD.encode(&ctx.msg.payload)));
        }
    }
    let mut a: smallvec::SmallVec<[Val; 3]> = smallvec::SmallVec::with_capacity(args.len());
    for e in args {
        a.push(ctx.eval(e, root)?);
    }
    let version = ctx.version;
    let str_of = |i: usize| a.get(i).and_then(Val::to_str);
    let undefined = Val::Undefined;
    let arg = |i: usize| a.get(i).unwrap_or(&undefined);
    Ok(match name {
        "topic" => {
            let topic = &*ctx.msg.topic;
            // Basic Ingest: `topic()` sees what follows `$aws/rules/<rule>/`.
            let topic = match iotemu_core::ReservedTopic::parse(topic) {
                Some(iotemu_core::ReservedTopic::BasicIngest { topic, .. }) => topic,
                _ => topic,
            };
            match a.first() {
                None => Val::Str(topic.to_string()),
                Some(n) => n
                    .to_int()
                    .filter(|n| *n >= 1)
                    .and_then(|n| topic.split('/').nth((n - 1) as usize))
                    .map_or(Val::Undefined, |s| Val::Str(s.to_string())),
            }
        }
        "clientid" => Val::Str(ctx.msg.client_id.as_deref().unwrap_or("n/a").to_string()),
        "principal" => ctx.msg.principal.as_deref().map_or(Val::Undefined, |p| Val::Str(p.to_string())),
        "traceid" => ctx.msg.trace_id.clone().map_or(Val::Undefined, Val::Str),
        "accountid" => Val::Str(ctx.msg.account_id.to_string()),
        "timestamp" => Val::Int(ctx.msg.timestamp_ms),
        "newuuid" => Val::Str(uuid::Uuid::new_v4().to_string()),
        "sql_version" => Val::Str(version.as_str().into()),
        "abs" => match arg(0) {
            Val::Int(i) => i.checked_abs().map_or(Val::Dec((*i as f64).abs()), Val::Int),
            v => decimal_of(v).map_or(Val::Undefined, |d| Val::dec(d.abs(), version)),
        },
        "ceil" => round_with(arg(0), f64::ceil),
        "floor" => round_with(arg(0), f64::floor),
        "round" => round_with(arg(0), f64::round),
        "sign" => decimal_of(arg(0)).map_or(Val::Undefined, |d| {
            Val::Int(if d > 0.0 {
                1
            } else if d < 0.0 {
                -1
            } else {
                0
            })
        }),
        "sqrt" => decimal_of(arg(0)).map_or(Val::Undefined, |d| Val::dec(d.sqrt(), version)),
        "power" => match (decimal_of(arg(0)), decimal_of(arg(1))) {
            (Some(x), Some(y)) => Val::dec(x.powf(y), version),
            _ => Val::Undefined,
        },
        "mod" | "remainder" => ctx.arithmetic(BinOp::Mod, arg(0), arg(1)),
        "lower" => str_of(0).map_or(Val::Undefined, |s| Val::Str(s.to_lowercase())),
        "upper" => str_of(0).map_or(Val::Undefined, |s| Val::Str(s.to_uppercase())),
        "trim" => str_of(0).map_or(Val::Undefined, |s| Val::Str(s.trim().into())),
        "ltrim" => str_of(0).map_or(Val::Undefined, |s| Val::Str(s.trim_start().into())),
        "rtrim" => str_of(0).map_or(Val::Undefined, |s| Val::Str(s.trim_end().into())),
        "length" => str_of(0).map_or(Val::Undefined, |s| Val::Int(s.chars().count() as i64)),
        "numbytes" => str_of(0).map_or(Val::Undefined, |s| Val::Int(s.len() as i64)),
        "concat" => concat(&a),
        "substring" => substring(&a),
        "startswith" | "endswith" => match (str_of(0), str_of(1)) {
            (Some(s), Some(p)) => {
                Val::Bool(if name == "startswith" { s.starts_with(&p) } else { s.ends_with(&p) })
            }
            _ => Val::Undefined,
        },
        "indexof" => match (str_of(0), str_of(1)) {
            (Some(s), Some(p)) => Val::Int(s.find(&p).map_or(-1, |i| s[..i].chars().count() as i64)),
            _ => Val::Undefined,
        },
        "replace" => match (str_of(0), str_of(1), str_of(2)) {
            (Some(s), Some(from), Some(to)) => {
                // An empty `from` matches between every two characters; check the size first,
                // since nested replaces multiply it.
                let count = if from.is_empty() { s.chars().count() + 1 } else { s.matches(&from).count() };
                let len = count.saturating_mul(to.len()).saturating_add(s.len());
                if len > ctx.remaining() {
                    return Err(EvalError::TooExpensive);
                }
                Val::Str(s.replace(&from, &to))
            }
            _ => Val::Undefined,
        },
        "regexp_matches" | "regexp_substr" | "regexp_replace" => regexp(name, &a, ctx.remaining())?,
        "isundefined" => Val::Bool(matches!(arg(0), Val::Undefined)),
        "isnull" => Val::Bool(matches!(arg(0), Val::Null)),
        "isstring" => Val::Bool(matches!(arg(0), Val::Str(_))),
        "isnumber" => Val::Bool(matches!(arg(0), Val::Int(_) | Val::Dec(_))),
        "isboolean" => Val::Bool(matches!(arg(0), Val::Bool(_))),
        "isobject" => Val::Bool(matches!(arg(0), Val::Obj(_))),
        "isarray" => Val::Bool(matches!(arg(0), Val::Arr(_))),
        "get" => get(arg(0), arg(1)),
        "encode" => match (is_base64(arg(1)), str_of(0)) {
            (true, Some(s)) => Val::Str(STANDARD.encode(s.as_bytes())),
            _ => Val::Undefined,
        },
        "decode" => match (is_base64(arg(1)), str_of(0)) {
            (true, Some(s)) => decode(&s, version),
            _ => Val::Undefined,
        },
        "parse_time" => {
            let zone = if a.len() > 2 { str_of(2) } else { Some("UTC".into()) };
            match (str_of(0), arg(1).to_dec(), zone) {
                (Some(pattern), Some(ms), Some(zone)) => {
                    joda::format(&pattern, ms as i64, &zone).map_or(Val::Undefined, Val::Str)
                }
                _ => Val::Undefined,
            }
        }
        "time_to_epoch" => match (str_of(0), str_of(1)) {
            (Some(text), Some(pattern)) => joda::parse(&text, &pattern).map_or(Val::Undefined, Val::Int),
            _ => Val::Undefined,
        },
        "get_thing_shadow" => get_thing_shadow(ctx, &a)?,
        "transform" => match (arg(0), arg(1), arg(2)) {
            (Val::Str(mode), Val::Obj(extra), Val::Arr(items)) if mode == "enrichArray" => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let Val::Obj(fields) = item else { return Ok(Val::Undefined) };
                    let mut fields = fields.clone();
                    for (k, v) in extra {
                        match fields.iter_mut().find(|(f, _)| f == k) {
                            Some(slot) => slot.1 = v.clone(),
                            None => fields.push((k.clone(), v.clone())),
                        }
                    }
                    out.push(Val::Obj(fields));
                }
                Val::Arr(out)
            }
            _ => Val::Undefined,
        },
        "acos" | "asin" | "atan" | "cos" | "cosh" | "sin" | "sinh" | "tan" | "tanh" | "exp" | "ln"
        | "log" => {
            let f: fn(f64) -> f64 = match name {
                "acos" => f64::acos,
                "asin" => f64::asin,
                "atan" => f64::atan,
                "cos" => f64::cos,
                "cosh" => f64::cosh,
                "sin" => f64::sin,
                "sinh" => f64::sinh,
                "tan" => f64::tan,
                "tanh" => f64::tanh,
                "exp" => f64::exp,
                "ln" => f64::ln,
                _ => f64::log10,
            };
            // Imaginary or infinite results (acos(2), ln(0)) are Undefined.
            decimal_of(arg(0)).map_or(Val::Undefined, |d| Val::dec(f(d), version))
        }
        "atan2" => match (decimal_of(arg(0)), decimal_of(arg(1))) {
            (Some(y), Some(x)) => Val::dec(y.atan2(x), version),
            _ => Val::Undefined,
        },
        "bitand" | "bitor" | "bitxor" => match (floor_int(arg(0)), floor_int(arg(1))) {
            (Some(x), Some(y)) => Val::Int(match name {
                "bitand" => x & y,
                "bitor" => x | y,
                _ => x ^ y,
            }),
            _ => Val::Undefined,
        },
        "bitnot" => floor_int(arg(0)).map_or(Val::Undefined, |x| Val::Int(!x)),
        "chr" => floor_int(arg(0))
            .and_then(|c| u8::try_from(c).ok())
            .filter(u8::is_ascii)
            .map_or(Val::Undefined, |c| Val::Str(char::from(c).to_string())),
        "lpad" | "rpad" => match (str_of(0), floor_int(arg(1))) {
            (Some(s), Some(n)) => {
                let pad = " ".repeat(n.clamp(0, 1000) as usize);
                Val::Str(if name == "lpad" { pad + &s } else { s + &pad })
            }
            _ => Val::Undefined,
        },
        "trunc" => match (arg(0), floor_int(arg(1))) {
            (Val::Int(i), Some(_)) => Val::Int(*i),
            (v, Some(places)) => match decimal_of(v) {
                Some(d) => {
                    let scale = 10f64.powi(places.clamp(0, 34) as i32);
                    let t = (d * scale).trunc() / scale;
                    if t.fract() == 0.0 && t.abs() < 9.0e15 {
                        Val::Int(t as i64)
                    } else {
                        Val::Dec(t)
                    }
                }
                None => Val::Undefined,
            },
            _ => Val::Undefined,
        },
        "nanvl" => match arg(0) {
            Val::Undefined | Val::Null => arg(1).clone(),
            Val::Dec(d) if d.is_nan() => arg(1).clone(),
            v => v.clone(),
        },
        "rand" => {
            // 53 random bits from a v4 UUID's random source make a uniform double in [0, 1).
            let bits = uuid::Uuid::new_v4().as_u128() >> 75;
            Val::Dec(bits as f64 / (1u64 << 53) as f64)
        }
        "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512" => {
            str_of(0).map_or(Val::Undefined, |s| Val::Str(hash(name, s.as_bytes())))
        }
        _ => Val::Undefined,
    })
}

/// Numbers and numeric strings as Decimal (booleans, null and the rest do not convert).
fn decimal_of(v: &Val) -> Option<f64> {
    v.to_dec()
}

fn round_with(v: &Val, f: fn(f64) -> f64) -> Val {
    match v {
        Val::Int(i) => Val::Int(*i),
        v => decimal_of(v).map_or(Val::Undefined, |d| Val::Int(f(d) as i64)),
    }
}

/// The standard Int conversion, Decimals rounded down, as the bit functions and `chr` take it.
fn floor_int(v: &Val) -> Option<i64> {
    match v {
        Val::Int(i) => Some(*i),
        v => decimal_of(v).map(|d| d.floor() as i64),
    }
}

fn hash(name: &str, bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest: Vec<u8> = match name {
        "md5" => md5::Md5::digest(bytes).to_vec(),
        "sha1" => sha1::Sha1::digest(bytes).to_vec(),
        "sha224" => sha2::Sha224::digest(bytes).to_vec(),
        "sha256" => sha2::Sha256::digest(bytes).to_vec(),
        "sha384" => sha2::Sha384::digest(bytes).to_vec(),
        _ => sha2::Sha512::digest(bytes).to_vec(),
    };
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_base64(scheme: &Val) -> bool {
    matches!(scheme, Val::Str(s) if s.eq_ignore_ascii_case("base64"))
}

fn concat(a: &[Val]) -> Val {
    match a {
        [] => Val::Undefined,
        // The page's table returns one argument unmodified, its example gives `concat(1)` = "1".
        [one @ Val::Arr(_)] => one.clone(),
        [one] => one.to_str().map_or(Val::Undefined, Val::Str),
        _ if a.iter().any(|v| matches!(v, Val::Arr(_))) => {
            let mut out = Vec::new();
            for v in a {
                match v {
                    Val::Arr(items) => out.extend(items.iter().cloned()),
                    other => out.push(other.clone()),
                }
            }
            Val::Arr(out)
        }
        _ if a.iter().any(|v| matches!(v, Val::Str(_))) => {
            let mut out = String::new();
            for v in a {
                match v.to_str() {
                    Some(s) => out.push_str(&s),
                    None => return Val::Undefined,
                }
            }
            Val::Str(out)
        }
        _ => Val::Undefined,
    }
}

fn substring(a: &[Val]) -> Val {
    let Some(s) = a.first().and_then(Val::to_str) else { return Val::Undefined };
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as f64;
    let index = |v: &Val| v.to_dec().map(|d| d.trunc().clamp(0.0, len) as usize);
    let Some(start) = a.get(1).and_then(index) else { return Val::Undefined };
    let end = match a.get(2) {
        Some(v) => match index(v) {
            Some(e) => e,
            None => return Val::Undefined,
        },
        None => chars.len(),
    };
    if start >= end {
        return Val::Str(String::new());
    }
    Val::Str(chars[start..end].iter().collect())
}

/// `limit`: the most bytes `regexp_replace` may build (its `$0`s can multiply a string).
fn regexp(name: &str, a: &[Val], limit: usize) -> Result<Val, EvalError> {
    let (Some(s), Some(pattern)) = (a[0].to_str(), a[1].to_str()) else { return Ok(Val::Undefined) };
    let Some(re) = compiled(&pattern) else { return Ok(Val::Undefined) };
    Ok(match name {
        "regexp_matches" => Val::Bool(re.is_match(&s)),
        "regexp_substr" => Val::Str(re.find(&s).map_or(String::new(), |m| m.as_str().to_string())),
        _ => match a.get(2).and_then(Val::to_str) {
            Some(with) => {
                // `replace_all`, one match at a time, so the size is checked as it grows.
                let with = java_replacement(&with);
                let mut out = String::new();
                let mut last = 0;
                for caps in re.captures_iter(&s) {
                    let Some(m) = caps.get(0) else { continue };
                    out.push_str(&s[last..m.start()]);
                    caps.expand(&with, &mut out);
                    last = m.end();
                    if out.len() > limit {
                        return Err(EvalError::TooExpensive);
                    }
                }
                out.push_str(&s[last..]);
                Val::Str(out)
            }
            None => Val::Undefined,
        },
    })
}

/// A compiled regular expression, from a small process-wide cache so that a rule's pattern is not
/// compiled again for every message; `None` for an invalid pattern.
fn compiled(pattern: &str) -> Option<regex::Regex> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(found) = cache.get(pattern) {
        return found.clone();
    }
    let re = regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().ok();
    if cache.len() >= 256 {
        cache.clear();
    }
    cache.insert(pattern.to_string(), re.clone());
    re
}

/// Java's `$1` group references, written so Rust's regex reads `$1x` as group 1 then `x`.
fn java_replacement(with: &str) -> String {
    let mut out = String::new();
    let mut chars = with.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            if digits.is_empty() {
                out.push_str("$$");
            } else {
                out.push_str(&format!("${{{digits}}}"));
            }
        } else if c == '\\' {
            if let Some(next) = chars.next() {
                if next == '$' {
                    out.push_str("$$");
                } else {
                    out.push(next);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn get(collection: &Val, key: &Val) -> Val {
    match (collection, key) {
        (Val::Obj(_), Val::Str(k)) => collection.get(k),
        (Val::Arr(items), k) => k
            .to_int()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| items.get(i).cloned())
            .unwrap_or(Val::Undefined),
        (Val::Str(s), k) => k
            .to_int()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| s.chars().nth(i))
            .map_or(Val::Undefined, |c| Val::Str(c.to_string())),
        _ => Val::Undefined,
    }
}

fn decode(s: &str, version: SqlVersion) -> Val {
    let Ok(bytes) = STANDARD.decode(s.trim()) else { return Val::Null };
    let Ok(text) = String::from_utf8(bytes) else { return Val::Null };
    Val::parse_json(text.as_bytes(), version).unwrap_or(Val::Str(text))
}

fn get_thing_shadow(ctx: &Ctx<'_>, a: &[Val]) -> Result<Val, EvalError> {
    let strings: Vec<Option<String>> = a.iter().map(Val::to_str).collect();
    let (thing, shadow, role) = match strings.as_slice() {
        [Some(t), Some(r)] => (t, None, r),
        [Some(t), Some(s), Some(r)] => (t, Some(s.as_str()), r),
        _ => return Ok(Val::Undefined),
    };
    let result = ctx.env.get_thing_shadow(thing, shadow, role);
    let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
    let mut resources = serde_json::Map::new();
    resources.insert("ThingName".into(), thing.as_str().into());
    if let Some(shadow) = shadow {
        resources.insert("ShadowName".into(), shadow.into());
    }
    ctx.env.function_executed(&FunctionExecution {
        function: "get_thing_shadow".into(),
        rule_action: "GetThingShadow".into(),
        resources,
        outcome,
    });
    match result {
        Ok(Some(doc)) => Ok(Val::from_json(&doc, ctx.version)),
        Ok(None) => Ok(Val::Undefined),
        Err(message) => Err(EvalError::Function { function: "get_thing_shadow".into(), message }),
    }
}

/// A subset of Joda-Time's `DateTimeFormat` patterns, for `parse_time`.
pub(crate) mod joda {
    use time::{OffsetDateTime, UtcOffset};

    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

    /// A time zone: UTC/GMT/Z or a fixed offset such as `+05:30` (no tz database).
    fn zone(name: &str) -> Option<(UtcOffset, String)> {
        if ["UTC", "GMT", "Z", "Etc/UTC", "Etc/GMT", "UCT"].iter().any(|z| z.eq_ignore_ascii_case(name)) {
            return Some((UtcOffset::UTC, "UTC".into()));
        }
        let sign = match name.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return None,
        };
        let digits: String = name[1..].chars().filter(|c| *c != ':').collect();
        if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let h: i8 = digits[..2].parse().ok()?;
        let m: i8 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
        let offset = UtcOffset::from_hms(sign * h, sign * m, 0).ok()?;
        Some((offset, format!("{}{:02}:{:02}", if sign > 0 { '+' } else { '-' }, h, m)))
    }

    /// Parses `text` with a date/time pattern (the common letters of Joda-Time and java.time) to
    /// milliseconds since the epoch; without a zone in the text, UTC. `None` when it does not fit.
    pub fn parse(text: &str, pattern: &str) -> Option<i64> {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        let (mut i, mut j) = (0, 0);
        let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut millis) =
            (1970, 1, 1, 0, 0, 0, 0);
        let mut pm: Option<bool> = None;
        let mut offset = UtcOffset::UTC;
        let digits = |j: &mut usize, max: usize| -> Option<i64> {
            let start = *j;
            while *j < t.len() && *j - start < max && t[*j].is_ascii_digit() {
                *j += 1;
            }
            t[start..*j].iter().collect::<String>().parse().ok()
        };
        while i < p.len() {
            let c = p[i];
            if c == '\'' {
                i += 1;
                while i < p.len() && p[i] != '\'' {
                    if t.get(j) != Some(&p[i]) {
                        return None;
                    }
                    i += 1;
                    j += 1;
                }
                i += 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                if t.get(j) != Some(&c) {
                    return None;
                }
                i += 1;
                j += 1;
                continue;
            }
            let mut n = 1;
            while p.get(i + n) == Some(&c) {
                n += 1;
            }
            i += n;
            // A numeric field directly followed by another letter takes exactly n digits.
            let width = if p.get(i).is_some_and(char::is_ascii_alphabetic) { n } else { 9 };
            match c {
                'y' | 'u' | 'Y' => year = digits(&mut j, if n == 2 { 2 } else { width.max(4) })?,
                'M' | 'L' if n >= 3 => {
                    let rest: String = t[j..].iter().collect();
                    let (k, name) = MONTHS.iter().enumerate().find_map(|(k, m)| {
                        let name = if n == 3 { &m[..3] } else { m };
                        rest.to_ascii_lowercase().starts_with(&name.to_ascii_lowercase()).then_some((k, name))
                    })?;
                    month = k as i64 + 1;
                    j += name.chars().count();
                }
                'M' | 'L' => month = digits(&mut j, width.min(2))?,
                'd' => day = digits(&mut j, width.min(2))?,
                'H' | 'k' => hour = digits(&mut j, width.min(2))?,
                'h' | 'K' => hour = digits(&mut j, width.min(2))?,
                'm' => minute = digits(&mut j, width.min(2))?,
                's' => second = digits(&mut j, width.min(2))?,
                'S' => {
                    let start = j;
                    let frac = digits(&mut j, n.max(1))?;
                    let len = (j - start) as u32;
                    millis = if len >= 3 { frac / 10i64.pow(len - 3) } else { frac * 10i64.pow(3 - len) };
                }
                'a' => {
                    let rest: String = t[j..(j + 2).min(t.len())].iter().collect();
                    pm = Some(match rest.to_ascii_uppercase().as_str() {
                        "AM" => false,
                        "PM" => true,
                        _ => return None,
                    });
                    j += 2;
                }
                'E' => {
                    let rest: String = t[j..].iter().collect::<String>().to_ascii_lowercase();
                    let name = DAYS.iter().find_map(|d| {
                        let d = d.to_ascii_lowercase();
                        if rest.starts_with(&d) {
                            Some(d.len())
                        } else {
                            rest.starts_with(&d[..3]).then_some(3)
                        }
                    })?;
                    j += name;
                }
                'V' | 'z' | 'Z' | 'X' | 'x' | 'O' => {
                    let end = t[j..].iter().position(|ch| ch.is_whitespace()).map_or(t.len(), |e| j + e);
                    let name: String = t[j..end].iter().collect();
                    let fixed =
                        name.strip_prefix("UTC").or_else(|| name.strip_prefix("GMT")).unwrap_or(&name);
                    offset = if fixed.is_empty() { UtcOffset::UTC } else { zone(fixed)?.0 };
                    j = end;
                }
                _ => return None,
            }
        }
        if j != t.len() {
            return None;
        }
        match pm {
            Some(true) if hour < 12 => hour += 12,
            Some(false) if hour == 12 => hour = 0,
            _ => {}
        }
        let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
        let date =
            time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
        let clock = time::Time::from_hms_milli(
            u8::try_from(hour).ok()?,
            u8::try_from(minute).ok()?,
            u8::try_from(second).ok()?,
            u16::try_from(millis).ok()?,
        )
        .ok()?;
        let at = time::PrimitiveDateTime::new(date, clock).assume_offset(offset);
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
    }

    /// Formats `ms` since the epoch in `zone` with a Joda pattern; `None` for what is not supported.
    pub fn format(pattern: &str, ms: i64, zone_name: &str) -> Option<String> {
        let (offset, zone_label) = zone(zone_name)?;
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?.to_offset(offset);
        let chars: Vec<char> = pattern.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                i += 1;
                if chars.get(i) == Some(&'\'') {
                    out.push('\'');
                    i += 1;
                    continue;
                }
                while i < chars.len() {
                    if chars[i] == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            out.push('\'');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    out.push(chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                out.push(c);
                i += 1;
                continue;
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            i += n;
            let pad = |v: i64, w: usize| format!("{v:0w$}");
            let hour = i64::from(t.hour());
            match c {
                'G' => out.push_str(if t.year() > 0 { "AD" } else { "BC" }),
                'y' | 'Y' | 'x' => {
                    let y = i64::from(t.year());
                    out.push_str(&if n == 2 { pad(y.rem_euclid(100), 2) } else { pad(y, n) });
                }
                'M' if n >= 4 => out.push_str(MONTHS[usize::from(u8::from(t.month())) - 1]),
                'M' if n == 3 => out.push_str(&MONTHS[usize::from(u8::from(t.month())) - 1][..3]),
                'M' => out.push_str(&pad(i64::from(u8::from(t.month())), n)),
                'd' => out.push_str(&pad(i64::from(t.day()), n)),
                'D' => out.push_str(&pad(i64::from(t.ordinal()), n)),
                'H' => out.push_str(&pad(hour, n)),
                'k' => out.push_str(&pad(if hour == 0 { 24 } else { hour }, n)),
                'K' => out.push_str(&pad(hour % 12, n)),
                'h' => out.push_str(&pad(if hour % 12 == 0 { 12 } else { hour % 12 }, n)),
                'm' => out.push_str(&pad(i64::from(t.minute()), n)),
                's' => out.push_str(&pad(i64::from(t.second()), n)),
                'S' => {
                    let millis = format!("{:03}", t.millisecond());
                    let mut frac: String = millis.chars().take(n).collect();
                    while frac.len() < n {
                        frac.push('0');
                    }
                    out.push_str(&frac);
                }
                'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
                'E' => {
                    let day = DAYS[usize::from(t.weekday().number_days_from_monday())];
                    out.push_str(if n >= 4 { day } else { &day[..3] });
                }
                'e' => out.push_str(&pad(i64::from(t.weekday().number_from_monday()), n)),
                'z' => out.push_str(&zone_label),
                'Z' => {
                    let label = if zone_label == "UTC" { "+00:00".to_string() } else { zone_label.clone() };
                    match n {
                        1 => out.push_str(&label.replace(':', "")),
                        2 => out.push_str(&label),
                        _ => out.push_str(zone_name),
                    }
                }
                _ => return None,
            }
        }
        Some(out)
    }
}
