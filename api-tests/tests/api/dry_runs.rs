//! What a console needs: who a key is, the enforced schema, and dry runs that store nothing.

use serde_json::json;

use crate::helpers::{App, bao_with_jwt};

#[tokio::test]
async fn a_key_says_who_it_is_and_the_schema_follows_the_allowed_methods() {
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let (s, me, _) = app.call("GET", "/v1/whoami", &t.read, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (me["tenant"].clone(), me["scopes"].clone(), me["name"].clone()),
        (json!("team-a"), json!(["read"]), json!("k"))
    );
    let (_, op, _) = app.call("GET", "/v1/whoami", &app.operator_key, None).await;
    assert_eq!(op, json!({"operator": true}));
    assert_eq!(app.call("GET", "/v1/whoami", "vas_nope_nope", None).await.0, 401);

    let (s, schema, _) = app.call("GET", "/v1/schemas/method-block", &t.read, None).await;
    assert_eq!(s, 200);
    assert_eq!(schema["properties"]["type"]["enum"], json!(["aws", "jwt"]), "{schema}");
    assert_eq!(schema["allOf"].as_array().map(Vec::len), Some(2));
    // With jwt disabled, only aws is described.
    let aws_only = App::spawn_with(crate::helpers::AppOptions {
        config_file: None,
        extra_env: vec![("AUTH_SERVICE_ALLOWED_METHODS".into(), "aws".into())],
        database_url: None,
    })
    .await;
    let u = aws_only.tenant("team-a").await;
    let (_, schema, _) = aws_only.call("GET", "/v1/schemas/method-block", &u.read, None).await;
    assert_eq!(schema["properties"]["type"]["enum"], json!(["aws"]));
}

#[tokio::test]
async fn render_and_test_dry_runs_mask_secrets_and_store_nothing() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let body = |role: &str| {
        json!({ "name": "draft", "vault_address": bao.addr, "test_secret_path": "secret/data/app/db",
                "method": { "type": "jwt", "config": { "path": jwt, "role": role } } })
    };
    let (s, rendered, _) = app.call("POST", "/v1/tenants/team-a/profiles/render", &t.admin, Some(body("app"))).await;
    assert_eq!(s, 200, "{rendered}");
    let hcl = rendered["hcl"].as_str().expect("hcl");
    assert!(hcl.contains("method \"jwt\"") && hcl.contains("<private run folder>/token"), "{hcl}");
    let ec2 = json!({ "name": "e", "vault_address": bao.addr, "method": { "type": "aws", "config": { "type": "ec2", "role": "r" } } });
    let (s, b, _) = app.call("POST", "/v1/tenants/team-a/profiles/render", &t.admin, Some(ec2)).await;
    assert_eq!(s, 400, "ec2 is not granted: {b}");
    let (s, b, _) = app
        .call(
            "POST",
            "/v1/tenants/team-a/profiles/render",
            &t.admin,
            Some(json!({"vault_address": "nope", "method": {}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["errors"].as_array().is_some_and(|e| e.len() >= 2), "every problem at once: {b}");

    let spawns = app.spawns().await;
    let (s, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/test", &t.admin, Some(body("app"))).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(app.spawns().await, spawns + 1.0);
    let (_, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/test", &t.admin, Some(body("missing"))).await;
    assert_eq!(report["ok"], json!(false));
    assert!(report["hint"].as_str().expect("hint").contains("\"missing\" does not exist"), "{report:#}");
    // Nothing stored; a read key may not run dry runs.
    let (_, list, _) = app.call("GET", "/v1/tenants/team-a/profiles", &t.admin, None).await;
    assert_eq!(list["profiles"], json!([]));
    assert_eq!(app.call("POST", "/v1/tenants/team-a/profiles/test", &t.read, Some(body("app"))).await.0, 403);
    // The dry-run token was revoked, not cached: wait for the background revocation.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if app.log().contains("revoked superseded token") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the dry-run token was not revoked: {}", app.log());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_a_strict_policy() {
    let app = App::spawn().await;
    for path in ["/console", "/console/", "/console/js/main.js", "/console/js/validation.js", "/console/css/base.css"] {
        let resp = app.http.get(format!("{}{path}", app.base)).send().await.expect("get");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let h = resp.headers();
        let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(
            csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(h.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
        assert_eq!(h.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"));
    }
    // Only the listed files: no path leads elsewhere.
    for path in [
        "/console/app.js",
        "/console/validate.js",
        "/console/style.css",
        "/console/js/nope.js",
        "/console/../Cargo.toml",
        "/console/js/%2e%2e/api.js",
    ] {
        let resp = app.http.get(format!("{}{path}", app.base)).send().await.expect("get");
        assert_eq!(resp.status().as_u16(), 404, "{path}");
    }
}

#[tokio::test]
async fn profile_options_are_the_tenants_effective_grants() {
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let (s, b, _) = app.call("GET", "/v1/tenants/team-a/profile-options", &t.admin, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["methods"], json!(["iam", "jwt"]), "ec2 needs the operator's grant in per-tenant-role mode");
    assert_eq!(b["vault_addresses"], json!(["http://127.0.0.1:*", "https://127.0.0.1:*"]));
    assert_eq!(b["jwt_folders"], json!([format!("{}/", app.jwt_dir.join("team-a").display())]));
    assert!(b["agent_timeout_seconds"].as_u64().is_some_and(|s| s > 0), "{b}");
    let (s, _, _) = app
        .call(
            "PATCH",
            "/v1/tenants/team-a",
            &app.operator_key,
            Some(json!({"methods": ["jwt"], "vault_addresses": ["http://127.0.0.1:8200"]})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, b, _) = app.call("GET", "/v1/tenants/team-a/profile-options", &t.admin, None).await;
    assert_eq!(
        (b["methods"].clone(), b["vault_addresses"].clone()),
        (json!(["jwt"]), json!(["http://127.0.0.1:8200"]))
    );
    assert_eq!(app.call("GET", "/v1/tenants/team-a/profile-options", &t.read, None).await.0, 403);
    // Another tenant's admin learns nothing, not even that the tenant exists.
    let other = app.tenant("team-b").await;
    assert_eq!(app.call("GET", "/v1/tenants/team-a/profile-options", &other.admin, None).await.0, 404);
    assert_eq!(app.call("GET", "/v1/tenants/nobody/profile-options", &other.admin, None).await.0, 404);
}

#[tokio::test]
async fn validate_lists_every_problem_of_a_body_at_once_and_stores_nothing() {
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let url = "/v1/tenants/team-a/profiles/validate";
    let bad = json!({
        "name": "Not A Name",
        "vault_address": "http://10.0.0.1:8200",
        "method": { "type": "jwt", "config": { "path": "/etc/passwd", "role": "r", "remove_jwt_after_reading": true } },
        "test_secret_path": "sys/seal-status",
        "secret_cache_ttl": "forever"
    });
    let (s, body, _) = app.call("POST", url, &t.admin, Some(bad)).await;
    assert_eq!(s, 400, "{body}");
    let mut pointers: Vec<&str> =
        body["errors"].as_array().expect("errors").iter().filter_map(|e| e["pointer"].as_str()).collect();
    pointers.sort_unstable();
    assert_eq!(
        pointers,
        [
            "/method/config/path",
            "/method/config/remove_jwt_after_reading",
            "/name",
            "/secret_cache_ttl",
            "/test_secret_path",
            "/vault_address"
        ],
        "every problem in one answer: {body}"
    );
    // A good body: valid, and nothing stored; a read key may not ask.
    let jwt = app.jwt_dir.join("team-a");
    std::fs::create_dir_all(&jwt).expect("folder");
    let good = json!({ "name": "p", "vault_address": "http://127.0.0.1:8200",
        "method": { "type": "jwt", "config": { "path": jwt.join("token").display().to_string(), "role": "r" } } });
    let (s, body, _) = app.call("POST", url, &t.admin, Some(good.clone())).await;
    assert_eq!((s, body), (200, json!({"valid": true})));
    assert_eq!(app.call("POST", url, &t.read, Some(good)).await.0, 403);
    let (_, list, _) = app.call("GET", "/v1/tenants/team-a/profiles", &t.admin, None).await;
    assert_eq!(list["profiles"], json!([]));
}
