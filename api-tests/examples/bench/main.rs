//! The fast-reads benchmark (issue 13): the release `auth-service` against a
//! direct read from a real OpenBao dev server and against `bao proxy`, driven
//! by `wrk` at 1, 16 and 64 connections with the targets interleaved, plus
//! cold reads, a herd, many cold profiles, reads across token expiry, the
//! secret cache and memory. Prints figures and asserts none (beyond sanity);
//! writes the tables into docs/performance.md between the bench markers.
//!
//! Run with `./scripts/bench.sh` (`BENCH_QUICK=1` for short runs; `BENCH_ONLY=memory`
//! for the memory case alone and `BENCH_ONLY=warm` for the warm reads alone,
//! printed and not written to the docs; `BENCH_PROFILE=rest,floor` for `perf`
//! profiles of those targets, folded into `docs/profiles/<target>-<BENCH_PROFILE_LABEL>.folded`).

#[path = "../../tests/api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; the benchmark uses some of them")]
mod helpers;

mod cases;
mod peers;
mod procs;
mod profile;
mod report;
mod wrk;

use std::time::{Duration, Instant};

use api_tests::{JwtIssuer, OpenBao, bao_bin};
use serde_json::json;

use helpers::{App, AppOptions};
use report::{BARE, CACHED, PROXY, Results};
use wrk::{Cell, Pids, Target, Wrk};

/// Connection counts of the warm reads.
const CONNS: [usize; 3] = [1, 16, 64];

/// Sizes and durations of one run.
struct Plan {
    quick: bool,
    rounds: usize,
    round_secs: u64,
    warmup_secs: u64,
    cold: usize,
    herd: usize,
    many: usize,
    expiry_secs: u64,
    memory: usize,
    tenants: usize,
    wrk_threads: usize,
    audit: bool,
}

impl Plan {
    fn from_env() -> Self {
        let flag = |k: &str| std::env::var(k).is_ok_and(|v| v == "1");
        let quick = flag("BENCH_QUICK");
        let wrk_threads = std::env::var("BENCH_WRK_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
        let audit = flag("BENCH_AUDIT");
        if quick {
            Plan {
                quick,
                rounds: 1,
                round_secs: 1,
                warmup_secs: 1,
                cold: 5,
                herd: 1000,
                many: 20,
                expiry_secs: 12,
                memory: 100,
                tenants: 10,
                wrk_threads,
                audit,
            }
        } else {
            Plan {
                quick,
                rounds: 2,
                round_secs: 2,
                warmup_secs: 1,
                cold: 30,
                herd: 1000,
                many: 100,
                expiry_secs: 30,
                memory: 1000,
                tenants: 10,
                wrk_threads,
                audit,
            }
        }
    }
}

/// The service's settings for the benchmark: quiet logs, no admin rate limit for the bulk set-up.
fn service_env() -> Vec<(String, String)> {
    [("RUST_LOG", "info"), ("AUTH_SERVICE_RATE_LIMIT_ADMIN", "0")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The test bed's OpenBao set-up (jwt role `app`, its policy, the secret); with
/// `audit`, exactly `helpers::bao_with_jwt`, whose raw audit device writes every
/// request to a file and so slows every path through OpenBao.
async fn openbao(audit: bool) -> (OpenBao, JwtIssuer) {
    if audit {
        return helpers::bao_with_jwt(3600).await;
    }
    let bao = OpenBao::start().await.expect("openbao starts");
    let issuer = bao
        .setup_jwt(None, "jwt", "app", "app-read", "path \"secret/data/app/*\" { capabilities = [\"read\"] }\n", 3600)
        .await
        .expect("jwt set-up");
    bao.kv2_put(None, "app/db", json!({"username": "alice", "password": "s3cr3t"})).await.expect("kv2 put");
    (bao, issuer)
}

/// One GET as wrk will send it: the status (0 when the request failed).
async fn probe(http: &reqwest::Client, t: &Target) -> u16 {
    let mut req = http.get(&t.url);
    if let Some((k, v)) = &t.header {
        req = req.header(*k, v);
    }
    req.send().await.map_or(0, |r| r.status().as_u16())
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    // Interrupted or terminated: dropping `run` stops and reaps every child and removes the temp dirs.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        () = run(started) => {}
        _ = tokio::signal::ctrl_c() => eprintln!("bench: interrupted; stopping every child"),
        _ = term.recv() => eprintln!("bench: terminated; stopping every child"),
    }
}

async fn run(started: Instant) {
    let plan = Plan::from_env();
    let machine = procs::Machine::describe(&bao_bin());
    println!(
        "bench: {} mode on {} cores; {} × {} s per line at {CONNS:?} connections",
        if plan.quick { "quick" } else { "full" },
        machine.cores,
        plan.rounds,
        plan.round_secs
    );
    let (bao, issuer) = openbao(plan.audit).await;
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "memory") {
        // Development aid: the memory case alone, printed, docs untouched.
        let m = cases::memory(&bao, &issuer, service_env(), plan.memory, plan.tenants).await;
        println!(
            "bench: memory: idle {} KiB, {} profiles {} KiB, after reads {} KiB: {:.2} KiB per cached token; failed {}",
            m.idle_kib,
            m.n,
            m.profiles_kib,
            m.tokens_kib,
            (m.tokens_kib as f64 - m.profiles_kib as f64) / m.n.max(1) as f64,
            m.failures
        );
        return;
    }
    cases::add_fast_role(&bao).await.expect("role fast");
    let bao_pid = procs::openbao_pid(&bao.addr).unwrap_or_else(|| {
        eprintln!("bench: OpenBao's process not found; its CPU shows as 0");
        0
    });
    let app = App::spawn_with(AppOptions { extra_env: service_env(), ..Default::default() }).await;
    let t = app.tenant("bench").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;

    // Direct: a token from a jwt login on the same role.
    let login = bao
        .api("POST", "auth/jwt/login", None, Some(json!({"role": "app", "jwt": issuer.mint("bench").expect("jwt")})))
        .await
        .expect("jwt login");
    let direct_token = cases::client_token(&login).expect("client token");
    let mut skipped = Vec::new();
    let proxy = match peers::BaoProxy::start(&bao, &issuer).await {
        Ok(p) => Some(p),
        Err(e) => {
            skipped.push(format!("bao proxy ({e})"));
            None
        }
    };
    let cache = cases::cached_profile(&app, &t, &bao, &issuer).await;
    if let Err(why) = &cache {
        println!("bench: secret cache not measured: {why}");
    }
    let pids = Pids { service: app.pid(), bao: bao_pid, proxy: proxy.as_ref().map_or(0, peers::BaoProxy::pid) };
    let secret = cases::SECRET;
    // The stack's own floor for a proxied read: actix-web and reqwest with nothing else.
    let bare = peers::BareProxy::start(&helpers::service_bin(), &format!("{}/v1/{secret}", bao.addr), &direct_token);
    if let Err(e) = &bare {
        skipped.push(format!("bare actix-web + reqwest proxy ({e})"));
    }
    // Each target's own process is the "service" whose CPU is read.
    let pids_of = |ti: usize| match (&bare, ti) {
        (Ok(b), BARE) => Pids { service: b.pid(), ..pids },
        _ => pids,
    };
    let targets = vec![
        Target {
            name: "direct",
            label: "direct to OpenBao".into(),
            url: format!("{}/v1/{secret}", bao.addr),
            header: Some(("X-Vault-Token", direct_token)),
        },
        Target {
            name: "proxy",
            label: "`bao proxy`".into(),
            url: proxy.as_ref().map_or(String::new(), |p| format!("{}/v1/{secret}", p.addr)),
            header: None,
        },
        Target {
            name: "rest",
            label: "auth-service REST read".into(),
            url: cases::read_url(&app, &t.id, "p"),
            header: Some(("Authorization", format!("Bearer {}", t.read))),
        },
        Target {
            name: "vault-api",
            label: "auth-service Vault API".into(),
            url: format!("{}/vault/{}/p/v1/{secret}", app.base, t.id),
            header: Some(("X-Vault-Token", t.read.clone())),
        },
        Target {
            name: "cached",
            label: "auth-service REST, secret cache".into(),
            url: cases::read_url(&app, &t.id, "cached"),
            header: Some(("Authorization", format!("Bearer {}", t.read))),
        },
        Target {
            name: "floor",
            label: "auth-service `GET /healthz` (the floor)".into(),
            url: format!("{}/healthz", app.base),
            header: None,
        },
        Target {
            name: "bare",
            label: "bare actix-web + reqwest proxy (nothing else)".into(),
            url: bare.as_ref().map_or(String::new(), |b| format!("{}/read", b.addr)),
            header: None,
        },
    ];
    // Which targets run at which connection counts (the secret cache at 16 and 64 only).
    let http = api_tests::http_client_builder().timeout(Duration::from_secs(30)).build().expect("client");
    let mut active = [true; 7];
    active[BARE] = bare.is_ok();
    active[PROXY] = proxy.is_some();
    active[CACHED] = cache.is_ok();
    for (i, t) in targets.iter().enumerate() {
        if !active[i] {
            continue;
        }
        // The first read also logs the service's profile in: every measured read after it is warm.
        let status = probe(&http, t).await;
        if status != 200 {
            println!("bench: {} answers HTTP {status} to a plain read: not measured", t.label);
            skipped.push(format!("{} (answers HTTP {status})", t.label));
            active[i] = false;
        }
    }
    let wrk = Wrk::new(plan.wrk_threads);
    for (ti, t) in targets.iter().enumerate().filter(|(ti, _)| active[*ti]) {
        if let Err(e) = wrk.run(t, 16, plan.warmup_secs, pids_of(ti)).await {
            eprintln!("bench: warm-up of {}: {e}", t.name);
        }
    }
    if let Ok(wanted) = std::env::var("BENCH_PROFILE") {
        let label = std::env::var("BENCH_PROFILE_LABEL").unwrap_or_else(|_| "now".into());
        let dir = api_tests::workspace_root().join("docs/profiles");
        for name in wanted.split(',') {
            let Some(ti) = targets.iter().position(|t| t.name == name) else { continue };
            if let Err(e) = profile::profile(&wrk, &targets[ti], pids_of(ti), &dir, &format!("{name}-{label}")).await {
                eprintln!("bench: profile of {name}: {e}");
            }
        }
        return;
    }
    let spawns_before = app.spawns().await;
    let mut cells = vec![vec![Cell::default(); CONNS.len()]; targets.len()];
    for (ci, &c) in CONNS.iter().enumerate() {
        for _ in 0..plan.rounds {
            for (ti, t) in targets.iter().enumerate() {
                if !active[ti] || (ti == CACHED && c < 16) {
                    continue;
                }
                match wrk.run(t, c, plan.round_secs, pids_of(ti)).await {
                    Ok(s) => cells[ti][ci].samples.push(s),
                    Err(e) => eprintln!("bench: {} at {c} conns: {e}", t.name),
                }
            }
        }
        let line: Vec<String> = targets
            .iter()
            .enumerate()
            .filter(|(ti, _)| !cells[*ti][ci].samples.is_empty())
            .map(|(ti, t)| format!("{} {:.0}/s", t.name, cells[ti][ci].rps()))
            .collect();
        println!("bench [{:>3} s]: {c} conns: {}", started.elapsed().as_secs(), line.join(", "));
    }
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "warm") {
        for (ti, t) in targets.iter().enumerate() {
            for (ci, c) in CONNS.iter().enumerate() {
                let cell = &cells[ti][ci];
                if !cell.samples.is_empty() {
                    println!(
                        "bench: warm: {} at {c}: {:.0}/s, service {:.1} µs/req",
                        t.name,
                        cell.rps(),
                        cell.cpu_us(0, wrk.clk_tck)
                    );
                }
            }
        }
        return;
    }
    let warm_spawns = app.spawns().await - spawns_before;
    if warm_spawns > 0.0 {
        println!("bench: note: {warm_spawns} agent spawns during the warm reads");
    }

    println!("bench [{:>3} s]: cold reads ({} samples)", started.elapsed().as_secs(), plan.cold);
    let cold = cases::cold(&app, &t, &bao, &issuer, plan.cold).await;
    println!("bench [{:>3} s]: herd ({} reads of one cold profile)", started.elapsed().as_secs(), plan.herd);
    let herd = cases::herd(&app, &t, &bao, &issuer, plan.herd).await;
    let mut tenants = Vec::new();
    for i in 0..plan.tenants {
        tenants.push(app.tenant(&format!("many-{i}")).await);
    }
    println!(
        "bench [{:>3} s]: {} profiles cold at once over {} tenants",
        started.elapsed().as_secs(),
        plan.many,
        plan.tenants
    );
    let many = cases::many(&app, &tenants, &bao, &issuer, plan.many).await;
    println!("bench [{:>3} s]: {} s of reads across token expiry", started.elapsed().as_secs(), plan.expiry_secs);
    let expiry = cases::expiry(&app, &t, &bao, &issuer, &wrk, pids, plan.expiry_secs).await;
    drop(proxy);
    drop(app);

    println!(
        "bench [{:>3} s]: memory ({} profiles over {} tenants on a fresh service)",
        started.elapsed().as_secs(),
        plan.memory,
        plan.tenants
    );
    let memory = cases::memory(&bao, &issuer, service_env(), plan.memory, plan.tenants).await;
    println!(
        "bench [{:>3} s]: restart storm ({} profiles), without and with sealed tokens",
        started.elapsed().as_secs(),
        plan.many
    );
    let storm = cases::storm(&bao, &issuer, service_env(), plan.many, plan.tenants).await;
    drop(bao);

    let results = Results {
        quick: plan.quick,
        rounds: (plan.rounds, plan.round_secs),
        conns: CONNS.to_vec(),
        targets,
        cells,
        skipped,
        clk_tck: wrk.clk_tck,
        cold,
        herd,
        many,
        storm,
        expiry,
        cache,
        memory,
        machine,
        build_secs: std::env::var("BENCH_BUILD_SECONDS").ok().and_then(|v| v.parse().ok()),
        run_secs: started.elapsed().as_secs(),
        audit: plan.audit,
    };
    let section = results.markdown();
    println!("\n{section}");
    let doc = api_tests::workspace_root().join("docs/performance.md");
    match report::write_doc(&doc, &section) {
        Ok(()) => println!("bench: written to {}", doc.display()),
        Err(e) => eprintln!("bench: could not write {}: {e}", doc.display()),
    }
}
