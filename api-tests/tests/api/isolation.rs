//! Scopes, tenant isolation and the documents the service serves.

use serde_json::json;

use crate::helpers::{App, bao_with_jwt};

#[tokio::test]
async fn a_read_key_cannot_manage_profiles_and_another_tenant_gets_404() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let jwt = app.jwt_file(&issuer, &a, "token");
    app.jwt_profile(&a, "p", &bao, &jwt, "app", json!({})).await;

    // A read key may browse profiles (the console shows them read-only) but not change them.
    assert_eq!(app.call("GET", "/v1/tenants/tenant-a/profiles", &a.read, None).await.0, 200);
    assert_eq!(
        app.call(
            "PUT",
            "/v1/tenants/tenant-a/profiles/p",
            &a.read,
            Some(json!({"vault_address": bao.addr, "method": {"type": "jwt", "config": {"path": jwt, "role": "app"}}}))
        )
        .await
        .0,
        403
    );
    assert_eq!(app.call("POST", "/v1/tenants/tenant-a/profiles/p/test", &a.read, None).await.0, 403);
    assert_eq!(app.call("DELETE", "/v1/tenants/tenant-a/profiles/p", &a.read, None).await.0, 403);
    assert_eq!(
        app.call("POST", "/v1/tenants/tenant-a/api-keys", &a.read, Some(json!({"name": "x", "scopes": ["admin"]})))
            .await
            .0,
        403
    );

    // Tenant B's keys: 404 for A's existing profile, exactly like a missing one.
    for key in [&b.admin, &b.read] {
        let (s1, mut body1, _) =
            app.call("GET", "/v1/tenants/tenant-a/profiles/p/secrets/secret/data/app/db", key, None).await;
        let (s2, mut body2, _) =
            app.call("GET", "/v1/tenants/tenant-a/profiles/nope/secrets/secret/data/app/db", key, None).await;
        // Each request has its own id; everything else must be identical.
        for body in [&mut body1, &mut body2] {
            body.as_object_mut().expect("object").remove("request_id");
        }
        assert_eq!((s1, s2), (404, 404));
        assert_eq!(body1, body2, "existing and missing look the same");
    }
    assert_eq!(app.call("GET", "/v1/tenants/tenant-a/profiles/p", &b.admin, None).await.0, 404);
    assert_eq!(
        app.call(
            "PUT",
            "/v1/tenants/tenant-a/profiles/p",
            &b.admin,
            Some(json!({"vault_address": bao.addr, "method": {}}))
        )
        .await
        .0,
        404
    );
    assert_eq!(app.call("GET", "/v1/tenants/tenant-a/api-keys", &b.admin, None).await.0, 404);
    // The profile is untouched.
    assert_eq!(app.call("GET", "/v1/tenants/tenant-a/profiles/p", &a.admin, None).await.1["revision"], json!(1));
    crate::helpers::assert_no_secrets_logged(&app, &bao, &[&a, &b]);
}

#[tokio::test]
async fn secret_paths_that_are_not_secret_reads_are_refused_before_any_login() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let a = app.tenant("tenant-a").await;
    let jwt = app.jwt_file(&issuer, &a, "token");
    app.jwt_profile(&a, "p", &bao, &jwt, "app", json!({})).await;
    for bad in
        ["sys/seal-status", "auth/token/lookup-self", "identity/entity/id", "secret/data/../../sys/seal", "secret//x"]
    {
        let (s, body, _) =
            app.call("GET", &format!("/v1/tenants/tenant-a/profiles/p/secrets/{bad}"), &a.read, None).await;
        assert!(s == 400 || s == 404, "{bad}: {s} {body}");
    }
    assert_eq!(app.spawns().await, 0.0);
}

#[tokio::test]
async fn health_readiness_openapi_and_docs_are_served_without_a_key() {
    let app = App::spawn().await;
    let get = |p: &str| app.http.get(format!("{}{p}", app.base)).send();
    assert_eq!(get("/healthz").await.expect("healthz").status().as_u16(), 200);
    let ready = get("/readyz").await.expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    let doc: serde_json::Value = get("/openapi.json").await.expect("openapi").json().await.expect("json");
    assert_eq!(doc["info"]["title"], json!("Vault Agent Authentication Service"));
    assert!(doc["paths"]["/v1/tenants/{tenant}/profiles/{name}/test"]["post"].is_object());
    let page = get("/docs/").await.expect("docs");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger"), "the Swagger UI page");
    assert!(!html.contains("https://"), "the page loads nothing from outside");
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/swagger-initializer.js"] {
        let resp = get(asset).await.expect("asset");
        assert_eq!(resp.status().as_u16(), 200, "{asset} is served by the service itself");
        let text = resp.text().await.expect("text");
        if asset.ends_with("initializer.js") {
            assert!(text.contains("/openapi.json"), "the page loads the service's own document");
        }
    }
    let metrics = get("/metrics").await.expect("metrics").text().await.expect("text");
    for name in [
        "auth_service_agent_spawns_total",
        "auth_service_agent_spawn_seconds",
        "auth_service_token_cache_hits_total",
        "auth_service_token_cache_misses_total",
        "auth_service_secret_reads_total",
    ] {
        assert!(metrics.contains(name), "{name}");
    }
    let (s, body, _) = app.call("GET", "/nope", "", None).await;
    assert_eq!((s, body["status"].clone()), (404, json!(404)));
}
