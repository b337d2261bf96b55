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
    // Both replicas allow the same JWT folder (as replicas of one deployment would).
    let b = App::spawn_with(AppOptions {
        database_url: Some(url),
        extra_env: vec![
            ("AUTH_SERVICE_OPERATOR_KEY".into(), a.operator_key.clone()),
            ("AUTH_SERVICE_JWT_ALLOWED_DIRS".into(), a.jwt_dir.display().to_string()),
        ],
    })
    .await;
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

    // Fixed through A: B's back-off was for the old content, so B reads at once.
    let (s, body, _) = a
        .call("PUT", "/v1/tenants/team-a/profiles/p", &t.admin, Some(profile("app", &b_jwt.display().to_string())))
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body, _) = b.call("GET", read, &t.read, None).await;
    assert_eq!(s, 200, "a profile fixed through one replica works at once on the other: {body}");
}
