//! EC2 nonces through the real `auth-service` binary: a loopback IMDS stand-in
//! gives the instance id, and a stand-in agent (OpenBao's agent has no AWS
//! method) records the nonce of every config it is given and writes a token
//! minted by the real OpenBao server to the sink.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use api_tests::OpenBao;
use serde_json::{Value, json};

use helpers::{App, AppOptions, Tenant, imds};

/// Write the stand-in agent: it reads `-config=FILE`, records `mount_path nonce`
/// to `record`, mints a real token with OpenBao's root token and writes it to the sink.
/// Control files in `dir`: `delay` (seconds to sleep first) and `reject`
/// (nonces to refuse with Vault's `client nonce mismatch`).
fn stand_in_agent(dir: &Path, bao_addr: &str, record: &Path) -> PathBuf {
    let script = dir.join("fake-agent");
    let text = format!(
        r#"#!/usr/bin/env python3
import json, re, sys, urllib.request
if len(sys.argv) > 1 and sys.argv[1] == "version":
    print("fake-agent v0"); sys.exit(0)
cfg = open([a for a in sys.argv if a.startswith("-config=")][0][len("-config="):]).read()
nonce = re.search(r'nonce\s*=\s*"([^"]*)"', cfg)
mount = re.search(r'mount_path\s*=\s*"([^"]*)"', cfg).group(1)
sink = re.search(r'sink "file"[\s\S]*?path\s*=\s*"([^"]*)"', cfg).group(1)
import os, time
ctl = "{ctl}"
if os.path.exists(ctl + "/delay"):
    time.sleep(float(open(ctl + "/delay").read()))
with open("{record}", "a") as f:
    f.write(mount + " " + (nonce.group(1) if nonce else "-") + "\n")
if nonce and os.path.exists(ctl + "/reject") and nonce.group(1) in open(ctl + "/reject").read().split():
    err = "Error making API request.\n\nURL: PUT {addr}/v1/" + mount + "/login\nCode: 400. Errors:\n\n* client nonce mismatch"
    sys.stderr.write(json.dumps({{"@level": "error", "@message": "error authenticating", "error": err}}) + "\n")
    sys.exit(1)
req = urllib.request.Request("{addr}/v1/auth/token/create", method="POST",
    data=json.dumps({{"policies": ["app-read"], "ttl": "1h"}}).encode(), headers={{"X-Vault-Token": "root"}})
token = json.load(urllib.request.urlopen(req, timeout=10))["auth"]["client_token"]
open(sink + ".tmp", "w").write(token)
import os; os.rename(sink + ".tmp", sink)
"#,
        record = record.display(),
        addr = bao_addr,
        ctl = dir.display()
    );
    std::fs::write(&script, text).expect("write stand-in");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

fn recorded(record: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(m, n)| (m.to_string(), n.to_string())))
        .collect()
}

struct Bed {
    bao: OpenBao,
    dir: tempfile::TempDir,
    record: PathBuf,
    agent: PathBuf,
    imds: String,
    db: String,
}

async fn bed() -> Bed {
    let bao = OpenBao::start().await.expect("openbao");
    bao.api(
        "PUT",
        "sys/policies/acl/app-read",
        None,
        Some(json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }"})),
    )
    .await
    .expect("policy");
    bao.kv2_put(None, "app/db", json!({"password": "s3cr3t"})).await.expect("kv");
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("nonces.txt");
    let agent = stand_in_agent(dir.path(), &bao.addr, &record);
    let imds = imds("i-0123456789abcdef0").await;
    let db = format!("sqlite://{}/shared.db", dir.path().display());
    Bed { bao, dir, record, agent, imds, db }
}

async fn app(bed: &Bed) -> App {
    App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![
            ("AUTH_SERVICE_AGENT_BIN".into(), bed.agent.display().to_string()),
            ("AUTH_SERVICE_EC2_METADATA_ENDPOINT".into(), bed.imds.clone()),
        ],
        database_url: Some(bed.db.clone()),
    })
    .await
}

/// A tenant the operator granted `ec2` logins (this host's own identity).
async fn ec2_tenant(app: &App, id: &str) -> Tenant {
    let t = app.tenant(id).await;
    let (s, b, _) = app
        .call("PATCH", &format!("/v1/tenants/{id}"), &app.operator_key, Some(json!({"methods": ["iam", "ec2", "jwt"]})))
        .await;
    assert_eq!(s, 200, "{b}");
    t
}

async fn ec2_profile(app: &App, t: &Tenant, name: &str, bed: &Bed, mount: &str) {
    let body = json!({ "name": name, "vault_address": bed.bao.addr, "test_secret_path": "secret/data/app/db",
        "method": { "type": "aws", "mount_path": mount, "config": { "type": "ec2", "role": "dev-role" } } });
    let (s, b, _) = app.call("POST", &format!("/v1/tenants/{}/profiles", t.id), &t.admin, Some(body)).await;
    assert_eq!(s, 201, "{b}");
}

async fn test_ok(app: &App, t: &Tenant, name: &str) {
    let (s, report, _) = app.call("POST", &format!("/v1/tenants/{}/profiles/{name}/test", t.id), &t.admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(report["ok"], json!(true), "{report:#}");
}

#[tokio::test]
async fn one_nonce_per_mount_survives_spawns_and_a_restart_and_is_shared_by_profiles() {
    let bed = bed().await;
    let mut first = app(&bed).await;
    let t = ec2_tenant(&first, "team-a").await;
    ec2_profile(&first, &t, "p1", &bed, "auth/aws").await;
    ec2_profile(&first, &t, "p2", &bed, "auth/aws").await;
    ec2_profile(&first, &t, "other-mount", &bed, "auth/aws-other").await;
    for _ in 0..5 {
        test_ok(&first, &t, "p1").await;
    }
    // A secret read through the cache path uses it too.
    let (s, body, _) =
        first.call("GET", "/v1/tenants/team-a/profiles/p2/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 200, "{body}");
    test_ok(&first, &t, "other-mount").await;
    let log_before_restart = first.log();
    first.stop();

    let second = app(&bed).await;
    test_ok(&second, &t, "p1").await;

    let rec = recorded(&bed.record);
    let main: Vec<&String> = rec.iter().filter(|(m, _)| m == "auth/aws").map(|(_, n)| n).collect();
    let other: Vec<&String> = rec.iter().filter(|(m, _)| m == "auth/aws-other").map(|(_, n)| n).collect();
    assert_eq!(main.len(), 7, "5 tests + 1 read + 1 after restart: {rec:?}");
    assert!(main.iter().all(|n| *n == main[0]), "every login on auth/aws carried the same nonce: {main:?}");
    assert!(main[0].len() >= 32 && main[0].len() <= 128);
    assert_eq!(other.len(), 1);
    assert_ne!(other[0], main[0], "another mount gets its own nonce");

    // The profile shows a fingerprint, never the value.
    let (s, info, _) = second.call("GET", "/v1/tenants/team-a/profiles/p1/ec2-nonce", &t.admin, None).await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["exists"], json!(true));
    assert_eq!(info["instance_id"], json!("i-0123456789abcdef0"));
    assert!(info["fingerprint"].as_str().expect("fingerprint").starts_with("sha256:"));
    assert!(!info.to_string().contains(main[0].as_str()));

    for log in [log_before_restart, second.log()] {
        for nonce in main.iter().chain(other.iter()) {
            assert!(!log.contains(nonce.as_str()), "a nonce appears in the service log");
        }
    }
}

#[tokio::test]
async fn twenty_concurrent_first_logins_agree_on_one_nonce() {
    let bed = bed().await;
    let app = app(&bed).await;
    let t = ec2_tenant(&app, "team-a").await;
    for i in 0..20 {
        ec2_profile(&app, &t, &format!("p{i}"), &bed, "auth/aws").await;
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (http, url, key) =
            (app.http.clone(), format!("{}/v1/tenants/team-a/profiles/p{i}/test", app.base), t.admin.clone());
        tasks.push(tokio::spawn(async move {
            http.post(url).bearer_auth(key).send().await.expect("send").json::<Value>().await.expect("json")
        }));
    }
    for task in tasks {
        let report = tokio::time::timeout(Duration::from_secs(120), task).await.expect("bounded").expect("joined");
        assert_eq!(report["ok"], json!(true), "{report:#}");
    }
    let rec = recorded(&bed.record);
    assert_eq!(rec.len(), 20);
    assert!(rec.iter().all(|(_, n)| *n == rec[0].1), "one nonce for all 20: {rec:?}");
}

#[tokio::test]
async fn a_reset_changes_the_nonce_of_the_next_spawn_for_that_key_only() {
    let bed = bed().await;
    let app = app(&bed).await;
    let t = ec2_tenant(&app, "team-a").await;
    ec2_profile(&app, &t, "p1", &bed, "auth/aws").await;
    ec2_profile(&app, &t, "other", &bed, "auth/aws-other").await;
    test_ok(&app, &t, "p1").await;
    test_ok(&app, &t, "other").await;
    let (s, reset, _) = app.call("POST", "/v1/tenants/team-a/profiles/p1/ec2-nonce/reset", &t.admin, None).await;
    assert_eq!(s, 200, "{reset}");
    assert_eq!(reset["vault_command"], json!("vault delete auth/aws/identity-accesslist/i-0123456789abcdef0"));
    assert_eq!(reset["reset_count"], json!(1));
    test_ok(&app, &t, "p1").await;
    test_ok(&app, &t, "other").await;
    let rec = recorded(&bed.record);
    let main: Vec<&String> = rec.iter().filter(|(m, _)| m == "auth/aws").map(|(_, n)| n).collect();
    let other: Vec<&String> = rec.iter().filter(|(m, _)| m == "auth/aws-other").map(|(_, n)| n).collect();
    assert_eq!(main.len(), 2);
    assert_ne!(main[0], main[1], "the reset took effect on the next spawn");
    assert_eq!(other.len(), 2);
    assert_eq!(other[0], other[1], "the other mount kept its nonce");
    assert!(app.log().contains("audit: ec2 nonce reset"));
    for n in main.iter().chain(other.iter()) {
        assert!(!app.log().contains(n.as_str()));
    }
    // An iam profile has no nonce.
    let iam = json!({ "name": "iam", "vault_address": bed.bao.addr, "aws_role_arn": "arn:aws:iam::123456789012:role/r", "method": { "type": "aws", "config": { "type": "iam", "role": "r" } } });
    assert_eq!(app.call("POST", "/v1/tenants/team-a/profiles", &t.admin, Some(iam)).await.0, 201);
    assert_eq!(app.call("POST", "/v1/tenants/team-a/profiles/iam/ec2-nonce/reset", &t.admin, None).await.0, 400);
    let _ = &bed.dir;
}

#[tokio::test]
async fn off_ec2_a_test_connection_fails_fast_with_the_iam_advice() {
    let bed = bed().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![
            ("AUTH_SERVICE_AGENT_BIN".into(), bed.agent.display().to_string()),
            ("AUTH_SERVICE_EC2_METADATA_ENDPOINT".into(), format!("http://127.0.0.1:{closed}")),
        ],
        database_url: None,
    })
    .await;
    let t = ec2_tenant(&app, "team-a").await;
    ec2_profile(&app, &t, "p1", &bed, "auth/aws").await;
    let started = Instant::now();
    let (s, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/p1/test", &t.admin, None).await;
    assert_eq!(s, 200);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(report["ok"], json!(false));
    assert!(
        report["steps"][0]["detail"]
            .as_str()
            .expect("detail")
            .contains("ec2 auth needs an EC2 instance identity document; use iam on this host"),
        "{report:#}"
    );
    assert!(recorded(&bed.record).is_empty(), "no agent ran");
}

#[tokio::test]
async fn a_nonce_mismatch_names_the_exact_vault_command_and_a_reset_recovers() {
    let bed = bed().await;
    let app = app(&bed).await;
    let t = ec2_tenant(&app, "team-a").await;
    ec2_profile(&app, &t, "p1", &bed, "auth/aws").await;
    test_ok(&app, &t, "p1").await;
    // Vault now "remembers" another nonce: refuse the one the service holds.
    let held = recorded(&bed.record)[0].1.clone();
    std::fs::write(bed.dir.path().join("reject"), &held).expect("reject file");
    let (_, report, _) = app.call("POST", "/v1/tenants/team-a/profiles/p1/test", &t.admin, None).await;
    assert_eq!(report["ok"], json!(false), "{report:#}");
    assert!(report["steps"][0]["detail"].as_str().expect("detail").contains("client nonce mismatch"), "{report:#}");
    let hint = report["hint"].as_str().expect("hint");
    assert!(hint.contains("vault delete auth/aws/identity-accesslist/i-0123456789abcdef0"), "{hint}");
    assert!(!report.to_string().contains(&held), "the nonce is not in the report");
    let (s, _, _) = app.call("POST", "/v1/tenants/team-a/profiles/p1/ec2-nonce/reset", &t.admin, None).await;
    assert_eq!(s, 200);
    test_ok(&app, &t, "p1").await;
    assert!(!app.log().contains(&held));
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_login_finish_and_leaves_no_run_folder() {
    let bed = bed().await;
    let mut app = app(&bed).await;
    let t = ec2_tenant(&app, "team-a").await;
    ec2_profile(&app, &t, "p1", &bed, "auth/aws").await;
    std::fs::write(bed.dir.path().join("delay"), "1.5").expect("delay file");
    let (http, url, key) =
        (app.http.clone(), format!("{}/v1/tenants/team-a/profiles/p1/test", app.base), t.admin.clone());
    let request = tokio::spawn(async move {
        http.post(url).bearer_auth(key).send().await.expect("send").json::<Value>().await.expect("json")
    });
    // Wait until the agent runs, then ask the service to stop.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(app.dir.path().join("agent-runs")).expect("runs").count() == 0 {
        assert!(Instant::now() < deadline, "the agent never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.terminate();
    let report = tokio::time::timeout(Duration::from_secs(30), request).await.expect("bounded").expect("joined");
    assert_eq!(report["ok"], json!(true), "the in-flight test finished: {report:#}");
    let deadline = Instant::now() + Duration::from_secs(40);
    while !app.exited() {
        assert!(Instant::now() < deadline, "the service did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(std::fs::read_dir(app.dir.path().join("agent-runs")).expect("runs").count(), 0, "no run folder left");
    assert!(app.log().contains("stopped"), "a clean stop is logged");
}

#[tokio::test]
async fn a_nonce_that_another_tenant_shares_can_be_reset_by_the_operator_only() {
    let bed = bed().await;
    let app = app(&bed).await;
    let a = ec2_tenant(&app, "tenant-a").await;
    let b = ec2_tenant(&app, "tenant-b").await;
    ec2_profile(&app, &a, "p", &bed, "auth/aws").await;
    ec2_profile(&app, &b, "p", &bed, "auth/aws").await;
    ec2_profile(&app, &a, "own", &bed, "auth/aws-own").await;
    test_ok(&app, &a, "p").await;
    let before = recorded(&bed.record);
    let (s, body, _) = app.call("POST", "/v1/tenants/tenant-a/profiles/p/ec2-nonce/reset", &a.admin, None).await;
    assert_eq!(s, 409, "{body}");
    assert!(body["detail"].as_str().expect("detail").contains("other tenants"), "{body}");
    assert!(!body.to_string().contains("tenant-b"), "who shares it is not told: {body}");
    // Nothing changed: the next login uses the same nonce.
    test_ok(&app, &a, "p").await;
    let after = recorded(&bed.record);
    assert_eq!(after.last().map(|r| &r.1), before.last().map(|r| &r.1));
    // A nonce no other tenant uses is the tenant admin's to reset.
    let (s, body, _) = app.call("POST", "/v1/tenants/tenant-a/profiles/own/ec2-nonce/reset", &a.admin, None).await;
    assert_eq!(s, 200, "{body}");
    // The operator may reset the shared one.
    let (s, body, _) =
        app.call("POST", "/v1/tenants/tenant-a/profiles/p/ec2-nonce/reset", &app.operator_key, None).await;
    assert_eq!(s, 200, "{body}");
    assert!(app.log().contains("audit: ec2 nonce reset"));
}

#[tokio::test]
async fn ec2_is_refused_for_a_tenant_the_operator_did_not_grant_it() {
    let bed = bed().await;
    let app = app(&bed).await;
    let t = app.tenant("plain").await;
    let body = json!({ "name": "p", "vault_address": bed.bao.addr,
        "method": { "type": "aws", "config": { "type": "ec2", "role": "dev-role" } } });
    let (s, b, _) = app.call("POST", "/v1/tenants/plain/profiles", &t.admin, Some(body)).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["errors"][0]["pointer"], json!("/method/config/type"), "{b}");
    // Granted, then taken away: the stored profile gets 403 on reads and no agent runs.
    let grant =
        |methods: Value| app.call("PATCH", "/v1/tenants/plain", &app.operator_key, Some(json!({"methods": methods})));
    assert_eq!(grant(json!(["ec2"])).await.0, 200);
    ec2_profile(&app, &t, "p", &bed, "auth/aws").await;
    assert_eq!(grant(json!(["iam"])).await.0, 200);
    let (s, b, _) = app.call("GET", "/v1/tenants/plain/profiles/p/secrets/secret/data/app/db", &t.read, None).await;
    assert_eq!(s, 403, "{b}");
    assert!(recorded(&bed.record).is_empty(), "no agent ran");
}
