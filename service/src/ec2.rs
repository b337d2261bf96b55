//! EC2 trust on first use: the host's instance id (IMDSv2) and the persisted
//! nonce per (Vault address, namespace, mount path, instance id).
//!
//! Vault remembers the nonce of an instance's first ec2 login on a mount and
//! demands it on every later login from that instance. A short-lived agent
//! would invent a new one per run, so the service creates one random nonce per
//! key, commits it to the database before the first agent uses it (a unique key
//! makes racing first logins agree), and renders it into every ec2 config.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::domain::VaultAddress;
use crate::store::{NonceKey, NonceRow, Store, StoreError};

/// The message for hosts without an instance identity.
pub const NOT_ON_EC2: &str = "ec2 auth needs an EC2 instance identity document; use iam on this host";

/// Why this host has no instance id: each message starts with [`NOT_ON_EC2`] and names the cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotOnEc2 {
    /// Instance metadata did not answer the session-token request.
    #[error("{prefix} (instance metadata at {endpoint} did not answer: {cause})", prefix = NOT_ON_EC2)]
    NoAnswer {
        /// The IMDS endpoint.
        endpoint: String,
        /// The root cause.
        cause: String,
    },
    /// Instance metadata refused a session token.
    #[error("{prefix} (instance metadata refused a session token: HTTP {0})", prefix = NOT_ON_EC2)]
    TokenRefused(reqwest::StatusCode),
    /// An answer could not be read, or the instance-id request failed.
    #[error("{prefix} ({0})", prefix = NOT_ON_EC2)]
    Unreadable(String),
    /// The instance-id request was refused.
    #[error("{prefix} (instance-id request got HTTP {0})", prefix = NOT_ON_EC2)]
    IdRefused(reqwest::StatusCode),
    /// The answer is not an instance id.
    #[error("{prefix} (instance metadata returned an implausible instance id)", prefix = NOT_ON_EC2)]
    Implausible,
}

/// Reads (once) and remembers the host's instance id from IMDSv2.
pub struct InstanceIdentity {
    endpoint: String,
    http: reqwest::Client,
    cached: OnceCell<String>,
}

impl InstanceIdentity {
    /// IMDS at `endpoint` (like `http://169.254.169.254`).
    pub fn new(endpoint: String) -> Self {
        let http = agent_runner::http::client_builder()
            .connect_timeout(Duration::from_millis(700))
            .timeout(Duration::from_millis(1500))
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        Self { endpoint: endpoint.trim_end_matches('/').to_string(), http, cached: OnceCell::new() }
    }

    /// The instance id: IMDSv2 token PUT, then `meta-data/instance-id`. Errors fail fast
    /// (under about 3 s) with [`NOT_ON_EC2`] and the cause.
    pub async fn instance_id(&self) -> Result<String, NotOnEc2> {
        self.cached.get_or_try_init(|| self.fetch()).await.cloned()
    }

    async fn fetch(&self) -> Result<String, NotOnEc2> {
        let unreadable = |e: reqwest::Error| NotOnEc2::Unreadable(agent_runner::http::root_cause(&e));
        let token = self
            .http
            .put(format!("{}/latest/api/token", self.endpoint))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
            .send()
            .await
            .map_err(|e| NotOnEc2::NoAnswer {
                endpoint: self.endpoint.clone(),
                cause: agent_runner::http::root_cause(&e),
            })?;
        if !token.status().is_success() {
            return Err(NotOnEc2::TokenRefused(token.status()));
        }
        let token = SecretString::from(token.text().await.map_err(unreadable)?);
        let id = self
            .http
            .get(format!("{}/latest/meta-data/instance-id", self.endpoint))
            .header("X-aws-ec2-metadata-token", token.expose_secret())
            .send()
            .await
            .map_err(unreadable)?;
        if !id.status().is_success() {
            return Err(NotOnEc2::IdRefused(id.status()));
        }
        let id = id.text().await.map_err(unreadable)?.trim().to_string();
        let plausible = id.len() <= 64 && !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !plausible {
            return Err(NotOnEc2::Implausible);
        }
        Ok(id)
    }
}

/// The nonce key of a login.
pub fn nonce_key(address: &VaultAddress, namespace: Option<&str>, mount_path: &str, instance_id: &str) -> NonceKey {
    NonceKey {
        vault_address: address.as_str().to_string(),
        namespace: namespace.unwrap_or("").trim_end_matches('/').to_string(),
        mount_path: mount_path.trim_end_matches('/').to_string(),
        instance_id: instance_id.to_string(),
    }
}

/// A new random nonce: 32 bytes from the OS, hex (64 characters, under Vault's 128).
pub fn new_nonce() -> SecretString {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).expect("the operating system's random source works");
    SecretString::from(hex::encode(buf))
}

/// A short, non-reversible fingerprint to tell nonces apart without showing them.
pub fn fingerprint(nonce: &SecretString) -> String {
    let digest = Sha256::digest(nonce.expose_secret().as_bytes());
    format!("sha256:{}", hex::encode(&digest[..6]))
}

/// The persisted nonce for `key`, created (and committed) on first use.
pub async fn nonce_for(store: &Store, key: &NonceKey) -> Result<NonceRow, StoreError> {
    store.nonce_get_or_create(key, &new_nonce()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_long_random_and_within_vaults_limit() {
        let a = new_nonce();
        let b = new_nonce();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 64);
        assert!(!format!("{a:?}").contains(a.expose_secret()));
    }

    #[test]
    fn a_fingerprint_does_not_contain_the_nonce() {
        let n = new_nonce();
        let f = fingerprint(&n);
        assert!(f.starts_with("sha256:") && f.len() == 19);
        assert_eq!(f, fingerprint(&n), "stable for the same nonce");
        assert_ne!(f, fingerprint(&new_nonce()));
    }

    #[test]
    fn the_nonce_key_normalizes_namespace_and_mount() {
        let addr = VaultAddress::parse("https://Vault.example.com:443").expect("addr");
        let k = nonce_key(&addr, Some("team-a/"), "auth/aws/", "i-0abc");
        assert_eq!(k.vault_address, "https://vault.example.com");
        assert_eq!(k.namespace, "team-a");
        assert_eq!(k.mount_path, "auth/aws");
        assert_eq!(nonce_key(&addr, None, "auth/aws", "i-0abc").namespace, "");
    }

    #[tokio::test]
    async fn without_instance_metadata_the_identity_fails_fast_with_the_admin_message() {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let id = InstanceIdentity::new(format!("http://127.0.0.1:{port}"));
        let started = std::time::Instant::now();
        let err = id.instance_id().await.expect_err("no IMDS");
        assert!(matches!(err, NotOnEc2::NoAnswer { .. }), "{err}");
        assert!(err.to_string().starts_with(NOT_ON_EC2), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn each_cause_is_worded_after_the_admin_message() {
        let refused = NotOnEc2::TokenRefused(reqwest::StatusCode::FORBIDDEN).to_string();
        assert_eq!(refused, format!("{NOT_ON_EC2} (instance metadata refused a session token: HTTP 403 Forbidden)"));
        let none = NotOnEc2::NoAnswer { endpoint: "http://imds".into(), cause: "refused".into() }.to_string();
        assert_eq!(none, format!("{NOT_ON_EC2} (instance metadata at http://imds did not answer: refused)"));
    }
}
