-- Lease ids are unique only on the Vault that issued them: a tenant's own
-- Vault may send any id, including one another tenant's Vault issued. So a
-- lease is keyed by where it came from (tenant, profile, Vault address,
-- namespace) and its id, never by the id alone. Existing rows take the
-- address and namespace of their profile.
CREATE TABLE leases_scoped (
    tenant_id TEXT NOT NULL,
    profile_name TEXT NOT NULL,
    vault_address TEXT NOT NULL,
    namespace TEXT NOT NULL,
    lease_id TEXT NOT NULL,
    token_accessor TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, profile_name, vault_address, namespace, lease_id)
);
INSERT INTO leases_scoped (tenant_id, profile_name, vault_address, namespace, lease_id, token_accessor, expires_at, created_at)
    SELECT l.tenant_id, l.profile_name, COALESCE(p.vault_address, ''), COALESCE(p.namespace, ''), l.lease_id,
           l.token_accessor, l.expires_at, l.created_at
    FROM leases l LEFT JOIN profiles p ON p.tenant_id = l.tenant_id AND p.name = l.profile_name;
DROP TABLE leases;
ALTER TABLE leases_scoped RENAME TO leases;
-- Ended leases are pruned by their end.
CREATE INDEX leases_expiry ON leases (expires_at);
