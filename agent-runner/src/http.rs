//! The one way this workspace builds HTTP clients and reads HTTP failures.
//!
//! TLS is rustls with the `ring` provider (no system OpenSSL); the process-wide
//! provider is installed on first use, so every client built here works the same
//! whether or not the caller thought of it. Server certificates are checked
//! against the platform's roots plus any extra roots the caller adds
//! (`tls_certs_merge`), which is how an operator's private CA is honoured.

use serde_json::Value;

/// A client builder with the workspace's TLS provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// A client builder for calls to a Vault that a tenant named: no redirects
/// (a 3xx would carry `X-Vault-Token` to wherever it points), a connect timeout.
pub fn vault_client_builder() -> reqwest::ClientBuilder {
    client_builder().redirect(reqwest::redirect::Policy::none()).connect_timeout(std::time::Duration::from_secs(5))
}

/// Why a response body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the limit (reading stopped there).
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    /// The transfer failed.
    #[error("{0}")]
    Transfer(String),
}

/// Read a response body, stopping with [`BodyError::TooLarge`] as soon as it
/// passes `limit` bytes (a declared `Content-Length` over the limit fails at once).
pub async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| BodyError::Transfer(root_cause(&e)))? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The host a redirect points to, for messages (never the whole URL: it may hold a query).
pub fn redirect_target(resp: &reqwest::Response) -> String {
    let location = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    match reqwest::Url::parse(location).or_else(|_| resp.url().join(location)) {
        Ok(url) => url.host_str().map_or_else(
            || "an unknown host".into(),
            |h| match url.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            },
        ),
        Err(_) => "an unknown host".into(),
    }
}

/// Install rustls' `ring` provider as the process default (idempotent).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // A concurrent first call may win the race; either way a provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The innermost cause of a request error (connection refused, DNS, TLS), or
/// "timed out"; never the URL's query string.
pub fn root_cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut cause = e.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    cause
}

/// Vault's `errors` array joined into one line (empty when there is none).
pub fn vault_errors(body: &Value) -> String {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
        .unwrap_or_default()
}

/// Vault's errors from a response text, or the start of a body that is not
/// Vault JSON (a proxy's page), at most 200 characters.
pub fn vault_errors_text(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(body) => vault_errors(&body),
        Err(_) => text.trim().chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_errors_are_joined_and_foreign_bodies_are_clipped() {
        assert_eq!(vault_errors_text(r#"{"errors":["a","b"]}"#), "a; b");
        assert_eq!(vault_errors_text(r#"{"data":{}}"#), "");
        assert_eq!(vault_errors_text(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn clients_build_without_the_caller_installing_a_provider() {
        assert!(client_builder().build().is_ok());
    }
}
