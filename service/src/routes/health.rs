//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::readiness::{Check, readiness};
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

/// Liveness: the process answers.
#[utoipa::path(tag = "health", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok", checks: vec![] })
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
