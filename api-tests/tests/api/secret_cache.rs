//! The opt-in secret cache (`secret_cache_ttl`), through the real binary and a real OpenBao.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{App, bao_with_jwt};

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_caching_profile_answers_from_memory_says_so_and_drops_its_answers_when_it_changes() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "cached", &bao, &jwt, "app", json!({"secret_cache_ttl": "30s"})).await;
    app.jwt_profile(&t, "plain", &bao, &jwt, "app", json!({})).await;
    let (s, p, _) = app.call("GET", "/v1/tenants/acme/profiles/cached", &t.admin, None).await;
    assert_eq!((s, &p["secret_cache_ttl"]), (200, &json!("30s")), "{p}");
    assert!(p.get("secret_cache_leased").is_none(), "off unless asked: {p}");

    let read = "/v1/tenants/acme/profiles/cached/secrets/secret/data/app/db";
    let (s, first, h) = app.call("GET", read, &t.read, None).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(header(&h, "x-cache"), Some("MISS"));
    assert_eq!(header(&h, "cache-control"), Some("no-store"));
    // Vault's value changes; the cached profile keeps answering the kept value (no Vault call).
    bao.kv2_put(None, "app/db", json!({"username": "alice", "password": "rotated"})).await.expect("kv put");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, second, h) = app.call("GET", read, &t.read, None).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(header(&h, "x-cache"), Some("HIT"));
    assert!(header(&h, "age").and_then(|a| a.parse::<u64>().ok()).is_some_and(|a| a >= 1), "{h:?}");
    assert_eq!(second["data"], first["data"], "the kept answer");
    // The Vault-compatible endpoint shares the cache and says so too; another query is its own entry.
    let facade = format!("{}/vault/acme/cached/v1/secret/data/app/db", app.base);
    let resp = app.http.get(&facade).header("X-Vault-Token", &t.read).send().await.expect("facade read");
    assert_eq!(header(resp.headers(), "x-cache"), Some("HIT"), "the same path and query: the same entry");
    let body: Value = resp.json().await.expect("envelope");
    assert_eq!(body["data"], first["data"], "Vault's envelope around the kept answer");
    let versioned = format!("{facade}?version=1");
    let resp = app.http.get(&versioned).header("X-Vault-Token", &t.read).send().await.expect("facade read");
    assert_eq!(header(resp.headers(), "x-cache"), Some("MISS"), "another query");
    // Another tenant's key never reaches the kept answer: 404 as for any of its reads, no X-Cache.
    let other = app.tenant("other").await;
    let (s, b, h) = app.call("GET", read, &other.read, None).await;
    assert_eq!(s, 404, "{b}");
    assert!(header(&h, "x-cache").is_none() && b.get("data").is_none(), "{b}");
    let resp = app.http.get(&facade).header("X-Vault-Token", &other.read).send().await.expect("facade read");
    assert_eq!(resp.status().as_u16(), 403, "Vault's answer to a foreign token");
    assert!(header(resp.headers(), "x-cache").is_none());
    // A profile without the cache reads Vault each time and sends no X-Cache.
    let (s, plain, h) =
        app.call("GET", "/v1/tenants/acme/profiles/plain/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!((s, plain["data"]["data"]["password"].as_str()), (200, Some("rotated")), "{plain}");
    assert!(header(&h, "x-cache").is_none());

    // Any change to the profile drops its answers: the next read is Vault's current value.
    let body = json!({ "vault_address": bao.addr, "secret_cache_ttl": "2s",
        "method": { "type": "jwt", "mount_path": "auth/jwt", "config": { "path": jwt, "role": "app" } } });
    let (s, b, _) = app.call("PUT", "/v1/tenants/acme/profiles/cached", &t.admin, Some(body)).await;
    assert_eq!(s, 200, "{b}");
    let (s, third, h) = app.call("GET", read, &t.read, None).await;
    assert_eq!((s, header(&h, "x-cache")), (200, Some("MISS")), "{third}");
    assert_eq!(third["data"]["data"]["password"], json!("rotated"));
    assert_eq!(header(&app.call("GET", read, &t.read, None).await.2, "x-cache"), Some("HIT"));
    // An entry lives only as long as the profile says (2 s here).
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(header(&app.call("GET", read, &t.read, None).await.2, "x-cache"), Some("MISS"));
    let entries = app.counter("auth_service_cache_entries", "cache=\"secrets\"").await;
    assert!(entries >= 1.0, "the cache size is in the metrics: {}", app.metrics().await);
    // Turned off with 0s.
    let body = json!({ "vault_address": bao.addr, "secret_cache_ttl": "0s",
        "method": { "type": "jwt", "mount_path": "auth/jwt", "config": { "path": jwt, "role": "app" } } });
    let (s, b, _) = app.call("PUT", "/v1/tenants/acme/profiles/cached", &t.admin, Some(body)).await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("secret_cache_ttl").is_none(), "{b}");
    assert!(header(&app.call("GET", read, &t.read, None).await.2, "x-cache").is_none());
    // Neither keys, tokens, the JWT nor the kept secret value reach the log.
    crate::helpers::assert_no_secrets_logged(&app, &bao, &[&t, &other]);
    crate::helpers::assert_log_free_of(&app, &["rotated".to_string(), "s3cr3t".to_string()]);
}

#[tokio::test]
async fn bad_secret_cache_settings_get_a_clear_error_and_store_nothing() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let cases: [(Value, &str, &str); 4] = [
        (json!({"secret_cache_ttl": "soon"}), "/secret_cache_ttl", "is not a duration"),
        (json!({"secret_cache_ttl": "48h"}), "/secret_cache_ttl", "at most 24h"),
        (json!({"secret_cache_ttl": "1500ms"}), "/secret_cache_ttl", "whole seconds"),
        (json!({"secret_cache_leased": true}), "/secret_cache_leased", "set secret_cache_ttl"),
    ];
    for (extra, pointer, words) in cases {
        let mut body = json!({ "name": "p", "vault_address": bao.addr,
            "method": { "type": "jwt", "mount_path": "auth/jwt", "config": { "path": jwt, "role": "app" } } });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (s, b, h) = app.call("POST", "/v1/tenants/acme/profiles", &t.admin, Some(body)).await;
        assert_eq!(s, 400, "{extra}: {b}");
        assert_eq!(header(&h, "content-type"), Some("application/problem+json"));
        let errors = b["errors"].as_array().expect("errors");
        assert!(
            errors
                .iter()
                .any(|e| e["pointer"] == json!(pointer) && e["message"].as_str().is_some_and(|m| m.contains(words))),
            "{extra}: {b}"
        );
        assert_eq!(app.call("GET", "/v1/tenants/acme/profiles/p", &t.admin, None).await.0, 404, "nothing stored");
    }
}
