//! The test bed: a real OpenBao dev server (`bao server -dev`, installed by
//! `scripts/install-tools.sh`), JWT minting with the `openssl` CLI, and small
//! helpers to prove nothing is left behind. Used by the agent-runner tests, the
//! service's real-agent tests and the black-box API tests.
//!
//! Every wait is bounded; servers bind free loopback ports and are killed
//! (whole process group) and reaped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Path of the OpenBao binary: `$BAO_BIN`, else `<workspace>/tools/bin/bao`, else `bao` on PATH.
pub fn bao_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BAO_BIN") {
        return PathBuf::from(p);
    }
    let local = workspace_root().join("tools/bin/bao");
    if local.exists() { local } else { PathBuf::from("bao") }
}

/// A reqwest client builder for the tests, with rustls' `ring` provider
/// installed (the workspace builds reqwest without a default provider).
pub fn http_client_builder() -> reqwest::ClientBuilder {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A free loopback port whose successor is free too (bao binds PORT+1 as well).
fn free_port_pair() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let a = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = a.local_addr()?.port();
        if port < 65000 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free pair of loopback ports")
}

/// A running OpenBao dev server with root token `root`.
pub struct OpenBao {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The root token.
    pub root_token: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
    audit: Option<PathBuf>,
    http: reqwest::Client,
    tls: bool,
}

impl OpenBao {
    /// Start a dev server on a free port and wait (at most 10 s) until it is healthy.
    pub async fn start() -> anyhow::Result<OpenBao> {
        Self::start_inner(false, false).await
    }

    /// The same, with a raw file audit device whose text [`OpenBao::audit_log`] returns.
    pub async fn start_with_audit() -> anyhow::Result<OpenBao> {
        Self::start_inner(true, false).await
    }

    /// The same, serving HTTPS with a generated CA (`-dev-tls`); see [`OpenBao::ca_cert`].
    pub async fn start_tls() -> anyhow::Result<OpenBao> {
        Self::start_inner(false, true).await
    }

    /// The CA bundle of a TLS server (`None` for plain HTTP).
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.path().join("tls/vault-ca.pem"))
    }

    async fn start_inner(audit: bool, tls: bool) -> anyhow::Result<OpenBao> {
        let mut last_err = None;
        for _ in 0..3 {
            match Self::try_start(audit, tls).await {
                Ok(b) => return Ok(b),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("openbao did not start")))
    }

    async fn try_start(audit: bool, tls: bool) -> anyhow::Result<OpenBao> {
        let dir = tempfile::tempdir()?;
        let port = free_port_pair()?;
        let mut cmd = Command::new(bao_bin());
        cmd.arg("server")
            .arg("-dev")
            .arg("-dev-root-token-id=root")
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .arg("-dev-no-store-token");
        if tls {
            let tls_dir = dir.path().join("tls");
            std::fs::create_dir_all(&tls_dir)?;
            cmd.arg("-dev-tls").arg(format!("-dev-tls-cert-dir={}", tls_dir.display()));
        }
        let audit_path = audit.then(|| dir.path().join("audit.log"));
        if let Some(path) = &audit_path {
            let cfg = dir.path().join("audit.hcl");
            std::fs::write(
                &cfg,
                format!(
                    "audit \"file\" \"raw\" {{\n  options {{\n    file_path = \"{}\"\n    log_raw = \"true\"\n  }}\n}}\n",
                    path.display()
                ),
            )?;
            cmd.arg(format!("-config={}", cfg.display()));
        }
        use std::os::unix::process::CommandExt;
        let child = cmd
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("server.out"))?)
            .stderr(std::fs::File::create(dir.path().join("server.err"))?)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", bao_bin().display()))?;
        let scheme = if tls { "https" } else { "http" };
        // Owned by the guard from here on: any failure below kills the server.
        let mut bao = OpenBao {
            tls,
            addr: format!("{scheme}://127.0.0.1:{port}"),
            root_token: "root".into(),
            child: Some(child),
            dir,
            audit: audit_path,
            http: crate::http_client_builder().timeout(Duration::from_secs(10)).build()?,
        };
        if tls {
            // The CA appears once the server has started.
            let ca = bao.dir.path().join("tls/vault-ca.pem");
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::fs::metadata(&ca).map(|m| m.len()).unwrap_or(0) == 0 {
                if Instant::now() > deadline {
                    bail!("openbao -dev-tls wrote no CA within 10 s");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            bao.http = crate::http_client_builder()
                .timeout(Duration::from_secs(10))
                .tls_certs_merge([reqwest::Certificate::from_pem(&std::fs::read(&ca)?)?])
                .build()?;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = bao.http.get(format!("{}/v1/sys/health", bao.addr)).send().await
                && r.status().as_u16() == 200
            {
                return Ok(bao);
            }
            // A lost bind race ends the server at once: retry without waiting out the deadline.
            let exited = bao.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let err = std::fs::read_to_string(bao.dir.path().join("server.err")).unwrap_or_default();
                let what = exited
                    .map_or_else(|| "did not become healthy within 10 s".to_string(), |s| format!("exited ({s})"));
                bail!("openbao {what}: {}", err.lines().rev().take(5).collect::<Vec<_>>().join(" | "));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The raw audit log (empty without an audit device).
    pub fn audit_log(&self) -> String {
        self.audit.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }

    /// Call the API with the root token; errors on non-2xx. `LIST` is sent as GET `?list=true`.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        namespace: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (method, suffix) = if method == "LIST" { ("GET", "?list=true") } else { (method, "") };
        let url = format!("{}/v1/{}{}", self.addr, path.trim_start_matches('/'), suffix);
        let mut req = self.http.request(method.parse()?, &url).header("X-Vault-Token", &self.root_token);
        if let Some(ns) = namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: HTTP {status}: {text}");
        }
        Ok(if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }

    /// Create a namespace.
    pub async fn create_namespace(&self, name: &str) -> anyhow::Result<()> {
        self.api("POST", &format!("sys/namespaces/{name}"), None, None).await.map(|_| ())
    }

    /// Enable jwt auth at `mount`, trust a fresh RSA key and issuer `https://issuer.test`,
    /// write `policy_name` from `policy_hcl`, and create `role` (audience `bao-test`,
    /// user claim `sub`, TTL `ttl_secs`, max 4 h).
    pub async fn setup_jwt(
        &self,
        namespace: Option<&str>,
        mount: &str,
        role: &str,
        policy_name: &str,
        policy_hcl: &str,
        ttl_secs: u64,
    ) -> anyhow::Result<JwtIssuer> {
        let issuer = JwtIssuer::new()?;
        self.api("POST", &format!("sys/auth/{mount}"), namespace, Some(json!({"type": "jwt"}))).await?;
        self.api(
            "POST",
            &format!("auth/{mount}/config"),
            namespace,
            Some(json!({"jwt_validation_pubkeys": [issuer.public_pem()?], "bound_issuer": "https://issuer.test"})),
        )
        .await?;
        self.api("PUT", &format!("sys/policies/acl/{policy_name}"), namespace, Some(json!({"policy": policy_hcl})))
            .await?;
        self.api(
            "POST",
            &format!("auth/{mount}/role/{role}"),
            namespace,
            Some(json!({
                "role_type": "jwt", "bound_audiences": ["bao-test"], "user_claim": "sub",
                "token_policies": [policy_name], "token_ttl": ttl_secs, "token_max_ttl": 14400
            })),
        )
        .await?;
        Ok(issuer)
    }

    /// Enable the database secrets engine at `database/` against `pg`, with a
    /// role `role` that creates one PostgreSQL login role per read, leased for
    /// `default_ttl` seconds (at most `max_ttl`).
    pub async fn setup_database(
        &self,
        pg: &Postgres,
        role: &str,
        default_ttl: u64,
        max_ttl: u64,
    ) -> anyhow::Result<()> {
        self.api("POST", "sys/mounts/database", None, Some(json!({"type": "database"}))).await?;
        self.api(
            "POST",
            "database/config/pg",
            None,
            Some(json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port),
                "username": "postgres",
                "password": "unused-trust-auth",
                "allowed_roles": [role],
            })),
        )
        .await?;
        self.api(
            "POST",
            &format!("database/roles/{role}"),
            None,
            Some(json!({
                "db_name": "pg",
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
                "default_ttl": default_ttl,
                "max_ttl": max_ttl,
            })),
        )
        .await?;
        Ok(())
    }

    /// Put a KV v2 secret at `secret/<path>`.
    pub async fn kv2_put(&self, namespace: Option<&str>, path: &str, data: Value) -> anyhow::Result<()> {
        self.api("POST", &format!("secret/data/{path}"), namespace, Some(json!({ "data": data }))).await.map(|_| ())
    }

    /// Mount KV v1 at `mount` and put `data` at `<mount>/<path>`.
    pub async fn kv1_mount_and_put(
        &self,
        namespace: Option<&str>,
        mount: &str,
        path: &str,
        data: Value,
    ) -> anyhow::Result<()> {
        self.api(
            "POST",
            &format!("sys/mounts/{mount}"),
            namespace,
            Some(json!({"type": "kv", "options": {"version": "1"}})),
        )
        .await?;
        self.api("POST", &format!("{mount}/{path}"), namespace, Some(data)).await.map(|_| ())
    }

    /// Look a token up with the root token; `None` when it is not (or no longer) valid.
    pub async fn token_lookup(&self, token: &str) -> anyhow::Result<Option<Value>> {
        match self.api("POST", "auth/token/lookup", None, Some(json!({ "token": token }))).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.to_string().contains("HTTP 403") || e.to_string().contains("HTTP 400") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An RSA key pair (made with `openssl`) that mints RS256 JWTs.
pub struct JwtIssuer {
    dir: tempfile::TempDir,
}

/// Base64url without padding.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running openssl")?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

impl JwtIssuer {
    /// A fresh 2048-bit key pair.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("jwt.key");
        let key_s = key.display().to_string();
        openssl(&["genrsa", "-out", &key_s, "2048"], None)?;
        let pubkey = dir.path().join("jwt.pub").display().to_string();
        openssl(&["rsa", "-in", &key_s, "-pubout", "-out", &pubkey], None)?;
        Ok(Self { dir })
    }

    /// The public key, PEM.
    pub fn public_pem(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.dir.path().join("jwt.pub"))?)
    }

    /// A JWT for `sub`: issuer `https://issuer.test`, audience `bao-test`, valid 10 minutes.
    pub fn mint(&self, sub: &str) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let header = base64url(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = base64url(
            json!({"iss": "https://issuer.test", "sub": sub, "aud": "bao-test", "iat": now, "nbf": now - 5, "exp": now + 600})
                .to_string()
                .as_bytes(),
        );
        let signing_input = format!("{header}.{claims}");
        let key = self.dir.path().join("jwt.key").display().to_string();
        let sig = openssl(&["dgst", "-sha256", "-sign", &key], Some(signing_input.as_bytes()))?;
        Ok(format!("{signing_input}.{}", base64url(&sig)))
    }

    /// Write a fresh JWT for `sub` to a new file (0600, unique name) in `dir` and return its path.
    /// The agent deletes the file after reading it unless `remove_jwt_after_reading = false`.
    pub fn write_jwt_file(&self, dir: &Path, sub: &str) -> anyhow::Result<PathBuf> {
        use std::io::Write;
        let safe: String = sub.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let mut file = tempfile::Builder::new().prefix(&format!("jwt-{safe}-")).tempfile_in(dir)?;
        file.write_all(self.mint(sub)?.as_bytes())?;
        let (_, path) = file.keep()?;
        Ok(path)
    }
}

/// Count live processes whose command line contains `needle` (zombies included, as they are leaks too).
pub fn count_processes_matching(needle: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let me = std::process::id().to_string();
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()) && n != me))
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let zombie_named = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default().contains(needle);
            text.contains(needle) || (text.is_empty() && zombie_named)
        })
        .count()
}

/// A throwaway PostgreSQL server on a free loopback port (Debian's binaries under
/// `/usr/lib/postgresql/*/bin`), trust authentication, stopped and removed on drop.
/// As root, initdb and the server run as the `postgres` system user.
pub struct Postgres {
    /// The port.
    pub port: u16,
    child: Option<Child>,
    bin: PathBuf,
    _dir: tempfile::TempDir,
    as_root: bool,
}

impl Postgres {
    /// The folder holding `initdb` and `postgres`, if PostgreSQL is installed.
    pub fn bin_dir() -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists() && p.join("postgres").exists())
            .collect();
        dirs.sort();
        dirs.pop()
    }

    /// Start a server (about 2 s), waiting at most 20 s for it to accept connections.
    pub async fn start() -> anyhow::Result<Postgres> {
        let bin = Self::bin_dir().context("PostgreSQL is not installed (/usr/lib/postgresql/*/bin)")?;
        let dir = tempfile::tempdir()?;
        let as_root =
            std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
        let wrap = |program: &Path| -> Command {
            if as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            }
        };
        if as_root {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status()?.success();
            if !ok {
                bail!("cannot chown the PostgreSQL folder to the postgres user");
            }
        }
        let data = dir.path().join("data");
        let out = wrap(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "-D"])
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .context("running initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let port = free_port_pair()?;
        let mut pg = Postgres { port, child: None, bin, _dir: dir, as_root };
        pg.spawn_server()?;
        pg.wait_ready().await?;
        Ok(pg)
    }

    fn spawn_server(&mut self) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        let dir = self._dir.path();
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join("postgres"));
            c
        } else {
            Command::new(self.bin.join("postgres"))
        };
        let child = cmd
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-k"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.err"))?)
            .process_group(0)
            .spawn()
            .context("starting postgres")?;
        self.child = Some(child);
        Ok(())
    }

    /// Stop the server (fast shutdown), waiting at most 10 s.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let group = nix::unistd::Pid::from_raw(pid);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT);
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the stopped server again on the same port and data, waiting until it accepts connections.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn_server()?;
        self.wait_ready().await
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let (port, pg) = (self.port, self);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = Command::new(pg.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-t", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("PostgreSQL did not accept connections within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Create a fresh database and return its URL.
    pub fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("CREATE DATABASE \"{name}\""))
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("CREATE DATABASE failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(self.url(name))
    }

    /// Whether `user` can open a real connection (the server trusts loopback, so
    /// this proves the role exists and may log in; the password is sent too).
    pub fn can_login(&self, user: &str, password: &str) -> bool {
        Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", user, "-d", "postgres", "-tAc", "SELECT 1"])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "1")
            .unwrap_or(false)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
