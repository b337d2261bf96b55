//! The audit trail, per tenant: events are appended, read oldest first by
//! cursor, and deleted after the retention period. Events hold names and
//! outcomes, never secret values, tokens or keys.

use super::*;
use crate::domain::TenantId;

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    /// The tenant it concerns.
    pub tenant: TenantId,
    /// The request's id.
    pub request_id: Option<String>,
    /// Who: `operator` or `key:<id>`.
    pub actor: String,
    /// What, like `profile.create` or `secret.read`.
    pub action: &'static str,
    /// The profile, where there is one.
    pub profile: Option<String>,
    /// The Vault path (secret reads), where there is one.
    pub path: Option<String>,
    /// How it ended, like `ok`, `forbidden`, `not_found`.
    pub outcome: String,
    /// How long it took, where measured.
    pub duration_ms: Option<i64>,
    /// When it happened, RFC 3339.
    pub at: String,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The cursor: increasing.
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// The request's id.
    pub request_id: Option<String>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Which profile.
    pub profile: Option<String>,
    /// Which Vault path.
    pub path: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// How long it took.
    pub duration_ms: Option<i64>,
}

/// Rows in one INSERT statement, 9 parameters each.
pub const AUDIT_ROWS_PER_INSERT: usize = 16;

fn bind_event<'q>(query: AnyQuery<'q>, e: &'q NewAuditEvent) -> AnyQuery<'q> {
    query
        .bind(e.tenant.as_str())
        .bind(&e.at)
        .bind(e.request_id.as_deref())
        .bind(&e.actor)
        .bind(e.action)
        .bind(e.profile.as_deref())
        .bind(e.path.as_deref())
        .bind(&e.outcome)
        .bind(e.duration_ms)
}

impl Store {
    /// Append events, in one transaction (all or none), [`AUDIT_ROWS_PER_INSERT`] rows per statement.
    pub async fn record_audit(&self, events: &[NewAuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| map_err(e, "audit events"))?;
        for chunk in events.chunks(AUDIT_ROWS_PER_INSERT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|row| {
                    // SQLite gets anonymous `?` parameters, bound in order: for a named one
                    // (`$n`) sqlx asks SQLite for each parameter's name, a walk through the
                    // statement's list of names, so a statement would cost the square of
                    // its parameters.
                    let params: Vec<String> = (1..=9)
                        .map(|k| match self.dialect {
                            Dialect::Sqlite => "?".to_string(),
                            Dialect::Postgres => format!("${}", row * 9 + k),
                        })
                        .collect();
                    format!("({})", params.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_events (tenant_id, at, request_id, actor, action, profile, path, outcome, duration_ms) VALUES {}",
                rows.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for e in chunk {
                query = bind_event(query, e);
            }
            query.execute(&mut *tx).await.map_err(|e| map_err(e, "audit events"))?;
        }
        tx.commit().await.map_err(|e| map_err(e, "audit events"))
    }

    /// Events of `tenant` after the cursor `after`, oldest first, at most `limit`.
    pub async fn list_audit(&self, tenant: &TenantId, after: i64, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, request_id, actor, action, profile, path, outcome, duration_ms FROM audit_events \
             WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err(e, "audit events"))?;
        rows.iter().map(decode).collect()
    }

    /// Delete events recorded before `before` (RFC 3339); how many went.
    pub async fn prune_audit(&self, before: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "audit events"))?;
        Ok(done.rows_affected())
    }
}
