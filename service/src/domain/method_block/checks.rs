//! The rules a schema cannot express: the HCL v1 safety net over every string,
//! backoff order and the allowed JWT folders.

use std::collections::BTreeSet;
use std::path::{Component, Path};
use std::time::Duration;

use serde_json::Value;

use super::schema::escape_pointer_token;
use super::{FieldError, ValidationPolicy};

/// The agent parses HCL v1, where `${` opens an uninterpreted region and escapes
/// do not round-trip. Whatever the schemas say, no string carrying such
/// characters may reach the renderer.
pub(super) fn hcl_safety_net(value: &Value, pointer: &str, out: &mut Vec<FieldError>) {
    match value {
        Value::String(s) => {
            if let Some(why) = hcl_unsafe(s) {
                out.push(FieldError::new(
                    pointer,
                    format!("contains {why}, which the agent's HCL v1 configuration cannot carry safely; remove it"),
                ));
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                hcl_safety_net(v, &format!("{pointer}/{}", escape_pointer_token(k)), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                hcl_safety_net(v, &format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Why a string cannot be written into the agent's HCL v1 config, if it cannot.
pub fn hcl_unsafe(s: &str) -> Option<&'static str> {
    if s.contains("${") {
        Some("\"${\"")
    } else if s.contains("%{") {
        Some("\"%{\"")
    } else if s.contains('"') {
        Some("a double quote")
    } else if s.contains('\\') {
        Some("a backslash")
    } else if s.chars().any(char::is_control) {
        Some("a control character")
    } else {
        None
    }
}

pub(super) fn semantic_checks(value: &Value, policy: &ValidationPolicy, out: &mut Vec<FieldError>) {
    let min = value.get("min_backoff").and_then(Value::as_str);
    let max = value.get("max_backoff").and_then(Value::as_str);
    if let (Some(min), Some(max)) = (min, max)
        && let (Some(a), Some(b)) = (parse_go_duration(min), parse_go_duration(max))
        && a > b
    {
        out.push(FieldError::new(
            "/min_backoff",
            format!("min_backoff ({min}) is longer than max_backoff ({max}); make it shorter or equal"),
        ));
    }
    if let Some(path) = value.pointer("/config/path").and_then(Value::as_str)
        && value.get("type").and_then(Value::as_str) == Some("jwt")
    {
        check_jwt_path(path, policy, out);
    }
}

pub(super) fn check_jwt_path(path: &str, policy: &ValidationPolicy, out: &mut Vec<FieldError>) {
    let p = Path::new(path);
    let clean = p.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !clean {
        out.push(FieldError::new("/config/path", "must be a plain absolute path without '.' or '..' segments"));
        return;
    }
    if policy.jwt_allowed_dirs.is_empty() {
        out.push(FieldError::new(
            "/config/path",
            "this service allows no folder for JWT files; the operator lists them in AUTH_SERVICE_JWT_ALLOWED_DIRS",
        ));
    } else if !policy.jwt_allowed_dirs.iter().any(|d| p.starts_with(d) && p != d) {
        let dirs: Vec<_> = policy.jwt_allowed_dirs.iter().map(|d| d.display().to_string()).collect();
        out.push(FieldError::new(
            "/config/path",
            format!("JWT files may only be read from {}; put the token file there", dirs.join(", ")),
        ));
    }
}

/// Parse a Go duration string (`1m30s`, `500ms`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// One error per pointer (the first, most specific one), ordered by pointer.
pub(super) fn dedupe(errors: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    errors.retain(|e| seen.insert(e.pointer.clone()));
    errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
}
