//! The audit trail: one structured event per tenant, key and profile change,
//! test connection, nonce reset, lease operation and secret read, with the
//! tenant, profile, path, key id, outcome, duration and request id; never a
//! value, token or key. Events are written in the background (a read never
//! waits for its audit row), kept for `AUTH_SERVICE_AUDIT_RETENTION`, and read
//! by tenant admins at `GET /v1/tenants/{tenant}/audit`.
//!
//! A read hands its event to one writer task over a bounded channel; the writer
//! gathers events for up to 50 ms and appends them in one transaction (up to
//! [`BATCH`] events), so a busy service writes one transaction per 50 ms (more
//! often only while full batches are waiting) instead of one per read.
//! A full channel makes the event wait in a task of its own (never the read);
//! shutdown flushes what is left ([`AuditLog::flush`]).

use std::time::Instant;

use std::sync::Arc;

use crate::auth::Caller;
use crate::domain::TenantId;
use crate::metrics::Metrics;
use crate::store::{NewAuditEvent, Store};

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

/// Events written in one transaction at most.
pub const BATCH: usize = 512;
/// How long the writer gathers events before a transaction.
const GATHER: std::time::Duration = std::time::Duration::from_millis(50);
/// Events waiting for the writer at most before senders wait in tasks of their own.
const QUEUE: usize = 16_384;

enum Msg {
    Event(NewAuditEvent),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The handle of the audit writer.
#[derive(Clone)]
pub struct AuditLog {
    tx: tokio::sync::mpsc::Sender<Msg>,
    /// Wakes a gathering writer at once (a flush waits for it).
    urgent: Arc<tokio::sync::Notify>,
}

impl AuditLog {
    /// Start the writer (it runs until every handle is dropped).
    pub fn start(store: Store, metrics: Arc<Metrics>) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(QUEUE);
        let urgent = Arc::new(tokio::sync::Notify::new());
        let hurry = urgent.clone();
        tokio::spawn(async move {
            let mut batch: Vec<Msg> = Vec::with_capacity(BATCH);
            let mut events: Vec<NewAuditEvent> = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                // Gather for a moment more: at most ~20 transactions (each an fsync on SQLite)
                // a second. The writer sleeps meanwhile rather than waking for each event (a
                // read's request thread would pay that wake-up); a flush cuts the sleep short.
                if !batch.iter().any(|m| matches!(m, Msg::Flush(_))) {
                    tokio::select! {
                        () = tokio::time::sleep(GATHER) => {}
                        () = hurry.notified() => {}
                    }
                }
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(msg) => batch.push(msg),
                        Err(_) => break,
                    }
                }
                let mut acks = Vec::new();
                for msg in batch.drain(..) {
                    match msg {
                        Msg::Event(e) => events.push(e),
                        Msg::Flush(ack) => acks.push(ack),
                    }
                }
                if !events.is_empty() {
                    write(&store, &metrics, &events).await;
                }
                events.clear();
                for ack in acks {
                    let _ = ack.send(());
                }
            }
        });
        Self { tx, urgent }
    }

    fn send(&self, event: NewAuditEvent) {
        match self.tx.try_send(Msg::Event(event)) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(msg).await;
                });
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("the audit writer has stopped; an event was not recorded");
            }
        }
    }

    /// Record a secret read (REST or the Vault-compatible endpoint) with its outcome and duration.
    pub fn record_read(
        &self,
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
        self.record(caller, event);
    }

    /// Record an event in the background (failures are logged, never the request's problem).
    pub fn record(&self, caller: &Caller, e: Event<'_>) {
        let event = NewAuditEvent {
            tenant: e.tenant.clone(),
            request_id: crate::telemetry::current_request_id(),
            actor: caller.label(),
            action: e.action,
            profile: e.profile.map(str::to_string),
            path: e.path.map(str::to_string),
            outcome: e.outcome.to_string(),
            duration_ms: e.started.map(|s| i64::try_from(s.elapsed().as_millis()).unwrap_or(i64::MAX)),
            at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        self.send(event);
    }

    /// Record an administrator's action and wait (at most 5 s) until it is written,
    /// so the trail shows it as soon as the action has answered. Reads and lease
    /// operations use [`AuditLog::record`] and never wait.
    pub async fn record_admin(&self, caller: &Caller, e: Event<'_>) {
        self.record(caller, e);
        self.flush(std::time::Duration::from_secs(5)).await;
    }

    /// Wait (at most `limit`) until every event handed over so far is written.
    pub async fn flush(&self, limit: std::time::Duration) {
        let (ack, done) = tokio::sync::oneshot::channel();
        let flushed = async {
            if self.tx.send(Msg::Flush(ack)).await.is_ok() {
                self.urgent.notify_one();
                let _ = done.await;
            }
        };
        if tokio::time::timeout(limit, flushed).await.is_err() {
            tracing::warn!("audit events still waiting after {limit:?}");
        }
    }
}

/// Write a batch in one transaction; if that fails, each event alone, so one
/// row the database refuses never takes the others with it. Every event that
/// still fails is logged (without its content) and counted.
async fn write(store: &Store, metrics: &Metrics, events: &[NewAuditEvent]) {
    let Err(err) = store.record_audit(events).await else { return };
    tracing::warn!(error = %err, events = events.len(), "an audit batch failed; writing its events one by one");
    for event in events {
        if let Err(err) = store.record_audit(std::slice::from_ref(event)).await {
            metrics.audit_write_failed();
            tracing::error!(error = %err, tenant = %event.tenant, action = event.action, "could not record an audit event");
        }
    }
}
