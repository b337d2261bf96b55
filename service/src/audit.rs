//! The audit trail: one structured event per tenant, key and profile change,
//! test connection, nonce reset, lease operation and secret read, with the
//! tenant, profile, path, key id, outcome, duration and request id; never a
//! value, token or key. Events are written in the background (a read never
//! waits for its audit row), kept for `AUTH_SERVICE_AUDIT_RETENTION`, and read
//! by tenant admins at `GET /v1/tenants/{tenant}/audit`.

use std::time::Instant;

use crate::auth::Caller;
use crate::domain::TenantId;
use crate::state::AppState;
use crate::store::NewAuditEvent;

/// What happened, for [`record`].
pub struct Event<'a> {
    /// The tenant it concerns.
    pub tenant: &'a TenantId,
    /// `tenant.update`, `key.create`, `key.revoke`, `profile.create`, `profile.replace`,
    /// `profile.delete`, `profile.test`, `nonce.reset`, `secret.read`, `lease.renew`, `lease.revoke`.
    pub action: &'static str,
    /// The profile, where there is one.
    pub profile: Option<&'a str>,
    /// The Vault path of a read.
    pub path: Option<&'a str>,
    /// How it ended.
    pub outcome: &'a str,
    /// When it started, for the duration.
    pub started: Option<Instant>,
}

/// Record a secret read (REST or the Vault-compatible endpoint) with its outcome and duration.
pub fn record_read(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    profile: &str,
    path: &str,
    outcome: &str,
    started: Instant,
) {
    let event = Event {
        tenant,
        action: "secret.read",
        profile: Some(profile),
        path: Some(path),
        outcome,
        started: Some(started),
    };
    record(state, caller, event);
}

/// Record an event in the background (failures are logged, never the request's problem).
pub fn record(state: &AppState, caller: &Caller, e: Event<'_>) {
    let event = NewAuditEvent {
        tenant: e.tenant.clone(),
        request_id: crate::telemetry::current_request_id(),
        actor: caller.label(),
        action: e.action,
        profile: e.profile.map(str::to_string),
        path: e.path.map(str::to_string),
        outcome: e.outcome.to_string(),
        duration_ms: e.started.map(|s| i64::try_from(s.elapsed().as_millis()).unwrap_or(i64::MAX)),
    };
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(err) = store.record_audit(&event).await {
            tracing::error!(error = %err, action = event.action, tenant = %event.tenant, "could not record an audit event");
        }
    });
}
