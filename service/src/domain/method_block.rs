//! The `auto_auth` method block an admin pastes, parsed into a [`MethodBlock`].
//!
//! How it works: the JSON schemas in `schemas/` are the single source of truth for
//! what is accepted. [`validate_value`] picks the schema for the block's `type`,
//! runs it, and turns every schema error into a [`FieldError`] whose message comes
//! from the schema's own `x-hint` / `x-refused` annotations (plus a "did you mean"
//! for near misses among the schema's property names). The few rules a schema
//! cannot express (backoff order, allowed JWT folders, the HCL v1 safety net over
//! every string) are checked here, after the schema. Only a block that passes
//! everything becomes a [`MethodBlock`], which is what the renderer takes.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use jsonschema::error::ValidationErrorKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The AWS method block schema, embedded at build time.
pub const AWS_SCHEMA: &str = include_str!("../../../schemas/method-block.schema.json");
/// The JWT method block schema, embedded at build time.
pub const JWT_SCHEMA: &str = include_str!("../../../schemas/method-block-jwt.schema.json");

/// Largest method block accepted, in bytes of JSON.
pub const MAX_BLOCK_BYTES: usize = 64 * 1024;

/// One refusal: where (a JSON pointer into the submitted block) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer (RFC 6901) to the offending value or key, `""` for the whole document.
    pub pointer: String,
    /// What is wrong and what to do instead.
    pub message: String,
}

impl FieldError {
    /// Build an error for `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), message: message.into() }
    }
}

/// The agent method types this service knows how to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MethodType {
    /// AWS auth (`iam` or `ec2`).
    Aws,
    /// JWT auth from a token file on the host (workload identity).
    Jwt,
}

impl MethodType {
    /// The name used in JSON and HCL (`method "aws"`).
    pub fn as_str(self) -> &'static str {
        match self {
            MethodType::Aws => "aws",
            MethodType::Jwt => "jwt",
        }
    }

    /// Every type, for messages.
    pub const ALL: [MethodType; 2] = [MethodType::Aws, MethodType::Jwt];

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    fn validator(self) -> &'static Schema {
        match self {
            MethodType::Aws => &AWS,
            MethodType::Jwt => &JWT,
        }
    }
}

/// What the operator allows: the enabled method types and, for `jwt`, the folders
/// a JWT file may be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// Enabled method types (`aws` by default).
    pub allowed_methods: BTreeSet<MethodType>,
    /// Folders under which a jwt `config.path` must lie (none: jwt paths are refused).
    pub jwt_allowed_dirs: Vec<PathBuf>,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        Self { allowed_methods: BTreeSet::from([MethodType::Aws]), jwt_allowed_dirs: Vec::new() }
    }
}

impl ValidationPolicy {
    /// Parse the comma list of `AUTH_SERVICE_ALLOWED_METHODS` (`aws` means iam and ec2).
    pub fn parse_allowed_methods(list: &str) -> Result<BTreeSet<MethodType>, String> {
        let mut set = BTreeSet::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let t = MethodType::parse(&item.to_ascii_lowercase())
                .ok_or_else(|| format!("unknown method type {item:?}; known types: {}", known_types()))?;
            set.insert(t);
        }
        if set.is_empty() {
            return Err("the list of allowed method types is empty; use at least \"aws\"".into());
        }
        Ok(set)
    }
}

fn known_types() -> String {
    MethodType::ALL.map(MethodType::as_str).join(", ")
}

/// A validated method block, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodBlock {
    /// Mount path without a trailing `/`, like `auth/aws`.
    pub mount_path: String,
    /// Namespace given in the block itself, if any.
    pub namespace: Option<String>,
    /// Agent `min_backoff`, as given.
    pub min_backoff: Option<String>,
    /// Agent `max_backoff`, as given.
    pub max_backoff: Option<String>,
    /// The method and its config.
    pub method: Method,
}

/// The method-specific part of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// AWS IAM login (signed STS GetCallerIdentity).
    AwsIam {
        /// Vault role.
        role: String,
        /// STS signing region.
        region: Option<String>,
        /// `X-Vault-AWS-IAM-Server-ID` value.
        header_value: Option<String>,
        /// Seconds between credential refreshes.
        credential_poll_interval: Option<u64>,
    },
    /// AWS EC2 login (instance identity document + persisted nonce).
    AwsEc2 {
        /// Vault role.
        role: String,
    },
    /// JWT login from a token file.
    Jwt {
        /// Absolute path of the JWT file.
        path: String,
        /// Vault role.
        role: String,
        /// Whether the agent deletes the file after reading it (rendered `false` when unset).
        remove_jwt_after_reading: Option<bool>,
        /// Whether removal follows symlinks.
        remove_jwt_follows_symlinks: Option<bool>,
    },
}

impl MethodBlock {
    /// The method type (`aws` for iam and ec2).
    pub fn method_type(&self) -> MethodType {
        match self.method {
            Method::AwsIam { .. } | Method::AwsEc2 { .. } => MethodType::Aws,
            Method::Jwt { .. } => MethodType::Jwt,
        }
    }

    /// Whether this is an AWS ec2 login (which needs a persisted nonce).
    pub fn is_ec2(&self) -> bool {
        matches!(self.method, Method::AwsEc2 { .. })
    }

    /// The Vault role the login uses.
    pub fn role(&self) -> &str {
        match &self.method {
            Method::AwsIam { role, .. } | Method::AwsEc2 { role } | Method::Jwt { role, .. } => role,
        }
    }
}

/// A compiled schema plus its JSON (for the annotations).
pub struct Schema {
    json: Value,
    validator: jsonschema::Validator,
}

fn compile(text: &str) -> Schema {
    let json: Value = serde_json::from_str(text).expect("embedded schema is valid JSON");
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(false)
        .build(&json)
        .expect("embedded schema compiles");
    Schema { json, validator }
}

static AWS: LazyLock<Schema> = LazyLock::new(|| compile(AWS_SCHEMA));
static JWT: LazyLock<Schema> = LazyLock::new(|| compile(JWT_SCHEMA));

/// Validate raw bytes (a file or request body) as a method block.
pub fn validate_bytes(bytes: &[u8], policy: &ValidationPolicy) -> Result<MethodBlock, Vec<FieldError>> {
    if bytes.len() > MAX_BLOCK_BYTES {
        return Err(vec![FieldError::new(
            "",
            format!(
                "the method block is {} bytes; at most {MAX_BLOCK_BYTES} bytes are accepted (a method block is a few hundred bytes: paste only the method block)",
                bytes.len()
            ),
        )]);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        vec![FieldError::new(
            "",
            format!(
                "not valid JSON: {} at line {}, column {}; paste the method block as a JSON object",
                json_error_kind(&e),
                e.line(),
                e.column()
            ),
        )]
    })?;
    validate_value(&value, policy)
}

fn json_error_kind(e: &serde_json::Error) -> String {
    // serde_json's message ends with " at line X column Y"; keep only the cause.
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Validate an already parsed JSON value as a method block.
pub fn validate_value(value: &Value, policy: &ValidationPolicy) -> Result<MethodBlock, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::new(
            "",
            format!(
                "the method block must be a JSON object like {{\"type\": \"aws\", \"config\": {{\"type\": \"iam\", \"role\": \"my-role\"}}}}, not {}",
                json_kind(value)
            ),
        )]);
    };
    let method_type = match obj.get("type") {
        None => {
            return Err(vec![FieldError::new(
                "/type",
                format!("required: the method type, one of: {}", enabled_list(policy)),
            )]);
        }
        Some(Value::String(s)) => match MethodType::parse(s) {
            Some(t) if policy.allowed_methods.contains(&t) => t,
            Some(t) => {
                return Err(vec![FieldError::new(
                    "/type",
                    format!(
                        "method type {:?} is not enabled on this service (enabled: {}); ask the operator to add it to AUTH_SERVICE_ALLOWED_METHODS",
                        t.as_str(),
                        enabled_list(policy)
                    ),
                )]);
            }
            None => {
                return Err(vec![FieldError::new(
                    "/type",
                    format!(
                        "unsupported method type {s:?}; use one of: {} (the block label, method \"aws\" {{ ... }}, becomes \"type\")",
                        enabled_list(policy)
                    ),
                )]);
            }
        },
        Some(other) => {
            return Err(vec![FieldError::new(
                "/type",
                format!("must be a string naming the method type, like \"aws\", not {}", json_kind(other)),
            )]);
        }
    };

    let schema = method_type.validator();
    let mut errors = schema_errors(schema, value);
    hcl_safety_net(value, "", &mut errors);
    if errors.is_empty() {
        semantic_checks(value, policy, &mut errors);
    }
    if !errors.is_empty() {
        dedupe(&mut errors);
        return Err(errors);
    }
    build(method_type, value).map_err(|e| vec![FieldError::new("", e)])
}

fn enabled_list(policy: &ValidationPolicy) -> String {
    policy.allowed_methods.iter().map(|t| format!("\"{}\"", t.as_str())).collect::<Vec<_>>().join(", ")
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn escape_pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Walk from the node at `schema_path` towards the root and return the first
/// annotation found: `x-refused[key]` (for `key`) or else `x-hint`.
fn annotation(schema: &Value, schema_path: &str, key: Option<&str>, want_refused: bool) -> Option<String> {
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

fn property_names(schema: &Value, object_schema_path: &str) -> Vec<String> {
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
fn normalize_key(key: &str) -> String {
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

fn schema_errors(schema: &Schema, value: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    for err in schema.validator.iter_errors(value) {
        let instance = err.instance_path().as_str().to_string();
        let spath = err.schema_path().as_str();
        // The schema node holding the failing keyword.
        let node = spath.rsplit_once('/').map_or("", |(n, _)| n).to_string();
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = property_names(&schema.json, &node);
                for key in unexpected {
                    let pointer = format!("{instance}/{}", escape_pointer_token(key));
                    let message = match annotation(&schema.json, &node, Some(key), true) {
                        Some(m) => format!("{key:?} is not accepted: {m}"),
                        None => match did_you_mean(key, &known) {
                            Some(s) => format!(
                                "unknown key {key:?}; did you mean {s:?}? (the agent silently ignores unknown keys, so a typo would be lost)"
                            ),
                            None => format!("unknown key {key:?}; accepted keys here: {}", known.join(", ")),
                        },
                    };
                    out.push(FieldError::new(pointer, message));
                }
            }
            ValidationErrorKind::FalseSchema => {
                let key = instance.rsplit('/').next().unwrap_or_default().to_string();
                let message = annotation(&schema.json, &node, Some(&key), true)
                    .map(|m| format!("{key:?} is not accepted here: {m}"))
                    .unwrap_or_else(|| format!("{key:?} is not accepted here; remove it"));
                out.push(FieldError::new(instance, message));
            }
            ValidationErrorKind::Required { property } => {
                let key = property.as_str().unwrap_or_default();
                let prop_path = format!("{node}/properties/{key}");
                let hint = annotation(&schema.json, &prop_path, None, false).unwrap_or_default();
                out.push(FieldError::new(
                    format!("{instance}/{}", escape_pointer_token(key)),
                    format!("required: {hint}"),
                ));
            }
            kind => {
                let hint = annotation(&schema.json, &node, None, false);
                let what = match kind {
                    ValidationErrorKind::Type { .. } => format!("wrong type ({})", json_kind(err.instance())),
                    ValidationErrorKind::Pattern { .. } => "not an accepted value".to_string(),
                    ValidationErrorKind::MaxLength { limit } => format!("too long (at most {limit} characters)"),
                    ValidationErrorKind::MinLength { .. } => "must not be empty".to_string(),
                    ValidationErrorKind::Minimum { limit } => format!("too small (at least {limit})"),
                    ValidationErrorKind::Maximum { limit } => format!("too large (at most {limit})"),
                    ValidationErrorKind::Enum { options } => format!("must be one of {options}"),
                    ValidationErrorKind::Constant { expected_value } => format!("must be {expected_value}"),
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

/// The agent parses HCL v1, where `${` opens an uninterpreted region and escapes
/// do not round-trip. Whatever the schemas say, no string carrying such
/// characters may reach the renderer.
fn hcl_safety_net(value: &Value, pointer: &str, out: &mut Vec<FieldError>) {
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

fn semantic_checks(value: &Value, policy: &ValidationPolicy, out: &mut Vec<FieldError>) {
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

fn check_jwt_path(path: &str, policy: &ValidationPolicy, out: &mut Vec<FieldError>) {
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
fn dedupe(errors: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    errors.retain(|e| seen.insert(e.pointer.clone()));
    errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
}

/// The block's shape for the one typed extraction, after the schema passed
/// (unknown keys were refused by the schema already).
#[derive(Deserialize)]
struct Envelope<C> {
    mount_path: Option<String>,
    namespace: Option<String>,
    min_backoff: Option<String>,
    max_backoff: Option<String>,
    config: C,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum AwsKind {
    Iam,
    Ec2,
}

#[derive(Deserialize)]
struct AwsConfig {
    #[serde(rename = "type")]
    kind: AwsKind,
    #[serde(default)]
    role: String,
    region: Option<String>,
    header_value: Option<String>,
    credential_poll_interval: Option<u64>,
}

#[derive(Deserialize)]
struct JwtConfig {
    path: String,
    role: String,
    remove_jwt_after_reading: Option<bool>,
    remove_jwt_follows_symlinks: Option<bool>,
}

impl<C> Envelope<C> {
    fn into_block(self, method_type: MethodType, method: impl FnOnce(C) -> Method) -> MethodBlock {
        let mount = self.mount_path.unwrap_or_else(|| format!("auth/{}", method_type.as_str()));
        MethodBlock {
            mount_path: mount.trim_end_matches('/').to_string(),
            namespace: self.namespace.map(|n| n.trim_end_matches('/').to_string()),
            min_backoff: self.min_backoff,
            max_backoff: self.max_backoff,
            method: method(self.config),
        }
    }
}

/// Parse a schema-valid block into its typed form, once.
fn build(method_type: MethodType, v: &Value) -> Result<MethodBlock, String> {
    let fail = |e: serde_json::Error| format!("the method block does not fit its schema's shape: {e}");
    Ok(match method_type {
        MethodType::Aws => {
            let envelope: Envelope<AwsConfig> = serde_json::from_value(v.clone()).map_err(fail)?;
            envelope.into_block(method_type, |c| match c.kind {
                AwsKind::Ec2 => Method::AwsEc2 { role: c.role },
                AwsKind::Iam => Method::AwsIam {
                    role: c.role,
                    region: c.region,
                    header_value: c.header_value,
                    credential_poll_interval: c.credential_poll_interval,
                },
            })
        }
        MethodType::Jwt => {
            let envelope: Envelope<JwtConfig> = serde_json::from_value(v.clone()).map_err(fail)?;
            envelope.into_block(method_type, |c| Method::Jwt {
                path: c.path,
                role: c.role,
                remove_jwt_after_reading: c.remove_jwt_after_reading,
                remove_jwt_follows_symlinks: c.remove_jwt_follows_symlinks,
            })
        }
    })
}

/// Check a namespace given outside a method block (a profile's, or `render --namespace`)
/// with the same grammar the schema applies inside one.
pub fn validate_namespace(ns: &str) -> Result<(), String> {
    let probe = serde_json::json!({ "type": "aws", "namespace": ns, "config": { "type": "iam", "role": "r" } });
    let errors = schema_errors(&AWS, &probe);
    let mut safety = Vec::new();
    hcl_safety_net(&probe, "", &mut safety);
    match errors.into_iter().chain(safety).next() {
        None => Ok(()),
        Some(e) => Err(e.message),
    }
}
