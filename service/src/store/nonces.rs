//! EC2 nonces: one per Vault address, namespace, mount and instance (not per tenant).

use secrecy::{ExposeSecret, SecretString};

use super::*;

impl Store {
    /// The nonce for `key` for a login, inserting `candidate` when there is none
    /// yet (the unique key makes racing first logins end up with one stored
    /// value), and noting the use.
    pub async fn nonce_get_or_create(&self, key: &NonceKey, candidate: &SecretString) -> Result<NonceRow, StoreError> {
        bind_key(
            sqlx::query(
                "INSERT INTO ec2_nonces (vault_address, namespace, mount_path, instance_id, nonce, created_at, reset_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0) \
                 ON CONFLICT (vault_address, namespace, mount_path, instance_id) DO NOTHING",
            ),
            key,
        )
        .bind(candidate.expose_secret())
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "ec2 nonce"))?;
        bind_key(
            sqlx::query(
                "UPDATE ec2_nonces SET last_used_at = $5 \
                 WHERE vault_address = $1 AND namespace = $2 AND mount_path = $3 AND instance_id = $4",
            ),
            key,
        )
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "ec2 nonce"))?;
        self.nonce_get(key).await?.ok_or_else(|| StoreError::Database("the ec2 nonce vanished after insert".into()))
    }

    /// The nonce for `key`, if any.
    pub async fn nonce_get(&self, key: &NonceKey) -> Result<Option<NonceRow>, StoreError> {
        let row = bind_key(
            sqlx::query(
                "SELECT nonce, created_at, reset_count, last_used_at FROM ec2_nonces \
                 WHERE vault_address = $1 AND namespace = $2 AND mount_path = $3 AND instance_id = $4",
            ),
            key,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err(e, "ec2 nonce"))?;
        row.as_ref().map(decode).transpose()
    }

    /// Replace the nonce for `key` (or create it), counting resets.
    pub async fn nonce_reset(&self, key: &NonceKey, new_value: &SecretString) -> Result<NonceRow, StoreError> {
        bind_key(
            sqlx::query(
                "INSERT INTO ec2_nonces (vault_address, namespace, mount_path, instance_id, nonce, created_at, reset_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, 1) \
                 ON CONFLICT (vault_address, namespace, mount_path, instance_id) \
                 DO UPDATE SET nonce = excluded.nonce, created_at = excluded.created_at, reset_count = ec2_nonces.reset_count + 1",
            ),
            key,
        )
        .bind(new_value.expose_secret())
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "ec2 nonce"))?;
        self.nonce_get(key).await?.ok_or_else(|| StoreError::Database("the ec2 nonce vanished after reset".into()))
    }

    /// How many nonce rows exist for a key (tests and diagnostics).
    pub async fn nonce_rows(&self, key: &NonceKey) -> Result<i64, StoreError> {
        let row = bind_key(
            sqlx::query(
                "SELECT COUNT(*) AS n FROM ec2_nonces \
                 WHERE vault_address = $1 AND namespace = $2 AND mount_path = $3 AND instance_id = $4",
            ),
            key,
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err(e, "ec2 nonce"))?;
        let (n,): (i64,) = decode(&row)?;
        Ok(n)
    }
}
