//! The service's own Vault client against hostile "Vault" servers on loopback:
//! it never follows a redirect (the target sees no connection, so the token
//! goes nowhere else), and it stops reading an endless body at the cap instead
//! of exhausting memory. These run the exact client and read function the
//! binary uses (`vault_client_builder`, `vault::read`, `verify::lookup_self`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agent_runner::verify::{self, VerifyError};
use auth_service::domain::secret_path::ReadQuery;
use auth_service::domain::{SecretPath, VaultAddress};
use auth_service::vault::{self, SECRET_BODY_LIMIT, VaultError};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server answering every request with `head` and then `body_bytes`
/// bytes of `x` (streamed); counts the connections it accepted.
async fn server(head: String, body_bytes: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let head = head.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_secs(2), sock.read(&mut buf)).await;
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let mut sent = 0;
                while sent < body_bytes {
                    let n = chunk.len().min(body_bytes - sent);
                    if sock.write_all(&chunk[..n]).await.is_err() {
                        return; // the client stopped reading: good
                    }
                    sent += n;
                }
            });
        }
    });
    (addr, accepted)
}

fn client() -> reqwest::Client {
    agent_runner::http::vault_client_builder().timeout(Duration::from_secs(10)).build().expect("client")
}

fn token() -> SecretString {
    SecretString::from("s.not-a-real-token-000000000".to_string())
}

#[tokio::test]
async fn a_redirect_is_an_error_naming_the_host_and_its_target_sees_no_request() {
    let (target, target_hits) = server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n".into(), 2).await;
    let head =
        format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}/v1/secret/data/x\r\nContent-Length: 0\r\n\r\n");
    let (vault_addr, _) = server(head, 0).await;
    let address = VaultAddress::parse(&vault_addr).expect("address");
    let err = read(&address, Duration::from_secs(5)).await.expect_err("a redirect is refused");
    let target_host = target.trim_start_matches("http://");
    assert!(matches!(&err, VaultError::Redirected(_, host) if host == target_host), "{err:?}");
    // lookup-self (run after every login) refuses it too.
    let err = verify::lookup_self(&client(), address.base(), None, &token()).await.expect_err("refused");
    assert!(matches!(&err, VerifyError::Redirected(host) if host == target_host), "{err:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(target_hits.load(Ordering::SeqCst), 0, "the redirect target must see no connection");
}

#[tokio::test]
async fn a_vault_streaming_100_mb_is_cut_off_at_the_cap_quickly() {
    let hundred_mb = 100 * 1024 * 1024;
    // No Content-Length: the client cannot refuse up front and must stop while reading.
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_string();
    let (vault_addr, _) = server(head, hundred_mb).await;
    let address = VaultAddress::parse(&vault_addr).expect("address");
    let started = Instant::now();
    let err = read(&address, Duration::from_secs(10)).await.expect_err("too large");
    assert!(matches!(err, VaultError::TooLarge(_, limit) if limit == SECRET_BODY_LIMIT), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "cut off quickly, took {:?}", started.elapsed());
    // A declared length over the cap is refused before reading.
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {hundred_mb}\r\n\r\n");
    let (declared, _) = server(head, 0).await;
    let err = verify::lookup_self(&client(), VaultAddress::parse(&declared).expect("address").base(), None, &token())
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("larger than"), "{err}");
}

/// The service's secret read of `secret/data/x` at `address`.
async fn read(address: &VaultAddress, timeout: Duration) -> Result<vault::ReadOutcome, VaultError> {
    let path = SecretPath::parse("secret/data/x").expect("path");
    let query = ReadQuery::default();
    let http = client();
    let vault = vault::VaultClient { http: &http, address, namespace: None, timeout };
    vault.read(&token(), vault::Op::Read(&path, &query)).await
}
