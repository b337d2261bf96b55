//! The cases beyond the warm read: cold reads against a raw agent run, a herd
//! on one cold profile, many profiles cold at once, steady reads across token
//! expiry, the secret cache's set-up, and memory per cached token.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_tests::{JwtIssuer, OpenBao};
use serde_json::{Value, json};

use crate::helpers::{App, AppOptions, Tenant};
use crate::wrk::{Pids, Sample, Target, Wrk};
use crate::{peers, procs};

/// The secret every case reads.
pub const SECRET: &str = "secret/data/app/db";

/// The REST read URL of a profile.
pub fn read_url(app: &App, tenant: &str, profile: &str) -> String {
    format!("{}/v1/tenants/{tenant}/profiles/{profile}/secrets/{SECRET}", app.base)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A client for many parallel reads: one connection per request in flight.
fn client(conns: usize) -> reqwest::Client {
    api_tests::http_client_builder()
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// Status counts, e.g. `503 ×12, error ×1`.
fn tally(outcomes: &[Result<u16, String>]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for o in outcomes.iter().filter(|o| !matches!(o, Ok(200))) {
        let key = match o {
            Ok(s) => s.to_string(),
            Err(_) => "error".to_string(),
        };
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    counts.iter().map(|(k, n)| format!("{k} ×{n}")).collect::<Vec<_>>().join(", ")
}

/// Read `urls` (bearer `key`s) all at once, released together; each outcome and the wall time.
async fn read_all_at_once(reads: Vec<(String, String)>) -> (Vec<Result<u16, String>>, Duration) {
    let http = client(reads.len());
    let barrier = Arc::new(tokio::sync::Barrier::new(reads.len() + 1));
    let mut set = tokio::task::JoinSet::new();
    for (url, key) in reads {
        let (http, barrier) = (http.clone(), barrier.clone());
        set.spawn(async move {
            barrier.wait().await;
            match http.get(&url).bearer_auth(&key).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    Ok(status)
                }
                Err(e) => Err(e.to_string()),
            }
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap_or_else(|e| Err(e.to_string())));
    }
    (out, started.elapsed())
}

/// Case 2: raw agent runs against the service's first read of fresh profiles.
#[derive(Default)]
pub struct Cold {
    /// Raw agent, spawn to token in the sink, ms.
    pub raw_ms: Vec<f64>,
    /// The service's first read of a new profile, ms.
    pub service_ms: Vec<f64>,
    /// What went wrong.
    pub failures: Vec<String>,
}

/// Alternate a raw agent run and a first read of a new profile, `n` times each.
pub async fn cold(app: &App, t: &Tenant, bao: &OpenBao, issuer: &JwtIssuer, n: usize) -> Cold {
    let jwt = app.jwt_file(issuer, t, "cold");
    let service = crate::helpers::service_bin();
    let http = client(1);
    let mut out = Cold::default();
    for i in 0..n {
        match peers::raw_agent_run(&service, &bao.addr, Path::new(&jwt)).await {
            Ok(d) => out.raw_ms.push(ms(d)),
            Err(e) => out.failures.push(format!("raw agent: {e}")),
        }
        let name = format!("cold-{i}");
        app.jwt_profile(t, &name, bao, &jwt, "app", json!({})).await;
        let started = Instant::now();
        let resp = http.get(read_url(app, &t.id, &name)).bearer_auth(&t.read).send().await;
        let elapsed = started.elapsed();
        match resp.map(|r| r.status().as_u16()) {
            Ok(200) => out.service_ms.push(ms(elapsed)),
            Ok(s) => out.failures.push(format!("service first read: HTTP {s}")),
            Err(e) => out.failures.push(format!("service first read: {e}")),
        }
    }
    out
}

/// Cases 3 and 4: many reads released together.
pub struct Burst {
    /// Reads sent.
    pub reads: usize,
    /// Distinct profiles read.
    pub profiles: usize,
    /// First request sent to last answer.
    pub wall: Duration,
    /// Reads that did not answer 200.
    pub failures: usize,
    /// Their statuses.
    pub tally: String,
    /// Agent spawns during the burst.
    pub spawns: f64,
}

/// Case 3: `n` concurrent reads of one cold profile.
pub async fn herd(app: &App, t: &Tenant, bao: &OpenBao, issuer: &JwtIssuer, n: usize) -> Burst {
    let jwt = app.jwt_file(issuer, t, "herd");
    app.jwt_profile(t, "herd", bao, &jwt, "app", json!({})).await;
    let url = read_url(app, &t.id, "herd");
    let before = app.spawns().await;
    let (outcomes, wall) = read_all_at_once(vec![(url, t.read.clone()); n]).await;
    let spawns = app.spawns().await - before;
    let failures = outcomes.iter().filter(|o| !matches!(o, Ok(200))).count();
    Burst { reads: n, profiles: 1, wall, failures, tally: tally(&outcomes), spawns }
}

/// Case 4: `n` new profiles spread over `tenants`, one read each, all at once.
pub async fn many(app: &App, tenants: &[Tenant], bao: &OpenBao, issuer: &JwtIssuer, n: usize) -> Burst {
    let jwts: Vec<String> = tenants.iter().map(|t| app.jwt_file(issuer, t, "many")).collect();
    let mut reads = Vec::new();
    for i in 0..n {
        let (t, jwt) = (&tenants[i % tenants.len()], &jwts[i % tenants.len()]);
        let name = format!("many-{i}");
        app.jwt_profile(t, &name, bao, jwt, "app", json!({})).await;
        reads.push((read_url(app, &t.id, &name), t.read.clone()));
    }
    let before = app.spawns().await;
    let (outcomes, wall) = read_all_at_once(reads).await;
    let spawns = app.spawns().await - before;
    let failures = outcomes.iter().filter(|o| !matches!(o, Ok(200))).count();
    Burst { reads: n, profiles: n, wall, failures, tally: tally(&outcomes), spawns }
}

/// The token TTL of role `fast` (case 5): cached for TTL − 120 s = 5 s.
pub const FAST_TTL: u64 = 125;

/// Role `fast` on the jwt mount: the policy of `app`, tokens of [`FAST_TTL`] seconds.
pub async fn add_fast_role(bao: &OpenBao) -> anyhow::Result<()> {
    bao.api(
        "POST",
        "auth/jwt/role/fast",
        None,
        Some(json!({
            "role_type": "jwt", "bound_audiences": ["bao-test"], "user_claim": "sub",
            "token_policies": ["app-read"], "token_ttl": FAST_TTL, "token_max_ttl": 14400
        })),
    )
    .await
    .map(|_| ())
}

/// Case 5: steady reads across token expiry.
pub struct Expiry {
    /// The wrk run (or why there is none).
    pub run: Result<Sample, String>,
    /// Run length, s.
    pub secs: u64,
    /// Agent spawns during it.
    pub spawns: f64,
    /// Tokens refreshed ahead (renewed or replaced), and failed refreshes.
    pub refreshes: (f64, f64),
}

/// wrk at 16 connections for `secs` on a profile whose token lives 5 s in the cache.
pub async fn expiry(
    app: &App,
    t: &Tenant,
    bao: &OpenBao,
    issuer: &JwtIssuer,
    wrk: &Wrk,
    pids: Pids,
    secs: u64,
) -> Expiry {
    let jwt = app.jwt_file(issuer, t, "expiry");
    app.jwt_profile(t, "expiry", bao, &jwt, "fast", json!({})).await;
    let url = read_url(app, &t.id, "expiry");
    let (s, _, _) = app.call("GET", url.trim_start_matches(&app.base), &t.read, None).await;
    let counters = || async {
        (
            app.spawns().await,
            app.counter("auth_service_token_refreshes_total", "outcome=\"ok\"").await,
            app.counter("auth_service_token_refreshes_total", "outcome=\"failed\"").await,
        )
    };
    let before = counters().await;
    let target = Target {
        name: "expiry",
        label: "REST read, 125 s tokens".into(),
        url,
        header: Some(("Authorization", format!("Bearer {}", t.read))),
    };
    let run = if s == 200 {
        wrk.run(&target, 16, secs, pids).await
    } else {
        Err(format!("the first read of the profile answered HTTP {s}"))
    };
    let after = counters().await;
    Expiry { run, secs, spawns: after.0 - before.0, refreshes: (after.1 - before.1, after.2 - before.2) }
}

/// Case 6: create profile `cached` with `secret_cache_ttl: 30s`; `Err` says why the cache cannot be measured.
pub async fn cached_profile(app: &App, t: &Tenant, bao: &OpenBao, issuer: &JwtIssuer) -> Result<(), String> {
    let jwt = app.jwt_file(issuer, t, "cached");
    let body = json!({
        "name": "cached",
        "vault_address": bao.addr,
        "method": { "type": "jwt", "mount_path": "auth/jwt", "config": { "path": jwt, "role": "app" } },
        "secret_cache_ttl": "30s",
    });
    let (s, b, _) = app.call("POST", &format!("/v1/tenants/{}/profiles", t.id), &t.admin, Some(body)).await;
    if s != 201 {
        let why = b["errors"][0]["message"].as_str().or(b["detail"].as_str()).unwrap_or("").to_string();
        return Err(format!("the service refused `secret_cache_ttl` (HTTP {s}: {why})"));
    }
    let path = read_url(app, &t.id, "cached").trim_start_matches(&app.base).to_string();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (s, _, h) = app.call("GET", &path, &t.read, None).await;
        if s != 200 {
            return Err(format!("a read of the cached profile answered HTTP {s}"));
        }
        seen.push(h.get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_string());
    }
    match seen[1].as_str() {
        "HIT" => Ok(()),
        "" => Err("the profile was accepted, but reads carry no X-Cache header: the cache is not active".into()),
        other => Err(format!("the second read says X-Cache: {other}, not HIT")),
    }
}

/// Case 7: memory of a fresh service.
pub struct Memory {
    /// Right after start, KiB.
    pub idle_kib: u64,
    /// After creating the profiles, KiB.
    pub profiles_kib: u64,
    /// After one read of each (a cached token each), KiB.
    pub tokens_kib: u64,
    /// Profiles.
    pub n: usize,
    /// Tenants they are spread over.
    pub tenants: usize,
    /// Reads that did not answer 200.
    pub failures: usize,
    /// Their statuses.
    pub tally: String,
    /// Agent spawns (one per profile expected).
    pub spawns: f64,
    /// Time to read them all (8 in flight).
    pub read_wall: Duration,
}

/// A fresh service: RSS at start, after `n` profiles over `tenants` tenants, and after one read of each.
pub async fn memory(bao: &OpenBao, issuer: &JwtIssuer, env: Vec<(String, String)>, n: usize, tenants: usize) -> Memory {
    let app = App::spawn_with(AppOptions { extra_env: env, ..Default::default() }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_kib = procs::rss_kib(app.pid());
    let mut ts = Vec::new();
    for i in 0..tenants {
        ts.push(app.tenant(&format!("mem-{i}")).await);
    }
    // Profiles: one creating task per tenant.
    let mut set = tokio::task::JoinSet::new();
    for (k, t) in ts.iter().enumerate() {
        let jwt = app.jwt_file(issuer, t, "mem");
        let (http, url, admin, addr) =
            (app.http.clone(), format!("{}/v1/tenants/{}/profiles", app.base, t.id), t.admin.clone(), bao.addr.clone());
        // Tenant k holds profiles m-0 .. m-(count-1).
        let count = n / tenants + usize::from(k < n % tenants);
        set.spawn(async move {
            let mut bad = 0usize;
            for j in 0..count {
                let body = json!({
                    "name": format!("m-{j}"), "vault_address": addr,
                    "method": { "type": "jwt", "mount_path": "auth/jwt", "config": { "path": jwt, "role": "app" } },
                });
                let ok = http.post(&url).bearer_auth(&admin).json(&body).send().await.map(|r| r.status().as_u16());
                bad += usize::from(!matches!(ok, Ok(201)));
            }
            bad
        });
    }
    let mut not_created = 0;
    while let Some(r) = set.join_next().await {
        not_created += r.unwrap_or(n);
    }
    assert_eq!(not_created, 0, "memory case: {not_created} profiles could not be created");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let profiles_kib = procs::rss_kib(app.pid());

    // One read each, round-robin over the tenants, 8 in flight (4 agent slots, 2 per tenant).
    let before = app.spawns().await;
    let http = client(8);
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut set = tokio::task::JoinSet::new();
    let started = Instant::now();
    for j in 0..n.div_ceil(tenants) {
        for t in ts.iter().take(if j < n / tenants { tenants } else { n % tenants }) {
            let (http, gate, key) = (http.clone(), gate.clone(), t.read.clone());
            let url = read_url(&app, &t.id, &format!("m-{j}"));
            set.spawn(async move {
                let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
                let r = http.get(&url).bearer_auth(&key).send().await.map_err(|e| e.to_string())?;
                Ok::<u16, String>(r.status().as_u16())
            });
        }
    }
    let mut outcomes = Vec::new();
    while let Some(r) = set.join_next().await {
        outcomes.push(r.unwrap_or_else(|e| Err(e.to_string())));
    }
    let read_wall = started.elapsed();
    let spawns = app.spawns().await - before;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tokens_kib = procs::rss_kib(app.pid());
    let failures = outcomes.iter().filter(|o| !matches!(o, Ok(200))).count();
    Memory { idle_kib, profiles_kib, tokens_kib, n, tenants, failures, tally: tally(&outcomes), spawns, read_wall }
}

/// A header value for wrk from a JSON login answer.
pub fn client_token(login: &Value) -> Option<String> {
    login["auth"]["client_token"].as_str().map(str::to_string)
}

/// The restart storm (issue 23): `n` profiles read once (warm), the service
/// restarted on the same database, then every profile read at once. Run
/// without and with a seal key file: memory-only tokens mean `n` logins after
/// the restart; sealed records mean none.
pub struct Storm {
    /// Without the key file, with it.
    pub runs: Vec<(&'static str, Burst)>,
}

/// The restart storm, both ways, each on a fresh database.
pub async fn storm(bao: &OpenBao, issuer: &JwtIssuer, env: Vec<(String, String)>, n: usize, tenants: usize) -> Storm {
    let mut runs = Vec::new();
    for sealed in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("seal.keys");
        std::fs::write(&keys, crate::helpers::random_hex(32) + "\n").expect("keys");
        let mut env = env.clone();
        env.push(("AUTH_SERVICE_DATABASE_URL".into(), format!("sqlite://{}/db/auth.db", dir.path().display())));
        env.push(("AUTH_SERVICE_JWT_ALLOWED_DIRS".into(), dir.path().join("identity").display().to_string()));
        if sealed {
            env.push(("AUTH_SERVICE_TOKEN_SEAL_KEY_FILE".into(), keys.display().to_string()));
        }
        let spawn = |env: Vec<(String, String)>| async move {
            App::spawn_with(AppOptions { extra_env: env, ..Default::default() }).await
        };
        let mut app = spawn(env.clone()).await;
        let mut ts = Vec::new();
        for i in 0..tenants {
            ts.push(app.tenant(&format!("storm-{i}")).await);
        }
        std::fs::create_dir_all(dir.path().join("identity")).expect("identity");
        let mut reads = Vec::new();
        for i in 0..n {
            let t = &ts[i % ts.len()];
            let folder = dir.path().join("identity").join(&t.id);
            std::fs::create_dir_all(&folder).expect("folder");
            let jwt = folder.join("token");
            if !jwt.exists() {
                std::fs::write(&jwt, issuer.mint("storm").expect("mint")).expect("jwt");
            }
            let name = format!("s{i}");
            app.jwt_profile(t, &name, bao, &jwt.display().to_string(), "app", json!({})).await;
            reads.push((t.id.clone(), name, t.read.clone()));
        }
        let urls = |app: &App| reads.iter().map(|(t, p, k)| (read_url(app, t, p), k.clone())).collect::<Vec<_>>();
        let _ = read_all_at_once(urls(&app)).await;
        // The restart: same database, same operator key, same folders.
        let operator_key = app.operator_key.clone();
        app.stop();
        env.push(("AUTH_SERVICE_OPERATOR_KEY".into(), operator_key));
        let app = spawn(env).await;
        let (outcomes, wall) = read_all_at_once(urls(&app)).await;
        let spawns = app.spawns().await;
        let failures = outcomes.iter().filter(|o| !matches!(o, Ok(200))).count();
        runs.push((
            if sealed { "with AUTH_SERVICE_TOKEN_SEAL_KEY_FILE" } else { "memory only" },
            Burst { reads: n, profiles: n, wall, failures, tally: tally(&outcomes), spawns },
        ));
    }
    Storm { runs }
}
