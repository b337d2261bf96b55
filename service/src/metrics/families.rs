//! The metric families and their registration. Registration order is the
//! order of the exposition, so the parts below register in a fixed sequence;
//! known label values start at 0, so every contract series is there from the
//! first scrape.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::labels::{BuildLabels, CacheName, OriginLabel, Outcome, ReadLabels, Route, RouteStatus, StateLabel};
use super::{CACHES, Metrics, READ_OUTCOMES, RECORD_STATES, SPAWN_OUTCOMES, process};

/// Upper bounds (seconds) of the agent spawn and queue histograms.
const SPAWN_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Upper bounds (seconds) of the HTTP duration histogram: up to 120 s, past the
/// longest a request may take (a queued agent run, its Vault calls: about 75 s by default).
const HTTP_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 60.0, 120.0];

/// The source revision this binary was built from (`AUTH_SERVICE_REVISION` at
/// build time, else the git commit the build script found, else `unknown`).
const REVISION: &str = match option_env!("AUTH_SERVICE_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// Agent runs: by outcome, their time, and the wait for a slot.
pub(super) struct Agents {
    pub spawns: Family<Outcome, Counter>,
    pub spawn_seconds: Histogram,
    pub queue_wait_seconds: Histogram,
}

impl Agents {
    fn register(registry: &mut Registry) -> Self {
        let spawns = Family::<Outcome, Counter>::default();
        for outcome in SPAWN_OUTCOMES {
            spawns.get_or_create(&Outcome { outcome }).inc_by(0);
        }
        registry.register("auth_service_agent_spawns", "Agent processes run, by outcome", spawns.clone());
        let spawn_seconds = Histogram::new(SPAWN_BUCKETS);
        registry.register("auth_service_agent_spawn_seconds", "Time from agent spawn to exit", spawn_seconds.clone());
        let queue_wait_seconds = Histogram::new(SPAWN_BUCKETS);
        registry.register(
            "auth_service_agent_queue_wait_seconds",
            "Time an agent run waited for a free slot",
            queue_wait_seconds.clone(),
        );
        Self { spawns, spawn_seconds, queue_wait_seconds }
    }
}

/// Secret reads: the token cache's hits and misses, and reads by outcome and way in.
pub(super) struct Reads {
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub secret_reads: Family<ReadLabels, Counter>,
}

impl Reads {
    fn register(registry: &mut Registry) -> Self {
        let cache_hits = Counter::default();
        registry.register(
            "auth_service_token_cache_hits",
            "Secret reads served with a cached token",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register("auth_service_token_cache_misses", "Secret reads that needed a login", cache_misses.clone());
        let secret_reads = Family::<ReadLabels, Counter>::default();
        for outcome in READ_OUTCOMES {
            for via in ["rest", "vault_api"] {
                secret_reads.get_or_create(&ReadLabels { outcome, via }).inc_by(0);
            }
        }
        registry.register("auth_service_secret_reads", "Secret reads, by outcome", secret_reads.clone());
        Self { cache_hits, cache_misses, secret_reads }
    }
}

/// HTTP requests by route pattern: counted by status, and timed.
pub(super) struct Http {
    pub requests: Family<RouteStatus, Counter>,
    pub seconds: Family<Route, Histogram>,
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

impl Http {
    fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register("auth_service_http_requests", "HTTP requests, by route pattern and status", requests.clone());
        let seconds = Family::<Route, Histogram>::new_with_constructor(http_histogram as fn() -> Histogram);
        registry.register(
            "auth_service_http_request_duration_seconds",
            "HTTP request time, by route pattern",
            seconds.clone(),
        );
        Self { requests, seconds }
    }
}

/// The in-memory caches' sizes, and the cached tokens' life: retiring tokens, refreshes.
pub(super) struct Caches {
    pub entries: Family<CacheName, Gauge>,
    pub retiring: Gauge,
    pub refreshes: Family<Outcome, Counter>,
}

impl Caches {
    fn register(registry: &mut Registry) -> Self {
        let entries = Family::<CacheName, Gauge>::default();
        for cache in CACHES {
            entries.get_or_create(&CacheName { cache }).set(0);
        }
        registry.register("auth_service_cache_entries", "Entries in the service's in-memory caches", entries.clone());
        let retiring = Gauge::default();
        registry.register(
            "auth_service_retiring_tokens",
            "Tokens no longer used for reads but kept alive for the leases they issued",
            retiring.clone(),
        );
        let refreshes = Family::<Outcome, Counter>::default();
        for outcome in ["ok", "failed"] {
            refreshes.get_or_create(&Outcome { outcome }).inc_by(0);
        }
        registry.register(
            "auth_service_token_refreshes",
            "Tokens refreshed ahead of their end, by outcome",
            refreshes.clone(),
        );
        Self { entries, retiring, refreshes }
    }
}

/// `auth_service_build_info` (value 1) and the `process_*` collector.
fn register_build_and_process(registry: &mut Registry) {
    let build_info = Family::<BuildLabels, Gauge>::default();
    build_info.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION"), revision: REVISION }).set(1);
    registry.register(
        "auth_service_build_info",
        "The running build: version and source revision (value 1)",
        build_info,
    );
    registry.register_collector(Box::new(process::ProcessCollector));
}

/// What the store keeps: audit events not written, sealed token records by
/// state and those that did not open, and tokens by origin.
pub(super) struct Records {
    pub audit_write_failures: Counter,
    pub token_records: Family<StateLabel, Gauge>,
    pub unseal_failures: Counter,
    pub logins: Family<OriginLabel, Counter>,
}

impl Records {
    fn register(registry: &mut Registry) -> Self {
        let audit_write_failures = Counter::default();
        registry.register(
            "auth_service_audit_write_failures",
            "Audit events that could not be written (after a failed batch, each event is retried alone)",
            audit_write_failures.clone(),
        );
        let token_records = Family::<StateLabel, Gauge>::default();
        for state in RECORD_STATES {
            token_records.get_or_create(&StateLabel { state }).set(0);
        }
        registry.register(
            "auth_service_token_records",
            "Sealed token records in the shared store, by state (0 without AUTH_SERVICE_TOKEN_SEAL_KEY_FILE)",
            token_records.clone(),
        );
        let unseal_failures = Counter::default();
        registry.register(
            "auth_service_token_unseal_failures",
            "Sealed token records that did not open (wrong key, tampered row); each is replaced by a fresh login",
            unseal_failures.clone(),
        );
        let logins = Family::<OriginLabel, Counter>::default();
        for origin in ["local", "from_store"] {
            logins.get_or_create(&OriginLabel { origin }).inc_by(0);
        }
        registry.register(
            "auth_service_logins",
            "Tokens this replica started using, by origin: its own agent run (local) or a sealed record another replica or an earlier run wrote (from_store)",
            logins.clone(),
        );
        Self { audit_write_failures, token_records, unseal_failures, logins }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let agents = Agents::register(&mut registry);
        let reads = Reads::register(&mut registry);
        let http = Http::register(&mut registry);
        let caches = Caches::register(&mut registry);
        register_build_and_process(&mut registry);
        let records = Records::register(&mut registry);
        Self { registry, agents, reads, http, caches, records }
    }
}
