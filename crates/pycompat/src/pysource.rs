//! A Django settings file (`my_settings.py`, `settings.py`) read, not run:
//! module-level `NAME = value` statements whose values are Python literals
//! (every string form, numbers, `True`/`False`/`None`, dicts, lists,
//! tuples, sets), `os.environ.get`/`os.environ[…]`/`os.getenv` (looked up
//! in a given environment), `import os`, and the `pathlib` idiom of
//! Django's generated settings (`BASE_DIR = Path(__file__).resolve().parent.parent`,
//! `BASE_DIR / "db.sqlite3"`, `os.path.join(BASE_DIR, …)`). Anything else
//! (a call, an `if`, another import, an f-string) is an [`Error`] at its
//! line and column: a value that would need running the file.

mod eval;
mod lex;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lex::{Tok, Token};

/// A line and a column (of characters), both from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Why the file is not read: where, what, and the name the statement
/// assigns when it is known.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub pos: Pos,
    pub what: String,
    pub target: Option<String>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.what)
    }
}

/// A value, with where it starts in its file.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Node>),
    List(Vec<Node>),
    Set(Vec<Node>),
    Dict(Vec<(Node, Node)>),
    /// A `pathlib.Path`.
    Path(PathBuf),
}

impl Value {
    /// What Python calls its type, with an article: for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "a str",
            Value::Bytes(_) => "a bytes",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Set(_) => "a set",
            Value::Dict(_) => "a dict",
            Value::Path(_) => "a Path",
        }
    }

    /// The value of a `str` key of a dict.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Value::Dict(pairs) => pairs.iter().rev().find(|(k, _)| k.value == Value::Str(key.into())).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// One name the module binds, as it stands at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub name: String,
    pub value: Node,
    /// `from MODULE import NAME`: the value (and its position) is MODULE's.
    pub imported_from: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Module {
    pub bindings: Vec<Binding>,
}

impl Module {
    pub fn get(&self, name: &str) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.name == name)
    }

    fn bind(&mut self, binding: Binding) {
        self.bindings.retain(|b| b.name != binding.name);
        self.bindings.push(binding);
    }
}

/// What reading a file may use.
pub struct Options<'a> {
    /// The environment `os.environ` reads.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The file itself (`__file__`).
    pub file: &'a Path,
    /// Modules `from NAME import …` may import names from.
    pub modules: &'a [(&'a str, &'a Module)],
}

/// What a name or an expression stands for while reading.
#[derive(Clone, Debug)]
enum Obj {
    Value(Value),
    Os,
    OsPath,
    Environ,
    PathClass,
    EnvironGet,
    Getenv,
    Join,
    Resolve(PathBuf),
}

const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except",
    "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
    "return", "try", "while", "with", "yield",
];

/// Reads `text` (the file `options.file`).
pub fn parse(text: &str, options: &Options<'_>) -> Result<Module, Error> {
    let (tokens, lex_error) = lex::tokens(text);
    let mut p = Parser { tokens, i: 0, options, names: HashMap::new(), module: Module::default(), target: None };
    match (p.module(), lex_error) {
        (Err(e), Some(l)) if l.pos <= e.pos => Err(l),
        (Err(e), _) => Err(e),
        (Ok(()), Some(l)) => Err(l),
        (Ok(()), None) => Ok(p.module),
    }
}

struct Parser<'a, 'o> {
    tokens: Vec<Token>,
    i: usize,
    options: &'a Options<'o>,
    names: HashMap<String, Obj>,
    module: Module,
    target: Option<String>,
}

fn keyword_what(kw: &str) -> String {
    match kw {
        "def" => "a function definition (`def`)".into(),
        "class" => "a class definition".into(),
        "lambda" | "not" | "and" | "or" | "in" | "is" | "await" | "yield" => format!("the operator `{kw}`"),
        "if" | "elif" | "else" | "except" | "assert" | "async" => format!("an `{kw}` statement"),
        _ => format!("a `{kw}` statement"),
    }
}

impl Parser<'_, '_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.i + ahead).min(self.tokens.len() - 1)].tok
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.i += 1;
        t
    }

    fn err(&self, pos: Pos, what: impl Into<String>) -> Error {
        Error { pos, what: what.into(), target: self.target.clone() }
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.peek().tok, Tok::Op(o) if *o == op)
    }

    fn eat(&mut self, op: &str) -> bool {
        let yes = self.is_op(op);
        if yes {
            self.i += 1;
        }
        yes
    }

    /// An error for the token here, saying what it is.
    fn unexpected(&self) -> Error {
        let t = self.peek();
        let what = match &t.tok {
            Tok::Name(n) if KEYWORDS.contains(&n.as_str()) => keyword_what(n),
            Tok::Op("(") => "a call".to_owned(),
            Tok::Op("[") => "an item (`x[…]`)".to_owned(),
            Tok::Op("=") => "an assignment to something other than a name".to_owned(),
            Tok::Op(op) if !matches!(*op, "," | ")" | "]" | "}" | ":") => format!("the operator `{op}`"),
            Tok::Newline | Tok::Eof => "the end of the line here".to_owned(),
            Tok::Indent => "an indented line (a block of code)".to_owned(),
            other => format!("{} here", describe(other)),
        };
        self.err(t.pos, what)
    }

    fn module(&mut self) -> Result<(), Error> {
        while self.peek().tok != Tok::Eof {
            self.target = None;
            if self.peek().tok == Tok::Newline || self.eat(";") {
                self.i += 1;
                continue;
            }
            self.statement()?;
            if !(self.eat(";") || self.peek().tok == Tok::Newline || self.peek().tok == Tok::Eof) {
                return Err(self.unexpected());
            }
        }
        Ok(())
    }

    fn statement(&mut self) -> Result<(), Error> {
        let start = self.peek().clone();
        match &start.tok {
            Tok::Name(n) if n == "import" => return self.import(),
            Tok::Name(n) if n == "from" => return self.import_from(),
            Tok::Name(n) if KEYWORDS.contains(&n.as_str()) => return Err(self.unexpected()),
            _ => {}
        }
        let mut targets = Vec::new();
        while let (Tok::Name(n), Tok::Op("=")) = (self.peek().tok.clone(), self.peek_at(1).clone()) {
            if ["True", "False", "None"].contains(&n.as_str()) {
                break;
            }
            self.target.get_or_insert(n.clone());
            targets.push(n);
            self.i += 2;
        }
        if let (Tok::Name(n), Tok::Op(":")) = (&start.tok, self.peek_at(1)) {
            let target = Some(n.clone());
            return Err(Error { pos: start.pos, what: "an annotated assignment (write NAME = value)".into(), target });
        }
        let node = self.value()?;
        for name in targets {
            self.names.insert(name.clone(), Obj::Value(node.value.clone()));
            self.module.bind(Binding { name, value: node.clone(), imported_from: None });
        }
        Ok(())
    }

    fn dotted(&mut self) -> Result<(String, Pos), Error> {
        let pos = self.peek().pos;
        let mut name = String::new();
        loop {
            match self.next().tok {
                Tok::Name(n) if !KEYWORDS.contains(&n.as_str()) => name.push_str(&n),
                _ => return Err(self.err(pos, "a module name expected")),
            }
            if !self.eat(".") {
                return Ok((name, pos));
            }
            name.push('.');
        }
    }

    fn import(&mut self) -> Result<(), Error> {
        self.i += 1;
        loop {
            let (module, pos) = self.dotted()?;
            if matches!(&self.peek().tok, Tok::Name(n) if n == "as") {
                return Err(self.err(self.peek().pos, "`import … as` (only `import os` is read)"));
            }
            if module != "os" && module != "os.path" {
                return Err(self.err(pos, format!("`import {module}`: only `import os` is read")));
            }
            self.names.insert("os".into(), Obj::Os);
            if !self.eat(",") {
                return Ok(());
            }
        }
    }

    fn import_from(&mut self) -> Result<(), Error> {
        self.i += 1;
        if self.is_op(".") || self.is_op("...") {
            return Err(self.err(self.peek().pos, "a relative import (only `from pathlib import Path` is read)"));
        }
        let (module, pos) = self.dotted()?;
        if !matches!(&self.next().tok, Tok::Name(n) if n == "import") {
            return Err(self.err(pos, "`import` expected"));
        }
        let paren = self.eat("(");
        let from = self.options.modules.iter().find(|(name, _)| *name == module).map(|(_, m)| *m);
        loop {
            let at = self.peek().pos;
            let name = match self.next().tok {
                Tok::Name(n) if !KEYWORDS.contains(&n.as_str()) => n,
                Tok::Op("*") => return Err(self.err(at, format!("`from {module} import *` (name what is imported)"))),
                _ => return Err(self.err(at, "a name expected")),
            };
            if matches!(&self.peek().tok, Tok::Name(n) if n == "as") {
                return Err(self.err(self.peek().pos, "`import … as` (import the names as they are)"));
            }
            let obj = match (module.as_str(), name.as_str(), from) {
                ("pathlib", "Path", _) => Obj::PathClass,
                ("os", "environ", _) => Obj::Environ,
                ("os", "getenv", _) => Obj::Getenv,
                ("os", "path", _) => Obj::OsPath,
                (_, _, Some(m)) => match m.get(&name) {
                    Some(b) => {
                        let binding = Binding { imported_from: Some(module.clone()), ..b.clone() };
                        let value = binding.value.value.clone();
                        self.module.bind(binding);
                        Obj::Value(value)
                    }
                    None => {
                        return Err(self.err(at, format!("cannot import name {name} from {module}: it does not set it")))
                    }
                },
                _ => {
                    let known = if self.options.modules.is_empty() { "" } else { ", or the settings module" };
                    return Err(
                        self.err(pos, format!("`from {module} import`: only os and pathlib.Path{known} are read"))
                    );
                }
            };
            self.names.insert(name, obj);
            if !self.eat(",") || (paren && self.is_op(")")) {
                break;
            }
        }
        if paren && !self.eat(")") {
            return Err(self.unexpected());
        }
        Ok(())
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Name(n) => format!("the name `{n}`"),
        Tok::Str(_) => "a string".into(),
        Tok::Bytes(_) => "a bytes literal".into(),
        Tok::Int(_) | Tok::Float(_) => "a number".into(),
        Tok::Op(op) => format!("`{op}`"),
        Tok::Newline | Tok::Eof => "the end of the line".into(),
        Tok::Indent => "an indented line".into(),
    }
}

fn obj_name(obj: &Obj) -> String {
    match obj {
        Obj::Value(v) => v.kind().to_owned(),
        Obj::Os => "os".into(),
        Obj::OsPath => "os.path".into(),
        Obj::Environ => "os.environ".into(),
        Obj::PathClass => "Path".into(),
        Obj::EnvironGet => "os.environ.get".into(),
        Obj::Getenv => "os.getenv".into(),
        Obj::Join => "os.path.join".into(),
        Obj::Resolve(_) => "Path.resolve".into(),
    }
}
