//! Hostile Vaults in front of the real OpenBao: a redirect, an endless body,
//! a JSON array for an answer, a lease of 2^64 - 1 seconds. Each read gets a
//! clear 502 or an honest answer, and the service stays up.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::helpers::{App, Tenant, bao_with_jwt};
use super::{create, read_request};

/// A "Vault" in front of the real OpenBao: logins and token calls pass through
/// to it, but secret reads under `secret/` get `hostile` (a redirect, an
/// endless body, a 200 whose JSON is an array that looks like lease fields, or
/// a lease of 2^64 - 1 seconds).
/// One request per connection.
async fn hostile_vault(bao_addr: &str, hostile: &'static str, redirect_to: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let upstream = bao_addr.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let redirect_to = redirect_to.clone();
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut sock).await else { return };
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                if path.starts_with("/v1/secret/") {
                    let json_200 = |body: &str| {
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let answer = match hostile {
                        "redirect" => format!(
                            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {redirect_to}{path}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        ),
                        "array" => json_200(r#"["database/creds/app/x",60]"#),
                        "endless-lease" => json_200(
                            r#"{"lease_id":"database/creds/app/x","lease_duration":18446744073709551615,"renewable":true,"data":{"username":"u"}}"#,
                        ),
                        // "stream": a 200 whose body never ends (100 MB of spaces).
                        _ => {
                            let _ = sock
                                .write_all(
                                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n",
                                )
                                .await;
                            let chunk = vec![b' '; 64 * 1024];
                            for _ in 0..1600 {
                                if sock.write_all(&chunk).await.is_err() {
                                    return;
                                }
                            }
                            return;
                        }
                    };
                    let _ = sock.write_all(answer.as_bytes()).await;
                    return;
                }
                // Pass through, asking OpenBao to close after its answer.
                let head: String = head
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .collect::<Vec<_>>()
                    .join("\r\n");
                let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else { return };
                let request = format!("{head}\r\nconnection: close\r\n\r\n{body}");
                if up.write_all(request.as_bytes()).await.is_err() {
                    return;
                }
                let mut answer = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(10), up.read_to_end(&mut answer)).await;
                let _ = sock.write_all(&answer).await;
            });
        }
    });
    addr
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").trim().to_string()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_vault_that_redirects_or_streams_100_mb_gets_a_fast_502_and_nothing_follows_it() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target_addr = format!("http://{}", target.local_addr().expect("addr"));
    let redirecting = hostile_vault(&bao.addr, "redirect", target_addr.clone()).await;
    let streaming = hostile_vault(&bao.addr, "stream", String::new()).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    for (name, addr) in [("redirects", &redirecting), ("streams", &streaming)] {
        let body = json!({ "name": name, "vault_address": addr,
                           "method": { "type": "jwt", "config": { "path": jwt, "role": "app" } } });
        assert_eq!(create(&app, &t, body).await.0, 201);
    }
    let read = |name: &str| format!("/v1/tenants/team-a/profiles/{name}/secrets/secret/data/app/db");

    let (s, b, _) = app.call("GET", &read("redirects"), &t.read, None).await;
    assert_eq!(s, 502, "{b}");
    assert!(b["detail"].as_str().expect("detail").contains(target_addr.trim_start_matches("http://")), "{b}");
    let followed = tokio::time::timeout(Duration::from_millis(200), target.accept()).await;
    assert!(followed.is_err(), "the redirect target was contacted");

    let before = rss_kib(app.pid());
    let started = std::time::Instant::now();
    let (s, b, _) = app.call("GET", &read("streams"), &t.read, None).await;
    assert_eq!(s, 502, "{b}");
    assert!(b["detail"].as_str().expect("detail").contains("larger than"), "{b}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let grown = rss_kib(app.pid()).saturating_sub(before);
    eprintln!("service RSS grew by {grown} KiB while refusing a 100 MB answer");
    assert!(grown < 20 * 1024, "the service's memory grew by {grown} KiB");
}

/// A service whose tenant `team-a` has the jwt profile `name` on a Vault that
/// answers secret reads the `hostile` way (the OpenBao is returned to keep it running).
async fn profile_on_hostile_vault(hostile: &'static str, name: &str) -> (api_tests::OpenBao, App, Tenant) {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let vault = hostile_vault(&bao.addr, hostile, String::new()).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let body = json!({ "name": name, "vault_address": vault,
                       "method": { "type": "jwt", "config": { "path": jwt, "role": "app" } } });
    assert_eq!(create(&app, &t, body).await.0, 201);
    (bao, app, t)
}

#[tokio::test]
async fn a_vault_answering_a_json_array_gets_a_502_on_both_read_paths_and_the_service_stays_up() {
    let (_bao, app, t) = profile_on_hostile_vault("array", "arr").await;

    let (s, b, _) = app.call("GET", "/v1/tenants/team-a/profiles/arr/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 502, "{b}");
    assert!(b["detail"].as_str().expect("detail").contains("not JSON"), "{b}");
    let r = app
        .http
        .get(format!("{}/vault/team-a/arr/v1/secret/data/app/db", app.base))
        .header("X-Vault-Token", &t.read)
        .send()
        .await
        .expect("vault api read");
    assert_eq!(r.status().as_u16(), 502);
    let b: Value = r.json().await.expect("vault-style error body");
    assert!(b["errors"][0].as_str().expect("error text").contains("not JSON"), "{b}");
    let (s, _, _) = app.call("GET", "/healthz", "", None).await;
    assert_eq!(s, 200, "the service is still up");
}

#[tokio::test]
async fn a_lease_of_2_pow_64_seconds_is_capped_by_the_token_and_panics_nothing() {
    let (_bao, app, t) = profile_on_hostile_vault("endless-lease", "endless").await;
    let (s, b, _) =
        app.call("GET", "/v1/tenants/team-a/profiles/endless/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 200, "{b}");
    // The issuing token can be renewed up to the role's token_max_ttl (4 hours),
    // so the honest lease ends then at the latest.
    let left = b["lease_duration"].as_u64().expect("lease_duration");
    assert!(left > 3600 && left <= 14_400, "{b}");
    let (s, _, _) = app.call("GET", "/healthz", "", None).await;
    assert_eq!(s, 200, "the service is still up");
}
