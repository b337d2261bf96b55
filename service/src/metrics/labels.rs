//! The label sets of the service's metric families.

use prometheus_client::encoding::EncodeLabelSet;

/// `outcome` (agent runs, token refreshes).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Outcome {
    pub outcome: &'static str,
}

/// A secret read: its `outcome`, and `via` (`rest` or `vault_api`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReadLabels {
    pub outcome: &'static str,
    pub via: &'static str,
}

/// An HTTP request: its route pattern and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteStatus {
    pub route: String,
    pub status: u16,
}

/// An HTTP request's route pattern.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Route {
    pub route: String,
}

/// An in-memory cache.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CacheName {
    pub cache: &'static str,
}

/// The running build.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BuildLabels {
    pub version: &'static str,
    pub revision: &'static str,
}

/// A sealed token record's state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StateLabel {
    pub state: &'static str,
}

/// Where a token in use came from.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OriginLabel {
    pub origin: &'static str,
}
