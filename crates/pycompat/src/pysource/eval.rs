//! The values of expressions in [`super`]: literals, the environment
//! lookups of `os`, and the `pathlib` idiom.

use std::path::{Path, PathBuf};

use super::lex::Tok;
use super::{obj_name, Error, Node, Obj, Parser, Value, KEYWORDS};

impl Parser<'_, '_> {
    /// An expression that must be a value.
    pub(super) fn value(&mut self) -> Result<Node, Error> {
        let pos = self.peek().pos;
        match self.expr()? {
            Obj::Value(value) => Ok(Node { value, pos }),
            other => Err(self.err(pos, format!("{} is not a value", obj_name(&other)))),
        }
    }

    /// `unary ('/' unary)*`: `/` only joins a path.
    fn expr(&mut self) -> Result<Obj, Error> {
        let mut left = self.unary()?;
        while self.is_op("/") {
            let at = self.peek().pos;
            self.i += 1;
            let right = self.value()?;
            left = match (left, right.value) {
                (Obj::Value(Value::Path(p)), Value::Str(s)) => Obj::Value(Value::Path(p.join(s))),
                (Obj::Value(Value::Path(p)), Value::Path(q)) => Obj::Value(Value::Path(p.join(q))),
                _ => return Err(self.err(at, "the operator `/` (only `Path / \"name\"` is read)")),
            };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Obj, Error> {
        let at = self.peek().pos;
        let negate = if self.eat("-") {
            true
        } else if self.eat("+") {
            false
        } else {
            return self.primary();
        };
        let value = match (self.unary()?, negate) {
            (Obj::Value(Value::Int(n)), true) => {
                Value::Int(n.checked_neg().ok_or_else(|| self.err(at, "an integer too large"))?)
            }
            (Obj::Value(Value::Float(f)), true) => Value::Float(-f),
            (Obj::Value(Value::Bool(b)), true) => Value::Int(-i128::from(b)),
            (Obj::Value(Value::Bool(b)), false) => Value::Int(i128::from(b)),
            (Obj::Value(v @ (Value::Int(_) | Value::Float(_))), false) => v,
            _ => return Err(self.err(at, "a sign before something other than a number")),
        };
        Ok(Obj::Value(value))
    }

    fn primary(&mut self) -> Result<Obj, Error> {
        let mut obj = self.atom()?;
        loop {
            let at = self.peek().pos;
            if self.eat(".") {
                let Tok::Name(attr) = self.next().tok else { return Err(self.err(at, "a name expected after `.`")) };
                obj = match (obj, attr.as_str()) {
                    (Obj::Os, "environ") => Obj::Environ,
                    (Obj::Os, "getenv") => Obj::Getenv,
                    (Obj::Os, "path") => Obj::OsPath,
                    (Obj::OsPath, "join") => Obj::Join,
                    (Obj::Environ, "get") => Obj::EnvironGet,
                    (Obj::Value(Value::Path(p)), "parent") => {
                        Obj::Value(Value::Path(p.parent().map(Path::to_path_buf).unwrap_or(p)))
                    }
                    (Obj::Value(Value::Path(p)), "resolve") => Obj::Resolve(p),
                    (other, _) => {
                        return Err(
                            self.err(at, format!("the attribute `{}.{attr}` (code, not a literal)", obj_name(&other)))
                        )
                    }
                };
            } else if self.is_op("(") {
                obj = self.call(obj)?;
            } else if self.is_op("[") && matches!(obj, Obj::Environ) {
                self.i += 1;
                let key = self.value()?;
                if !self.eat("]") {
                    return Err(self.unexpected());
                }
                let Value::Str(name) = key.value else { return Err(self.err(key.pos, "os.environ[…] of a non-str")) };
                match (self.options.env)(&name) {
                    Some(v) => obj = Obj::Value(Value::Str(v)),
                    None => {
                        return Err(self.err(
                            at,
                            format!("os.environ[{}]: {name} is not set (KeyError)", crate::pyrepr::repr_str(&name)),
                        ))
                    }
                }
            } else {
                return Ok(obj);
            }
        }
    }

    fn call(&mut self, callee: Obj) -> Result<Obj, Error> {
        let at = self.peek().pos;
        self.i += 1;
        let mut args = Vec::new();
        while !self.eat(")") {
            if let (Tok::Name(_), Tok::Op("=")) = (&self.peek().tok, self.peek_at(1)) {
                return Err(self.err(self.peek().pos, "a keyword argument"));
            }
            if self.is_op("*") || self.is_op("**") {
                return Err(self.unexpected());
            }
            args.push(self.value()?);
            if !self.eat(",") {
                if !self.eat(")") {
                    return Err(self.unexpected());
                }
                break;
            }
        }
        let name = obj_name(&callee);
        let arity = |lo: usize, hi: usize| {
            if args.len() < lo || args.len() > hi {
                Err(self.err(at, format!("{name}() with {} arguments", args.len())))
            } else {
                Ok(())
            }
        };
        let value = match callee {
            Obj::EnvironGet | Obj::Getenv => {
                arity(1, 2)?;
                let Value::Str(key) = &args[0].value else {
                    return Err(self.err(args[0].pos, format!("{name}() of a non-str")));
                };
                match (self.options.env)(key) {
                    Some(v) => Value::Str(v),
                    None => args.get(1).map_or(Value::None, |d| d.value.clone()),
                }
            }
            Obj::Join => {
                arity(1, usize::MAX)?;
                let mut path = PathBuf::new();
                for arg in &args {
                    match &arg.value {
                        Value::Str(s) => path.push(s),
                        Value::Path(p) => path.push(p),
                        other => return Err(self.err(arg.pos, format!("os.path.join() of {}", other.kind()))),
                    }
                }
                Value::Str(path.to_string_lossy().into_owned())
            }
            Obj::PathClass => {
                arity(1, 1)?;
                match &args[0].value {
                    Value::Str(s) => Value::Path(PathBuf::from(s)),
                    Value::Path(p) => Value::Path(p.clone()),
                    other => return Err(self.err(args[0].pos, format!("Path() of {}", other.kind()))),
                }
            }
            Obj::Resolve(p) => {
                arity(0, 0)?;
                let resolved = std::fs::canonicalize(&p).or_else(|_| std::path::absolute(&p)).unwrap_or(p);
                Value::Path(resolved)
            }
            other => return Err(self.err(at, format!("a function call ({}(…))", obj_name(&other)))),
        };
        Ok(Obj::Value(value))
    }

    fn atom(&mut self) -> Result<Obj, Error> {
        let t = self.peek().clone();
        let value = match t.tok {
            Tok::Str(_) | Tok::Bytes(_) => self.strings()?,
            Tok::Int(n) => {
                self.i += 1;
                Value::Int(n)
            }
            Tok::Float(f) => {
                self.i += 1;
                Value::Float(f)
            }
            Tok::Name(n) => {
                self.i += 1;
                match n.as_str() {
                    "True" => Value::Bool(true),
                    "False" => Value::Bool(false),
                    "None" => Value::None,
                    "__file__" => Value::Str(self.options.file.to_string_lossy().into_owned()),
                    kw if KEYWORDS.contains(&kw) => {
                        self.i -= 1;
                        return Err(self.unexpected());
                    }
                    _ => match self.names.get(&n) {
                        Some(obj) => return Ok(obj.clone()),
                        None => return Err(self.err(t.pos, format!("the name `{n}`, which the file does not set"))),
                    },
                }
            }
            Tok::Op("(") => {
                self.i += 1;
                if self.eat(")") {
                    return Ok(Obj::Value(Value::Tuple(Vec::new())));
                }
                let first_pos = self.peek().pos;
                let first = self.expr()?;
                if self.eat(")") {
                    return Ok(first);
                }
                let Obj::Value(first) = first else { return Err(self.unexpected()) };
                if !self.eat(",") {
                    return Err(self.unexpected());
                }
                let mut items = vec![Node { value: first, pos: first_pos }];
                items.extend(self.items(")")?);
                Value::Tuple(items)
            }
            Tok::Op("[") => {
                self.i += 1;
                Value::List(self.items("]")?)
            }
            Tok::Op("{") => {
                self.i += 1;
                self.braces()?
            }
            _ => return Err(self.unexpected()),
        };
        Ok(Obj::Value(value))
    }

    /// Values separated by commas (one may trail) up to `close`.
    fn items(&mut self, close: &str) -> Result<Vec<Node>, Error> {
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.value()?);
            if !self.eat(",") {
                if !self.eat(close) {
                    return Err(self.unexpected());
                }
                break;
            }
        }
        Ok(items)
    }

    fn braces(&mut self) -> Result<Value, Error> {
        if self.eat("}") {
            return Ok(Value::Dict(Vec::new()));
        }
        let first = self.value()?;
        if !self.eat(":") {
            let mut items = vec![first];
            if self.eat(",") {
                items.extend(self.items("}")?);
            } else if !self.eat("}") {
                return Err(self.unexpected());
            }
            return Ok(Value::Set(items));
        }
        let mut pairs = vec![(first, self.value()?)];
        loop {
            if self.eat("}") {
                break;
            }
            if !self.eat(",") {
                return Err(self.unexpected());
            }
            if self.eat("}") {
                break;
            }
            let key = self.value()?;
            if !self.eat(":") {
                return Err(self.unexpected());
            }
            pairs.push((key, self.value()?));
        }
        Ok(Value::Dict(pairs))
    }

    /// Adjacent string literals, concatenated (str with str, bytes with bytes).
    fn strings(&mut self) -> Result<Value, Error> {
        let mut value: Option<Value> = None;
        loop {
            let t = self.peek().clone();
            value = match (value, t.tok) {
                (None, Tok::Str(s)) => Some(Value::Str(s)),
                (None, Tok::Bytes(b)) => Some(Value::Bytes(b)),
                (Some(Value::Str(a)), Tok::Str(s)) => Some(Value::Str(a + &s)),
                (Some(Value::Bytes(mut a)), Tok::Bytes(b)) => {
                    a.extend(b);
                    Some(Value::Bytes(a))
                }
                (Some(_), Tok::Str(_) | Tok::Bytes(_)) => {
                    return Err(self.err(t.pos, "cannot mix bytes and nonbytes literals"))
                }
                (Some(v), _) => return Ok(v),
                (None, _) => return Err(self.unexpected()),
            };
            self.i += 1;
        }
    }
}
