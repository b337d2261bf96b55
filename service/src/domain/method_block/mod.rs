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
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

mod checks;
mod schema;
mod typed;

use checks::{dedupe, hcl_safety_net, semantic_checks};
pub use checks::{hcl_unsafe, parse_go_duration};
pub use schema::did_you_mean;
use schema::{json_kind, schema_errors};
use typed::build;

use method_schemas::Schema;
pub use method_schemas::{AWS_SCHEMA, JWT_SCHEMA};

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
            MethodType::Aws => method_schemas::aws(),
            MethodType::Jwt => method_schemas::jwt(),
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

/// Why a list of allowed method types is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowedMethodsError {
    /// A type the service does not know.
    #[error("unknown method type {0:?}; known types: {known}", known = known_types())]
    Unknown(String),
    /// Nothing in the list.
    #[error("the list of allowed method types is empty; use at least \"aws\"")]
    Empty,
}

impl ValidationPolicy {
    /// Parse the comma list of `AUTH_SERVICE_ALLOWED_METHODS` (`aws` means iam and ec2).
    pub fn parse_allowed_methods(list: &str) -> Result<BTreeSet<MethodType>, AllowedMethodsError> {
        let mut set = BTreeSet::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let t = MethodType::parse(&item.to_ascii_lowercase())
                .ok_or_else(|| AllowedMethodsError::Unknown(item.to_string()))?;
            set.insert(t);
        }
        if set.is_empty() {
            return Err(AllowedMethodsError::Empty);
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

    /// The same block with a `jwt` token file's path replaced (by its resolved
    /// real path, checked just before a login); other methods are unchanged.
    pub fn with_jwt_path(&self, real: &std::path::Path) -> MethodBlock {
        let mut block = self.clone();
        if let Method::Jwt { path, .. } = &mut block.method {
            *path = real.display().to_string();
        }
        block
    }

    /// The Vault role the login uses.
    pub fn role(&self) -> &str {
        match &self.method {
            Method::AwsIam { role, .. } | Method::AwsEc2 { role } | Method::Jwt { role, .. } => role,
        }
    }
}

/// The JSON Schema of the method block the service enforces, for the types
/// `policy` allows: one document that picks the per-type schema by `type`.
pub fn combined_schema(policy: &ValidationPolicy) -> Value {
    let types: Vec<MethodType> = MethodType::ALL.into_iter().filter(|t| policy.allowed_methods.contains(t)).collect();
    let branches: Vec<Value> = types
        .iter()
        .map(|t| {
            // The schema's text, not the compiled validator: describing it (the served
            // OpenAPI document, GET /v1/schemas/method-block) compiles nothing.
            let text = match t {
                MethodType::Aws => method_schemas::AWS_SCHEMA,
                MethodType::Jwt => method_schemas::JWT_SCHEMA,
            };
            let mut schema: Value =
                serde_json::from_str(text).expect("the embedded schemas are JSON (method-schemas tests them)");
            if let Some(o) = schema.as_object_mut() {
                o.remove("$schema");
                o.remove("$id");
            }
            serde_json::json!({
                "if": { "properties": { "type": { "const": t.as_str() } }, "required": ["type"] },
                "then": schema
            })
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Vault Agent auto_auth method block",
        "description": "What this service accepts as a profile's method block; the per-type rules follow the type.",
        "type": "object",
        "required": ["type"],
        "properties": { "type": { "enum": types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                                  "x-hint": format!("the method type; this service accepts {}", types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) } },
        "allOf": branches
    })
}

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
    build(method_type, value).map_err(|e| vec![FieldError::new("", e.to_string())])
}

/// A stored block loaded back as its typed value, without the JSON Schema: it
/// was validated in full when it was written. Only what a change of the
/// service's settings since then can refuse is checked again: the method type
/// is still enabled, and a `jwt` file still lies in an allowed folder.
pub fn from_stored(value: &Value, policy: &ValidationPolicy) -> Result<MethodBlock, Vec<FieldError>> {
    let method_type = value.get("type").and_then(Value::as_str).and_then(MethodType::parse).ok_or_else(|| {
        vec![FieldError::new("/type", format!("names no method type this service knows ({})", known_types()))]
    })?;
    if !policy.allowed_methods.contains(&method_type) {
        return Err(vec![FieldError::new(
            "/type",
            format!(
                "method type {:?} is not enabled on this service (enabled: {}); ask the operator to add it to AUTH_SERVICE_ALLOWED_METHODS",
                method_type.as_str(),
                enabled_list(policy)
            ),
        )]);
    }
    let block = build(method_type, value).map_err(|e| vec![FieldError::new("", e.to_string())])?;
    if let Method::Jwt { path, .. } = &block.method {
        let mut errors = Vec::new();
        checks::check_jwt_path(path, policy, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok(block)
}

fn enabled_list(policy: &ValidationPolicy) -> String {
    policy.allowed_methods.iter().map(|t| format!("\"{}\"", t.as_str())).collect::<Vec<_>>().join(", ")
}

mod namespace;
#[cfg(test)]
use namespace::namespace_problem;
pub use namespace::{Namespace, NamespaceError};

#[cfg(test)]
mod tests;
