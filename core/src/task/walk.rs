//! Walking the positioned tree: typed accessors that fail with a located error.
//!
//! [`At`] is a node plus its field path and file; every conversion goes through it,
//! so every error carries file, line, column and path without special cases.

use std::collections::HashSet;

use super::error::{Located, TaskError, suggest};
use super::yaml::{Mark, Node, Value};

/// A node being read, with the path that leads to it.
#[derive(Clone)]
pub(crate) struct At<'a> {
    pub node: &'a Node,
    pub path: String,
    pub file: &'a str,
}

/// One entry of a mapping, with its own path (entries of an overlaid mapping may
/// come from different places).
#[derive(Clone)]
pub(crate) struct Field<'a> {
    pub key: String,
    pub key_node: &'a Node,
    pub value: At<'a>,
}

impl<'a> At<'a> {
    pub fn root(node: &'a Node, file: &'a str) -> Self {
        At {
            node,
            path: "(root)".to_string(),
            file,
        }
    }

    pub fn mark(&self) -> Mark {
        self.node.mark
    }

    pub fn error_at(&self, mark: Mark, message: impl Into<String>) -> TaskError {
        TaskError::Invalid(Box::new(Located {
            file: self.file.to_string(),
            line: mark.line,
            col: mark.col,
            path: self.path.clone(),
            message: message.into(),
            suggestion: None,
        }))
    }

    pub fn err(&self, message: impl Into<String>) -> TaskError {
        self.error_at(self.node.mark, message)
    }

    pub fn err_suggest(&self, message: impl Into<String>, suggestion: Option<String>) -> TaskError {
        let mut e = self.err(message);
        if let TaskError::Invalid(l) = &mut e {
            l.suggestion = suggestion;
        }
        e
    }

    fn child_path(&self, key: &str) -> String {
        if self.path == "(root)" {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn child(&self, key: &str, node: &'a Node) -> At<'a> {
        At {
            node,
            path: self.child_path(key),
            file: self.file,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.node.value, Value::Null)
    }

    fn wrong_type(&self, expected: &str) -> TaskError {
        self.err(format!(
            "expected {expected}, found {}",
            self.node.value.type_name()
        ))
    }

    /// A mapping's entries with string keys; duplicate keys are errors; `<<` merge
    /// keys are expanded (explicit keys win).
    pub fn fields(&self) -> Result<Vec<Field<'a>>, TaskError> {
        let Value::Map(entries) = &self.node.value else {
            return Err(self.wrong_type("a mapping"));
        };
        let mut out: Vec<Field<'a>> = Vec::with_capacity(entries.len());
        let mut seen: HashSet<String> = HashSet::with_capacity(entries.len());
        let mut merged: Vec<Field<'a>> = Vec::new();
        let mut merged_keys: HashSet<String> = HashSet::new();
        for (k, v) in entries {
            let key = scalar_key(k).ok_or_else(|| {
                self.error_at(
                    k.mark,
                    format!("keys must be scalars, found {}", k.value.type_name()),
                )
            })?;
            if key == "<<" && matches!(k.value, Value::Str(_)) {
                let sources: Vec<&Node> = match &v.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![v],
                };
                for src in sources {
                    let at = At {
                        node: src,
                        path: self.path.clone(),
                        file: self.file,
                    };
                    for f in at.fields()? {
                        if merged_keys.insert(f.key.clone()) {
                            merged.push(f);
                        }
                    }
                }
                continue;
            }
            if !seen.insert(key.clone()) {
                let at = self.child(&key, k);
                return Err(at.err("duplicate key"));
            }
            out.push(Field {
                value: self.child(&key, v),
                key,
                key_node: k,
            });
        }
        for m in merged {
            if seen.insert(m.key.clone()) {
                out.push(m);
            }
        }
        Ok(out)
    }

    pub fn str(&self) -> Result<&'a str, TaskError> {
        match &self.node.value {
            Value::Str(s) => Ok(s),
            _ => Err(self.wrong_type("a string")),
        }
    }

    pub fn string(&self) -> Result<String, TaskError> {
        self.str().map(str::to_string)
    }

    pub fn bool(&self) -> Result<bool, TaskError> {
        match self.node.value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.wrong_type("a boolean")),
        }
    }

    pub fn int(&self) -> Result<i64, TaskError> {
        match self.node.value {
            Value::Int(i) => Ok(i),
            _ => Err(self.wrong_type("an integer")),
        }
    }

    /// An integer in `min..=max`.
    pub fn int_in(&self, min: i64, max: i64) -> Result<i64, TaskError> {
        let i = self.int()?;
        if i < min || i > max {
            return Err(self.err(format!("{i} is out of range {min}..={max}")));
        }
        Ok(i)
    }

    pub fn u32(&self) -> Result<u32, TaskError> {
        Ok(self.int_in(0, i64::from(u32::MAX))? as u32)
    }

    pub fn u64(&self) -> Result<u64, TaskError> {
        Ok(self.int_in(0, i64::MAX)? as u64)
    }

    /// Any number (integer or float), finite.
    pub fn number(&self) -> Result<f64, TaskError> {
        match self.node.value {
            Value::Int(i) => Ok(i as f64),
            Value::Float(f) if f.is_finite() => Ok(f),
            Value::Float(_) => Err(self.err("expected a finite number")),
            _ => Err(self.wrong_type("a number")),
        }
    }

    pub fn seq(&self) -> Result<Vec<At<'a>>, TaskError> {
        match &self.node.value {
            Value::Seq(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, n)| At {
                    node: n,
                    path: format!("{}[{i}]", self.path),
                    file: self.file,
                })
                .collect()),
            _ => Err(self.wrong_type("a list")),
        }
    }

    /// A case-insensitive choice; returns the canonical spelling.
    pub fn choice(&self, allowed: &[&'static str]) -> Result<&'static str, TaskError> {
        let s = self.str()?;
        allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(s))
            .copied()
            .ok_or_else(|| {
                self.err_suggest(
                    format!(
                        "invalid value `{s}`; expected one of: {}",
                        allowed.join(", ")
                    ),
                    suggest(s, allowed.iter().copied()),
                )
            })
    }

    /// A scalar rendered as Python's `str()` would (SkyPilot stringifies env values).
    pub fn python_str(&self) -> Result<Option<String>, TaskError> {
        match &self.node.value {
            Value::Null => Ok(None),
            Value::Str(s) => Ok(Some(s.clone())),
            Value::Bool(b) => Ok(Some(if *b { "True" } else { "False" }.to_string())),
            Value::Int(i) => Ok(Some(i.to_string())),
            Value::Float(f) => Ok(Some(python_float(*f))),
            _ => Err(self.wrong_type("a string, number or boolean")),
        }
    }
}

/// Checks that every field is one of `allowed`, pointing at the first that is not.
pub(crate) fn check_known(fields: &[Field<'_>], allowed: &[&str]) -> Result<(), TaskError> {
    for f in fields {
        if !allowed.contains(&f.key.as_str()) {
            let at = At {
                node: f.key_node,
                path: f.value.path.clone(),
                file: f.value.file,
            };
            return Err(at.err_suggest("unknown field", suggest(&f.key, allowed.iter().copied())));
        }
    }
    Ok(())
}

/// Finds a field by name.
pub(crate) fn get<'a, 'f>(fields: &'f [Field<'a>], key: &str) -> Option<&'f At<'a>> {
    fields.iter().find(|f| f.key == key).map(|f| &f.value)
}

/// Finds a field whose value is not null.
pub(crate) fn get_some<'a, 'f>(fields: &'f [Field<'a>], key: &str) -> Option<&'f At<'a>> {
    get(fields, key).filter(|at| !at.is_null())
}

fn scalar_key(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(python_float(*f)),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        Value::Null | Value::Seq(_) | Value::Map(_) => None,
    }
}

/// Formats a float as Python's `str(float)` does for ordinary values.
pub(crate) fn python_float(f: f64) -> String {
    if f.is_nan() {
        "nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Converts a node to JSON (for values kept verbatim: config, post_data, ...).
pub(crate) fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or_else(|| J::String(python_float(*f))),
        Value::Str(s) => J::String(s.clone()),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (scalar_key(k).unwrap_or_default(), to_json(v)))
                .collect(),
        ),
    }
}
