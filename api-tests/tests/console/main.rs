//! The admin console in a real browser: headless Chromium (Debian's package),
//! driven by Playwright (`api-tests/console/console_test.py`, run with the
//! private venv `tools/venv-test`), against the real `auth-service` binary,
//! a real OpenBao with jwt auth and the real `bao agent`. A loopback IMDS
//! stand-in gives this host an EC2 instance id for the EC2 nonce panel.
//!
//! axe-core (npm, installed into tools/npm) checks every screen at WCAG 2.1 AA.
//! `scripts/install-browser.sh` installs Chromium, Playwright and axe-core; when
//! they are missing this test fails (it never skips silently).

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only some of them")]
mod helpers;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use api_tests::{OpenBao, Postgres, workspace_root};
use serde_json::json;

use helpers::{App, AppOptions, assert_no_secrets_logged, bao_with_jwt, imds};

/// The instance id the IMDS stand-in reports.
const INSTANCE_ID: &str = "i-0123456789abcdef0";
/// How long the whole browser script may take (both screen sizes, every page, axe on each).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(420);
/// What the profile with leases may do: database credentials, and renew or revoke them.
const DB_POLICY: &str = r#"
path "database/creds/app" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
"#;
/// The profile whose leases the console renews and revokes.
const LEASE_PROFILE: &str = "db-creds";

/// OpenBao's database engine on a real PostgreSQL and a jwt role `db` that may read
/// `database/creds/app`: each read through the service is a lease of this tenant's profile.
async fn database_leases(bao: &OpenBao) -> Postgres {
    let pg = Postgres::start().await.expect("postgres (bash scripts/install-tools.sh installs it)");
    bao.setup_database(&pg, "app", 3600, 86_400).await.expect("database engine");
    bao.api("PUT", "sys/policies/acl/db-user", None, Some(json!({ "policy": DB_POLICY }))).await.expect("policy");
    let role = json!({ "role_type": "jwt", "bound_audiences": ["bao-test"], "user_claim": "sub",
        "token_policies": ["db-user"], "token_ttl": 3600, "token_max_ttl": 14400 });
    bao.api("POST", "auth/jwt/role/db", None, Some(role)).await.expect("jwt role db");
    pg
}

/// The service's bound on one login, short so that a cancelled test's agent ends soon.
const AGENT_TIMEOUT: &str = "10s";

/// The browser, `$CHROMIUM_BIN` or Debian's `/usr/bin/chromium`.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM_BIN").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Fail (never skip) when Chromium, Playwright or axe-core is missing, saying how to install them.
fn require_browser_tools(python: &Path, axe: &Path) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let how = "run `bash scripts/install-browser.sh` (Debian's chromium, Playwright from PyPI into tools/venv-test, axe-core from npm into tools/npm)";
    let mut missing = Vec::new();
    if !chromium().exists() {
        missing.push(format!("Chromium ({})", chromium().display()));
    }
    let playwright_ok = python.exists()
        && Command::new(python)
            .args(["-c", "import playwright.sync_api"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !playwright_ok {
        missing.push(format!("Playwright in {}", python.display()));
    }
    if !axe.exists() {
        missing.push(format!("axe-core ({})", axe.display()));
    }
    assert!(
        missing.is_empty(),
        "the console browser test needs {}: {how}{}",
        missing.join(" and "),
        if ci { " (CI=true: the CI script must install them)" } else { "" }
    );
}

/// Run the browser script with a hard timeout (its whole process group is killed
/// then); returns (exit code or None when killed, stdout, stderr).
fn run_script(mut cmd: Command, timeout: Duration) -> (Option<i32>, String, String) {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("the browser script starts");
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("stdout")));
    let err = reader(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + timeout;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                // Python, Playwright's driver and Chromium share the group.
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    // Any process of the group still alive (a stray renderer) goes too.
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL);
    (code, out.join().unwrap_or_default(), err.join().unwrap_or_default())
}

#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    let root = workspace_root();
    let python = root.join("tools/venv-test/bin/python");
    require_browser_tools(&python, &root.join("tools/npm/node_modules/axe-core/axe.min.js"));

    let (bao, issuer) = bao_with_jwt(3600).await;
    let imds = imds(INSTANCE_ID).await;
    let app = App::spawn_with(AppOptions {
        extra_env: vec![
            ("AUTH_SERVICE_EC2_METADATA_ENDPOINT".into(), imds),
            ("AUTH_SERVICE_AGENT_TIMEOUT".into(), AGENT_TIMEOUT.into()),
        ],
        ..AppOptions::default()
    })
    .await;
    // A "Vault" that accepts connections and never answers: a test against it runs until cancelled.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("silent listener");
    let silent_addr = format!("http://{}", silent.local_addr().expect("address"));
    // A tenant without profiles: the console's first-run guide.
    let empty = app.tenant("team-new").await;
    let t = app.tenant("team-a").await;
    let (s, b, _) = app
        .call("PATCH", "/v1/tenants/team-a", &app.operator_key, Some(json!({"methods": ["iam", "ec2", "jwt"]})))
        .await;
    assert_eq!(s, 200, "{b}");
    let ec2_profile = "ec2-host";
    let body = json!({ "name": ec2_profile, "vault_address": bao.addr, "test_secret_path": "secret/data/app/db",
        "method": { "type": "aws", "mount_path": "auth/aws", "config": { "type": "ec2", "role": "dev-role" } } });
    let (s, b, _) = app.call("POST", "/v1/tenants/team-a/profiles", &t.admin, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let jwt_path = app.jwt_file(&issuer, &t, "token");
    // Three live leases (one renewed and one revoked per screen size).
    let pg = database_leases(&bao).await;
    app.jwt_profile(&t, LEASE_PROFILE, &bao, &jwt_path, "db", json!({})).await;
    for _ in 0..3 {
        let path = format!("/v1/tenants/{}/profiles/{LEASE_PROFILE}/secrets/database/creds/app", t.id);
        let (s, b, _) = app.call("GET", &path, &t.read, None).await;
        assert!(s == 200 && b["lease_id"].as_str().is_some_and(|l| !l.is_empty()), "{s} {b}");
    }

    let shots = root.join("target/console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("screenshot folder");

    let mut cmd = Command::new(&python);
    cmd.arg(root.join("api-tests/console/console_test.py"))
        .current_dir(&root)
        .env("CONSOLE_URL", format!("{}/console", app.base))
        .env("ADMIN_KEY", &t.admin)
        .env("READ_KEY", &t.read)
        .env("TENANT", &t.id)
        .env("VAULT_ADDR", &bao.addr)
        .env("JWT_PATH", &jwt_path)
        .env("JWT_DIR", app.jwt_dir.join(&t.id))
        .env("SILENT_VAULT_ADDR", &silent_addr)
        .env("EMPTY_ADMIN_KEY", &empty.admin)
        .env("AXE_JS", root.join("tools/npm/node_modules/axe-core/axe.min.js"))
        .env("EC2_PROFILE", ec2_profile)
        .env("LEASE_PROFILE", LEASE_PROFILE)
        .env("EC2_INSTANCE_ID", INSTANCE_ID)
        .env("CHROMIUM_BIN", chromium())
        .env("SCREENSHOT_DIR", &shots)
        .env("PYTHONUNBUFFERED", "1")
        // Keep the browser's own traffic local: no proxy from the environment.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy");
    let (code, out, err) = tokio::task::spawn_blocking(move || run_script(cmd, SCRIPT_TIMEOUT)).await.expect("joined");
    println!("{out}");
    eprintln!("{err}");
    assert!(code.is_some(), "the browser script did not finish within {SCRIPT_TIMEOUT:?} and was killed");
    assert_eq!(code, Some(0), "the browser script failed (screenshots in {}); see its output above", shots.display());
    assert!(out.lines().any(|l| l.starts_with("console: ") && l.ends_with(" 0 failed")), "no summary line: {out}");
    let pngs = std::fs::read_dir(&shots)
        .expect("screenshots")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count();
    assert!(pngs >= 20, "only {pngs} screenshots in {}", shots.display());
    assert!(
        out.lines().any(|l| l.starts_with("axe: ") && l.ends_with(" at WCAG 2.1 AA, 0 violations")),
        "axe found violations: {out}"
    );
    drop(silent);
    drop(pg);

    // What the browser sent never reached the service's log.
    assert_no_secrets_logged(&app, &bao, &[&t, &empty]);
}
