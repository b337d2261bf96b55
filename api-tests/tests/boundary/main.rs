//! The boundary between a connector's read key and the profile's Vault token,
//! tried as a hostile client would, against the real binary in front of a real
//! OpenBao whose raw audit log shows every request it received.
//!
//! Requests go out over raw TCP: an HTTP client library would resolve `..`
//! and `\` itself before sending, and hide exactly what is being tested.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::time::Duration;

use api_tests::{OpenBao, Postgres};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use helpers::{App, AppOptions, Tenant, assert_no_secrets_logged, bao_with_jwt, issued_tokens};

/// Send one request exactly as written (path and all) and read the whole answer: (status, body).
async fn raw(app: &App, method: &str, path: &str, key: &str, body: &str) -> (u16, String) {
    let host = app.base.trim_start_matches("http://").to_string();
    let mut sock = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(&host))
        .await
        .expect("connect in time")
        .expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nx-vault-token: {key}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), sock.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Traversals as a client may spell them: plain, single- and double-encoded
/// dots, dots with a tab, a space, a NUL or another control character, extra and
/// trailing dots.
const DOTS: [&str; 14] = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%252e%252e",
    "%25252e%25252e",
    ".%09.",
    ". .",
    "..%00",
    "%00..",
    "..%01",
    "...",
    "..%20",
    "..%0a",
];
/// Separators: `/`, `\`, and both encoded once and twice.
const SEPARATORS: [&str; 6] = ["/", "\\", "%2F", "%5C", "%252F", "%255C"];
/// Where an escape would lead, in several letter cases.
const TARGETS: [&str; 8] = [
    "auth/token/lookup-self",
    "AUTH/token/lookup-self",
    "Auth/Token/lookup-self",
    "sys/auth",
    "SYS/mounts",
    "identity/oidc/token/x",
    "cubbyhole/x",
    "CubbyHole/x",
];

/// Every escape attempt: `DOTS` × `SEPARATORS` × `TARGETS`, four levels deep.
fn escapes() -> Vec<String> {
    let mut out = Vec::new();
    for dots in DOTS {
        for sep in SEPARATORS {
            for target in TARGETS {
                out.push(format!("{}{target}", format!("{dots}{sep}").repeat(4)));
            }
        }
    }
    // The target itself, and behind a namespace-like prefix.
    for target in TARGETS {
        out.push(target.to_string());
        out.push(format!("ns1/{target}"));
    }
    out
}

/// The paths of every request OpenBao received after `skip` audit lines (responses only, once each).
fn vault_paths(bao: &OpenBao, skip: usize) -> Vec<String> {
    bao.audit_log()
        .lines()
        .skip(skip)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "response")
        .filter_map(|v| v.pointer("/request/path").and_then(Value::as_str).map(str::to_string))
        .collect()
}

#[tokio::test]
async fn no_encoding_of_an_escape_reaches_vault_beyond_secret_reads_mounts_lookup_self_and_the_login() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "main", &bao, &jwt, "app", json!({})).await;
    // One honest read: the token is cached, and the audit log from here on is the attack's.
    let (s, b, _) = app.call("GET", "/v1/tenants/acme/profiles/main/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 200, "{b}");
    let before = bao.audit_log().lines().count();
    let attacks = escapes();
    let mut answers = Vec::new();
    let mut tried = 0;
    for escape in &attacks {
        let routes = [
            ("GET", format!("/v1/tenants/acme/profiles/main/secrets/secret/data/app/{escape}"), String::new()),
            ("GET", format!("/v1/tenants/acme/profiles/main/secrets/{escape}"), String::new()),
            ("GET", format!("/vault/acme/main/v1/secret/data/app/{escape}"), String::new()),
            ("GET", format!("/vault/acme/main/v1/{escape}"), String::new()),
            ("LIST", format!("/vault/acme/main/v1/secret/metadata/{escape}"), String::new()),
            ("GET", format!("/vault/acme/main/v1/sys/internal/ui/mounts/{escape}"), String::new()),
            ("GET", format!("/vault/acme/main/v1/sys/internal/ui/mounts/secret/{escape}"), String::new()),
            ("PUT", format!("/vault/acme/main/v1/sys/leases/renew/{escape}"), String::new()),
            ("PUT", format!("/vault/acme/main/v1/sys/leases/revoke/{escape}"), String::new()),
            ("PUT", format!("/vault/acme/main/v1/sys/leases/lookup/{escape}"), String::new()),
            ("POST", "/vault/acme/main/v1/sys/capabilities-self".to_string(), json!({ "paths": [escape] }).to_string()),
            (
                "POST",
                "/v1/tenants/acme/profiles/main/leases/renew".to_string(),
                json!({ "lease_id": escape }).to_string(),
            ),
            (
                "POST",
                "/v1/tenants/acme/profiles/main/leases/revoke".to_string(),
                json!({ "lease_id": escape }).to_string(),
            ),
        ];
        for (method, path, body) in routes {
            let (status, answer) = raw(&app, method, &path, &t.read, &body).await;
            assert!(status != 0 && status != 500, "{method} {path}: {status} {answer}");
            // Only the key describing itself is a 200 here (checked below to carry no Vault token).
            let own_lookup = path == "/vault/acme/main/v1/auth/token/lookup-self";
            assert!(status != 200 || method != "GET" || own_lookup, "{method} {path} was served: {answer}");
            answers.push(answer);
            tried += 1;
        }
    }
    let issued = issued_tokens(&bao);
    assert!(!issued.is_empty(), "OpenBao issued the profile's token; nothing to look for otherwise");
    for answer in &answers {
        for token in &issued {
            assert!(!answer.contains(token.as_str()), "an answer carries a token OpenBao issued");
        }
    }
    // OpenBao saw nothing but what the served set allows: no request at all
    // (the token is cached), or at most a capabilities query of a served path.
    let seen = vault_paths(&bao, before);
    let allowed = |p: &str| {
        p.starts_with("secret/")
            || p == "sys/capabilities-self"
            || p == "auth/token/lookup-self"
            || p == "auth/jwt/login"
            || p.starts_with("sys/internal/ui/mounts/secret/")
    };
    let outside: Vec<&String> = seen.iter().filter(|p| !allowed(p)).collect();
    assert!(outside.is_empty(), "requests reached OpenBao outside the served set: {outside:?}");
    eprintln!(
        "{tried} hostile requests ({} escapes), OpenBao saw {} requests, all served ones",
        attacks.len(),
        seen.len()
    );
    assert_no_secrets_logged(&app, &bao, &[&t]);
}

/// Reads with NUL and control characters beside ordinary reads, then every
/// ordinary read must be in the trail and the odd ones escaped.
async fn audit_keeps_every_event_beside_hostile_paths(
    app: &App,
    bao: &OpenBao,
    t: &Tenant,
    issuer: &api_tests::JwtIssuer,
) {
    let jwt = app.jwt_file(issuer, t, "token");
    app.jwt_profile(t, "main", bao, &jwt, "app", json!({})).await;
    let mut requests = Vec::new();
    for i in 0..20 {
        requests.push(format!("/v1/tenants/{}/profiles/main/secrets/secret/data/app/db?n={i}", t.id));
        requests.push(format!("/v1/tenants/{}/profiles/main/secrets/secret/data/app/x%00{i}", t.id));
        requests.push(format!("/v1/tenants/{}/profiles/main/secrets/secret/data/app/y%01%1b{i}", t.id));
        requests.push(format!("/vault/{}/main/v1/secret/data/app/z%00{i}", t.id));
    }
    // Concurrently, so the hostile rows share batches with the ordinary ones.
    let answers = futures_join(app, &requests, &t.read).await;
    for (path, (status, answer)) in requests.iter().zip(&answers) {
        assert!(*status == 200 || *status == 400 || *status == 403, "{path}: {status} {answer}");
    }
    // The writer gathers for 50 ms; give it a bounded moment.
    let mut events = Vec::new();
    for _ in 0..50 {
        let (s, body, _) = app.call("GET", &format!("/v1/tenants/{}/audit?limit=1000", t.id), &t.admin, None).await;
        assert_eq!(s, 200, "{body}");
        events = body["events"].as_array().cloned().unwrap_or_default();
        if events.iter().filter(|e| e["action"] == "secret.read").count() >= requests.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reads: Vec<&Value> = events.iter().filter(|e| e["action"] == "secret.read").collect();
    assert_eq!(reads.len(), requests.len(), "every read is in the trail: {reads:?}");
    assert_eq!(reads.iter().filter(|e| e["outcome"] == "ok").count(), 20, "the ordinary reads are all there");
    let paths: Vec<&str> = reads.iter().filter_map(|e| e["path"].as_str()).collect();
    assert!(paths.iter().any(|p| p.ends_with("x\\u00003")), "a NUL shows escaped: {paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("y\\u0001\\u001b3")), "control characters show escaped: {paths:?}");
    assert!(paths.iter().all(|p| !p.contains('\0') && !p.chars().any(char::is_control)), "{paths:?}");
    assert_eq!(app.counter("auth_service_audit_write_failures_total", "").await, 0.0);
}

/// `requests` at once (GET), each over its own connection.
async fn futures_join(app: &App, requests: &[String], key: &str) -> Vec<(u16, String)> {
    let mut handles = Vec::new();
    for path in requests {
        let (base, path, key) = (app.base.clone(), path.clone(), key.to_string());
        handles.push(tokio::spawn(async move {
            let host = base.trim_start_matches("http://").to_string();
            let mut sock = tokio::net::TcpStream::connect(&host).await.expect("connect");
            let req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {key}\r\nx-vault-token: {key}\r\nconnection: close\r\n\r\n");
            sock.write_all(req.as_bytes()).await.expect("send");
            let mut out = Vec::new();
            tokio::time::timeout(Duration::from_secs(30), sock.read_to_end(&mut out)).await.expect("in time").expect("read");
            let text = String::from_utf8_lossy(&out).to_string();
            (text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), text)
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("request task"));
    }
    out
}

#[tokio::test]
async fn on_sqlite_a_nul_in_a_read_path_never_costs_the_audit_trail_an_event() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    audit_keeps_every_event_beside_hostile_paths(&app, &bao, &t, &issuer).await;
}

#[tokio::test]
async fn on_postgresql_a_nul_in_a_read_path_never_costs_the_audit_trail_an_event() {
    let required = std::env::var("AUTH_SERVICE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    if Postgres::bin_dir().is_none() {
        assert!(!required, "PostgreSQL is required but not installed");
        eprintln!("PostgreSQL not installed: skipped");
        return;
    }
    let pg = Postgres::start().await.expect("postgres");
    let url = pg.create_database("audit_nul").expect("database");
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn_with(AppOptions { database_url: Some(url), ..AppOptions::default() }).await;
    let t = app.tenant("acme").await;
    audit_keeps_every_event_beside_hostile_paths(&app, &bao, &t, &issuer).await;
}

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

#[tokio::test]
async fn ten_thousand_reads_with_random_query_strings_keep_the_secret_cache_within_its_bound() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "cached", &bao, &jwt, "app", json!({ "secret_cache_ttl": "10m" })).await;
    let read = "/v1/tenants/acme/profiles/cached/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", read, &t.read, None).await.0, 200);
    let rss_before = rss_kib(app.pid());
    let mut handles = Vec::new();
    for worker in 0..8 {
        let (http, base, key) = (app.http.clone(), app.base.clone(), t.read.clone());
        handles.push(tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            for i in 0..1250 {
                let url = format!("{base}{read}?x{worker}={}&pad={}", helpers::random_hex(8), "p".repeat(i % 300));
                let s = http.get(url).bearer_auth(&key).send().await.expect("read").status().as_u16();
                *statuses.entry(s).or_default() += 1;
            }
            statuses
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for h in handles {
        for (s, n) in h.await.expect("worker") {
            *statuses.entry(s).or_default() += n;
        }
    }
    assert_eq!(statuses.get(&200), Some(&10_000), "{statuses:?}");
    let entries = app.counter("auth_service_cache_entries", "cache=\"secrets\"").await;
    let rss_after = rss_kib(app.pid());
    eprintln!("secret cache entries: {entries}; RSS {rss_before} KiB -> {rss_after} KiB");
    assert!(entries <= 1.0, "reads with other parameters are not kept: {entries} entries");
    assert!(rss_after < rss_before + 32 * 1024, "RSS grew from {rss_before} to {rss_after} KiB");
    // Only `version` is a cache key: it is kept, with a HIT on the second read.
    let v1 = format!("{read}?version=1");
    assert_eq!(
        app.call("GET", &v1, &t.read, None).await.2.get("x-cache").map(|v| v.to_str().unwrap_or("")),
        Some("MISS")
    );
    assert_eq!(
        app.call("GET", &v1, &t.read, None).await.2.get("x-cache").map(|v| v.to_str().unwrap_or("")),
        Some("HIT")
    );
}

#[tokio::test]
async fn a_jwt_symlink_swapped_to_another_tenants_folder_after_saving_stops_the_next_login() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let own = app.jwt_file(&issuer, &a, "real.jwt");
    let foreign = app.jwt_file(&issuer, &b, "theirs.jwt");
    let foreign_jwt = std::fs::read_to_string(&foreign).expect("foreign jwt");
    let link = app.jwt_dir.join("tenant-a").join("link.jwt");
    std::os::unix::fs::symlink(&own, &link).expect("symlink");
    app.jwt_profile(&a, "p", &bao, &link.display().to_string(), "app", json!({})).await;
    // After saving, the link is pointed at tenant B's file.
    std::fs::remove_file(&link).expect("unlink");
    std::os::unix::fs::symlink(&foreign, &link).expect("symlink to the foreign file");
    let spawns = app.spawns().await;
    let (s, body, _) =
        app.call("GET", "/v1/tenants/tenant-a/profiles/p/secrets/secret/data/app/db", &a.read, None).await;
    assert!(s == 403 || s == 503, "{s} {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("tenant's own folder"), "{body}");
    assert_eq!(app.spawns().await, spawns, "no agent ran");
    assert!(!bao.audit_log().contains(foreign_jwt.trim()), "OpenBao never saw tenant B's JWT");
    // Pointed back, the next login works with the resolved path.
    std::fs::remove_file(&link).expect("unlink");
    std::os::unix::fs::symlink(&own, &link).expect("symlink back");
    let (s, body, _) = app.call("POST", "/v1/tenants/tenant-a/profiles/p/test", &a.admin, None).await;
    assert_eq!((s, body["ok"].as_bool()), (200, Some(true)), "{body}");
}

#[tokio::test]
async fn made_up_keys_are_refused_and_docs_pages_carry_the_consoles_headers() {
    let app = App::spawn().await;
    for key in [
        "vas_0123456789abcdef_",
        "vas_0123456789ABCDEF_00",
        "vas_../../x_y",
        &format!("vas_{}_{}", "a".repeat(16), "b".repeat(64)),
    ] {
        let (s, _, _) = app.call("GET", "/v1/tenants/acme/profiles", key, None).await;
        assert_eq!(s, 401, "{key}");
    }
    let resp = app.http.get(format!("{}/docs/", app.base)).send().await.expect("docs");
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers();
    assert!(
        h.get("content-security-policy").is_some_and(|v| v.to_str().unwrap_or("").contains("frame-ancestors 'none'"))
    );
    assert_eq!(h.get("x-frame-options").map(|v| v.to_str().unwrap_or("")), Some("DENY"));
    assert_eq!(h.get("referrer-policy").map(|v| v.to_str().unwrap_or("")), Some("no-referrer"));
}
