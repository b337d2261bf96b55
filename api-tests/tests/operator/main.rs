//! Day-two operations through the real binary: every shipped configuration
//! loads and starts, a tenant is offboarded without touching another, the
//! operator key is rotated without a moment when nothing works, and a backup
//! restores into a fresh service that reads again.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use api_tests::workspace_root;
use serde_json::json;

use helpers::{App, AppOptions, bao_with_jwt, issued_tokens, random_hex, service_bin};

/// Run the binary with `args` and exactly `env` (plus PATH), bounded.
fn run(args: &[&str], env: &[(String, String)]) -> Output {
    let mut child = Command::new(service_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("auth-service runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("auth-service {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// `AUTH_SERVICE_*` settings written in a shipped file: the unit's
/// `Environment=` lines, a compose file's `environment:` map (with `${VAR:?...}`
/// filled from `given`), or a manifest's `- name:` / `value:` pairs.
fn shipped_env(file: &Path, given: &[(&str, &str)]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).expect("shipped file");
    let fill = |v: &str| -> String {
        let v = v.trim().trim_matches('"').to_string();
        match v.strip_prefix("${").and_then(|r| r.split_once([':', '}'])) {
            Some((var, _)) => given.iter().find(|(k, _)| *k == var).map(|(_, x)| x.to_string()).unwrap_or_default(),
            None => v,
        }
    };
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(kv) = line.strip_prefix("Environment=") {
            if let Some((k, v)) = kv.split_once('=') {
                out.push((k.to_string(), fill(v)));
            }
        } else if let Some(name) = line.strip_prefix("- name: ").filter(|n| n.starts_with("AUTH_SERVICE_")) {
            pending = Some(name.trim().to_string());
        } else if let (Some(name), Some(v)) = (pending.as_ref(), line.strip_prefix("value: ")) {
            out.push((name.clone(), fill(v)));
            pending = None;
        } else if let Some((k, v)) = line.split_once(": ").filter(|(k, _)| k.starts_with("AUTH_SERVICE_")) {
            out.push((k.to_string(), fill(v)));
        }
    }
    // A manifest's secret-backed values (valueFrom) are filled as the operator's secret would.
    for (k, v) in given {
        if k.starts_with("AUTH_SERVICE_") && !out.iter().any(|(o, _)| o == k) {
            out.push(((*k).to_string(), (*v).to_string()));
        }
    }
    assert!(!out.is_empty(), "no AUTH_SERVICE_* setting found in {}", file.display());
    out
}

#[tokio::test]
async fn every_shipped_configuration_loads_and_the_units_command_starts_the_service() {
    let deploy = workspace_root().join("deploy");
    let operator_key = format!("op-{}", random_hex(24));
    let given = [
        ("AUTH_SERVICE_OPERATOR_KEY", operator_key.as_str()),
        ("AUTH_SERVICE_VAULT_ADDRESSES", "https://vault.example.com:8200"),
        ("POSTGRES_PASSWORD", "example"),
    ];
    let toml = deploy.join("auth-service.toml");
    // The systemd unit: its ExecStart with its config file, its Environment= lines and the secrets file's key.
    let unit = std::fs::read_to_string(deploy.join("auth-service.service")).expect("unit");
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("ExecStart");
    let mut args: Vec<String> = exec.split_whitespace().skip(1).map(str::to_string).collect();
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{exec}");
    for a in args.iter_mut() {
        if a.ends_with("auth-service.toml") {
            *a = toml.display().to_string();
        }
    }
    let mut unit_env = shipped_env(&deploy.join("auth-service.service"), &given);
    unit_env.push(("AUTH_SERVICE_OPERATOR_KEY".into(), operator_key.clone()));
    let mut check: Vec<&str> = args.iter().map(String::as_str).collect();
    check[0] = "check-config";
    let out = run(&check, &unit_env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{exec}: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("AUTH_SERVICE_MAX_CONCURRENT_AGENTS=4"), "{stdout}");
    assert!(stdout.contains("AUTH_SERVICE_OPERATOR_KEY=[set, masked]") && !stdout.contains(&operator_key), "{stdout}");

    // Compose files and the Kubernetes deployment: the image's command is `serve`; check it.
    for file in ["compose.yaml", "compose.postgres.yaml", "kubernetes/deployment.yaml"] {
        let env = shipped_env(&deploy.join(file), &given);
        let out = run(&["check-config"], &env);
        assert!(
            out.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The unit's command really serves: the shipped file, with only the host's paths swapped by the environment.
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::spawn_with(AppOptions {
        extra_env: vec![
            ("AUTH_SERVICE_DATABASE_URL".into(), format!("sqlite://{}/db/auth.db", dir.path().display())),
            ("AUTH_SERVICE_AGENT_TEMP_DIR".into(), dir.path().display().to_string()),
        ],
        config_file: Some(toml.clone()),
        ..AppOptions::default()
    })
    .await;
    let health = app.http.get(format!("{}/readyz", app.base)).send().await.expect("readyz");
    assert_eq!(health.status().as_u16(), 200, "{}", app.log());

    // A wrong value is refused with the message serve gives, naming the key.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "max_concurrent_agents = \"4\"\n").expect("write");
    let out = run(&["check-config", "--config", &bad.display().to_string()], &[]);
    let serve = run(&["serve", "--config", &bad.display().to_string()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("max_concurrent_agents"), "{stderr}");
    assert_eq!(stderr, String::from_utf8_lossy(&serve.stderr), "check-config and serve say the same");
}

#[tokio::test]
async fn deleting_a_tenant_revokes_its_tokens_and_removes_it_while_another_tenant_reads_on() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    // Each tenant's login: the token OpenBao issued for its first read.
    let mut tokens = Vec::new();
    for t in [&a, &b] {
        let before = issued_tokens(&bao);
        let jwt = app.jwt_file(&issuer, t, "token");
        app.jwt_profile(t, "main", &bao, &jwt, "app", json!({})).await;
        let read = format!("/v1/tenants/{}/profiles/main/secrets/secret/data/app/db", t.id);
        let (s, body, _) = app.call("GET", &read, &t.read, None).await;
        assert_eq!(s, 200, "{body}");
        let new: Vec<String> = issued_tokens(&bao).into_iter().filter(|t| !before.contains(t)).collect();
        assert_eq!(new.len(), 1, "one login per tenant");
        tokens.push(new[0].clone());
    }
    // Only the operator may delete; a tenant admin gets 403, a made-up tenant 404.
    assert_eq!(app.call("DELETE", "/v1/tenants/tenant-a", &a.admin, None).await.0, 403);
    assert_eq!(app.call("DELETE", "/v1/tenants/nobody", &app.operator_key, None).await.0, 404);
    let (s, body, _) = app.call("DELETE", "/v1/tenants/tenant-a", &app.operator_key, None).await;
    assert_eq!(s, 204, "{body}");
    // A's keys are gone at once; B reads on.
    let read_a = "/v1/tenants/tenant-a/profiles/main/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", read_a, &a.read, None).await.0, 401);
    assert_eq!(app.call("GET", "/v1/tenants/tenant-a", &app.operator_key, None).await.0, 404);
    let (s, body, _) =
        app.call("GET", "/v1/tenants/tenant-b/profiles/main/secrets/secret/data/app/db", &b.read, None).await;
    assert_eq!(s, 200, "{body}");
    // A's token is revoked in OpenBao (in the background, bounded); B's lives.
    let (a_token, b_token) = (&tokens[0], &tokens[1]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut alive = (true, true);
    while Instant::now() < deadline {
        alive = (
            bao.token_lookup(a_token).await.expect("lookup").is_some(),
            bao.token_lookup(b_token).await.expect("lookup").is_some(),
        );
        if alive.0 != alive.1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(alive.0 != alive.1, "exactly one tenant's token was revoked: {alive:?}");
    let (_, list, _) = app.call("GET", "/v1/tenants", &app.operator_key, None).await;
    let ids: Vec<&str> = list["tenants"].as_array().expect("tenants").iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, ["tenant-b"]);
    // A tenant created again with the same id starts empty: no profile, and only the delete in its trail.
    let again = app.tenant("tenant-a").await;
    let (_, profiles, _) = app.call("GET", "/v1/tenants/tenant-a/profiles", &again.admin, None).await;
    assert_eq!(profiles["profiles"], json!([]));
    // The trail is written in the background (batches of up to 50 ms): wait for it, bounded.
    let mut audit = json!({});
    for _ in 0..50 {
        audit = app.call("GET", "/v1/tenants/tenant-a/audit", &again.admin, None).await.1;
        if audit["events"].as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let actions: Vec<&str> =
        audit["events"].as_array().expect("events").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.first(), Some(&"tenant.delete"), "{audit}");
    assert!(!actions.contains(&"secret.read"), "the old tenant's trail went with it: {actions:?}");
    helpers::assert_no_secrets_logged(&app, &bao, &[&b]);
}

#[tokio::test]
async fn the_previous_operator_key_works_during_a_rotation_and_each_use_is_logged() {
    let old = format!("op-old-{}", random_hex(20));
    let app = App::spawn_with(AppOptions {
        extra_env: vec![("AUTH_SERVICE_OPERATOR_KEY_PREVIOUS".into(), old.clone())],
        ..AppOptions::default()
    })
    .await;
    assert_eq!(app.call("GET", "/v1/tenants", &app.operator_key, None).await.0, 200, "the new key");
    assert_eq!(app.call("GET", "/v1/tenants", &old, None).await.0, 200, "the old key, during the rotation");
    assert_eq!(app.call("GET", "/v1/tenants", &format!("op-{}", random_hex(24)), None).await.0, 401);
    let log = app.log();
    assert!(log.contains("AUTH_SERVICE_OPERATOR_KEY_PREVIOUS) was used"), "{log}");
    assert!(!log.contains(&old), "the key itself is never logged");
    // Previous without current is a setting mistake, named at start-up.
    let out = run(&["check-config"], &[("AUTH_SERVICE_OPERATOR_KEY_PREVIOUS".into(), old)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTH_SERVICE_OPERATOR_KEY_PREVIOUS is set without"));
}

#[tokio::test]
async fn an_online_backup_restores_into_a_fresh_service_that_reads_again() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "main", &bao, &jwt, "app", json!({})).await;
    let read = "/v1/tenants/acme/profiles/main/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", read, &t.read, None).await.0, 200);
    let (_, tenant, _) = app.call("GET", "/v1/tenants/acme", &app.operator_key, None).await;
    let external_id = tenant["aws_external_id"].as_str().expect("external id").to_string();
    // While the service runs and writes.
    let copy = app.dir.path().join("backup.db");
    let db = format!("sqlite://{}/db/auth.db", app.dir.path().display());
    let env = vec![("AUTH_SERVICE_DATABASE_URL".to_string(), db.clone())];
    let out = run(&["backup", "--to", &copy.display().to_string()], &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A second backup to the same file is refused rather than overwriting it.
    let again = run(&["backup", "--to", &copy.display().to_string()], &env);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists already"));
    // PostgreSQL is pointed at its own tools.
    let pg =
        run(&["backup", "--to", "/tmp/x.db"], &[("AUTH_SERVICE_DATABASE_URL".into(), "postgres://u:p@h/d".into())]);
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));

    // A fresh service on the copy: same operator key, same JWT folder.
    let restored = App::spawn_with(AppOptions {
        database_url: Some(format!("sqlite://{}", copy.display())),
        extra_env: vec![
            ("AUTH_SERVICE_OPERATOR_KEY".into(), app.operator_key.clone()),
            ("AUTH_SERVICE_JWT_ALLOWED_DIRS".into(), app.jwt_dir.display().to_string()),
        ],
        ..AppOptions::default()
    })
    .await;
    let (s, tenant, _) = restored.call("GET", "/v1/tenants/acme", &app.operator_key, None).await;
    assert_eq!(s, 200, "{tenant}");
    assert_eq!(tenant["aws_external_id"].as_str(), Some(external_id.as_str()), "the external id came back");
    let (s, profile, _) = restored.call("GET", "/v1/tenants/acme/profiles/main", &t.admin, None).await;
    assert_eq!(s, 200, "the admin key and the profile came back: {profile}");
    let (s, body, _) = restored.call("GET", read, &t.read, None).await;
    assert_eq!(s, 200, "the read key came back and a read works: {body}");
    assert_eq!(body["data"]["data"]["password"], "s3cr3t");
}

/// promtool: on PATH, else where scripts/check-deploy.sh unpacks it.
fn promtool() -> std::path::PathBuf {
    let local = workspace_root().join("tools/bin/promtool");
    if local.exists() {
        return local;
    }
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("promtool"))
        .find(|p| p.exists());
    on_path.expect("promtool is missing: run scripts/check-deploy.sh (it installs it)")
}

#[tokio::test]
async fn a_scrape_under_load_passes_promtool_and_holds_every_series_the_dashboard_and_alerts_use() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "main", &bao, &jwt, "app", json!({})).await;
    // Load: readers on both read paths while the scrape is taken.
    let mut readers = Vec::new();
    for i in 0..4 {
        let (http, base, key) = (app.http.clone(), app.base.clone(), t.read.clone());
        readers.push(tokio::spawn(async move {
            for _ in 0..50 {
                let url = if i % 2 == 0 {
                    format!("{base}/v1/tenants/acme/profiles/main/secrets/secret/data/app/db")
                } else {
                    format!("{base}/vault/acme/main/v1/secret/data/app/db")
                };
                let _ = http.get(url).bearer_auth(&key).header("X-Vault-Token", &key).send().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .header("Accept", "text/plain;version=0.0.4")
        .send()
        .await
        .expect("scrape");
    assert!(
        text.headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/plain; version=0.0.4"))
    );
    let scrape = text.text().await.expect("text");
    for r in readers {
        r.await.expect("reader");
    }
    let open_metrics = app.metrics().await;
    assert!(open_metrics.ends_with("# EOF\n"), "OpenMetrics by default");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("scrape.txt");
    std::fs::write(&file, &scrape).expect("write");
    let out = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("scrape"))
        .output()
        .expect("promtool runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}");
    assert!(scrape.contains("auth_service_secret_reads_total{outcome=\"ok\",via=\"vault_api\"}"), "under load");
    // Every metric the shipped dashboard and alerts query is in this scrape.
    let monitoring = workspace_root().join("deploy/monitoring");
    let out = Command::new("python3")
        .arg(workspace_root().join("scripts/deploy_checks/dashboard_metrics.py"))
        .arg(monitoring.join("dashboard.json"))
        .arg(&file)
        .arg(monitoring.join("alerts.yaml"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "dashboard_metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run a linter from the project's tools; (success, what it said).
fn lint(program: &Path, args: &[&str]) -> (bool, String) {
    assert!(program.exists(), "{} is missing: run scripts/install-tools.sh", program.display());
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().expect("linter runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn the_served_openapi_document_passes_three_validators_with_no_error_or_warning() {
    let app = App::spawn().await;
    let doc = app.http.get(format!("{}/openapi.json", app.base)).send().await.expect("document");
    let doc: serde_json::Value = doc.json().await.expect("json");
    // The method block the service enforces is in the document (jwt is allowed in this test bed).
    assert!(
        doc.pointer("/components/schemas/MethodBlock/allOf").is_some(),
        "{}",
        doc["components"]["schemas"]["MethodBlock"]
    );
    assert_eq!(doc.pointer("/paths/~1healthz/get/security"), Some(&json!([])));
    assert!(doc.pointer("/paths/~1vault~1{tenant}~1{profile}~1v1~1{path}/get").is_some());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_string_pretty(&doc).expect("json")).expect("write");
    let file = file.display().to_string();
    let root = workspace_root();
    let (ok, said) = lint(&root.join("tools/venv-test/bin/openapi-spec-validator"), &[&file]);
    assert!(ok && said.contains(": OK"), "openapi-spec-validator: {said}");
    let spectral_rules = root.join("schemas/lint/spectral.yaml").display().to_string();
    let (ok, said) = lint(
        &root.join("tools/npm/node_modules/.bin/spectral"),
        &["lint", "--fail-severity=hint", "-r", &spectral_rules, &file],
    );
    assert!(ok, "spectral (spectral:oas): {said}");
    let redocly_rules = root.join("schemas/lint/redocly.yaml").display().to_string();
    let (ok, said) = lint(
        &root.join("tools/npm/node_modules/.bin/redocly"),
        &["lint", "--config", &redocly_rules, "--format=stylish", &file],
    );
    assert!(ok && !said.contains("warning"), "redocly: {said}");
}
