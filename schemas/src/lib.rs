//! The method-block JSON Schemas in this folder, compiled once, and their
//! validation as plain [`SchemaError`] values.
//!
//! Why a crate of its own: `jsonschema`'s validator is generic over the JSON
//! type, so its code is compiled in whichever crate calls it. Called from here,
//! it is compiled once, beside the other dependencies, at the low release
//! `opt-level` the workspace gives this crate (validation runs on profile writes
//! and logins, never on a warm read), instead of at `opt-level` 3 inside the
//! service crate, the last and longest step of a release build. What the errors
//! mean to an admin is the service's business (`domain::method_block`).

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

/// The AWS method block schema (`method-block.schema.json`), embedded at build time.
pub const AWS_SCHEMA: &str = include_str!("../method-block.schema.json");
/// The JWT method block schema (`method-block-jwt.schema.json`), embedded at build time.
pub const JWT_SCHEMA: &str = include_str!("../method-block-jwt.schema.json");

/// A compiled schema plus its JSON (for the annotations).
pub struct Schema {
    json: Value,
    validator: jsonschema::Validator,
}

static AWS: LazyLock<Schema> = LazyLock::new(|| Schema::compile(AWS_SCHEMA));
static JWT: LazyLock<Schema> = LazyLock::new(|| Schema::compile(JWT_SCHEMA));

/// The compiled AWS schema.
pub fn aws() -> &'static Schema {
    &AWS
}

/// The compiled JWT schema.
pub fn jwt() -> &'static Schema {
    &JWT
}

impl Schema {
    /// Compile an embedded schema (format assertions off: the schemas use patterns).
    ///
    /// # Panics
    /// When `text` is not JSON or not a valid draft 2020-12 schema: the embedded
    /// schemas are checked by this crate's tests.
    fn compile(text: &str) -> Schema {
        let json: Value = serde_json::from_str(text).expect("embedded schema is valid JSON");
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(false)
            .build(&json)
            .expect("embedded schema compiles");
        Schema { json, validator }
    }

    /// The schema document.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// Every error of `value` against this schema, in the validator's order.
    pub fn errors(&self, value: &Value) -> Vec<SchemaError> {
        self.validator
            .iter_errors(value)
            .map(|err| SchemaError {
                instance_path: err.instance_path().as_str().to_string(),
                schema_path: err.schema_path().as_str().to_string(),
                kind: match err.kind() {
                    ValidationErrorKind::AdditionalProperties { unexpected } => {
                        ErrorKind::AdditionalProperties { unexpected: unexpected.clone() }
                    }
                    ValidationErrorKind::FalseSchema => ErrorKind::FalseSchema,
                    ValidationErrorKind::Required { property } => {
                        ErrorKind::Required { property: property.as_str().unwrap_or_default().to_string() }
                    }
                    ValidationErrorKind::Type { .. } => {
                        ErrorKind::Type { instance: err.instance().clone().into_owned() }
                    }
                    ValidationErrorKind::Pattern { .. } => ErrorKind::Pattern,
                    ValidationErrorKind::MaxLength { limit } => ErrorKind::MaxLength { limit: *limit },
                    ValidationErrorKind::MinLength { .. } => ErrorKind::MinLength,
                    ValidationErrorKind::Minimum { limit } => ErrorKind::Minimum { limit: limit.to_string() },
                    ValidationErrorKind::Maximum { limit } => ErrorKind::Maximum { limit: limit.to_string() },
                    ValidationErrorKind::Enum { options } => ErrorKind::Enum { options: options.to_string() },
                    ValidationErrorKind::Constant { expected_value } => {
                        ErrorKind::Constant { expected: expected_value.to_string() }
                    }
                    _ => ErrorKind::Other,
                },
            })
            .collect()
    }
}

/// One schema error, with nothing of the validator's types.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    /// JSON pointer to the failing value in the instance.
    pub instance_path: String,
    /// JSON pointer to the failing keyword in the schema.
    pub schema_path: String,
    /// What failed.
    pub kind: ErrorKind,
}

/// The keywords the service words for admins; every other one is [`ErrorKind::Other`].
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// Keys that `additionalProperties: false` refuses.
    AdditionalProperties {
        /// The refused keys.
        unexpected: Vec<String>,
    },
    /// A `false` schema (a key refused outright).
    FalseSchema,
    /// A missing required key.
    Required {
        /// The key.
        property: String,
    },
    /// A value of the wrong JSON type.
    Type {
        /// The value found.
        instance: Value,
    },
    /// A string that does not match the `pattern`.
    Pattern,
    /// A string longer than `maxLength`.
    MaxLength {
        /// The limit in characters.
        limit: u64,
    },
    /// A string shorter than `minLength`.
    MinLength,
    /// A number under `minimum`.
    Minimum {
        /// The limit, as JSON text.
        limit: String,
    },
    /// A number over `maximum`.
    Maximum {
        /// The limit, as JSON text.
        limit: String,
    },
    /// A value outside the `enum`.
    Enum {
        /// The options, as JSON text.
        options: String,
    },
    /// A value other than the `const`.
    Constant {
        /// The expected value, as JSON text.
        expected: String,
    },
    /// Any other keyword.
    Other,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn embedded_schemas_compile_and_accept_a_minimal_block() {
        assert!(aws().errors(&json!({"type": "aws", "config": {"type": "iam", "role": "r"}})).is_empty());
        assert!(jwt().json().is_object());
    }

    #[test]
    fn errors_carry_paths_and_the_keyword() {
        let errors = aws().errors(&json!({"type": "aws", "config": {"type": "iam", "role": "r", "rol": "x"}}));
        let unexpected = errors.iter().find_map(|e| match &e.kind {
            ErrorKind::AdditionalProperties { unexpected } => Some((e.instance_path.as_str(), unexpected.clone())),
            _ => None,
        });
        assert_eq!(unexpected, Some(("/config", vec!["rol".to_string()])));
    }
}
