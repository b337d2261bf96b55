//! Prometheus metrics through `prometheus-client`: one registry, typed
//! families, exposed in the OpenMetrics text format at `/metrics`.
//!
//! The contract's names are kept (`auth_service_agent_spawns_total{outcome}`,
//! `auth_service_agent_spawn_seconds`, `auth_service_token_cache_hits_total`,
//! `auth_service_token_cache_misses_total`, `auth_service_secret_reads_total{outcome}`),
//! plus HTTP metrics by route pattern (never the raw path: no tenant or
//! secret path ends up in a label), the wait for an agent slot, and cache sizes.

use std::time::Duration;

use prometheus_client::registry::Registry;

mod families;
mod labels;
mod process;
mod text;

use labels::{CacheName, OriginLabel, Outcome, ReadLabels, Route, RouteStatus, StateLabel};

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`Metrics::render_text`].
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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

/// States of a sealed token record (`auth_service_token_records{state}`).
pub const RECORD_STATES: [&str; 2] = ["active", "retiring"];

/// All service metrics: the registry, and the families in named parts (see
/// [`families`], where they are registered).
pub struct Metrics {
    registry: Registry,
    agents: families::Agents,
    reads: families::Reads,
    http: families::Http,
    caches: families::Caches,
    records: families::Records,
}

impl Metrics {
    /// One agent run ended with `outcome` (`success` or a runner error kind) after `elapsed`.
    pub fn agent_spawn(&self, outcome: &'static str, elapsed: Duration) {
        self.agents.spawns.get_or_create(&Outcome { outcome }).inc();
        self.agents.spawn_seconds.observe(elapsed.as_secs_f64());
    }

    /// An agent run waited `waited` for its slot.
    pub fn agent_queue_wait(&self, waited: Duration) {
        self.agents.queue_wait_seconds.observe(waited.as_secs_f64());
    }

    /// A token was served from the cache.
    pub fn cache_hit(&self) {
        self.reads.cache_hits.inc();
    }

    /// A token had to be obtained (or waited for).
    pub fn cache_miss(&self) {
        self.reads.cache_misses.inc();
    }

    /// A secret read ended with `outcome`; `via` is `rest` or `vault_api`.
    pub fn secret_read(&self, outcome: &'static str, via: &'static str) {
        self.reads.secret_reads.get_or_create(&ReadLabels { outcome, via }).inc();
    }

    /// An HTTP request matched `route` (the pattern, or `unmatched`) and answered `status` after `elapsed`.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.http.requests.get_or_create(&RouteStatus { route: route.to_string(), status }).inc();
        self.http.seconds.get_or_create(&Route { route: route.to_string() }).observe(elapsed.as_secs_f64());
    }

    /// The current size of the in-memory cache `cache`.
    pub fn cache_size(&self, cache: &'static str, entries: u64) {
        self.caches.entries.get_or_create(&CacheName { cache }).set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// A token was refreshed ahead of its end (`ok` or `failed`).
    pub fn token_refresh(&self, outcome: &'static str) {
        self.caches.refreshes.get_or_create(&Outcome { outcome }).inc();
    }

    /// The sealed token records in the store now, by state.
    pub fn token_records(&self, state: &'static str, n: u64) {
        self.records.token_records.get_or_create(&StateLabel { state }).set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A sealed token record did not open.
    pub fn unseal_failed(&self) {
        self.records.unseal_failures.inc();
    }

    /// A token came into use here: `local` (an agent run) or `from_store` (a sealed record).
    pub fn login(&self, origin: &'static str) {
        self.records.logins.get_or_create(&OriginLabel { origin }).inc();
    }

    /// An audit event could not be written.
    pub fn audit_write_failed(&self) {
        self.records.audit_write_failures.inc();
    }

    /// How many tokens are retiring.
    pub fn retiring_tokens(&self, n: usize) {
        self.caches.retiring.set(i64::try_from(n).unwrap_or(i64::MAX));
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
        text::to_text_format(&self.render())
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
