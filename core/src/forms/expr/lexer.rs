//! Splits an expression into tokens, each with its byte offset in the source.
//!
//! The lexer knows nothing of precedence or of which names are functions: `and`, `or`,
//! `div` and `mod` come out as [`Tok::Name`] and the parser reads them as operators
//! where an operator may stand. Characters XPath uses for paths (`/`, `[`, `|`, `@`,
//! `*`) become tokens so that the parser can say what to write instead.

use super::parser::Fail;

/// One token. Strings and names borrow from the source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Tok<'s> {
    Number(f64),
    /// The text between the quotes.
    Str(&'s str),
    /// The name inside `${…}`.
    Ref(&'s str),
    /// A name: a function, `and`, `or`, `div`, `mod`, or an (unsupported) path step.
    Name(&'s str),
    Dot,
    DotDot,
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    LBracket,
    RBracket,
    Pipe,
    At,
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'s> {
    pub tok: Tok<'s>,
    pub at: usize,
}

/// True for a character that may start a name: a letter or `_`.
pub(super) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// True for a character that may continue a name: a letter, a digit, `_`, `-` or `.`.
pub(super) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// True when `name` is a valid question name for `${name}`.
pub(super) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// Tokenise `src` (whose length the caller has already capped).
pub(super) fn lex(src: &str) -> Result<Vec<Token<'_>>, Fail> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(c) = src.get(at..).and_then(|r| r.chars().next()) {
        if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        }
        let next = src.get(at + c.len_utf8()..).and_then(|r| r.chars().next());
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            '|' => (Tok::Pipe, 1),
            '@' => (Tok::At, 1),
            '+' => (Tok::Plus, 1),
            '-' => (Tok::Minus, 1),
            '*' => (Tok::Star, 1),
            '=' => (Tok::Eq, 1),
            '/' => (Tok::Slash, if next == Some('/') { 2 } else { 1 }),
            '!' if next == Some('=') => (Tok::Ne, 2),
            '!' => {
                return Err(Fail::syntax(
                    "'!' is not an operator: write != or not(...)",
                    at,
                ));
            }
            '<' if next == Some('=') => (Tok::Le, 2),
            '<' => (Tok::Lt, 1),
            '>' if next == Some('=') => (Tok::Ge, 2),
            '>' => (Tok::Gt, 1),
            '.' if next == Some('.') => (Tok::DotDot, 2),
            '.' if next.is_some_and(|d| d.is_ascii_digit()) => number(src, at)?,
            '.' => (Tok::Dot, 1),
            '0'..='9' => number(src, at)?,
            '\'' | '"' => string(src, at, c)?,
            '\u{2018}' | '\u{2019}' | '\u{201C}' | '\u{201D}' => {
                return Err(Fail::syntax(
                    "curly quotes do not delimit strings: use ' or \"",
                    at,
                ));
            }
            '$' => reference(src, at)?,
            '&' => {
                return Err(Fail::syntax(
                    "unexpected '&': write <, > and the words and/or directly, not &lt; &gt; &amp;",
                    at,
                ));
            }
            c if is_name_start(c) => name(src, at),
            other => {
                return Err(Fail::syntax(format!("unexpected character '{other}'"), at));
            }
        };
        out.push(Token { tok, at });
        at += len;
    }
    Ok(out)
}

/// `3`, `2.5`, `3.`, `.5`: ASCII digits with at most one point.
fn number(src: &str, at: usize) -> Result<(Tok<'_>, usize), Fail> {
    let rest = src.get(at..).unwrap_or("");
    let int = rest.bytes().take_while(u8::is_ascii_digit).count();
    let mut len = int;
    if rest.as_bytes().get(int) == Some(&b'.') {
        len += 1 + rest
            .bytes()
            .skip(int + 1)
            .take_while(u8::is_ascii_digit)
            .count();
    }
    let text = rest.get(..len).unwrap_or("");
    let n = text
        .parse::<f64>()
        .map_err(|_| Fail::syntax("invalid number", at))?;
    Ok((Tok::Number(n), len))
}

/// `'…'` or `"…"`: XPath has no escapes; the other quote may appear inside.
fn string(src: &str, at: usize, quote: char) -> Result<(Tok<'_>, usize), Fail> {
    let body = src.get(at + 1..).unwrap_or("");
    match body.find(quote) {
        Some(end) => Ok((Tok::Str(body.get(..end).unwrap_or("")), end + 2)),
        None => Err(Fail::syntax(
            format!("string without a closing {quote}"),
            at,
        )),
    }
}

/// `${name}`.
fn reference(src: &str, at: usize) -> Result<(Tok<'_>, usize), Fail> {
    let Some(body) = src.get(at..).and_then(|r| r.strip_prefix("${")) else {
        return Err(Fail::unsupported(
            "XPath variables are not supported: reference a question as ${name}",
            at,
        ));
    };
    let Some(end) = body.find('}') else {
        return Err(Fail::syntax("'${' without a closing '}'", at));
    };
    let name = body.get(..end).unwrap_or("");
    if !is_valid_name(name) {
        return Err(Fail::syntax(
            "invalid question name in ${…}: names start with a letter or _ and contain \
             letters, digits, _, - and .",
            at,
        ));
    }
    Ok((Tok::Ref(name), end + 3))
}

/// A name, with an optional `prefix:` (as in `jr:choice-name`).
fn name(src: &str, at: usize) -> (Tok<'_>, usize) {
    let rest = src.get(at..).unwrap_or("");
    let ncname = |s: &str| -> usize {
        s.char_indices()
            .find(|&(_, c)| !is_name_char(c))
            .map_or(s.len(), |(i, _)| i)
    };
    let mut len = ncname(rest);
    if let Some(after) = rest.get(len..).and_then(|r| r.strip_prefix(':'))
        && after.chars().next().is_some_and(is_name_start)
    {
        len += 1 + ncname(after);
    }
    (Tok::Name(rest.get(..len).unwrap_or("")), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok<'_>> {
        match lex(src) {
            Ok(t) => t.into_iter().map(|t| t.tok).collect(),
            Err(e) => panic!("lex {src:?}: {}", e.message),
        }
    }

    #[test]
    fn tokens_and_offsets() {
        assert_eq!(
            toks("${a-b.c}<=.5 div 3. !=jr:choice-name(..)"),
            vec![
                Tok::Ref("a-b.c"),
                Tok::Le,
                Tok::Number(0.5),
                Tok::Name("div"),
                Tok::Number(3.0),
                Tok::Ne,
                Tok::Name("jr:choice-name"),
                Tok::LParen,
                Tok::DotDot,
                Tok::RParen,
            ]
        );
        assert_eq!(
            toks("'a\"b' \"c'd\""),
            vec![Tok::Str("a\"b"), Tok::Str("c'd")]
        );
        assert_eq!(toks("x-1"), vec![Tok::Name("x-1")]);
        assert_eq!(
            toks("${x}-1"),
            vec![Tok::Ref("x"), Tok::Minus, Tok::Number(1.0)]
        );
        let t = lex("é + 'ü'").map_err(|e| e.message);
        assert_eq!(
            t.map(|v| v.iter().map(|t| t.at).collect::<Vec<_>>()),
            Ok(vec![0, 3, 5])
        );
    }

    #[test]
    fn lexical_errors() {
        for (src, code) in [
            ("'abc", "syntax"),
            ("${abc", "syntax"),
            ("${1a}", "syntax"),
            ("${}", "syntax"),
            ("$abc", "unsupported"),
            ("!x", "syntax"),
            ("a &lt; b", "syntax"),
            ("\u{2018}a\u{2019}", "syntax"),
            ("#", "syntax"),
            ("a:", "syntax"),
        ] {
            match lex(src) {
                Ok(t) => panic!("{src:?} lexed to {t:?}"),
                Err(e) => assert_eq!(e.code, code, "{src:?}"),
            }
        }
    }
}
