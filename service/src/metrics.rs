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
/// The content type of [`Metrics::render_text`].
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// OpenMetrics text turned into Prometheus text 0.0.4.
fn to_text_format(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        open_metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(described.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

mod process;

/// Upper bounds (seconds) of the agent spawn and queue histograms.
const SPAWN_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Upper bounds (seconds) of the HTTP duration histogram: up to 120 s, past the
/// longest a request may take (a queued agent run, its Vault calls: about 75 s by default).
const HTTP_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 60.0, 120.0];

/// Every outcome of an agent run (`success` and the runner's error kinds), present from the first scrape.
pub const SPAWN_OUTCOMES: [&str; 11] = [
    "success",
    "binary_missing",
    "not_executable",
    "config_rejected",
    "login_rejected",
    "vault_unreachable",
    "timed_out",
    "no_token",
    "busy",
    "render_failed",
    "io",
];

/// Every outcome of a secret read.
pub const READ_OUTCOMES: [&str; 6] = ["ok", "not_found", "forbidden", "login_failed", "invalid", "vault_error"];

/// The in-memory caches whose sizes are reported.
pub const CACHES: [&str; 6] = ["tokens", "api_keys", "tenants", "profile_rows", "resolved_profiles", "secrets"];

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

/// The source revision this binary was built from (`AUTH_SERVICE_REVISION` at
/// build time, else the git commit the build script found, else `unknown`).
const REVISION: &str = match option_env!("AUTH_SERVICE_REVISION") {
    Some(r) => r,
    None => "unknown",
};

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
    token_records: Family<StateLabel, Gauge>,
    unseal_failures: Counter,
    logins: Family<OriginLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabel {
    origin: &'static str,
}

/// States of a sealed token record (`auth_service_token_records{state}`).
pub const RECORD_STATES: [&str; 2] = ["active", "retiring"];

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        // Known label values start at 0, so every contract series is there from the first scrape.
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
        for cache in CACHES {
            cache_entries.get_or_create(&CacheName { cache }).set(0);
        }
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
        for outcome in ["ok", "failed"] {
            refreshes.get_or_create(&Outcome { outcome }).inc_by(0);
        }
        registry.register(
            "auth_service_token_refreshes",
            "Tokens refreshed ahead of their end, by outcome",
            refreshes.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION"), revision: REVISION }).set(1);
        registry.register(
            "auth_service_build_info",
            "The running build: version and source revision (value 1)",
            build_info,
        );
        registry.register_collector(Box::new(process::ProcessCollector));
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
        Self {
            token_records,
            unseal_failures,
            logins,
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

    /// The sealed token records in the store now, by state.
    pub fn token_records(&self, state: &'static str, n: u64) {
        self.token_records.get_or_create(&StateLabel { state }).set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A sealed token record did not open.
    pub fn unseal_failed(&self) {
        self.unseal_failures.inc();
    }

    /// A token came into use here: `local` (an agent run) or `from_store` (a sealed record).
    pub fn login(&self, origin: &'static str) {
        self.logins.get_or_create(&OriginLabel { origin }).inc();
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
        let mut out = String::with_capacity(8192);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not encode the metrics");
        }
        out
    }

    /// The exposition in the Prometheus text format 0.0.4 ([`TEXT_CONTENT_TYPE`]),
    /// for scrapers that ask for it: OpenMetrics without `# EOF` and `# UNIT`,
    /// counters described under their sample name (`..._total`).
    pub fn render_text(&self) -> String {
        to_text_format(&self.render())
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
    fn the_text_format_names_counters_by_their_samples_and_has_no_eof() {
        let m = Metrics::default();
        m.cache_hit();
        let text = m.render_text();
        assert!(text.contains("# TYPE auth_service_token_cache_hits_total counter\n"), "{text}");
        assert!(text.contains("# HELP auth_service_token_cache_hits_total "), "{text}");
        assert!(text.contains("auth_service_token_cache_hits_total 1\n"));
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
        assert!(text.contains("# TYPE auth_service_agent_spawn_seconds histogram"), "histograms keep their name");
    }

    #[test]
    fn every_known_label_value_build_info_and_process_metrics_are_there_from_the_first_scrape() {
        let m = Metrics::default();
        m.http_request("/healthz", 200, Duration::from_millis(1));
        let text = m.render();
        for outcome in SPAWN_OUTCOMES {
            assert!(text.contains(&format!("auth_service_agent_spawns_total{{outcome=\"{outcome}\"}} 0")), "{outcome}");
        }
        for outcome in READ_OUTCOMES {
            for via in ["rest", "vault_api"] {
                let series = format!("auth_service_secret_reads_total{{outcome=\"{outcome}\",via=\"{via}\"}} 0");
                assert!(text.contains(&series), "{series}");
            }
        }
        for line in [
            "auth_service_token_refreshes_total{outcome=\"failed\"} 0",
            "auth_service_audit_write_failures_total 0",
            "auth_service_cache_entries{cache=\"secrets\"} 0",
            "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(
            text.contains(&format!("auth_service_build_info{{version=\"{}\",revision=", env!("CARGO_PKG_VERSION")))
        );
        assert!(text.contains("le=\"120.0\""), "HTTP buckets reach past the longest request");
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
