-- The opt-in secret cache: seconds to keep a profile's answers (NULL: off), and
-- whether answers with a lease (dynamic credentials) are shared between callers.
ALTER TABLE profiles ADD COLUMN secret_cache_ttl_secs BIGINT;
ALTER TABLE profiles ADD COLUMN secret_cache_leased BIGINT NOT NULL DEFAULT 0;
