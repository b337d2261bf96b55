//! Two replicas of the real binary sharing one real PostgreSQL database.

use api_tests::{JwtIssuer, OpenBao, Postgres};
use serde_json::json;

use crate::helpers::{App, AppOptions, bao_with_jwt};

/// Two replicas of the real binary on one fresh PostgreSQL database (bind `_pg` by name:
/// PostgreSQL lives as long as it).
struct Replicas {
    a: App,
    b: App,
    bao: OpenBao,
    issuer: JwtIssuer,
    _pg: Postgres,
}

/// Start PostgreSQL, OpenBao with jwt logins and two replicas sharing the operator key and
/// the JWT folder (as replicas of one deployment would). None when PostgreSQL is not
/// installed (a failure instead when `AUTH_SERVICE_TEST_REQUIRE_POSTGRES=1`).
async fn replicas(database: &str) -> Option<Replicas> {
    let required = std::env::var("AUTH_SERVICE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    if Postgres::bin_dir().is_none() {
        assert!(!required, "PostgreSQL is required but not installed");
        eprintln!("PostgreSQL not installed: replica test skipped");
        return None;
    }
    let pg = Postgres::start().await.expect("postgres");
    let url = pg.create_database(database).expect("database");
    let (bao, issuer) = bao_with_jwt(3600).await;
    let a = App::spawn_with(AppOptions { database_url: Some(url.clone()), ..AppOptions::default() }).await;
    let b = App::spawn_with(AppOptions {
        config_file: None,
        database_url: Some(url),
        extra_env: vec![
            ("AUTH_SERVICE_OPERATOR_KEY".into(), a.operator_key.clone()),
            ("AUTH_SERVICE_JWT_ALLOWED_DIRS".into(), a.jwt_dir.display().to_string()),
        ],
    })
    .await;
    Some(Replicas { a, b, bao, issuer, _pg: pg })
}

#[tokio::test]
async fn two_replicas_share_profiles_and_never_serve_a_deleted_profiles_token() {
    let Some(Replicas { a, b, bao, issuer, _pg }) = replicas("replicas").await else { return };
    // The same operator key on both replicas; the tenant and keys live in the shared database.
    let t = a.tenant("team-a").await;
    // Both replicas read the same JWT file path.
    let b_jwt = std::path::PathBuf::from(a.jwt_file(&issuer, &t, "token"));
    let profile = |role: &str, path: &str| {
        json!({ "name": "p", "vault_address": bao.addr,
                "method": { "type": "jwt", "config": { "path": path, "role": role } } })
    };
    let (s, body, _) = b
        .call("POST", "/v1/tenants/team-a/profiles", &t.admin, Some(profile("app", &b_jwt.display().to_string())))
        .await;
    assert_eq!(s, 201, "{body}");
    let read = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    assert_eq!(b.call("GET", read, &t.read, None).await.0, 200, "replica B logs in and reads");
    assert_eq!(
        a.call("GET", "/v1/tenants/team-a/profiles/p", &t.admin, None).await.0,
        200,
        "replica A sees the profile"
    );

    // Through A: delete, then create again (revision 1 again) with a role that does not exist.
    assert_eq!(a.call("DELETE", "/v1/tenants/team-a/profiles/p", &t.admin, None).await.0, 204);
    let (s, body, _) = b
        .call(
            "POST",
            "/v1/tenants/team-a/profiles",
            &t.admin,
            Some(profile("no-such-role", &b_jwt.display().to_string())),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    // B still holds the old profile's token in memory; it must not use it.
    let (s, body, _) = b.call("GET", read, &t.read, None).await;
    assert_eq!(s, 503, "the new profile logs in (and fails), the old token is not reused: {body}");
    assert!(body["detail"].as_str().expect("detail").contains("no-such-role"), "{body}");
    let changes_noted = a.log().contains("listening for changes made by other replicas");
    assert!(changes_noted, "each replica listens for the others' changes");

    // Fixed through A: B's back-off was for the old content, so B reads at once.
    let (s, body, _) = a
        .call("PUT", "/v1/tenants/team-a/profiles/p", &t.admin, Some(profile("app", &b_jwt.display().to_string())))
        .await;
    assert_eq!(s, 200, "{body}");
    // B learns of the change through PostgreSQL's NOTIFY: within a second.
    let fixed =
        seen_within(std::time::Duration::from_secs(1), || async { b.call("GET", read, &t.read, None).await.0 == 200 })
            .await;
    assert!(fixed.is_some(), "a profile fixed through one replica works on the other within a second");
}

/// Poll `probe` every 20 ms until it returns true; how long that took (None after `limit`).
async fn seen_within<F, Fut>(limit: std::time::Duration, mut probe: F) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if probe().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn a_key_revoked_or_a_grant_narrowed_on_one_replica_is_refused_by_the_other_within_a_second() {
    let Some(Replicas { a, b, bao, issuer, _pg }) = replicas("invalidation").await else { return };
    let t = a.tenant("team-a").await;
    let jwt = a.jwt_file(&issuer, &t, "token");
    a.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let read = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    // B's memory holds the key, the tenant and the profile once its change listener is
    // up (it trusts memory only after hearing its own heartbeat): read until it does.
    let warmed = seen_within(std::time::Duration::from_secs(10), || async {
        assert_eq!(b.call("GET", read, &t.read, None).await.0, 200);
        b.counter("auth_service_cache_entries", "cache=\"api_keys\"").await >= 1.0
            && b.counter("auth_service_cache_entries", "cache=\"profile_rows\"").await >= 1.0
    })
    .await;
    assert!(warmed.is_some(), "replica B never kept the key and the profile in memory:\n{}", b.metrics().await);

    // The key is revoked through A: B refuses it within a second.
    let key_id = &t.read[4..20];
    let (s, body, _) = a.call("DELETE", &format!("/v1/tenants/team-a/api-keys/{key_id}"), &t.admin, None).await;
    assert_eq!(s, 204, "{body}");
    let took =
        seen_within(std::time::Duration::from_secs(1), || async { b.call("GET", read, &t.read, None).await.0 == 401 })
            .await;
    let took = took.expect("replica B still accepted the revoked key a second later");
    eprintln!("revoked key refused by the other replica after {} ms", took.as_millis());

    // The operator narrows the tenant's Vault addresses through A: B refuses the read within a second.
    let reader = a.key("team-a", &t.admin, json!(["read"])).await;
    assert_eq!(b.call("GET", read, &reader, None).await.0, 200, "a new key works on B at once");
    let (s, body, _) = a
        .call("PATCH", "/v1/tenants/team-a", &a.operator_key, Some(json!({"vault_addresses": ["https://127.0.0.1:*"]})))
        .await;
    assert_eq!(s, 200, "{body}");
    let took =
        seen_within(std::time::Duration::from_secs(1), || async { b.call("GET", read, &reader, None).await.0 == 403 })
            .await;
    let took = took.expect("replica B still read with a narrowed grant a second later");
    eprintln!("narrowed grant enforced by the other replica after {} ms", took.as_millis());
    // Both replicas' audit events reach PostgreSQL (written in batches, many rows per statement).
    let recorded = seen_within(std::time::Duration::from_secs(5), || async {
        let (_, page, _) = a.call("GET", "/v1/tenants/team-a/audit?limit=1000", &t.admin, None).await;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        events.iter().filter(|e| e["action"] == json!("secret.read")).count() >= 3
            && events.iter().any(|e| e["action"] == json!("key.revoke"))
    })
    .await;
    assert!(recorded.is_some(), "the reads and the revocation are in the audit trail");
}
