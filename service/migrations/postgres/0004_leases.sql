-- Leases issued through a profile: enough for any replica to tell a lease of
-- this tenant's profile from any other, and to answer renew and revoke calls.
-- The issuing token itself is never stored (only its accessor).
CREATE TABLE leases (
    lease_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    profile_name TEXT NOT NULL,
    token_accessor TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX leases_profile ON leases (tenant_id, profile_name);
