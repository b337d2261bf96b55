//! Noisy connectors and concurrent admins: policy denials cost no logins,
//! replace is a compare-and-set, keys have rates, requests carry ids.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{App, AppOptions, bao_with_jwt};

#[tokio::test]
async fn a_connector_polling_a_forbidden_path_causes_no_agent_run_and_no_revocation() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let other = app.key("team-a", &t.admin, json!(["read"])).await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let allowed = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", allowed, &other, None).await.0, 200, "warm the cache");
    let spawns = app.spawns().await;
    let hits = app.counter("auth_service_token_cache_hits_total", "").await;
    let forbidden = "/v1/tenants/team-a/profiles/p/secrets/secret/data/other/x";
    for i in 0..100 {
        let (s, b, _) = app.call("GET", forbidden, &t.read, None).await;
        assert_eq!(s, 403, "{b}");
        if i % 10 == 0 {
            // Another connector keeps reading from the cache meanwhile.
            assert_eq!(app.call("GET", allowed, &other, None).await.0, 200);
        }
    }
    assert_eq!(app.spawns().await, spawns, "a policy denial runs no agent");
    assert!(app.counter("auth_service_token_cache_hits_total", "").await >= hits + 110.0);
    assert!(!app.log().contains("revoked superseded token"), "no revocation");
    // A path behind a namespace prefix that Vault would route to auth/ is refused before any login.
    let (s, b, _) =
        app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/ns1/auth/token/lookup-self", &t.read, None).await;
    assert_eq!(s, 400, "{b}");
}

#[tokio::test]
async fn two_concurrent_replaces_with_the_same_if_match_give_one_200_and_one_412() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let (s, _, headers) = app.call("GET", "/v1/tenants/team-a/profiles/p", &t.admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(headers.get("etag").and_then(|v| v.to_str().ok()), Some("\"1\""));
    let body =
        json!({ "vault_address": bao.addr, "method": { "type": "jwt", "config": { "path": jwt, "role": "app" } } });
    let put = |if_match: &'static str| {
        app.http
            .put(format!("{}/v1/tenants/team-a/profiles/p", app.base))
            .bearer_auth(&t.admin)
            .header("If-Match", if_match)
            .json(&body)
            .send()
    };
    let (x, y) = tokio::join!(put("\"1\""), put("\"1\""));
    let mut statuses = [x.expect("x").status().as_u16(), y.expect("y").status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 412]);
    // A stale If-Match is refused; the current one works; the ETag moves on.
    let resp = put("\"1\"").await.expect("put");
    assert_eq!(resp.status().as_u16(), 412);
    let problem: serde_json::Value = resp.json().await.expect("json");
    assert!(problem["detail"].as_str().expect("detail").contains("revision 2"), "{problem}");
    let resp = put("\"2\"").await.expect("put");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers().get("etag").and_then(|v| v.to_str().ok()), Some("\"3\""));
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_are_unaffected() {
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![("AUTH_SERVICE_RATE_LIMIT_READ".into(), "3".into())],
        database_url: None,
    })
    .await;
    let t = app.tenant("team-a").await;
    let second = app.key("team-a", &t.admin, json!(["read"])).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let (s, _, h) = app.call("GET", "/v1/whoami", &t.read, None).await;
        statuses.push(s);
        if s == 429 {
            retry_after = h.get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "the burst passes: {statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    assert!(retry_after.as_deref().is_some_and(|r| r.parse::<u64>().is_ok_and(|n| n >= 1)), "{retry_after:?}");
    assert_eq!(app.call("GET", "/v1/whoami", &second, None).await.0, 200, "another key is unaffected");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.call("GET", "/v1/whoami", &t.read, None).await.0, 200, "the rate refills");
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_problems_and_logs_repeat() {
    let app = App::spawn().await;
    let resp = app
        .http
        .get(format!("{}/v1/tenants/nope/profiles", app.base))
        .bearer_auth(&app.operator_key)
        .header("X-Request-Id", "trace-42.abc")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("trace-42.abc"));
    let problem: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(problem["request_id"], json!("trace-42.abc"), "{problem}");
    // A malformed one is replaced by a generated id.
    let resp = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("X-Request-Id", "bad id with spaces")
        .send()
        .await
        .expect("get");
    let id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).expect("id").to_string();
    assert_eq!(id.len(), 32, "{id}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.log().contains("trace-42.abc") && app.log().contains(&id), "ids appear in the log");
}

/// A stand-in agent: logins whose config names the role `hang` never finish;
/// every other login runs the real OpenBao agent.
fn hanging_agent(dir: &std::path::Path) -> std::path::PathBuf {
    let script = dir.join("maybe-hang");
    let text = format!(
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in -config=*) cfg=\"${{a#-config=}}\";; esac; done\n\
         if [ -n \"$cfg\" ] && grep -q 'role *= *\"hang\"' \"$cfg\"; then exec sleep 60; fi\nexec {} \"$@\"\n",
        api_tests::bao_bin().display()
    );
    std::fs::write(&script, text).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

#[tokio::test]
async fn a_tenant_whose_agents_hang_cannot_starve_another_tenant_and_queued_work_gets_503() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![
            ("AUTH_SERVICE_AGENT_BIN".into(), hanging_agent(dir.path()).display().to_string()),
            ("AUTH_SERVICE_AGENT_TIMEOUT".into(), "8s".into()),
            ("AUTH_SERVICE_AGENT_QUEUE_TIMEOUT".into(), "2s".into()),
            ("AUTH_SERVICE_MAX_AGENTS_PER_TENANT".into(), "2".into()),
            ("AUTH_SERVICE_MAX_CONCURRENT_AGENTS".into(), "4".into()),
        ],
        database_url: None,
    })
    .await;
    let noisy = app.tenant("noisy").await;
    let calm = app.tenant("calm").await;
    let noisy_jwt = app.jwt_file(&issuer, &noisy, "token");
    for i in 0..10 {
        app.jwt_profile(&noisy, &format!("p{i}"), &bao, &noisy_jwt, "hang", json!({})).await;
    }
    let calm_jwt = app.jwt_file(&issuer, &calm, "token");
    app.jwt_profile(&calm, "p", &bao, &calm_jwt, "app", json!({})).await;

    // Ten first reads of the noisy tenant at once: two hang in their slots, the rest queue.
    let reads: Vec<_> = (0..10)
        .map(|i| {
            let url = format!("{}/v1/tenants/noisy/profiles/p{i}/secrets/secret/data/app/db", app.base);
            let req = app.http.get(url).bearer_auth(&noisy.read);
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let resp = req.send().await.expect("answer");
                let retry = resp.headers().get("retry-after").is_some();
                (resp.status().as_u16(), retry, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Meanwhile the calm tenant's first read runs its own agent at once.
    let started = std::time::Instant::now();
    let (s, b, _) = app.call("GET", "/v1/tenants/calm/profiles/p/secrets/secret/data/app/db", &calm.read, None).await;
    let calm_took = started.elapsed();
    assert_eq!(s, 200, "{b}");
    eprintln!("the calm tenant's first read took {calm_took:?} while the noisy tenant's agents hung");
    assert!(calm_took < Duration::from_millis(2500), "took {calm_took:?}");
    let mut busy = 0;
    for r in reads {
        let (status, retry, took) = r.await.expect("task");
        if status == 503 && retry && took < Duration::from_secs(4) {
            busy += 1;
        }
    }
    assert!(busy >= 7, "queued reads beyond the wait bound get a fast 503 with Retry-After ({busy} of 10)");
}

#[tokio::test]
async fn every_action_appears_once_in_the_audit_trail_without_values_and_pages_by_cursor() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let other = app.tenant("team-b").await;
    let patch = json!({"methods": ["jwt"]});
    assert_eq!(app.call("PATCH", "/v1/tenants/team-a", &app.operator_key, Some(patch)).await.0, 200);
    let spare = app.key("team-a", &t.admin, json!(["read"])).await;
    // A key reads vas_<id>_<secret>.
    let spare_id = spare.split('_').nth(1).expect("key id").to_string();
    assert_eq!(app.call("DELETE", &format!("/v1/tenants/team-a/api-keys/{spare_id}"), &t.admin, None).await.0, 204);
    let jwt = app.jwt_file(&issuer, &t, "token");
    let profile = app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let mut replaced = profile.clone();
    for k in ["revision", "created_at", "updated_at", "last_test"] {
        replaced.as_object_mut().expect("object").remove(k);
    }
    assert_eq!(app.call("PUT", "/v1/tenants/team-a/profiles/p", &t.admin, Some(replaced)).await.0, 200);
    assert_eq!(app.call("POST", "/v1/tenants/team-a/profiles/p/test", &t.admin, None).await.0, 200);
    let (s, b, _) = app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(app.call("DELETE", "/v1/tenants/team-a/profiles/p", &t.admin, None).await.0, 204);

    // Events are written in the background: wait for all of them.
    let want = [
        "tenant.update",
        "key.create",
        "key.revoke",
        "profile.create",
        "profile.replace",
        "profile.test",
        "secret.read",
        "profile.delete",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let events = loop {
        let (s, page, _) = app.call("GET", "/v1/tenants/team-a/audit?limit=1000", &t.admin, None).await;
        assert_eq!(s, 200, "{page}");
        let events = page["events"].as_array().expect("events").clone();
        // key.create of the admin and read keys made by the test helper come first.
        if want.iter().all(|a| events.iter().any(|e| e["action"] == json!(a))) || std::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for action in [
        "tenant.update",
        "key.revoke",
        "profile.create",
        "profile.replace",
        "profile.test",
        "secret.read",
        "profile.delete",
    ] {
        let n = events.iter().filter(|e| e["action"] == json!(action)).count();
        assert_eq!(n, 1, "{action} appears once: {events:#?}");
    }
    let read = events.iter().find(|e| e["action"] == json!("secret.read")).expect("read");
    assert_eq!(
        (read["profile"].clone(), read["path"].clone(), read["outcome"].clone()),
        (json!("p"), json!("secret/data/app/db"), json!("ok"))
    );
    assert!(read["request_id"].as_str().is_some_and(|r| r.len() == 32) && read["duration_ms"].is_number(), "{read}");
    assert!(read["actor"].as_str().is_some_and(|a| a.starts_with("key:")));
    let text = serde_json::to_string(&events).expect("json");
    for secret in [&t.admin, &t.read, &spare, &app.operator_key, &std::fs::read_to_string(&jwt).expect("jwt")] {
        assert!(!text.contains(secret.as_str()), "a key or JWT leaked into the audit trail");
    }
    assert!(!text.contains("s3cr3t"), "a secret value leaked into the audit trail");

    // Pages by cursor, oldest first, and nothing of another tenant.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let (_, page, _) =
            app.call("GET", &format!("/v1/tenants/team-a/audit?after={after}&limit=3"), &t.admin, None).await;
        seen.extend(page["events"].as_array().expect("events").iter().map(|e| e["id"].as_i64().expect("id")));
        match page["next"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    let all: Vec<i64> = events.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    assert_eq!(seen, all);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        app.call("GET", "/v1/tenants/team-a/audit", &t.read, None).await.0,
        403,
        "read keys cannot read the trail"
    );
    let (_, b_page, _) = app.call("GET", "/v1/tenants/team-b/audit", &other.admin, None).await;
    assert!(
        b_page["events"].as_array().expect("events").iter().all(|e| e["action"] == json!("key.create")),
        "{b_page}"
    );
}

#[tokio::test]
async fn a_method_a_path_does_not_have_gets_405_with_allow() {
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    for (method, path, allow) in [
        ("PATCH", "/v1/tenants/team-a/profiles/p", "GET, PUT, DELETE"),
        ("DELETE", "/v1/tenants", "GET, POST"),
        ("PUT", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db", "GET"),
    ] {
        let resp = app
            .http
            .request(method.parse().expect("method"), format!("{}{path}", app.base))
            .bearer_auth(&t.admin)
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 405, "{method} {path}");
        assert_eq!(resp.headers().get("allow").and_then(|v| v.to_str().ok()), Some(allow), "{method} {path}");
        assert_eq!(resp.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    }
    assert_eq!(app.call("GET", "/v1/no/such/route", &t.admin, None).await.0, 404);
}

#[tokio::test]
async fn test_connection_has_a_per_profile_cooldown_and_a_changed_profile_starts_fresh() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![("AUTH_SERVICE_TEST_COOLDOWN".into(), "3s".into())],
        database_url: None,
    })
    .await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let profile = app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let test = "/v1/tenants/team-a/profiles/p/test";
    assert_eq!(app.call("POST", test, &t.admin, None).await.0, 200);
    let (s, b, h) = app.call("POST", test, &t.admin, None).await;
    assert_eq!(s, 429, "{b}");
    assert!(h.get("retry-after").and_then(|v| v.to_str().ok()).is_some_and(|v| v.parse::<u64>().is_ok()), "{h:?}");
    let spawns = app.spawns().await;
    assert_eq!(spawns, 1.0, "the refused test ran no agent");
    // A replaced profile is new content: it can be tested at once.
    let mut replaced = profile.clone();
    for k in ["revision", "created_at", "updated_at", "last_test"] {
        replaced.as_object_mut().expect("object").remove(k);
    }
    assert_eq!(app.call("PUT", "/v1/tenants/team-a/profiles/p", &t.admin, Some(replaced)).await.0, 200);
    assert_eq!(app.call("POST", test, &t.admin, None).await.0, 200);
}

#[tokio::test]
async fn a_request_past_the_request_timeout_gets_503_and_leaves_no_agent_behind() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = hanging_agent(dir.path());
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![
            ("AUTH_SERVICE_AGENT_BIN".into(), agent.display().to_string()),
            ("AUTH_SERVICE_AGENT_TIMEOUT".into(), "20s".into()),
            ("AUTH_SERVICE_REQUEST_TIMEOUT".into(), "2s".into()),
        ],
        database_url: None,
    })
    .await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "hang", json!({})).await;
    let started = std::time::Instant::now();
    let (s, b, h) = app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 503, "{b}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(h.get("retry-after").is_some() && b["request_id"].is_string(), "{b}");
    // The dropped request's agent is killed and its run folder removed.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let runs = app.dir.path().join("agent-runs");
    loop {
        let left = std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0);
        if left == 0 && api_tests::count_processes_matching(&agent.display().to_string()) == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left} run folders or an agent left behind");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn audit_events_written_in_batches_all_reach_the_database_even_across_a_shutdown() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let db_dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/auth.db", db_dir.path().display());
    let mut app = App::spawn_with(AppOptions { database_url: Some(url.clone()), ..AppOptions::default() }).await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let read = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    // 200 concurrent reads, then SIGTERM at once: shutdown flushes what is still queued.
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (http, url, key) = (app.http.clone(), format!("{}{read}", app.base), t.read.clone());
        reads.spawn(async move { http.get(url).bearer_auth(key).send().await.map(|r| r.status().as_u16()) });
    }
    while let Some(done) = reads.join_next().await {
        assert_eq!(done.expect("task").expect("read"), 200);
    }
    app.stop();
    // The same database under a new process: every read is in the trail.
    let again = App::spawn_with(AppOptions {
        config_file: None,
        database_url: Some(url),
        extra_env: vec![("AUTH_SERVICE_OPERATOR_KEY".into(), app.operator_key.clone())],
    })
    .await;
    let (s, page, _) = again.call("GET", "/v1/tenants/team-a/audit?limit=1000", &t.admin, None).await;
    assert_eq!(s, 200, "{page}");
    let reads =
        page["events"].as_array().expect("events").iter().filter(|e| e["action"] == json!("secret.read")).count();
    assert_eq!(reads, 200, "every read recorded, none lost at shutdown");
}
