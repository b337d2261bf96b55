-- The audit trail: who did what to which profile, when, with what outcome. Never values.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    at TEXT NOT NULL,
    request_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    profile TEXT,
    path TEXT,
    outcome TEXT NOT NULL,
    duration_ms BIGINT
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);
CREATE INDEX audit_events_at ON audit_events (at);
