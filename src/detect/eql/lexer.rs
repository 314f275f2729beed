//! Tokens of EQL as Elasticsearch lexes them: `"..."` strings with escapes, `"""..."""` raw
//! strings, backtick-quoted field names, `//` and `/* */` comments, `in~`-style tilde words.

use super::QueryError;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A bare word or dotted path (`process.name`, `@timestamp`); `tilde` when written `word~`.
    Ident {
        name: String,
        tilde: bool,
    },
    /// A backtick-quoted field name, already unescaped.
    Quoted(String),
    Str(String),
    Int(i64),
    Float(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// `![`: opens a missing-event term.
    MissingOpen,
    Comma,
    Pipe,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Assign,
    Colon,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Question,
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

pub fn tokenize(src: &str) -> Result<Vec<Token>, QueryError> {
    let mut lx = Lexer {
        src,
        chars: src.char_indices().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_space_and_comments()?;
        let (line, col) = (lx.line, lx.col);
        let Some(c) = lx.peek(0) else {
            out.push(Token {
                tok: Tok::Eof,
                line,
                col,
            });
            return Ok(out);
        };
        let tok = lx.token(c, line, col)?;
        out.push(Token { tok, line, col });
    }
}

struct Lexer<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    i: usize,
    line: usize,
    col: usize,
}

fn err(line: usize, col: usize, message: impl Into<String>) -> QueryError {
    QueryError {
        line,
        col,
        message: message.into(),
    }
}

fn ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@'
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '@' || c == '.'
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).map(|&(_, c)| c)
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

    fn offset(&self) -> usize {
        self.chars.get(self.i).map_or(self.src.len(), |&(o, _)| o)
    }

    fn skip_space_and_comments(&mut self) -> Result<(), QueryError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let (line, col) = (self.line, self.col);
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => return Err(err(line, col, "unterminated /* comment")),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn token(&mut self, c: char, line: usize, col: usize) -> Result<Tok, QueryError> {
        let two = |a: char, b: char| c == a && self.peek(1) == Some(b);
        let tok = if two('=', '=') {
            Tok::Eq
        } else if two('!', '=') {
            Tok::Ne
        } else if two('<', '=') {
            Tok::Le
        } else if two('>', '=') {
            Tok::Ge
        } else if two('!', '[') {
            Tok::MissingOpen
        } else {
            let t = match c {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '[' => Tok::LBracket,
                ']' => Tok::RBracket,
                ',' => Tok::Comma,
                '|' => Tok::Pipe,
                '<' => Tok::Lt,
                '>' => Tok::Gt,
                '=' => Tok::Assign,
                ':' => Tok::Colon,
                '+' => Tok::Plus,
                '-' => Tok::Minus,
                '*' => Tok::Star,
                '/' => Tok::Slash,
                '%' => Tok::Percent,
                '?' if matches!(self.peek(1), Some('"' | '\'')) => {
                    return Err(err(
                        line,
                        col,
                        "Use triple double quotes [\"\"\"] to define unescaped string literals, not [?\"]",
                    ))
                }
                '?' => Tok::Question,
                '\'' => {
                    return Err(err(
                        line,
                        col,
                        "Use double quotes [\"] to define string literals, not single quotes [']",
                    ))
                }
                '"' => return self.string(line, col),
                '`' => return self.backtick(line, col),
                c if c.is_ascii_digit() => return self.number(line, col),
                c if ident_start(c) => return Ok(self.ident()),
                c => return Err(err(line, col, format!("unexpected character [{c}]"))),
            };
            self.bump();
            return Ok(t);
        };
        self.bump();
        self.bump();
        Ok(tok)
    }

    fn ident(&mut self) -> Tok {
        let start = self.offset();
        while self.peek(0).is_some_and(ident_char) {
            self.bump();
        }
        let name = self.src[start..self.offset()].to_owned();
        let tilde = self.peek(0) == Some('~');
        if tilde {
            self.bump();
        }
        Tok::Ident { name, tilde }
    }

    fn backtick(&mut self, line: usize, col: usize) -> Result<Tok, QueryError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                Some('`') if self.peek(0) == Some('`') => {
                    self.bump();
                    s.push('`');
                }
                Some('`') => break,
                Some(c) => s.push(c),
                None => return Err(err(line, col, "unterminated quoted field name")),
            }
        }
        // `` `a b`.c `` continues as a dotted path.
        while self.peek(0) == Some('.') {
            self.bump();
            s.push('.');
            if self.peek(0) == Some('`') {
                let Tok::Quoted(more) = self.backtick(line, col)? else {
                    unreachable!()
                };
                s.push_str(&more);
                return Ok(Tok::Quoted(s));
            }
            while self.peek(0).is_some_and(|c| ident_char(c) && c != '.') {
                s.push(self.bump().unwrap_or_default());
            }
        }
        Ok(Tok::Quoted(s))
    }

    fn number(&mut self, line: usize, col: usize) -> Result<Tok, QueryError> {
        let start = self.offset();
        let mut float = false;
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.bump();
            while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        if matches!(self.peek(0), Some('e' | 'E'))
            && (self.peek(1).is_some_and(|c| c.is_ascii_digit())
                || (matches!(self.peek(1), Some('+' | '-'))
                    && self.peek(2).is_some_and(|c| c.is_ascii_digit())))
        {
            float = true;
            self.bump();
            self.bump();
            while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        let text = &self.src[start..self.offset()];
        if float {
            text.parse()
                .map(Tok::Float)
                .map_err(|_| err(line, col, format!("invalid number [{text}]")))
        } else {
            match text.parse::<i64>() {
                Ok(i) => Ok(Tok::Int(i)),
                Err(_) => text
                    .parse::<f64>()
                    .map(Tok::Float)
                    .map_err(|_| err(line, col, format!("invalid number [{text}]"))),
            }
        }
    }

    fn string(&mut self, line: usize, col: usize) -> Result<Tok, QueryError> {
        if self.peek(1) == Some('"') && self.peek(2) == Some('"') {
            for _ in 0..3 {
                self.bump();
            }
            let start = self.offset();
            loop {
                if self.peek(0) == Some('"')
                    && self.peek(1) == Some('"')
                    && self.peek(2) == Some('"')
                {
                    // `""""` ends with the last three quotes: a quote just before them is content.
                    let mut end_extra = 0;
                    while self.peek(3 + end_extra) == Some('"') {
                        end_extra += 1;
                    }
                    for _ in 0..end_extra {
                        self.bump();
                    }
                    let s = self.src[start..self.offset()].to_owned();
                    for _ in 0..3 {
                        self.bump();
                    }
                    return Ok(Tok::Str(s));
                }
                if self.bump().is_none() {
                    return Err(err(line, col, "unterminated \"\"\" string"));
                }
            }
        }
        self.bump();
        let mut s = String::new();
        loop {
            let (l, c) = (self.line, self.col);
            match self.bump() {
                None | Some('\n') | Some('\r') => {
                    return Err(err(line, col, "unterminated string"))
                }
                Some('"') => return Ok(Tok::Str(s)),
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('b') => s.push('\u{8}'),
                    Some('f') => s.push('\u{c}'),
                    Some('"') => s.push('"'),
                    Some('\'') => s.push('\''),
                    Some('\\') => s.push('\\'),
                    Some('u') if self.peek(0) == Some('{') => {
                        self.bump();
                        let mut hex = String::new();
                        while let Some(h) = self.peek(0).filter(char::is_ascii_hexdigit) {
                            hex.push(h);
                            self.bump();
                        }
                        let ch = (self.bump() == Some('}') && (2..=8).contains(&hex.len()))
                            .then(|| u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32))
                            .flatten();
                        match ch {
                            Some(ch) => s.push(ch),
                            None => {
                                return Err(err(
                                    l,
                                    c,
                                    "invalid unicode escape; use \\u{XXXX} with 2-8 hex digits",
                                ))
                            }
                        }
                    }
                    Some(o) => return Err(err(l, c, format!("invalid escape sequence [\\{o}]"))),
                    None => return Err(err(line, col, "unterminated string")),
                },
                Some(ch) => s.push(ch),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn strings_and_comments() {
        assert_eq!(
            toks(
                r#"a == "x\"\\y" // c
            /* multi
            line */ """raw\n""""#
            ),
            vec![
                Tok::Ident {
                    name: "a".into(),
                    tilde: false
                },
                Tok::Eq,
                Tok::Str("x\"\\y".into()),
                Tok::Str("raw\\n".into()),
                Tok::Eof
            ]
        );
        let e = tokenize("a == 'x'").unwrap_err();
        assert_eq!((e.line, e.col), (1, 6));
        let e = tokenize("a ==\n  \"x").unwrap_err();
        assert_eq!((e.line, e.col), (2, 3));
    }

    #[test]
    fn tilde_words_and_numbers() {
        assert_eq!(
            toks("in~ 1.5 2 `a b`.c"),
            vec![
                Tok::Ident {
                    name: "in".into(),
                    tilde: true
                },
                Tok::Float(1.5),
                Tok::Int(2),
                Tok::Quoted("a b.c".into()),
                Tok::Eof
            ]
        );
    }
}
