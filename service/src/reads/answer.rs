//! What a successful secret read answers: Vault's answer as it sent it, and
//! the honest lease when it has one. Kept apart from the read logic, so the
//! secret cache (and the state that holds it) can name it without the logic.

use crate::vault;

/// A successful read: Vault's whole answer, and the honest lease when it has one.
pub struct Read {
    /// Vault's answer as it sent it.
    pub found: vault::Found,
    /// The lease, recorded.
    pub lease: Option<HonestLease>,
}

/// A lease's honest end.
pub struct HonestLease {
    /// RFC 3339.
    pub expires_at: String,
    /// `lease_duration` clamped to it.
    pub duration_secs: u64,
}
