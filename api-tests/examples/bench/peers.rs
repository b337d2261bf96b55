//! The peers the service is compared with: `bao proxy` (auto-auth with jwt,
//! `api_proxy { use_auto_auth_token = true }`, `cache {}`) and a raw
//! `bao agent` run with the configuration the service itself would write.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api_tests::{JwtIssuer, OpenBao, bao_bin};

/// A running `bao proxy`, killed (whole process group) and reaped on drop.
pub struct BaoProxy {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl BaoProxy {
    /// Start it with its own JWT for role `app` and wait (at most 15 s) until it serves the secret.
    pub async fn start(bao: &OpenBao, issuer: &JwtIssuer) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let jwt = issuer.write_jwt_file(dir.path(), "proxy").map_err(|e| e.to_string())?;
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let cfg = dir.path().join("proxy.hcl");
        let hcl = format!(
            r#"vault {{
  address = "{addr}"
}}
auto_auth {{
  method "jwt" {{
    mount_path = "auth/jwt"
    config = {{
      path = "{jwt}"
      role = "app"
      remove_jwt_after_reading = false
    }}
  }}
}}
cache {{}}
api_proxy {{
  use_auto_auth_token = true
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = true
}}
"#,
            addr = bao.addr,
            jwt = jwt.display()
        );
        std::fs::write(&cfg, hcl).map_err(|e| e.to_string())?;
        let child = Command::new(bao_bin())
            .arg("proxy")
            .arg(format!("-config={}", cfg.display()))
            // The service logs at info during the runs; the proxy gets the same.
            .arg("-log-level=info")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("bao proxy: {e}"))?;
        let proxy = BaoProxy { child: Some(child), addr: format!("http://127.0.0.1:{port}"), _dir: dir };
        let http =
            api_tests::http_client_builder().timeout(Duration::from_secs(5)).build().map_err(|e| e.to_string())?;
        let url = format!("{}/v1/secret/data/app/db", proxy.addr);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().as_u16() == 200
            {
                return Ok(proxy);
            }
            if Instant::now() > deadline {
                return Err("bao proxy did not serve the secret within 15 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

impl Drop for BaoProxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            api_tests::kill_process_group(&mut child);
        }
    }
}

/// The agent configuration the service would write for a jwt profile (`auth-service render`).
pub fn rendered_config(service: &Path, vault_addr: &str, jwt_path: &Path, sink: &Path) -> Result<String, String> {
    let dir = jwt_path.parent().ok_or("jwt path without a folder")?;
    let method = sink.with_file_name("method.json");
    let block = serde_json::json!({
        "type": "jwt", "mount_path": "auth/jwt", "config": { "path": jwt_path, "role": "app" }
    });
    std::fs::write(&method, block.to_string()).map_err(|e| e.to_string())?;
    let out = Command::new(service)
        .arg("render")
        .arg("--method")
        .arg(&method)
        .arg("--vault-addr")
        .arg(vault_addr)
        .arg("--sink-path")
        .arg(sink)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AUTH_SERVICE_ALLOWED_METHODS", "jwt")
        .env("AUTH_SERVICE_JWT_ALLOWED_DIRS", dir.parent().unwrap_or(dir))
        .env("AUTH_SERVICE_VAULT_ADDRESSES", "http://127.0.0.1:*")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("auth-service render: {e}"))?;
    if !out.status.success() {
        return Err(format!("auth-service render failed: {}", String::from_utf8_lossy(&out.stdout)));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// One raw agent run as the service runs it (`agent -config=FILE -exit-after-auth
/// -log-format=json`, cleared environment, fresh folder): spawn to exit with a
/// token in the sink. Bounded at 30 s.
pub async fn raw_agent_run(service: &Path, vault_addr: &str, jwt_path: &Path) -> Result<Duration, String> {
    let dir = tempfile::Builder::new().prefix("bench-agent-").tempdir().map_err(|e| e.to_string())?;
    let sink: PathBuf = dir.path().join("token");
    let config = dir.path().join("agent.hcl");
    std::fs::write(&config, rendered_config(service, vault_addr, jwt_path, &sink)?).map_err(|e| e.to_string())?;
    let mut cmd = tokio::process::Command::new(bao_bin());
    cmd.arg("agent")
        .arg(format!("-config={}", config.display()))
        .arg("-exit-after-auth")
        .arg("-log-format=json")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("bao agent: {e}"))?;
    let out = match tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await {
        Ok(out) => out.map_err(|e| e.to_string())?,
        // Dropping the future drops the child: kill_on_drop ends it.
        Err(_) => return Err("bao agent ran over 30 s".into()),
    };
    let elapsed = started.elapsed();
    let token = std::fs::metadata(&sink).map(|m| m.len()).unwrap_or(0);
    if !out.status.success() || token == 0 {
        return Err(format!("bao agent: {} with {token} bytes in the sink", out.status));
    }
    Ok(elapsed)
}

/// The stack's own floor for a proxied read: `service/examples/bare_proxy`
/// (actix-web in front, reqwest behind, nothing else), killed and reaped on drop.
pub struct BareProxy {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
}

impl BareProxy {
    /// Start it next to the service binary, reading `url` with `token`; waits (at most 15 s) for its address.
    pub fn start(service: &Path, url: &str, token: &str) -> Result<Self, String> {
        use std::io::BufRead;
        let bin = service.parent().ok_or("service binary without a folder")?.join("examples/bare_proxy");
        let mut child = Command::new(&bin)
            .env_clear()
            .env("BARE_UPSTREAM", url)
            .env("BARE_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut proxy = BareProxy { child: Some(child), addr: String::new() };
        let line = rx.recv_timeout(Duration::from_secs(15)).map_err(|_| "bare_proxy did not start within 15 s")?;
        proxy.addr = line.trim().strip_prefix("listening on ").ok_or(format!("bare_proxy said {line:?}"))?.to_string();
        Ok(proxy)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

impl Drop for BareProxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            api_tests::kill_process_group(&mut child);
        }
    }
}
