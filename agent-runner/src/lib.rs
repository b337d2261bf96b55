//! Runs one short-lived Vault (or OpenBao) agent to a token, safely.
//!
//! How it works: [`Runner::run`] waits for a slot (a semaphore bounds agents at
//! once), creates a fresh private directory (0700) under the temp root, asks
//! the caller to render the agent configuration for a sink path inside it,
//! writes the config (0600) and starts `BINARY agent -config=FILE
//! -exit-after-auth -log-format=json` in that directory, in its own process
//! group, with a cleared environment (an explicit allowlist: `PATH`, `HOME`,
//! AWS variables; never `VAULT_*` or `BAO_*`, which would override the config).
//! Output is captured with a size bound. Success is exit 0 **and** a non-empty
//! sink file (SIGTERM also exits 0); the token is read, the sink deleted. At the
//! deadline the whole group gets SIGTERM, then SIGKILL after a grace, and the
//! child is reaped. A guard removes the directory and kills the group on every
//! path out, including an error, a panic and the caller's future being dropped.
//! Failures are typed ([`RunnerError`]) and mapped to known causes with hints
//! ([`classify`]); agent output is scrubbed of anything token-like ([`scrub`]).
//! [`verify`] checks a fresh token with `lookup-self`.
//!
//! The crate knows nothing of HTTP services, tenants or storage.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use secrecy::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Semaphore;

mod classify;
pub mod verify;

pub use classify::{KnownCause, classify, scrub};

/// Name of the config file inside the run directory.
const CONFIG_FILE: &str = "agent.hcl";
/// Name of the sink file inside the run directory.
const SINK_FILE: &str = "token";

/// Which parent environment variables reach the agent.
#[derive(Debug, Clone)]
pub struct EnvPolicy {
    /// Exact variable names passed on when set.
    pub pass: Vec<String>,
    /// Prefixes of variable names passed on (for example `AWS_`).
    pub pass_prefixes: Vec<String>,
    /// Prefixes never passed on, even when listed above.
    pub deny_prefixes: Vec<String>,
    /// Variables the caller sets explicitly.
    pub extra: Vec<(String, String)>,
}

impl Default for EnvPolicy {
    fn default() -> Self {
        Self {
            pass: vec!["PATH".into(), "HOME".into(), "TZ".into(), "SSL_CERT_FILE".into(), "SSL_CERT_DIR".into()],
            // AWS credential chain, region, profile, web identity and IMDS settings.
            pass_prefixes: vec!["AWS_".into()],
            deny_prefixes: vec!["VAULT_".into(), "BAO_".into()],
            extra: Vec::new(),
        }
    }
}

impl EnvPolicy {
    /// The environment the child gets, from `parent`.
    pub fn child_env(&self, parent: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
        let denied = |k: &str| self.deny_prefixes.iter().any(|p| k.starts_with(p.as_str()));
        let mut out: Vec<(OsString, OsString)> = parent
            .into_iter()
            .filter(|(k, _)| {
                let Some(k) = k.to_str() else { return false };
                !denied(k)
                    && (self.pass.iter().any(|p| p == k)
                        || self.pass_prefixes.iter().any(|p| k.starts_with(p.as_str())))
            })
            .collect();
        for (k, v) in &self.extra {
            if !denied(k) {
                out.push((k.into(), v.into()));
            }
        }
        out
    }
}

/// Everything about one run, as plain data.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The agent binary (`vault` or `bao`), a path or a name on PATH.
    pub binary: PathBuf,
    /// Hard limit for the whole run.
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL at the deadline.
    pub grace: Duration,
    /// The child's environment.
    pub env: EnvPolicy,
    /// Bytes kept per output stream.
    pub output_limit: usize,
    /// Parent of the private run directories (default: the system temp folder).
    pub temp_root: Option<PathBuf>,
}

impl Default for RunSpec {
    fn default() -> Self {
        Self {
            binary: PathBuf::from("vault"),
            timeout: Duration::from_secs(30),
            grace: Duration::from_secs(2),
            env: EnvPolicy::default(),
            output_limit: 64 * 1024,
            temp_root: None,
        }
    }
}

/// A successful run.
pub struct AgentRun {
    /// The token the agent wrote.
    pub token: SecretString,
    /// Spawn to exit.
    pub elapsed: Duration,
    /// The agent's stderr, scrubbed, for diagnostics.
    pub diagnostics: String,
}

impl std::fmt::Debug for AgentRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRun").field("elapsed", &self.elapsed).finish_non_exhaustive()
    }
}

/// Why a run did not produce a token.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The binary does not exist.
    #[error("the agent binary {binary} was not found")]
    BinaryMissing {
        /// The binary.
        binary: String,
    },
    /// The binary exists but cannot be executed.
    #[error("the agent binary {binary} is not executable: {detail}")]
    NotExecutable {
        /// The binary.
        binary: String,
        /// Why.
        detail: String,
    },
    /// The agent refused its configuration.
    #[error("the agent refused its configuration: {detail}")]
    ConfigRejected {
        /// Agent output.
        detail: String,
    },
    /// Vault refused the login.
    #[error("Vault refused the login: {reason}")]
    LoginRejected {
        /// What Vault said.
        reason: String,
        /// The recognised cause, if any.
        cause: Option<KnownCause>,
    },
    /// Vault could not be reached.
    #[error("Vault could not be reached: {detail}")]
    VaultUnreachable {
        /// What failed.
        detail: String,
    },
    /// The agent did not exit in time.
    #[error("the agent did not finish within {after:?} (it kept retrying): {detail}")]
    TimedOut {
        /// The deadline.
        after: Duration,
        /// The last agent output.
        detail: String,
    },
    /// The agent exited without writing a token.
    #[error("the agent exited without a token: {detail}")]
    NoToken {
        /// Exit status and output.
        detail: String,
    },
    /// A local I/O failure.
    #[error("local I/O failure: {0}")]
    Io(String),
}

impl RunnerError {
    /// A short stable label (metrics, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            RunnerError::BinaryMissing { .. } => "binary_missing",
            RunnerError::NotExecutable { .. } => "not_executable",
            RunnerError::ConfigRejected { .. } => "config_rejected",
            RunnerError::LoginRejected { .. } => "login_rejected",
            RunnerError::VaultUnreachable { .. } => "vault_unreachable",
            RunnerError::TimedOut { .. } => "timed_out",
            RunnerError::NoToken { .. } => "no_token",
            RunnerError::Io(_) => "io",
        }
    }

    /// What an admin or operator should do.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            RunnerError::BinaryMissing { .. } | RunnerError::NotExecutable { .. } => {
                Some("the operator must install the agent binary (vault or bao) and point AUTH_SERVICE_AGENT_BIN at it")
            }
            RunnerError::ConfigRejected { .. } => Some(
                "the agent refused the configuration the service assembled; check the method block with `auth-service render`",
            ),
            RunnerError::LoginRejected { cause: Some(c), .. } => Some(c.hint()),
            RunnerError::LoginRejected { cause: None, .. } => Some(
                "Vault refused the login: check the role, the mount path and the role's bindings to this host's identity",
            ),
            RunnerError::VaultUnreachable { .. } => Some(
                "check vault_address (scheme, host, port), DNS and firewalls between this host and Vault; for a Vault certificate from a private CA, the operator names the CA bundle in AUTH_SERVICE_VAULT_CA_CERT",
            ),
            RunnerError::TimedOut { .. } => Some(
                "the agent kept retrying: check that Vault is reachable from this host, that the role exists on that mount, and the role's identity bindings",
            ),
            RunnerError::NoToken { .. } | RunnerError::Io(_) => None,
        }
    }
}

/// Runs agents, at most `max_concurrent` at once.
#[derive(Clone)]
pub struct Runner {
    slots: Arc<Semaphore>,
}

/// Removes the run directory and kills the process group when dropped.
struct RunGuard {
    dir: Option<tempfile::TempDir>,
    pgid: Option<Pid>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // The child (kill_on_drop) is reaped by tokio; its group goes with it.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

async fn read_bounded<R: AsyncRead + Unpin>(mut r: R, limit: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

impl Runner {
    /// A runner allowing `max_concurrent` agents at once (at least 1).
    pub fn new(max_concurrent: usize) -> Self {
        Self { slots: Arc::new(Semaphore::new(max_concurrent.max(1))) }
    }

    /// Run one agent to completion; `render` gets the sink path and returns the full config.
    pub async fn run(&self, spec: &RunSpec, render: impl FnOnce(&Path) -> String) -> Result<AgentRun, RunnerError> {
        let _slot = self.slots.acquire().await.map_err(|_| RunnerError::Io("runner closed".into()))?;
        let root = spec.temp_root.clone().unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("agent-run-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&root)
            .map_err(|e| RunnerError::Io(format!("cannot create a run directory in {}: {e}", root.display())))?;
        let mut guard = RunGuard { dir: Some(dir), pgid: None };
        let dir_path = guard.dir.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_default();
        let sink = dir_path.join(SINK_FILE);
        let config_path = dir_path.join(CONFIG_FILE);
        let config = render(&sink);
        write_private(&config_path, config.as_bytes())
            .map_err(|e| RunnerError::Io(format!("cannot write the agent config: {e}")))?;

        let mut cmd = tokio::process::Command::new(&spec.binary);
        cmd.arg("agent")
            .arg(format!("-config={}", config_path.display()))
            .arg("-exit-after-auth")
            .arg("-log-format=json")
            .current_dir(&dir_path)
            .env_clear()
            .envs(spec.env.child_env(std::env::vars_os()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let started = Instant::now();
        let binary = spec.binary.display().to_string();
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            ErrorKind::NotFound => RunnerError::BinaryMissing { binary: binary.clone() },
            ErrorKind::PermissionDenied => RunnerError::NotExecutable { binary: binary.clone(), detail: e.to_string() },
            _ => RunnerError::NotExecutable { binary: binary.clone(), detail: e.to_string() },
        })?;
        guard.pgid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
        let stdout = child.stdout.take().map(|s| tokio::spawn(read_bounded(s, spec.output_limit)));
        let stderr = child.stderr.take().map(|s| tokio::spawn(read_bounded(s, spec.output_limit)));

        let status = match tokio::time::timeout(spec.timeout, child.wait()).await {
            Ok(status) => Some(status.map_err(|e| RunnerError::Io(format!("waiting for the agent: {e}")))?),
            Err(_) => {
                if let Some(pgid) = guard.pgid {
                    let _ = killpg(pgid, Signal::SIGTERM);
                }
                if tokio::time::timeout(spec.grace, child.wait()).await.is_err() {
                    if let Some(pgid) = guard.pgid {
                        let _ = killpg(pgid, Signal::SIGKILL);
                    }
                    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                }
                None
            }
        };
        // The leader is gone; make sure nothing it forked lives on.
        if let Some(pgid) = guard.pgid.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        let elapsed = started.elapsed();
        let collect = |h: Option<tokio::task::JoinHandle<Vec<u8>>>| async move {
            match h {
                Some(h) => tokio::time::timeout(Duration::from_secs(2), h)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default(),
                None => String::new(),
            }
        };
        let err_text = scrub(&collect(stderr).await);
        let out_text = scrub(&collect(stdout).await);
        let diagnostics = if err_text.trim().is_empty() { out_text } else { err_text };

        let Some(status) = status else {
            let summary = classify::summarize(&diagnostics);
            return Err(RunnerError::TimedOut { after: spec.timeout, detail: tail(&summary, 600) });
        };
        let token = match std::fs::read_to_string(&sink) {
            Ok(t) => t.trim().to_string(),
            Err(_) => String::new(),
        };
        let _ = std::fs::remove_file(&sink);
        if status.success() && !token.is_empty() {
            drop(guard);
            return Ok(AgentRun { token: SecretString::from(token), elapsed, diagnostics });
        }
        drop(token);
        drop(guard);
        Err(classify::failure(status.code(), &diagnostics))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_environment_keeps_aws_and_path_and_drops_vault_and_bao_variables() {
        let parent = [
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://x"),
            ("VAULT_ADDR", "http://evil"),
            ("VAULT_NAMESPACE", "other"),
            ("BAO_ADDR", "http://evil"),
            ("AUTH_SERVICE_OPERATOR_KEY", "secret"),
            ("RANDOM", "x"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let policy = EnvPolicy {
            extra: vec![("VAULT_TOKEN".into(), "x".into()), ("FOO".into(), "bar".into())],
            ..EnvPolicy::default()
        };
        let env: Vec<String> =
            policy.child_env(parent).into_iter().map(|(k, _)| k.to_string_lossy().into_owned()).collect();
        assert_eq!(env, ["PATH", "HOME", "AWS_REGION", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "FOO"]);
    }

    #[test]
    fn errors_have_stable_kinds_and_hints() {
        let e = RunnerError::TimedOut { after: Duration::from_secs(1), detail: String::new() };
        assert_eq!(e.kind(), "timed_out");
        assert!(e.hint().is_some_and(|h| h.contains("role exists")));
        let e = RunnerError::LoginRejected { reason: "x".into(), cause: Some(KnownCause::NonceMismatch) };
        assert!(e.hint().is_some_and(|h| h.contains("identity-accesslist")));
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("ééééé", 3), "…é");
    }
}
