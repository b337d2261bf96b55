//! A real OpenBao dev server for the tests: free loopback ports, bounded waits,
//! killed with its process group and reaped on drop.

use super::*;

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
        // A KV v2 mount just made (a new namespace's) first upgrades its storage, and refuses
        // writes until it is done ("Upgrading from non-versioned to versioned data"): wait, at most 10 s.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let body = Some(json!({ "data": data }));
            match self.api("POST", &format!("secret/data/{path}"), namespace, body).await {
                Err(e)
                    if e.to_string().contains("Upgrading from non-versioned")
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other.map(|_| ()),
            }
        }
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
            crate::kill_process_group(&mut child);
        }
    }
}
