//! The rendered configuration, run by the real OpenBao agent against a real
//! OpenBao server: it is accepted, logs in, and every value arrives exactly.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use api_tests::{OpenBao, bao_bin};
use auth_service::agent_config::{AgentConfigInput, render};
use auth_service::domain::method_block::validate_value;
use auth_service::domain::{MethodType, ValidationPolicy, VaultAddress};
use serde_json::{Value, json};

struct AgentResult {
    code: Option<i32>,
    token: String,
    stderr: String,
    elapsed: Duration,
}

/// Render `block` for `bao` and run `bao agent` on it, bounded by 20 s.
fn run_agent(addr: &str, dir: &Path, block: &Value, namespace: Option<&str>) -> AgentResult {
    let policy = ValidationPolicy {
        allowed_methods: [MethodType::Aws, MethodType::Jwt].into(),
        jwt_allowed_dirs: vec![dir.to_path_buf()],
    };
    let block = validate_value(block, &policy).expect("the test block is valid");
    let sink = dir.join("sink-token");
    let address = VaultAddress::parse(addr).expect("address");
    let hcl = render(
        &block,
        &AgentConfigInput { vault_address: &address, namespace, sink_path: &sink, nonce: None, ca_cert: None },
    )
    .expect("renders");
    let config = dir.join("agent.hcl");
    std::fs::write(&config, hcl).expect("write config");
    let started = Instant::now();
    let mut child = Command::new(bao_bin())
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .arg("-exit-after-auth")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("agent.err")).expect("stderr file"))
        .spawn()
        .expect("bao agent starts");
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the agent did not exit within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    AgentResult {
        code,
        token: std::fs::read_to_string(&sink).unwrap_or_default(),
        stderr: std::fs::read_to_string(dir.join("agent.err")).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

fn jwt_block(path: &Path, role: &str) -> Value {
    json!({ "type": "jwt", "mount_path": "auth/jwt/", "min_backoff": "1s", "max_backoff": "2s",
            "config": { "path": path.display().to_string(), "role": role } })
}

const POLICY: &str = "path \"secret/data/app/*\" { capabilities = [\"read\"] }\n";

#[tokio::test]
async fn the_real_agent_accepts_a_rendered_jwt_config_and_logs_in_with_the_exact_role() {
    let bao = OpenBao::start_with_audit().await.expect("openbao");
    // A role name using every character class the validator accepts.
    let role = "App_role.v-2";
    let issuer = bao.setup_jwt(None, "jwt", role, "app-read", POLICY, 3600).await.expect("jwt");
    let dir = tempfile::tempdir().expect("tempdir");
    let jwt = issuer.write_jwt_file(dir.path(), "host-1").expect("jwt file");

    let (addr, dirp, jwt2) = (bao.addr.clone(), dir.path().to_path_buf(), jwt.clone());
    let result = tokio::task::spawn_blocking(move || run_agent(&addr, &dirp, &jwt_block(&jwt2, role), None))
        .await
        .expect("joined");
    assert_eq!(result.code, Some(0), "agent failed: {}", result.stderr);
    assert!(!result.token.is_empty(), "the sink holds the token");
    let info = bao.token_lookup(&result.token).await.expect("lookup").expect("the token is valid");
    assert!(info["data"]["policies"].as_array().expect("policies").contains(&json!("app-read")));
    assert!(jwt.exists(), "remove_jwt_after_reading = false keeps the host's token file");

    // The raw audit log shows what the server received: exactly our role.
    let audit = bao.audit_log();
    let login = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v.pointer("/request/path").and_then(Value::as_str) == Some("auth/jwt/login")
                && v["type"] == json!("request")
        })
        .expect("a login request in the audit log");
    assert_eq!(login.pointer("/request/data/role"), Some(&json!(role)));
}

#[tokio::test]
async fn a_wrong_role_ends_the_real_agent_at_once_because_exit_on_err_is_in_the_method_block() {
    let bao = OpenBao::start().await.expect("openbao");
    let issuer = bao.setup_jwt(None, "jwt", "app", "app-read", POLICY, 3600).await.expect("jwt");
    let dir = tempfile::tempdir().expect("tempdir");
    let jwt = issuer.write_jwt_file(dir.path(), "host-1").expect("jwt file");
    let addr = bao.addr.clone();
    let dirp = dir.path().to_path_buf();
    let result = tokio::task::spawn_blocking(move || run_agent(&addr, &dirp, &jwt_block(&jwt, "nope"), None))
        .await
        .expect("joined");
    assert_eq!(result.code, Some(1), "{}", result.stderr);
    assert!(result.token.is_empty());
    assert!(result.stderr.contains("nope"), "{}", result.stderr);
    assert!(result.elapsed < Duration::from_secs(5), "took {:?}", result.elapsed);
}

#[tokio::test]
async fn the_profile_namespace_on_the_method_block_makes_the_real_agent_log_in_there() {
    let bao = OpenBao::start().await.expect("openbao");
    bao.create_namespace("team-a").await.expect("namespace");
    let issuer = bao.setup_jwt(Some("team-a"), "jwt", "app", "app-read", POLICY, 3600).await.expect("jwt in namespace");
    let dir = tempfile::tempdir().expect("tempdir");
    let jwt = issuer.write_jwt_file(dir.path(), "host-1").expect("jwt file");
    let addr = bao.addr.clone();
    let dirp = dir.path().to_path_buf();
    let result = tokio::task::spawn_blocking(move || run_agent(&addr, &dirp, &jwt_block(&jwt, "app"), Some("team-a")))
        .await
        .expect("joined");
    assert_eq!(result.code, Some(0), "{}", result.stderr);
    assert!(!result.token.is_empty());
}
