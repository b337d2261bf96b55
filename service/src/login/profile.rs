//! A stored profile as a login sees it: parsed once ([`ProfileLogin`]) and
//! named by its content ([`ProfileKey`]), which keys the caches and back-off.

use super::*;

pub use crate::domain::ProfileKey;

/// Why a stored profile cannot be used for a login (settings changed since
/// it was saved, or the row is not what the service writes).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoredProfileError {
    /// The method block fails today's checks; `first` is the first problem (`pointer: message`).
    #[error("the stored method block is no longer accepted by this service ({first}); replace the profile")]
    NoLongerAccepted {
        /// The first problem.
        first: String,
    },
    /// The Vault address does not parse.
    #[error("vault_address: {0}")]
    VaultAddress(crate::domain::VaultAddressError),
    /// The namespace conflicts with the method block's.
    #[error("{0}")]
    Namespace(String),
    /// The tenant id or profile name does not parse.
    #[error("{0}")]
    Key(crate::domain::NameError),
    /// The test secret path does not parse.
    #[error("test_secret_path: {0}")]
    TestSecretPath(crate::domain::secret_path::SecretPathError),
}

/// The key of a stored row.
pub fn key_of(row: &ProfileRow) -> Result<ProfileKey, StoredProfileError> {
    Ok(ProfileKey {
        tenant: row.tenant_id.clone(),
        name: row.name.clone(),
        revision: row.revision,
        fingerprint: row_fingerprint(row),
    })
}

/// Everything a login needs from a stored profile.
#[derive(Debug, Clone)]
pub struct ProfileLogin {
    /// Which stored profile content this is (tenant, name, revision, content digest).
    pub key: ProfileKey,
    /// Vault address.
    pub address: VaultAddress,
    /// The namespace of the login and of every read.
    pub namespace: Option<String>,
    /// The validated method block.
    pub block: MethodBlock,
    /// Optional secret read by test connection.
    pub test_secret_path: Option<crate::domain::SecretPath>,
    /// The tenant's AWS role for `iam` logins.
    pub aws_role_arn: Option<String>,
    /// The opt-in secret cache (None: off).
    pub secret_cache: Option<crate::domain::SecretCachePolicy>,
}

impl ProfileLogin {
    /// Load a stored profile back as typed values (it was validated in full on
    /// write, so the JSON Schema does not run again; a settings change since
    /// then, like a disabled method type, shows here).
    pub fn from_row(row: &ProfileRow, policy: &ValidationPolicy) -> Result<Self, StoredProfileError> {
        let block = method_block::from_stored(&row.method_value(), policy).map_err(|errors| {
            let first = errors.first().map(|e| format!("{}: {}", e.pointer, e.message)).unwrap_or_default();
            StoredProfileError::NoLongerAccepted { first }
        })?;
        let address = VaultAddress::parse(&row.vault_address).map_err(StoredProfileError::VaultAddress)?;
        let namespace = agent_config::effective_namespace(&block, row.namespace.as_deref())
            .map_err(|e| StoredProfileError::Namespace(e.to_string()))?
            .map(str::to_string);
        Ok(Self {
            key: key_of(row)?,
            address,
            namespace,
            block,
            test_secret_path: row
                .test_secret_path
                .as_deref()
                .map(crate::domain::SecretPath::parse)
                .transpose()
                .map_err(StoredProfileError::TestSecretPath)?,
            aws_role_arn: row.aws_role_arn.clone(),
            secret_cache: row.secret_cache,
        })
    }

    /// Where this profile's leases belong (tenant, profile, Vault, namespace).
    pub fn lease_scope(&self) -> crate::store::LeaseScope {
        crate::store::LeaseScope {
            tenant: self.key.tenant.clone(),
            profile: self.key.name.clone(),
            address: self.address.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// This profile's Vault, as calls with its token see it.
    pub fn vault<'a>(&'a self, http: &'a reqwest::Client, timeout: Duration) -> crate::vault::VaultClient<'a> {
        crate::vault::VaultClient { http, address: &self.address, namespace: self.namespace.as_deref(), timeout }
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.key.tenant
    }

    /// The profile name.
    pub fn name(&self) -> &ProfileName {
        &self.key.name
    }
}

/// Digest of what a login depends on in a stored profile.
fn row_fingerprint(row: &ProfileRow) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        row.vault_address.as_str(),
        row.namespace.as_deref().unwrap_or(""),
        &row.method,
        row.test_secret_path.as_deref().unwrap_or(""),
        row.aws_role_arn.as_deref().unwrap_or(""),
        &row.created_at,
        &row.revision.to_string(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}
