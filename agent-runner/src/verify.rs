//! Checking a fresh token with Vault (`lookup-self`) and revoking it (`revoke-self`).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::vault_path::{ApiPath, VaultBase};

/// Longest TTL or lease duration taken from Vault's answers: ten years (Vault's
/// default maximum is 32 days). Longer values are clamped to it, so adding one
/// to the clock can never overflow, whatever a Vault sends.
pub const MAX_VAULT_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// A TTL or lease-duration field of a Vault answer, in whole seconds clamped to
/// [`MAX_VAULT_SECONDS`]; `None` when absent or not a whole number.
pub fn vault_seconds(field: Option<&Value>) -> Option<u64> {
    field.and_then(Value::as_u64).map(|secs| secs.min(MAX_VAULT_SECONDS))
}

/// What `lookup-self` says about a token (no token material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Time left (0 for a non-expiring token).
    pub ttl: Duration,
    /// Policies.
    pub policies: Vec<String>,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Uses left (0 = unlimited).
    pub num_uses: i64,
    /// The token's own hard limit (0 = none set on the token; a role's
    /// `token_max_ttl` does not show here).
    pub explicit_max_ttl: Duration,
    /// The token's accessor (not a secret: it cannot authenticate).
    pub accessor: String,
    /// Who logged in: the login path (`auth_path`) and the identity fields of
    /// the token's `meta` that name a principal (role, canonical ARN, account
    /// id, ...). Never token material.
    pub identity: Vec<(String, String)>,
}

/// `meta` keys that describe who logged in (AWS, JWT and common methods).
const IDENTITY_META: [&str; 10] = [
    "role",
    "role_name",
    "role_id",
    "canonical_arn",
    "client_arn",
    "account_id",
    "inferred_entity_type",
    "inferred_aws_region",
    "instance_id",
    "region",
];

/// Why a token could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No answer.
    #[error("Vault could not be reached for lookup-self: {0}")]
    Unreachable(String),
    /// Vault refused the token (403: invalid, expired or revoked).
    #[error("Vault rejected the token (HTTP {status}): {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Vault's errors.
        detail: String,
    },
    /// Vault answered but could not serve the request (5xx: sealed, standby, overloaded).
    #[error("Vault could not answer lookup-self (HTTP {status}): {detail}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// Vault's errors.
        detail: String,
    },
    /// The token is use-limited (`num_uses` is not 0; -1 means its last use is spent),
    /// which the service cannot cache or share.
    #[error(
        "the token is use-limited (num_uses = {0}); auto-auth needs tokens without a use limit (set token_num_uses = 0 on the role)"
    )]
    UseLimited(i64),
    /// The answer was not understood (or was too large).
    #[error("unexpected lookup-self answer: {0}")]
    BadResponse(String),
    /// Vault answered with a redirect, which the service never follows.
    #[error(
        "Vault answered with a redirect to {0}; the service does not follow redirects (set the profile's vault_address to the server that answers)"
    )]
    Redirected(String),
}

/// Largest token-call answer read (a lookup-self answer is a few KiB).
pub const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// The error for a non-2xx answer.
fn status_error(status: u16, text: &str) -> VerifyError {
    let detail = crate::http::vault_errors_text(text);
    if status >= 500 { VerifyError::Unavailable { status, detail } } else { VerifyError::Rejected { status, detail } }
}

/// `<base>/v1/auth/token/<op>`, built by [`ApiPath::url`].
fn token_url(base: &VaultBase, op: &str) -> Result<reqwest::Url, VerifyError> {
    let path = ApiPath::fixed(&["auth", "token", op]).map_err(|e| VerifyError::BadResponse(e.to_string()))?;
    Ok(path.url(base))
}

fn send_error(e: &reqwest::Error) -> VerifyError {
    VerifyError::Unreachable(crate::http::root_cause(e))
}

/// `GET /v1/auth/token/lookup-self` with the token (and `X-Vault-Namespace` when set).
///
/// Refuses a use-limited token ([`VerifyError::UseLimited`]). Bounded by the
/// client's own timeout; a refused or timed-out connection is [`VerifyError::Unreachable`],
/// a 403 [`VerifyError::Rejected`].
pub async fn lookup_self(
    client: &reqwest::Client,
    base: &VaultBase,
    namespace: Option<&str>,
    token: &SecretString,
) -> Result<TokenInfo, VerifyError> {
    let mut req = client.get(token_url(base, "lookup-self")?).header("X-Vault-Token", token.expose_secret());
    if let Some(ns) = namespace {
        req = req.header("X-Vault-Namespace", ns);
    }
    let resp = req.send().await.map_err(|e| send_error(&e))?;
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        return Err(VerifyError::Redirected(crate::http::redirect_target(&resp)));
    }
    let text =
        crate::http::read_capped(resp, TOKEN_BODY_LIMIT).await.map_err(|e| VerifyError::BadResponse(e.to_string()))?;
    let text = String::from_utf8_lossy(&text);
    if status != 200 {
        return Err(status_error(status, &text));
    }
    let body: Value = serde_json::from_str(&text).map_err(|e| VerifyError::BadResponse(e.to_string()))?;
    let data = body.get("data").filter(|d| d.is_object()).ok_or_else(|| VerifyError::BadResponse("no data".into()))?;
    let num_uses = data.get("num_uses").and_then(Value::as_i64).unwrap_or(0);
    if num_uses != 0 {
        return Err(VerifyError::UseLimited(num_uses));
    }
    Ok(TokenInfo {
        ttl: Duration::from_secs(vault_seconds(data.get("ttl")).unwrap_or(0)),
        policies: data
            .get("policies")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        renewable: data.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        num_uses,
        explicit_max_ttl: Duration::from_secs(vault_seconds(data.get("explicit_max_ttl")).unwrap_or(0)),
        accessor: data.get("accessor").and_then(Value::as_str).unwrap_or_default().to_string(),
        identity: identity_of(data),
    })
}

fn identity_of(data: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(path) = data.get("path").and_then(Value::as_str).filter(|p| !p.is_empty()) {
        out.push(("auth_path".to_string(), path.to_string()));
    }
    if let Some(meta) = data.get("meta").and_then(Value::as_object) {
        for key in IDENTITY_META {
            if let Some(v) = meta.get(key).and_then(Value::as_str).filter(|v| !v.is_empty() && v.len() <= 512) {
                out.push((key.to_string(), crate::scrub(v)));
            }
        }
    }
    out
}

/// `POST /v1/auth/token/revoke-self` (best effort: callers usually log a failure and move on).
pub async fn revoke_self(
    client: &reqwest::Client,
    base: &VaultBase,
    namespace: Option<&str>,
    token: &SecretString,
) -> Result<(), VerifyError> {
    let mut req = client.post(token_url(base, "revoke-self")?).header("X-Vault-Token", token.expose_secret());
    if let Some(ns) = namespace {
        req = req.header("X-Vault-Namespace", ns);
    }
    let resp = req.send().await.map_err(|e| send_error(&e))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(status_error(status, &resp.text().await.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{MAX_VAULT_SECONDS, vault_seconds};

    #[test]
    fn vault_durations_are_whole_seconds_clamped_to_ten_years() {
        assert_eq!(vault_seconds(Some(&json!(3600))), Some(3600));
        assert_eq!(vault_seconds(Some(&json!(u64::MAX))), Some(MAX_VAULT_SECONDS));
        assert_eq!(vault_seconds(Some(&json!(-1))), None);
        assert_eq!(vault_seconds(Some(&json!(1.5))), None);
        assert_eq!(vault_seconds(Some(&json!("60"))), None);
        assert_eq!(vault_seconds(None), None);
    }
}
