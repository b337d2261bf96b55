//! Spawning the real binary and talking to it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api_tests::{JwtIssuer, OpenBao, bao_bin, workspace_root};
use serde_json::{Value, json};

/// The auth-service binary: $AUTH_SERVICE_BIN, else target/debug/auth-service (built by `cargo test --workspace`).
pub fn service_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AUTH_SERVICE_BIN") {
        return PathBuf::from(p);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    let profile = std::env::var("AUTH_SERVICE_PROFILE").unwrap_or_else(|_| "debug".into());
    let bin = target.join(profile).join("auth-service");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p auth-service` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// A running auth-service process; SIGTERM + wait on drop.
pub struct App {
    pub base: String,
    pub operator_key: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub jwt_dir: PathBuf,
    pub log_path: PathBuf,
    child: Option<Child>,
}

#[derive(Default)]
pub struct AppOptions {
    pub extra_env: Vec<(String, String)>,
    pub database_url: Option<String>,
    /// A settings file for `serve --config` (the environment still wins).
    pub config_file: Option<PathBuf>,
}

impl App {
    pub async fn spawn() -> App {
        Self::spawn_with(AppOptions::default()).await
    }

    pub async fn spawn_with(opts: AppOptions) -> App {
        let dir = tempfile::tempdir().expect("tempdir");
        let jwt_dir = dir.path().join("identity");
        std::fs::create_dir_all(&jwt_dir).expect("jwt dir");
        let agent_tmp = dir.path().join("agent-runs");
        std::fs::create_dir_all(&agent_tmp).expect("agent tmp dir");
        let operator_key = format!("op-{}", random_hex(24));
        let log_path = dir.path().join("service.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let db = opts.database_url.unwrap_or_else(|| format!("sqlite://{}/db/auth.db", dir.path().display()));
        let mut cmd = Command::new(service_bin());
        cmd.arg("serve");
        if let Some(file) = &opts.config_file {
            cmd.arg("--config").arg(file);
        }
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AUTH_SERVICE_LISTEN", "127.0.0.1:0")
            .env("AUTH_SERVICE_DATABASE_URL", db)
            .env("AUTH_SERVICE_AGENT_BIN", bao_bin())
            .env("AUTH_SERVICE_ALLOWED_METHODS", "aws,jwt")
            .env("AUTH_SERVICE_JWT_ALLOWED_DIRS", &jwt_dir)
            .env("AUTH_SERVICE_VAULT_ADDRESSES", "http://127.0.0.1:*,https://127.0.0.1:*")
            // Tests press Test connection in quick succession; the cooldown has its own test.
            .env("AUTH_SERVICE_TEST_COOLDOWN", "0s")
            .env("AUTH_SERVICE_OPERATOR_KEY", &operator_key)
            .env("AUTH_SERVICE_AGENT_TEMP_DIR", &agent_tmp)
            .env("AUTH_SERVICE_LOG_FORMAT", "json")
            .env("AUTH_SERVICE_LOGIN_BACKOFF_INITIAL", "30s")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in &opts.extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("auth-service starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "no 'listening on' line within 30 s; log: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            )
        });
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let http = api_tests::http_client_builder().timeout(Duration::from_secs(60)).build().expect("client");
        App { base, operator_key, http, dir, jwt_dir, log_path, child: Some(child) }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Send SIGTERM without waiting.
    pub fn terminate(&self) {
        if let Some(child) = &self.child {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }

    /// Whether the process has exited (reaping it if so).
    pub fn exited(&mut self) -> bool {
        self.child.as_mut().is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    /// A blocking GET of `path` on the running service (for use in `stop`, outside any runtime).
    fn get_blocking(&self, path: &str, accept: &str) -> Option<String> {
        use std::io::{Read, Write};
        let host = self.base.trim_start_matches("http://");
        let mut sock = std::net::TcpStream::connect(host).ok()?;
        sock.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\naccept: {accept}\r\nconnection: close\r\n\r\n");
        sock.write_all(req.as_bytes()).ok()?;
        let mut out = String::new();
        sock.read_to_string(&mut out).ok()?;
        let (_, body) = out.split_once("\r\n\r\n")?;
        Some(body.to_string())
    }

    /// Every (route, status) this service answered that its own OpenAPI document
    /// does not declare for that route (the Vault-compatible endpoint answers in
    /// Vault's terms and is left out; so are routes outside the document).
    pub fn undocumented_statuses(&self) -> Vec<String> {
        let (Some(metrics), Some(doc)) =
            (self.get_blocking("/metrics", "text/plain"), self.get_blocking("/openapi.json", "application/json"))
        else {
            return Vec::new();
        };
        // A chunked body: the JSON document is the part between its first '{' and last '}'.
        let doc = doc.find('{').zip(doc.rfind('}')).map(|(a, b)| &doc[a..=b]).unwrap_or("");
        let Ok(doc) = serde_json::from_str::<Value>(doc) else { return vec!["/openapi.json is not JSON".into()] };
        let mut out = Vec::new();
        for line in metrics.lines().filter(|l| l.starts_with("auth_service_http_requests_total{")) {
            let label = |name: &str| {
                let start = line.find(&format!("{name}=\""))? + name.len() + 2;
                Some(line[start..].split('"').next()?.to_string())
            };
            let (Some(route), Some(status)) = (label("route"), label("status")) else { continue };
            if line.rsplit(' ').next().is_some_and(|v| v == "0") || route.starts_with("/vault/") {
                continue;
            }
            let Some(item) = doc["paths"].get(&route).and_then(Value::as_object) else { continue };
            let declared = item.values().any(|op| op["responses"].get(&status).is_some());
            if !declared {
                out.push(format!("{route} answered {status}"));
            }
        }
        out
    }

    /// Stop with SIGTERM and wait (bounded). Fails the test when the service
    /// answered a status its OpenAPI document does not declare.
    pub fn stop(&mut self) {
        // Asked while the service runs; asserted once it is stopped (a failed check must not leave it running).
        let undocumented =
            if self.child.is_some() && !std::thread::panicking() { self.undocumented_statuses() } else { Vec::new() };
        self.stop_process();
        assert!(undocumented.is_empty(), "statuses missing from the OpenAPI document: {undocumented:?}");
    }

    fn stop_process(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(40);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    _ if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method.parse().expect("method"), &url).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value, headers)
    }

    pub async fn metrics(&self) -> String {
        self.http.get(format!("{}/metrics", self.base)).send().await.expect("metrics").text().await.expect("text")
    }

    /// The value of a counter line (all label sets summed when `labels` is empty).
    pub async fn counter(&self, name: &str, labels: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                if labels.is_empty() {
                    l.starts_with(name) && l[name.len()..].starts_with([' ', '{'])
                } else {
                    l.starts_with(&format!("{name}{{{labels}}}"))
                }
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn spawns(&self) -> f64 {
        self.counter("auth_service_agent_spawns_total", "").await
    }

    /// Create a tenant and an admin key and a read key for it.
    pub async fn tenant(&self, id: &str) -> Tenant {
        let (s, b, _) = self
            .call("POST", "/v1/tenants", &self.operator_key, Some(json!({"id": id, "name": format!("Tenant {id}")})))
            .await;
        assert_eq!(s, 201, "{b}");
        let admin = self.key(id, &self.operator_key, json!(["admin"])).await;
        let read = self.key(id, &admin, json!(["read"])).await;
        Tenant { id: id.to_string(), admin, read }
    }

    pub async fn key(&self, tenant: &str, by: &str, scopes: Value) -> String {
        let (s, b, _) = self
            .call("POST", &format!("/v1/tenants/{tenant}/api-keys"), by, Some(json!({"name": "k", "scopes": scopes})))
            .await;
        assert_eq!(s, 201, "{b}");
        b["key"].as_str().expect("key").to_string()
    }

    /// Write a fresh JWT file into the tenant's own folder under the allowed folder.
    pub fn jwt_file(&self, issuer: &JwtIssuer, t: &Tenant, name: &str) -> String {
        let folder = self.jwt_dir.join(&t.id);
        std::fs::create_dir_all(&folder).expect("tenant jwt folder");
        let path = folder.join(name);
        std::fs::write(&path, issuer.mint("connector-host").expect("mint")).expect("write jwt");
        path.display().to_string()
    }

    /// Create a jwt profile.
    pub async fn jwt_profile(
        &self,
        t: &Tenant,
        name: &str,
        bao: &OpenBao,
        jwt_path: &str,
        role: &str,
        extra: Value,
    ) -> Value {
        let mut body = json!({
            "name": name,
            "vault_address": bao.addr,
            "method": { "type": "jwt", "mount_path": "auth/jwt", "config": { "path": jwt_path, "role": role } },
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (s, b, _) = self.call("POST", &format!("/v1/tenants/{}/profiles", t.id), &t.admin, Some(body)).await;
        assert_eq!(s, 201, "{b}");
        b
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct Tenant {
    pub id: String,
    pub admin: String,
    pub read: String,
}

pub fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut s = String::new();
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).expect("urandom");
    for b in buf {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The standard OpenBao set-up: jwt at auth/jwt with role `app` reading secret/data/app/* and kv/app/*.
pub async fn bao_with_jwt(ttl_secs: u64) -> (OpenBao, JwtIssuer) {
    let bao = OpenBao::start_with_audit().await.expect("openbao starts");
    let issuer = bao
        .setup_jwt(None, "jwt", "app", "app-read", "path \"secret/data/app/*\" { capabilities = [\"read\"] }\npath \"kv/app/*\" { capabilities = [\"read\"] }\n", ttl_secs)
        .await
        .expect("jwt set-up");
    bao.kv2_put(None, "app/db", json!({"username": "alice", "password": "s3cr3t"})).await.expect("kv2 put");
    bao.kv1_mount_and_put(None, "kv", "app/legacy", json!({"api_key": "legacy-value"})).await.expect("kv1 put");
    (bao, issuer)
}

/// Every client token the server issued, from its raw audit log.
pub fn issued_tokens(bao: &OpenBao) -> Vec<String> {
    let mut out = Vec::new();
    for line in bao.audit_log().lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        if let Some(t) = v.pointer("/response/auth/client_token").and_then(Value::as_str)
            && !t.is_empty()
            && !out.iter().any(|o| o == t)
        {
            out.push(t.to_string());
        }
    }
    out
}

/// Fail if any of `secrets` appears in the service log.
pub fn assert_log_free_of(app: &App, secrets: &[String]) {
    let log = app.log();
    assert!(!log.is_empty(), "the service log is empty; nothing was checked");
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!log.contains(s.as_str()), "a secret ({}…) appears in the service log", &s[..s.len().min(6)]);
    }
}

/// Fail if any token the server issued (raw audit log), any key of `tenants`,
/// the operator key or a JWT file's content appears in the service log.
pub fn assert_no_secrets_logged(app: &App, bao: &OpenBao, tenants: &[&Tenant]) {
    let mut secrets = issued_tokens(bao);
    assert!(!secrets.is_empty(), "the audit log shows no issued token; nothing was checked");
    for t in tenants {
        secrets.push(t.admin.clone());
        secrets.push(t.read.clone());
    }
    secrets.push(app.operator_key.clone());
    for folder in std::fs::read_dir(&app.jwt_dir).into_iter().flatten().flatten() {
        for entry in std::fs::read_dir(folder.path()).into_iter().flatten().flatten() {
            if let Ok(jwt) = std::fs::read_to_string(entry.path()) {
                secrets.push(jwt);
            }
        }
    }
    assert_log_free_of(app, &secrets);
}

/// A minimal IMDSv2 on 127.0.0.1: token PUT, then instance-id GET with the token.
pub async fn imds(instance_id: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n =
                    tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read(&mut sock, &mut buf))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if req.starts_with("PUT /latest/api/token")
                    && req.to_lowercase().contains("x-aws-ec2-metadata-token-ttl-seconds")
                {
                    Some("imds-session-token")
                } else if req.starts_with("GET /latest/meta-data/instance-id") && req.contains("imds-session-token") {
                    Some(instance_id)
                } else {
                    None
                };
                let resp = match body {
                    Some(b) => {
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}", b.len())
                    }
                    None => "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string(),
                };
                let _ = tokio::io::AsyncWriteExt::write_all(&mut sock, resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}
