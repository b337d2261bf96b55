//! Benchmark: the warm secret-read path through the real `auth-service`
//! against the same read done directly and through `bao proxy` (the natural
//! peer: auto-auth plus a forwarding proxy), all on loopback against a real
//! OpenBao dev server, plus the service's Vault-compatible endpoint. Also: cold login (test connection, one agent spawn) and
//! the service's resident memory after the load. Prints figures; asserts none.
//!
//! Run with `./scripts/bench.sh` (release build).

#[path = "../tests/api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; the benchmark uses some of them")]
mod helpers;

use std::time::{Duration, Instant};

use api_tests::bao_bin;
use serde_json::json;

const READS: usize = 2000;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<34} n={:<5} median={:>8.3} ms  p90={:>8.3} ms  p99={:>8.3} ms  mean={:>8.3} ms",
        samples.len(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.9).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3
    );
}

async fn timed_reads(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Vec<Duration> {
    let mut out = Vec::with_capacity(READS);
    for i in 0..READS + 50 {
        let mut req = http.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let started = Instant::now();
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        let _ = resp.bytes().await.expect("body");
        if i >= 50 {
            out.push(started.elapsed());
        }
    }
    out
}

/// The same read through two targets, alternating A B B A, so drift, noise on
/// a shared machine and any first-or-second effect hit both alike.
async fn interleaved(
    http: &reqwest::Client,
    a: (&str, &[(&str, &str)]),
    b: (&str, &[(&str, &str)]),
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut out_a, mut out_b) = (Vec::with_capacity(READS), Vec::with_capacity(READS));
    for i in 0..READS + 50 {
        let order = if i % 2 == 0 { [(a, true), (b, false)] } else { [(b, false), (a, true)] };
        for (target, is_a) in order {
            let out = if is_a { &mut out_a } else { &mut out_b };
            let mut req = http.get(target.0);
            for (k, v) in target.1 {
                req = req.header(*k, *v);
            }
            let started = Instant::now();
            let resp = req.send().await.expect("send");
            assert_eq!(resp.status().as_u16(), 200, "{}", target.0);
            let _ = resp.bytes().await.expect("body");
            if i >= 50 {
                out.push(started.elapsed());
            }
        }
    }
    (out_a, out_b)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()))
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let (bao, issuer) = helpers::bao_with_jwt(3600).await;
    let app = helpers::App::spawn().await;
    let t = app.tenant("bench").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let http = api_tests::http_client_builder().pool_max_idle_per_host(4).build().expect("client");

    // Cold logins: one agent spawn + lookup-self each.
    let mut cold = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let (s, r, _) = app.call("POST", "/v1/tenants/bench/profiles/p/test", &t.admin, None).await;
        assert!(s == 200 && r["ok"] == json!(true), "{r}");
        cold.push(started.elapsed());
    }

    // Direct: a token of the same role, read straight from OpenBao.
    let login = bao
        .api("POST", "auth/jwt/login", None, Some(json!({"role": "app", "jwt": issuer.mint("bench").expect("jwt")})))
        .await
        .expect("login");
    let token = login["auth"]["client_token"].as_str().expect("token").to_string();
    let direct = timed_reads(&http, &format!("{}/v1/secret/data/app/db", bao.addr), &[("X-Vault-Token", &token)]).await;

    // Through bao proxy with auto-auth.
    let dir = tempfile::tempdir().expect("tempdir");
    let pjwt = issuer.write_jwt_file(dir.path(), "proxy").expect("jwt");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let cfg = dir.path().join("proxy.hcl");
    std::fs::write(
        &cfg,
        format!(
            "vault {{ address = \"{addr}\" }}\nauto_auth {{\n method \"jwt\" {{\n  mount_path = \"auth/jwt\"\n  config = {{\n   path = \"{jwt}\"\n   role = \"app\"\n   remove_jwt_after_reading = false\n  }}\n }}\n}}\ncache {{}}\napi_proxy {{ use_auto_auth_token = true }}\nlistener \"tcp\" {{\n address = \"127.0.0.1:{port}\"\n tls_disable = true\n}}\n",
            addr = bao.addr,
            jwt = pjwt.display()
        ),
    )
    .expect("proxy config");
    let mut proxy = std::process::Command::new(bao_bin())
        .arg("proxy")
        .arg(format!("-config={}", cfg.display()))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("bao proxy");
    let proxy_url = format!("http://127.0.0.1:{port}/v1/secret/data/app/db");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = http.get(&proxy_url).send().await
            && r.status().as_u16() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "bao proxy did not serve within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let via_proxy = timed_reads(&http, &proxy_url, &[]).await;
    let _ = proxy.kill();
    let _ = proxy.wait();

    // Through the service, warm (the test connection left a cached token).
    let spawns_before = app.spawns().await;
    let bearer = format!("Bearer {}", t.read);
    // The REST read and the Vault-compatible endpoint (the same read as a Vault client sends it), interleaved.
    let rest_url = format!("{}/v1/tenants/bench/profiles/p/secrets/secret/data/app/db", app.base);
    let facade_url = format!("{}/vault/bench/p/v1/secret/data/app/db", app.base);
    let (service, facade) =
        interleaved(&http, (&rest_url, &[("Authorization", &bearer)]), (&facade_url, &[("X-Vault-Token", &t.read)]))
            .await;
    let spawns_after = app.spawns().await;

    println!("warm secret reads on loopback, sequential, {READS} each after 50 warm-up:");
    summary("direct to OpenBao", direct);
    summary("bao proxy (auto-auth, api_proxy)", via_proxy);
    summary("auth-service (cached token)", service);
    summary("auth-service Vault API (/vault/...)", facade);
    println!("agent spawns during the warm reads: {}", spawns_after - spawns_before);
    summary("cold login (test connection)", cold);
    println!("auth-service resident memory after the load: {} KiB", rss_kib(app.pid()));
}
