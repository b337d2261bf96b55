//! Prometheus metrics through `prometheus-client`: one registry, typed
//! families, exposed in the OpenMetrics text format at `/metrics`.
//!
//! The contract's names are kept (`auth_service_agent_spawns_total{outcome}`,
//! `auth_service_agent_spawn_seconds`, `auth_service_token_cache_hits_total`,
//! `auth_service_token_cache_misses_total`, `auth_service_secret_reads_total{outcome}`),
//! plus HTTP metrics by route pattern (never the raw path: no tenant or
//! secret path ends up in a label), the wait for an agent slot, and cache sizes.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the agent spawn and queue histograms.
const SPAWN_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Upper bounds (seconds) of the HTTP duration histogram.
const HTTP_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabels {
    outcome: &'static str,
    via: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheName {
    cache: &'static str,
}

/// All service metrics.
pub struct Metrics {
    registry: Registry,
    spawns: Family<Outcome, Counter>,
    spawn_seconds: Histogram,
    queue_wait_seconds: Histogram,
    cache_hits: Counter,
    cache_misses: Counter,
    secret_reads: Family<ReadLabels, Counter>,
    http_requests: Family<RouteStatus, Counter>,
    http_seconds: Family<Route, Histogram>,
    cache_entries: Family<CacheName, Gauge>,
    retiring: Gauge,
    refreshes: Family<Outcome, Counter>,
    audit_write_failures: Counter,
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        // Known label values start at 0, so every contract series is there from the first scrape.
        let spawns = Family::<Outcome, Counter>::default();
        spawns.get_or_create(&Outcome { outcome: "success" }).inc_by(0);
        registry.register("auth_service_agent_spawns", "Agent processes run, by outcome", spawns.clone());
        let spawn_seconds = Histogram::new(SPAWN_BUCKETS);
        registry.register("auth_service_agent_spawn_seconds", "Time from agent spawn to exit", spawn_seconds.clone());
        let queue_wait_seconds = Histogram::new(SPAWN_BUCKETS);
        registry.register(
            "auth_service_agent_queue_wait_seconds",
            "Time an agent run waited for a free slot",
            queue_wait_seconds.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "auth_service_token_cache_hits",
            "Secret reads served with a cached token",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register("auth_service_token_cache_misses", "Secret reads that needed a login", cache_misses.clone());
        let secret_reads = Family::<ReadLabels, Counter>::default();
        secret_reads.get_or_create(&ReadLabels { outcome: "ok", via: "rest" }).inc_by(0);
        registry.register("auth_service_secret_reads", "Secret reads, by outcome", secret_reads.clone());
        let http_requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "auth_service_http_requests",
            "HTTP requests, by route pattern and status",
            http_requests.clone(),
        );
        let http_seconds = Family::<Route, Histogram>::new_with_constructor(http_histogram as fn() -> Histogram);
        registry.register(
            "auth_service_http_request_duration_seconds",
            "HTTP request time, by route pattern",
            http_seconds.clone(),
        );
        let cache_entries = Family::<CacheName, Gauge>::default();
        registry.register(
            "auth_service_cache_entries",
            "Entries in the service's in-memory caches",
            cache_entries.clone(),
        );
        let retiring = Gauge::default();
        registry.register(
            "auth_service_retiring_tokens",
            "Tokens no longer used for reads but kept alive for the leases they issued",
            retiring.clone(),
        );
        let refreshes = Family::<Outcome, Counter>::default();
        registry.register(
            "auth_service_token_refreshes",
            "Tokens refreshed ahead of their end, by outcome",
            refreshes.clone(),
        );
        let audit_write_failures = Counter::default();
        registry.register(
            "auth_service_audit_write_failures",
            "Audit events that could not be written (after a failed batch, each event is retried alone)",
            audit_write_failures.clone(),
        );
        Self {
            audit_write_failures,
            refreshes,
            retiring,
            registry,
            spawns,
            spawn_seconds,
            queue_wait_seconds,
            cache_hits,
            cache_misses,
            secret_reads,
            http_requests,
            http_seconds,
            cache_entries,
        }
    }
}

impl Metrics {
    /// One agent run ended with `outcome` (`success` or a runner error kind) after `elapsed`.
    pub fn agent_spawn(&self, outcome: &'static str, elapsed: Duration) {
        self.spawns.get_or_create(&Outcome { outcome }).inc();
        self.spawn_seconds.observe(elapsed.as_secs_f64());
    }

    /// An agent run waited `waited` for its slot.
    pub fn agent_queue_wait(&self, waited: Duration) {
        self.queue_wait_seconds.observe(waited.as_secs_f64());
    }

    /// A token was served from the cache.
    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    /// A token had to be obtained (or waited for).
    pub fn cache_miss(&self) {
        self.cache_misses.inc();
    }

    /// A secret read ended with `outcome`; `via` is `rest` or `vault_api`.
    pub fn secret_read(&self, outcome: &'static str, via: &'static str) {
        self.secret_reads.get_or_create(&ReadLabels { outcome, via }).inc();
    }

    /// An HTTP request matched `route` (the pattern, or `unmatched`) and answered `status` after `elapsed`.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.http_requests.get_or_create(&RouteStatus { route: route.to_string(), status }).inc();
        self.http_seconds.get_or_create(&Route { route: route.to_string() }).observe(elapsed.as_secs_f64());
    }

    /// The current size of the in-memory cache `cache`.
    pub fn cache_size(&self, cache: &'static str, entries: u64) {
        self.cache_entries.get_or_create(&CacheName { cache }).set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// A token was refreshed ahead of its end (`ok` or `failed`).
    pub fn token_refresh(&self, outcome: &'static str) {
        self.refreshes.get_or_create(&Outcome { outcome }).inc();
    }

    /// An audit event could not be written.
    pub fn audit_write_failed(&self) {
        self.audit_write_failures.inc();
    }

    /// How many tokens are retiring.
    pub fn retiring_tokens(&self, n: usize) {
        self.retiring.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The exposition, in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not encode the metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_contract_metric_with_its_counts() {
        let m = Metrics::default();
        m.agent_spawn("success", Duration::from_millis(150));
        m.agent_spawn("login_rejected", Duration::from_secs(2));
        m.cache_hit();
        m.cache_miss();
        m.cache_miss();
        m.secret_read("ok", "rest");
        let text = m.render();
        assert!(text.contains("auth_service_agent_spawns_total{outcome=\"success\"} 1"), "{text}");
        assert!(text.contains("auth_service_agent_spawns_total{outcome=\"login_rejected\"} 1"));
        assert!(text.contains("auth_service_agent_spawn_seconds_bucket{le=\"0.25\"} 1"), "{text}");
        assert!(text.contains("auth_service_agent_spawn_seconds_bucket{le=\"2.5\"} 2"));
        assert!(text.contains("auth_service_agent_spawn_seconds_count 2"));
        assert!(text.contains("auth_service_token_cache_hits_total 1"));
        assert!(text.contains("auth_service_token_cache_misses_total 2"));
        assert!(text.contains("auth_service_secret_reads_total{outcome=\"ok\",via=\"rest\"} 1"), "{text}");
    }

    #[test]
    fn every_contract_series_is_exposed_before_anything_happened() {
        let text = Metrics::default().render();
        for name in [
            "auth_service_agent_spawns_total{outcome=\"success\"} 0",
            "auth_service_agent_spawn_seconds_count 0",
            "auth_service_token_cache_hits_total 0",
            "auth_service_token_cache_misses_total 0",
            "auth_service_secret_reads_total{outcome=\"ok\",via=\"rest\"} 0",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
    }

    #[test]
    fn http_requests_are_counted_by_route_pattern_and_status() {
        let m = Metrics::default();
        m.http_request("/v1/tenants/{tenant}/profiles", 200, Duration::from_millis(3));
        m.http_request("/v1/tenants/{tenant}/profiles", 200, Duration::from_millis(4));
        m.agent_queue_wait(Duration::from_millis(20));
        m.cache_size("tokens", 7);
        let text = m.render();
        assert!(
            text.contains("auth_service_http_requests_total{route=\"/v1/tenants/{tenant}/profiles\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "auth_service_http_request_duration_seconds_count{route=\"/v1/tenants/{tenant}/profiles\"} 2"
            )
        );
        assert!(text.contains("auth_service_agent_queue_wait_seconds_count 1"));
        assert!(text.contains("auth_service_cache_entries{cache=\"tokens\"} 7"));
    }
}
