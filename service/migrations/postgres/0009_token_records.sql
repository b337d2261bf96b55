-- The cluster token cache (AUTH_SERVICE_TOKEN_SEAL_KEY_FILE): one sealed token
-- per stored profile content, shared by replicas and kept across restarts. The
-- token itself is only in `sealed` (AES-256-GCM, a fresh nonce per record,
-- bound to tenant, profile, content fingerprint and accessor); everything else
-- is bookkeeping that reveals nothing usable.
CREATE TABLE token_records (
    tenant_id TEXT NOT NULL,
    profile_name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    vault_address TEXT NOT NULL,
    namespace TEXT NOT NULL,
    accessor TEXT NOT NULL,
    ttl_secs BIGINT NOT NULL,
    renewable BIGINT NOT NULL,
    expires_epoch BIGINT,
    max_end_epoch BIGINT,
    cache_until_epoch BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    sealed TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, profile_name, fingerprint)
);
CREATE INDEX token_records_until ON token_records (cache_until_epoch);
-- One login per profile content across replicas: a lease-style lock row. The
-- holder writes the record and deletes the row; a row past `until_epoch` (its
-- holder died) is taken over.
CREATE TABLE login_locks (
    lock_key TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_epoch BIGINT NOT NULL
);
