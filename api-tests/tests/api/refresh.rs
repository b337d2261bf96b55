//! No latency cliff at token expiry: a token in the last third of its cache
//! life is refreshed in the background (renew-self for a renewable token),
//! while reads keep using it.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{App, bao_with_jwt};

#[tokio::test]
async fn steady_reads_across_several_cache_lives_never_fail_and_need_no_new_agent_run() {
    // Token TTL 125 s: the service caches it for 5 s and refreshes it after about 3.3 s.
    let (bao, issuer) = bao_with_jwt(125).await;
    let app = App::spawn().await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "p", &bao, &jwt, "app", json!({})).await;
    let read = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", read, &t.read, None).await.0, 200, "the first read logs in");
    let spawns = app.spawns().await;
    let (test_started, mut reads, mut slowest) = (Instant::now(), 0, Duration::ZERO);
    while test_started.elapsed() < Duration::from_secs(13) {
        let started = Instant::now();
        let (s, b, _) = app.call("GET", read, &t.read, None).await;
        assert_eq!(s, 200, "read {reads} failed: {b}");
        slowest = slowest.max(started.elapsed());
        reads += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{reads} reads over 13 s (more than two cache lives of 5 s): 0 failed, slowest {slowest:?}");
    assert_eq!(app.spawns().await, spawns, "renewable tokens are renewed, not replaced by agent runs");
    let refreshed = app.counter("auth_service_token_refreshes_total", "outcome=\"ok\"").await;
    assert!(refreshed >= 2.0, "the token was refreshed ahead of its end: {}", app.metrics().await);
    assert!(!app.log().contains("revoked superseded token"), "a token renewed in place is not revoked");
}
