//! Liveness, readiness and metrics.

use std::time::{Duration, Instant};

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Per-check results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

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

/// Liveness: the process answers.
#[utoipa::path(tag = "health", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok", checks: vec![] })
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

/// Readiness: the database answers and the agent binary runs.
#[utoipa::path(tag = "health", responses((status = 200, body = Health), (status = 503, body = Health)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let checks = readiness(&state).await;
    let ready = checks.iter().all(|c| c.ok);
    let body = Health { status: if ready { "ok" } else { "unavailable" }, checks };
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

/// The readiness checks: the database answers (within 5 s) and the agent binary runs.
pub(crate) async fn readiness(state: &AppState) -> Vec<Check> {
    let db = match tokio::time::timeout(Duration::from_secs(5), state.store.ping()).await {
        Ok(Ok(())) => Check { name: "database", ok: true, detail: "reachable".into() },
        Ok(Err(e)) => Check { name: "database", ok: false, detail: e.to_string() },
        Err(_) => Check { name: "database", ok: false, detail: "no answer within 5 s".into() },
    };
    let (agent_ok, agent_detail) = agent_binary(state).await;
    vec![db, Check { name: "agent_binary", ok: agent_ok, detail: agent_detail }]
}

/// Prometheus metrics.
#[utoipa::path(tag = "health", responses((status = 200, description = "OpenMetrics text format (Prometheus scrapes it)", body = String, content_type = "application/openmetrics-text")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: actix_web::HttpRequest) -> HttpResponse {
    state.tokens.report_cache_sizes();
    state.tokens.report_records().await;
    let (keys, tenants, profiles) = state.store.memo_sizes();
    state.metrics.cache_size("api_keys", keys);
    state.metrics.cache_size("tenants", tenants);
    state.metrics.cache_size("profile_rows", profiles);
    state.resolutions.run_pending_tasks();
    state.metrics.cache_size("resolved_profiles", state.resolutions.entry_count());
    state.metrics.cache_size("secrets", state.secrets.entry_count());
    // Prometheus' own text format when a scraper asks for it (and not for OpenMetrics); OpenMetrics otherwise.
    let accept = req.headers().get(actix_web::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("text/plain") && !accept.contains("application/openmetrics-text") {
        return HttpResponse::Ok().content_type(crate::metrics::TEXT_CONTENT_TYPE).body(state.metrics.render_text());
    }
    HttpResponse::Ok().content_type(crate::metrics::CONTENT_TYPE).body(state.metrics.render())
}
