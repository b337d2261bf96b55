//! The long soak for the bench (`scripts/bench.sh`, or `cargo run --example soak`):
//! the CI soak's harness run `SOAK_RUNS` times (default 5) for `SOAK_SECS`
//! (default 150) each on two PostgreSQL replicas, printing each report and
//! whether the invariants held. Exits non-zero when one did not.

#[path = "../tests/soak/harness.rs"]
mod harness;
#[path = "../tests/api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; the soak uses some of them")]
mod helpers;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (runs, secs) = (env("SOAK_RUNS", 5), env("SOAK_SECS", 150));
    let postgres = api_tests::Postgres::bin_dir().is_some();
    let mut held = true;
    for run in 1..=runs {
        let plan = harness::Plan { secs, tenants: 8, profiles: 8, readers: 6, postgres, token_ttl: 125 };
        let report = harness::run(&plan).await;
        let ok = report.other_failures.is_empty()
            && report.tokens_alive == 0
            && report.agents_left == 0
            && report.run_folders_left == 0;
        held &= ok;
        println!("run {run} of {runs}: invariants {}\n{}", if ok { "held" } else { "BROKEN" }, report.text(&plan));
    }
    if held { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}
