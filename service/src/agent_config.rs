//! Assembles the complete agent configuration (HCL) around a validated method block.
//!
//! The shape follows the agent contract: `vault { address, namespace? }`,
//! `exit_after_auth = true`, and `auto_auth { method "<type>" { mount_path,
//! namespace?, exit_on_err = true, backoffs?, config = { ... } } sink "file" {
//! config = { path, mode = 384 } } }` (plus `vault { ca_cert }` when the operator
//! names a CA bundle). `exit_on_err` sits inside the method
//! block (the only place the agent honours it), the namespace is on the method
//! block (OpenBao's agent ignores `vault { namespace }`), and the sink mode is an
//! integer (384 = 0600). Attribute order is fixed, so the output is
//! deterministic. Every string written here has passed [`hcl_unsafe`], because
//! the agent's HCL v1 parser does not undo HCL2 escapes like `$${`.

use std::path::Path;

use hcl::{Block, Body, Expression, Identifier, Object, ObjectKey};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::method_block::hcl_unsafe;
use crate::domain::{Method, MethodBlock, VaultAddress};

/// Sink file mode: 0600 as the decimal integer the agent expects.
pub const SINK_MODE: i64 = 0o600;

/// What the service adds around the admin's method block.
pub struct AgentConfigInput<'a> {
    /// The profile's Vault address.
    pub vault_address: &'a VaultAddress,
    /// The profile's namespace (must agree with the block's own, if both are set).
    pub namespace: Option<&'a str>,
    /// Where the file sink writes the token.
    pub sink_path: &'a Path,
    /// The persisted EC2 nonce (ec2 only).
    pub nonce: Option<&'a SecretString>,
    /// CA bundle for Vault's TLS certificate.
    pub ca_cert: Option<&'a Path>,
}

/// Why a config could not be assembled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// The profile namespace and the block's namespace differ.
    #[error(
        "the method block's namespace ({block:?}) differs from the profile's namespace ({profile:?}); set it in one place only"
    )]
    NamespaceConflict {
        /// The block's namespace.
        block: String,
        /// The profile's namespace.
        profile: String,
    },
    /// A value the service supplies cannot be written safely into HCL v1.
    #[error("{field} contains {why}, which the agent's HCL v1 configuration cannot carry safely")]
    Unsafe {
        /// Which input.
        field: &'static str,
        /// What it contains.
        why: &'static str,
    },
    /// A nonce was given for a method that does not use one.
    #[error("a nonce only applies to aws ec2 logins")]
    NonceNotApplicable,
}

/// The namespace the login (and every later read) uses: the profile's, else the block's.
pub fn effective_namespace<'a>(
    block: &'a MethodBlock,
    profile_namespace: Option<&'a str>,
) -> Result<Option<&'a str>, RenderError> {
    let trim = |s: &'a str| s.trim_end_matches('/');
    match (block.namespace.as_deref(), profile_namespace.map(trim).filter(|s| !s.is_empty())) {
        (Some(b), Some(p)) if b != p => {
            Err(RenderError::NamespaceConflict { block: b.to_string(), profile: p.to_string() })
        }
        (b, p) => Ok(p.or(b)),
    }
}

fn checked<'s>(field: &'static str, value: &'s str) -> Result<&'s str, RenderError> {
    match hcl_unsafe(value) {
        Some(why) => Err(RenderError::Unsafe { field, why }),
        None => Ok(value),
    }
}

fn ident(name: &str) -> ObjectKey {
    ObjectKey::Identifier(Identifier::unchecked(name))
}

/// Render the full agent configuration.
pub fn render(block: &MethodBlock, input: &AgentConfigInput<'_>) -> Result<String, RenderError> {
    let namespace = effective_namespace(block, input.namespace)?;
    if let Some(ns) = namespace {
        checked("namespace", ns)?;
    }
    let address = checked("vault address", input.vault_address.as_str())?;
    let sink_text = input.sink_path.to_string_lossy();
    let sink = checked("sink path", &sink_text)?;
    if input.nonce.is_some() && !block.is_ec2() {
        return Err(RenderError::NonceNotApplicable);
    }

    let config = method_config(block, input.nonce)?;
    let method = method_block(block, namespace, config);

    let mut sink_config: Object<ObjectKey, Expression> = Object::new();
    sink_config.insert(ident("path"), sink.into());
    sink_config.insert(ident("mode"), SINK_MODE.into());
    let sink_block =
        Block::builder("sink").add_label("file").add_attribute(("config", Expression::Object(sink_config))).build();

    let mut vault = Block::builder("vault").add_attribute(("address", address));
    if let Some(ca) = input.ca_cert {
        let ca_text = ca.to_string_lossy();
        vault = vault.add_attribute(("ca_cert", checked("ca cert path", &ca_text)?));
    }
    if let Some(ns) = namespace {
        vault = vault.add_attribute(("namespace", ns));
    }

    let body = Body::builder()
        .add_block(vault.build())
        .add_attribute(("exit_after_auth", true))
        .add_block(Block::builder("auto_auth").add_block(method).add_block(sink_block).build())
        .build();
    Ok(hcl::to_string(&body).expect("an HCL body built from plain strings, numbers and booleans always formats"))
}

/// The method's `config` object: the block's own settings for its login type
/// (and, for ec2, the host's nonce).
fn method_config(
    block: &MethodBlock,
    nonce: Option<&SecretString>,
) -> Result<Object<ObjectKey, Expression>, RenderError> {
    let mut config: Object<ObjectKey, Expression> = Object::new();
    let mut put = |k: &str, v: Expression| {
        config.insert(ident(k), v);
    };
    match &block.method {
        Method::AwsIam { role, region, header_value, credential_poll_interval } => {
            put("type", "iam".into());
            put("role", role.as_str().into());
            if let Some(r) = region {
                put("region", r.as_str().into());
            }
            if let Some(h) = header_value {
                put("header_value", h.as_str().into());
            }
            if let Some(i) = credential_poll_interval {
                put("credential_poll_interval", (*i).into());
            }
        }
        Method::AwsEc2 { role } => {
            put("type", "ec2".into());
            put("role", role.as_str().into());
            if let Some(nonce) = nonce {
                put("nonce", checked("nonce", nonce.expose_secret())?.into());
            }
        }
        Method::Jwt { path, role, remove_jwt_after_reading, remove_jwt_follows_symlinks } => {
            put("path", path.as_str().into());
            put("role", role.as_str().into());
            // The service starts a new agent for every login: the host's token
            // file must survive unless the admin explicitly asks otherwise.
            put("remove_jwt_after_reading", remove_jwt_after_reading.unwrap_or(false).into());
            if let Some(f) = remove_jwt_follows_symlinks {
                put("remove_jwt_follows_symlinks", (*f).into());
            }
        }
    }
    Ok(config)
}

/// The `method` block: type, mount, namespace, exit on error, back-off and `config`.
fn method_block(block: &MethodBlock, namespace: Option<&str>, config: Object<ObjectKey, Expression>) -> Block {
    let mut method = Block::builder("method")
        .add_label(block.method_type().as_str())
        .add_attribute(("mount_path", block.mount_path.as_str()));
    if let Some(ns) = namespace {
        method = method.add_attribute(("namespace", ns));
    }
    method = method.add_attribute(("exit_on_err", true));
    if let Some(b) = &block.min_backoff {
        method = method.add_attribute(("min_backoff", b.as_str()));
    }
    if let Some(b) = &block.max_backoff {
        method = method.add_attribute(("max_backoff", b.as_str()));
    }
    method.add_attribute(("config", Expression::Object(config))).build()
}
