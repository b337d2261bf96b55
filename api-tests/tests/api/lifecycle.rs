//! Tenants, keys, profiles, test connection, back-off, replace and revocation.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{App, assert_log_free_of, bao_with_jwt, issued_tokens};

#[tokio::test]
async fn an_admin_creates_a_jwt_profile_and_test_connection_reports_policies_and_ttl() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let profile =
        app.jwt_profile(&t, "kv-reader", &bao, &jwt, "app", json!({"test_secret_path": "secret/data/app/db"})).await;
    assert_eq!(profile["revision"], json!(1));
    assert!(profile["created_at"].is_string() && profile["updated_at"].is_string());

    let (s, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/kv-reader/test", &t.admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(report["ok"], json!(true), "{report:#}");
    let steps: Vec<_> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["step"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(steps, ["agent_login", "verify_token", "read_test_secret"]);
    assert!(report["token"]["policies"].as_array().expect("policies").contains(&json!("app-read")));
    let ttl = report["token"]["ttl_seconds"].as_u64().expect("ttl");
    assert!((3500..=3600).contains(&ttl), "{ttl}");
    assert!(report["token"].get("token").is_none() && report["token"].get("client_token").is_none());

    // The token from the test is now the cached one: a read spawns no agent.
    let before = app.spawns().await;
    let (s, body, _) =
        app.call("GET", "/v1/tenants/team-a/profiles/kv-reader/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(app.spawns().await, before);

    let mut secrets: Vec<String> = issued_tokens(&bao);
    assert!(!secrets.is_empty(), "the audit log shows the issued tokens");
    secrets.push(t.admin.clone());
    secrets.push(t.read.clone());
    secrets.push(app.operator_key.clone());
    secrets.push(std::fs::read_to_string(&jwt).expect("jwt file stays (remove_jwt_after_reading = false)"));
    assert_log_free_of(&app, &secrets);
}

#[tokio::test]
async fn a_wrong_role_gives_a_role_hint_and_reads_back_off_without_new_spawns() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "broken", &bao, &jwt, "no-such-role", json!({})).await;

    let started = std::time::Instant::now();
    let (s, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/broken/test", &t.admin, None).await;
    assert_eq!(s, 200);
    assert!(started.elapsed() < Duration::from_secs(10), "exit_on_err makes the agent stop at once");
    assert_eq!(report["ok"], json!(false));
    assert_eq!(report["steps"][0]["step"], json!("agent_login"));
    assert_eq!(report["steps"][0]["ok"], json!(false));
    assert!(report["steps"][0]["detail"].as_str().expect("detail").contains("no-such-role"), "{report:#}");
    let hint = report["hint"].as_str().expect("hint").to_lowercase();
    assert!(hint.contains("role"), "{hint}");

    // First read: one login, fails, starts the back-off.
    let path = "/v1/tenants/team-a/profiles/broken/secrets/secret/data/app/db";
    let (s, body, headers) = app.call("GET", path, &t.read, None).await;
    assert_eq!(s, 503, "{body}");
    assert!(headers.get("retry-after").is_some());
    let spawns = app.spawns().await;
    for _ in 0..5 {
        let (s, body, headers) = app.call("GET", path, &t.read, None).await;
        assert_eq!(s, 503);
        assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
        let retry: u64 =
            headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After");
        assert!((1..=30).contains(&retry), "{retry}");
        assert!(body["detail"].as_str().expect("detail").contains("no-such-role"), "{body}");
    }
    assert_eq!(app.spawns().await, spawns, "no agent during the back-off");

    // Test connection ignores the back-off.
    let (_, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/broken/test", &t.admin, None).await;
    assert_eq!(report["ok"], json!(false));
    assert_eq!(app.spawns().await, spawns + 1.0);
}

async fn valid_app_tokens(bao: &api_tests::OpenBao) -> Vec<String> {
    // Accessors of live tokens whose policies include app-read.
    let list = bao.api("LIST", "auth/token/accessors", None, None).await.expect("list accessors");
    let mut out = Vec::new();
    for acc in list["data"]["keys"].as_array().cloned().unwrap_or_default() {
        let acc = acc.as_str().unwrap_or_default().to_string();
        if let Ok(info) = bao.api("POST", "auth/token/lookup-accessor", None, Some(json!({"accessor": acc}))).await
            && info["data"]["policies"].as_array().is_some_and(|p| p.contains(&json!("app-read")))
        {
            out.push(acc);
        }
    }
    out
}

#[tokio::test]
async fn replacing_a_profile_forces_a_new_login_and_revokes_the_old_token() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let path = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", path, &t.read, None).await.0, 200);
    let first = valid_app_tokens(&bao).await;
    assert_eq!(first.len(), 1, "one login so far");

    let body = json!({ "vault_address": bao.addr, "test_secret_path": "secret/data/app/db",
        "method": { "type": "jwt", "mount_path": "auth/jwt", "config": { "path": jwt, "role": "app" } } });
    let (s, replaced, _) = app.call("PUT", "/v1/tenants/team-a/profiles/p", &t.admin, Some(body)).await;
    assert_eq!(s, 200, "{replaced}");
    assert_eq!(replaced["revision"], json!(2));

    let spawns = app.spawns().await;
    assert_eq!(app.call("GET", path, &t.read, None).await.0, 200);
    assert_eq!(app.spawns().await, spawns + 1.0, "the new revision logs in again");

    // Revocation is best effort in the background: wait for it, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = valid_app_tokens(&bao).await;
        if !now.contains(&first[0]) && now.len() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "old token still valid: {now:?} (old {first:?})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Delete drops and revokes too.
    assert_eq!(app.call("DELETE", "/v1/tenants/team-a/profiles/p", &t.admin, None).await.0, 204);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !valid_app_tokens(&bao).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "token of a deleted profile still valid");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.call("GET", path, &t.read, None).await.0, 404);
    crate::helpers::assert_no_secrets_logged(&app, &bao, &[&t]);
}

#[tokio::test]
async fn profiles_are_listed_read_and_refused_with_pointers_when_invalid() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "one", &bao, &jwt, "app", json!({})).await;

    let (s, list, _) = app.call("GET", "/v1/tenants/team-a/profiles", &t.admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(list["profiles"].as_array().map(Vec::len), Some(1));
    let (s, one, _) = app.call("GET", "/v1/tenants/team-a/profiles/one", &t.admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(one["method"]["config"]["role"], json!("app"));

    // Duplicate name.
    let dup = json!({ "name": "one", "vault_address": bao.addr, "method": { "type": "jwt", "config": { "path": jwt, "role": "app" } } });
    let (s, body, _) = app.call("POST", "/v1/tenants/team-a/profiles", &t.admin, Some(dup)).await;
    assert_eq!(s, 409, "{body}");

    // A careless admin: every problem at once, each with its pointer.
    let bad = json!({ "name": "Bad Name", "vault_address": "vault.example.com", "namespace": "../x",
        "method": { "type": "aws", "exit_on_err": true, "config": { "type": "iam", "role": "r", "secret_key": "x" } },
        "test_secret_path": "sys/seal-status" });
    let (s, body, headers) = app.call("POST", "/v1/tenants/team-a/profiles", &t.admin, Some(bad.clone())).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    assert_eq!(body["errors"][0]["pointer"], json!("/name"), "the name is checked first: {body:#}");
    let mut fixed_name = bad.clone();
    fixed_name["name"] = json!("bad");
    let (s, body, _) = app.call("POST", "/v1/tenants/team-a/profiles", &t.admin, Some(fixed_name)).await;
    assert_eq!(s, 400);
    let pointers: Vec<&str> =
        body["errors"].as_array().expect("errors").iter().filter_map(|e| e["pointer"].as_str()).collect();
    for p in ["/vault_address", "/namespace", "/method/exit_on_err", "/method/config/secret_key", "/test_secret_path"] {
        assert!(pointers.contains(&p), "{p} missing in {pointers:?}");
    }
    for field in ["type", "title", "status", "detail"] {
        assert!(body.get(field).is_some(), "problem+json lacks {field}");
    }

    // Malformed JSON and unknown fields are problem+json too; nothing was stored.
    let resp = app
        .http
        .post(format!("{}/v1/tenants/team-a/profiles", app.base))
        .bearer_auth(&t.admin)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    let (s, body, _) = app
        .call(
            "POST",
            "/v1/tenants/team-a/profiles",
            &t.admin,
            Some(json!({"name": "x", "vault_address": bao.addr, "method": {}, "colour": 1})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["errors"][0]["pointer"], json!("/colour"), "{body}");
    let big =
        json!({ "name": "big", "vault_address": bao.addr, "method": { "type": "jwt", "pad": "x".repeat(200_000) } });
    assert_eq!(app.call("POST", "/v1/tenants/team-a/profiles", &t.admin, Some(big)).await.0, 413);
    let (_, list, _) = app.call("GET", "/v1/tenants/team-a/profiles", &t.admin, None).await;
    assert_eq!(list["profiles"].as_array().map(Vec::len), Some(1), "no half-written rows");
    // No agent ran and no run folder was left.
    assert_eq!(std::fs::read_dir(app.dir.path().join("agent-runs")).expect("dir").count(), 0);
}

#[tokio::test]
async fn the_operator_manages_tenants_and_keys_and_keys_are_shown_once() {
    let app = App::spawn().await;
    let (s, _, _) =
        app.call("POST", "/v1/tenants", &app.operator_key, Some(json!({"id": "Team_A", "name": "x"}))).await;
    assert_eq!(s, 400);
    let t = app.tenant("team-a").await;
    let (s, _, _) =
        app.call("POST", "/v1/tenants", &app.operator_key, Some(json!({"id": "team-a", "name": "again"}))).await;
    assert_eq!(s, 409);
    let (s, list, _) = app.call("GET", "/v1/tenants", &app.operator_key, None).await;
    assert_eq!(s, 200);
    assert_eq!(list["tenants"][0]["id"], json!("team-a"));
    // Tenant keys cannot list tenants; no key at all is 401.
    assert_eq!(app.call("GET", "/v1/tenants", &t.admin, None).await.0, 403);
    assert_eq!(app.call("GET", "/v1/tenants", "", None).await.0, 401);
    assert_eq!(app.call("GET", "/v1/tenants", "vas_0123456789abcdef_nope", None).await.0, 401);

    let (s, keys, _) = app.call("GET", "/v1/tenants/team-a/api-keys", &t.admin, None).await;
    assert_eq!(s, 200);
    let text = keys.to_string();
    assert!(!text.contains(&t.admin) && !text.contains(&t.read), "listing shows no key material");
    assert!(keys["api_keys"].as_array().expect("keys").iter().all(|k| k.get("key").is_none()));

    // Revoke the read key: it stops working.
    let read_id = t.read.split('_').nth(1).expect("id").to_string();
    assert_eq!(app.call("DELETE", &format!("/v1/tenants/team-a/api-keys/{read_id}"), &t.admin, None).await.0, 204);
    assert_eq!(app.call("GET", "/v1/tenants/team-a/profiles/x/secrets/secret/data/a", &t.read, None).await.0, 401);
    let v: Value = app.call("DELETE", &format!("/v1/tenants/team-a/api-keys/{read_id}"), &t.admin, None).await.1;
    assert_eq!(v["status"], json!(404));
}

#[tokio::test]
async fn a_stored_profile_whose_method_was_disabled_later_gets_a_report_not_an_error() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let mut first = App::spawn().await;
    let t = first.tenant("team-a").await;
    let jwt = first.jwt_file(&issuer, &t, "token");
    first.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    first.stop();
    // The operator restarts the service with jwt no longer allowed.
    let db = format!("sqlite://{}/db/auth.db", first.dir.path().display());
    let second = crate::helpers::App::spawn_with(crate::helpers::AppOptions {
        config_file: None,
        database_url: Some(db),
        extra_env: vec![
            ("AUTH_SERVICE_ALLOWED_METHODS".into(), "aws".into()),
            ("AUTH_SERVICE_OPERATOR_KEY".into(), first.operator_key.clone()),
        ],
    })
    .await;
    let (s, report, _) = second.call("POST", "/v1/tenants/team-a/profiles/p/test", &t.admin, None).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["ok"], json!(false));
    assert!(report["steps"][0]["detail"].as_str().expect("detail").contains("not enabled"), "{report:#}");
    let (s, body, _) =
        second.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 503, "{body}");
    assert!(body["hint"].as_str().expect("hint").contains("replace the profile"));
    assert_eq!(second.spawns().await, 0.0, "no agent for a refused block");
}
