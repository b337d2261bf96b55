//! The Vault-compatible endpoint with real Vault clients: OpenBao's CLI (the
//! same client code as `vault`) and hvac (Python), pointed at the real binary's
//! `/vault/{tenant}/{profile}` in front of a real OpenBao, with OpenBao's
//! database engine on a real PostgreSQL for leases.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::process::{Command, Output, Stdio};

use api_tests::{OpenBao, Postgres};
use serde_json::{Value, json};

use helpers::App;

const POLICY: &str = r#"
path "secret/data/app/*" { capabilities = ["read"] }
path "secret/metadata/app/*" { capabilities = ["read", "list"] }
path "secret/metadata/app" { capabilities = ["list"] }
path "kv1/app/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
"#;

/// Run the real OpenBao CLI against `addr` with `token`.
fn bao(addr: &str, token: &str, args: &[&str]) -> Output {
    Command::new(api_tests::bao_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("BAO_ADDR", addr)
        .env("BAO_TOKEN", token)
        .env("BAO_CLIENT_TIMEOUT", "20s")
        .stdin(Stdio::null())
        .output()
        .expect("bao runs")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "bao failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn hvac(addr: &str, token: &str, script: &str) -> Output {
    let python = api_tests::workspace_root().join("tools/venv-test/bin/python");
    assert!(python.exists(), "hvac is missing: run scripts/install-tools.sh");
    Command::new(python)
        .args(["-c", script])
        .env_clear()
        .env("VAULT_ADDR", addr)
        .env("VAULT_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .expect("python runs")
}

#[tokio::test]
async fn the_bao_cli_and_hvac_read_renew_and_revoke_through_the_facade_and_refusals_never_reach_vault() {
    let pg = Postgres::start().await.expect("postgres");
    let bao_server = OpenBao::start_with_audit().await.expect("openbao");
    let issuer = bao_server.setup_jwt(None, "jwt", "app", "facade", POLICY, 3600).await.expect("jwt");
    bao_server.kv2_put(None, "app/db", json!({"password": "first"})).await.expect("v1");
    bao_server.kv2_put(None, "app/db", json!({"password": "s3cr3t"})).await.expect("v2");
    bao_server.kv2_put(None, "app/other", json!({"x": "y"})).await.expect("other");
    bao_server.kv1_mount_and_put(None, "kv1", "app/legacy", json!({"user": "old-school"})).await.expect("kv1");
    bao_server.setup_database(&pg, "app", 600, 3600).await.expect("database");

    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let other = app.tenant("other").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "main", &bao_server, &jwt, "app", json!({})).await;
    let addr = format!("{}/vault/acme/main", app.base);

    // kv get on KV v2 (through sys/internal/ui/mounts), a version, a list, a KV v1 read.
    let v = json_of(&bao(&addr, &t.read, &["kv", "get", "-format=json", "secret/app/db"]));
    assert_eq!(v["data"]["data"]["password"], json!("s3cr3t"), "{v}");
    let v = json_of(&bao(&addr, &t.read, &["kv", "get", "-format=json", "-version=1", "secret/app/db"]));
    assert_eq!(v["data"]["data"]["password"], json!("first"), "{v}");
    let v = json_of(&bao(&addr, &t.read, &["kv", "list", "-format=json", "secret/app"]));
    assert_eq!(v, json!(["db", "other"]), "{v}");
    let v = json_of(&bao(&addr, &t.read, &["read", "-format=json", "kv1/app/legacy"]));
    assert_eq!(v["data"]["user"], json!("old-school"), "{v}");

    // Dynamic credentials: read, renew and revoke with the CLI.
    let v = json_of(&bao(&addr, &t.read, &["read", "-format=json", "database/creds/app"]));
    let (user, password) = (v["data"]["username"].as_str().expect("user"), v["data"]["password"].as_str().expect("pw"));
    let lease_id = v["lease_id"].as_str().expect("lease").to_string();
    assert!(pg.can_login(user, password));
    assert!(v["warnings"].to_string().contains("auth-service"), "the honest end is in the warnings: {v}");
    let renewed = json_of(&bao(&addr, &t.read, &["lease", "renew", "-format=json", "-increment=1200", &lease_id]));
    assert!(renewed["lease_duration"].as_u64().expect("duration") > 900, "{renewed}");
    let lookup =
        bao_server.api("PUT", "sys/leases/lookup", None, Some(json!({"lease_id": lease_id}))).await.expect("lookup");
    assert!(lookup["data"]["ttl"].as_u64().expect("ttl") > 900, "{lookup}");
    let out = bao(&addr, &t.read, &["lease", "revoke", &lease_id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!pg.can_login(user, password), "the role is gone after lease revoke");
    // Another tenant's key may not touch it, even through its own profile name.
    let out = bao(&format!("{}/vault/other/main", app.base), &other.read, &["lease", "revoke", &lease_id]);
    assert!(!out.status.success(), "another tenant's revoke must fail");

    // hvac: is_authenticated (lookup-self describes the key) and read_secret_version.
    let out = hvac(
        &addr,
        &t.read,
        "import hvac\nc = hvac.Client()\nprint(c.is_authenticated())\n\
         s = c.secrets.kv.v2.read_secret_version(path='app/db', mount_point='secret', raise_on_deleted_version=True)\n\
         print(s['data']['data']['password'])\nprint(c.lookup_token()['data']['display_name'])",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().collect::<Vec<_>>(), ["True", "s3cr3t", "k"], "{text}");
    let out = hvac(&addr, "vas_bogus_key", "import hvac\nprint(hvac.Client().is_authenticated())");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "False", "{}", String::from_utf8_lossy(&out.stderr));

    // Refusals, each in Vault's shape, and none reaches OpenBao.
    let audit_before = bao_server.audit_log().len();
    let call = |method: &str, url: String, key: &str, headers: Vec<(&'static str, &'static str)>| {
        let mut req = app.http.request(method.parse().expect("method"), url).header("X-Vault-Token", key.to_string());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let resp = req.send().await.expect("answer");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let base = app.base.clone();
    for (what, method, url, key, headers, want) in [
        ("another tenant's key", "GET", format!("{addr}/v1/secret/data/app/db"), other.read.clone(), vec![], 403),
        (
            "an unknown profile",
            "GET",
            format!("{base}/vault/acme/nope/v1/secret/data/app/db"),
            t.read.clone(),
            vec![],
            403,
        ),
        ("no key at all", "GET", format!("{addr}/v1/secret/data/app/db"), String::new(), vec![], 403),
        ("a write", "PUT", format!("{addr}/v1/secret/data/app/db"), t.read.clone(), vec![], 405),
        ("a delete", "DELETE", format!("{addr}/v1/secret/data/app/db"), t.read.clone(), vec![], 405),
        ("a sys/ path", "GET", format!("{addr}/v1/sys/mounts"), t.read.clone(), vec![], 403),
        // Outside the served set: 403 whatever the method (a 405 would suggest the path exists here).
        ("a write to a sys/ path", "PUT", format!("{addr}/v1/sys/mounts/x"), t.read.clone(), vec![], 403),
        ("a write to cubbyhole", "POST", format!("{addr}/v1/cubbyhole/x"), t.read.clone(), vec![], 403),
        ("an auth/ path", "GET", format!("{addr}/v1/auth/token/lookup"), t.read.clone(), vec![], 403),
        (
            "a wrapped read",
            "GET",
            format!("{addr}/v1/secret/data/app/db"),
            t.read.clone(),
            vec![("X-Vault-Wrap-TTL", "5m")],
            400,
        ),
        (
            "a foreign namespace",
            "GET",
            format!("{addr}/v1/secret/data/app/db"),
            t.read.clone(),
            vec![("X-Vault-Namespace", "team-b")],
            400,
        ),
    ] {
        let (status, body) = call(method, url, &key, headers).await;
        assert_eq!(status, want, "{what}: {body}");
        assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{what}: Vault's error shape: {body}");
        assert!(!body.to_string().contains("acme/main"), "{what}: {body}");
    }
    let new_audit = &bao_server.audit_log()[audit_before..];
    assert!(new_audit.trim().is_empty(), "refused requests reached OpenBao: {new_audit}");

    // Reads through the facade are counted with their own label.
    assert!(
        app.counter("auth_service_secret_reads_total", "outcome=\"ok\",via=\"vault_api\"").await >= 5.0,
        "{}",
        app.metrics().await
    );
    helpers::assert_no_secrets_logged(&app, &bao_server, &[&t, &other]);
}
