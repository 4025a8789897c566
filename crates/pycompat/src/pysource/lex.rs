//! The tokenizer of [`super`]: Python 3.11's tokens for the subset a
//! settings file is read in (names, literals, operators, logical lines),
//! with any indented line refused (a block is code).

use super::{Error, Pos};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Name(String),
    Str(String),
    Bytes(Vec<u8>),
    Int(i128),
    Float(f64),
    Op(&'static str),
    /// An indented line's first token follows.
    Indent,
    Newline,
    Eof,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

/// Operators, longest first (so `**=` is one token, not `*` `*=`).
const OPS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=", ":=", "<<", "<=",
    "==", ">=", ">>", "@=", "^=", "|=", "!", "%", "&", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";", "<", "=", ">",
    "@", "[", "]", "^", "{", "|", "}", "~",
];

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }
}

fn err(pos: Pos, what: impl Into<String>) -> Error {
    Error { pos, what: what.into(), target: None }
}

/// The tokens of `text`, ending in `Newline` and `Eof`; when a token does
/// not lex, those before it and the error (the parser may meet an error of
/// its own first, as Python's would).
pub(super) fn tokens(text: &str) -> (Vec<Token>, Option<Error>) {
    let mut out = Vec::new();
    let error = lex(text, &mut out).err();
    let end = out.last().map_or(Pos { line: 1, col: 1 }, |t| t.pos);
    let end = error.as_ref().map_or(end, |e| e.pos);
    if out.last().is_some_and(|t| t.tok != Tok::Newline) {
        out.push(Token { tok: Tok::Newline, pos: end });
    }
    out.push(Token { tok: Tok::Eof, pos: end });
    (out, error)
}

fn lex(text: &str, out: &mut Vec<Token>) -> Result<(), Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).replace("\r\n", "\n").replace('\r', "\n");
    let mut lx = Lexer { chars: text.chars().collect(), i: 0, line: 1, col: 1 };
    let mut open: Vec<(char, Pos)> = Vec::new();
    let mut line_start = true;
    loop {
        if line_start && open.is_empty() {
            while matches!(lx.peek(0), Some(' ' | '\t' | '\x0c')) {
                lx.bump();
            }
            match lx.peek(0) {
                Some('#' | '\n') | None => {}
                Some(_) => {
                    if lx.col > 1 {
                        out.push(Token { tok: Tok::Indent, pos: lx.pos() });
                    }
                    line_start = false;
                }
            }
        }
        let pos = lx.pos();
        let Some(c) = lx.peek(0) else { break };
        match c {
            ' ' | '\t' | '\x0c' => {
                lx.bump();
            }
            '#' => {
                while lx.peek(0).is_some_and(|c| c != '\n') {
                    lx.bump();
                }
            }
            '\n' => {
                lx.bump();
                if open.is_empty() {
                    if out.last().is_some_and(|t| t.tok != Tok::Newline) {
                        out.push(Token { tok: Tok::Newline, pos });
                    }
                    line_start = true;
                }
            }
            '\\' => {
                lx.bump();
                if lx.bump() != Some('\n') {
                    return Err(err(pos, "unexpected character after line continuation character"));
                }
            }
            '\'' | '"' => out.push(Token { tok: string(&mut lx, "", pos)?, pos }),
            c if c.is_ascii_digit() || (c == '.' && lx.peek(1).is_some_and(|d| d.is_ascii_digit())) => {
                out.push(Token { tok: number(&mut lx, pos)?, pos })
            }
            c if c == '_' || c.is_alphabetic() => {
                let mut name = String::new();
                while let Some(c) = lx.peek(0).filter(|c| *c == '_' || c.is_alphanumeric()) {
                    name.push(c);
                    lx.bump();
                }
                let prefix = name.to_ascii_lowercase();
                let is_prefix = ["r", "u", "b", "br", "rb", "f", "fr", "rf"].contains(&prefix.as_str());
                if is_prefix && matches!(lx.peek(0), Some('\'' | '"')) {
                    out.push(Token { tok: string(&mut lx, &prefix, pos)?, pos });
                } else {
                    out.push(Token { tok: Tok::Name(name), pos });
                }
            }
            _ => {
                let Some(op) = OPS.iter().find(|op| op.chars().enumerate().all(|(k, o)| lx.peek(k) == Some(o))) else {
                    return Err(err(pos, format!("invalid character {c:?}")));
                };
                for _ in 0..op.chars().count() {
                    lx.bump();
                }
                match *op {
                    "(" | "[" | "{" => open.push((c, pos)),
                    ")" | "]" | "}" => {
                        let want = match c {
                            ')' => '(',
                            ']' => '[',
                            _ => '{',
                        };
                        match open.pop() {
                            Some((o, _)) if o == want => {}
                            _ => return Err(err(pos, format!("unmatched '{c}'"))),
                        }
                    }
                    _ => {}
                }
                out.push(Token { tok: Tok::Op(op), pos });
            }
        }
    }
    if let Some((o, pos)) = open.pop() {
        return Err(err(pos, format!("'{o}' was never closed")));
    }
    Ok(())
}

/// A string or bytes literal whose prefix (lowercased) was read; the
/// lexer is at its opening quote.
fn string(lx: &mut Lexer, prefix: &str, start: Pos) -> Result<Tok, Error> {
    if prefix.contains('f') {
        return Err(err(start, "an f-string (it is code, not a literal)"));
    }
    let (raw, bytes) = (prefix.contains('r'), prefix.contains('b'));
    let quote = lx.bump().unwrap_or('"');
    let triple = lx.peek(0) == Some(quote) && lx.peek(1) == Some(quote);
    if triple {
        lx.bump();
        lx.bump();
    }
    let unterminated = || {
        let kind = if triple { "unterminated triple-quoted string literal" } else { "unterminated string literal" };
        err(start, kind)
    };
    let mut out: Vec<u32> = Vec::new();
    loop {
        let at = lx.pos();
        let Some(c) = lx.bump() else { return Err(unterminated()) };
        if c == quote && (!triple || (lx.peek(0) == Some(quote) && lx.peek(1) == Some(quote))) {
            if triple {
                lx.bump();
                lx.bump();
            }
            break;
        }
        if c == '\n' && !triple {
            return Err(unterminated());
        }
        if bytes && !c.is_ascii() {
            return Err(err(at, "bytes can only contain ASCII literal characters"));
        }
        if c != '\\' {
            out.push(c as u32);
            continue;
        }
        let Some(e) = lx.bump() else { return Err(unterminated()) };
        if raw {
            out.extend([u32::from('\\'), e as u32]);
            continue;
        }
        match e {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(e as u32),
            'a' => out.push(7),
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push(10),
            'r' => out.push(13),
            't' => out.push(9),
            'v' => out.push(11),
            '0'..='7' => {
                let mut value = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match lx.peek(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            lx.bump();
                        }
                        None => break,
                    }
                }
                // above \377: a character in a str; in bytes, its low byte (as CPython)
                out.push(value);
            }
            'x' => out.push(hex_escape(lx, 2, at, "truncated \\xXX escape")?),
            'u' if !bytes => out.push(hex_escape(lx, 4, at, "truncated \\uXXXX escape")?),
            'U' if !bytes => out.push(hex_escape(lx, 8, at, "truncated \\UXXXXXXXX escape")?),
            'N' if !bytes => {
                return Err(err(at, "a \\N{...} escape (not read here: write the character itself or \\u/\\U)"))
            }
            // unknown escapes stay as they are (a DeprecationWarning in Python)
            other => out.extend([u32::from('\\'), other as u32]),
        }
    }
    if bytes {
        // every unit is a byte: ASCII characters, escapes (octal ones masked)
        return Ok(Tok::Bytes(out.iter().map(|&u| (u & 0xFF) as u8).collect()));
    }
    let mut text = String::with_capacity(out.len());
    for u in out {
        match char::from_u32(u) {
            Some(c) => text.push(c),
            None if u > 0x10FFFF => return Err(err(start, "illegal Unicode character (above \\U0010ffff)")),
            None => return Err(err(start, format!("a lone surrogate \\u{u:04x} (not read here)"))),
        }
    }
    Ok(Tok::Str(text))
}

fn hex_escape(lx: &mut Lexer, digits: usize, at: Pos, truncated: &str) -> Result<u32, Error> {
    let mut value: u32 = 0;
    for _ in 0..digits {
        let Some(d) = lx.peek(0).and_then(|d| d.to_digit(16)) else { return Err(err(at, truncated)) };
        value = value.wrapping_mul(16).wrapping_add(d);
        lx.bump();
    }
    if digits == 8 && value > 0x10FFFF {
        return Err(err(at, "illegal Unicode character (above \\U0010ffff)"));
    }
    Ok(value)
}

/// Digits of `radix` with single underscores between them (and, after a
/// base prefix, one before the first): Python's rule.
fn digits_ok(s: &str, radix: u32, leading_underscore: bool) -> bool {
    let body = if leading_underscore { s.strip_prefix('_').unwrap_or(s) } else { s };
    !body.is_empty()
        && !body.starts_with('_')
        && !body.ends_with('_')
        && !body.contains("__")
        && body.chars().all(|c| c == '_' || c.is_digit(radix))
}

fn number(lx: &mut Lexer, pos: Pos) -> Result<Tok, Error> {
    let invalid = |what: &str| err(pos, format!("invalid {what} literal"));
    let take = |lx: &mut Lexer, ok: &dyn Fn(char) -> bool| {
        let mut s = String::new();
        while let Some(c) = lx.peek(0).filter(|c| ok(*c)) {
            s.push(c);
            lx.bump();
        }
        s
    };
    let radix = match (lx.peek(0), lx.peek(1).map(|c| c.to_ascii_lowercase())) {
        (Some('0'), Some('x')) => Some((16, "hexadecimal")),
        (Some('0'), Some('o')) => Some((8, "octal")),
        (Some('0'), Some('b')) => Some((2, "binary")),
        _ => None,
    };
    if let Some((radix, name)) = radix {
        lx.bump();
        lx.bump();
        let body = take(lx, &|c| c == '_' || c.is_alphanumeric());
        if !digits_ok(&body, radix, true) {
            return Err(invalid(name));
        }
        let clean: String = body.chars().filter(|c| *c != '_').collect();
        return i128::from_str_radix(&clean, radix).map(Tok::Int).map_err(|_| err(pos, "an integer too large"));
    }
    let int_part = take(lx, &|c| c == '_' || c.is_ascii_digit());
    let mut float = false;
    let mut text: String = int_part.chars().filter(|c| *c != '_').collect();
    if !int_part.is_empty() && !digits_ok(&int_part, 10, false) {
        return Err(invalid("decimal"));
    }
    if lx.peek(0) == Some('.') {
        lx.bump();
        float = true;
        let frac = take(lx, &|c| c == '_' || c.is_ascii_digit());
        if !frac.is_empty() && !digits_ok(&frac, 10, false) {
            return Err(invalid("decimal"));
        }
        let frac = if frac.is_empty() { "0".to_owned() } else { frac.replace('_', "") };
        text = format!("{}.{frac}", if text.is_empty() { "0" } else { &text });
    }
    if matches!(lx.peek(0), Some('e' | 'E'))
        && (lx.peek(1).is_some_and(|c| c.is_ascii_digit())
            || (matches!(lx.peek(1), Some('+' | '-')) && lx.peek(2).is_some_and(|c| c.is_ascii_digit())))
    {
        lx.bump();
        float = true;
        let sign = if matches!(lx.peek(0), Some('+' | '-')) { lx.bump().map(String::from) } else { None };
        let exp = take(lx, &|c| c == '_' || c.is_ascii_digit());
        if !digits_ok(&exp, 10, false) {
            return Err(invalid("decimal"));
        }
        text = format!("{text}e{}{}", sign.unwrap_or_default(), exp.replace('_', ""));
    }
    match lx.peek(0) {
        Some('j' | 'J') => return Err(err(pos, "an imaginary number")),
        Some(c) if c == '_' || c.is_alphanumeric() => return Err(invalid("decimal")),
        _ => {}
    }
    if float {
        return text.parse::<f64>().map(Tok::Float).map_err(|_| invalid("decimal"));
    }
    if text.len() > 1 && text.starts_with('0') && text.chars().any(|c| c != '0') {
        return Err(err(pos, "leading zeros in decimal integer literals are not permitted; use an 0o prefix"));
    }
    text.parse::<i128>().map(Tok::Int).map_err(|_| err(pos, "an integer too large"))
}
