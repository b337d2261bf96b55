//! The short soak (about a minute; `SOAK_SECS` for longer): two replicas on
//! PostgreSQL with the cluster token cache, tokens living 125 s (a cache life
//! of about 5 s), readers on both read paths, an admin replacing, testing,
//! deleting and re-creating profiles and rotating keys. It asserts the
//! invariants, never the timings (those are printed; the bench's long runs go
//! into docs/reliability.md).

mod harness;
#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

#[tokio::test]
async fn under_churn_no_read_fails_for_a_reason_the_connector_did_not_cause_and_nothing_is_left_behind() {
    let required = std::env::var("AUTH_SERVICE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let postgres = api_tests::Postgres::bin_dir().is_some();
    assert!(postgres || !required, "PostgreSQL is required but not installed");
    let secs = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let plan = harness::Plan { secs, tenants: 4, profiles: 4, readers: 6, postgres, token_ttl: 125 };
    let report = harness::run(&plan).await;
    eprintln!("{}", report.text(&plan));
    assert!(report.ok > 100, "reads ran: {}", report.ok);
    assert!(
        report.other_failures.is_empty(),
        "reads failed for reasons the connector did not cause: {:?}",
        report.other_failures
    );
    assert_eq!(report.tokens_alive, 0, "tokens still alive after every profile was deleted");
    assert_eq!(report.agents_left, 0, "agent processes outlived their logins");
    assert_eq!(report.run_folders_left, 0, "run folders outlived their logins");
    for (i, (_, mid, end)) in report.rss.iter().enumerate() {
        assert!(
            *end < mid + 16 * 1024,
            "replica {i}'s memory kept growing once the caches were full: {mid} -> {end} KiB"
        );
    }
}
