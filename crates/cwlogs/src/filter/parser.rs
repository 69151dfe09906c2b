//! A hand-written recursive-descent parser: the grammar is LL(1) and small, and writing it by hand
//! gives every error the exact position and the wording users see in InvalidParameterException.
//!
//! ```text
//! pattern   := ws* ( json | terms | <end> )
//! terms     := ( ws* ( "?" | "-" )? ws* term )*
//! term      := [A-Za-z0-9_]+ | quoted
//! json      := "{" or "}" ws* <end>
//! or        := and ( "||" and )*
//! and       := primary ( "&&" primary )*
//! primary   := "(" or ")" | selector test
//! selector  := "$" ( "." [A-Za-z0-9_-]+ ) ( "." [A-Za-z0-9_-]+ | "[" digits "]" )*
//! test      := ( "=" | "!=" ) value | ( "<" | "<=" | ">" | ">=" ) number
//!            | IS TRUE | IS FALSE | IS NULL | NOT EXISTS
//! value     := quoted | [A-Za-z0-9_.*/:+-]+
//! quoted    := '"' ( [^"\\] | '\"' | '\\' )* '"'
//! ```

use super::ast::{CmpOp, Condition, Expr, Kind, Literal, NumberLiteral, Step, Terms, Test, TextPattern};
use super::PatternError;

/// The characters of an unquoted term (AWS: letters, digits and underscore).
fn is_term_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The characters of a field name in a selector (AWS: letters, digits, `-` and `_`).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The characters of an unquoted JSON value: words, numbers, `*` wildcards, and the punctuation of
/// addresses, topics and times (`123.123.*`, `alerts/*`, `+1000`, `10:00`).
fn is_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*' | '/' | ':' | '+')
}

/// How deep parentheses may nest in a JSON pattern. AWS documents no limit (its 1,024-character
/// cap on a pattern is checked by FilterLogEvents); this one keeps the recursive descent, and the
/// evaluation of what it builds, far from the end of any thread's stack.
pub(super) const MAX_NESTING: usize = 64;

pub(super) fn parse(src: &str) -> Result<Kind, PatternError> {
    let mut p = Parser { src, pos: 0, depth: 0 };
    p.skip_ws();
    match p.peek() {
        None => Ok(Kind::All),
        Some('{') => p.json(),
        Some('[') => Err(p.error(
            p.pos,
            "space-delimited patterns ([field1, field2, ...]) are not supported; \
             use terms or a JSON pattern such as { $.field = \"value\" }",
        )),
        Some('%') => Err(p.error(p.pos, "regular-expression patterns (%...%) are not supported")),
        Some(_) => p.terms(),
    }
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    /// Parentheses open around the current position.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, s: &str) -> bool {
        let found = self.src[self.pos..].starts_with(s);
        if found {
            self.pos += s.len();
        }
        found
    }

    /// Consumes `word` (any case) when it is a whole word here.
    fn eat_keyword(&mut self, word: &str) -> bool {
        let rest = &self.src[self.pos..];
        let found = rest.get(..word.len()).is_some_and(|w| w.eq_ignore_ascii_case(word))
            && !rest[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if found {
            self.pos += word.len();
        }
        found
    }

    fn eat_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.src[start..self.pos]
    }

    fn skip_ws(&mut self) {
        self.eat_while(char::is_whitespace);
    }

    /// The character offset of byte offset `at`.
    fn char_pos(&self, at: usize) -> usize {
        self.src[..at].chars().count()
    }

    fn error(&self, at: usize, message: impl Into<String>) -> PatternError {
        PatternError { position: self.char_pos(at), message: message.into() }
    }

    /// "`x`" for the character here, or "the end of the pattern".
    fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("`{c}`"),
            None => "the end of the pattern".to_owned(),
        }
    }

    /// A double-quoted string, with `\"` and `\\` as escapes (other backslashes are kept).
    fn quoted(&mut self) -> Result<String, PatternError> {
        let open = self.pos;
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error(open, "unterminated quoted string: expected a closing `\"`")),
                Some('"') => return Ok(text),
                Some('\\') if matches!(self.peek(), Some('"' | '\\')) => text.extend(self.bump()),
                Some(c) => text.push(c),
            }
        }
    }

    // ----- term patterns -----

    fn terms(&mut self) -> Result<Kind, PatternError> {
        let mut terms = Terms::default();
        loop {
            self.skip_ws();
            let Some(c) = self.peek() else { break };
            let list = match c {
                '?' => &mut terms.optional,
                '-' => &mut terms.excluded,
                _ => &mut terms.required,
            };
            let prefix = matches!(c, '?' | '-').then_some(c);
            if prefix.is_some() {
                self.bump();
                // AWS's own example writes `"ERROR" - "Exiting"`.
                self.skip_ws();
            }
            let start = self.pos;
            let term = match self.peek() {
                Some('"') => {
                    let phrase = self.quoted()?;
                    if self.peek().is_some_and(|c| !c.is_whitespace()) {
                        return Err(self.error(
                            self.pos,
                            format!(
                                "unexpected {} after a quoted phrase: separate terms with spaces",
                                self.found()
                            ),
                        ));
                    }
                    phrase
                }
                Some(c) if is_term_char(c) => {
                    let term = self.eat_while(is_term_char);
                    if self.peek().is_some_and(|c| !c.is_whitespace()) {
                        return Err(
                            self.unquoted_term_error(start, format!("unexpected {} in a term", self.found()))
                        );
                    }
                    term.to_owned()
                }
                Some(_) => {
                    let after = prefix.map(|p| format!(" after `{p}`")).unwrap_or_default();
                    let lead = format!("expected a term or a quoted phrase{after}, found {}", self.found());
                    return Err(self.unquoted_term_error(start, lead));
                }
                None => {
                    let after = prefix.map(|p| format!(" after `{p}`")).unwrap_or_default();
                    return Err(self.error(
                        self.pos,
                        format!("expected a term or a quoted phrase{after}, found the end of the pattern"),
                    ));
                }
            };
            list.push(term);
        }
        Ok(Kind::Terms(terms))
    }

    /// The error at a character that cannot stand unquoted in a term, suggesting the quoted word.
    fn unquoted_term_error(&self, term_start: usize, lead: String) -> PatternError {
        let word = self.src[term_start..].split(char::is_whitespace).next().unwrap_or_default();
        let mut message = format!(
            "{lead}: terms with characters other than letters, digits and `_` must be in double quotes"
        );
        if !word.is_empty() && !word.contains('"') {
            message.push_str(&format!(", e.g. \"{word}\""));
        }
        self.error(self.pos, message)
    }

    // ----- JSON patterns -----

    fn json(&mut self) -> Result<Kind, PatternError> {
        let open = self.pos;
        self.bump();
        let expr = self.or("`{`")?;
        self.skip_ws();
        if !self.eat("}") {
            let open = self.char_pos(open);
            return Err(self.error(
                self.pos,
                format!(
                    "expected `&&`, `||` or `}}` closing the `{{` at position {open}, found {}",
                    self.found()
                ),
            ));
        }
        self.skip_ws();
        if self.peek().is_some() {
            return Err(self.error(
                self.pos,
                format!("unexpected {} after the `}}` that ends the JSON pattern", self.found()),
            ));
        }
        Ok(Kind::Json(expr))
    }

    fn or(&mut self, after: &str) -> Result<Expr, PatternError> {
        let mut items = vec![self.and(after)?];
        loop {
            self.skip_ws();
            if !self.eat("||") {
                break;
            }
            items.push(self.and("`||`")?);
        }
        Ok(if items.len() == 1 { items.swap_remove(0) } else { Expr::Or(items) })
    }

    fn and(&mut self, after: &str) -> Result<Expr, PatternError> {
        let mut items = vec![self.primary(after)?];
        loop {
            self.skip_ws();
            if !self.eat("&&") {
                break;
            }
            items.push(self.primary("`&&`")?);
        }
        Ok(if items.len() == 1 { items.swap_remove(0) } else { Expr::And(items) })
    }

    fn primary(&mut self, after: &str) -> Result<Expr, PatternError> {
        self.skip_ws();
        match self.peek() {
            Some('(') => {
                let open = self.pos;
                if self.depth >= MAX_NESTING {
                    return Err(
                        self.error(open, format!("parentheses nest deeper than {MAX_NESTING} levels"))
                    );
                }
                self.bump();
                self.depth += 1;
                let expr = self.or("`(`")?;
                self.depth -= 1;
                self.skip_ws();
                if !self.eat(")") {
                    let open = self.char_pos(open);
                    return Err(self.error(
                        self.pos,
                        format!(
                            "expected `&&`, `||` or `)` closing the `(` at position {open}, found {}",
                            self.found()
                        ),
                    ));
                }
                Ok(expr)
            }
            Some('$') => self.condition(),
            _ => Err(self.error(
                self.pos,
                format!(
                    "expected a condition such as `$.field = \"value\"` or `(` after {after}, found {}",
                    self.found()
                ),
            )),
        }
    }

    fn condition(&mut self) -> Result<Expr, PatternError> {
        let start = self.pos;
        let path = self.selector()?;
        let src = self.src;
        let selector = &src[start..self.pos];
        self.skip_ws();
        let test = if self.eat("!=") {
            self.value(CmpOp::Ne)?
        } else if self.eat("<=") {
            self.value(CmpOp::Le)?
        } else if self.eat(">=") {
            self.value(CmpOp::Ge)?
        } else if self.eat("<") {
            self.value(CmpOp::Lt)?
        } else if self.eat(">") {
            self.value(CmpOp::Gt)?
        } else if self.eat("=") {
            self.value(CmpOp::Eq)?
        } else if self.eat_keyword("IS") {
            self.skip_ws();
            if self.eat_keyword("TRUE") {
                Test::IsTrue
            } else if self.eat_keyword("FALSE") {
                Test::IsFalse
            } else if self.eat_keyword("NULL") {
                Test::IsNull
            } else {
                return Err(self.error(
                    self.pos,
                    format!("expected TRUE, FALSE or NULL after IS, found {}", self.found()),
                ));
            }
        } else if self.eat_keyword("NOT") {
            self.skip_ws();
            if !self.eat_keyword("EXISTS") {
                return Err(
                    self.error(self.pos, format!("expected EXISTS after NOT, found {}", self.found()))
                );
            }
            Test::NotExists
        } else {
            return Err(self.error(
                self.pos,
                format!(
                    "expected an operator after `{selector}` (=, !=, <, <=, >, >=, IS TRUE, IS FALSE, \
                     IS NULL or NOT EXISTS), found {}",
                    self.found()
                ),
            ));
        };
        Ok(Expr::Cond(Condition { path, test }))
    }

    fn selector(&mut self) -> Result<Vec<Step>, PatternError> {
        self.bump(); // `$`
        if !self.eat(".") {
            return Err(self.error(
                self.pos,
                format!("expected `.` after `$` (selectors look like `$.field`), found {}", self.found()),
            ));
        }
        let mut path = vec![Step::Key(self.name("`$.`")?)];
        loop {
            match self.peek() {
                Some('.') => {
                    self.bump();
                    path.push(Step::Key(self.name("`.`")?));
                }
                Some('[') => {
                    self.bump();
                    let at = self.pos;
                    let digits = self.eat_while(|c| c.is_ascii_digit());
                    let Ok(index) = digits.parse::<usize>() else {
                        return Err(self.error(
                            at,
                            format!("expected an array index (digits) after `[`, found {}", self.found()),
                        ));
                    };
                    if !self.eat("]") {
                        return Err(self.error(
                            self.pos,
                            format!("expected `]` after the array index, found {}", self.found()),
                        ));
                    }
                    path.push(Step::Index(index));
                }
                _ => return Ok(path),
            }
        }
    }

    fn name(&mut self, after: &str) -> Result<String, PatternError> {
        let name = self.eat_while(is_name_char);
        if name.is_empty() {
            return Err(self.error(
                self.pos,
                format!(
                    "expected a field name (letters, digits, `_` or `-`) after {after}, found {}",
                    self.found()
                ),
            ));
        }
        Ok(name.to_owned())
    }

    /// The value after `op`: a number for `<`, `<=`, `>`, `>=`; a number or a string for `=`, `!=`.
    fn value(&mut self, op: CmpOp) -> Result<Test, PatternError> {
        self.skip_ws();
        let start = self.pos;
        let expected = if op.is_ordering() {
            format!("expected a number after `{}`", op.symbol())
        } else {
            format!("expected a value after `{}` (a number, a \"quoted string\" or a word)", op.symbol())
        };
        let literal = match self.peek() {
            Some('"') => {
                let text = self.quoted()?;
                if op.is_ordering() {
                    return Err(self.error(start, format!("{expected}, found a quoted string")));
                }
                Literal::Text(TextPattern::new(text))
            }
            Some(c) if is_value_char(c) => {
                let raw = self.eat_while(is_value_char);
                match (number(raw), op.is_ordering()) {
                    (Some(n), _) => Literal::Number(n),
                    (None, false) => Literal::Text(TextPattern::new(raw.to_owned())),
                    (None, true) => return Err(self.error(start, format!("{expected}, found `{raw}`"))),
                }
            }
            _ => return Err(self.error(start, format!("{expected}, found {}", self.found()))),
        };
        if self.peek().is_some_and(|c| !c.is_whitespace() && !matches!(c, ')' | '}' | '&' | '|')) {
            return Err(self.error(
                self.pos,
                format!(
                    "unexpected {} in a value: values with characters other than letters, digits \
                     and _ - . * / : + must be in double quotes",
                    self.found()
                ),
            ));
        }
        Ok(Test::Cmp(op, literal))
    }
}

/// `raw` as a number when it is one: an optional sign, digits with an optional fraction, and an
/// optional exponent (`1000`, `+1000`, `-2.5`, `55.5`, `10e3`, `10e-3`).
fn number(raw: &str) -> Option<NumberLiteral> {
    let unsigned = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int_part, fraction) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let valid = all_digits(int_part)
        && fraction.is_none_or(all_digits)
        && !(int_part.is_empty() && fraction.is_none_or(str::is_empty))
        && exponent.is_none_or(|e| {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            !digits.is_empty() && all_digits(digits)
        });
    if !valid {
        return None;
    }
    let float = raw.parse::<f64>().ok()?;
    let int = if fraction.is_none() && exponent.is_none() { raw.parse::<i128>().ok() } else { None };
    Some(NumberLiteral { raw: raw.to_owned(), float, int })
}
