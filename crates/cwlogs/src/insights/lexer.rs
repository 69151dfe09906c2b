//! The tokens of a Logs Insights query. A `/` starts a regular expression where an operand is
//! expected (after `like`, `=~`, `(`, `,`, `parse <field>`, ...) and divides after an operand.

use super::QueryError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Pipe,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// `= != < <= > >= =~ + - * / %`.
    Op(&'static str),
    /// A field name or keyword (`@message`, `a.b.0`, or a `` `quoted name` ``).
    Ident(String),
    Str(String),
    Num(f64),
    /// A number with a time unit (`5m`), in milliseconds.
    Duration(i64),
    Regex(String),
    Eof,
}

/// A token and its byte span in the query.
#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

const KEYWORDS: [&str; 15] = [
    "fields", "filter", "stats", "sort", "limit", "parse", "display", "by", "as", "and", "or", "not", "in",
    "like", "desc",
];

fn is_keyword(s: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s)) || s.eq_ignore_ascii_case("asc")
}

fn ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@' || c == '$'
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '@' | '$' | '.')
}

/// Splits `src` into tokens (the last one `Eof`).
pub fn tokenize(src: &str) -> Result<Vec<Token>, QueryError> {
    let mut out: Vec<Token> = Vec::new();
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let byte = |i: usize| chars.get(i).map_or(src.len(), |&(b, _)| b);
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = byte(i);
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
            continue;
        }
        let tok = match c {
            '|' => Tok::Pipe,
            ',' => Tok::Comma,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '"' | '\'' => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match at(j) {
                        None => {
                            return Err(QueryError::at(src, start, src.len(), "unterminated string literal"))
                        }
                        Some('\\') if at(j + 1).is_some() => {
                            let next = at(j + 1).unwrap_or('\\');
                            text.push(match next {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                            j += 2;
                        }
                        Some(q) if q == c => break,
                        Some(other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                i = j;
                Tok::Str(text)
            }
            '`' => {
                let mut j = i + 1;
                while at(j).is_some_and(|c| c != '`') {
                    j += 1;
                }
                if at(j).is_none() {
                    return Err(QueryError::at(src, start, src.len(), "unterminated quoted field name"));
                }
                let name = src[byte(i + 1)..byte(j)].to_string();
                i = j;
                Tok::Ident(name)
            }
            '/' if regex_allowed(&out) => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match at(j) {
                        None => {
                            return Err(QueryError::at(
                                src,
                                start,
                                src.len(),
                                "unterminated regular expression",
                            ))
                        }
                        Some('\\') if at(j + 1) == Some('/') => {
                            text.push('/');
                            j += 2;
                        }
                        Some('/') => break,
                        Some(other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                i = j;
                Tok::Regex(text)
            }
            '=' if at(i + 1) == Some('~') => {
                i += 1;
                Tok::Op("=~")
            }
            '!' if at(i + 1) == Some('=') => {
                i += 1;
                Tok::Op("!=")
            }
            '<' | '>' if at(i + 1) == Some('=') => {
                i += 1;
                Tok::Op(if c == '<' { "<=" } else { ">=" })
            }
            '=' => Tok::Op("="),
            '<' => Tok::Op("<"),
            '>' => Tok::Op(">"),
            '+' => Tok::Op("+"),
            '-' => Tok::Op("-"),
            '*' => Tok::Op("*"),
            '/' => Tok::Op("/"),
            '%' => Tok::Op("%"),
            c if c.is_ascii_digit() => {
                let mut j = i;
                while at(j).is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    j += 1;
                }
                let number = &src[start..byte(j)];
                let value: f64 = number
                    .parse()
                    .map_err(|_| QueryError::at(src, start, byte(j), &format!("invalid number {number}")))?;
                let unit_start = j;
                while at(j).is_some_and(|c| c.is_ascii_alphabetic()) {
                    j += 1;
                }
                i = j - 1;
                if unit_start == j {
                    Tok::Num(value)
                } else {
                    let unit = &src[byte(unit_start)..byte(j)];
                    let ms = unit_ms(unit).ok_or_else(|| {
                        QueryError::at(
                            src,
                            start,
                            byte(j),
                            &format!("invalid time unit {unit} in {number}{unit}"),
                        )
                    })?;
                    Tok::Duration((value * ms as f64) as i64)
                }
            }
            c if ident_start(c) => {
                let mut j = i;
                while at(j).is_some_and(ident_char) {
                    j += 1;
                }
                i = j - 1;
                Tok::Ident(src[start..byte(j)].to_string())
            }
            other => {
                return Err(QueryError::at(
                    src,
                    start,
                    byte(i + 1),
                    &format!("unexpected symbol found {other}"),
                ));
            }
        };
        i += 1;
        out.push(Token { tok, start, end: byte(i) });
    }
    out.push(Token { tok: Tok::Eof, start: src.len(), end: src.len() });
    Ok(out)
}

/// Milliseconds in a time unit of `bin()` (`ms`, `s`, `m`, `h`, `d`, `w` and their long forms).
fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" | "sec" | "second" | "seconds" => 1_000,
        "m" | "min" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return None,
    })
}

/// Whether a `/` here opens a regular expression rather than dividing.
fn regex_allowed(before: &[Token]) -> bool {
    let operand = |t: &Tok| match t {
        Tok::Num(_) | Tok::Str(_) | Tok::RParen | Tok::RBracket | Tok::Duration(_) => true,
        Tok::Ident(name) => !is_keyword(name),
        _ => false,
    };
    match before {
        [] => true,
        [.., Token { tok: Tok::Ident(p), .. }, Token { tok: Tok::Ident(_), .. }]
            if p.eq_ignore_ascii_case("parse") =>
        {
            true
        }
        [.., last] => !operand(&last.tok),
    }
}
