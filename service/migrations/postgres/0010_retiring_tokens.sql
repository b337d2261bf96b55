-- Retiring tokens of the cluster token cache: a token no replica reads with any
-- more, kept alive because leases it issued are still live. Any replica can
-- renew it to reach a lease's end or revoke it, and one replica at a time (the
-- holder of the `lease-sweeper` row in login_locks) sweeps them. The token is
-- only in `sealed` (AES-256-GCM, bound to tenant, profile, Vault address,
-- namespace and accessor). Its leases are the `leases` rows with this scope and
-- `token_accessor`; `keep_until_epoch` is set only when those rows went with a
-- deleted tenant whose credentials were kept (`keep_leases=true`).
CREATE TABLE retiring_tokens (
    tenant_id TEXT NOT NULL,
    profile_name TEXT NOT NULL,
    vault_address TEXT NOT NULL,
    namespace TEXT NOT NULL,
    accessor TEXT NOT NULL,
    renewable BIGINT NOT NULL,
    expires_epoch BIGINT,
    max_end_epoch BIGINT,
    keep_until_epoch BIGINT,
    key_id TEXT NOT NULL,
    sealed TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, profile_name, vault_address, namespace, accessor)
);
CREATE INDEX leases_token ON leases (tenant_id, profile_name, vault_address, namespace, token_accessor);
