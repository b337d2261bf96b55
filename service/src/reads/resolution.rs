//! The verdicts kept per profile: the parsed login and the grants' verdict,
//! against the exact row values they were made from (see [`super::resolve`]).

use std::sync::Arc;

use moka::sync::Cache;

use crate::domain::{ProfileName, TenantId};
use crate::login::ProfileLogin;
use crate::store::{ProfileRow, TenantRow};

/// The verdicts, by profile.
pub type Resolutions = Cache<(TenantId, ProfileName), Arc<Resolution>>;

/// Room for this many profiles' verdicts.
pub fn resolutions() -> Resolutions {
    Cache::builder().max_capacity(100_000).build()
}

/// One profile's verdict and the row values it was made from.
pub struct Resolution {
    pub(super) row: Arc<ProfileRow>,
    pub(super) tenant: Arc<TenantRow>,
    pub(super) verdict: Verdict,
}

/// What a profile's row and its tenant's grants allow.
#[derive(Clone)]
pub(super) enum Verdict {
    Ready(Arc<ProfileLogin>),
    /// The stored method block no longer parses (settings changed).
    Unparsable(String),
    /// The operator's grants no longer allow it.
    Refused(String),
}
