//! The fleet-indexing query language (developer guide `query-syntax.md`, `example-queries.md`),
//! parsed by hand into a [`Query`].
//!
//! Supported: terms and phrases (`abc`, `"a b"`), `field:value`, prefix and infix wildcards (`*`
//! any characters, `?` one character; no leading wildcard except `*` alone), ranges
//! (`field:[a TO b]`, `{a TO b}`, mixed brackets, `field>x`, `>=`, `<`, `<=`), `AND`, `OR`, `NOT`
//! and `-`, parentheses and field grouping (`thingName:(tv* AND -plasma)`), `\` escapes. The
//! default operator is AND. At most [`MAX_TERMS`] terms and [`MAX_DEPTH`] nested parentheses.
//!
//! Errors carry the 0-based character position where the query stops making sense; AWS does not
//! document its InvalidQueryException messages, so the wording is the emulator's.

use std::fmt;

/// "The maximum number of terms in a query is seven" (query-syntax.md).
pub const MAX_TERMS: usize = 7;
/// Nested parentheses (a guard against deep recursion; seven terms need far fewer).
pub const MAX_DEPTH: usize = 16;

/// A parse error at a character position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Syntax error in query string at position {}: {}", self.position, self.message)
    }
}

/// A bound of a range; `None` is `*` (open).
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub value: Option<String>,
    pub inclusive: bool,
}

/// What a term matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// A word, possibly with `*`/`?` wildcards (lower-cased: search is case-insensitive).
    Pattern(String),
    /// A quoted phrase, matched whole.
    Phrase(String),
    /// `field:*`: the field exists.
    Exists,
    Range {
        low: Bound,
        high: Bound,
    },
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Every thing (`*` alone).
    All,
    /// A term on `field` (`None`: any field).
    Term {
        field: Option<String>,
        matcher: Matcher,
    },
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
}

/// Parses `input`.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut p = Parser { chars, pos: 0, terms: 0, depth: 0, term_start: 0 };
    p.skip_ws();
    if p.at_end() {
        return Err(p.error("the query string is empty"));
    }
    let q = p.or_expr(None)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error(&format!("unexpected '{}'", p.chars[p.pos])));
    }
    Ok(q)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    terms: usize,
    depth: usize,
    /// Where the term being parsed starts (the position of a term-limit error).
    term_start: usize,
}

fn is_special(c: char) -> bool {
    matches!(c, '(' | ')' | ':' | '"' | '[' | ']' | '{' | '}' | '<' | '>' | '=')
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn error(&self, message: &str) -> QueryError {
        QueryError { position: self.pos, message: message.to_string() }
    }

    fn error_at(&self, position: usize, message: &str) -> QueryError {
        QueryError { position, message: message.to_string() }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Whether the next word is the keyword `kw` (followed by a space, `(`, or the end).
    fn keyword(&self, kw: &str) -> bool {
        let n = kw.len();
        let word: String = self.chars.iter().skip(self.pos).take(n).collect();
        word == kw && self.chars.get(self.pos + n).is_none_or(|c| c.is_whitespace() || *c == '(' || *c == '"')
    }

    fn or_expr(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        let mut items = vec![self.and_expr(field)?];
        loop {
            self.skip_ws();
            if self.keyword("OR") {
                self.pos += 2;
                items.push(self.and_expr(field)?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Query::Or(items) })
    }

    fn and_expr(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        let mut items = vec![self.unary(field)?];
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(')') => break,
                _ if self.keyword("OR") => break,
                _ if self.keyword("AND") => {
                    self.pos += 3;
                    items.push(self.unary(field)?);
                }
                // The default operator is AND (and `NOT x` after a term means AND NOT x).
                _ => items.push(self.unary(field)?),
            }
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Query::And(items) })
    }

    fn unary(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        self.skip_ws();
        if self.at_end() {
            return Err(self.error("a term is missing at the end of the query"));
        }
        if self.keyword("NOT") {
            self.pos += 3;
            return Ok(Query::Not(Box::new(self.unary(field)?)));
        }
        if self.peek() == Some('-') {
            self.pos += 1;
            if self.peek().is_none_or(char::is_whitespace) {
                return Err(self.error("'-' must be followed by a term"));
            }
            return Ok(Query::Not(Box::new(self.unary(field)?)));
        }
        if self.keyword("AND") || self.keyword("OR") {
            return Err(self.error("a term is missing before the operator"));
        }
        self.primary(field)
    }

    fn group(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        let open = self.pos;
        self.pos += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(open, &format!("more than {MAX_DEPTH} nested parentheses")));
        }
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(self.error("empty parentheses"));
        }
        let q = self.or_expr(field)?;
        self.skip_ws();
        if self.peek() != Some(')') {
            return Err(self.error_at(open, "unbalanced '('"));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(q)
    }

    fn primary(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        self.term_start = self.pos;
        match self.peek() {
            Some('(') => return self.group(field),
            Some(')') => return Err(self.error("unbalanced ')'")),
            Some('"') => {
                let phrase = self.phrase()?;
                return self.term(field, Matcher::Phrase(phrase.to_lowercase()));
            }
            Some('[') | Some('{') if field.is_some() => {
                let range = self.range()?;
                return self.term(field, range);
            }
            _ => {}
        }
        let start = self.pos;
        let word = self.word()?;
        if word.is_empty() {
            return Err(self.error(&format!("unexpected '{}'", self.chars[self.pos])));
        }
        // `field:value`, `field>value`, ... (spaces allowed around the operator, as in
        // example-queries.md's `connectivity.timestamp : [...]`).
        let after_word = self.pos;
        self.skip_ws();
        if !matches!(self.peek(), Some(':' | '<' | '>')) {
            self.pos = after_word;
        }
        match self.peek() {
            Some(':') if field.is_none() => {
                self.pos += 1;
                self.skip_ws();
                match self.peek() {
                    None => Err(self.error(&format!("field {word} has no value"))),
                    Some('(') => self.group(Some(&word)),
                    Some('"') => {
                        let phrase = self.phrase()?;
                        self.term(Some(&word), Matcher::Phrase(phrase.to_lowercase()))
                    }
                    Some('[') | Some('{') => {
                        let range = self.range()?;
                        self.term(Some(&word), range)
                    }
                    _ => {
                        let value_at = self.pos;
                        let value = self.word()?;
                        if value.is_empty() {
                            return Err(self.error(&format!("field {word} has no value")));
                        }
                        let matcher = self.pattern(&value, value_at)?;
                        self.term(Some(&word), matcher)
                    }
                }
            }
            Some(':') => Err(self.error("a field cannot be given inside a field group")),
            Some('<') | Some('>') if field.is_none() => {
                let greater = self.peek() == Some('>');
                self.pos += 1;
                let inclusive = self.peek() == Some('=');
                if inclusive {
                    self.pos += 1;
                }
                self.skip_ws();
                let value_at = self.pos;
                let value = self.word()?;
                if value.is_empty() {
                    return Err(self.error_at(value_at, "a comparison needs a value"));
                }
                let bound = Bound { value: Some(value.to_lowercase()), inclusive };
                let open = Bound { value: None, inclusive: true };
                let matcher = if greater {
                    Matcher::Range { low: bound, high: open }
                } else {
                    Matcher::Range { low: open, high: bound }
                };
                self.term(Some(&word), matcher)
            }
            _ => {
                if field.is_none() && word == "*" {
                    self.count_term(start)?;
                    return Ok(Query::All);
                }
                let matcher = self.pattern(&word, start)?;
                self.term(field, matcher)
            }
        }
    }

    fn count_term(&mut self, at: usize) -> Result<(), QueryError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.error_at(at, &format!("the query has more than {MAX_TERMS} terms")));
        }
        Ok(())
    }

    fn term(&mut self, field: Option<&str>, matcher: Matcher) -> Result<Query, QueryError> {
        self.count_term(self.term_start)?;
        Ok(Query::Term { field: field.map(str::to_string), matcher })
    }

    /// A value with wildcards: `*` alone is "exists"; a leading wildcard is refused.
    fn pattern(&self, value: &str, at: usize) -> Result<Matcher, QueryError> {
        if value == "*" {
            return Ok(Matcher::Exists);
        }
        if value.starts_with('*') || value.starts_with('?') {
            return Err(self.error_at(at, "leading wildcards are not supported"));
        }
        Ok(Matcher::Pattern(value.to_lowercase()))
    }

    /// A bare word up to whitespace or a special character, with `\` escapes (an escaped `*`
    /// or `?` stays escaped for the matcher).
    fn word(&mut self) -> Result<String, QueryError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || is_special(c) {
                break;
            }
            if c == '\\' {
                let at = self.pos;
                self.pos += 1;
                let Some(next) = self.peek() else {
                    return Err(self.error_at(at, "'\\' at the end of the query escapes nothing"));
                };
                if next == '*' || next == '?' || next == '\\' {
                    out.push('\\');
                }
                out.push(next);
                self.pos += 1;
                continue;
            }
            out.push(c);
            self.pos += 1;
        }
        Ok(out)
    }

    fn phrase(&mut self) -> Result<String, QueryError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(open, "unterminated phrase")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    if let Some(c) = self.peek() {
                        out.push(c);
                        self.pos += 1;
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `[a TO b]`, `{a TO b}` or mixed; `*` for an open bound; bounds may be phrases.
    fn range(&mut self) -> Result<Matcher, QueryError> {
        let open = self.pos;
        let low_inclusive = self.peek() == Some('[');
        self.pos += 1;
        self.skip_ws();
        let low = self.bound_value()?;
        self.skip_ws();
        if !self.keyword("TO") {
            return Err(self.error("a range needs 'TO' between its bounds"));
        }
        self.pos += 2;
        self.skip_ws();
        let high = self.bound_value()?;
        self.skip_ws();
        let high_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            _ => return Err(self.error_at(open, "unterminated range")),
        };
        self.pos += 1;
        Ok(Matcher::Range {
            low: Bound { value: low, inclusive: low_inclusive },
            high: Bound { value: high, inclusive: high_inclusive },
        })
    }

    fn bound_value(&mut self) -> Result<Option<String>, QueryError> {
        let at = self.pos;
        let value = if self.peek() == Some('"') { self.phrase()? } else { self.word()? };
        if value.is_empty() {
            return Err(self.error_at(at, "a range bound is missing"));
        }
        Ok((value != "*").then(|| value.to_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(field: &str, matcher: Matcher) -> Query {
        Query::Term { field: Some(field.into()), matcher }
    }
    fn pat(s: &str) -> Matcher {
        Matcher::Pattern(s.into())
    }
    fn b(v: Option<&str>, inclusive: bool) -> Bound {
        Bound { value: v.map(str::to_string), inclusive }
    }

    /// The example queries of example-queries.md and query-syntax.md parse to what they mean.
    #[test]
    fn documented_examples_parse() {
        let cases: Vec<(&str, Query)> = vec![
            ("abc", Query::Term { field: None, matcher: pat("abc") }),
            ("thingName:myThingName", term("thingName", pat("mythingname"))),
            ("thingName:my*", term("thingName", pat("my*"))),
            ("thingName:ab?", term("thingName", pat("ab?"))),
            (
                "attributes.myAttribute:[75 TO 80]",
                term(
                    "attributes.myAttribute",
                    Matcher::Range { low: b(Some("75"), true), high: b(Some("80"), true) },
                ),
            ),
            (
                "attributes.myAttribute:{75 TO 80]",
                term(
                    "attributes.myAttribute",
                    Matcher::Range { low: b(Some("75"), false), high: b(Some("80"), true) },
                ),
            ),
            (
                "attributes.serialNumber:[\"abcd\" TO \"abcf\"]",
                term(
                    "attributes.serialNumber",
                    Matcher::Range { low: b(Some("abcd"), true), high: b(Some("abcf"), true) },
                ),
            ),
            (
                "attributes.attr1:abc AND attributes.attr2<5 NOT attributes.attr3>10",
                Query::And(vec![
                    term("attributes.attr1", pat("abc")),
                    term(
                        "attributes.attr2",
                        Matcher::Range { low: b(None, true), high: b(Some("5"), false) },
                    ),
                    Query::Not(Box::new(term(
                        "attributes.attr3",
                        Matcher::Range { low: b(Some("10"), false), high: b(None, true) },
                    ))),
                ]),
            ),
            ("NOT attributes.model:legacy", Query::Not(Box::new(term("attributes.model", pat("legacy"))))),
            (
                "shadow.reported.location:* NOT shadow.desired.stats.battery:*",
                Query::And(vec![
                    term("shadow.reported.location", Matcher::Exists),
                    Query::Not(Box::new(term("shadow.desired.stats.battery", Matcher::Exists))),
                ]),
            ),
            (
                "shadow.reported.stats.battery:{70 TO 100} (v2 OR v3) NOT attributes.model:legacy",
                Query::And(vec![
                    term(
                        "shadow.reported.stats.battery",
                        Matcher::Range { low: b(Some("70"), false), high: b(Some("100"), false) },
                    ),
                    Query::Or(vec![
                        Query::Term { field: None, matcher: pat("v2") },
                        Query::Term { field: None, matcher: pat("v3") },
                    ]),
                    Query::Not(Box::new(term("attributes.model", pat("legacy")))),
                ]),
            ),
            (
                "connectivity.connected:true AND connectivity.timestamp > 1557651600000",
                Query::And(vec![
                    term("connectivity.connected", pat("true")),
                    term(
                        "connectivity.timestamp",
                        Matcher::Range { low: b(Some("1557651600000"), false), high: b(None, true) },
                    ),
                ]),
            ),
            (
                "thingName:(tv* AND -plasma)",
                Query::And(vec![
                    term("thingName", pat("tv*")),
                    Query::Not(Box::new(term("thingName", pat("plasma")))),
                ]),
            ),
            ("*", Query::All),
            ("thingName:\"a b\"", term("thingName", Matcher::Phrase("a b".into()))),
            (
                "thingName:abc thingTypeName:xyz",
                Query::And(vec![term("thingName", pat("abc")), term("thingTypeName", pat("xyz"))]),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Ok(want), "{input}");
        }
    }

    /// Bad queries fail at the position where they stop making sense.
    #[test]
    fn errors_have_positions() {
        let cases = [
            ("", 0),
            ("thingName:", 10),
            ("(thingName:a", 0),
            ("thingName:a)", 11),
            ("thingName:*abc", 10),
            ("attributes.x:[1 2]", 16),
            ("attributes.x:[1 TO 2", 13),
            ("a AND", 5),
            ("OR a", 0),
            ("\"abc", 0),
            ("a b c d e f g h", 14),
            ("()", 1),
            ("- a", 1),
            ("a:b:c", 3),
        ];
        for (input, position) in cases {
            let err = parse(input).expect_err(input);
            assert_eq!(err.position, position, "{input}: {err}");
        }
    }

    #[test]
    fn seven_terms_are_allowed_and_deep_nesting_is_refused() {
        assert!(parse("a b c d e f g").is_ok());
        let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        let err = parse(&deep).unwrap_err();
        assert_eq!(err.position, MAX_DEPTH);
    }
}
