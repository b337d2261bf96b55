//! Readiness: the database answers (within 5 s) and the agent binary runs.
//! `/readyz` and the Vault-compatible `sys/health` and `sys/leader` both ask here.

use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// One readiness check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `database` or `agent_binary`.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// Details.
    pub detail: String,
}

/// How long an agent-binary check result is reused.
const AGENT_CHECK_TTL: Duration = Duration::from_secs(30);

async fn agent_binary(state: &AppState) -> (bool, String) {
    let mut cached = state.agent_check.lock().await;
    if let Some((at, ok, detail)) = cached.as_ref()
        && at.elapsed() < AGENT_CHECK_TTL
    {
        return (*ok, detail.clone());
    }
    let bin = &state.settings.agent_bin;
    let run = tokio::process::Command::new(bin)
        .arg("version")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let (ok, detail) = match tokio::time::timeout(Duration::from_secs(5), run).await {
        Ok(Ok(out)) if out.status.success() => {
            (true, String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_string())
        }
        Ok(Ok(out)) => (false, format!("{} version exited with {}", bin.display(), out.status)),
        Ok(Err(e)) => (false, format!("{} cannot be run: {e}", bin.display())),
        Err(_) => (false, format!("{} version did not finish within 5 s", bin.display())),
    };
    *cached = Some((Instant::now(), ok, detail.clone()));
    (ok, detail)
}

/// The readiness checks: the database answers (within 5 s) and the agent binary runs.
pub async fn readiness(state: &AppState) -> Vec<Check> {
    let db = match tokio::time::timeout(Duration::from_secs(5), state.store.ping()).await {
        Ok(Ok(())) => Check { name: "database", ok: true, detail: "reachable".into() },
        Ok(Err(e)) => Check { name: "database", ok: false, detail: e.to_string() },
        Err(_) => Check { name: "database", ok: false, detail: "no answer within 5 s".into() },
    };
    let (agent_ok, agent_detail) = agent_binary(state).await;
    vec![db, Check { name: "agent_binary", ok: agent_ok, detail: agent_detail }]
}
