//! Two replicas of the real binary sharing one real PostgreSQL database.

use serde_json::json;

use crate::helpers::{App, AppOptions, bao_with_jwt};

#[tokio::test]
async fn two_replicas_share_profiles_and_never_serve_a_deleted_profiles_token() {
    let required = std::env::var("AUTH_SERVICE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    if api_tests::Postgres::bin_dir().is_none() {
        assert!(!required, "PostgreSQL is required but not installed");
        eprintln!("PostgreSQL not installed: replica test skipped");
        return;
    }
    let pg = api_tests::Postgres::start().await.expect("postgres");
    let url = pg.create_database("replicas").expect("database");
    let (bao, issuer) = bao_with_jwt(3600).await;
    let a = App::spawn_with(AppOptions { database_url: Some(url.clone()), ..AppOptions::default() }).await;
    let b = App::spawn_with(AppOptions {
        database_url: Some(url),
        extra_env: vec![("AUTH_SERVICE_OPERATOR_KEY".into(), a.operator_key.clone())],
    })
    .await;
    // The same operator key on both replicas; the tenant and keys live in the shared database.
    let t = a.tenant("team-a").await;
    // Both replicas read the same JWT file path.
    let jwt_path = a.jwt_file(&issuer, &t, "token");
    std::fs::create_dir_all(b.jwt_dir.join("team-a")).expect("dir");
    let b_jwt = b.jwt_dir.join("team-a").join("token");
    std::fs::copy(&jwt_path, &b_jwt).expect("copy jwt");
    let profile = |role: &str, path: &str| {
        json!({ "name": "p", "vault_address": bao.addr,
                "method": { "type": "jwt", "config": { "path": path, "role": role } } })
    };
    // Each replica only allows its own JWT folder, so the profile is created through B for B's reads.
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
}
