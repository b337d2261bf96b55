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
