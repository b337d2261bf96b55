//! The cluster token cache (`AUTH_SERVICE_TOKEN_SEAL_KEY_FILE`): replicas of the
//! real binary on a real PostgreSQL (and one on SQLite) share one login per
//! profile content, keep it across restarts, and keep nothing usable at rest.
//! Real OpenBao with jwt logins.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use api_tests::{JwtIssuer, OpenBao, Postgres};
use serde_json::json;

use helpers::{App, AppOptions, Tenant, bao_with_jwt, issued_tokens, random_hex};

/// A key file holding `keys` (hex lines), mode 0400.
fn key_file(dir: &Path, name: &str, keys: &[&str]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, keys.join("\n") + "\n").expect("key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("mode");
    path
}

/// Everything replicas of one deployment share.
struct Cluster {
    pg: Option<Postgres>,
    db: String,
    bao: OpenBao,
    issuer: JwtIssuer,
    operator_key: String,
    jwt_dir: PathBuf,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// PostgreSQL (None when it is not installed and not required), OpenBao and a shared folder.
    async fn postgres(name: &str) -> Option<Cluster> {
        Self::postgres_with_ttl(name, 3600).await
    }

    /// As [`Cluster::postgres`], with logins issuing tokens of `ttl_secs`.
    async fn postgres_with_ttl(name: &str, ttl_secs: u64) -> Option<Cluster> {
        let required = std::env::var("AUTH_SERVICE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        if Postgres::bin_dir().is_none() {
            assert!(!required, "PostgreSQL is required but not installed");
            eprintln!("PostgreSQL not installed: cluster test skipped");
            return None;
        }
        let pg = Postgres::start().await.expect("postgres");
        let db = pg.create_database(name).expect("database");
        Some(Self::with_db(Some(pg), db, ttl_secs).await)
    }

    async fn with_db(pg: Option<Postgres>, db: String, ttl_secs: u64) -> Cluster {
        let (bao, issuer) = bao_with_jwt(ttl_secs).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let jwt_dir = dir.path().join("identity");
        std::fs::create_dir_all(&jwt_dir).expect("jwt dir");
        Cluster { pg, db, bao, issuer, operator_key: format!("op-{}", random_hex(24)), jwt_dir, dir }
    }

    /// A replica with the seal key file `keys`.
    async fn replica(&self, keys: &Path) -> App {
        let mut app = App::spawn_with(AppOptions {
            database_url: Some(self.db.clone()),
            extra_env: vec![
                ("AUTH_SERVICE_OPERATOR_KEY".into(), self.operator_key.clone()),
                ("AUTH_SERVICE_JWT_ALLOWED_DIRS".into(), self.jwt_dir.display().to_string()),
                ("AUTH_SERVICE_TOKEN_SEAL_KEY_FILE".into(), keys.display().to_string()),
                ("AUTH_SERVICE_AGENT_QUEUE_TIMEOUT".into(), "60s".into()),
            ],
            config_file: None,
        })
        .await;
        app.operator_key = self.operator_key.clone();
        app
    }

    /// OpenBao's database engine on the cluster's PostgreSQL (role `app`: leases of
    /// 600 s, at most 3600 s); the jwt role may also read its credentials and renew
    /// and revoke their leases.
    async fn database_engine(&self) {
        let pg = self.pg.as_ref().expect("pg");
        let policy = "path \"secret/data/app/*\" { capabilities = [\"read\"] }\n\
                      path \"database/creds/app\" { capabilities = [\"read\"] }\n\
                      path \"sys/leases/renew\" { capabilities = [\"update\"] }\n\
                      path \"sys/leases/revoke\" { capabilities = [\"update\"] }\n";
        self.bao
            .api("PUT", "sys/policies/acl/app-read", None, Some(json!({ "policy": policy })))
            .await
            .expect("policy");
        self.bao.setup_database(pg, "app", 600, 3600).await.expect("database engine");
    }

    /// A tenant with `profiles` jwt profiles, created through `app`.
    async fn tenant(&self, app: &App, id: &str, profiles: usize) -> Tenant {
        let t = app.tenant(id).await;
        let folder = self.jwt_dir.join(id);
        std::fs::create_dir_all(&folder).expect("folder");
        let jwt = folder.join("token");
        std::fs::write(&jwt, self.issuer.mint("connector-host").expect("mint")).expect("jwt");
        for i in 0..profiles {
            let body = json!({ "name": format!("p{i}"), "vault_address": self.bao.addr,
                "method": { "type": "jwt", "config": { "path": jwt.display().to_string(), "role": "app" } } });
            let (s, b, _) = app.call("POST", &format!("/v1/tenants/{id}/profiles"), &t.admin, Some(body)).await;
            assert_eq!(s, 201, "{b}");
        }
        t
    }
}

fn read_path(t: &Tenant, i: usize) -> String {
    format!("/v1/tenants/{}/profiles/p{i}/secrets/secret/data/app/db", t.id)
}

#[tokio::test]
async fn two_hundred_profiles_read_through_two_replicas_log_in_two_hundred_times_not_four_hundred() {
    let Some(c) = Cluster::postgres("one_login").await else { return };
    let keys = key_file(c.dir.path(), "seal.keys", &[&random_hex(32)]);
    let (a, b) = (c.replica(&keys).await, c.replica(&keys).await);
    let mut tenants = Vec::new();
    for id in ["t1", "t2", "t3", "t4"] {
        tenants.push(c.tenant(&a, id, 50).await);
    }
    // Every profile is read through both replicas at the same time.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in &tenants {
        for i in 0..50 {
            for app in [&a, &b] {
                let (http, url, key) = (app.http.clone(), format!("{}{}", app.base, read_path(t, i)), t.read.clone());
                tasks.push(tokio::spawn(async move {
                    http.get(url).bearer_auth(key).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
                }));
            }
        }
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for task in tasks {
        *statuses.entry(task.await.expect("read")).or_default() += 1;
    }
    assert_eq!(statuses.get(&200), Some(&400), "{statuses:?}");
    let spawns = a.spawns().await + b.spawns().await;
    eprintln!("400 cold reads of 200 profiles on 2 replicas: {spawns} agent runs in {:?}", started.elapsed());
    assert_eq!(spawns, 200.0, "one login per profile for the cluster");
    let from_store = a.counter("auth_service_logins_total", "origin=\"from_store\"").await
        + b.counter("auth_service_logins_total", "origin=\"from_store\"").await;
    assert_eq!(from_store, 200.0, "the other replica took each login from the store");

    // At rest: a dump of the database holds no token OpenBao issued, nor the key.
    let dump = c.pg.as_ref().expect("pg").dump("one_login").expect("pg_dump");
    assert!(dump.contains("token_records"), "the dump has the records table");
    let key = std::fs::read_to_string(&keys).expect("keys");
    assert!(!dump.contains(key.trim()), "the key is not in the database");
    let issued = issued_tokens(&c.bao);
    assert!(issued.len() >= 200);
    for token in &issued {
        assert!(!dump.contains(token.as_str()), "a token OpenBao issued is in the dump");
    }
}

#[tokio::test]
async fn rolling_and_full_restarts_are_warm_and_reads_never_fail() {
    let Some(c) = Cluster::postgres("restarts").await else { return };
    let keys = key_file(c.dir.path(), "seal.keys", &[&random_hex(32)]);
    let mut a = c.replica(&keys).await;
    let mut b = c.replica(&keys).await;
    let t = c.tenant(&a, "t1", 20).await;
    for i in 0..20 {
        assert_eq!(a.call("GET", &read_path(&t, i), &t.read, None).await.0, 200);
    }
    assert_eq!(a.spawns().await, 20.0);
    // Readers on whichever replica is up, as a load balancer would send them.
    let up: Arc<[std::sync::Mutex<Option<String>>; 2]> =
        Arc::new([std::sync::Mutex::new(Some(a.base.clone())), std::sync::Mutex::new(Some(b.base.clone()))]);
    let (stop, failed, done) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for r in 0..4 {
        let (up, stop, failed, done, latencies) =
            (up.clone(), stop.clone(), failed.clone(), done.clone(), latencies.clone());
        let (http, key, t_id) = (a.http.clone(), t.read.clone(), t.id.clone());
        readers.push(tokio::spawn(async move {
            let mut n = r;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let base =
                    up[n % 2].lock().expect("up").clone().or_else(|| up[(n + 1) % 2].lock().expect("up").clone());
                let Some(base) = base else { continue };
                let url = format!("{base}/v1/tenants/{t_id}/profiles/p{}/secrets/secret/data/app/db", n % 20);
                let started = Instant::now();
                match http.get(url).bearer_auth(&key).send().await {
                    Ok(r) if r.status().as_u16() == 200 => {
                        done.fetch_add(1, Ordering::Relaxed);
                        latencies.lock().expect("lat").push(started.elapsed());
                    }
                    // A replica taken out of the rotation just as the read went out: sent again elsewhere.
                    Err(e) if e.is_connect() => {}
                    Ok(r) => {
                        eprintln!("read failed: {}", r.status());
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("read failed: {e}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Rolling restart: A, then B.
    for (slot, replica) in [(0usize, &mut a), (1usize, &mut b)] {
        *up[slot].lock().expect("up") = None;
        replica.stop();
        *replica = c.replica(&keys).await;
        *up[slot].lock().expect("up") = Some(replica.base.clone());
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.expect("reader");
    }
    let mut lat = latencies.lock().expect("lat").clone();
    lat.sort();
    let p99 = lat.get(lat.len() * 99 / 100).copied().unwrap_or_default();
    eprintln!(
        "rolling restart: {} reads, {} failed, p99 {:?}",
        done.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        p99
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no read failed during the rolling restart");
    assert!(done.load(Ordering::Relaxed) > 20);
    assert_eq!(a.spawns().await + b.spawns().await, 0.0, "the restarted replicas ran no agent");
    // Full restart: both down, both up; every profile's first read is warm.
    a.stop();
    b.stop();
    let (a, b) = (c.replica(&keys).await, c.replica(&keys).await);
    for i in 0..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_eq!(app.call("GET", &read_path(&t, i), &t.read, None).await.0, 200);
    }
    assert_eq!(a.spawns().await + b.spawns().await, 0.0, "a full restart is warm");
    // Replacing a profile on A: B stops using the old token within a second.
    let body = json!({ "vault_address": c.bao.addr, "method": { "type": "jwt", "config": {
        "path": c.jwt_dir.join("t1/token").display().to_string(), "role": "app" } } });
    let (s, replaced, _) = a.call("PUT", "/v1/tenants/t1/profiles/p0", &t.admin, Some(body)).await;
    assert_eq!(s, 200, "{replaced}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = b.spawns().await + a.spawns().await;
    assert_eq!(b.call("GET", &read_path(&t, 0), &t.read, None).await.0, 200);
    assert_eq!(b.spawns().await + a.spawns().await, before + 1.0, "the new content logs in once");
}

#[tokio::test]
async fn a_wrong_key_a_rotated_key_and_a_tampered_row_are_each_handled_without_a_token_in_the_log() {
    let Some(c) = Cluster::postgres("keys").await else { return };
    let (old, new, wrong) = (random_hex(32), random_hex(32), random_hex(32));
    let old_keys = key_file(c.dir.path(), "old.keys", &[&old]);
    let a = c.replica(&old_keys).await;
    let t = c.tenant(&a, "t1", 3).await;
    for i in 0..3 {
        assert_eq!(a.call("GET", &read_path(&t, i), &t.read, None).await.0, 200);
    }
    // Rotation: the new key first, the old one second. Old records open; new ones use the new key.
    let rotated = key_file(c.dir.path(), "rotated.keys", &[&new, &old]);
    let b = c.replica(&rotated).await;
    for i in 0..3 {
        assert_eq!(b.call("GET", &read_path(&t, i), &t.read, None).await.0, 200);
    }
    assert_eq!(b.spawns().await, 0.0, "old records open with the old key second");
    let ids = |pg: &Postgres| pg.sql("keys", "SELECT DISTINCT key_id FROM token_records").expect("sql");
    let pg = c.pg.as_ref().expect("pg");
    let before = ids(pg);
    // A fresh login on the rotated replica (a new profile) is sealed with the new key.
    let body = json!({ "name": "fresh", "vault_address": c.bao.addr, "method": { "type": "jwt", "config": {
        "path": c.jwt_dir.join("t1/token").display().to_string(), "role": "app" } } });
    assert_eq!(b.call("POST", "/v1/tenants/t1/profiles", &t.admin, Some(body)).await.0, 201);
    let fresh = "/v1/tenants/t1/profiles/fresh/secrets/secret/data/app/db";
    assert_eq!(b.call("GET", fresh, &t.read, None).await.0, 200);
    let after = ids(pg);
    assert_eq!(after.lines().count(), before.lines().count() + 1, "a second key id: {before} / {after}");
    // A wrong key: records do not open, said once in the log, and reads still work with fresh logins.
    let wrong_keys = key_file(c.dir.path(), "wrong.keys", &[&wrong]);
    let w = c.replica(&wrong_keys).await;
    for _ in 0..2 {
        assert_eq!(w.call("GET", &read_path(&t, 1), &t.read, None).await.0, 200);
    }
    assert!(w.counter("auth_service_token_unseal_failures_total", "").await >= 1.0);
    assert!(w.log().contains("did not open"), "a clear line in the log");
    assert_eq!(w.spawns().await, 1.0, "one fresh login, then its own record");
    // A tampered row is refused (a flipped byte in the sealed text), and replaced by a fresh login.
    pg.sql("keys", "UPDATE token_records SET sealed = overlay(sealed placing (CASE WHEN substr(sealed, 40, 1) = '0' THEN '1' ELSE '0' END) from 40 for 1) WHERE profile_name = 'p2'")
        .expect("tamper");
    let spawns = a.spawns().await;
    let fails = a.counter("auth_service_token_unseal_failures_total", "").await;
    // A has p2 in memory: a restart of A reads the tampered row.
    drop(a);
    let a = c.replica(&old_keys).await;
    assert_eq!(a.call("GET", &read_path(&t, 2), &t.read, None).await.0, 200);
    assert!(a.counter("auth_service_token_unseal_failures_total", "").await >= 1.0, "{spawns} {fails}");
    assert_eq!(a.spawns().await, 1.0, "the tampered record was replaced by a fresh login");
    // The dev server's root token ("root") is the test bed's, not one the service used.
    let issued: Vec<String> = issued_tokens(&c.bao).into_iter().filter(|t| t != "root").collect();
    for app in [&a, &b, &w] {
        helpers::assert_log_free_of(app, &issued);
    }
}

#[tokio::test]
async fn a_single_replica_on_sqlite_with_a_key_file_restarts_warm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/db/auth.db", dir.path().display());
    let c = Cluster::with_db(None, db, 3600).await;
    let keys = key_file(c.dir.path(), "seal.keys", &[&random_hex(32)]);
    let mut a = c.replica(&keys).await;
    let t = c.tenant(&a, "t1", 5).await;
    for i in 0..5 {
        assert_eq!(a.call("GET", &read_path(&t, i), &t.read, None).await.0, 200);
    }
    assert_eq!(a.spawns().await, 5.0);
    a.stop();
    let a = c.replica(&keys).await;
    for i in 0..5 {
        assert_eq!(a.call("GET", &read_path(&t, i), &t.read, None).await.0, 200);
    }
    assert_eq!(a.spawns().await, 0.0, "a restart with a key file is warm");
    assert!(a.counter("auth_service_token_records", "state=\"active\"").await >= 5.0);
    // Deleting a profile revokes its token and removes its record.
    let token_count = issued_tokens(&c.bao).len();
    assert_eq!(a.call("DELETE", "/v1/tenants/t1/profiles/p0", &t.admin, None).await.0, 204);
    let mut revoked = false;
    for _ in 0..50 {
        let issued = issued_tokens(&c.bao);
        let mut alive = 0;
        for tok in &issued {
            if c.bao.token_lookup(tok).await.expect("lookup").is_some() {
                alive += 1;
            }
        }
        if alive < token_count {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(revoked, "the deleted profile's token was revoked");
}

#[tokio::test]
async fn a_dynamic_credential_read_through_one_replica_is_renewed_and_revoked_through_the_other() {
    let Some(c) = Cluster::postgres("leases").await else { return };
    let pg = c.pg.as_ref().expect("pg");
    c.database_engine().await;
    let keys = key_file(c.dir.path(), "seal.keys", &[&random_hex(32)]);
    let (a, b) = (c.replica(&keys).await, c.replica(&keys).await);
    let t = c.tenant(&a, "t1", 1).await;
    let (s, creds, _) = a.call("GET", "/v1/tenants/t1/profiles/p0/secrets/database/creds/app", &t.read, None).await;
    assert_eq!(s, 200, "{creds}");
    let lease = creds["lease_id"].as_str().expect("lease").to_string();
    let ttl = |v: &serde_json::Value| v["data"]["ttl"].as_u64().expect("ttl");
    let before = c.bao.api("PUT", "sys/leases/lookup", None, Some(json!({"lease_id": lease}))).await.expect("lookup");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Renewed through B, which never logged in: it takes the profile's token from the store.
    let (s, renewed, _) = b
        .call(
            "POST",
            "/v1/tenants/t1/profiles/p0/leases/renew",
            &t.read,
            Some(json!({"lease_id": lease, "increment": 3000})),
        )
        .await;
    assert_eq!(s, 200, "{renewed}");
    let after = c.bao.api("PUT", "sys/leases/lookup", None, Some(json!({"lease_id": lease}))).await.expect("lookup");
    assert!(ttl(&after) > ttl(&before), "the lease moved: {} -> {}", ttl(&before), ttl(&after));
    assert_eq!(b.spawns().await, 0.0, "B used the cluster's token, no login of its own");
    let (s, body, _) =
        b.call("POST", "/v1/tenants/t1/profiles/p0/leases/revoke", &t.read, Some(json!({"lease_id": lease}))).await;
    assert_eq!(s, 204, "{body}");
    let user = creds["data"]["username"].as_str().expect("user");
    assert!(!pg.can_login(user, creds["data"]["password"].as_str().expect("password")), "revoked through B");
}

/// A token's TTL in OpenBao (None: the token is gone).
async fn token_ttl(bao: &OpenBao, token: &str) -> Option<u64> {
    let v = bao.api("POST", "auth/token/lookup", None, Some(json!({ "token": token }))).await.ok()?;
    v["data"]["ttl"].as_u64()
}

#[tokio::test]
async fn a_retiring_token_is_sealed_in_the_store_renewed_and_revoked_by_the_other_replica_after_the_first_is_gone() {
    // Tokens of 300 s: a lease renewed past that needs its issuing token renewed too.
    let Some(c) = Cluster::postgres_with_ttl("retiring", 300).await else { return };
    let pg = c.pg.as_ref().expect("pg");
    c.database_engine().await;
    let keys = key_file(c.dir.path(), "seal.keys", &[&random_hex(32)]);
    let (mut a, b) = (c.replica(&keys).await, c.replica(&keys).await);
    let t = c.tenant(&a, "t1", 1).await;
    let known = issued_tokens(&c.bao);
    let (s, creds, _) = a.call("GET", "/v1/tenants/t1/profiles/p0/secrets/database/creds/app", &t.read, None).await;
    assert_eq!(s, 200, "{creds}");
    let lease = creds["lease_id"].as_str().expect("lease").to_string();
    let new: Vec<String> = issued_tokens(&c.bao).into_iter().filter(|t| !known.contains(t)).collect();
    assert_eq!(new.len(), 1, "one login for the read");
    let issuer = new[0].clone();

    // Replacing the profile on A retires the token behind the live lease: sealed into the store.
    let (s, profile, _) = a.call("GET", "/v1/tenants/t1/profiles/p0", &t.admin, None).await;
    assert_eq!(s, 200, "{profile}");
    let body = json!({ "vault_address": profile["vault_address"], "method": profile["method"] });
    let (s, body, _) = a.call("PUT", "/v1/tenants/t1/profiles/p0", &t.admin, Some(body)).await;
    assert_eq!(s, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.counter("auth_service_token_records", "state=\"retiring\"").await != 1.0 {
        assert!(Instant::now() < deadline, "the retiring token reached the store");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dump = pg.dump("retiring").expect("pg_dump");
    assert!(dump.contains("retiring_tokens") && !dump.contains(issuer.as_str()), "sealed: not in a dump");
    assert!(token_ttl(&c.bao, &issuer).await.is_some(), "not revoked: it backs the lease");

    // A goes away. B renews the lease past the token's life: B renews the retiring token too.
    a.stop();
    let before = token_ttl(&c.bao, &issuer).await.expect("alive");
    assert!(before < 700, "the token reached the lease's first end only: {before}");
    let (s, renewed, _) = b
        .call(
            "POST",
            "/v1/tenants/t1/profiles/p0/leases/renew",
            &t.read,
            Some(json!({"lease_id": lease, "increment": 3000})),
        )
        .await;
    assert_eq!(s, 200, "{renewed}");
    let after = token_ttl(&c.bao, &issuer).await.expect("alive");
    assert!(after > 2500, "B made the retiring issuer reach the renewed lease: {before} -> {after}");
    assert!(renewed["lease_duration"].as_u64().expect("duration") > 2500, "{renewed}");

    // The lease is revoked through B: B's sweeper (A's lock lapsed) revokes the retiring token.
    let (s, body, _) =
        b.call("POST", "/v1/tenants/t1/profiles/p0/leases/revoke", &t.read, Some(json!({"lease_id": lease}))).await;
    assert_eq!(s, 204, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while token_ttl(&c.bao, &issuer).await.is_some() {
        assert!(Instant::now() < deadline, "the retiring token was revoked by the remaining replica");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.counter("auth_service_token_records", "state=\"retiring\"").await != 0.0 {
        assert!(Instant::now() < deadline, "its row went");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!b.log().contains(issuer.as_str()), "the token is not in B's log");
}

#[tokio::test]
async fn a_tenant_offboarded_with_keep_leases_on_the_other_replica_keeps_its_credentials_alive() {
    let Some(c) = Cluster::postgres("offboard_keep").await else { return };
    let pg = c.pg.as_ref().expect("pg");
    c.database_engine().await;
    let keys = key_file(c.dir.path(), "seal.keys", &[&random_hex(32)]);
    let (a, b) = (c.replica(&keys).await, c.replica(&keys).await);
    let t = c.tenant(&a, "t1", 1).await;
    let known = issued_tokens(&c.bao);
    let (s, creds, _) = a.call("GET", "/v1/tenants/t1/profiles/p0/secrets/database/creds/app", &t.read, None).await;
    assert_eq!(s, 200, "{creds}");
    let issuer: Vec<String> = issued_tokens(&c.bao).into_iter().filter(|t| !known.contains(t)).collect();
    assert_eq!(issuer.len(), 1);
    // Offboarded through B, which never read: the lease rows go with the tenant, the token is kept by its lease.
    let (s, body, _) = b.call("DELETE", "/v1/tenants/t1?keep_leases=true", &c.operator_key, None).await;
    assert_eq!(s, 204, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.counter("auth_service_token_records", "state=\"retiring\"").await != 1.0 {
        assert!(Instant::now() < deadline, "the kept token is retiring in the store");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Several sweeps later (one every 2 s, on whichever replica holds the lock) it is still alive.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(token_ttl(&c.bao, &issuer[0]).await.is_some(), "the token behind the kept lease lives");
    let user = creds["data"]["username"].as_str().expect("user");
    assert!(pg.can_login(user, creds["data"]["password"].as_str().expect("password")), "the credentials still work");
}
