//! The service's own calls to Vault: secret reads with a profile's token.

use std::time::Duration;

use actix_web::web::Bytes;
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
    /// 200 with a JSON object.
    Found(Found),
    /// 404 (no secret there, or no mount).
    NotFound,
    /// 403: the token is not allowed (or no longer valid).
    Forbidden(String),
    /// Any other status, with Vault's error text.
    Other(u16, String),
}

/// A 200 answer to a read: Vault's bytes as it sent them (passed on unchanged
/// where nothing needs changing), and the lease fields the service acts on.
pub struct Found {
    /// The body as Vault sent it (a JSON object).
    pub raw: Bytes,
    /// `lease_id`; empty when there is no lease.
    pub lease_id: String,
    /// `lease_duration` in seconds (0 when absent).
    pub lease_duration: u64,
}

impl Found {
    /// A 200 body as a read's answer: a JSON object whose REST fields
    /// ([`SecretAnswer`]) can be taken out; `None` for anything else (an array,
    /// a bare value, an empty body, a duplicate key). A `lease_id` that is not a
    /// string or a `lease_duration` that is not a whole number means no lease; a
    /// duration beyond [`agent_runner::verify::MAX_VAULT_SECONDS`] is clamped to it.
    pub fn parse(bytes: Vec<u8>) -> Option<Found> {
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        let fields: SecretAnswer<'_> = serde_json::from_slice(&bytes).ok()?;
        let lease_id = fields.lease_id.as_ref().and_then(Value::as_str).unwrap_or_default().to_string();
        let lease_duration = agent_runner::verify::vault_seconds(fields.lease_duration.as_ref()).unwrap_or(0);
        Some(Found { raw: Bytes::from(bytes), lease_id, lease_duration })
    }
}

/// Only the size of the body: it holds the secret.
impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("raw", &format_args!("<{} bytes>", self.raw.len()))
            .field("lease_id", &self.lease_id)
            .field("lease_duration", &self.lease_duration)
            .finish()
    }
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
    /// The answer was not JSON (or, for a read, not a JSON object).
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

mod op;
pub use op::Op;

/// A profile's Vault as the service calls it: address, namespace and the time limit of one call.
#[derive(Clone, Copy)]
pub struct VaultClient<'a> {
    /// The HTTP client (no redirects).
    pub http: &'a reqwest::Client,
    /// The Vault.
    pub address: &'a VaultAddress,
    /// The namespace every call is made in.
    pub namespace: Option<&'a str>,
    /// The limit of one call.
    pub timeout: Duration,
}

impl VaultClient<'_> {
    /// A read ([`Op::Read`] or [`Op::Mounts`]): Vault's answer as a [`ReadOutcome`].
    pub async fn read(&self, token: &SecretString, op: Op<'_>) -> Result<ReadOutcome, VaultError> {
        let address = self.address;
        let (status, bytes) = self.send(token, op, SECRET_BODY_LIMIT).await?;
        Ok(match status {
            // Only the lease fields are built; the rest is passed on as Vault sent it.
            StatusCode::OK => {
                ReadOutcome::Found(Found::parse(bytes).ok_or_else(|| VaultError::BadResponse(address.to_string()))?)
            }
            StatusCode::NOT_FOUND => ReadOutcome::NotFound,
            StatusCode::FORBIDDEN => ReadOutcome::Forbidden(vault_errors(&json_body(&bytes, address)?)),
            other => ReadOutcome::Other(other.as_u16(), vault_errors(&json_body(&bytes, address)?)),
        })
    }

    /// Any other operation: Vault's status and JSON answer.
    pub async fn call(&self, token: &SecretString, op: Op<'_>) -> Result<(StatusCode, Value), VaultError> {
        let (status, bytes) = self.send(token, op, agent_runner::verify::TOKEN_BODY_LIMIT).await?;
        Ok((status, json_body(&bytes, self.address)?))
    }

    async fn send(&self, token: &SecretString, op: Op<'_>, limit: usize) -> Result<(StatusCode, Vec<u8>), VaultError> {
        let mut req = self.http.request(op.method(), op.url(self.address));
        if let Some(body) = op.body() {
            req = req.json(&body);
        }
        send_bytes(req, self.address, self.namespace, token, self.timeout, limit).await
    }
}

/// A body as JSON (empty: `null`).
fn json_body(bytes: &[u8], address: &VaultAddress) -> Result<Value, VaultError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|_| VaultError::BadResponse(address.to_string()))
}

/// Send with the token and namespace headers; no redirects, a capped body.
async fn send_bytes(
    req: reqwest::RequestBuilder,
    address: &VaultAddress,
    namespace: Option<&str>,
    token: &SecretString,
    timeout: Duration,
    limit: usize,
) -> Result<(StatusCode, Vec<u8>), VaultError> {
    let mut req = req.header("X-Vault-Token", token.expose_secret()).timeout(timeout);
    if let Some(ns) = namespace {
        req = req.header("X-Vault-Namespace", ns);
    }
    let resp = req.send().await.map_err(|e| map_send_error(address, timeout, &e))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(VaultError::Redirected(address.to_string(), agent_runner::http::redirect_target(&resp)));
    }
    match agent_runner::http::read_capped(resp, limit).await {
        Ok(bytes) => Ok((status, bytes)),
        Err(BodyError::TooLarge(limit)) => Err(VaultError::TooLarge(address.to_string(), limit)),
        Err(BodyError::Transfer(cause)) => Err(VaultError::Unreachable(address.to_string(), cause)),
    }
}

fn map_send_error(address: &VaultAddress, timeout: Duration, e: &reqwest::Error) -> VaultError {
    if e.is_timeout() {
        VaultError::Timeout(address.to_string(), timeout)
    } else {
        // reqwest's chain names the cause (connection refused, DNS, TLS) without the URL's query.
        VaultError::Unreachable(address.to_string(), agent_runner::http::root_cause(e))
    }
}

/// The REST read's answer: Vault's `data` as it sent it, plus the lease fields
/// when Vault sent them (`lease_duration` and `expires_at` made honest for a lease).
#[derive(serde::Deserialize, serde::Serialize)]
pub struct SecretAnswer<'a> {
    /// Vault's `data`, unparsed.
    #[serde(borrow, default)]
    pub data: Option<&'a serde_json::value::RawValue>,
    /// Vault's `lease_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_id: Option<Value>,
    /// Vault's `lease_duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration: Option<Value>,
    /// Vault's `renewable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewable: Option<Value>,
    /// The lease's honest end (RFC 3339), for a recorded lease: set by the
    /// service, never taken from Vault's answer.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl<'a> SecretAnswer<'a> {
    /// The answer's fields out of a read's body. [`Found::parse`] accepts a
    /// body only if this succeeds, so an error here means a `Found` built by hand.
    pub fn of(found: &'a Found) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(&found.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SecretPath;
    use crate::domain::secret_path::{LeaseId, ReadQuery};

    fn found(body: &str) -> Found {
        Found::parse(body.as_bytes().to_vec()).expect("a read's answer")
    }

    #[test]
    fn the_rest_answer_keeps_data_as_vault_sent_it_and_only_the_lease_fields() {
        let f = found(
            r#"{"request_id":"r1","lease_id":"","renewable":false,"lease_duration":0,
                "data":{"data":{"password":"s3cr3t","n":1.50},"metadata":{"version":2}},"wrap_info":null,"auth":null}"#,
        );
        assert_eq!((f.lease_id.as_str(), f.lease_duration), ("", 0));
        let out = serde_json::to_string(&SecretAnswer::of(&f).expect("fields")).expect("serialize");
        // `data` is copied byte for byte (1.50 stays 1.50); request_id, wrap_info and auth are not sent.
        assert_eq!(
            out,
            r#"{"data":{"data":{"password":"s3cr3t","n":1.50},"metadata":{"version":2}},"lease_id":"","lease_duration":0,"renewable":false}"#
        );
    }

    #[test]
    fn a_lease_is_seen_and_an_answer_without_data_says_null() {
        let f = found(r#"{"lease_id":"database/creds/app/abc","lease_duration":3600,"renewable":true}"#);
        assert_eq!((f.lease_id.as_str(), f.lease_duration), ("database/creds/app/abc", 3600));
        let mut answer = SecretAnswer::of(&f).expect("fields");
        answer.lease_duration = Some(1200.into());
        answer.expires_at = Some("2026-11-26T21:00:00Z".into());
        let out: Value = serde_json::to_value(&answer).expect("serialize");
        assert_eq!(
            out,
            serde_json::json!({"data": null, "lease_id": "database/creds/app/abc", "lease_duration": 1200,
                               "renewable": true, "expires_at": "2026-11-26T21:00:00Z"})
        );
    }

    #[test]
    fn only_a_json_object_is_a_reads_answer() {
        // serde would fill the lease fields from an array; a read's answer must be an object.
        for body in [r#"["x",60]"#, "null", "", "  ", "1", r#""text""#, r#"{"data":{},"data":{}}"#] {
            assert!(Found::parse(body.as_bytes().to_vec()).is_none(), "{body:?} taken as an answer");
        }
        assert!(Found::parse(b" \n{\"data\":{}}".to_vec()).is_some());
    }

    #[test]
    fn odd_lease_fields_mean_no_lease_and_vaults_expires_at_is_not_forwarded() {
        let f = found(r#"{"lease_id":7,"lease_duration":1.5,"expires_at":{"x":1},"data":{"k":"v"}}"#);
        assert_eq!((f.lease_id.as_str(), f.lease_duration), ("", 0));
        let out: Value = serde_json::to_value(SecretAnswer::of(&f).expect("fields")).expect("serialize");
        assert_eq!(out, serde_json::json!({"data": {"k": "v"}, "lease_id": 7, "lease_duration": 1.5}));
    }

    #[test]
    fn a_lease_duration_beyond_ten_years_is_clamped() {
        let f = found(r#"{"lease_id":"l","lease_duration":18446744073709551615,"data":{}}"#);
        assert_eq!(f.lease_duration, agent_runner::verify::MAX_VAULT_SECONDS);
        // The clock plus the clamped duration is a time, not an overflow.
        let _ = std::time::SystemTime::now() + Duration::from_secs(f.lease_duration);
    }

    #[test]
    fn every_operation_has_a_plain_path_and_the_read_query_is_re_encoded() {
        let address = VaultAddress::parse("https://vault.example.com:8200").expect("address");
        let path = SecretPath::parse("secret/data/app").expect("path");
        let query = ReadQuery::parse("version=2&x=a%26b").expect("query");
        let lease = LeaseId::parse("database/creds/app/x").expect("lease");
        let paths = [path.clone()];
        let read = Op::Read(&path, &query);
        assert_eq!(read.url(&address).as_str(), "https://vault.example.com:8200/v1/secret/data/app?version=2&x=a%26b");
        let list = ReadQuery::default().as_list();
        assert_eq!(Op::Read(&path, &list).url(&address).query(), Some("list=true"));
        assert_eq!(Op::Read(&path, &ReadQuery::default()).url(&address).query(), None);
        for (op, want) in [
            (Op::Mounts(&path), "/v1/sys/internal/ui/mounts/secret/data/app"),
            (Op::RenewSelf(60), "/v1/auth/token/renew-self"),
            (Op::RevokeSelf, "/v1/auth/token/revoke-self"),
            (Op::LeaseRenew(&lease, Some(5)), "/v1/sys/leases/renew"),
            (Op::LeaseRevoke(&lease), "/v1/sys/leases/revoke"),
            (Op::LeaseLookup(&lease), "/v1/sys/leases/lookup"),
            (Op::CapabilitiesSelf(&paths), "/v1/sys/capabilities-self"),
        ] {
            assert_eq!(op.url(&address).path(), want);
        }
        assert_eq!(
            Op::LeaseRenew(&lease, Some(5)).body(),
            Some(serde_json::json!({"lease_id": "database/creds/app/x", "increment": 5}))
        );
    }

    #[test]
    fn debug_output_shows_the_size_of_the_answer_not_the_secret() {
        let text = format!("{:?}", found(r#"{"data":{"password":"s3cr3t"}}"#));
        assert!(!text.contains("s3cr3t") && text.contains("30 bytes"), "{text}");
    }
}
