//! schemathesis (the OpenAPI fuzzer, from PyPI) against the real binary's own
//! `/openapi.json`, once with a tenant admin key and once with the operator key:
//! no server error, and every status, content type and body as documented.
//!
//! The `positive_data_acceptance` check is left out on purpose: it expects every
//! schema-valid body to be accepted, but a profile is also checked against rules
//! no JSON Schema of the API can hold (the method block's own schema, the
//! operator's allowed Vault origins and login types, the tenant's JWT folder).

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::process::{Command, Stdio};
use std::time::Duration;

use helpers::{App, AppOptions};

fn schemathesis(base: &str, key: &str) -> (bool, String) {
    let bin = api_tests::workspace_root().join("tools/venv-test/bin/schemathesis");
    assert!(bin.exists(), "schemathesis is missing: run scripts/install-tools.sh");
    let mut child = Command::new(bin)
        .args(["run", &format!("{base}/openapi.json"), "--header"])
        .arg(format!("Authorization: Bearer {key}"))
        .args(["--max-examples", "30", "--seed", "20261126", "--request-timeout", "20"])
        .args(["--phases", "examples,coverage,fuzzing", "--exclude-checks", "positive_data_acceptance"])
        // The Vault-compatible endpoint speaks Vault's API (tested with real Vault clients in tests/agents
        // and tests/vault_clients); its one documented operation family stands for all of Vault's paths.
        .args(["--exclude-path-regex", "^/vault/"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis starts");
    // Bounded: a run takes about 10 s here.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis did not finish within 240 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn schemathesis_finds_no_failure_with_an_admin_key_or_the_operator_key() {
    let app = App::spawn_with(AppOptions {
        extra_env: vec![("AUTH_SERVICE_RATE_LIMIT_ADMIN".into(), "0".into())],
        ..AppOptions::default()
    })
    .await;
    let t = app.tenant("acme").await;
    for (who, key) in [("tenant admin", t.admin.clone()), ("operator", app.operator_key.clone())] {
        let base = app.base.clone();
        let (ok, text) = tokio::task::spawn_blocking(move || schemathesis(&base, &key)).await.expect("run");
        let summary: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("generated") || l.contains("failures") || l.contains("passed"))
            .collect();
        eprintln!("schemathesis as {who}: {}", summary.join(" | "));
        assert!(ok, "schemathesis as {who} found failures:\n{text}");
    }
    // Nothing it sent made the service fail or leak: no 5xx was logged as an internal error.
    assert!(!app.log().contains("internal error"), "{}", app.log());
}
