//! The closed set of operations the service asks of Vault, each built from
//! parsed values and fixed segments.

use agent_runner::vault_path::ApiPath;
use serde_json::Value;

use crate::domain::secret_path::{LeaseId, ReadQuery};
use crate::domain::{SecretPath, VaultAddress};

/// Everything the service asks of Vault with a profile's token: a closed set.
/// Each operation is built from parsed values ([`SecretPath`], [`ReadQuery`],
/// [`LeaseId`]) and fixed segments, and its URL is assembled by the URL library
/// ([`ApiPath::url`]); no string from a request is ever glued into a URL.
/// (`lookup-self` after a login and `revoke-self` are
/// [`agent_runner::verify`]'s, built the same way.)
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// `GET <path>` (with `?list=true` for a list), the read's parameters re-encoded.
    Read(&'a SecretPath, &'a ReadQuery),
    /// `GET sys/internal/ui/mounts/<path>`: which mount (and KV version) serves a path.
    Mounts(&'a SecretPath),
    /// `PUT auth/token/renew-self` with an increment in seconds.
    RenewSelf(u64),
    /// `PUT auth/token/revoke-self`.
    RevokeSelf,
    /// `PUT sys/leases/renew` with the lease id (and an increment) in the body.
    LeaseRenew(&'a LeaseId, Option<u64>),
    /// `PUT sys/leases/revoke` with the lease id in the body.
    LeaseRevoke(&'a LeaseId),
    /// `PUT sys/leases/lookup` with the lease id in the body.
    LeaseLookup(&'a LeaseId),
    /// `POST sys/capabilities-self` with the paths in the body.
    CapabilitiesSelf(&'a [SecretPath]),
}

/// A path of fixed segments written here (each one is plain: tested below).
fn fixed(segments: &[&str]) -> ApiPath {
    ApiPath::fixed(segments).expect("fixed Vault paths are plain segments")
}

impl Op<'_> {
    /// The HTTP method.
    pub(super) fn method(&self) -> reqwest::Method {
        match self {
            Op::Read(..) | Op::Mounts(_) => reqwest::Method::GET,
            Op::CapabilitiesSelf(_) => reqwest::Method::POST,
            _ => reqwest::Method::PUT,
        }
    }

    /// The path below `/v1/`.
    fn path(&self) -> ApiPath {
        match self {
            Op::Read(path, _) => path.api_path().clone(),
            Op::Mounts(path) => fixed(&["sys", "internal", "ui", "mounts"]).join(path.api_path()),
            Op::RenewSelf(_) => fixed(&["auth", "token", "renew-self"]),
            Op::RevokeSelf => fixed(&["auth", "token", "revoke-self"]),
            Op::LeaseRenew(..) => fixed(&["sys", "leases", "renew"]),
            Op::LeaseRevoke(_) => fixed(&["sys", "leases", "revoke"]),
            Op::LeaseLookup(_) => fixed(&["sys", "leases", "lookup"]),
            Op::CapabilitiesSelf(_) => fixed(&["sys", "capabilities-self"]),
        }
    }

    /// The JSON body, for the operations that send one.
    pub(super) fn body(&self) -> Option<Value> {
        match self {
            Op::Read(..) | Op::Mounts(_) => None,
            Op::RenewSelf(increment) => Some(serde_json::json!({ "increment": increment })),
            Op::RevokeSelf => Some(serde_json::json!({})),
            Op::LeaseRenew(id, Some(increment)) => {
                Some(serde_json::json!({ "lease_id": id.as_str(), "increment": increment }))
            }
            Op::LeaseRenew(id, None) | Op::LeaseRevoke(id) | Op::LeaseLookup(id) => {
                Some(serde_json::json!({ "lease_id": id.as_str() }))
            }
            Op::CapabilitiesSelf(paths) => {
                Some(serde_json::json!({ "paths": paths.iter().map(SecretPath::as_str).collect::<Vec<_>>() }))
            }
        }
    }

    /// The request URL: the path pushed segment by segment, then the typed query.
    pub fn url(&self, address: &VaultAddress) -> reqwest::Url {
        let mut url = self.path().url(address.base());
        if let Op::Read(_, query) = self {
            let mut pairs = query.pairs().peekable();
            if pairs.peek().is_some() || query.is_list() {
                let mut out = url.query_pairs_mut();
                for (k, v) in pairs {
                    out.append_pair(k, v);
                }
                if query.is_list() {
                    out.append_pair("list", "true");
                }
            }
        }
        url
    }
}
