//! agent-runner against real processes: the real OpenBao server and agent, and
//! `sh` stand-ins for misbehaving binaries. Every wait is bounded.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_runner::verify::{self, VerifyError};
use agent_runner::{KnownCause, RunSpec, Runner, RunnerError};
use api_tests::{JwtIssuer, OpenBao, bao_bin, count_processes_matching};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

const POLICY: &str = "path \"secret/data/app/*\" { capabilities = [\"read\"] }\n";

fn jwt_config(addr: &str, jwt: &Path, role: &str, sink: &Path) -> String {
    format!(
        r#"vault {{
  address = "{addr}"
}}
exit_after_auth = true
auto_auth {{
  method "jwt" {{
    mount_path = "auth/jwt"
    exit_on_err = true
    config = {{
      path = "{jwt}"
      role = "{role}"
      remove_jwt_after_reading = false
    }}
  }}
  sink "file" {{
    config = {{
      path = "{sink}"
      mode = 384
    }}
  }}
}}
"#,
        jwt = jwt.display(),
        sink = sink.display()
    )
}

struct Bed {
    bao: OpenBao,
    _issuer: JwtIssuer,
    jwt: PathBuf,
    root: tempfile::TempDir,
}

async fn bed() -> Bed {
    let bao = OpenBao::start().await.expect("openbao");
    let issuer = bao.setup_jwt(None, "jwt", "app", "app-read", POLICY, 3600).await.expect("jwt");
    let root = tempfile::tempdir().expect("tempdir");
    let jwt = issuer.write_jwt_file(root.path(), "host").expect("jwt file");
    Bed { bao, _issuer: issuer, jwt, root }
}

fn spec(bed_root: &Path, binary: PathBuf) -> (RunSpec, PathBuf) {
    let runs = bed_root.join("runs");
    std::fs::create_dir_all(&runs).expect("runs dir");
    (RunSpec { binary, timeout: Duration::from_secs(20), temp_root: Some(runs.clone()), ..RunSpec::default() }, runs)
}

fn leftovers(runs: &Path) -> usize {
    std::fs::read_dir(runs).map(|d| d.count()).unwrap_or(0)
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f).await.expect("the run ended within 60 s")
}

#[tokio::test]
async fn a_real_agent_run_returns_a_token_that_lookup_self_verifies_and_leaves_nothing_behind() {
    let bed = bed().await;
    let (spec, runs) = spec(bed.root.path(), bao_bin());
    let runner = Runner::new(4);
    let run = bounded(runner.run(&spec, |sink| jwt_config(&bed.bao.addr, &bed.jwt, "app", sink))).await.expect("login");
    assert!(!run.token.expose_secret().is_empty());
    assert!(!format!("{run:?}").contains(run.token.expose_secret()), "Debug hides the token");
    let http = agent_runner::http::client_builder().build().expect("client");
    let info = verify::lookup_self(&http, &base(&bed.bao.addr), None, &run.token).await.expect("verified");
    assert!(info.policies.contains(&"app-read".to_string()));
    assert!(info.ttl > Duration::from_secs(3000));
    assert_eq!(info.num_uses, 0);
    assert!(!info.accessor.is_empty());
    assert!(!run.diagnostics.contains(run.token.expose_secret()), "diagnostics are scrubbed");
    assert_eq!(leftovers(&runs), 0, "the run directory is gone");
    assert_eq!(count_processes_matching(&runs.display().to_string()), 0, "no agent left");
    verify::revoke_self(&http, &base(&bed.bao.addr), None, &run.token).await.expect("revoked");
    assert!(bed.bao.token_lookup(run.token.expose_secret()).await.expect("lookup").is_none());
}

#[tokio::test]
async fn a_wrong_role_fails_fast_and_names_the_role() {
    let bed = bed().await;
    let (spec, runs) = spec(bed.root.path(), bao_bin());
    let started = Instant::now();
    let err = bounded(Runner::new(1).run(&spec, |sink| jwt_config(&bed.bao.addr, &bed.jwt, "no-such-role", sink)))
        .await
        .expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(5), "exit_on_err ends the agent at once: {:?}", started.elapsed());
    match &err {
        RunnerError::LoginRejected { reason, cause } => {
            assert!(reason.contains("no-such-role"), "{reason}");
            assert_eq!(*cause, Some(KnownCause::RoleNotFound));
        }
        other => panic!("expected LoginRejected, got {other:?}"),
    }
    assert!(err.hint().is_some_and(|h| h.contains("role")));
    assert_eq!(leftovers(&runs), 0);
}

#[tokio::test]
async fn a_jwt_vault_does_not_trust_is_classified_with_a_jwt_hint() {
    let bed = bed().await;
    let other_issuer = JwtIssuer::new().expect("issuer");
    let bad_jwt = other_issuer.write_jwt_file(bed.root.path(), "stranger").expect("jwt");
    let (spec, _) = spec(bed.root.path(), bao_bin());
    let err = bounded(Runner::new(1).run(&spec, |sink| jwt_config(&bed.bao.addr, &bad_jwt, "app", sink)))
        .await
        .expect_err("refused");
    match &err {
        RunnerError::LoginRejected { cause, reason } => assert_eq!(*cause, Some(KnownCause::JwtInvalid), "{reason}"),
        other => panic!("expected LoginRejected, got {other:?}"),
    }
    assert!(!err.to_string().contains("eyJ"), "the JWT never reaches the error: {err}");
}

#[tokio::test]
async fn vault_not_listening_is_reported_as_unreachable_quickly() {
    let root = tempfile::tempdir().expect("tempdir");
    let issuer = JwtIssuer::new().expect("issuer");
    let jwt = issuer.write_jwt_file(root.path(), "x").expect("jwt");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let (spec, runs) = spec(root.path(), bao_bin());
    let started = Instant::now();
    let err =
        bounded(Runner::new(1).run(&spec, |sink| jwt_config(&format!("http://127.0.0.1:{port}"), &jwt, "app", sink)))
            .await
            .expect_err("unreachable");
    assert_eq!(err.kind(), "vault_unreachable", "{err}");
    assert!(err.to_string().contains("connection refused"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(leftovers(&runs), 0);
}

#[tokio::test]
async fn an_agent_ignoring_sigterm_is_killed_at_the_deadline_with_its_grandchild() {
    let root = tempfile::tempdir().expect("tempdir");
    // A unique sleep duration marks the grandchild in the process table.
    let marker = format!("301.{}", std::process::id());
    // Ignores SIGTERM, forks a sleeping grandchild, then sleeps.
    let bin = script(root.path(), "stubborn-agent", &format!("trap '' TERM\nsh -c 'sleep {marker}; :' &\nsleep 300"));
    let (mut spec, runs) = spec(root.path(), bin);
    spec.timeout = Duration::from_secs(1);
    spec.grace = Duration::from_millis(300);
    let started = Instant::now();
    let watcher = {
        let marker = marker.clone();
        tokio::spawn(async move {
            // Proof that the grandchild really ran while the agent was alive.
            for _ in 0..200 {
                if count_processes_matching(&marker) > 0 {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        })
    };
    let err = bounded(Runner::new(1).run(&spec, |_| String::new())).await.expect_err("times out");
    assert!(matches!(err, RunnerError::TimedOut { .. }), "{err:?}");
    assert!(watcher.await.expect("watcher"), "the grandchild never started");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1250),
        "SIGTERM was ignored, so only SIGKILL after the grace ends it: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while count_processes_matching(&marker) > 0 {
        assert!(Instant::now() < deadline, "the grandchild survived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count_processes_matching("stubborn-agent"), 0, "no agent process or zombie left");
    assert_eq!(leftovers(&runs), 0, "the run directory is gone");
}

#[tokio::test]
async fn dropping_the_run_midway_kills_the_agent_and_removes_its_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let marker = format!("302.{}", std::process::id());
    let bin = script(root.path(), "slow-agent", &format!("sleep {marker}"));
    let (spec, runs) = spec(root.path(), bin);
    let runner = Runner::new(1);
    let result = tokio::time::timeout(Duration::from_millis(800), async {
        let run = runner.run(&spec, |_| String::new());
        tokio::pin!(run);
        // Wait until the agent is really running, then let the timeout drop the run.
        loop {
            tokio::select! {
                r = &mut run => return r.map(|_| ()),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    if count_processes_matching(&marker) > 0 {
                        break;
                    }
                }
            }
        }
        std::future::pending::<Result<(), RunnerError>>().await
    })
    .await;
    assert!(result.is_err(), "the caller gave up while the agent ran: {result:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while count_processes_matching(&marker) > 0 || leftovers(&runs) > 0 {
        assert!(Instant::now() < deadline, "process or directory left after the future was dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_missing_or_non_executable_binary_is_a_clear_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let (spec_missing, runs) = spec(root.path(), root.path().join("no-such-agent"));
    let err = bounded(Runner::new(1).run(&spec_missing, |_| String::new())).await.expect_err("missing");
    assert!(matches!(err, RunnerError::BinaryMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-agent"));
    let plain = root.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\nexit 0\n").expect("write");
    let (spec_plain, _) = spec(root.path(), plain);
    let err = bounded(Runner::new(1).run(&spec_plain, |_| String::new())).await.expect_err("not executable");
    assert!(matches!(err, RunnerError::NotExecutable { .. }), "{err:?}");
    assert_eq!(leftovers(&runs), 0);
}

#[tokio::test]
async fn exit_0_without_a_token_is_not_a_success() {
    let root = tempfile::tempdir().expect("tempdir");
    let bin = script(root.path(), "quiet-agent", "exit 0");
    let (spec, runs) = spec(root.path(), bin);
    let err = bounded(Runner::new(1).run(&spec, |_| String::new())).await.expect_err("no token");
    assert_eq!(err.kind(), "no_token");
    assert_eq!(leftovers(&runs), 0);
}

#[tokio::test]
async fn the_child_sees_a_private_directory_a_0600_config_and_no_vault_variables() {
    let root = tempfile::tempdir().expect("tempdir");
    let report = root.path().join("report");
    let bin = script(
        root.path(),
        "inspect-agent",
        &format!(
            "cfg=${{2#-config=}}\n{{ stat -c %a \"$cfg\"; stat -c %a \"$(dirname \"$cfg\")\"; env | sort; }} > {}\nprintf tok > \"$(dirname \"$cfg\")/token\"",
            report.display()
        ),
    );
    let (mut spec, _) = spec(root.path(), bin);
    spec.env.extra.push(("VAULT_ADDR".into(), "http://evil".into()));
    let run = bounded(Runner::new(1).run(&spec, |_| "config".into())).await.expect("token");
    assert_eq!(run.token.expose_secret(), "tok");
    let seen = std::fs::read_to_string(&report).expect("report");
    let mut lines = seen.lines();
    assert_eq!(lines.next(), Some("600"), "config mode");
    assert_eq!(lines.next(), Some("700"), "run directory mode");
    assert!(!seen.contains("VAULT_") && !seen.contains("BAO_"), "{seen}");
}

#[tokio::test]
async fn at_most_max_concurrent_agents_run_at_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let log = root.path().join("overlap");
    // Records start and end; the test counts the largest overlap.
    let bin = script(
        root.path(),
        "counting-agent",
        &format!(
            "echo start >> {l}\nsleep 0.5\necho end >> {l}\ncfg=${{2#-config=}}\nprintf tok > \"$(dirname \"$cfg\")/token\"",
            l = log.display()
        ),
    );
    let (spec, runs) = spec(root.path(), bin);
    let runner = Runner::new(2);
    assert_eq!(runner.max_concurrent(), 2);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (runner, spec) = (runner.clone(), spec.clone());
        set.spawn(async move { runner.run(&spec, |_| String::new()).await.map(|_| ()) });
    }
    while let Some(r) = bounded(set.join_next()).await {
        r.expect("joined").expect("token");
    }
    let took = started.elapsed();
    let (mut now, mut max, mut starts) = (0i32, 0i32, 0);
    for line in std::fs::read_to_string(&log).expect("log").lines() {
        if line == "start" {
            now += 1;
            starts += 1;
        } else {
            now -= 1;
        }
        max = max.max(now);
    }
    assert_eq!(starts, 4);
    assert_eq!(max, 2, "two at a time");
    assert!(took >= Duration::from_millis(950), "four half-second runs two at a time: {took:?}");
    assert_eq!(runner.running(), 0);
    assert_eq!(leftovers(&runs), 0);
}

#[tokio::test]
async fn a_config_the_agent_refuses_is_reported_with_the_agents_own_words() {
    let root = tempfile::tempdir().expect("tempdir");
    let (spec, runs) = spec(root.path(), bao_bin());
    // The real agent prints start-up errors on stdout, not stderr.
    let err =
        bounded(Runner::new(1).run(&spec, |_| "auto_auth {\n  method \"jwt\" {\n".into())).await.expect_err("refused");
    match &err {
        RunnerError::ConfigRejected { detail } => {
            assert!(detail.contains("error loading configuration"), "{detail}")
        }
        other => panic!("expected ConfigRejected, got {other:?}"),
    }
    let err = bounded(Runner::new(1).run(&spec, |sink| {
        format!(
            "vault {{\n  address = \"http://127.0.0.1:1\"\n}}\nauto_auth {{\n  method \"jwt\" {{\n    config = {{\n      path = \"/nonexistent\"\n      role = \"app\"\n    }}\n  }}\n  sink \"file\" {{\n    config = {{\n      path = \"{}\"\n      mode = \"0600\"\n    }}\n  }}\n}}\n",
            sink.display()
        )
    }))
    .await
    .expect_err("refused");
    assert!(
        matches!(&err, RunnerError::ConfigRejected { detail } if detail.contains("could not parse 'mode' as integer")),
        "{err:?}"
    );
    assert_eq!(leftovers(&runs), 0);
}

#[tokio::test]
async fn agent_output_is_bounded_keeps_its_end_and_is_scrubbed() {
    let root = tempfile::tempdir().expect("tempdir");
    // 2 MB of noise on both streams (more than a pipe holds), a token-like string, then the real error.
    let bin = script(
        root.path(),
        "noisy-agent",
        "i=0\nwhile [ $i -lt 20000 ]; do echo \"noise line $i ..............................................................................\"; i=$((i+1)); done\n\
         i=0\nwhile [ $i -lt 20000 ]; do echo \"noise line $i ..............................................................................\" >&2; i=$((i+1)); done\n\
         echo 'leaked s.AbCdEfGhIjKlMnOpQrStUvWx and nonce = \"n0nce-value\"' >&2\n\
         echo '* role \"r\" could not be found' >&2\nexit 1",
    );
    let (mut spec, runs) = spec(root.path(), bin);
    spec.output_limit = 4096;
    let err = bounded(Runner::new(1).run(&spec, |_| String::new())).await.expect_err("fails");
    match &err {
        RunnerError::LoginRejected { reason, cause } => {
            assert_eq!(*cause, Some(KnownCause::RoleNotFound));
            assert!(reason.contains("role \"r\""), "{reason}");
        }
        other => panic!("expected LoginRejected, got {other:?}"),
    }
    let text = format!("{err} {err:?}");
    assert!(!text.contains("AbCdEfGhIjKl") && !text.contains("n0nce-value"), "{text}");
    assert_eq!(leftovers(&runs), 0);

    // The same scrubbing applies to the diagnostics of a successful run.
    let bin = script(
        root.path(),
        "chatty-agent",
        "echo 'token s.AbCdEfGhIjKlMnOpQrStUvWx written' >&2\ncfg=${2#-config=}\nprintf 's.AbCdEfGhIjKlMnOpQrStUvWx' > \"$(dirname \"$cfg\")/token\"",
    );
    spec.binary = bin;
    let run = bounded(Runner::new(1).run(&spec, |_| String::new())).await.expect("token");
    assert_eq!(run.token.expose_secret(), "s.AbCdEfGhIjKlMnOpQrStUvWx");
    assert_eq!(run.diagnostics, "token [redacted] written");
}

#[tokio::test]
async fn a_panicking_renderer_leaves_no_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let (spec, runs) = spec(root.path(), bao_bin());
    let joined =
        tokio::spawn(
            async move { Runner::new(1).run(&spec, |_| -> String { panic!("renderer bug") }).await.map(|_| ()) },
        )
        .await;
    assert!(joined.is_err_and(|e| e.is_panic()));
    assert_eq!(leftovers(&runs), 0);
}

#[tokio::test]
async fn a_login_in_a_namespace_is_verified_with_the_namespace_header() {
    let bao = OpenBao::start().await.expect("openbao");
    bao.create_namespace("team-a").await.expect("namespace");
    let issuer = bao.setup_jwt(Some("team-a"), "jwt", "app", "app-read", POLICY, 600).await.expect("jwt");
    let root = tempfile::tempdir().expect("tempdir");
    let jwt = issuer.write_jwt_file(root.path(), "host").expect("jwt file");
    let (spec, runs) = spec(root.path(), bao_bin());
    let run = bounded(Runner::new(1).run(&spec, |sink| {
        jwt_config(&bao.addr, &jwt, "app", sink)
            .replace("mount_path = \"auth/jwt\"", "mount_path = \"auth/jwt\"\n    namespace = \"team-a\"")
    }))
    .await
    .expect("login in the namespace");
    let http = agent_runner::http::client_builder().timeout(Duration::from_secs(5)).build().expect("client");
    let info = verify::lookup_self(&http, &base(&bao.addr), Some("team-a"), &run.token).await.expect("verified");
    assert!(info.policies.contains(&"app-read".to_string()), "{info:?}");
    assert!(info.ttl > Duration::ZERO && info.ttl <= Duration::from_secs(600));
    assert!(!info.accessor.is_empty(), "a service token has an accessor");
    assert_eq!(leftovers(&runs), 0);
}

#[tokio::test]
async fn lookup_self_against_a_closed_port_is_unreachable_within_the_clients_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let http = agent_runner::http::client_builder().timeout(Duration::from_secs(2)).build().expect("client");
    let token = SecretString::from("s.AbCdEfGhIjKlMnOpQrStUvWx");
    let err = bounded(verify::lookup_self(&http, &base(&format!("http://127.0.0.1:{port}")), None, &token))
        .await
        .expect_err("unreachable");
    assert!(matches!(err, VerifyError::Unreachable(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("AbCdEf"), "no token in the error");
}

#[tokio::test]
async fn fifty_real_runs_in_a_row_leave_no_directory_and_no_process() {
    let bed = bed().await;
    let (spec, runs) = spec(bed.root.path(), bao_bin());
    let runner = Runner::new(4);
    let started = Instant::now();
    for _ in 0..50 {
        bounded(runner.run(&spec, |sink| jwt_config(&bed.bao.addr, &bed.jwt, "app", sink))).await.expect("login");
    }
    eprintln!("50 real agent runs: {:?} ({:?} each)", started.elapsed(), started.elapsed() / 50);
    assert_eq!(leftovers(&runs), 0, "run directories left");
    assert_eq!(count_processes_matching(&runs.display().to_string()), 0, "agent processes left");
}

#[tokio::test]
async fn a_use_limited_token_is_refused_by_verification() {
    let bao = OpenBao::start().await.expect("openbao");
    let http = agent_runner::http::client_builder().timeout(Duration::from_secs(5)).build().expect("client");
    let create = |uses: u32| {
        let bao = &bao;
        async move {
            let created = bao
                .api("POST", "auth/token/create", None, Some(json!({"num_uses": uses, "ttl": "1h"})))
                .await
                .expect("token");
            SecretString::from(created["auth"]["client_token"].as_str().expect("token").to_string())
        }
    };
    // lookup-self itself spends one of the three uses.
    let err = verify::lookup_self(&http, &base(&bao.addr), None, &create(3).await).await.expect_err("refused");
    assert!(matches!(err, VerifyError::UseLimited(2)), "{err:?}");
    // With a single use, lookup-self spends it and Vault reports num_uses = -1.
    let err = verify::lookup_self(&http, &base(&bao.addr), None, &create(1).await).await.expect_err("refused");
    assert!(matches!(err, VerifyError::UseLimited(-1)), "{err:?}");
    let info = verify::lookup_self(&http, &base(&bao.addr), None, &create(0).await).await.expect("unlimited is fine");
    assert_eq!(info.num_uses, 0);
    let err = verify::lookup_self(&http, &base(&bao.addr), None, &SecretString::from("s.invalidinvalidinvalid1"))
        .await
        .expect_err("bad token");
    assert!(matches!(err, VerifyError::Rejected { status: 403, .. }), "{err:?}");
}

/// A Vault origin for the verify calls.
fn base(address: &str) -> agent_runner::vault_path::VaultBase {
    agent_runner::vault_path::VaultBase::parse(address).expect("a Vault origin")
}
