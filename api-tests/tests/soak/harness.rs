//! A soak: tenants, profiles with short token lives, readers on both read
//! paths (some profiles with the secret cache), and an admin replacing,
//! testing and deleting profiles and rotating keys, all at once for a while;
//! then every profile is deleted. Used by the CI test (`tests/soak`, about a
//! minute) and the bench (`examples/soak.rs`, longer). It reports; the caller
//! decides what to assert.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use api_tests::{OpenBao, Postgres};
use serde_json::json;

use super::helpers::{App, AppOptions, bao_with_jwt, issued_tokens, random_hex};

/// What a soak runs.
pub struct Plan {
    /// How long the load runs.
    pub secs: u64,
    /// Tenants and profiles per tenant.
    pub tenants: usize,
    /// Profiles per tenant.
    pub profiles: usize,
    /// Reader tasks.
    pub readers: usize,
    /// Two replicas on PostgreSQL with the cluster token cache (else one on SQLite).
    pub postgres: bool,
    /// The jwt role's token TTL (cache life: this minus 120 s).
    pub token_ttl: u64,
}

/// What a soak saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Reads that answered 200.
    pub ok: usize,
    /// Failures the connector caused or can act on (a profile it read was deleted), by cause.
    pub connector_failures: BTreeMap<String, usize>,
    /// Failures the connector did not cause, by status and cause.
    pub other_failures: BTreeMap<String, usize>,
    /// Read latencies' percentiles (p50, p99, max).
    pub latency: (Duration, Duration, Duration),
    /// RSS of each replica (KiB): after the warm-up, at half time, at the end.
    pub rss: Vec<(u64, u64, u64)>,
    /// Agent runs over all replicas.
    pub spawns: f64,
    /// Agent processes still running after the end.
    pub agents_left: usize,
    /// Run folders left in the agent temp folders.
    pub run_folders_left: usize,
    /// Tokens the service got from OpenBao that are still alive once every profile is deleted.
    pub tokens_alive: usize,
    /// Admin actions done.
    pub admin_actions: BTreeMap<&'static str, usize>,
    /// For each token still alive: its accessor and what the replicas' logs say of it.
    pub alive_tokens: Vec<String>,
}

impl Report {
    /// The report as text.
    pub fn text(&self, plan: &Plan) -> String {
        let mut out = format!(
            "soak: {} s, {} tenants x {} profiles, {} readers, {}\n",
            plan.secs,
            plan.tenants,
            plan.profiles,
            plan.readers,
            if plan.postgres { "2 replicas on PostgreSQL with the cluster token cache" } else { "1 replica on SQLite" }
        );
        out += &format!("  reads ok: {}\n", self.ok);
        out += &format!("  failures the connector caused: {:?}\n", self.connector_failures);
        out += &format!("  failures the connector did not cause: {:?}\n", self.other_failures);
        let (p50, p99, max) = self.latency;
        out += &format!("  latency p50 {p50:?}, p99 {p99:?}, max {max:?}\n");
        for (i, (a, b, c)) in self.rss.iter().enumerate() {
            out += &format!("  replica {i} RSS: {} -> {} -> {} MiB\n", a / 1024, b / 1024, c / 1024);
        }
        out += &format!(
            "  agent runs: {}; agents left: {}; run folders left: {}\n",
            self.spawns, self.agents_left, self.run_folders_left
        );
        out += &format!("  tokens alive after every profile was deleted: {}\n", self.tokens_alive);
        out += &format!("  admin actions: {:?}\n", self.admin_actions);
        for t in &self.alive_tokens {
            out += &format!("  alive: {t}\n");
        }
        out
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Child processes of `pid` (the agents it runs).
fn children(pid: u32) -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_to_string(e.path().join("stat"))
                        .ok()
                        .and_then(|s| s.rsplit(')').next()?.split_whitespace().nth(1)?.parse::<u32>().ok())
                        == Some(pid)
                })
                .count()
        })
        .unwrap_or(0)
}

/// A small xorshift for choices (no crate needed; not for secrets).
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// One read: its time, status, body and whether its profile was deleted while it ran.
type ReadResult = (Duration, u16, String, bool);

struct Tenant {
    id: String,
    admin: String,
    /// The read key the readers use now (rotated by the admin).
    read: RwLock<String>,
    jwt: String,
}

/// Run a soak.
pub async fn run(plan: &Plan) -> Report {
    let (bao, issuer) = bao_with_jwt(plan.token_ttl).await;
    let before = issued_tokens(&bao);
    let _pg: Option<Postgres>;
    let dir = tempfile::tempdir().expect("tempdir");
    let jwt_dir = dir.path().join("identity");
    std::fs::create_dir_all(&jwt_dir).expect("jwt dir");
    let operator_key = format!("op-{}", random_hex(24));
    let keys = dir.path().join("seal.keys");
    std::fs::write(&keys, random_hex(32) + "\n").expect("keys");
    let mut env = vec![
        ("AUTH_SERVICE_OPERATOR_KEY".to_string(), operator_key.clone()),
        ("AUTH_SERVICE_JWT_ALLOWED_DIRS".to_string(), jwt_dir.display().to_string()),
        ("AUTH_SERVICE_TEST_COOLDOWN".to_string(), "0s".to_string()),
        ("AUTH_SERVICE_LOGIN_BACKOFF_INITIAL".to_string(), "1s".to_string()),
        ("AUTH_SERVICE_AGENT_QUEUE_TIMEOUT".to_string(), "30s".to_string()),
        ("RUST_LOG".to_string(), "info".to_string()),
    ];
    let mut apps = Vec::new();
    if plan.postgres {
        let pg = Postgres::start().await.expect("postgres");
        let url = pg.create_database("soak").expect("database");
        env.push(("AUTH_SERVICE_TOKEN_SEAL_KEY_FILE".to_string(), keys.display().to_string()));
        for _ in 0..2 {
            let mut app = App::spawn_with(AppOptions {
                database_url: Some(url.clone()),
                extra_env: env.clone(),
                config_file: None,
            })
            .await;
            app.operator_key = operator_key.clone();
            apps.push(app);
        }
        _pg = Some(pg);
    } else {
        let mut app = App::spawn_with(AppOptions { extra_env: env.clone(), ..AppOptions::default() }).await;
        app.operator_key = operator_key.clone();
        apps.push(app);
        _pg = None;
    }
    let apps = Arc::new(apps);
    let mut tenants = Vec::new();
    for i in 0..plan.tenants {
        let id = format!("t{i}");
        let t = apps[0].tenant(&id).await;
        let folder = jwt_dir.join(&id);
        std::fs::create_dir_all(&folder).expect("folder");
        let jwt = folder.join("token");
        std::fs::write(&jwt, issuer.mint("soak-host").expect("mint")).expect("jwt");
        let tenant = Tenant { id, admin: t.admin, read: RwLock::new(t.read), jwt: jwt.display().to_string() };
        for p in 0..plan.profiles {
            let (s, b, _) = apps[0]
                .call(
                    "POST",
                    &format!("/v1/tenants/{}/profiles", tenant.id),
                    &tenant.admin,
                    Some(body(&bao, &tenant, p, 0)),
                )
                .await;
            assert_eq!(s, 201, "{b}");
        }
        tenants.push(tenant);
    }
    let tenants = Arc::new(tenants);
    // Profiles deleted (and created again) during the run: a 404 on one is the connector's to see.
    let gone: Arc<Mutex<HashSet<(usize, usize)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let results: Arc<Mutex<Vec<ReadResult>>> = Arc::default();
    let mut tasks = Vec::new();
    for r in 0..plan.readers {
        let (apps, tenants, stop, results, gone) =
            (apps.clone(), tenants.clone(), stop.clone(), results.clone(), gone.clone());
        let profiles = plan.profiles;
        tasks.push(tokio::spawn(async move {
            let mut dice = Dice::new(0x9e37_79b9_7f4a_7c15 ^ r as u64);
            while !stop.load(Ordering::Relaxed) {
                let (ti, pi) = (dice.below(tenants.len()), dice.below(profiles));
                let t = &tenants[ti];
                let app = &apps[dice.below(apps.len())];
                let key = t.read.read().expect("key").clone();
                let facade = dice.below(2) == 0;
                let url = if facade {
                    format!("{}/vault/{}/p{pi}/v1/secret/data/app/db", app.base, t.id)
                } else {
                    format!("{}/v1/tenants/{}/profiles/p{pi}/secrets/secret/data/app/db", app.base, t.id)
                };
                let started = Instant::now();
                let gone_at_start = gone.lock().expect("gone").contains(&(ti, pi));
                let answer = app.http.get(url).bearer_auth(&key).header("X-Vault-Token", &key).send().await;
                let elapsed = started.elapsed();
                let (status, text) = match answer {
                    Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                    Err(e) => (0, e.to_string()),
                };
                let was_gone = gone_at_start || gone.lock().expect("gone").contains(&(ti, pi));
                results.lock().expect("results").push((elapsed, status, text, was_gone));
            }
        }));
    }
    // The admin: a change every half second.
    let admin_actions: Arc<Mutex<BTreeMap<&'static str, usize>>> = Arc::default();
    {
        let (apps, tenants, stop, gone, actions) =
            (apps.clone(), tenants.clone(), stop.clone(), gone.clone(), admin_actions.clone());
        let (profiles, addr) = (plan.profiles, bao.addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut dice = Dice::new(42);
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let (ti, pi) = (dice.below(tenants.len()), dice.below(profiles));
                let t = &tenants[ti];
                let app = &apps[dice.below(apps.len())];
                let base = format!("/v1/tenants/{}/profiles", t.id);
                let action = match dice.below(10) {
                    0..=5 => {
                        let b = body_at(&addr, t, pi, round);
                        let (s, _, _) = app.call("PUT", &format!("{base}/p{pi}"), &t.admin, Some(b)).await;
                        assert!(s == 200 || s == 404, "replace: {s}");
                        "replace"
                    }
                    6 => {
                        app.call("POST", &format!("{base}/p{pi}/test"), &t.admin, None).await;
                        "test"
                    }
                    7 => {
                        // Rotate the readers' key: a new one first, the old one revoked a moment later.
                        let (s, created, _) = app
                            .call(
                                "POST",
                                &format!("/v1/tenants/{}/api-keys", t.id),
                                &t.admin,
                                Some(json!({"name": "soak", "scopes": ["read"]})),
                            )
                            .await;
                        assert_eq!(s, 201);
                        let new = created["key"].as_str().expect("key").to_string();
                        let old = std::mem::replace(&mut *t.read.write().expect("key"), new);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let old_id = old.split('_').nth(1).expect("id");
                        app.call("DELETE", &format!("/v1/tenants/{}/api-keys/{old_id}", t.id), &t.admin, None).await;
                        "rotate key"
                    }
                    _ => {
                        // Delete and create again: readers of it see 404 in between.
                        gone.lock().expect("gone").insert((ti, pi));
                        app.call("DELETE", &format!("{base}/p{pi}"), &t.admin, None).await;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let mut b = body_at(&addr, t, pi, round);
                        b["name"] = json!(format!("p{pi}"));
                        app.call("POST", &base, &t.admin, Some(b)).await;
                        // Reads that started before the profile was back may still see it gone; later ones may not.
                        let gone = gone.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            gone.lock().expect("gone").remove(&(ti, pi));
                        });
                        "delete and create"
                    }
                };
                *actions.lock().expect("actions").entry(action).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }
    let warmup = Duration::from_secs(plan.secs.min(60) / 6);
    tokio::time::sleep(warmup).await;
    let rss_start: Vec<u64> = apps.iter().map(|a| rss_kib(a.pid())).collect();
    let rest = Duration::from_secs(plan.secs).saturating_sub(warmup);
    tokio::time::sleep(rest / 2).await;
    let rss_mid: Vec<u64> = apps.iter().map(|a| rss_kib(a.pid())).collect();
    tokio::time::sleep(rest / 2).await;
    let rss_end: Vec<u64> = apps.iter().map(|a| rss_kib(a.pid())).collect();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("soak task");
    }
    // Every profile goes; then no token of the service may be alive in OpenBao.
    for t in tenants.iter() {
        for p in 0..plan.profiles {
            apps[0].call("DELETE", &format!("/v1/tenants/{}/profiles/p{p}", t.id), &t.admin, None).await;
        }
    }
    let mut report = Report { admin_actions: admin_actions.lock().expect("actions").clone(), ..Report::default() };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut alive = Vec::new();
        for token in issued_tokens(&bao).into_iter().filter(|t| !before.contains(t)) {
            if let Some(info) = bao.token_lookup(&token).await.expect("lookup") {
                alive.push(info);
            }
        }
        report.tokens_alive = alive.len();
        if alive.is_empty() || Instant::now() > deadline {
            // What the replicas said about each token still alive (by its accessor, never the token).
            for info in &alive {
                let accessor = info.pointer("/data/accessor").and_then(|a| a.as_str()).unwrap_or("");
                let mut said: Vec<String> = Vec::new();
                for (i, app) in apps.iter().enumerate() {
                    said.extend(
                        app.log()
                            .lines()
                            .filter(|l| !accessor.is_empty() && l.contains(accessor))
                            .map(|l| format!("replica {i}: {}", l.chars().take(300).collect::<String>())),
                    );
                }
                report.alive_tokens.push(format!(
                    "accessor {accessor}, created {}, ttl {}: {}",
                    info.pointer("/data/creation_time").map(ToString::to_string).unwrap_or_default(),
                    info.pointer("/data/ttl").map(ToString::to_string).unwrap_or_default(),
                    if said.is_empty() { "never named in a replica's log".to_string() } else { said.join(" | ") }
                ));
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut latencies = Vec::new();
    for (elapsed, status, text, was_gone) in results.lock().expect("results").drain(..) {
        latencies.push(elapsed);
        if status == 200 {
            report.ok += 1;
            continue;
        }
        let cause = classify(status, &text);
        if was_gone && (status == 404 || status == 403) {
            *report.connector_failures.entry(format!("{status} profile deleted: {cause}")).or_default() += 1;
        } else {
            *report.other_failures.entry(format!("{status} {cause}")).or_default() += 1;
        }
    }
    latencies.sort();
    let pct = |p: usize| {
        latencies.get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    report.latency = (pct(50), pct(99), latencies.last().copied().unwrap_or_default());
    report.rss = (0..apps.len()).map(|i| (rss_start[i], rss_mid[i], rss_end[i])).collect();
    for app in apps.iter() {
        report.spawns += app.spawns().await;
        report.agents_left += children(app.pid());
        let runs: PathBuf = app.dir.path().join("agent-runs");
        report.run_folders_left += std::fs::read_dir(runs).map(|d| d.count()).unwrap_or(0);
    }
    report
}

/// A short cause for a failed read.
fn classify(status: u16, text: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let detail = v["detail"].as_str().or_else(|| v["errors"][0].as_str()).unwrap_or(text);
    detail.chars().take(100).collect::<String>().replace(|c: char| c.is_ascii_digit(), "#")
        + if status == 0 { " (no answer)" } else { "" }
}

fn body(bao: &OpenBao, t: &Tenant, p: usize, round: usize) -> serde_json::Value {
    let mut b = body_at(&bao.addr, t, p, round);
    b["name"] = json!(format!("p{p}"));
    b
}

/// A profile body; `round` changes its content (the test path), so a replace is a new revision and content.
fn body_at(addr: &str, t: &Tenant, p: usize, round: usize) -> serde_json::Value {
    let mut b = json!({
        "vault_address": addr,
        "method": { "type": "jwt", "config": { "path": t.jwt, "role": "app" } },
        "test_secret_path": if round.is_multiple_of(2) { "secret/data/app/db" } else { "secret/data/app/legacy" },
    });
    // A quarter of the profiles keep answers in the secret cache.
    if p.is_multiple_of(4) {
        b["secret_cache_ttl"] = json!("3s");
    }
    b
}
