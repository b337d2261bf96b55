//! Faults around the service, each through the real binary: Vault down then
//! back, Vault too slow, the agent crashing, an unusable data folder at start.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{App, AppOptions, bao_with_jwt, service_bin};

/// Forward every connection on `listener` to `upstream`, delaying secret reads by `delay`.
async fn forward(listener: tokio::net::TcpListener, upstream: String, delay: Duration) {
    while let Ok((mut client, _)) = listener.accept().await {
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await else { return };
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            if head.contains(" /v1/secret/") {
                tokio::time::sleep(delay).await;
            }
            let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else { return };
            // One request per connection: ask the server to close after answering.
            let request = head.replacen("\r\n", "\r\nConnection: close\r\n", 1);
            if server.write_all(request.as_bytes()).await.is_err() {
                return;
            }
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(15), server.read_to_end(&mut answer)).await;
            let _ = client.write_all(&answer).await;
        });
    }
}

#[tokio::test]
async fn vault_down_at_first_then_back_is_read_after_the_back_off_without_a_restart() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    // An address where nothing listens yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![("AUTH_SERVICE_LOGIN_BACKOFF_INITIAL".into(), "1s".into())],
        database_url: None,
    })
    .await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let body = json!({ "name": "p", "vault_address": format!("http://127.0.0.1:{port}"),
                       "method": { "type": "jwt", "config": { "path": jwt, "role": "app" } } });
    assert_eq!(app.call("POST", "/v1/tenants/team-a/profiles", &t.admin, Some(body)).await.0, 201);
    let read = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    let (s, b, h) = app.call("GET", read, &t.read, None).await;
    assert_eq!(s, 503, "Vault down: {b}");
    assert!(h.get("retry-after").is_some() && b["hint"].as_str().is_some_and(|h| h.contains("vault_address")), "{b}");
    // Vault comes back on that address.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the port is free again");
    tokio::spawn(forward(listener, bao.addr.trim_start_matches("http://").to_string(), Duration::ZERO));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, b, _) = app.call("GET", read, &t.read, None).await;
        if s == 200 {
            assert_eq!(b["data"]["data"]["password"], json!("s3cr3t"));
            break;
        }
        assert_eq!(s, 503, "{b}");
        assert!(Instant::now() < deadline, "Vault came back but reads did not recover");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_vault_slower_than_the_vault_timeout_gets_504_without_hanging() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let slow = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(forward(listener, bao.addr.trim_start_matches("http://").to_string(), Duration::from_secs(5)));
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![("AUTH_SERVICE_VAULT_TIMEOUT".into(), "1s".into())],
        database_url: None,
    })
    .await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let body = json!({ "name": "p", "vault_address": slow, "method": { "type": "jwt", "config": { "path": jwt, "role": "app" } } });
    assert_eq!(app.call("POST", "/v1/tenants/team-a/profiles", &t.admin, Some(body)).await.0, 201);
    let started = Instant::now();
    let (s, b, _) = app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 504, "{b}");
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn an_agent_that_crashes_is_reported_and_leaves_nothing_behind() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = dir.path().join("crashing-agent");
    std::fs::write(&agent, "#!/bin/sh\n[ \"$1\" = version ] && { echo crash v0; exit 0; }\nkill -SEGV $$\n")
        .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![("AUTH_SERVICE_AGENT_BIN".into(), agent.display().to_string())],
        database_url: None,
    })
    .await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let (s, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/p/test", &t.admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(report["ok"], json!(false));
    let detail = report["steps"][0]["detail"].as_str().expect("detail");
    assert!(detail.contains("signal"), "the crash is named: {report:#}");
    let (s, _, _) = app.call("GET", "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 503);
    let runs = app.dir.path().join("agent-runs");
    assert_eq!(std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0), 0, "no run folder left");
}

#[tokio::test]
async fn an_unusable_data_folder_at_start_is_a_clear_message_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "a file where the data folder should be").expect("write");
    for url in [format!("sqlite://{}/db/auth.db", blocker.display()), "sqlite:///proc/auth-service/db".to_string()] {
        let out = std::process::Command::new(service_bin())
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AUTH_SERVICE_LISTEN", "127.0.0.1:0")
            .env("AUTH_SERVICE_DATABASE_URL", &url)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{url}: must not start");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("opening the database") && text.contains("cannot create"), "{url}: {text}");
        assert!(!text.contains("listening on"), "{text}");
    }
}

#[tokio::test]
async fn postgresql_stopped_and_started_while_serving_gives_503_then_recovers_without_a_restart() {
    let required = std::env::var("AUTH_SERVICE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    if api_tests::Postgres::bin_dir().is_none() {
        assert!(!required, "PostgreSQL is required but not installed");
        return;
    }
    let mut pg = api_tests::Postgres::start().await.expect("postgres");
    let url = pg.create_database("faults").expect("database");
    let (bao, issuer) = bao_with_jwt(3600).await;
    let mut app = App::spawn_with(AppOptions { database_url: Some(url), ..AppOptions::default() }).await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let read = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", read, &t.read, None).await.0, 200);

    pg.stop();
    // Until the change listener misses its heartbeat (a few seconds) a warm read may still
    // be answered from memory: nobody can change a key while the database is down. Then
    // the replica trusts nothing in memory and reads get 503, each within a bounded time.
    let started = Instant::now();
    let (s, b, h) = loop {
        let asked = Instant::now();
        let (s, b, h) = app.call("GET", read, &t.read, None).await;
        assert!(asked.elapsed() < Duration::from_secs(10), "bounded: {:?}", asked.elapsed());
        if s != 200 || started.elapsed() > Duration::from_secs(20) {
            break (s, b, h);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(s, 503, "{b}");
    assert!(h.get("retry-after").is_some(), "{h:?}");
    assert!(started.elapsed() < Duration::from_secs(12), "memory is distrusted soon: {:?}", started.elapsed());
    assert_eq!(app.call("GET", "/readyz", &t.read, None).await.0, 503, "not ready without its database");
    assert_eq!(app.call("GET", "/healthz", &t.read, None).await.0, 200, "still alive");

    pg.restart().await.expect("postgres again");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, _, _) = app.call("GET", read, &t.read, None).await;
        if s == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the service did not recover after PostgreSQL came back");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(!app.exited(), "the service kept running throughout");
}
