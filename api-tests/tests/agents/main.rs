//! Vault Agent, Vault Proxy, status probes, `token capabilities` and the
//! Node.js clients through the Vault-compatible endpoint: the real `bao agent`
//! and `bao proxy` with `token_file` auto-auth (the read key as the token),
//! node-vault and node-vault-client from npm, against the real binary in front
//! of a real OpenBao with its database engine on a real PostgreSQL.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use api_tests::{OpenBao, Postgres, workspace_root};
use serde_json::{Value, json};

use helpers::{App, Tenant, issued_tokens};

const POLICY: &str = r#"
path "secret/data/app/*" { capabilities = ["read"] }
path "secret/metadata/app/*" { capabilities = ["read", "list"] }
path "secret/metadata/app" { capabilities = ["list"] }
path "database/creds/app" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
"#;

struct Bed {
    pg: Postgres,
    bao: OpenBao,
    app: App,
    t: Tenant,
    /// `<service>/vault/acme/main`.
    addr: String,
    dir: tempfile::TempDir,
    /// Tokens OpenBao issued during the set-up (before the service's first login).
    setup_tokens: Vec<String>,
}

/// OpenBao with a KV v2 secret and database credentials leased for `lease_secs`,
/// the service with a jwt profile `acme/main`, and the read key in a token file.
async fn bed(lease_secs: u64) -> Bed {
    let pg = Postgres::start().await.expect("postgres");
    let bao = OpenBao::start_with_audit().await.expect("openbao");
    let issuer = bao.setup_jwt(None, "jwt", "app", "agents", POLICY, 3600).await.expect("jwt");
    bao.kv2_put(None, "app/db", json!({"password": "s3cr3t"})).await.expect("kv");
    bao.setup_database(&pg, "app", lease_secs, 3600).await.expect("database");
    let setup_tokens = issued_tokens(&bao);
    let app = App::spawn().await;
    let t = app.tenant("acme").await;
    let jwt = app.jwt_file(&issuer, &t, "token");
    app.jwt_profile(&t, "main", &bao, &jwt, "app", json!({})).await;
    let addr = format!("{}/vault/acme/main", app.base);
    let dir = tempfile::tempdir().expect("tempdir");
    // The Kubernetes sidecar pattern: the read key mounted as a file, used as the token.
    std::fs::write(dir.path().join("read-key"), &t.read).expect("token file");
    Bed { pg, bao, app, t, addr, dir, setup_tokens }
}

/// A child process killed (and reaped) on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ =
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !matches!(self.0.try_wait(), Ok(Some(_))) {
            if Instant::now() > deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `bao agent` or `bao proxy` with `config`, logging to `log`.
fn start(kind: &str, config: &Path, log: &Path) -> Running {
    let log = std::fs::File::create(log).expect("log");
    let child = Command::new(api_tests::bao_bin())
        .args([kind, &format!("-config={}", config.display())])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("bao runs");
    Running(child)
}

/// Wait (bounded) until `check` says yes.
async fn eventually(what: &str, limit: Duration, log: &Path, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?}; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn bao_cli(addr: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(api_tests::bao_bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("BAO_ADDR", addr)
        .env("BAO_CLIENT_TIMEOUT", "20s")
        .stdin(Stdio::null());
    if let Some(t) = token {
        cmd.env("BAO_TOKEN", t);
    }
    cmd.output().expect("bao runs")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The tenant's audit events with `action`.
async fn audited(app: &App, t: &Tenant, action: &str) -> usize {
    let (_, body, _) = app.call("GET", "/v1/tenants/acme/audit?limit=1000", &t.admin, None).await;
    body["events"].as_array().map_or(0, |e| e.iter().filter(|e| e["action"] == action).count())
}

#[tokio::test]
async fn vault_agent_with_token_file_renders_kv_and_database_templates_and_renews_the_lease_through_the_endpoint() {
    let bed = bed(30).await;
    let d = bed.dir.path();
    let config = d.join("agent.hcl");
    std::fs::write(
        &config,
        format!(
            r#"
vault {{ address = "{addr}" }}
auto_auth {{
  method "token_file" {{
    config {{ token_file_path = "{key}" }}
  }}
}}
template_config {{ exit_on_retry_failure = true }}
template {{
  contents    = "{{{{ with secret \"secret/data/app/db\" }}}}{{{{ .Data.data.password }}}}{{{{ end }}}}"
  destination = "{d}/kv.txt"
}}
template {{
  contents    = "{{{{ with secret \"database/creds/app\" }}}}{{{{ .Data.username }}}} {{{{ .Data.password }}}}{{{{ end }}}}"
  destination = "{d}/db.txt"
}}
"#,
            addr = bed.addr,
            key = d.join("read-key").display(),
            d = d.display()
        ),
    )
    .expect("config");
    let log = d.join("agent.log");
    let agent = start("agent", &config, &log);
    let (kv, db) = (d.join("kv.txt"), d.join("db.txt"));
    eventually("both templates render", Duration::from_secs(30), &log, || kv.exists() && db.exists()).await;
    assert_eq!(std::fs::read_to_string(&kv).expect("kv"), "s3cr3t");
    let creds = std::fs::read_to_string(&db).expect("db");
    let (user, password) = creds.split_once(' ').expect("user and password");
    assert!(bed.pg.can_login(user, password), "the rendered database credential logs in");
    // A 30 s lease: the agent renews it through the endpoint (sys/leases/renew), which the service audits.
    let deadline = Instant::now() + Duration::from_secs(45);
    while audited(&bed.app, &bed.t, "lease.renew").await == 0 {
        assert!(
            Instant::now() < deadline,
            "no renewal through the endpoint; agent log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(agent);
    // The agent never held a token of OpenBao's: only the service's one login exists there,
    // and nothing the agent was given or rendered carries it.
    let issued: Vec<String> = issued_tokens(&bed.bao).into_iter().filter(|t| !bed.setup_tokens.contains(t)).collect();
    assert_eq!(issued.len(), 1, "one login, the service's own");
    let agent_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!agent_log.contains(&issued[0]), "the agent never saw the profile's Vault token");
    helpers::assert_no_secrets_logged(&bed.app, &bed.bao, &[&bed.t]);
}

#[tokio::test]
async fn vault_proxy_forcing_its_auto_auth_token_serves_kv_get_to_a_client_without_a_token() {
    let bed = bed(600).await;
    let d = bed.dir.path();
    let port = free_port();
    let config = d.join("proxy.hcl");
    std::fs::write(
        &config,
        format!(
            r#"
vault {{ address = "{addr}" }}
auto_auth {{
  method "token_file" {{
    config {{ token_file_path = "{key}" }}
  }}
}}
api_proxy {{ use_auto_auth_token = "force" }}
listener "tcp" {{
  address     = "127.0.0.1:{port}"
  tls_disable = true
}}
"#,
            addr = bed.addr,
            key = d.join("read-key").display()
        ),
    )
    .expect("config");
    let log = d.join("proxy.log");
    let _proxy = start("proxy", &config, &log);
    let proxy = format!("http://127.0.0.1:{port}");
    eventually("the proxy listens", Duration::from_secs(20), &log, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    // The client has no token at all: the proxy adds the read key.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = bao_cli(&proxy, None, &["kv", "get", "-format=json", "secret/app/db"]);
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            assert_eq!(v["data"]["data"]["password"], "s3cr3t", "{v}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kv get through the proxy: {}{}\nproxy log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn status_health_and_token_capabilities_answer_as_vault_does_and_lookup_self_echoes_only_the_key() {
    let bed = bed(600).await;
    let (addr, key) = (bed.addr.as_str(), bed.t.read.as_str());
    let out = bao_cli(addr, None, &["status"]);
    assert!(
        out.status.success(),
        "bao status: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let http = &bed.app.http;
    let health = |q: &str| format!("{addr}/v1/sys/health{q}");
    assert_eq!(http.get(health("")).send().await.expect("health").status().as_u16(), 200);
    assert_eq!(http.head(health("")).send().await.expect("head").status().as_u16(), 200);
    assert_eq!(http.get(health("?activecode=299")).send().await.expect("health").status().as_u16(), 299);
    let body: Value = http.get(health("")).send().await.expect("health").json().await.expect("json");
    assert_eq!((body["initialized"].as_bool(), body["sealed"].as_bool()), (Some(true), Some(false)), "{body}");
    assert_eq!(body["version"], "", "no Vault version is revealed: {body}");
    // With a read key of the tenant, a profile that does not exist is "sealed" (503); without, nothing is said.
    let missing = format!("{}/vault/acme/nope/v1/sys/health", bed.app.base);
    let with_key = http.get(&missing).header("X-Vault-Token", key).send().await.expect("health");
    assert_eq!(with_key.status().as_u16(), 503);
    assert_eq!(http.get(&missing).send().await.expect("health").status().as_u16(), 200);
    // token capabilities: read on a served path, deny on sys/.
    let out = bao_cli(addr, Some(key), &["token", "capabilities", "secret/data/app/db"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "read");
    let out = bao_cli(addr, Some(key), &["token", "capabilities", "sys/mounts"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "deny", "{}", String::from_utf8_lossy(&out.stderr));
    // lookup-self: the key echoed, its public id as accessor, never a Vault token.
    let out = bao_cli(addr, Some(key), &["token", "lookup", "-format=json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["data"]["id"], key, "{v}");
    assert!(key.contains(v["data"]["accessor"].as_str().expect("accessor")), "{v}");
    for token in issued_tokens(&bed.bao) {
        assert!(!v.to_string().contains(&token), "lookup-self carries an OpenBao token");
    }
}

fn node(script: &str, addr: &str, key: &str) -> Output {
    let modules = workspace_root().join("tools/npm/node_modules");
    assert!(modules.join("node-vault").exists(), "node-vault is missing: run scripts/install-tools.sh");
    Command::new("node")
        .args(["-e", script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NODE_PATH", &modules)
        .env("ADDR", addr)
        .env("KEY", key)
        .stdin(Stdio::null())
        .output()
        .expect("node runs")
}

#[tokio::test]
async fn node_vault_and_node_vault_client_read_list_and_look_up_through_the_endpoint() {
    let bed = bed(600).await;
    let script = r#"
const vault = require('node-vault')({ apiVersion: 'v1', endpoint: process.env.ADDR, token: process.env.KEY });
(async () => {
  const s = await vault.read('secret/data/app/db');
  const l = await vault.list('secret/metadata/app');
  const me = await vault.tokenLookupSelf();
  console.log(JSON.stringify({ password: s.data.data.password, keys: l.data.keys, id: me.data.id === process.env.KEY }));
})().catch(e => { console.error(String(e)); process.exit(1); });
"#;
    let out = node(script, &bed.addr, &bed.t.read);
    assert!(out.status.success(), "node-vault: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v, json!({"password": "s3cr3t", "keys": ["db"], "id": true}));
    let bad = node(script, &bed.addr, "vas_0123456789abcdef_nope");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("permission denied"));

    let client = r#"
const VaultClient = require('node-vault-client');
const c = VaultClient.boot('main', { api: { url: process.env.ADDR + '/' }, auth: { type: 'token', config: { token: process.env.KEY } } });
c.read('secret/data/app/db')
  .then(v => { console.log(v.getData().data.password); process.exit(0); })
  .catch(e => { console.error(String(e)); process.exit(1); });
"#;
    let out = node(client, &bed.addr, &bed.t.read);
    assert!(out.status.success(), "node-vault-client: {}", String::from_utf8_lossy(&out.stderr));
    // The client logs its own progress on stdout; the secret is the last line.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().last(), Some("s3cr3t"));
    let bad = node(client, &bed.addr, "vas_0123456789abcdef_nope");
    assert!(!bad.status.success(), "a bad key fails: {}", String::from_utf8_lossy(&bad.stdout));
    helpers::assert_no_secrets_logged(&bed.app, &bed.bao, &[&bed.t]);
}
