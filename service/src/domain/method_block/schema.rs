//! Schema errors in words an admin can act on: messages from the schemas' own
//! `x-hint` / `x-refused` annotations, and a "did you mean" for near misses.

use method_schemas::{ErrorKind, Schema};
use serde_json::Value;

use super::FieldError;

pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn escape_pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Walk from the node at `schema_path` towards the root and return the first
/// annotation found: `x-refused[key]` (for `key`) or else `x-hint`.
pub(super) fn annotation(schema: &Value, schema_path: &str, key: Option<&str>, want_refused: bool) -> Option<String> {
    let mut path = schema_path;
    loop {
        if let Some(node) = schema.pointer(path).and_then(Value::as_object) {
            let found = if want_refused {
                key.and_then(|k| node.get("x-refused")?.get(k)?.as_str())
            } else {
                node.get("x-hint").and_then(Value::as_str)
            };
            if let Some(text) = found {
                return Some(text.to_string());
            }
        }
        if path.is_empty() {
            return None;
        }
        path = path.rsplit_once('/').map_or("", |(parent, _)| parent);
    }
}

pub(super) fn property_names(schema: &Value, object_schema_path: &str) -> Vec<String> {
    schema
        .pointer(&format!("{object_schema_path}/properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The closest known key to an unknown one, if it is a plausible typo.
pub fn did_you_mean(unknown: &str, known: &[String]) -> Option<String> {
    let normalized = normalize_key(unknown);
    if let Some(k) = known.iter().find(|k| normalize_key(k) == normalized) {
        return Some(k.clone());
    }
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&normalized, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// `mountPath` / `Mount-Path` / `mount path` all become `mount_path`.
pub(super) fn normalize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.trim().chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        match c {
            '-' | ' ' | '.' => out.push('_'),
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

pub(super) fn schema_errors(schema: &Schema, value: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    for err in schema.errors(value) {
        let instance = err.instance_path;
        // The schema node holding the failing keyword.
        let node = err.schema_path.rsplit_once('/').map_or("", |(n, _)| n).to_string();
        match err.kind {
            ErrorKind::AdditionalProperties { unexpected } => {
                let known = property_names(schema.json(), &node);
                for key in unexpected {
                    let pointer = format!("{instance}/{}", escape_pointer_token(&key));
                    let message = match annotation(schema.json(), &node, Some(&key), true) {
                        Some(m) => format!("{key:?} is not accepted: {m}"),
                        None => match did_you_mean(&key, &known) {
                            Some(s) => format!(
                                "unknown key {key:?}; did you mean {s:?}? (the agent silently ignores unknown keys, so a typo would be lost)"
                            ),
                            None => format!("unknown key {key:?}; accepted keys here: {}", known.join(", ")),
                        },
                    };
                    out.push(FieldError::new(pointer, message));
                }
            }
            ErrorKind::FalseSchema => {
                let key = instance.rsplit('/').next().unwrap_or_default().to_string();
                let message = annotation(schema.json(), &node, Some(&key), true)
                    .map(|m| format!("{key:?} is not accepted here: {m}"))
                    .unwrap_or_else(|| format!("{key:?} is not accepted here; remove it"));
                out.push(FieldError::new(instance, message));
            }
            ErrorKind::Required { property: key } => {
                let prop_path = format!("{node}/properties/{key}");
                let hint = annotation(schema.json(), &prop_path, None, false).unwrap_or_default();
                out.push(FieldError::new(
                    format!("{instance}/{}", escape_pointer_token(&key)),
                    format!("required: {hint}"),
                ));
            }
            kind => {
                let hint = annotation(schema.json(), &node, None, false);
                let what = match kind {
                    ErrorKind::Type { instance } => format!("wrong type ({})", json_kind(&instance)),
                    ErrorKind::Pattern => "not an accepted value".to_string(),
                    ErrorKind::MaxLength { limit } => format!("too long (at most {limit} characters)"),
                    ErrorKind::MinLength => "must not be empty".to_string(),
                    ErrorKind::Minimum { limit } => format!("too small (at least {limit})"),
                    ErrorKind::Maximum { limit } => format!("too large (at most {limit})"),
                    ErrorKind::Enum { options } => format!("must be one of {options}"),
                    ErrorKind::Constant { expected } => format!("must be {expected}"),
                    _ => "not accepted".to_string(),
                };
                let message = match hint {
                    Some(h) => format!("{what}: expected {h}"),
                    None => what,
                };
                out.push(FieldError::new(instance, message));
            }
        }
    }
    out
}
