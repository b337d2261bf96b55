//! The tenant trust boundary through the real `auth-service` binary.
//!
//! AWS itself cannot run here, so STS is a recording stub on loopback (it sees
//! the exact AssumeRole request the official AWS SDK sends), and the `iam`
//! agent is a stand-in that records the environment it was given and writes a
//! token minted by the real OpenBao server. Every other attack runs against the
//! real OpenBao server and agent with the `jwt` method.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;
mod hostile_vault;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use helpers::{App, AppOptions, Tenant, bao_with_jwt};

/// One request the STS stub saw: its form parameters and the signing key id.
#[derive(Debug, Clone)]
struct StsCall {
    params: BTreeMap<String, String>,
    signed_by: String,
}

/// A recording STS on loopback: AssumeRole answers credentials derived from the
/// session name (AccessDenied for roles whose name contains `denied`),
/// GetCallerIdentity answers the host's ARN.
async fn sts_stub() -> (String, Arc<Mutex<Vec<StsCall>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut sock).await else { return };
                let params: BTreeMap<String, String> = url_decode_form(&body);
                let signed_by = head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .and_then(|l| l.split("Credential=").nth(1))
                    .and_then(|c| c.split('/').next())
                    .unwrap_or_default()
                    .to_string();
                seen.lock().expect("lock").push(StsCall { params: params.clone(), signed_by });
                let (status, xml) = sts_answer(&params);
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{xml}",
                    xml.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, calls)
}

/// One whole request from `sock`: (head, body).
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let raw = api_tests::read_http_request(sock).await?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.to_string(), body.to_string()))
}

fn url_decode_form(body: &str) -> BTreeMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).to_string()
    }
    body.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

const HOST_ARN: &str = "arn:aws:iam::111122223333:role/auth-service-host";

fn sts_answer(params: &BTreeMap<String, String>) -> (&'static str, String) {
    let ns = "https://sts.amazonaws.com/doc/2011-06-15/";
    match params.get("Action").map(String::as_str) {
        Some("AssumeRole") if params.get("RoleArn").is_some_and(|r| r.contains("denied")) => (
            "403 Forbidden",
            format!(
                "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: {HOST_ARN} is not authorized to perform: sts:AssumeRole on resource: {}</Message></Error><RequestId>r1</RequestId></ErrorResponse>",
                params["RoleArn"]
            ),
        ),
        Some("AssumeRole") => {
            let session = params.get("RoleSessionName").cloned().unwrap_or_default();
            let tag = session.trim_start_matches("auth-service-").to_ascii_uppercase().replace('-', "");
            (
                "200 OK",
                format!(
                    "<AssumeRoleResponse xmlns=\"{ns}\"><AssumeRoleResult><Credentials><AccessKeyId>ASIA{tag}TENANTKEY</AccessKeyId><SecretAccessKey>tenant-secret-{session}</SecretAccessKey><SessionToken>tenant-session-{session}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:{session}</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/x/{session}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></AssumeRoleResponse>"
                ),
            )
        }
        Some("GetCallerIdentity") => (
            "200 OK",
            format!(
                "<GetCallerIdentityResponse xmlns=\"{ns}\"><GetCallerIdentityResult><Arn>{HOST_ARN}</Arn><UserId>AROAHOST</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r3</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
            ),
        ),
        _ => (
            "400 Bad Request",
            format!(
                "<ErrorResponse xmlns=\"{ns}\"><Error><Code>InvalidAction</Code><Message>no</Message></Error></ErrorResponse>"
            ),
        ),
    }
}

/// A stand-in agent: appends its whole environment (one JSON object per run)
/// to `record`, then writes a token minted by the real OpenBao to the sink.
fn env_recording_agent(dir: &Path, bao_addr: &str, record: &Path) -> PathBuf {
    let script = dir.join("env-agent");
    let text = format!(
        r#"#!/usr/bin/env python3
import json, os, re, sys, urllib.request
if len(sys.argv) > 1 and sys.argv[1] == "version":
    print("env-agent v0"); sys.exit(0)
cfg = open([a for a in sys.argv if a.startswith("-config=")][0][len("-config="):]).read()
sink = re.search(r'sink "file"[\s\S]*?path\s*=\s*"([^"]*)"', cfg).group(1)
with open("{record}", "a") as f:
    f.write(json.dumps(dict(os.environ)) + "\n")
req = urllib.request.Request("{addr}/v1/auth/token/create", method="POST",
    data=json.dumps({{"policies": ["app-read"], "ttl": "1h"}}).encode(), headers={{"X-Vault-Token": "root"}})
token = json.load(urllib.request.urlopen(req, timeout=10))["auth"]["client_token"]
open(sink + ".tmp", "w").write(token)
os.rename(sink + ".tmp", sink)
"#,
        record = record.display(),
        addr = bao_addr,
    );
    std::fs::write(&script, text).expect("write stand-in");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

fn recorded_envs(record: &Path) -> Vec<BTreeMap<String, String>> {
    std::fs::read_to_string(record).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn iam_profile(name: &str, vault: &str, role_arn: &str) -> Value {
    json!({ "name": name, "vault_address": vault, "aws_role_arn": role_arn,
            "method": { "type": "aws", "config": { "type": "iam", "role": "vault-role", "region": "eu-west-1" } } })
}

async fn create(app: &App, t: &Tenant, body: Value) -> (u16, Value) {
    let (s, b, _) = app.call("POST", &format!("/v1/tenants/{}/profiles", t.id), &t.admin, Some(body)).await;
    (s, b)
}

async fn test_connection(app: &App, t: &Tenant, name: &str) -> Value {
    let (s, report, _) = app.call("POST", &format!("/v1/tenants/{}/profiles/{name}/test", t.id), &t.admin, None).await;
    assert_eq!(s, 200, "{report}");
    report
}

async fn external_id(app: &App, t: &Tenant) -> String {
    let (s, b, _) = app.call("GET", &format!("/v1/tenants/{}", t.id), &t.admin, None).await;
    assert_eq!(s, 200, "{b}");
    b["aws_external_id"].as_str().expect("external id").to_string()
}

fn pointers(body: &Value) -> Vec<String> {
    body["errors"].as_array().into_iter().flatten().filter_map(|e| e["pointer"].as_str().map(str::to_string)).collect()
}

#[tokio::test]
async fn iam_logins_assume_each_tenants_role_with_its_own_external_id_and_the_agent_sees_only_those_credentials() {
    let (bao, _issuer) = bao_with_jwt(3600).await;
    let (sts, calls) = sts_stub().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("envs.jsonl");
    let agent = env_recording_agent(dir.path(), &bao.addr, &record);
    // The host has credentials of its own, in variables and in a shared file.
    let host_file = dir.path().join("host-credentials");
    std::fs::write(
        &host_file,
        "[default]\naws_access_key_id = AKIAHOSTFILEKEY\naws_secret_access_key = host-file-secret\n",
    )
    .expect("file");
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![
            ("AUTH_SERVICE_AGENT_BIN".into(), agent.display().to_string()),
            ("AUTH_SERVICE_AWS_STS_ENDPOINT".into(), sts.clone()),
            ("AWS_ACCESS_KEY_ID".into(), "AKIAHOSTENVKEY".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "host-env-secret".into()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), host_file.display().to_string()),
            ("AWS_PROFILE".into(), "default".into()),
            ("AWS_REGION".into(), "us-west-2".into()),
            ("AWS_ROLE_ARN".into(), "arn:aws:iam::111122223333:role/host-web-identity".into()),
        ],
        database_url: None,
    })
    .await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let (id_a, id_b) = (external_id(&app, &a).await, external_id(&app, &b).await);
    assert_ne!(id_a, id_b, "each tenant has its own external id");
    assert_eq!(id_a.len(), 32);

    // An iam profile without a role is refused in per-tenant-role mode, pointing at the field.
    let mut no_role = iam_profile("x", &bao.addr, "unused");
    no_role.as_object_mut().expect("object").remove("aws_role_arn");
    let (s, body) = create(&app, &a, no_role).await;
    assert_eq!((s, pointers(&body)), (400, vec!["/aws_role_arn".to_string()]), "{body}");

    let role_a = "arn:aws:iam::123456789012:role/tenant-a-vault";
    let role_b = "arn:aws:iam::210987654321:role/tenant-b-vault";
    assert_eq!(create(&app, &a, iam_profile("p", &bao.addr, role_a)).await.0, 201);
    assert_eq!(create(&app, &b, iam_profile("p", &bao.addr, role_b)).await.0, 201);
    // Tenant A names tenant B's role: the call still carries A's external id, so B's trust policy refuses it.
    assert_eq!(create(&app, &a, iam_profile("steal", &bao.addr, role_b)).await.0, 201);

    for (t, name) in [(&a, "p"), (&b, "p"), (&a, "steal")] {
        let report = test_connection(&app, t, name).await;
        assert_eq!(report["ok"], json!(true), "{report:#}");
        assert_eq!(report["steps"][0]["step"], json!("assume_role"), "{report:#}");
        assert_eq!(report["steps"][1]["step"], json!("agent_login"));
    }
    let assumes: Vec<StsCall> = calls
        .lock()
        .expect("lock")
        .iter()
        .filter(|c| c.params.get("Action").map(String::as_str) == Some("AssumeRole"))
        .cloned()
        .collect();
    assert_eq!(assumes.len(), 3, "{assumes:#?}");
    let by_role = |session: &str, role: &str| {
        assumes.iter().find(|c| c.params["RoleSessionName"] == session && c.params["RoleArn"] == role).cloned()
    };
    let call_a = by_role("auth-service-tenant-a", role_a).expect("A's call");
    assert_eq!(call_a.params["ExternalId"], id_a);
    assert_eq!(by_role("auth-service-tenant-b", role_b).expect("B's call").params["ExternalId"], id_b);
    let steal = by_role("auth-service-tenant-a", role_b).expect("A naming B's role");
    assert_eq!(steal.params["ExternalId"], id_a, "A's external id, never B's");
    assert_eq!(call_a.signed_by, "AKIAHOSTENVKEY", "the STS call itself is signed with the host's chain");

    // The agent saw exactly the assumed credentials, a region and the isolation settings.
    let envs = recorded_envs(&record);
    assert_eq!(envs.len(), 3);
    for env in &envs {
        let aws: BTreeMap<&String, &String> = env.iter().filter(|(k, _)| k.starts_with("AWS_")).collect();
        let keys: Vec<&str> = aws.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "AWS_ACCESS_KEY_ID",
                "AWS_CONFIG_FILE",
                "AWS_EC2_METADATA_DISABLED",
                "AWS_REGION",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
                "AWS_SHARED_CREDENTIALS_FILE"
            ],
            "{env:#?}"
        );
        assert!(env["AWS_ACCESS_KEY_ID"].starts_with("ASIATENANT"), "{env:#?}");
        assert_eq!(env["AWS_EC2_METADATA_DISABLED"], "true");
        assert_eq!(env["AWS_SHARED_CREDENTIALS_FILE"], "/dev/null");
        assert_eq!(env["AWS_CONFIG_FILE"], "/dev/null");
        assert_eq!(env["AWS_REGION"], "eu-west-1", "the block's region");
        let all = serde_json::to_string(env).expect("json");
        for host_value in
            ["AKIAHOSTENVKEY", "host-env-secret", "AKIAHOSTFILEKEY", "host-file-secret", "host-web-identity"]
        {
            assert!(!all.contains(host_value), "{host_value} leaked into the agent: {all}");
        }
    }
    assert!(envs.iter().any(|e| e["AWS_ACCESS_KEY_ID"] == "ASIATENANTATENANTKEY"));
    assert!(envs.iter().any(|e| e["AWS_ACCESS_KEY_ID"] == "ASIATENANTBTENANTKEY"));

    // Credentials are reused until near their expiry: another login, no new AssumeRole.
    let report = test_connection(&app, &a, "p").await;
    assert_eq!(report["ok"], json!(true));
    let count = calls
        .lock()
        .expect("lock")
        .iter()
        .filter(|c| c.params.get("Action").map(String::as_str) == Some("AssumeRole"))
        .count();
    assert_eq!(count, 3, "cached credentials were reused");
    assert_eq!(recorded_envs(&record).len(), 4);

    // AccessDenied becomes a hint with the trust policy naming the host's principal and this tenant's external id.
    let denied = "arn:aws:iam::123456789012:role/denied-role";
    assert_eq!(create(&app, &a, iam_profile("denied", &bao.addr, denied)).await.0, 201);
    let report = test_connection(&app, &a, "denied").await;
    assert_eq!(report["ok"], json!(false));
    assert_eq!(report["steps"][0]["step"], json!("assume_role"));
    assert_eq!(report["steps"].as_array().map(Vec::len), Some(1), "no agent ran: {report:#}");
    let hint = report["hint"].as_str().expect("hint");
    assert!(hint.contains(HOST_ARN) && hint.contains(&id_a) && hint.contains("sts:ExternalId"), "{hint}");
    assert_eq!(recorded_envs(&record).len(), 4, "the agent never started");

    // No tenant credential or host secret reaches the service log.
    helpers::assert_log_free_of(
        &app,
        &[
            "tenant-secret-auth-service-tenant-a".into(),
            "tenant-session-auth-service-tenant-a".into(),
            "host-env-secret".into(),
            "host-file-secret".into(),
        ],
    );
}

#[tokio::test]
async fn host_mode_keeps_the_single_tenant_behaviour() {
    let (bao, _issuer) = bao_with_jwt(3600).await;
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![("AUTH_SERVICE_AWS_IDENTITY".into(), "host".into())],
        database_url: None,
    })
    .await;
    let t = app.tenant("solo").await;
    let body = json!({ "name": "p", "vault_address": bao.addr,
                       "method": { "type": "aws", "config": { "type": "iam", "role": "r" } } });
    assert_eq!(create(&app, &t, body).await.0, 201, "no role ARN needed in host mode");
    let ec2 = json!({ "name": "e", "vault_address": bao.addr,
                      "method": { "type": "aws", "config": { "type": "ec2", "role": "r" } } });
    assert_eq!(create(&app, &t, ec2).await.0, 201, "ec2 is granted by default in host mode");
}

#[tokio::test]
async fn vault_addresses_outside_the_operators_list_or_a_tenants_narrowed_list_are_refused_and_nothing_is_contacted() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let elsewhere_addr = format!("http://{}", elsewhere.local_addr().expect("addr"));
    let bao_port = bao.addr.rsplit(':').next().expect("port").to_string();
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![(
            "AUTH_SERVICE_VAULT_ADDRESSES".into(),
            format!("http://127.0.0.1:{bao_port},https://*.example.com"),
        )],
        database_url: None,
    })
    .await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let body = |addr: &str| json!({ "name": "p", "vault_address": addr, "method": { "type": "jwt", "config": { "path": jwt, "role": "app" } } });
    let (s, b) = create(&app, &t, body(&elsewhere_addr)).await;
    assert_eq!((s, pointers(&b)), (400, vec!["/vault_address".to_string()]), "{b}");
    assert!(b.to_string().contains("AUTH_SERVICE_VAULT_ADDRESSES"), "{b}");
    let (s, b) = create(&app, &t, body(&format!("https://127.0.0.1:{bao_port}"))).await;
    assert_eq!(s, 400, "https is not http: {b}");
    let (_, list, _) = app.call("GET", "/v1/tenants/team-a/profiles", &t.admin, None).await;
    assert_eq!(list["profiles"], json!([]), "nothing stored");

    // The operator narrows the tenant: only subsets of the global list are accepted.
    let patch = |v: Value| app.call("PATCH", "/v1/tenants/team-a", &app.operator_key, Some(v));
    let (s, b, _) = patch(json!({"vault_addresses": ["http://127.0.0.1:*"]})).await;
    assert_eq!((s, pointers(&b)), (400, vec!["/vault_addresses/0".to_string()]), "{b}");
    let (s, b, _) = patch(json!({"methods": ["kerberos"]})).await;
    assert_eq!((s, pointers(&b)), (400, vec!["/methods/0".to_string()]), "{b}");
    let (s, _, _) = app.call("PATCH", "/v1/tenants/team-a", &t.admin, Some(json!({"methods": ["jwt"]}))).await;
    assert_eq!(s, 403, "a tenant admin cannot widen its own grants");

    // A profile saved while allowed...
    assert_eq!(create(&app, &t, body(&bao.addr)).await.0, 201);
    let read = "/v1/tenants/team-a/profiles/p/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", read, &t.read, None).await.0, 200);
    // ...is refused on reads (403 with the reason) and reported by test connection once narrowed away.
    let (s, b, _) = patch(json!({"vault_addresses": ["https://vault.team-a.example.com"]})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["vault_addresses"], json!(["https://vault.team-a.example.com"]));
    let spawns = app.spawns().await;
    let (s, b, _) = app.call("GET", read, &t.read, None).await;
    assert_eq!(s, 403, "{b}");
    assert!(b["detail"].as_str().expect("detail").contains("granted this tenant"), "{b}");
    let report = test_connection(&app, &t, "p").await;
    assert_eq!(report["ok"], json!(false), "{report:#}");
    assert_eq!(app.spawns().await, spawns, "no agent ran for a disallowed profile");
    let (_, tenant, _) = app.call("GET", "/v1/tenants/team-a", &t.admin, None).await;
    assert_eq!(tenant["vault_addresses"], json!(["https://vault.team-a.example.com"]));
    // The address outside the list never saw a connection.
    let accepted = tokio::time::timeout(Duration::from_millis(100), elsewhere.accept()).await;
    assert!(accepted.is_err(), "the disallowed address was contacted");
}

#[tokio::test]
async fn jwt_files_of_another_tenant_deleting_files_and_ungranted_ec2_are_refused() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn().await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let b_file = app.jwt_file(&issuer, &b, "token");
    let a_file = app.jwt_file(&issuer, &a, "token");
    let jwt = |path: &str, extra: Value| {
        let mut config = json!({ "path": path, "role": "app" });
        if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        json!({ "name": "p", "vault_address": bao.addr, "method": { "type": "jwt", "config": config } })
    };
    let a_dir = app.jwt_dir.join("tenant-a");
    let symlink = a_dir.join("link");
    std::os::unix::fs::symlink(&b_file, &symlink).expect("symlink");
    let dotdot = format!("{}/../tenant-b/token", a_dir.display());
    for (path, what) in [
        (b_file.clone(), "B's folder"),
        (dotdot, "a '..' path"),
        (symlink.display().to_string(), "a symlink to B's file"),
    ] {
        let (s, body) = create(&app, &a, jwt(&path, json!({}))).await;
        assert_eq!((s, pointers(&body)), (400, vec!["/method/config/path".to_string()]), "{what}: {body}");
    }
    let (s, body) = create(&app, &a, jwt(&a_file, json!({"remove_jwt_after_reading": true}))).await;
    assert_eq!((s, pointers(&body)), (400, vec!["/method/config/remove_jwt_after_reading".to_string()]), "{body}");
    let (s, body) = create(&app, &a, jwt(&a_file, json!({"remove_jwt_follows_symlinks": false}))).await;
    assert_eq!((s, pointers(&body)), (400, vec!["/method/config/remove_jwt_follows_symlinks".to_string()]), "{body}");
    let ec2 = json!({ "name": "e", "vault_address": bao.addr, "method": { "type": "aws", "config": { "type": "ec2", "role": "r" } } });
    let (s, body) = create(&app, &a, ec2).await;
    assert_eq!((s, pointers(&body)), (400, vec!["/method/config/type".to_string()]), "{body}");
    let (_, list, _) = app.call("GET", "/v1/tenants/tenant-a/profiles", &a.admin, None).await;
    assert_eq!(list["profiles"], json!([]), "nothing stored");

    // A's own file works with the real agent; a symlink swapped in later is caught before the next login.
    let (s, body) = create(&app, &a, jwt(&a_file, json!({}))).await;
    assert_eq!(s, 201, "{body}");
    let read = "/v1/tenants/tenant-a/profiles/p/secrets/secret/data/app/db";
    assert_eq!(app.call("GET", read, &a.read, None).await.0, 200);
    std::fs::remove_file(&a_file).expect("rm");
    std::os::unix::fs::symlink(&b_file, &a_file).expect("swap in a symlink");
    let report = test_connection(&app, &a, "p").await;
    assert_eq!(report["ok"], json!(false), "{report:#}");
    assert!(report["steps"][0]["detail"].as_str().expect("detail").contains("own folder"), "{report:#}");
    assert!(std::path::Path::new(&b_file).exists(), "B's token file is untouched");
}

#[tokio::test]
async fn without_allowed_vault_addresses_no_profile_can_be_saved_and_the_error_names_the_variable() {
    let (bao, issuer) = bao_with_jwt(3600).await;
    let app = App::spawn_with(AppOptions {
        config_file: None,
        extra_env: vec![("AUTH_SERVICE_VAULT_ADDRESSES".into(), String::new())],
        database_url: None,
    })
    .await;
    let t = app.tenant("team-a").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    let body = json!({ "name": "p", "vault_address": bao.addr, "method": { "type": "jwt", "config": { "path": jwt, "role": "app" } } });
    let (s, b) = create(&app, &t, body).await;
    assert_eq!((s, pointers(&b)), (400, vec!["/vault_address".to_string()]), "{b}");
    assert!(b.to_string().contains("AUTH_SERVICE_VAULT_ADDRESSES"), "{b}");
}
