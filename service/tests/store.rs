//! The store contract: one set of behaviours, run on SQLite always and on a
//! real PostgreSQL server whenever one is installed (CI requires it with
//! AUTH_SERVICE_TEST_REQUIRE_POSTGRES=1).

use std::future::Future;
use std::pin::Pin;

use api_tests::Postgres;
use auth_service::domain::{ProfileName, TenantId};
use auth_service::store::{NewApiKey, NewProfile, NonceKey, Store, StoreError, TenantGrants};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

type Check = fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        const CHECKS: &[(&str, Check)] = &[$((stringify!($name), |s| Box::pin($name(s)))),*];
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let url = format!("sqlite://{}/nested/folder/auth.db", dir.path().display());
                    super::$name(url).await;
                }
            )*
        }
    };
}

checks!(
    migrations_are_idempotent,
    a_database_of_the_first_migration_scheme_is_upgraded_in_place,
    tenants_are_created_listed_and_unique,
    tenants_get_an_external_id_and_grants_are_narrowed_in_place,
    api_keys_are_scoped_to_their_tenant,
    profiles_have_revisions_and_tenant_isolation,
    a_profile_for_a_missing_tenant_is_refused_without_a_row,
    concurrent_first_nonces_agree_on_one_row,
    nonces_are_per_key_and_survive_profile_deletion,
);

fn t(id: &str) -> TenantId {
    TenantId::parse(id).expect("tenant id")
}

fn n(name: &str) -> ProfileName {
    ProfileName::parse(name).expect("profile name")
}

fn profile(name: &str) -> NewProfile {
    NewProfile {
        name: n(name),
        vault_address: "https://vault.example.com".into(),
        namespace: Some("team-a".into()),
        method: json!({"type": "aws", "config": {"type": "ec2", "role": "r"}}),
        test_secret_path: None,
        aws_role_arn: None,
        secret_cache: None,
    }
}

fn key(id: &str) -> NewApiKey {
    NewApiKey { id: id.into(), name: "k".into(), scopes: vec!["admin".into(), "read".into()], secret_sha256: [7u8; 32] }
}

fn nonce_key(mount: &str) -> NonceKey {
    NonceKey {
        vault_address: "https://vault.example.com".into(),
        namespace: String::new(),
        mount_path: mount.into(),
        instance_id: "i-0abc".into(),
    }
}

async fn connect(url: &str) -> Store {
    Store::connect(url).await.expect("store connects")
}

async fn migrations_are_idempotent(url: String) {
    let store = connect(&url).await;
    store.create_tenant(&t("a"), "A").await.expect("tenant");
    store.close().await;
    // Connecting again runs the migrations again: no-ops that keep the data.
    let again = connect(&url).await;
    again.ping().await.expect("ping");
    assert_eq!(again.list_tenants().await.expect("list").len(), 1);
    // Two processes starting together (replicas) agree too.
    let (a, b) = tokio::join!(Store::connect(&url), Store::connect(&url));
    a.expect("replica a");
    assert_eq!(b.expect("replica b").list_tenants().await.expect("list").len(), 1);
}

/// Build a database exactly as the first, hand-rolled migration scheme left it.
async fn legacy_database(url: &str) {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let (raw_url, dir) = match url.strip_prefix("sqlite://") {
        Some(path) => (format!("sqlite://{path}?mode=rwc"), "sqlite"),
        None => (url.to_string(), "postgres"),
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        std::fs::create_dir_all(std::path::Path::new(path).parent().expect("parent")).expect("folder");
    }
    let pool = sqlx::AnyPool::connect(&raw_url).await.expect("raw connect");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
    for file in ["0001_init.sql", "0002_ec2_nonces.sql"] {
        let sql = std::fs::read_to_string(root.join(file)).expect("migration file");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("legacy migration");
    }
    pool.execute("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
        .await
        .expect("legacy table");
    pool.execute(
        "INSERT INTO schema_migrations VALUES (1, '2026-11-01T00:00:00Z'), (2, '2026-11-01T00:00:00Z'); \
         INSERT INTO tenants (id, name, created_at) VALUES ('old', 'Old', '2026-11-01T00:00:00Z')",
    )
    .await
    .expect("legacy rows");
    pool.close().await;
}

async fn a_database_of_the_first_migration_scheme_is_upgraded_in_place(url: String) {
    legacy_database(&url).await;
    // Two replicas adopt it at once; the data stays and nothing runs twice.
    let (a, b) = tokio::join!(Store::connect(&url), Store::connect(&url));
    let store = a.expect("adopted");
    b.expect("adopted by the second replica too");
    let tenants = store.list_tenants().await.expect("list");
    assert_eq!(tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["old"]);
    store.create_profile(&t("old"), &profile("p")).await.expect("schema usable");
    store.close().await;
    // Checksums recorded by the adoption match the embedded files: a plain restart passes sqlx's check.
    let again = connect(&url).await;
    assert_eq!(again.list_tenants().await.expect("list").len(), 1);
}

async fn tenants_get_an_external_id_and_grants_are_narrowed_in_place(url: String) {
    let store = connect(&url).await;
    let a = store.create_tenant(&t("a"), "A").await.expect("a");
    let b = store.create_tenant(&t("b"), "B").await.expect("b");
    assert_eq!(a.aws_external_id.len(), 32);
    assert_ne!(a.aws_external_id, b.aws_external_id, "every tenant gets its own external id");
    assert_eq!((a.vault_addresses.clone(), a.methods.clone()), (None, None));
    let grants = TenantGrants { vault_addresses: Some(vec!["https://v.example.com".into()]), methods: None };
    let updated = store.update_tenant_grants(&t("a"), &grants).await.expect("update").expect("exists");
    assert_eq!(updated.vault_addresses, Some(vec!["https://v.example.com".to_string()]));
    assert_eq!(updated.methods, None, "a field left out stays as it was");
    assert_eq!(updated.aws_external_id, a.aws_external_id, "the external id never changes");
    let grants = TenantGrants { vault_addresses: None, methods: Some(vec![]) };
    let updated = store.update_tenant_grants(&t("a"), &grants).await.expect("update").expect("exists");
    assert_eq!(updated.methods, Some(vec![]));
    assert_eq!(updated.vault_addresses, Some(vec!["https://v.example.com".to_string()]));
    assert!(store.update_tenant_grants(&t("zz"), &grants).await.expect("update").is_none());
    let mut role = profile("p");
    role.aws_role_arn = Some("arn:aws:iam::123456789012:role/r".into());
    let row = store.create_profile(&t("a"), &role).await.expect("profile");
    assert_eq!(row.aws_role_arn.as_deref(), Some("arn:aws:iam::123456789012:role/r"));
    assert_eq!(row.last_test, None);
    store.record_test(&t("a"), &n("p"), 1, true).await.expect("record");
    let got = store.get_profile(&t("a"), &n("p")).await.expect("get").expect("row");
    assert!(got.last_test.as_ref().is_some_and(|(ok, _)| *ok), "{got:?}");
    let replaced = store.replace_profile(&t("a"), &n("p"), None, &role).await.expect("replace").expect("row");
    assert_eq!(replaced.last_test, None, "a new revision has not been tested");
    store.create_profile(&t("b"), &profile("q")).await.expect("profile b");
    let others = store.other_tenants_profiles_at(&t("a"), "https://vault.example.com").await.expect("others");
    assert_eq!(others.iter().map(|r| r.tenant_id.as_str()).collect::<Vec<_>>(), ["b"]);
}

async fn tenants_are_created_listed_and_unique(url: String) {
    let store = connect(&url).await;
    store.create_tenant(&t("b"), "B").await.expect("b");
    store.create_tenant(&t("a"), "A").await.expect("a");
    assert!(matches!(store.create_tenant(&t("a"), "again").await, Err(StoreError::Conflict(_))));
    let ids: Vec<String> = store.list_tenants().await.expect("list").into_iter().map(|t| t.id.to_string()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(store.tenant_exists(&t("a")).await.expect("exists"));
    assert!(!store.tenant_exists(&t("zz")).await.expect("exists"));
}

async fn api_keys_are_scoped_to_their_tenant(url: String) {
    let store = connect(&url).await;
    store.create_tenant(&t("a"), "A").await.expect("a");
    store.create_tenant(&t("b"), "B").await.expect("b");
    store.insert_api_key(&t("a"), &key("k1")).await.expect("key");
    assert!(matches!(store.insert_api_key(&t("nope"), &key("k2")).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.list_api_keys(&t("a")).await.expect("list").len(), 1);
    assert!(store.list_api_keys(&t("b")).await.expect("list").is_empty(), "b sees none of a's keys");
    assert!(!store.delete_api_key(&t("b"), "k1").await.expect("delete"), "b cannot delete a's key");
    let auth = store.api_key_for_auth("k1").await.expect("auth").expect("found");
    assert_eq!(auth.tenant_id, t("a"));
    assert_eq!(auth.secret_sha256, [7u8; 32]);
    assert_eq!(auth.scopes, ["admin", "read"]);
    assert!(!format!("{auth:?}").contains("secret_sha256"));
    assert!(store.delete_api_key(&t("a"), "k1").await.expect("delete"));
    assert!(store.api_key_for_auth("k1").await.expect("auth").is_none());
}

async fn profiles_have_revisions_and_tenant_isolation(url: String) {
    let store = connect(&url).await;
    store.create_tenant(&t("a"), "A").await.expect("a");
    store.create_tenant(&t("b"), "B").await.expect("b");
    let p = store.create_profile(&t("a"), &profile("p")).await.expect("create");
    assert_eq!(p.revision, 1);
    assert_eq!(p.namespace.as_deref(), Some("team-a"));
    assert!(matches!(store.create_profile(&t("a"), &profile("p")).await, Err(StoreError::Conflict(_))));
    store.create_profile(&t("b"), &profile("p")).await.expect("same name in another tenant");
    assert!(store.get_profile(&t("b"), &n("q")).await.expect("get").is_none());

    let mut changed = profile("p");
    changed.namespace = None;
    changed.test_secret_path = Some("secret/data/x".into());
    let r = store.replace_profile(&t("a"), &n("p"), Some(1), &changed).await.expect("replace").expect("exists");
    assert_eq!(r.revision, 2);
    assert_eq!(r.created_at, p.created_at);
    assert_eq!(r.namespace, None);
    assert_eq!(r.test_secret_path.as_deref(), Some("secret/data/x"));
    assert_eq!(
        store.get_profile(&t("b"), &n("p")).await.expect("get").expect("b's").revision,
        1,
        "b's profile untouched"
    );
    assert!(store.replace_profile(&t("a"), &n("missing"), None, &changed).await.expect("replace").is_none());
    assert!(
        store.replace_profile(&t("a"), &n("p"), Some(1), &changed).await.expect("replace").is_none(),
        "a stale expected revision changes nothing"
    );

    // Unconditional concurrent replaces each get their own revision...
    let (a, p) = (t("a"), n("p"));
    let (x, y) =
        tokio::join!(store.replace_profile(&a, &p, None, &changed), store.replace_profile(&a, &p, None, &changed));
    let mut revs = [x.expect("x").expect("row").revision, y.expect("y").expect("row").revision];
    revs.sort();
    assert_eq!(revs, [3, 4]);
    // ...while two expecting the same revision: exactly one wins.
    let (x, y) = tokio::join!(
        store.replace_profile(&a, &p, Some(4), &changed),
        store.replace_profile(&a, &p, Some(4), &changed)
    );
    let wins = [x.expect("x"), y.expect("y")].iter().filter(|r| r.is_some()).count();
    assert_eq!(wins, 1);

    assert_eq!(store.list_profiles(&t("a")).await.expect("list").len(), 1);
    assert!(store.delete_profile(&t("b"), &n("missing")).await.expect("delete").is_none());
    let gone = store.delete_profile(&t("a"), &n("p")).await.expect("delete").expect("row");
    assert_eq!(gone.revision, 5);
    assert!(store.get_profile(&t("a"), &n("p")).await.expect("get").is_none());
    assert!(store.get_profile(&t("b"), &n("p")).await.expect("get").is_some());
}

async fn a_profile_for_a_missing_tenant_is_refused_without_a_row(url: String) {
    let store = connect(&url).await;
    assert!(matches!(store.create_profile(&t("ghost"), &profile("p")).await, Err(StoreError::NotFound(_))));
    assert!(store.list_profiles(&t("ghost")).await.expect("list").is_empty());
}

async fn concurrent_first_nonces_agree_on_one_row(url: String) {
    let store = connect(&url).await;
    let k = nonce_key("auth/aws");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (store, k) = (store.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            store.nonce_get_or_create(&k, &SecretString::from(format!("candidate-{i}"))).await.expect("nonce")
        }));
    }
    let mut values = Vec::new();
    for t in tasks {
        values.push(t.await.expect("joined").value.expose_secret().to_string());
    }
    assert!(values.iter().all(|v| *v == values[0]), "{values:?}");
    assert_eq!(store.nonce_rows(&k).await.expect("count"), 1);
}

async fn nonces_are_per_key_and_survive_profile_deletion(url: String) {
    let store = connect(&url).await;
    store.create_tenant(&t("a"), "A").await.expect("a");
    store.create_profile(&t("a"), &profile("p")).await.expect("profile");
    let main = store.nonce_get_or_create(&nonce_key("auth/aws"), &SecretString::from("one")).await.expect("n");
    let other = store.nonce_get_or_create(&nonce_key("auth/aws-other"), &SecretString::from("two")).await.expect("n");
    assert_eq!(main.value.expose_secret(), "one");
    assert_eq!(other.value.expose_secret(), "two");
    let reset = store.nonce_reset(&nonce_key("auth/aws"), &SecretString::from("three")).await.expect("reset");
    assert_eq!(reset.value.expose_secret(), "three");
    assert_eq!(reset.reset_count, 1);
    assert_eq!(
        store.nonce_get(&nonce_key("auth/aws-other")).await.expect("get").expect("row").value.expose_secret(),
        "two",
        "a reset touches only its key"
    );
    store.delete_profile(&t("a"), &n("p")).await.expect("delete");
    assert!(store.nonce_get(&nonce_key("auth/aws")).await.expect("get").is_some(), "nonces belong to host and mount");
    assert!(!format!("{reset:?}").contains("three"), "Debug hides the nonce");
}

#[tokio::test]
async fn the_same_contract_holds_on_postgresql() {
    let required = std::env::var("AUTH_SERVICE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    if Postgres::bin_dir().is_none() {
        assert!(!required, "PostgreSQL is required (AUTH_SERVICE_TEST_REQUIRE_POSTGRES=1) but not installed");
        eprintln!("PostgreSQL not installed: the PostgreSQL half of the store contract was skipped");
        return;
    }
    let pg = Postgres::start().await.expect("postgres starts");
    for (i, (name, check)) in CHECKS.iter().enumerate() {
        let url = pg.create_database(&format!("contract_{i}")).expect("database");
        check(url).await;
        eprintln!("postgres: {name} ok");
    }
    // Replicas starting together on a fresh database agree on one schema.
    let url = pg.create_database("replicas").expect("database");
    let (a, b, c) = tokio::join!(Store::connect(&url), Store::connect(&url), Store::connect(&url));
    a.expect("replica a").create_tenant(&t("t"), "T").await.expect("tenant");
    assert_eq!(b.expect("replica b").list_tenants().await.expect("list").len(), 1);
    c.expect("replica c");
}

#[tokio::test]
async fn reconnecting_to_an_sqlite_file_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/db.sqlite", dir.path().display());
    Store::connect(&url).await.expect("first").create_tenant(&t("a"), "A").await.expect("tenant");
    assert_eq!(Store::connect(&url).await.expect("second").list_tenants().await.expect("list").len(), 1);
}
