//! Migrations: embedded per dialect and applied at connect time by sqlx's own
//! [`Migrator`] (checksums in `_sqlx_migrations`, PostgreSQL's advisory lock),
//! after adopting a database made by the first, hand-rolled scheme.

use std::borrow::Cow;

use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};
use sqlx::{Executor, SqlSafeStr};

use super::*;

/// Embedded migrations: (version, description, SQLite text, PostgreSQL text).
const MIGRATIONS: [(i64, &str, &str, &str); 10] = [
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "ec2 nonces",
        include_str!("../../migrations/sqlite/0002_ec2_nonces.sql"),
        include_str!("../../migrations/postgres/0002_ec2_nonces.sql"),
    ),
    (
        3,
        "tenant trust",
        include_str!("../../migrations/sqlite/0003_tenant_trust.sql"),
        include_str!("../../migrations/postgres/0003_tenant_trust.sql"),
    ),
    (
        4,
        "leases",
        include_str!("../../migrations/sqlite/0004_leases.sql"),
        include_str!("../../migrations/postgres/0004_leases.sql"),
    ),
    (
        5,
        "console",
        include_str!("../../migrations/sqlite/0005_console.sql"),
        include_str!("../../migrations/postgres/0005_console.sql"),
    ),
    (
        6,
        "audit",
        include_str!("../../migrations/sqlite/0006_audit.sql"),
        include_str!("../../migrations/postgres/0006_audit.sql"),
    ),
    (
        7,
        "secret cache",
        include_str!("../../migrations/sqlite/0007_secret_cache.sql"),
        include_str!("../../migrations/postgres/0007_secret_cache.sql"),
    ),
    (
        8,
        "lease scope",
        include_str!("../../migrations/sqlite/0008_lease_scope.sql"),
        include_str!("../../migrations/postgres/0008_lease_scope.sql"),
    ),
    (
        9,
        "token records",
        include_str!("../../migrations/sqlite/0009_token_records.sql"),
        include_str!("../../migrations/postgres/0009_token_records.sql"),
    ),
    (
        10,
        "retiring tokens",
        include_str!("../../migrations/sqlite/0010_retiring_tokens.sql"),
        include_str!("../../migrations/postgres/0010_retiring_tokens.sql"),
    ),
];

/// sqlx's migrator over the embedded migrations of `dialect`.
pub fn migrator(dialect: Dialect) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sqlite, postgres)| {
                let sql = if dialect == Dialect::Sqlite { sqlite } else { postgres };
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect(),
    )
}

impl Store {
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        // SQLite has no advisory lock: stores opened together in one process take
        // turns here (a deferred transaction that must upgrade its lock gets
        // "database is locked" at once, whatever the busy timeout).
        static SQLITE_MIGRATIONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _turn = if self.dialect == Dialect::Sqlite { Some(SQLITE_MIGRATIONS.lock().await) } else { None };
        let migrator = migrator(self.dialect);
        self.adopt_legacy_migrations(&migrator).await?;
        migrator.run(&self.pool).await.map_err(|e| StoreError::Database(format!("migration: {e}")))?;
        Ok(())
    }

    /// A database made by the first scheme recorded its versions in
    /// `schema_migrations`: record them (with today's checksums, which match the
    /// unchanged files) in sqlx's table and drop the old one. Idempotent, and safe
    /// for replicas starting together (advisory lock on PostgreSQL, `ON CONFLICT`).
    async fn adopt_legacy_migrations(&self, migrator: &Migrator) -> Result<(), StoreError> {
        let e = |e: sqlx::Error| map_err(e, "migration");
        let mut tx = self.pool.begin().await.map_err(e)?;
        if self.dialect == Dialect::Postgres {
            tx.execute("SELECT pg_advisory_xact_lock(7461626)").await.map_err(e)?;
        }
        let legacy_exists: i64 = if self.dialect == Dialect::Sqlite {
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
        } else {
            sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'")
        }
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
        if legacy_exists == 0 {
            return tx.commit().await.map_err(e);
        }
        tx.ensure_migrations_table("_sqlx_migrations")
            .await
            .map_err(|e| StoreError::Database(format!("migration: {e}")))?;
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations").fetch_all(&mut *tx).await.map_err(e)?;
        for m in migrator.iter().filter(|m| applied.contains(&m.version)) {
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ($1, $2, TRUE, $3, 0) ON CONFLICT (version) DO NOTHING",
            )
            .bind(m.version)
            .bind(m.description.to_string())
            .bind(m.checksum.to_vec())
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        }
        tx.execute("DROP TABLE schema_migrations").await.map_err(e)?;
        tx.commit().await.map_err(e)?;
        tracing::info!(versions = ?applied, "adopted the first migration scheme's history into _sqlx_migrations");
        Ok(())
    }
}
