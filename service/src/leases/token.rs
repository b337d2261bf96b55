//! A token as the lease book holds it: the token, where it lives and whose it is.

use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use super::TokenKey;
use crate::domain::{ProfileName, TenantId, VaultAddress};
use crate::store::LeaseScope;
use crate::vault::VaultClient;

/// A token as the book needs it.
#[derive(Clone)]
pub struct TokenRef {
    /// The token.
    pub token: SecretString,
    /// Its accessor (the book's key; not a secret).
    pub accessor: String,
    /// Where it lives.
    pub address: VaultAddress,
    /// Its namespace.
    pub namespace: Option<String>,
    /// The profile it belongs to.
    pub tenant: TenantId,
    /// The profile it belongs to.
    pub profile: ProfileName,
    /// Whether `renew-self` may extend it.
    pub renewable: bool,
    /// When it expires now (None: no TTL).
    pub expires: Option<SystemTime>,
    /// Its known hard limit.
    pub max_end: Option<SystemTime>,
}

impl TokenRef {
    /// Where the token (and every lease it issues) belongs.
    pub fn scope(&self) -> LeaseScope {
        LeaseScope {
            tenant: self.tenant.clone(),
            profile: self.profile.clone(),
            address: self.address.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The book's key: an accessor is unique only on its Vault, and a tenant's
    /// own Vault may send any accessor, so it is never a key alone.
    pub(super) fn key(&self) -> TokenKey {
        (self.scope(), self.accessor.clone())
    }

    /// Vault as this token calls it.
    pub(super) fn vault<'a>(&'a self, http: &'a reqwest::Client, timeout: Duration) -> VaultClient<'a> {
        VaultClient { http, address: &self.address, namespace: self.namespace.as_deref(), timeout }
    }
}
