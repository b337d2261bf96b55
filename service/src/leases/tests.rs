//! The lease book's index, without Vault.

use secrecy::SecretString;

use super::*;
use crate::domain::VaultAddress;

fn token(accessor: &str, profile: &str) -> TokenRef {
    TokenRef {
        token: SecretString::from(format!("s.{accessor}")),
        accessor: accessor.into(),
        address: VaultAddress::parse("http://127.0.0.1:8200").expect("address"),
        namespace: None,
        tenant: TenantId::parse("t").expect("tenant"),
        profile: ProfileName::parse(profile).expect("profile"),
        renewable: false,
        expires: None,
        max_end: None,
    }
}

fn lease(id: &str) -> LeaseId {
    LeaseId::parse(id).expect("lease id")
}

#[tokio::test]
async fn the_lease_index_follows_records_revocations_and_released_tokens() {
    let http = agent_runner::http::client_builder().build().expect("client");
    let book = Arc::new(LeaseBook::new(http, Duration::from_secs(1), Arc::new(Metrics::default())));
    let hour = Duration::from_secs(3600);
    for i in 0..1000 {
        book.record(&token(&format!("a{}", i % 10), "p"), &lease(&format!("db/creds/app/{i}")), hour).await;
    }
    let scope = token("a0", "p").scope();
    let issuer = |id: &str| book.issuer(&scope, &lease(id)).map(|t| t.accessor);
    assert_eq!(issuer("db/creds/app/7"), Some("a7".into()));
    assert_eq!(issuer("db/creds/app/999"), Some("a9".into()));
    assert!(issuer("db/creds/app/1000").is_none());
    book.revoked(&scope, &lease("db/creds/app/7"));
    assert!(issuer("db/creds/app/7").is_none(), "a revoked lease leaves the index");
    assert_eq!(issuer("db/creds/app/17"), Some("a7".into()), "its token's others stay");
    // A deleted profile's tokens go with their index rows.
    book.forget_profile(&TenantId::parse("t").expect("tenant"), &ProfileName::parse("p").expect("p"), false);
    assert!(issuer("db/creds/app/17").is_none());
    assert!(book.lock().by_lease.is_empty());
}

#[tokio::test]
async fn a_lease_or_accessor_id_sent_by_another_profiles_vault_never_reaches_this_profiles_entry() {
    let http = agent_runner::http::client_builder().build().expect("client");
    let book = Arc::new(LeaseBook::new(http, Duration::from_secs(1), Arc::new(Metrics::default())));
    let hour = Duration::from_secs(3600);
    let mine = token("same-accessor", "mine");
    let mut theirs = token("same-accessor", "theirs");
    theirs.address = VaultAddress::parse("http://127.0.0.2:8200").expect("address");
    book.record(&mine, &lease("db/creds/app/x"), hour).await;
    book.record(&theirs, &lease("db/creds/app/x"), hour).await;
    let found = book.issuer(&mine.scope(), &lease("db/creds/app/x")).expect("mine");
    assert_eq!(found.profile.as_str(), "mine");
    assert_eq!(found.address, mine.address);
    book.revoked(&theirs.scope(), &lease("db/creds/app/x"));
    assert!(book.issuer(&mine.scope(), &lease("db/creds/app/x")).is_some(), "their revoke leaves mine");
}
