//! Runs one short-lived Vault (or OpenBao) agent to a token, safely.
//!
//! How it works: [`Runner::run`] waits for a slot (a semaphore bounds agents at
//! once), creates a fresh private directory (0700) under the temp root, asks
//! the caller to render the agent configuration for a sink path inside it,
//! writes the config (0600) and starts `BINARY agent -config=FILE
//! -exit-after-auth -log-format=json` in that directory, in its own process
//! group, stdin closed, with a cleared environment (an explicit allowlist,
//! [`EnvPolicy`]: `PATH`, `HOME`, the AWS credential chain and region; never
//! `VAULT_*` or `BAO_*`, which would override the config). Both output streams
//! are captured, keeping the last [`RunSpec::output_limit`] bytes of each.
//! Success is exit 0 **and** a non-empty sink file (SIGTERM also exits 0); the
//! token is read into a [`SecretString`] and the sink deleted. At the deadline
//! the whole group gets SIGTERM, then SIGKILL after a grace, and the child is
//! reaped. A guard removes the directory and kills the group on every path
//! out, including an error, a panic and the caller's future being dropped.
//!
//! Failures are typed ([`RunnerError`], with a stable [`RunnerError::kind`]
//! and an admin-facing [`RunnerError::hint`]) and mapped to known causes
//! ([`classify`]); agent output is scrubbed of anything token-like ([`scrub`])
//! before it is kept. [`verify`] checks a fresh token with `lookup-self`.
//!
//! The crate knows nothing of HTTP services, tenants or storage, and does not
//! care whether the binary is HashiCorp's `vault` or OpenBao's `bao`.

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
mod env;
mod error;
pub mod http;
mod scrub;
pub mod vault_path;
pub mod verify;

pub use classify::{KnownCause, classify};
pub use env::EnvPolicy;
pub use error::RunnerError;
pub use scrub::scrub;

/// Name of the config file inside the run directory.
const CONFIG_FILE: &str = "agent.hcl";
/// Name of the sink file inside the run directory.
const SINK_FILE: &str = "token";

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
    /// How long a run may wait for a free slot (None: as long as it takes).
    pub queue_timeout: Option<Duration>,
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
            queue_timeout: None,
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

/// Called with how long a run waited for its slot.
pub type QueueObserver = Arc<dyn Fn(Duration) + Send + Sync>;

/// Runs agents, at most `max_concurrent` at once. Cheap to clone (clones share the limit).
#[derive(Clone)]
pub struct Runner {
    slots: Arc<Semaphore>,
    max: usize,
    queue_observer: Option<QueueObserver>,
}

/// Removes the run directory and kills the process group when dropped.
struct RunGuard {
    dir: Option<tempfile::TempDir>,
    pgid: Option<Pid>,
    readers: Vec<tokio::task::AbortHandle>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // The leader (kill_on_drop) is reaped by tokio; this takes its descendants too.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        for r in &self.readers {
            r.abort();
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.close() {
                tracing::warn!(dir = %path.display(), error = %e, "could not remove an agent run directory");
            }
        }
    }
}

/// Read `r` to its end, keeping only the last `limit` bytes (whole lines when cut).
async fn read_tail<R: AsyncRead + Unpin>(mut r: R, limit: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > limit.saturating_mul(2).max(8192) {
                    kept.drain(..kept.len() - limit);
                    cut = true;
                }
            }
        }
    }
    if kept.len() > limit {
        kept.drain(..kept.len() - limit);
        cut = true;
    }
    if cut {
        // Drop the partial first line, so a secret cut in half cannot escape the scrubber.
        let first_line = kept.iter().position(|b| *b == b'\n').map_or(kept.len(), |p| p + 1);
        kept.drain(..first_line);
    }
    kept
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

/// Bytes of a sink file read at most (a token is far smaller).
const SINK_LIMIT: u64 = 64 * 1024;

/// The token in the sink file, if there is a non-empty one; the file is deleted.
fn take_token(sink: &Path) -> Option<SecretString> {
    use secrecy::zeroize::Zeroize;
    use std::io::Read;
    let mut raw = String::new();
    let read = std::fs::File::open(sink).and_then(|f| f.take(SINK_LIMIT).read_to_string(&mut raw));
    let _ = std::fs::remove_file(sink);
    let token = match read {
        Ok(_) if !raw.trim().is_empty() => Some(SecretString::from(raw.trim().to_string())),
        _ => None,
    };
    raw.zeroize();
    token
}

fn spawn_error(binary: &Path, e: &std::io::Error) -> RunnerError {
    let name = binary.display().to_string();
    match e.kind() {
        // A script whose interpreter is missing also fails with ENOENT.
        ErrorKind::NotFound if binary.components().count() > 1 && binary.is_file() => {
            RunnerError::NotExecutable { binary: name, detail: format!("{e} (its interpreter is missing?)") }
        }
        ErrorKind::NotFound => RunnerError::BinaryMissing { binary: name },
        _ => RunnerError::NotExecutable { binary: name, detail: e.to_string() },
    }
}

impl Runner {
    /// A runner allowing `max_concurrent` agents at once (at least 1).
    pub fn new(max_concurrent: usize) -> Self {
        let max = max_concurrent.max(1);
        Self { slots: Arc::new(Semaphore::new(max)), max, queue_observer: None }
    }

    /// Report every run's wait for a slot to `observer` (for a metric).
    pub fn with_queue_observer(mut self, observer: QueueObserver) -> Self {
        self.queue_observer = Some(observer);
        self
    }

    /// How many agents may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.max
    }

    /// How many agents run (or are being set up) right now.
    pub fn running(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// Run one agent to completion; `render` gets the sink path and returns the full config.
    ///
    /// Waits for a free slot first (that wait is not part of `spec.timeout`:
    /// bound it with the caller's own timeout if needed). Dropping the future
    /// at any point kills the agent's process group and removes its directory.
    pub async fn run(&self, spec: &RunSpec, render: impl FnOnce(&Path) -> String) -> Result<AgentRun, RunnerError> {
        self.try_run(spec, |sink| Ok::<_, std::convert::Infallible>(render(sink))).await
    }

    /// [`Runner::run`] with a `render` that may fail: its error ends the run
    /// ([`RunnerError::Render`]) before any agent starts, and the directory goes.
    pub async fn try_run<E: std::fmt::Display>(
        &self,
        spec: &RunSpec,
        render: impl FnOnce(&Path) -> Result<String, E>,
    ) -> Result<AgentRun, RunnerError> {
        let _slot = self.slot(spec).await?;
        let (mut guard, dir_path) = run_dir(spec)?;
        let sink = dir_path.join(SINK_FILE);
        let config_path = dir_path.join(CONFIG_FILE);
        let mut config = render(&sink).map_err(|e| RunnerError::Render(e.to_string()))?;
        let written = write_private(&config_path, config.as_bytes());
        // The config may carry an ec2 nonce.
        secrecy::zeroize::Zeroize::zeroize(&mut config);
        written.map_err(|e| RunnerError::Io(format!("cannot write the agent config: {e}")))?;

        let started = Instant::now();
        let mut child =
            agent_command(spec, &dir_path, &config_path).spawn().map_err(|e| spawn_error(&spec.binary, &e))?;
        guard.pgid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
        let stdout = child.stdout.take().map(|s| tokio::spawn(read_tail(s, spec.output_limit)));
        let stderr = child.stderr.take().map(|s| tokio::spawn(read_tail(s, spec.output_limit)));
        guard.readers = [&stdout, &stderr].into_iter().flatten().map(|h| h.abort_handle()).collect();

        let status = wait_or_stop(&mut child, spec, &guard).await?;
        // The leader is gone; make sure nothing it forked lives on.
        if let Some(pgid) = guard.pgid.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        let elapsed = started.elapsed();
        let diagnostics = diagnostics(stdout, stderr, spec.output_limit).await;

        let Some(status) = status else {
            tracing::debug!(elapsed = ?elapsed, "agent timed out");
            return Err(RunnerError::TimedOut { after: spec.timeout, detail: classify::last_complaint(&diagnostics) });
        };
        let token = take_token(&sink);
        drop(guard);
        match token {
            Some(token) if status.success() => {
                tracing::debug!(elapsed = ?elapsed, "agent wrote a token");
                Ok(AgentRun { token, elapsed, diagnostics })
            }
            _ => {
                let err = classify::failure(status.code(), &diagnostics);
                tracing::debug!(elapsed = ?elapsed, kind = err.kind(), "agent exited without a token");
                Err(err)
            }
        }
    }

    /// Wait for a free slot (at most `spec.queue_timeout`), reporting the wait to the observer.
    async fn slot(&self, spec: &RunSpec) -> Result<tokio::sync::SemaphorePermit<'_>, RunnerError> {
        let queued = Instant::now();
        let acquire = self.slots.acquire();
        let slot = match spec.queue_timeout {
            Some(wait) => tokio::time::timeout(wait, acquire).await.map_err(|_| RunnerError::Busy { waited: wait })?,
            None => acquire.await,
        };
        let slot = slot.map_err(|_| RunnerError::Io("runner closed".into()))?;
        if let Some(observe) = &self.queue_observer {
            observe(queued.elapsed());
        }
        Ok(slot)
    }
}

/// A fresh private (0700) run directory under the temp root, in a guard that removes it.
fn run_dir(spec: &RunSpec) -> Result<(RunGuard, PathBuf), RunnerError> {
    let root = spec.temp_root.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("agent-run-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&root)
        .map_err(|e| RunnerError::Io(format!("cannot create a run directory in {}: {e}", root.display())))?;
    let guard = RunGuard { dir: Some(dir), pgid: None, readers: Vec::new() };
    let dir_path = guard.dir.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_default();
    Ok((guard, dir_path))
}

/// `BINARY agent -config=FILE -exit-after-auth -log-format=json` in the run
/// directory, in its own process group, stdin closed, the environment cleared
/// but for the policy's allowlist, both output streams piped.
fn agent_command(spec: &RunSpec, dir_path: &Path, config_path: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(&spec.binary);
    cmd.arg("agent")
        .arg(format!("-config={}", config_path.display()))
        .arg("-exit-after-auth")
        .arg("-log-format=json")
        .current_dir(dir_path)
        .env_clear()
        .envs(spec.env.child_env(std::env::vars_os()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

/// The agent's exit status, or `None` when the deadline passed: then the group
/// gets SIGTERM, and SIGKILL after the grace.
async fn wait_or_stop(
    child: &mut tokio::process::Child,
    spec: &RunSpec,
    guard: &RunGuard,
) -> Result<Option<std::process::ExitStatus>, RunnerError> {
    match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(status) => Ok(Some(status.map_err(|e| RunnerError::Io(format!("waiting for the agent: {e}")))?)),
        Err(_) => {
            tracing::debug!(timeout = ?spec.timeout, "agent deadline reached: SIGTERM to its process group");
            if let Some(pgid) = guard.pgid {
                let _ = killpg(pgid, Signal::SIGTERM);
            }
            if tokio::time::timeout(spec.grace, child.wait()).await.is_err() {
                if let Some(pgid) = guard.pgid {
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
                // SIGKILL cannot be ignored; this wait only guards against a kernel in trouble.
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            }
            Ok(None)
        }
    }
}

/// What the agent said, scrubbed and cut to `limit`: login errors are JSON
/// lines on stderr, start-up errors plain text on stdout (banners dropped).
async fn diagnostics(
    stdout: Option<tokio::task::JoinHandle<Vec<u8>>>,
    stderr: Option<tokio::task::JoinHandle<Vec<u8>>>,
    limit: usize,
) -> String {
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
    let err_text = collect(stderr).await;
    let out_text = collect(stdout).await;
    let out_lines: Vec<&str> = out_text.lines().filter(|l| !classify::is_banner(l)).collect();
    let mut both = err_text.trim_end().to_string();
    if !out_lines.is_empty() {
        if !both.is_empty() {
            both.push('\n');
        }
        both.push_str(&out_lines.join("\n"));
    }
    tail(&scrub(&both), limit)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn names(policy: &EnvPolicy, parent: &[(&str, &str)]) -> Vec<String> {
        let parent = parent.iter().map(|(k, v)| (OsString::from(k), OsString::from(v)));
        policy.child_env(parent).into_iter().map(|(k, _)| k.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_child_environment_keeps_path_home_and_the_aws_chain_and_nothing_else() {
        let parent = [
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://x"),
            ("AWS_SOMETHING_ELSE", "x"),
            ("AUTH_SERVICE_OPERATOR_KEY", "secret"),
            ("DATABASE_URL", "postgres://u:p@h/db"),
        ];
        assert_eq!(
            names(&EnvPolicy::default(), &parent),
            ["PATH", "HOME", "AWS_REGION", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT"]
        );
    }

    #[test]
    fn vault_and_bao_variables_never_reach_the_child_even_when_set_explicitly() {
        let parent = [("VAULT_ADDR", "http://evil"), ("VAULT_NAMESPACE", "other"), ("BAO_ADDR", "http://evil")];
        let policy = EnvPolicy {
            pass: vec!["VAULT_ADDR".into()],
            extra: vec![("VAULT_TOKEN".into(), "x".into()), ("BAO_NAMESPACE".into(), "y".into())],
            ..EnvPolicy::default()
        };
        assert!(names(&policy, &parent).is_empty());
    }

    #[test]
    fn an_explicit_variable_replaces_the_inherited_one() {
        let policy = EnvPolicy { extra: vec![("HOME".into(), "/srv".into())], ..EnvPolicy::default() };
        let env = policy.child_env([(OsString::from("HOME"), OsString::from("/root"))]);
        assert_eq!(env, [(OsString::from("HOME"), OsString::from("/srv"))]);
    }

    #[test]
    fn errors_have_stable_kinds_and_hints() {
        let e = RunnerError::TimedOut { after: Duration::from_secs(1), detail: String::new() };
        assert_eq!(e.kind(), "timed_out");
        assert!(e.hint().is_some_and(|h| h.contains("role exists")));
        let e = RunnerError::LoginRejected { reason: "x".into(), cause: Some(KnownCause::NonceMismatch) };
        assert!(e.hint().is_some_and(|h| h.contains("identity-accesslist")));
    }

    #[tokio::test]
    async fn captured_output_keeps_the_last_whole_lines_within_the_limit() {
        let text: Vec<u8> = (0..10_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let kept = read_tail(text.as_slice(), 100).await;
        let kept = String::from_utf8(kept).expect("utf8");
        assert!(kept.len() <= 100);
        assert!(kept.starts_with("line ") && kept.ends_with("line 9999\n"), "{kept}");
        assert_eq!(read_tail(&b"short"[..], 100).await, b"short");
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("ééééé", 3), "…é");
    }
}
