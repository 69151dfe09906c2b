//! A hand-written recursive-descent parser of Logs Insights queries; every error carries the
//! offsets of the symbol it is about (MalformedQueryException's `queryCompileError.location`).
//!
//! ```text
//! query    := command ( "|" command )*
//! command  := fields named ("," named)* | display field ("," field)* | filter expr
//!           | stats agg ("," agg)* [ by named ("," named)* ] | sort expr [asc|desc] ("," ...)*
//!           | limit number | parse [field] ( string as field ("," field)* | regex )
//! named    := expr [ as field ]
//! agg      := name "(" [ "*" | expr [ "," number ] ] ")" [ as field ]
//! expr     := and ( or and )*          and := not ( and not )*      not := [not] cmp
//! cmp      := sum [ ( = | != | < | <= | > | >= ) sum | [not] like (regex|string)
//!                 | =~ regex | [not] in "[" expr ("," expr)* "]" ]
//! sum      := product ( (+|-) product )*   product := unary ( (*|/|%) unary )*
//! unary    := [-] primary                 primary := number | string | field
//!           | name "(" args ")" | bin "(" duration ")" | "(" expr ")"
//! ```

use super::ast::{AggFunc, Aggregate, ArithOp, CmpOp, Command, Expr, Func, Named, ParsePattern, Query};
use super::lexer::{tokenize, Tok, Token};
use super::QueryError;
use regex::Regex;

/// How deeply expressions may nest (parentheses, `not`, unary minus). AWS documents no limit;
/// this keeps the descent and the evaluation far from the end of the thread's stack.
pub const MAX_NESTING: usize = 64;

/// Parses a query.
pub fn parse(src: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(src)?;
    let mut p = Parser { src, tokens, pos: 0, depth: 0 };
    if p.peek() == &Tok::Eof {
        return Err(QueryError::at(src, 0, src.len(), "the query is empty"));
    }
    let mut commands = vec![p.command()?];
    while p.eat(&Tok::Pipe) {
        commands.push(p.command()?);
    }
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected());
    }
    Ok(Query { commands })
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn token(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let found = self.peek() == tok;
        if found {
            self.next();
        }
        found
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(word))
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.keyword(word);
        if found {
            self.next();
        }
        found
    }

    fn error(&self, t: &Token, message: &str) -> QueryError {
        QueryError::at(self.src, t.start, t.end, message)
    }

    fn unexpected(&self) -> QueryError {
        let t = self.token();
        let found = if t.tok == Tok::Eof { "<EOF>" } else { &self.src[t.start..t.end] };
        self.error(t, &format!("unexpected symbol found {found}"))
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), QueryError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn command(&mut self) -> Result<Command, QueryError> {
        let Tok::Ident(word) = self.peek().clone() else { return Err(self.unexpected()) };
        let start = self.token().clone();
        self.next();
        match word.to_ascii_lowercase().as_str() {
            "fields" => Ok(Command::Fields(self.list(Self::named)?)),
            "display" => Ok(Command::Display(self.list(Self::field)?)),
            "filter" => Ok(Command::Filter(self.expr()?)),
            "stats" => self.stats(),
            "sort" => Ok(Command::Sort(self.list(|p| {
                let e = p.expr()?;
                let desc = if p.eat_keyword("desc") {
                    true
                } else {
                    p.eat_keyword("asc");
                    false
                };
                Ok((e, desc))
            })?)),
            "limit" => {
                let t = self.next();
                match t.tok.clone() {
                    Tok::Num(n) if n >= 1.0 && n.fract() == 0.0 && n <= 10_000.0 => Ok(Command::Limit(n as usize)),
                    _ => Err(self.error(&t, "limit takes a whole number from 1 to 10000")),
                }
            }
            "parse" => self.parse_command(),
            _ => Err(self.error(&start, &format!("unexpected symbol found {word}: expected a command (fields, filter, stats, sort, limit, parse, display)"))),
        }
    }

    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, QueryError>,
    ) -> Result<Vec<T>, QueryError> {
        let mut out = vec![item(self)?];
        while self.eat(&Tok::Comma) {
            out.push(item(self)?);
        }
        Ok(out)
    }

    fn field(&mut self) -> Result<String, QueryError> {
        match self.peek().clone() {
            Tok::Ident(name) if !is_reserved(&name) => {
                self.next();
                Ok(name)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn alias(&mut self, text: String) -> Result<String, QueryError> {
        if self.eat_keyword("as") {
            self.field()
        } else {
            Ok(text)
        }
    }

    fn named(&mut self) -> Result<Named, QueryError> {
        let start = self.token().start;
        let expr = self.expr()?;
        let text = self.text_since(start);
        Ok(Named { expr, name: self.alias(text)? })
    }

    /// The query text from `start` to the end of the last token read.
    fn text_since(&self, start: usize) -> String {
        let end = self.tokens[self.pos.saturating_sub(1)].end;
        self.src[start..end.max(start)].trim().to_string()
    }

    fn stats(&mut self) -> Result<Command, QueryError> {
        let aggs = self.list(Self::aggregate)?;
        let by = if self.eat_keyword("by") { self.list(Self::named)? } else { Vec::new() };
        Ok(Command::Stats { aggs, by })
    }

    fn aggregate(&mut self) -> Result<Aggregate, QueryError> {
        let head = self.token().clone();
        let Tok::Ident(name) = head.tok.clone() else { return Err(self.unexpected()) };
        let func = match name.to_ascii_lowercase().as_str() {
            "count" => AggFunc::Count,
            "count_distinct" => AggFunc::CountDistinct,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "pct" | "percentile" => AggFunc::Pct(0.0),
            _ => return Err(self.error(&head, &format!("unknown statistic function {name}"))),
        };
        self.next();
        self.expect(&Tok::LParen)?;
        let mut arg = None;
        if func == AggFunc::Count && (self.eat(&Tok::Op("*")) || self.peek() == &Tok::RParen) {
        } else {
            arg = Some(self.expr()?);
        }
        let func = if let AggFunc::Pct(_) = func {
            self.expect(&Tok::Comma)?;
            let t = self.next();
            match t.tok.clone() {
                Tok::Num(p) if (0.0..=100.0).contains(&p) => AggFunc::Pct(p),
                _ => return Err(self.error(&t, "pct takes a percentile from 0 to 100")),
            }
        } else {
            func
        };
        self.expect(&Tok::RParen)?;
        let text = self.text_since(head.start);
        Ok(Aggregate { func, arg, name: self.alias(text)? })
    }

    fn parse_command(&mut self) -> Result<Command, QueryError> {
        let field = match self.peek() {
            Tok::Ident(_) => self.field()?,
            _ => "@message".to_string(),
        };
        let t = self.next();
        let pattern = match t.tok.clone() {
            Tok::Str(glob) => {
                if !self.eat_keyword("as") {
                    return Err(self.unexpected());
                }
                let names = self.list(Self::field)?;
                let pieces: Vec<String> = glob.split('*').map(regex::escape).collect();
                if pieces.len() - 1 != names.len() {
                    return Err(self.error(
                        &t,
                        &format!(
                            "the pattern has {} * but {} field names follow as",
                            pieces.len() - 1,
                            names.len()
                        ),
                    ));
                }
                let regex = Regex::new(&format!("(?s){}", pieces.join("(.*?)")))
                    .map_err(|e| self.error(&t, &format!("invalid pattern: {e}")))?;
                ParsePattern::Glob { regex, names }
            }
            Tok::Regex(text) => {
                let regex = compile(&text).map_err(|e| self.error(&t, &e))?;
                if regex.capture_names().flatten().next().is_none() {
                    return Err(self.error(&t, "the regular expression of parse names no group (?<name>...)"));
                }
                ParsePattern::Regex(regex)
            }
            _ => {
                self.pos -= 1;
                return Err(self.unexpected());
            }
        };
        Ok(Command::Parse { field, pattern })
    }

    fn nest<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, QueryError>) -> Result<T, QueryError> {
        if self.depth >= MAX_NESTING {
            return Err(self.error(
                &self.token().clone(),
                &format!("the expression nests deeper than {MAX_NESTING} levels"),
            ));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        self.nest(|p| {
            let mut left = p.and()?;
            while p.eat_keyword("or") {
                left = Expr::Or(Box::new(left), Box::new(p.and()?));
            }
            Ok(left)
        })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not()?;
        while self.eat_keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.eat_keyword("not") {
            return self.nest(|p| Ok(Expr::Not(Box::new(p.not()?))));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, QueryError> {
        let left = self.sum()?;
        let op = match self.peek() {
            Tok::Op("=") => Some(CmpOp::Eq),
            Tok::Op("!=") => Some(CmpOp::Ne),
            Tok::Op("<") => Some(CmpOp::Lt),
            Tok::Op("<=") => Some(CmpOp::Le),
            Tok::Op(">") => Some(CmpOp::Gt),
            Tok::Op(">=") => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.next();
            return Ok(Expr::Cmp(Box::new(left), op, Box::new(self.sum()?)));
        }
        let negated = self.keyword("not")
            && matches!(&self.tokens[self.pos + 1].tok, Tok::Ident(w) if w.eq_ignore_ascii_case("like") || w.eq_ignore_ascii_case("in"));
        if negated {
            self.next();
        }
        if self.eat_keyword("like") || (!negated && self.eat(&Tok::Op("=~"))) {
            let t = self.next();
            let pattern = match t.tok.clone() {
                Tok::Regex(text) => compile(&text).map_err(|e| self.error(&t, &e))?,
                Tok::Str(text) => {
                    Regex::new(&regex::escape(&text)).map_err(|e| self.error(&t, &e.to_string()))?
                }
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected());
                }
            };
            return Ok(Expr::Like { expr: Box::new(left), pattern, negated });
        }
        if self.eat_keyword("in") {
            self.expect(&Tok::LBracket)?;
            let list = self.list(Self::sum)?;
            self.expect(&Tok::RBracket)?;
            return Ok(Expr::In { expr: Box::new(left), list, negated });
        }
        if negated {
            return Err(self.unexpected());
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.product()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => ArithOp::Add,
                Tok::Op("-") => ArithOp::Sub,
                _ => return Ok(left),
            };
            self.next();
            left = Expr::Arith(Box::new(left), op, Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => ArithOp::Mul,
                Tok::Op("/") => ArithOp::Div,
                Tok::Op("%") => ArithOp::Mod,
                _ => return Ok(left),
            };
            self.next();
            left = Expr::Arith(Box::new(left), op, Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.eat(&Tok::Op("-")) {
            return self
                .nest(|p| Ok(Expr::Arith(Box::new(Expr::Num(0.0)), ArithOp::Sub, Box::new(p.unary()?))));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let t = self.token().clone();
        match t.tok.clone() {
            Tok::Num(n) => {
                self.next();
                Ok(Expr::Num(n))
            }
            Tok::Str(s) => {
                self.next();
                Ok(Expr::Str(s))
            }
            Tok::LParen => {
                self.next();
                let e = self.expr()?;
                self.expect(&Tok::RParen)?;
                Ok(e)
            }
            Tok::Ident(name) if !is_reserved(&name) => {
                self.next();
                if self.peek() != &Tok::LParen {
                    return Ok(Expr::Field(name));
                }
                self.next();
                if name.eq_ignore_ascii_case("bin") {
                    let d = self.next();
                    let Tok::Duration(ms) = d.tok else {
                        return Err(self.error(&d, "bin takes a period such as 5m, 1h or 30s"));
                    };
                    if ms <= 0 {
                        return Err(self.error(&d, "bin's period must be positive"));
                    }
                    self.expect(&Tok::RParen)?;
                    return Ok(Expr::Bin(ms));
                }
                let Some((func, arity)) = Func::by_name(&name) else {
                    return Err(self.error(&t, &format!("unknown function {name}")));
                };
                let args = if self.peek() == &Tok::RParen { Vec::new() } else { self.list(Self::expr)? };
                self.expect(&Tok::RParen)?;
                let arity_ok = match arity {
                    Some(n) => args.len() == n,
                    None => !args.is_empty(),
                };
                if !arity_ok {
                    return Err(self.error(&t, &format!("wrong number of arguments to {name}")));
                }
                Ok(Expr::Call(func, args))
            }
            _ => Err(self.unexpected()),
        }
    }
}

/// Keywords that cannot name a field without backquotes.
fn is_reserved(name: &str) -> bool {
    ["and", "or", "not", "in", "like", "as", "by", "asc", "desc"].iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// A regular expression of the query; Insights' named groups `(?<name>...)` as the regex crate
/// writes them.
fn compile(text: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .nest_limit(MAX_NESTING as u32)
        .build()
        .map_err(|e| format!("invalid regular expression /{text}/: {e}"))
}
