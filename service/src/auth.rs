//! API keys and the caller behind a request.
//!
//! A tenant key looks like `vas_<id>_<secret>`: `id` (16 hex) finds the stored
//! record, `secret` (32 random bytes, hex) is checked against its SHA-256 in
//! constant time. Only the hash is stored; the key is shown once at creation.
//! The operator key comes from the settings.

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Settings;
use crate::domain::TenantId;
use crate::error::ApiError;
use crate::store::Store;

/// What a tenant key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Manage profiles, run tests, manage keys.
    Admin,
    /// Read secrets.
    Read,
}

impl Scope {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Read => "read",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Scope::Admin),
            "read" => Some(Scope::Read),
            _ => None,
        }
    }
}

/// A freshly generated key: the id, the full key (shown once) and the hash to store.
pub struct GeneratedKey {
    /// Public id of the key.
    pub id: String,
    /// The full key to hand to the caller once.
    pub key: SecretString,
    /// SHA-256 of the secret part.
    pub secret_sha256: [u8; 32],
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source works");
    hex::encode(buf)
}

/// Generate a new tenant key.
pub fn generate_key() -> GeneratedKey {
    let id = random_hex(8);
    let secret = random_hex(32);
    let secret_sha256 = Sha256::digest(secret.as_bytes()).into();
    GeneratedKey { key: SecretString::from(format!("vas_{id}_{secret}")), id, secret_sha256 }
}

/// Split `vas_<id>_<secret>` into id and secret.
fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("vas_")?;
    let (id, secret) = rest.split_once('_')?;
    // Only the shape keys are made in: anything else is refused without a lookup.
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The operator (the settings' key).
    Operator,
    /// A tenant key.
    Tenant {
        /// The key's tenant.
        tenant: TenantId,
        /// The key's id.
        key_id: String,
        /// The key's label.
        name: String,
        /// The key's scopes.
        scopes: Vec<Scope>,
    },
}

impl Caller {
    /// A short label for audit logs (never key material).
    pub fn label(&self) -> String {
        match self {
            Caller::Operator => "operator".into(),
            Caller::Tenant { key_id, .. } => format!("key:{key_id}"),
        }
    }

    /// Require a key of `tenant` with `scope` (admin satisfies read). Another
    /// tenant's key gets 404, so it never learns whether the resource exists.
    pub fn require(&self, tenant: &str, scope: Scope) -> Result<(), ApiError> {
        match self {
            Caller::Tenant { tenant: t, scopes, .. } if t.as_str() == tenant => {
                let ok = scopes.contains(&scope) || (scope == Scope::Read && scopes.contains(&Scope::Admin));
                if ok {
                    Ok(())
                } else {
                    Err(ApiError::Forbidden(format!(
                        "this key has scopes [{}]; this needs {}",
                        join(scopes),
                        scope.as_str()
                    )))
                }
            }
            Caller::Tenant { .. } => Err(ApiError::NotFound("no such resource".into())),
            Caller::Operator => Err(ApiError::Forbidden(
                "the operator key manages tenants and their keys; use a tenant admin key for this".into(),
            )),
        }
    }

    /// Require the operator, or an admin key of `tenant` (key management).
    pub fn require_operator_or_admin(&self, tenant: &str) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            _ => self.require(tenant, Scope::Admin),
        }
    }

    /// Require the operator.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Tenant { .. } => Err(ApiError::Forbidden("only the operator key may do this".into())),
        }
    }
}

fn join(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// Who a presented key is (operator, the previous operator key during a
/// rotation, or a tenant key); Unauthorized when it is none. Rate limits are
/// the caller's to check ([`crate::limits`]).
pub async fn identify(settings: &Settings, store: &Store, presented: &str) -> Result<Caller, ApiError> {
    if settings.is_operator_key(presented) {
        return Ok(Caller::Operator);
    }
    if settings.is_previous_operator_key(presented) {
        tracing::warn!(
            "the previous operator key (AUTH_SERVICE_OPERATOR_KEY_PREVIOUS) was used; move every script to the new key, then unset the previous one"
        );
        return Ok(Caller::Operator);
    }
    let (id, secret) = split_key(presented).ok_or(ApiError::Unauthorized)?;
    let record = store.api_key_for_auth(id).await?.ok_or(ApiError::Unauthorized)?;
    let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    if !bool::from(hash.ct_eq(&record.secret_sha256)) {
        return Err(ApiError::Unauthorized);
    }
    Ok(Caller::Tenant {
        tenant: record.tenant_id.clone(),
        key_id: record.key_id.clone(),
        name: record.name.clone(),
        scopes: record.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn generated_keys_split_back_into_id_and_secret_and_match_their_hash() {
        let k = generate_key();
        let (id, secret) = split_key(k.key.expose_secret()).expect("splits");
        assert_eq!(id, k.id);
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        assert_eq!(hash, k.secret_sha256);
        assert!(k.key.expose_secret().len() >= 32 + 4 + 16);
    }

    #[test]
    fn two_keys_differ() {
        assert_ne!(generate_key().key.expose_secret(), generate_key().key.expose_secret());
    }

    #[test]
    fn malformed_keys_do_not_split() {
        for bad in ["", "vas_", "vas_short_x", "abc_0123456789abcdef_x", "vas_0123456789abcdef_"] {
            assert!(split_key(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn another_tenants_key_gets_not_found_and_a_read_key_cannot_administer() {
        let reader = Caller::Tenant {
            tenant: TenantId::parse("a").expect("t"),
            key_id: "k".into(),
            name: "n".into(),
            scopes: vec![Scope::Read],
        };
        assert!(matches!(reader.require("b", Scope::Read), Err(ApiError::NotFound(_))));
        assert!(matches!(reader.require("a", Scope::Admin), Err(ApiError::Forbidden(_))));
        assert!(reader.require("a", Scope::Read).is_ok());
        let admin = Caller::Tenant {
            tenant: TenantId::parse("a").expect("t"),
            key_id: "k".into(),
            name: "n".into(),
            scopes: vec![Scope::Admin],
        };
        assert!(admin.require("a", Scope::Read).is_ok(), "admin may read too");
    }
}
