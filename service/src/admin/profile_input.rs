//! What an admin sends as a profile ([`ProfileInput`]) and its validation: every
//! problem at once, each named by its JSON pointer.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::agent_config;
use crate::domain::method_block::{self, FieldError};
use crate::domain::{Namespace, ProfileName, SecretPath, TenantId, VaultAddress};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::NewProfile;
use crate::trust::TenantPolicy;

/// An auth profile as sent by an admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    /// Profile name, `^[a-z0-9][a-z0-9-]{0,62}$`, unique in the tenant (optional on replace; must match the path).
    #[schema(example = "snowflake-prod", pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub name: Option<String>,
    /// Vault base address: `http(s)://host[:port]`, within the operator's allowed origins.
    #[schema(example = "https://vault.example.com:8200", pattern = "^https?://[^/?#@]+/?$", max_length = 2048)]
    pub vault_address: String,
    /// Vault namespace for login and reads.
    #[schema(example = "team-a", max_length = 512)]
    pub namespace: Option<String>,
    /// The agent's auto_auth method block as JSON (see schemas/method-block.schema.json).
    #[schema(value_type = Object, example = json!({"type": "aws", "mount_path": "auth/aws", "config": {"type": "iam", "role": "alation-agent-role"}}))]
    pub method: Value,
    /// A secret path that test connection reads.
    #[schema(
        example = "secret/data/alation/snowflake",
        min_length = 1,
        max_length = 1024,
        pattern = "^[A-Za-z0-9_.@+=:,~-]+(/[A-Za-z0-9_.@+=:,~-]+)*$"
    )]
    pub test_secret_path: Option<String>,
    /// For `iam` logins: the tenant's own AWS role, assumed with the tenant's
    /// `aws_external_id` before each login (required in `per-tenant-role` mode).
    #[schema(
        example = "arn:aws:iam::123456789012:role/vault-login",
        pattern = "^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
    )]
    pub aws_role_arn: Option<String>,
    /// The opt-in secret cache: keep this profile's answers in memory this long
    /// (a duration like `30s` or `5m`, at most `24h`); absent or `0s`: off.
    #[schema(example = "30s", max_length = 32)]
    pub secret_cache_ttl: Option<String>,
    /// With the secret cache on: also share answers with a lease (dynamic
    /// credentials) between callers, each kept at most its lease minus a margin.
    /// Off by default: every caller gets its own credentials.
    pub secret_cache_leased: Option<bool>,
}

/// Validate a profile body: every problem at once, each with its pointer.
pub(crate) async fn validate_input(
    state: &AppState,
    tenant: &TenantId,
    input: &ProfileInput,
    name: &ProfileName,
) -> Result<NewProfile, ApiError> {
    let tenant_row =
        state.store.get_tenant(tenant).await?.ok_or_else(|| ApiError::NotFound(format!("no tenant {tenant}")))?;
    let trust = TenantPolicy::new(&state.settings, &tenant_row).map_err(|e| ApiError::Internal(e.to_string()))?;
    let aws_role_arn = input.aws_role_arn.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut errors: Vec<FieldError> = Vec::new();
    let address = match VaultAddress::parse(&input.vault_address) {
        Ok(a) => Some(a),
        Err(e) => {
            errors.push(FieldError::new("/vault_address", e.to_string()));
            None
        }
    };
    let namespace = match input.namespace.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(Namespace::parse) {
        Some(Ok(ns)) => Some(ns),
        Some(Err(e)) => {
            errors.push(FieldError::new("/namespace", e.to_string()));
            None
        }
        None => None,
    };
    let namespace = namespace.as_ref().map(Namespace::as_str);
    // The block's size is checked on its bytes, as a client sent it compactly.
    let method_json = serde_json::to_vec(&input.method).map_err(|e| ApiError::Internal(e.to_string()))?;
    match method_block::validate_bytes(&method_json, &state.policy) {
        Ok(block) => {
            if let Err(e) = agent_config::effective_namespace(&block, namespace) {
                errors.push(FieldError::new("/namespace", e.to_string()));
            }
            errors.extend(trust.profile_problems(address.as_ref(), &block, aws_role_arn));
        }
        Err(block_errors) => {
            errors
                .extend(block_errors.into_iter().map(|e| FieldError::new(format!("/method{}", e.pointer), e.message)));
            // The rest is still checked, so the admin sees every problem at once.
            if let Some(p) = address.as_ref().and_then(|a| trust.address_problem(a)) {
                errors.push(FieldError::new("/vault_address", p));
            }
            if input.method.get("type").and_then(serde_json::Value::as_str) == Some("jwt")
                && let Some(path) = input.method.pointer("/config/path").and_then(serde_json::Value::as_str)
                && let Err(e) = trust.jwt_path(std::path::Path::new(path))
                && !errors.iter().any(|f| f.pointer == "/method/config/path")
            {
                errors.push(FieldError::new("/method/config/path", e.to_string()));
            }
        }
    }
    if let Some(p) = &input.test_secret_path
        && let Err(e) = SecretPath::parse(p)
    {
        errors.push(FieldError::new("/test_secret_path", e.to_string()));
    }
    let secret_cache = secret_cache_policy(input).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if !errors.is_empty() {
        return Err(invalid_profile(errors));
    }
    Ok(NewProfile {
        name: name.clone(),
        vault_address: address.map(|a| a.as_str().to_string()).unwrap_or_default(),
        namespace: namespace.map(|n| n.trim_end_matches('/').to_string()),
        method: input.method.clone(),
        test_secret_path: input.test_secret_path.clone(),
        aws_role_arn: aws_role_arn.map(str::to_string),
        secret_cache,
    })
}

/// Every problem of a profile body as one 400.
pub(crate) fn invalid_profile(errors: Vec<FieldError>) -> ApiError {
    let detail = format!("{} problem(s) in the profile; see errors", errors.len());
    ApiError::Validation { detail, errors }
}

/// `secret_cache_ttl` and `secret_cache_leased` as a cache policy (None: off).
fn secret_cache_policy(input: &ProfileInput) -> Result<Option<crate::domain::SecretCachePolicy>, FieldError> {
    let ttl = match input.secret_cache_ttl.as_deref().map(str::trim) {
        None => None,
        Some(text) => {
            let fix = "a duration like 30s, 5m or 1h, at most 24h; 0s turns the cache off";
            let d = humantime::parse_duration(text)
                .map_err(|_| FieldError::new("/secret_cache_ttl", format!("{text:?} is not a duration: {fix}")))?;
            if d > crate::secret_cache::MAX_TTL || d.subsec_nanos() != 0 {
                return Err(FieldError::new("/secret_cache_ttl", format!("{text:?}: {fix}, in whole seconds")));
            }
            (!d.is_zero()).then_some(d)
        }
    };
    let leased = input.secret_cache_leased.unwrap_or(false);
    match ttl {
        Some(ttl) => Ok(Some(crate::domain::SecretCachePolicy { ttl, leased })),
        None if leased => Err(FieldError::new(
            "/secret_cache_leased",
            "shares cached dynamic credentials, so it needs the cache on: set secret_cache_ttl too",
        )),
        None => Ok(None),
    }
}
