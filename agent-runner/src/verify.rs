//! Checking a fresh token with Vault (`lookup-self`) and revoking it (`revoke-self`).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

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
    /// The token's accessor.
    pub accessor: String,
}

/// Why a token could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No answer.
    #[error("Vault could not be reached for lookup-self: {0}")]
    Unreachable(String),
    /// Vault refused the token.
    #[error("Vault rejected the token (HTTP {status}): {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Vault's errors.
        detail: String,
    },
    /// The token is use-limited, which the service cannot cache or share.
    #[error(
        "the token is limited to {0} uses; auto-auth needs tokens without a use limit (set token_num_uses = 0 on the role)"
    )]
    UseLimited(i64),
    /// The answer was not understood.
    #[error("unexpected lookup-self answer: {0}")]
    BadResponse(String),
}

fn errors_of(body: &Value) -> String {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
        .unwrap_or_default()
}

fn url(addr: &str, path: &str) -> String {
    format!("{}/v1/{path}", addr.trim_end_matches('/'))
}

fn send_error(e: &reqwest::Error) -> VerifyError {
    let mut cause = e.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        cause = "timed out".into();
    }
    VerifyError::Unreachable(cause)
}

/// `GET /v1/auth/token/lookup-self` with the token (and namespace header when set).
pub async fn lookup_self(
    client: &reqwest::Client,
    addr: &str,
    namespace: Option<&str>,
    token: &SecretString,
) -> Result<TokenInfo, VerifyError> {
    let mut req = client.get(url(addr, "auth/token/lookup-self")).header("X-Vault-Token", token.expose_secret());
    if let Some(ns) = namespace {
        req = req.header("X-Vault-Namespace", ns);
    }
    let resp = req.send().await.map_err(|e| send_error(&e))?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.map_err(|e| VerifyError::BadResponse(e.to_string()))?;
    if status != 200 {
        return Err(VerifyError::Rejected { status, detail: errors_of(&body) });
    }
    let data = body.get("data").ok_or_else(|| VerifyError::BadResponse("no data".into()))?;
    let num_uses = data.get("num_uses").and_then(Value::as_i64).unwrap_or(0);
    if num_uses > 0 {
        return Err(VerifyError::UseLimited(num_uses));
    }
    Ok(TokenInfo {
        ttl: Duration::from_secs(data.get("ttl").and_then(Value::as_u64).unwrap_or(0)),
        policies: data
            .get("policies")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        renewable: data.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        num_uses,
        accessor: data.get("accessor").and_then(Value::as_str).unwrap_or_default().to_string(),
    })
}

/// `POST /v1/auth/token/revoke-self`.
pub async fn revoke_self(
    client: &reqwest::Client,
    addr: &str,
    namespace: Option<&str>,
    token: &SecretString,
) -> Result<(), VerifyError> {
    let mut req = client.post(url(addr, "auth/token/revoke-self")).header("X-Vault-Token", token.expose_secret());
    if let Some(ns) = namespace {
        req = req.header("X-Vault-Namespace", ns);
    }
    let resp = req.send().await.map_err(|e| send_error(&e))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        Err(VerifyError::Rejected { status, detail: errors_of(&body) })
    }
}
