//! Prometheus metrics, kept in atomics and rendered as text format by hand
//! (a handful of series does not justify an exporter crate on the build).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the agent spawn histogram.
const SPAWN_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// All service metrics.
#[derive(Default)]
pub struct Metrics {
    spawns: Mutex<BTreeMap<&'static str, u64>>,
    spawn_buckets: [AtomicU64; SPAWN_BUCKETS.len()],
    spawn_count: AtomicU64,
    spawn_sum_micros: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    secret_reads: Mutex<BTreeMap<&'static str, u64>>,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, label: &'static str) {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    *m.entry(label).or_default() += 1;
}

impl Metrics {
    /// One agent run ended with `outcome` (`success` or a runner error kind) after `elapsed`.
    pub fn agent_spawn(&self, outcome: &'static str, elapsed: Duration) {
        bump(&self.spawns, outcome);
        let secs = elapsed.as_secs_f64();
        for (i, bound) in SPAWN_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.spawn_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.spawn_count.fetch_add(1, Ordering::Relaxed);
        self.spawn_sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// A token was served from the cache.
    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A token had to be obtained (or waited for).
    pub fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    /// A secret read ended with `outcome`.
    pub fn secret_read(&self, outcome: &'static str) {
        bump(&self.secret_reads, outcome);
    }

    /// Total agent spawns (all outcomes).
    pub fn spawns_total(&self) -> u64 {
        self.spawn_count.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let labeled =
            |out: &mut String, name: &str, help: &str, label: &str, map: &Mutex<BTreeMap<&'static str, u64>>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                let m = map.lock().unwrap_or_else(|p| p.into_inner());
                for (value, count) in m.iter() {
                    let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
                }
            };
        labeled(
            &mut out,
            "auth_service_agent_spawns_total",
            "Agent processes run, by outcome.",
            "outcome",
            &self.spawns,
        );
        let _ = writeln!(
            out,
            "# HELP auth_service_agent_spawn_seconds Time from agent spawn to exit.\n# TYPE auth_service_agent_spawn_seconds histogram"
        );
        for (i, bound) in SPAWN_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "auth_service_agent_spawn_seconds_bucket{{le=\"{bound}\"}} {}",
                self.spawn_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.spawn_count.load(Ordering::Relaxed);
        let sum = self.spawn_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "auth_service_agent_spawn_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "auth_service_agent_spawn_seconds_sum {sum}");
        let _ = writeln!(out, "auth_service_agent_spawn_seconds_count {count}");
        for (name, help, v) in [
            ("auth_service_token_cache_hits_total", "Secret reads served with a cached token.", &self.cache_hits),
            ("auth_service_token_cache_misses_total", "Secret reads that needed a login.", &self.cache_misses),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
        }
        labeled(
            &mut out,
            "auth_service_secret_reads_total",
            "Secret reads, by outcome.",
            "outcome",
            &self.secret_reads,
        );
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
        m.secret_read("ok");
        let text = m.render();
        assert!(text.contains("auth_service_agent_spawns_total{outcome=\"success\"} 1"), "{text}");
        assert!(text.contains("auth_service_agent_spawns_total{outcome=\"login_rejected\"} 1"));
        assert!(text.contains("auth_service_agent_spawn_seconds_bucket{le=\"0.25\"} 1"));
        assert!(text.contains("auth_service_agent_spawn_seconds_bucket{le=\"2.5\"} 2"));
        assert!(text.contains("auth_service_agent_spawn_seconds_count 2"));
        assert!(text.contains("auth_service_token_cache_hits_total 1"));
        assert!(text.contains("auth_service_token_cache_misses_total 2"));
        assert!(text.contains("auth_service_secret_reads_total{outcome=\"ok\"} 1"));
    }
}
