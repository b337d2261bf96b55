//! Secret reads: KV v1 and v2, caching, single flight, TTL expiry, namespaces.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{App, AppOptions, bao_with_jwt};

#[tokio::test]
async fn a_connector_reads_kv2_and_kv1_and_the_second_read_spawns_no_agent() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;

    let (s, body, headers) =
        app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["data"]["password"], json!("s3cr3t"));
    assert_eq!(headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    assert!(body.get("lease_duration").is_some());
    assert_eq!(app.spawns().await, 1.0);

    let (s, body, _) = app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/kv/app/legacy", &t.read, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["api_key"], json!("legacy-value"));
    assert_eq!(app.spawns().await, 1.0, "the second read used the cached token");
    assert!(app.counter("auth_service_token_cache_hits_total", "").await >= 1.0);

    // Query parameters reach Vault (KV v2 version=1).
    let (s, body, _) =
        app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db?version=1", &t.read, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["metadata"]["version"], json!(1));
    let (s, _, _) =
        app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db?version=7", &t.read, None).await;
    assert_eq!(s, 404, "version 7 does not exist, so Vault's 404 is passed on");

    // Vault's 404 and 403.
    assert_eq!(
        app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/missing", &t.read, None).await.0,
        404
    );
    let (s, body, _) =
        app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/other/x", &t.read, None).await;
    assert_eq!(s, 403, "{body}");
    assert!(body["hint"].as_str().expect("hint").contains("capabilities"), "{body}");
    assert_eq!(app.counter("auth_service_secret_reads_total", "outcome=\"forbidden\",via=\"rest\"").await, 1.0);
    crate::helpers::assert_no_secrets_logged(&app, &bao, &[&t]);
}

#[tokio::test]
async fn two_hundred_concurrent_cold_reads_start_exactly_one_agent() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let url = format!("{}/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db", app.base);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (http, url, key) = (app.http.clone(), url.clone(), t.read.clone());
        tasks.push(tokio::spawn(
            async move { http.get(url).bearer_auth(key).send().await.map(|r| r.status().as_u16()) },
        ));
    }
    let mut ok = 0;
    for task in tasks {
        let status =
            tokio::time::timeout(Duration::from_secs(60), task).await.expect("bounded").expect("joined").expect("sent");
        if status == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 200);
    assert_eq!(app.spawns().await, 1.0, "one single-flight login");
    crate::helpers::assert_no_secrets_logged(&app, &bao, &[&t]);
}

#[tokio::test]
async fn a_token_is_cached_for_its_ttl_minus_two_minutes_then_a_read_logs_in_again() {
    // TTL 123 s: cached for 3 s (TTL minus 120 s). With no reads in its last third
    // nothing refreshes it ahead, so the first read after its cache life logs in.
    let (bao, issuer) = bao_with_jwt(123).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let path = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", path, &t.read, None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.call("GET", path, &t.read, None).await.0, 200);
    assert_eq!(app.spawns().await, 1.0, "still cached after 1.5 s");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.call("GET", path, &t.read, None).await.0, 200);
    let spawns = app.spawns().await;
    assert_eq!(spawns, 2.0, "expected a re-login after ~3 s, got {spawns} spawns");
    crate::helpers::assert_no_secrets_logged(&app, &bao, &[&t]);
}

#[tokio::test]
async fn a_short_ttl_is_warned_about_at_test_time() {
    let (bao, issuer) = bao_with_jwt(100).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let (_, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/p/test", &t.admin, None).await;
    assert_eq!(report["ok"], json!(true), "{report}");
    assert!(report["warnings"][0].as_str().expect("warning").contains("cannot be cached"), "{report}");
    crate::helpers::assert_no_secrets_logged(&app, &bao, &[&t]);
}

#[tokio::test]
async fn a_profile_in_a_namespace_logs_in_and_reads_there() {
    let bao = api_tests::OpenBao::start().await.expect("openbao");
    bao.create_namespace("team-a").await.expect("namespace");
    let issuer = bao
        .setup_jwt(
            Some("team-a"),
            "jwt",
            "app",
            "ns-read",
            "path \"secret/data/app/*\" { capabilities = [\"read\"] }\n",
            3600,
        )
        .await
        .expect("jwt in namespace");
    bao.api("POST", "sys/mounts/secret", Some("team-a"), Some(json!({"type": "kv", "options": {"version": "2"}})))
        .await
        .expect("kv mount in namespace");
    bao.kv2_put(Some("team-a"), "app/db", json!({"password": "in-namespace"})).await.expect("put");
    bao.kv2_put(None, "app/db", json!({"password": "root-namespace"})).await.expect("put root");

    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(
        &t,
        "ns",
        &bao,
        &jwt,
        "app",
        json!({"namespace": "team-a", "test_secret_path": "secret/data/app/db"}),
    )
    .await;
    let (_, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/ns/test", &t.admin, None).await;
    assert_eq!(report["ok"], json!(true), "{report:#}");
    let (s, body, _) =
        app.call("GET", "/v1/tenants/team-a/profiles/ns/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["data"]["password"], json!("in-namespace"));
}

#[tokio::test]
async fn a_cached_token_revoked_in_vault_is_replaced_by_one_fresh_login() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let path = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", path, &t.read, None).await.0, 200);
    assert_eq!(app.spawns().await, 1.0);

    // A Vault admin revokes every token of the role behind the service's back.
    let list = bao.api("LIST", "auth/token/accessors", None, None).await.expect("accessors");
    let mut revoked = 0;
    for acc in list["data"]["keys"].as_array().cloned().unwrap_or_default() {
        let info =
            bao.api("POST", "auth/token/lookup-accessor", None, Some(json!({"accessor": acc}))).await.expect("lookup");
        if info["data"]["policies"].as_array().is_some_and(|p| p.contains(&json!("app-read"))) {
            bao.api("POST", "auth/token/revoke-accessor", None, Some(json!({"accessor": acc}))).await.expect("revoke");
            revoked += 1;
        }
    }
    assert_eq!(revoked, 1);

    // The cached token gets a 403; the service drops it, logs in once more and reads.
    let (s, body, _) = app.call("GET", path, &t.read, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(app.spawns().await, 2.0, "exactly one fresh login");
    assert_eq!(app.call("GET", path, &t.read, None).await.0, 200);
    assert_eq!(app.spawns().await, 2.0, "the new token is cached");
    crate::helpers::assert_no_secrets_logged(&app, &bao, &[&t]);
}

#[tokio::test]
async fn a_vault_behind_tls_needs_the_operators_ca_bundle_and_says_so_without_it() {
    let bao = api_tests::OpenBao::start_tls().await.expect("openbao with TLS");
    assert!(bao.addr.starts_with("https://"));
    let issuer = bao
        .setup_jwt(None, "jwt", "app", "app-read", "path \"secret/data/app/*\" { capabilities = [\"read\"] }\n", 3600)
        .await
        .expect("jwt");
    bao.kv2_put(None, "app/db", json!({"password": "over-tls"})).await.expect("put");
    let ca = bao.ca_cert().expect("ca").display().to_string();

    // Without the CA bundle the agent cannot trust Vault: a clear failure, not a hang.
    let untrusting = App::spawn().await;
    let t = untrusting.tenant("team-a").await;
    let jwt = untrusting.jwt_file(&issuer, &t, "token");
    untrusting.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let (_, report, _) = untrusting.call("POST", "/v1/tenants/team-a/profiles/p/test", &t.admin, None).await;
    assert_eq!(report["ok"], json!(false), "{report:#}");
    let detail = report["steps"][0]["detail"].as_str().expect("detail").to_lowercase();
    assert!(detail.contains("certificate") || detail.contains("x509"), "{detail}");
    assert!(report["hint"].as_str().expect("hint").contains("AUTH_SERVICE_VAULT_CA_CERT"), "{report:#}");

    // With it, the agent (vault { ca_cert }) and the service's own calls both trust Vault.
    let app = App::spawn_with(AppOptions {
        extra_env: vec![("AUTH_SERVICE_VAULT_CA_CERT".into(), ca)],
        ..AppOptions::default()
    })
    .await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({"test_secret_path": "secret/data/app/db"})).await;
    let (_, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/p/test", &t.admin, None).await;
    assert_eq!(report["ok"], json!(true), "{report:#}");
    let (s, body, _) = app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["data"]["password"], json!("over-tls"));
}
