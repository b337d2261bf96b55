//! The two races a soak found, made deterministic: a pausing proxy in front of
//! the real OpenBao holds one kind of request while the test changes the
//! profile, so the change lands exactly inside a read (or a login).

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use helpers::{App, bao_with_jwt, issued_tokens};

/// Requests whose path starts with `.0` wait `.1` before they go on.
type Pause = Arc<Mutex<Option<(String, Duration)>>>;

/// A proxy to `upstream` (one request per connection) that pauses matching
/// requests; returns its address, the pause switch and the paths it has seen.
async fn pausing_proxy(upstream: &str) -> (String, Pause, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let upstream = upstream.trim_start_matches("http://").to_string();
    let (pause, seen): (Pause, Arc<Mutex<Vec<String>>>) = (Arc::default(), Arc::default());
    let (p, s) = (pause.clone(), seen.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (upstream, pause, seen) = (upstream.clone(), p.clone(), s.clone());
            tokio::spawn(async move {
                let Some(request) = api_tests::read_http_request(&mut sock).await else { return };
                let path = request.split(|b| *b == b' ').nth(1).map(|p| String::from_utf8_lossy(p).to_string());
                let path = path.unwrap_or_default();
                seen.lock().expect("seen").push(path.clone());
                let wait = pause
                    .lock()
                    .expect("pause")
                    .as_ref()
                    .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
                    .map(|(_, d)| *d);
                if let Some(d) = wait {
                    tokio::time::sleep(d).await;
                }
                let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else { return };
                // One request per connection both ways.
                let text = String::from_utf8_lossy(&request).replacen("\r\n", "\r\nconnection: close\r\n", 1);
                let text = text.replace("Connection: keep-alive\r\n", "").replace("connection: keep-alive\r\n", "");
                if up.write_all(text.as_bytes()).await.is_err() {
                    return;
                }
                let mut answer = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(30), up.read_to_end(&mut answer)).await;
                let _ = sock.write_all(&answer).await;
            });
        }
    });
    (addr, pause, seen)
}

async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn profile(vault: &str, jwt: &str, test_path: &str) -> Value {
    json!({ "vault_address": vault, "test_secret_path": test_path,
            "method": { "type": "jwt", "config": { "path": jwt, "role": "app" } } })
}

#[tokio::test]
async fn a_replace_that_revokes_the_token_under_a_read_never_reaches_the_connector_as_a_403() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let (vault, pause, seen) = pausing_proxy(&bao.addr).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let mut body = profile(&vault, &jwt, "secret/data/app/db");
    body["name"] = json!("p");
    assert_eq!(app.call("POST", "/v1/tenants/acme/profiles", &t.admin, Some(body)).await.0, 201);
    // The read's own Vault call is held; the login and the revocation pass.
    *pause.lock().expect("pause") = Some(("/v1/secret/".into(), Duration::from_millis(1500)));
    let read = {
        let (http, url, key) = (
            app.http.clone(),
            format!("{}/v1/tenants/acme/profiles/p/secrets/secret/data/app/db", app.base),
            t.read.clone(),
        );
        tokio::spawn(async move {
            let r = http.get(url).bearer_auth(key).send().await.expect("read");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        })
    };
    wait_for("the read's Vault call to be held", Duration::from_secs(20), || {
        seen.lock().expect("seen").iter().any(|p| p.starts_with("/v1/secret/"))
    })
    .await;
    // A replace now: the old content's token is revoked while the read is at Vault.
    let replaced = profile(&vault, &jwt, "secret/data/app/other");
    let (s, b, _) = app.call("PUT", "/v1/tenants/acme/profiles/p", &t.admin, Some(replaced)).await;
    assert_eq!(s, 200, "{b}");
    *pause.lock().expect("pause") = None;
    let (status, answer) = read.await.expect("read task");
    assert_eq!(status, 200, "the read finished with the profile as it is now: {answer}");
    assert!(app.log().contains("the token was retired during the read"), "the race happened");
    assert_eq!(app.spawns().await, 2.0, "one login per content");
}

#[tokio::test]
async fn a_delete_during_a_login_leaves_no_token_alive() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let (vault, pause, seen) = pausing_proxy(&bao.addr).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let before = issued_tokens(&bao);
    let mut body = profile(&vault, &jwt, "secret/data/app/db");
    body["name"] = json!("p");
    assert_eq!(app.call("POST", "/v1/tenants/acme/profiles", &t.admin, Some(body)).await.0, 201);
    // The agent's login is held at the proxy; the profile is deleted meanwhile.
    *pause.lock().expect("pause") = Some(("/v1/auth/jwt/login".into(), Duration::from_millis(1500)));
    let read = {
        let (http, url, key) = (
            app.http.clone(),
            format!("{}/v1/tenants/acme/profiles/p/secrets/secret/data/app/db", app.base),
            t.read.clone(),
        );
        tokio::spawn(async move { http.get(url).bearer_auth(key).send().await.expect("read").status().as_u16() })
    };
    wait_for("the agent's login to be held", Duration::from_secs(20), || {
        seen.lock().expect("seen").iter().any(|p| p.starts_with("/v1/auth/jwt/login"))
    })
    .await;
    assert_eq!(app.call("DELETE", "/v1/tenants/acme/profiles/p", &t.admin, None).await.0, 204);
    *pause.lock().expect("pause") = None;
    let status = read.await.expect("read task");
    assert!(status == 200 || status == 404, "the in-flight read finishes or sees the delete: {status}");
    // Every token the login produced is revoked within a few seconds, not at the end of its cache life.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut alive = Vec::new();
        for token in issued_tokens(&bao).into_iter().filter(|t| !before.contains(t)) {
            if bao.token_lookup(&token).await.expect("lookup").is_some() {
                alive.push(token);
            }
        }
        if alive.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{} token(s) of the deleted profile still alive", alive.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_test_connection_during_a_renewal_in_place_leaves_the_old_token_revoked_not_alive() {
    // Tokens live 125 s, so the cache keeps them about 5 s and renews them in place after about 3.
    let (bao, issuer) = bao_with_jwt(125).await;
    let (vault, pause, seen) = pausing_proxy(&bao.addr).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let mut body = profile(&vault, &jwt, "secret/data/app/db");
    body["name"] = json!("p");
    assert_eq!(app.call("POST", "/v1/tenants/acme/profiles", &t.admin, Some(body)).await.0, 201);
    let before = issued_tokens(&bao);
    let read = "/v1/tenants/acme/profiles/p/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", read, &t.read, None).await.0, 200);
    let first: Vec<String> = issued_tokens(&bao).into_iter().filter(|t| !before.contains(t)).collect();
    assert_eq!(first.len(), 1);
    // The renewal in place is held at the proxy while a test connection replaces the token.
    *pause.lock().expect("pause") = Some(("/v1/auth/token/renew-self".into(), Duration::from_millis(2000)));
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.lock().expect("seen").iter().any(|p| p.starts_with("/v1/auth/token/renew-self")) {
        assert!(Instant::now() < deadline, "no renewal in place began");
        assert_eq!(app.call("GET", read, &t.read, None).await.0, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, report, _) = app.call("POST", "/v1/tenants/acme/profiles/p/test", &t.admin, None).await;
    assert_eq!((s, report["ok"].as_bool()), (200, Some(true)), "{report}");
    *pause.lock().expect("pause") = None;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The first token (renewed in place, then replaced by the test's) is revoked; the test's lives.
    let deadline = Instant::now() + Duration::from_secs(5);
    while bao.token_lookup(&first[0]).await.expect("lookup").is_some() {
        assert!(Instant::now() < deadline, "the replaced token is still alive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.call("GET", read, &t.read, None).await.0, 200, "reads go on with the test's token");
}
