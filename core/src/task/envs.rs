//! `envs`, `secrets`, `managed_secrets`, and `${VAR}` substitution.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use super::error::TaskError;
use super::walk::At;
use super::yaml::{Node, Value};

/// A secret value. Its `Debug` and `Serialize` forms are `<redacted>`; read it with
/// [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The actual value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// One entry of `secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SecretValue {
    /// A value given inline or with `--secret KEY=VALUE`.
    Inline(Secret),
    /// A reference to a managed secret of the same name (`KEY: null`,
    /// `secrets:KEY`), resolved by the server.
    Managed,
}

/// One entry of `managed_secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagedSecret {
    /// Secret name.
    pub name: String,
    /// Where to mount it as a file, instead of an environment variable.
    pub mount_path: Option<String>,
}

/// Whether `key` is a valid environment variable name (`^[a-zA-Z_][a-zA-Z0-9_]*$`).
pub fn valid_env_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `envs`: values stringified as SkyPilot does; `None` for `null`.
pub(crate) fn parse_envs<'a>(
    at: &At<'a>,
) -> Result<Vec<(String, Option<String>, At<'a>)>, TaskError> {
    if at.is_null() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for f in at.fields()? {
        if !valid_env_name(&f.key) {
            return Err(f.value.error_at(
                f.key_node.mark,
                "invalid variable name; expected letters, digits and `_`, not starting with a digit",
            ));
        }
        let value = f.value.python_str()?;
        out.push((f.key, value, f.value));
    }
    Ok(out)
}

/// Parses `secrets`: a mapping (null = managed reference) or a list of `secrets:NAME`.
pub(crate) fn parse_secrets(at: &At<'_>) -> Result<BTreeMap<String, SecretValue>, TaskError> {
    let mut out = BTreeMap::new();
    match &at.node.value {
        Value::Null => {}
        Value::Seq(_) => {
            for item in at.seq()? {
                let s = item.str()?;
                let name = managed_ref(s)
                    .ok_or_else(|| item.err("expected a reference like `secrets:NAME`"))?;
                out.insert(name.to_string(), SecretValue::Managed);
            }
        }
        _ => {
            for f in at.fields()? {
                let (name, is_ref) = match managed_ref(&f.key) {
                    Some(n) => (n.to_string(), true),
                    None => (f.key.clone(), false),
                };
                if !valid_env_name(&name) {
                    return Err(f.value.error_at(
                        f.key_node.mark,
                        "invalid secret name; expected letters, digits and `_`, not starting with a digit",
                    ));
                }
                let value = match f.value.python_str()? {
                    Some(_) if is_ref => {
                        return Err(f.value.err("a `secrets:NAME` reference takes no value"));
                    }
                    Some(v) => SecretValue::Inline(Secret(v)),
                    None => SecretValue::Managed,
                };
                out.insert(name, value);
            }
        }
    }
    Ok(out)
}

fn managed_ref(s: &str) -> Option<&str> {
    s.strip_prefix("secrets:").filter(|n| valid_env_name(n))
}

/// Parses `managed_secrets`: `NAME` or `{NAME: {mount_path: ...}}` items.
pub(crate) fn parse_managed_secrets(at: &At<'_>) -> Result<Vec<ManagedSecret>, TaskError> {
    let mut out = Vec::new();
    if at.is_null() {
        return Ok(out);
    }
    for item in at.seq()? {
        match &item.node.value {
            Value::Str(s) => out.push(ManagedSecret {
                name: s.clone(),
                mount_path: None,
            }),
            _ => {
                for f in item.fields()? {
                    let mut mount_path = None;
                    if !f.value.is_null() {
                        let opts = f.value.fields()?;
                        super::walk::check_known(&opts, &["mount_path"])?;
                        mount_path = super::walk::get_some(&opts, "mount_path")
                            .map(At::string)
                            .transpose()?;
                    }
                    out.push(ManagedSecret {
                        name: f.key,
                        mount_path,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Replaces `${NAME}` and `$NAME` with known variables in every string (keys too)
/// of a subtree. Unknown variables are left as written.
pub(crate) fn substitute(node: &Node, vars: &BTreeMap<String, String>) -> Node {
    let value = match &node.value {
        Value::Str(s) => Value::Str(substitute_str(s, vars)),
        Value::Seq(items) => Value::Seq(items.iter().map(|n| substitute(n, vars)).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (substitute(k, vars), substitute(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    };
    Node {
        value,
        mark: node.mark,
    }
}

/// Substitutes variables in one string.
pub fn substitute_str(s: &str, vars: &BTreeMap<String, String>) -> String {
    if vars.is_empty() || !s.contains('$') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (braced, body) = match after.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, after),
        };
        let name_len = body
            .char_indices()
            .find(|(j, c)| {
                !(c.is_ascii_alphanumeric() || *c == '_') || (*j == 0 && c.is_ascii_digit())
            })
            .map(|(j, _)| j)
            .unwrap_or(body.len());
        let name = &body[..name_len];
        let closed = !braced || body[name_len..].starts_with('}');
        match vars.get(name) {
            Some(v) if !name.is_empty() && closed => {
                out.push_str(v);
                let consumed = 1 + usize::from(braced) * 2 + name_len;
                rest = &rest[i + consumed..];
            }
            _ => {
                out.push('$');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(valid_env_name("A_1"));
        assert!(valid_env_name("_x"));
        assert!(!valid_env_name("1A"));
        assert!(!valid_env_name("A-B"));
        assert!(!valid_env_name(""));
    }

    #[test]
    fn substitution() {
        let vars: BTreeMap<String, String> = [
            ("A".to_string(), "x".to_string()),
            ("AB".to_string(), "y".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(substitute_str("$A/${AB}/$AB/$C/${A", &vars), "x/y/y/$C/${A");
        assert_eq!(substitute_str("${A}b $$ $", &vars), "xb $$ $");
        assert_eq!(substitute_str("é$A€", &vars), "éx€");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = SecretValue::Inline(Secret::new("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(
            !serde_json::to_string(&s)
                .unwrap_or_default()
                .contains("hunter2")
        );
    }
}
