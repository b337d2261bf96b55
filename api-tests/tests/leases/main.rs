//! Dynamic secrets with honest lifetimes, through the real binary, the real
//! OpenBao agent and OpenBao's database secrets engine on a real PostgreSQL:
//! every credential is checked by opening a real connection with it.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::time::{Duration, Instant, SystemTime};

use api_tests::{JwtIssuer, OpenBao, Postgres};
use serde_json::{Value, json};

use helpers::{App, Tenant};

const POLICY: &str = r#"
path "database/creds/app" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
"#;

struct Bed {
    bao: OpenBao,
    pg: Postgres,
    issuer: JwtIssuer,
}

/// OpenBao with jwt logins whose tokens live `token_ttl` (at most `token_max`), and
/// database credentials leased for `lease_ttl` seconds.
async fn bed(token_ttl: u64, token_max: u64, lease_ttl: u64) -> Bed {
    let pg = Postgres::start().await.expect("postgres");
    let bao = OpenBao::start().await.expect("openbao");
    let issuer = bao.setup_jwt(None, "jwt", "app", "db-user", POLICY, token_ttl).await.expect("jwt");
    bao.api(
        "POST",
        "auth/jwt/role/app",
        None,
        Some(json!({
            "role_type": "jwt", "bound_audiences": ["bao-test"], "user_claim": "sub",
            "token_policies": ["db-user"], "token_ttl": token_ttl, "token_max_ttl": token_max
        })),
    )
    .await
    .expect("role ttl");
    bao.setup_database(&pg, "app", lease_ttl, 86_400).await.expect("database engine");
    Bed { bao, pg, issuer }
}

async fn profile(app: &App, bed: &Bed, t: &Tenant, name: &str) {
    let jwt = app.jwt_file(&bed.issuer, t, "token");
    app.jwt_profile(t, name, &bed.bao, &jwt, "app", json!({})).await;
}

/// Read `database/creds/app` through the service: (username, password, lease id, whole body).
async fn creds(app: &App, t: &Tenant, name: &str) -> (String, String, String, Value) {
    let (s, b, _) = app
        .call("GET", &format!("/v1/tenants/{}/profiles/{name}/secrets/database/creds/app", t.id), &t.read, None)
        .await;
    assert_eq!(s, 200, "{b}");
    let text = |v: &Value| v.as_str().expect("string").to_string();
    (text(&b["data"]["username"]), text(&b["data"]["password"]), text(&b["lease_id"]), b)
}

async fn renew(app: &App, tenant: &Tenant, lease: &str, inc: Value) -> (u16, Value, reqwest::header::HeaderMap) {
    let path = format!("/v1/tenants/{}/profiles/db/leases/renew", tenant.id);
    app.call("POST", &path, &tenant.read, Some(json!({"lease_id": lease, "increment": inc}))).await
}

async fn revoke(app: &App, tenant: &Tenant, lease: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let path = format!("/v1/tenants/{}/profiles/db/leases/revoke", tenant.id);
    app.call("POST", &path, &tenant.read, Some(json!({"lease_id": lease}))).await
}

fn expires_at(body: &Value) -> SystemTime {
    humantime::parse_rfc3339(body["expires_at"].as_str().expect("expires_at")).expect("RFC 3339")
}

async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn credentials_survive_test_connection_replace_a_403_retry_and_the_end_of_the_cache_life() {
    // Token TTL 125 s: the service caches it for 5 s; the lease lasts an hour.
    let bed = bed(125, 14_400, 3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    profile(&app, &bed, &t, "db").await;
    let (user, password, lease_id, body) = creds(&app, &t, "db").await;
    assert!(lease_id.starts_with("database/creds/app/"), "{body}");
    assert!(bed.pg.can_login(&user, &password), "the issued role logs in");
    let ends = expires_at(&body);
    assert!(ends > SystemTime::now() + Duration::from_secs(3000), "the token was renewed to reach the lease: {body}");

    // Test connection replaces the cached token.
    let (s, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/db/test", &t.admin, None).await;
    assert_eq!((s, report["ok"].clone()), (200, json!(true)), "{report}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(bed.pg.can_login(&user, &password), "after test connection");

    // A replace drops the revision's token.
    let mut replaced = app.call("GET", "/v1/tenants/team-a/profiles/db", &t.admin, None).await.1;
    for k in ["revision", "created_at", "updated_at", "last_test"] {
        replaced.as_object_mut().expect("object").remove(k);
    }
    let (s, b, _) = app.call("PUT", "/v1/tenants/team-a/profiles/db", &t.admin, Some(replaced)).await;
    assert_eq!(s, 200, "{b}");
    let (user2, password2, _, _) = creds(&app, &t, "db").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(bed.pg.can_login(&user, &password), "after replace");

    // A 403 on the cached token drops it and logs in again.
    let (s, _, _) = app.call("GET", "/v1/tenants/team-a/profiles/db/secrets/secret/data/nope", &t.read, None).await;
    assert_eq!(s, 403);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(bed.pg.can_login(&user, &password), "after a 403 retry");
    assert!(bed.pg.can_login(&user2, &password2));

    // The cache life (5 s) runs out: the tokens retire instead of dying.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(bed.pg.can_login(&user, &password), "after the cache life ended");
    assert!(bed.pg.can_login(&user2, &password2));
    assert!(app.counter("auth_service_retiring_tokens", "").await >= 2.0, "{}", app.metrics().await);
}

#[tokio::test]
async fn renew_moves_expires_at_and_the_vault_lease_revoke_removes_the_role_and_other_leases_get_404() {
    let bed = bed(3600, 14_400, 60).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let other = app.tenant("team-b").await;
    profile(&app, &bed, &t, "db").await;
    profile(&app, &bed, &other, "db").await;
    let (user, password, lease_id, body) = creds(&app, &t, "db").await;
    assert!(body["lease_duration"].as_u64().expect("duration") <= 60);
    let before = expires_at(&body);

    let (s, renewed, _) = renew(&app, &t, &lease_id, json!(600)).await;
    assert_eq!(s, 200, "{renewed}");
    assert!(renewed["lease_duration"].as_u64().expect("duration") > 500, "{renewed}");
    assert!(expires_at(&renewed) > before + Duration::from_secs(400), "{renewed}");
    let lookup =
        bed.bao.api("PUT", "sys/leases/lookup", None, Some(json!({"lease_id": lease_id}))).await.expect("lookup");
    assert!(lookup["data"]["ttl"].as_u64().expect("ttl") > 500, "Vault's lease moved: {lookup}");
    let (s, _, _) = renew(&app, &t, &lease_id, json!("15m")).await;
    assert_eq!(s, 200, "a duration string works too");

    // Isolation: another tenant's key through its own profile, and a made-up id.
    let (s, b, _) = renew(&app, &other, &lease_id, json!(60)).await;
    assert_eq!(s, 404, "{b}");
    let (s, _, _) = renew(&app, &t, "database/creds/app/made-up", json!(60)).await;
    assert_eq!(s, 404);
    assert_eq!(revoke(&app, &other, &lease_id).await.0, 404);
    assert!(bed.pg.can_login(&user, &password), "another tenant could not revoke it");

    let (s, b, _) = revoke(&app, &t, &lease_id).await;
    assert_eq!(s, 204, "{b}");
    assert!(!bed.pg.can_login(&user, &password), "the role is gone at once");
    assert_eq!(revoke(&app, &t, &lease_id).await.0, 404, "a revoked lease is forgotten");
}

#[tokio::test]
async fn deleting_a_profile_revokes_its_credentials_unless_it_keeps_the_leases() {
    let bed = bed(3600, 14_400, 3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    profile(&app, &bed, &t, "gone").await;
    profile(&app, &bed, &t, "kept").await;
    let (user, password, _, _) = creds(&app, &t, "gone").await;
    let (kept_user, kept_password, _, _) = creds(&app, &t, "kept").await;
    assert_eq!(app.call("DELETE", "/v1/tenants/team-a/profiles/gone", &t.admin, None).await.0, 204);
    eventually("the deleted profile's role disappearing", Duration::from_secs(10), || {
        !bed.pg.can_login(&user, &password)
    })
    .await;
    assert_eq!(app.call("DELETE", "/v1/tenants/team-a/profiles/kept?keep_leases=true", &t.admin, None).await.0, 204);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(bed.pg.can_login(&kept_user, &kept_password), "keep_leases keeps issued credentials");
}

#[tokio::test]
async fn a_retiring_token_is_revoked_once_its_last_lease_ends_and_no_token_leaks() {
    // Leases of 8 s; the token would live an hour.
    let bed = bed(3600, 14_400, 8).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    profile(&app, &bed, &t, "db").await;
    let (user, password, _, _) = creds(&app, &t, "db").await;
    // Test connection supersedes the token that issued the lease: it retires.
    let (_, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/db/test", &t.admin, None).await;
    assert_eq!(report["ok"], json!(true));
    let retired = retiring_accessor(&app).await;
    assert!(bed.bao.api("POST", "auth/token/lookup-accessor", None, Some(json!({"accessor": retired}))).await.is_ok());
    assert!(bed.pg.can_login(&user, &password));
    // The lease ends after 8 s; the sweeper then revokes the retiring token.
    eventually("the retiring token being revoked", Duration::from_secs(20), || false_if_alive(&bed.bao, &retired))
        .await;
    assert_eq!(app.counter("auth_service_retiring_tokens", "").await, 0.0);
    // Deleting the profile revokes the current token too: nothing the service created stays alive.
    assert_eq!(app.call("DELETE", "/v1/tenants/team-a/profiles/db", &t.admin, None).await.0, 204);
    let accessors = bed.bao.api("LIST", "auth/token/accessors", None, None).await.expect("accessors");
    let mut alive = Vec::new();
    for a in accessors["data"]["keys"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if let Ok(info) = bed.bao.api("POST", "auth/token/lookup-accessor", None, Some(json!({"accessor": a}))).await
            && info["data"]["path"].as_str().is_some_and(|p| p.starts_with("auth/jwt"))
        {
            alive.push(a.to_string());
        }
    }
    eventually("every service token being revoked", Duration::from_secs(10), || {
        alive.retain(|a| !false_if_alive(&bed.bao, a));
        alive.is_empty()
    })
    .await;
}

/// True once the accessor's token is gone (lookup fails).
fn false_if_alive(bao: &OpenBao, accessor: &str) -> bool {
    let out = std::process::Command::new(api_tests::bao_bin())
        .args(["write", "-format=json", "auth/token/lookup-accessor"])
        .arg(format!("accessor={accessor}"))
        .env("BAO_ADDR", &bao.addr)
        .env("BAO_TOKEN", "root")
        .output();
    !out.map(|o| o.status.success()).unwrap_or(false)
}

/// The accessor of the token the service logged as retiring.
async fn retiring_accessor(app: &App) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(line) = app.log().lines().find(|l| l.contains("token retiring")) {
            let v: Value = serde_json::from_str(line).expect("json log line");
            return v["fields"]["accessor"].as_str().or(v["accessor"].as_str()).expect("accessor field").to_string();
        }
        assert!(Instant::now() < deadline, "no token retired: {}", app.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn expires_at_is_capped_by_the_tokens_maximum_life_which_lookup_self_does_not_show() {
    // The role's token_max_ttl is 90 s; the lease asks for an hour.
    let bed = bed(60, 90, 3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    profile(&app, &bed, &t, "db").await;
    let started = SystemTime::now();
    let (_, _, _, body) = creds(&app, &t, "db").await;
    let ends = expires_at(&body);
    assert!(
        ends <= started + Duration::from_secs(95),
        "expires_at {} is past the token's maximum: {body}",
        body["expires_at"]
    );
    assert!(body["lease_duration"].as_u64().expect("duration") <= 91, "lease_duration clamped: {body}");
}

#[tokio::test]
async fn the_secret_cache_never_shares_dynamic_credentials_unless_the_profile_says_so() {
    let bed = bed(3600, 14_400, 3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&bed.issuer, &t, "token");
    app.jwt_profile(&t, "private", &bed.bao, &jwt, "app", json!({"secret_cache_ttl": "60s"})).await;
    app.jwt_profile(
        &t,
        "shared",
        &bed.bao,
        &jwt,
        "app",
        json!({"secret_cache_ttl": "60s", "secret_cache_leased": true}),
    )
    .await;
    let path = |p: &str| format!("/v1/tenants/team-a/profiles/{p}/secrets/database/creds/app");

    // Off by default: each caller gets its own credentials, each a miss.
    let (s1, a, h1) = app.call("GET", &path("private"), &t.read, None).await;
    let (s2, b, h2) = app.call("GET", &path("private"), &t.read, None).await;
    assert_eq!((s1, s2), (200, 200), "{a} {b}");
    assert_ne!(a["lease_id"], b["lease_id"], "two callers, two leases");
    assert_ne!(a["data"]["username"], b["data"]["username"]);
    for h in [&h1, &h2] {
        assert_eq!(h.get("x-cache").and_then(|v| v.to_str().ok()), Some("MISS"));
    }

    // Shared when the profile says so: one lease, its remaining time shown to the later caller.
    let (_, first, h1) = app.call("GET", &path("shared"), &t.read, None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, again, h2) = app.call("GET", &path("shared"), &t.read, None).await;
    assert_eq!(h1.get("x-cache").and_then(|v| v.to_str().ok()), Some("MISS"));
    assert_eq!(h2.get("x-cache").and_then(|v| v.to_str().ok()), Some("HIT"));
    assert_eq!(first["lease_id"], again["lease_id"], "{first} {again}");
    let (d1, d2) = (first["lease_duration"].as_u64().expect("duration"), again["lease_duration"].as_u64().expect("d"));
    assert!(d2 < d1, "the kept lease has aged: {d1} then {d2}");
    assert_eq!(first["expires_at"], again["expires_at"]);
    let user = again["data"]["username"].as_str().expect("username");
    assert!(bed.pg.can_login(user, again["data"]["password"].as_str().expect("password")));
}

#[tokio::test]
async fn revoking_a_cached_leases_credentials_drops_them_from_the_secret_cache_at_once() {
    let bed = bed(3600, 14_400, 3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&bed.issuer, &t, "token");
    let shared = json!({"secret_cache_ttl": "10m", "secret_cache_leased": true});
    app.jwt_profile(&t, "db", &bed.bao, &jwt, "app", shared).await;
    let path = "/v1/tenants/team-a/profiles/db/secrets/database/creds/app";
    let (_, first, h1) = app.call("GET", path, &t.read, None).await;
    let (_, kept, h2) = app.call("GET", path, &t.read, None).await;
    assert_eq!(h1.get("x-cache").and_then(|v| v.to_str().ok()), Some("MISS"));
    assert_eq!(h2.get("x-cache").and_then(|v| v.to_str().ok()), Some("HIT"));
    assert_eq!(first["lease_id"], kept["lease_id"]);
    let user = first["data"]["username"].as_str().expect("username").to_string();
    let password = first["data"]["password"].as_str().expect("password").to_string();
    assert!(bed.pg.can_login(&user, &password), "the credentials work before the revoke");
    // Revoked through the Vault-compatible endpoint this time; the REST revoke runs the same code.
    let lease = first["lease_id"].as_str().expect("lease id");
    let url = format!("{}/vault/team-a/db/v1/sys/leases/revoke", app.base);
    let resp = app.http.put(url).header("X-Vault-Token", &t.read).json(&json!({"lease_id": lease})).send().await;
    assert_eq!(resp.expect("revoke").status().as_u16(), 204);
    let (s, after, h3) = app.call("GET", path, &t.read, None).await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(h3.get("x-cache").and_then(|v| v.to_str().ok()), Some("MISS"), "the revoked answer is gone");
    assert_ne!(after["lease_id"], first["lease_id"]);
    assert_ne!(after["data"]["username"].as_str(), Some(user.as_str()), "the revoked user is never served again");
    for _ in 0..5 {
        let (_, again, _) = app.call("GET", path, &t.read, None).await;
        assert_ne!(again["data"]["username"].as_str(), Some(user.as_str()));
    }
    assert!(!bed.pg.can_login(&user, &password), "the revoked credentials no longer log in");
    // The lease list shows live leases only, never the revoked one.
    let (s, list, _) = app.call("GET", "/v1/tenants/team-a/profiles/db/leases", &t.read, None).await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<&str> =
        list["leases"].as_array().expect("leases").iter().filter_map(|l| l["lease_id"].as_str()).collect();
    assert!(!ids.contains(&lease) && ids.contains(&after["lease_id"].as_str().expect("id")), "{list}");
}
