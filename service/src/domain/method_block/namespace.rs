//! A Vault namespace given outside a method block, checked with the grammar
//! the method-block schema applies inside one.

use super::{hcl_safety_net, schema_errors};

/// Check a namespace given outside a method block (a profile's, or `render --namespace`)
/// with the same grammar the schema applies inside one.
pub(crate) fn namespace_problem(ns: &str) -> Option<String> {
    let probe = serde_json::json!({ "type": "aws", "namespace": ns, "config": { "type": "iam", "role": "r" } });
    let errors = schema_errors(method_schemas::aws(), &probe);
    let mut safety = Vec::new();
    hcl_safety_net(&probe, "", &mut safety);
    errors.into_iter().chain(safety).next().map(|e| e.message)
}

/// A Vault namespace given outside a method block (a profile's, or
/// `render --namespace`), checked with the grammar the schema applies inside one;
/// kept without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

/// Why a namespace is refused (the same words the method-block checks use).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NamespaceError(String);

impl Namespace {
    /// Parse; the error says what is wrong.
    pub fn parse(ns: &str) -> Result<Self, NamespaceError> {
        match namespace_problem(ns) {
            Some(problem) => Err(NamespaceError(problem)),
            None => Ok(Self(ns.trim_end_matches('/').to_string())),
        }
    }

    /// The namespace.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
