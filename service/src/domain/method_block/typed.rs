//! The one typed extraction of a schema-valid block into a [`MethodBlock`].

use serde::Deserialize;
use serde_json::Value;

use super::{Method, MethodBlock, MethodType};

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

/// A schema-valid block that still does not fit its typed form (the schema and the types disagree).
#[derive(Debug, thiserror::Error)]
#[error("the method block does not fit its schema's shape: {0}")]
pub(super) struct ShapeError(serde_json::Error);

/// Parse a schema-valid block into its typed form, once.
pub(super) fn build(method_type: MethodType, v: &Value) -> Result<MethodBlock, ShapeError> {
    let fail = ShapeError;
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
