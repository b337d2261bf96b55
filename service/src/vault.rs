//! The service's own calls to Vault: secret reads with a profile's token.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use agent_runner::http::BodyError;

use crate::domain::VaultAddress;

/// Largest secret-read answer read (beyond it the read is a 502).
pub const SECRET_BODY_LIMIT: usize = 1024 * 1024;

/// What Vault answered to a read.
#[derive(Debug)]
pub enum ReadOutcome {
    /// 200 with Vault's JSON body.
    Found(Value),
    /// 404 (no secret there, or no mount).
    NotFound,
    /// 403: the token is not allowed (or no longer valid).
    Forbidden(String),
    /// Any other status, with Vault's error text.
    Other(u16, String),
}

/// Why a call did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No answer within the timeout.
    #[error("Vault at {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// Connection failed.
    #[error("Vault at {0} could not be reached: {1}")]
    Unreachable(String, String),
    /// The answer was not JSON.
    #[error("Vault at {0} sent a response that is not JSON")]
    BadResponse(String),
    /// Vault answered with a redirect, which is never followed.
    #[error("Vault at {0} answered with a redirect to {1}; the service does not follow redirects")]
    Redirected(String, String),
    /// The answer is larger than the service reads.
    #[error("Vault at {0} sent a response larger than {1} bytes")]
    TooLarge(String, usize),
}

/// Vault's `errors` array joined into one line, or "no error text".
pub fn vault_errors(body: &Value) -> String {
    let text = agent_runner::http::vault_errors(body);
    if text.is_empty() { "no error text".into() } else { text }
}

/// Read `GET /v1/<path>?<query>` with `token` in `namespace`.
pub async fn read(
    http: &reqwest::Client,
    address: &VaultAddress,
    namespace: Option<&str>,
    token: &SecretString,
    path: &str,
    query: &str,
    timeout: Duration,
) -> Result<ReadOutcome, VaultError> {
    let mut url = address.api_url(path);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    let req = http.get(&url);
    let (status, body) = send(req, address, namespace, token, timeout, SECRET_BODY_LIMIT).await?;
    Ok(match status {
        StatusCode::OK => ReadOutcome::Found(body),
        StatusCode::NOT_FOUND => ReadOutcome::NotFound,
        StatusCode::FORBIDDEN => ReadOutcome::Forbidden(vault_errors(&body)),
        other => ReadOutcome::Other(other.as_u16(), vault_errors(&body)),
    })
}

/// `PUT /v1/<path>` with a JSON body (token and lease operations): Vault's status and JSON answer.
pub async fn put(
    http: &reqwest::Client,
    address: &VaultAddress,
    namespace: Option<&str>,
    token: &SecretString,
    path: &str,
    body: &Value,
    timeout: Duration,
) -> Result<(StatusCode, Value), VaultError> {
    let req = http.put(address.api_url(path)).json(body);
    send(req, address, namespace, token, timeout, agent_runner::verify::TOKEN_BODY_LIMIT).await
}

/// Send with the token and namespace headers; no redirects, a capped body.
async fn send(
    req: reqwest::RequestBuilder,
    address: &VaultAddress,
    namespace: Option<&str>,
    token: &SecretString,
    timeout: Duration,
    limit: usize,
) -> Result<(StatusCode, Value), VaultError> {
    let mut req = req.header("X-Vault-Token", token.expose_secret()).timeout(timeout);
    if let Some(ns) = namespace {
        req = req.header("X-Vault-Namespace", ns);
    }
    let resp = req.send().await.map_err(|e| map_send_error(address, timeout, &e))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(VaultError::Redirected(address.to_string(), agent_runner::http::redirect_target(&resp)));
    }
    let body: Value = match agent_runner::http::read_capped(resp, limit).await {
        Ok(b) if b.is_empty() => Value::Null,
        Ok(b) => serde_json::from_slice(&b).map_err(|_| VaultError::BadResponse(address.to_string()))?,
        Err(BodyError::TooLarge(limit)) => return Err(VaultError::TooLarge(address.to_string(), limit)),
        Err(BodyError::Transfer(cause)) => return Err(VaultError::Unreachable(address.to_string(), cause)),
    };
    Ok((status, body))
}

fn map_send_error(address: &VaultAddress, timeout: Duration, e: &reqwest::Error) -> VaultError {
    if e.is_timeout() {
        VaultError::Timeout(address.to_string(), timeout)
    } else {
        // reqwest's chain names the cause (connection refused, DNS, TLS) without the URL's query.
        VaultError::Unreachable(address.to_string(), agent_runner::http::root_cause(e))
    }
}

/// The read response the API returns: Vault's `data`, plus lease fields when Vault sent them.
pub fn secret_response(body: &Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("data".into(), body.get("data").cloned().unwrap_or(Value::Null));
    for key in ["lease_id", "lease_duration", "renewable"] {
        if let Some(v) = body.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
}
