//! A hand-written tokenizer and recursive-descent parser for AWS IoT SQL, so that every
//! error names what was expected and where (line:column), as `SqlParseException` does.

use std::fmt;

use super::ast::{BinOp, CastType, Expr, From, Literal, Query, SelectItem, SqlVersion};

/// Where a parse error is, 1-based (`column` counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
    /// Byte offset in the statement.
    pub offset: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// An invalid statement: AWS answers `SqlParseException` with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {position}")]
pub struct SqlError {
    /// Where the problem is.
    pub position: Position,
    /// What is wrong, without the position.
    pub message: String,
}

impl SqlError {
    pub(crate) fn at(sql: &str, offset: usize, message: impl Into<String>) -> SqlError {
        let before = &sql[..offset.min(sql.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        SqlError { position: Position { line, column, offset }, message: message.into() }
    }
}

/// CreateTopicRule and ReplaceTopicRule answer an invalid statement with 400 SqlParseException.
impl iotemu_core::ServiceError for SqlError {
    fn http_status(&self) -> u16 {
        400
    }

    fn error_type(&self) -> &'static str {
        "SqlParseException"
    }
}

/// How deeply expressions may nest, so a hostile statement cannot overflow the stack.
const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Number(String),
    Str(String),
    Punct(&'static str),
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) | Tok::Number(s) => write!(f, "'{s}'"),
            Tok::Str(s) => write!(f, "string '{s}'"),
            Tok::Punct(p) => write!(f, "'{p}'"),
            Tok::Eof => f.write_str("end of statement"),
        }
    }
}

const PUNCTS: [&str; 20] =
    ["<>", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "*", "+", "-", "/", "%", "=", "<"];

fn tokenize(sql: &str) -> Result<Vec<(Tok, usize)>, SqlError> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
            {
                i += 1;
            }
            out.push((Tok::Ident(sql[start..i].to_string()), start));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'-' || bytes[j] == b'+') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            out.push((Tok::Number(sql[start..i].to_string()), start));
        } else if c == b'\'' || c == b'"' {
            let start = i;
            i += 1;
            let mut s = String::new();
            loop {
                let Some(ch) = sql[i..].chars().next() else {
                    return Err(SqlError::at(sql, start, "Unterminated string literal"));
                };
                i += ch.len_utf8();
                if ch as u32 == u32::from(c) {
                    // A doubled quote stands for one quote character.
                    if i < bytes.len() && bytes[i] == c {
                        s.push(ch);
                        i += 1;
                        continue;
                    }
                    break;
                }
                if ch == '\\' {
                    if let Some(next) = sql[i..].chars().next() {
                        i += next.len_utf8();
                        s.push(match next {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                        continue;
                    }
                }
                s.push(ch);
            }
            out.push((Tok::Str(s), start));
        } else if let Some(p) = PUNCTS.iter().find(|p| sql[i..].starts_with(**p)) {
            out.push((Tok::Punct(p), i));
            i += p.len();
        } else if c == b'>' {
            out.push((Tok::Punct(">"), i));
            i += 1;
        } else {
            let ch = sql[i..].chars().next().unwrap_or('?');
            return Err(SqlError::at(sql, i, format!("Unexpected character '{ch}'")));
        }
    }
    out.push((Tok::Eof, sql.len()));
    Ok(out)
}

const RESERVED: [&str; 14] = [
    "select", "from", "where", "as", "and", "or", "not", "case", "when", "then", "else", "end", "true",
    "false",
];

/// Parses a whole statement.
pub(crate) fn parse_statement(sql: &str, version: SqlVersion) -> Result<Query, SqlError> {
    let mut p = Parser { sql, toks: tokenize(sql)?, pos: 0, version, depth: 0 };
    let query = p.query(true)?;
    if p.peek() != &Tok::Eof {
        return Err(p.error(format!("Unexpected {} after the statement", p.peek())));
    }
    Ok(query)
}

/// Parses a lone expression (a substitution template's `${...}`); `base` is where `sql` starts
/// inside `whole`, so that positions point into the whole text.
pub(crate) fn parse_expression(
    whole: &str,
    base: usize,
    sql: &str,
    version: SqlVersion,
) -> Result<Expr, SqlError> {
    let shift = |e: SqlError| SqlError::at(whole, base + e.position.offset, e.message);
    let mut p = Parser { sql, toks: tokenize(sql).map_err(shift)?, pos: 0, version, depth: 0 };
    let expr = p.expr().map_err(shift)?;
    if p.peek() != &Tok::Eof {
        return Err(shift(p.error(format!("Unexpected {} after the expression", p.peek()))));
    }
    Ok(expr)
}

struct Parser<'a> {
    sql: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    version: SqlVersion,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].0
    }

    fn offset(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn error(&self, message: impl Into<String>) -> SqlError {
        SqlError::at(self.sql, self.offset(), message)
    }

    fn expected(&self, what: &str) -> SqlError {
        self.error(format!("Expected {what} but found {}", self.peek()))
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let found = self.is_kw(kw);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.expected(kw))
        }
    }

    fn eat(&mut self, p: &str) -> bool {
        let found = matches!(self.peek(), Tok::Punct(q) if *q == p);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, p: &str) -> Result<(), SqlError> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{p}'")))
        }
    }

    fn enter(&mut self) -> Result<(), SqlError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("Expressions nest deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        Ok(())
    }

    fn require_2016(&self, what: &str) -> Result<(), SqlError> {
        if self.version == SqlVersion::V2015_10_08 {
            return Err(self.error(format!("{what} requires SQL version 2016-03-23")));
        }
        Ok(())
    }

    fn query(&mut self, top: bool) -> Result<Query, SqlError> {
        self.expect_kw("select")?;
        let value = self.is_kw("value")
            && !matches!(self.peek_at(1), Tok::Punct("," | "." | "[" | "=" | "+" | "-" | "/" | "%" | "<"))
            && !self.is_kw_at(1, "from")
            && !self.is_kw_at(1, "as");
        if value {
            self.pos += 1;
        }
        let mut items = Vec::new();
        loop {
            if value && matches!(self.peek(), Tok::Punct("*")) {
                return Err(self.error("SELECT VALUE takes one expression, not '*'"));
            }
            items.push(self.select_item()?);
            if value && matches!(self.peek(), Tok::Punct(",")) {
                return Err(self.error("SELECT VALUE takes exactly one expression"));
            }
            if !self.eat(",") {
                break;
            }
        }
        if !self.is_kw("from") {
            return Err(self.expected("',' or FROM"));
        }
        self.pos += 1;
        let from = if top {
            match self.peek().clone() {
                Tok::Str(filter) => {
                    let at = self.offset();
                    if let Err(m) = check_filter(&filter) {
                        return Err(SqlError::at(self.sql, at, m));
                    }
                    self.pos += 1;
                    From::Topic(filter)
                }
                _ => return Err(self.expected("a topic filter in quotes")),
            }
        } else {
            From::Expr(Box::new(self.postfix()?))
        };
        let condition = if self.eat_kw("where") { Some(self.expr()?) } else { None };
        Ok(Query { value, items, from, condition })
    }

    fn select_item(&mut self) -> Result<SelectItem, SqlError> {
        if self.eat("*") {
            return Ok(SelectItem::Wildcard);
        }
        if self.is_kw("from") {
            return Err(self.expected("an expression or '*'"));
        }
        let expr = self.expr()?;
        let alias = if self.eat_kw("as") {
            let mut path = vec![self.name("an alias")?];
            while self.eat(".") {
                // Each level of the path nests the output object one deeper.
                if path.len() >= MAX_DEPTH {
                    return Err(self.error(format!("Aliases nest deeper than {MAX_DEPTH} levels")));
                }
                path.push(self.name("an alias")?);
            }
            Some(path)
        } else {
            None
        };
        Ok(SelectItem::Expr { expr, alias })
    }

    fn name(&mut self, what: &str) -> Result<String, SqlError> {
        match self.peek().clone() {
            Tok::Ident(s) if what == "an alias" && RESERVED.contains(&s.to_ascii_lowercase().as_str()) => {
                Err(self.expected(what))
            }
            Tok::Ident(s) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn expr(&mut self) -> Result<Expr, SqlError> {
        self.enter()?;
        let e = self.or();
        self.depth -= 1;
        e
    }

    /// One level of left-associative binary operators; each operator counts toward the depth
    /// limit, since evaluating `a + b + ...` recurses once per operator.
    fn binary_level(
        &mut self,
        operand: fn(&mut Self) -> Result<Expr, SqlError>,
        operator: fn(&Self) -> Option<BinOp>,
    ) -> Result<Expr, SqlError> {
        let mut left = operand(self)?;
        let mut chain = 0;
        while let Some(op) = operator(self) {
            self.enter()?;
            chain += 1;
            self.pos += 1;
            let right = operand(self)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        self.depth -= chain;
        Ok(left)
    }

    fn or(&mut self) -> Result<Expr, SqlError> {
        self.binary_level(Self::and, |p| p.is_kw("or").then_some(BinOp::Or))
    }

    fn and(&mut self) -> Result<Expr, SqlError> {
        self.binary_level(Self::not, |p| p.is_kw("and").then_some(BinOp::And))
    }

    fn not(&mut self) -> Result<Expr, SqlError> {
        if self.is_kw("not") {
            self.enter()?;
            self.pos += 1;
            let inner = self.not();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, SqlError> {
        self.binary_level(Self::additive, |p| match p.peek() {
            Tok::Punct("=") => Some(BinOp::Eq),
            Tok::Punct("<>" | "!=") => Some(BinOp::Ne),
            Tok::Punct("<") => Some(BinOp::Lt),
            Tok::Punct("<=") => Some(BinOp::Le),
            Tok::Punct(">") => Some(BinOp::Gt),
            Tok::Punct(">=") => Some(BinOp::Ge),
            _ => None,
        })
    }

    fn additive(&mut self) -> Result<Expr, SqlError> {
        self.binary_level(Self::multiplicative, |p| match p.peek() {
            Tok::Punct("+") => Some(BinOp::Add),
            Tok::Punct("-") => Some(BinOp::Sub),
            _ => None,
        })
    }

    fn multiplicative(&mut self) -> Result<Expr, SqlError> {
        self.binary_level(Self::unary, |p| match p.peek() {
            Tok::Punct("*") => Some(BinOp::Mul),
            Tok::Punct("/") => Some(BinOp::Div),
            Tok::Punct("%") => Some(BinOp::Mod),
            _ => None,
        })
    }

    fn unary(&mut self) -> Result<Expr, SqlError> {
        if matches!(self.peek(), Tok::Punct("-")) {
            self.enter()?;
            self.pos += 1;
            let inner = self.unary();
            self.depth -= 1;
            return Ok(match inner? {
                Expr::Literal(Literal::Int(i)) => Expr::Literal(Literal::Int(-i)),
                Expr::Literal(Literal::Decimal(d)) => Expr::Literal(Literal::Decimal(-d)),
                e => Expr::Neg(Box::new(e)),
            });
        }
        if matches!(self.peek(), Tok::Punct("+")) {
            self.enter()?;
            self.pos += 1;
            let inner = self.unary();
            self.depth -= 1;
            return inner;
        }
        self.postfix()
    }

    /// `a.b[0].c`: each `.` and `[]` counts toward the depth limit, since evaluating (and
    /// dropping) the chain recurses once per link.
    fn postfix(&mut self) -> Result<Expr, SqlError> {
        let mut e = self.primary()?;
        let mut chain = 0;
        loop {
            if matches!(self.peek(), Tok::Punct(".")) {
                self.enter()?;
                chain += 1;
                self.pos += 1;
                let name = self.name("a field name after '.'")?;
                e = Expr::Member(Box::new(e), name);
            } else if matches!(self.peek(), Tok::Punct("[")) {
                self.enter()?;
                chain += 1;
                self.pos += 1;
                let index = self.expr()?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(index));
            } else {
                self.depth -= chain;
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, SqlError> {
        let at = self.offset();
        let start = self.pos;
        match self.next() {
            Tok::Number(n) => {
                number(&n).ok_or_else(|| SqlError::at(self.sql, at, format!("Invalid number {n}")))
            }
            Tok::Str(s) => Ok(Expr::Literal(Literal::String(s))),
            Tok::Punct("(") => {
                if self.is_kw("select") {
                    self.pos -= 1;
                    self.require_2016("A nested SELECT")?;
                    // A nested query counts toward the depth limit: its FROM may nest another.
                    self.enter()?;
                    self.pos += 1;
                    let q = self.query(false)?;
                    self.depth -= 1;
                    self.expect(")")?;
                    return Ok(Expr::Subquery(Box::new(q)));
                }
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Punct("{") => {
                self.pos -= 1;
                self.require_2016("An object literal")?;
                self.pos += 1;
                let mut fields = Vec::new();
                if !self.eat("}") {
                    loop {
                        let key = match self.peek().clone() {
                            Tok::Str(s) | Tok::Ident(s) => s,
                            _ => return Err(self.expected("a key")),
                        };
                        self.pos += 1;
                        self.expect(":")?;
                        fields.push((key, self.expr()?));
                        if self.eat("}") {
                            break;
                        }
                        self.expect(",").map_err(|_| self.expected("',' or '}'"))?;
                    }
                }
                Ok(Expr::Object(fields))
            }
            Tok::Punct("[") => {
                self.pos -= 1;
                self.require_2016("An array literal")?;
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.expr()?);
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",").map_err(|_| self.expected("',' or ']'"))?;
                    }
                }
                Ok(Expr::Array(items))
            }
            Tok::Ident(name) => self.identifier(name, at),
            _ => {
                self.pos = start;
                Err(self.expected("an expression"))
            }
        }
    }

    fn identifier(&mut self, name: String, at: usize) -> Result<Expr, SqlError> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "true" => return Ok(Expr::Literal(Literal::Bool(true))),
            "false" => return Ok(Expr::Literal(Literal::Bool(false))),
            "null" => return Ok(Expr::Literal(Literal::Null)),
            "case" => return self.case(),
            _ => {}
        }
        if !matches!(self.peek(), Tok::Punct("(")) {
            if RESERVED.contains(&lower.as_str()) {
                return Err(SqlError::at(self.sql, at, format!("Expected an expression but found '{name}'")));
            }
            return Ok(Expr::Field(name));
        }
        self.pos += 1;
        if lower == "cast" {
            let e = self.expr()?;
            self.expect_kw("as")?;
            let ty_at = self.offset();
            let ty = self.name("a type name")?;
            let ty = match ty.to_ascii_lowercase().as_str() {
                "string" | "nvarchar" | "text" | "ntext" | "varchar" => CastType::String,
                "int" | "integer" => CastType::Int,
                "double" => CastType::Decimal,
                "decimal" if self.version == SqlVersion::V2016_03_23 => CastType::Decimal,
                "bool" | "boolean" if self.version == SqlVersion::V2016_03_23 => CastType::Boolean,
                _ => return Err(SqlError::at(self.sql, ty_at, format!("Unknown cast type '{ty}'"))),
            };
            self.expect(")")?;
            return Ok(Expr::Cast(Box::new(e), ty));
        }
        let Some(arity) = super::functions::arity(&lower, self.version) else {
            return Err(SqlError::at(
                self.sql,
                at,
                format!("Unknown function '{name}' in SQL version {}", self.version),
            ));
        };
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                if matches!(self.peek(), Tok::Punct("*")) && lower == "encode" && args.is_empty() {
                    self.pos += 1;
                    args.push(Expr::Wildcard);
                } else {
                    args.push(self.expr()?);
                }
                if self.eat(")") {
                    break;
                }
                self.expect(",").map_err(|_| self.expected("',' or ')'"))?;
            }
        }
        if !arity.contains(&args.len()) {
            return Err(SqlError::at(
                self.sql,
                at,
                format!("Function '{name}' takes {} arguments, not {}", describe(&arity), args.len()),
            ));
        }
        Ok(Expr::Call(lower, args))
    }

    fn case(&mut self) -> Result<Expr, SqlError> {
        let operand = Box::new(self.expr()?);
        let mut branches = Vec::new();
        while self.eat_kw("when") {
            let when = self.expr()?;
            self.expect_kw("then")?;
            branches.push((when, self.expr()?));
        }
        if branches.is_empty() {
            return Err(self.expected("WHEN"));
        }
        let otherwise = if self.eat_kw("else") { Some(Box::new(self.expr()?)) } else { None };
        if !self.eat_kw("end") {
            return Err(self.expected("WHEN, ELSE or END"));
        }
        Ok(Expr::Case { operand, branches, otherwise })
    }
}

fn describe(r: &std::ops::RangeInclusive<usize>) -> String {
    match (r.start(), r.end()) {
        (a, b) if a == b => a.to_string(),
        (a, &usize::MAX) => format!("{a} or more"),
        (a, b) => format!("{a} to {b}"),
    }
}

fn number(n: &str) -> Option<Expr> {
    if n.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = n.parse::<i64>() {
            return Some(Expr::Literal(Literal::Int(i)));
        }
    }
    n.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| Expr::Literal(Literal::Decimal(f)))
}

/// Checks an MQTT topic filter: `+` and `#` alone in their level, `#` last.
fn check_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("The topic filter is empty".into());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!("Invalid topic filter '{filter}': '#' must be the last level on its own"));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!("Invalid topic filter '{filter}': '+' must be a level on its own"));
        }
    }
    Ok(())
}

/// Whether an MQTT topic filter (with `+` and `#`) matches a topic name.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    // Wildcards at the first level do not match topics starting with `$` (MQTT 4.7.2).
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    // Levels as bytes: splitting short topics on a byte costs less than on a `char` (every
    // message is matched against every rule).
    let mut f = filter.as_bytes().split(|b| *b == b'/');
    let mut t = topic.as_bytes().split(|b| *b == b'/');
    loop {
        match (f.next(), t.next()) {
            // `#` is one or more further levels: `topic/#` does not match `topic` (topics.md:
            // "sensor/# ... but not messages published to sensor"; iot-sql-from.md: "one or more
            // particular path elements"), as the broker's subscriptions.
            (Some(b"#"), t) => return t.is_some(),
            (Some(b"+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}
