//! `GET /v1/tenants/{tenant}/audit`: the tenant's audit trail, oldest first, by cursor.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tenant_id;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::store::AuditEvent;

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The `next` cursor of the previous page (absent: from the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One audited action (names and outcomes only; never values, tokens or keys).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// The event's cursor.
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// The request's `X-Request-Id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `operator` or `key:<key id>`.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// The profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The Vault path of a read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// How long it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
}

impl From<AuditEvent> for AuditEntry {
    fn from(e: AuditEvent) -> Self {
        AuditEntry {
            id: e.id,
            at: e.at,
            request_id: e.request_id,
            actor: e.actor,
            action: e.action,
            profile: e.profile,
            path: e.path,
            outcome: e.outcome,
            duration_ms: e.duration_ms,
        }
    }
}

/// A page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Events, oldest first.
    pub events: Vec<AuditEntry>,
    /// The cursor of the next page, or null at the end.
    pub next: Option<i64>,
}

/// The tenant's audit trail (tenant admin or operator), oldest first.
#[utoipa::path(tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/v1/tenants/{tenant}/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&path)?;
    caller.require_operator_or_admin(tenant.as_str())?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("/limit", "1 to 1000 events per page"));
    }
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::field("/after", "a cursor from a previous page's next"));
    }
    let events = state.store.list_audit(&tenant, after, limit).await?;
    let next = (events.len() == usize::try_from(limit).unwrap_or(0)).then(|| events.last().map(|e| e.id)).flatten();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(AuditPage { events: events.into_iter().map(AuditEntry::from).collect(), next }))
}
