//! A positioned YAML tree: every node remembers where it was written.
//!
//! Built from `yaml-rust2`'s event parser (a maintained, pure-Rust, non-recursive
//! YAML parser that reports a line and column for every event). Plain scalars are
//! resolved the way PyYAML (YAML 1.1, what SkyPilot uses) resolves them: `yes`/`on`
//! are booleans, a float needs a dot, quoted scalars are always strings.
//!
//! Guards against hostile input: nesting deeper than [`MAX_DEPTH`] and alias
//! expansion beyond [`MAX_NODES`] are errors, never a stack overflow or a memory blow-up.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes one document may expand to (aliases included).
pub const MAX_NODES: usize = 200_000;

/// A 1-based line and column in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl From<Marker> for Mark {
    fn from(m: Marker) -> Self {
        // yaml-rust2 reports 1-based lines and 0-based columns.
        Mark {
            line: m.line().max(1),
            col: m.col() + 1,
        }
    }
}

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value starts.
    pub mark: Mark,
}

/// A resolved YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error (or a guard tripping).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where.
    pub mark: Mark,
    /// What.
    pub message: String,
}

impl Value {
    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

enum Open {
    Seq {
        mark: Mark,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        mark: Mark,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Parses every document in `src`.
pub fn load_documents(src: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(src);
    let mut docs = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut nodes = 0usize;
    loop {
        let (event, marker) = parser.next_token().map_err(|e| SyntaxError {
            mark: Mark::from(*e.marker()),
            message: e.info().to_string(),
        })?;
        let mark = Mark::from(marker);
        // An omitted value (`key:` then a newline) is reported at the next token;
        // it reads better at its key.
        let omitted =
            matches!(&event, Event::Scalar(t, TScalarStyle::Plain, _, None) if t.is_empty());
        let finished: Option<(Node, usize)> = match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart => None,
            Event::DocumentEnd => {
                anchors.clear();
                nodes = 0;
                None
            }
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or_else(|| SyntaxError {
                    mark,
                    message: "unknown alias".to_string(),
                })?;
                let (count, depth) = measure(&node);
                // An alias re-uses a subtree; it must not deepen the document
                // beyond what nesting alone may reach.
                if stack.len() + depth > MAX_DEPTH {
                    return Err(SyntaxError {
                        mark,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                }
                nodes += count;
                Some((node, 0))
            }
            Event::Scalar(text, style, anchor, tag) => Some((
                Node {
                    value: resolve_scalar(text, style, tag.as_ref()),
                    mark,
                },
                anchor,
            )),
            Event::SequenceStart(anchor, _) => {
                push(&mut stack, mark)?;
                stack.push(Open::Seq {
                    mark,
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                push(&mut stack, mark)?;
                stack.push(Open::Map {
                    mark,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq {
                    mark,
                    anchor,
                    items,
                }) => Some((
                    Node {
                        value: Value::Seq(items),
                        mark,
                    },
                    anchor,
                )),
                Some(Open::Map {
                    mark,
                    anchor,
                    entries,
                    ..
                }) => {
                    // A block mapping's start event is reported just after its
                    // first key; a flow mapping's at its `{`. The earlier of the two
                    // is where a reader sees the mapping start.
                    let mark = match entries.first() {
                        Some((k, _)) if (k.mark.line, k.mark.col) < (mark.line, mark.col) => k.mark,
                        _ => mark,
                    };
                    Some((
                        Node {
                            value: Value::Map(entries),
                            mark,
                        },
                        anchor,
                    ))
                }
                None => {
                    return Err(SyntaxError {
                        mark,
                        message: "unbalanced collection end".to_string(),
                    });
                }
            },
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(SyntaxError {
                mark,
                message: format!("document expands to more than {MAX_NODES} nodes"),
            });
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => docs.push(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let mut node = node;
                    if omitted {
                        node.mark = k.mark;
                    }
                    entries.push((k, node));
                }
            },
        }
    }
    Ok(docs)
}

fn push(stack: &mut [Open], mark: Mark) -> Result<(), SyntaxError> {
    if stack.len() >= MAX_DEPTH {
        return Err(SyntaxError {
            mark,
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    Ok(())
}

/// Node count and collection depth of a subtree, without recursion.
fn measure(node: &Node) -> (usize, usize) {
    let mut count = 0;
    let mut depth = 0;
    let mut todo = vec![(node, 0usize)];
    while let Some((n, d)) = todo.pop() {
        count += 1;
        match &n.value {
            Value::Seq(items) => {
                depth = depth.max(d + 1);
                todo.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Map(entries) => {
                depth = depth.max(d + 1);
                for (k, v) in entries {
                    todo.push((k, d + 1));
                    todo.push((v, d + 1));
                }
            }
            _ => {}
        }
    }
    (count, depth)
}

fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag
        && tag.handle == "!!"
        && tag.suffix == "str"
    {
        return Value::Str(text);
    }
    if style != TScalarStyle::Plain {
        return Value::Str(text);
    }
    resolve_plain(text)
}

/// Resolves a plain scalar with PyYAML's (YAML 1.1) implicit types.
pub fn resolve_plain(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(&text) {
        return Value::Int(i);
    }
    if let Some(f) = parse_float(&text) {
        return Value::Float(f);
    }
    Value::Str(text)
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let digits: String = body.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || body.starts_with('_') {
        return None;
    }
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -value } else { value })
}

fn parse_float(text: &str) -> Option<f64> {
    // PyYAML: `[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?`; a dot is required.
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.')?;
    let int_ok = int_part.is_empty()
        || (int_part.as_bytes()[0].is_ascii_digit()
            && int_part.bytes().all(|b| b.is_ascii_digit() || b == b'_'));
    let frac_ok = frac_part.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !int_ok || !frac_ok || (int_part.is_empty() && frac_part.is_empty()) {
        return None;
    }
    if let Some(exp) = exponent {
        let digits = exp.strip_prefix(['-', '+'])?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    text.replace('_', "").parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Node {
        let mut docs = load_documents(src).expect("valid yaml");
        docs.remove(0)
    }

    #[test]
    fn resolves_scalars_like_pyyaml() {
        assert_eq!(resolve_plain("yes".into()), Value::Bool(true));
        assert_eq!(resolve_plain("Off".into()), Value::Bool(false));
        assert_eq!(resolve_plain("~".into()), Value::Null);
        assert_eq!(resolve_plain("8".into()), Value::Int(8));
        assert_eq!(resolve_plain("-1_000".into()), Value::Int(-1000));
        assert_eq!(resolve_plain("0x1f".into()), Value::Int(31));
        assert_eq!(resolve_plain("0.5".into()), Value::Float(0.5));
        assert_eq!(resolve_plain("1.5e+3".into()), Value::Float(1500.0));
        assert_eq!(resolve_plain("1e3".into()), Value::Str("1e3".into()));
        assert_eq!(resolve_plain("8+".into()), Value::Str("8+".into()));
        assert_eq!(resolve_plain("A100:8".into()), Value::Str("A100:8".into()));
        assert_eq!(resolve_plain(".".into()), Value::Str(".".into()));
    }

    #[test]
    fn quoted_scalars_stay_strings_and_positions_are_one_based() {
        let n = one("a: '8'\nbb:\n  - x\n");
        let Value::Map(entries) = &n.value else {
            panic!("map expected")
        };
        assert_eq!(entries[0].1.value, Value::Str("8".into()));
        assert_eq!(entries[0].1.mark, Mark { line: 1, col: 4 });
        assert_eq!(entries[1].0.mark, Mark { line: 2, col: 1 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("seq expected")
        };
        assert_eq!(items[0].mark, Mark { line: 3, col: 5 });
    }

    #[test]
    fn flow_keys_without_space_are_null_valued_keys() {
        let n = one("{A100:1, V100:1}");
        let Value::Map(entries) = &n.value else {
            panic!("map expected")
        };
        assert_eq!(entries[0].0.value, Value::Str("A100:1".into()));
        assert_eq!(entries[0].1.value, Value::Null);
    }

    #[test]
    fn aliases_expand_and_bombs_are_stopped() {
        let n = one("a: &x [1, 2]\nb: *x\n");
        let Value::Map(entries) = &n.value else {
            panic!("map expected")
        };
        assert_eq!(entries[0].1.value, entries[1].1.value);
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            bomb.push_str(&format!(
                "b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let err = load_documents(&bomb).expect_err("bomb must be refused");
        assert!(err.message.contains("nodes"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let src = "[".repeat(10_000);
        assert!(load_documents(&src).is_err());
        let src = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let err = load_documents(&src).expect_err("too deep");
        assert!(err.message.contains("nesting") || err.message.contains("recursion"));
    }

    #[test]
    fn aliases_cannot_build_deep_trees() {
        let mut src = format!("a0: &a0 {}x{}\n", "[".repeat(60), "]".repeat(60));
        for i in 1..100 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} {}*a{p}{}\n",
                "[".repeat(30),
                "]".repeat(30)
            ));
        }
        let err = load_documents(&src).expect_err("too deep through aliases");
        assert!(err.message.contains("nesting"), "{}", err.message);
    }

    #[test]
    fn multiple_documents() {
        let docs = load_documents("name: a\n---\nname: b\n").expect("valid");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].mark.line, 3);
    }
}
