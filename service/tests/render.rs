//! Agent config assembly: golden files, the upstream documented shape, the
//! HCL round trip of every accepted value, and the `validate` / `render` binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use auth_service::agent_config::{AgentConfigInput, RenderError, render};
use auth_service::domain::method_block::validate_value;
use auth_service::domain::{MethodBlock, ValidationPolicy, VaultAddress};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};

fn policy() -> ValidationPolicy {
    ValidationPolicy {
        allowed_methods: [auth_service::domain::MethodType::Aws, auth_service::domain::MethodType::Jwt].into(),
        jwt_allowed_dirs: vec![PathBuf::from("/var/run/identity")],
    }
}

fn block(v: Value) -> MethodBlock {
    validate_value(&v, &policy()).expect("test block is valid")
}

fn render_with(b: &MethodBlock, addr: &str, ns: Option<&str>, nonce: Option<&str>) -> Result<String, RenderError> {
    let address = VaultAddress::parse(addr).expect("address");
    let nonce = nonce.map(|n| SecretString::from(n.to_string()));
    render(
        b,
        &AgentConfigInput {
            vault_address: &address,
            namespace: ns,
            sink_path: Path::new("/run/auth-service/agent-x/token"),
            nonce: nonce.as_ref(),
            ca_cert: None,
        },
    )
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
    }
    let expected = std::fs::read_to_string(&path).expect("golden file exists (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(actual, expected, "rendered config differs from {}", path.display());
}

fn parse(hcl_text: &str) -> Value {
    hcl::from_str(hcl_text).expect("rendered HCL parses")
}

#[test]
fn an_iam_config_matches_its_golden_file() {
    let b = block(json!({ "type": "aws", "mount_path": "auth/aws-subaccount",
        "config": { "type": "iam", "role": "foobar", "region": "us-west-2", "header_value": "vault.example.com" } }));
    golden("aws-iam.hcl", &render_with(&b, "https://vault.example.com:8200", Some("team-a"), None).expect("renders"));
}

#[test]
fn an_ec2_config_with_its_nonce_matches_its_golden_file() {
    let b = block(json!({ "type": "aws", "config": { "type": "ec2", "role": "dev-role" } }));
    golden(
        "aws-ec2.hcl",
        &render_with(&b, "https://vault.example.com", None, Some("5defbf9e-a8f9-3063-bdfc-54b7a42a1f95"))
            .expect("renders"),
    );
}

#[test]
fn a_jwt_config_matches_its_golden_file() {
    let b = block(json!({ "type": "jwt", "mount_path": "auth/jwt", "min_backoff": "1s", "max_backoff": "10s",
        "config": { "path": "/var/run/identity/token", "role": "app" } }));
    golden("jwt.hcl", &render_with(&b, "http://127.0.0.1:8200", None, None).expect("renders"));
}

/// The agent documentation's aws examples, field by field: every documented
/// field is in the rendered method block with the same value, and the service's
/// own additions are exactly exit_on_err (and the namespace when set).
#[test]
fn rendered_aws_blocks_carry_the_upstream_documented_fields() {
    // From the Vault Agent docs (auto-auth, AWS method), iam and ec2 examples.
    let documented = [
        (
            "method \"aws\" {\n  mount_path = \"auth/aws-subaccount\"\n  config = {\n    type = \"iam\"\n    role = \"foobar\"\n  }\n}\n",
            json!({ "type": "aws", "mount_path": "auth/aws-subaccount", "config": { "type": "iam", "role": "foobar" } }),
        ),
        (
            "method \"aws\" {\n  mount_path = \"auth/aws\"\n  config = {\n    type = \"ec2\"\n    role = \"dev-role\"\n  }\n}\n",
            json!({ "type": "aws", "mount_path": "auth/aws", "config": { "type": "ec2", "role": "dev-role" } }),
        ),
    ];
    for (doc_hcl, json_block) in documented {
        let doc: Value = parse(doc_hcl);
        let doc_method = &doc["method"]["aws"];
        let rendered =
            parse(&render_with(&block(json_block), "https://vault.example.com", None, None).expect("renders"));
        let method = &rendered["auto_auth"]["method"]["aws"];
        for (key, value) in doc_method.as_object().expect("object") {
            assert_eq!(&method[key], value, "field {key}");
        }
        let mut extra: Vec<_> =
            method.as_object().expect("object").keys().filter(|k| doc_method.get(*k).is_none()).collect();
        extra.sort();
        assert_eq!(extra, ["exit_on_err"], "the service adds exit_on_err inside the method block only");
        assert_eq!(method["exit_on_err"], json!(true));
        assert_eq!(rendered["exit_after_auth"], json!(true));
        assert!(rendered.get("exit_on_err").is_none(), "no top-level exit_on_err (the agent ignores it there)");
        assert_eq!(rendered["auto_auth"]["sink"]["file"]["config"]["mode"], json!(384));
    }
}

#[test]
fn the_namespace_goes_on_the_method_block_and_in_the_vault_block() {
    let b = block(json!({ "type": "aws", "config": { "type": "iam", "role": "r" } }));
    let v = parse(&render_with(&b, "https://v.example.com", Some("team-a/"), None).expect("renders"));
    assert_eq!(v["auto_auth"]["method"]["aws"]["namespace"], json!("team-a"));
    assert_eq!(v["vault"]["namespace"], json!("team-a"));
}

#[test]
fn a_namespace_in_both_places_must_agree() {
    let b = block(json!({ "type": "aws", "namespace": "team-a", "config": { "type": "iam", "role": "r" } }));
    assert!(render_with(&b, "https://v.example.com", Some("team-a"), None).is_ok());
    assert!(matches!(
        render_with(&b, "https://v.example.com", Some("team-b"), None),
        Err(RenderError::NamespaceConflict { .. })
    ));
    let v = parse(&render_with(&b, "https://v.example.com", None, None).expect("renders"));
    assert_eq!(
        v["auto_auth"]["method"]["aws"]["namespace"],
        json!("team-a"),
        "the block's own namespace is used alone"
    );
}

#[test]
fn a_nonce_is_only_rendered_for_ec2() {
    let iam = block(json!({ "type": "aws", "config": { "type": "iam", "role": "r" } }));
    assert_eq!(render_with(&iam, "https://v.example.com", None, Some("n")), Err(RenderError::NonceNotApplicable));
    let ec2 = block(json!({ "type": "aws", "config": { "type": "ec2", "role": "r" } }));
    let without = render_with(&ec2, "https://v.example.com", None, None).expect("renders");
    assert!(!without.contains("nonce"));
    let bad = render_with(&ec2, "https://v.example.com", None, Some("a\"b"));
    assert!(matches!(bad, Err(RenderError::Unsafe { field: "nonce", .. })));
}

#[test]
fn jwt_files_are_always_kept_and_asking_for_removal_is_refused_as_on_save() {
    let keep = block(json!({ "type": "jwt", "config": { "path": "/var/run/identity/t", "role": "r" } }));
    let v = parse(&render_with(&keep, "http://127.0.0.1:1", None, None).expect("renders"));
    assert_eq!(v["auto_auth"]["method"]["jwt"]["config"]["remove_jwt_after_reading"], json!(false));
    for config in [
        json!({ "path": "/var/run/identity/t", "role": "r", "remove_jwt_after_reading": true }),
        json!({ "path": "/var/run/identity/t", "role": "r", "remove_jwt_follows_symlinks": false }),
    ] {
        let errors = validate_value(&json!({ "type": "jwt", "config": config }), &policy())
            .expect_err("refused, as saving refuses it");
        assert!(errors.iter().any(|e| e.pointer.starts_with("/config/remove_jwt")), "{errors:?}");
    }
}

#[test]
fn rendering_is_deterministic() {
    let b = block(
        json!({ "type": "aws", "config": { "role": "r", "type": "iam", "region": "us-east-1", "header_value": "h" } }),
    );
    let first = render_with(&b, "https://v.example.com", Some("ns"), None).expect("renders");
    for _ in 0..20 {
        assert_eq!(render_with(&b, "https://v.example.com", Some("ns"), None).expect("renders"), first);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever string an admin sends as a role, header value, namespace or
    /// mount path: either the validator refuses it, or it comes back unchanged
    /// when the rendered HCL is parsed again.
    #[test]
    fn every_accepted_value_survives_the_hcl_round_trip(
        role in prop_oneof![8 => r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,30}[A-Za-z0-9_])?", 1 => any::<String>()],
        header in prop_oneof![6 => r"[ !#-\[\]-~]{1,60}", 2 => r"[ -~]{1,60}", 1 => any::<String>()],
        ns in prop_oneof![8 => r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,10}(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,10}){0,2}/?", 1 => any::<String>()],
        mount in prop_oneof![8 => r"auth/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,20}/?", 1 => any::<String>()],
        region in prop_oneof![8 => r"[a-z]{2}(-[a-z]{2,9}){1,2}-[0-9]{1,2}", 1 => any::<String>()],
        poll in proptest::option::of(1u64..86_400),
    ) {
        let mut config = json!({ "type": "iam", "role": role, "header_value": header, "region": region });
        if let Some(p) = poll { config["credential_poll_interval"] = json!(p); }
        let input = json!({ "type": "aws", "mount_path": mount, "namespace": ns, "config": config });
        let accepted = validate_value(&input, &ValidationPolicy::default());
        let must_accept = [&role, &header, &ns, &mount, &region].iter().all(|s| s.is_ascii() && hcl_unsafe_free(s))
            && role.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) && !role.starts_with(['-', '.']) && !role.ends_with(['-', '.'])
            && mount.starts_with("auth/") && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && region.len() <= 32 && region.split('-').count() >= 3 && region.rsplit('-').next().is_some_and(|d| !d.is_empty() && d.len() <= 2 && d.chars().all(|c| c.is_ascii_digit()))
            && region.split('-').next().is_some_and(|p| p.len() == 2) && !region.split('-').any(str::is_empty)
            && region.split('-').rev().skip(1).all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
            && !ns.contains("//") && !ns.split('/').any(|seg| seg.starts_with('.'))
            && ns.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) && !ns.starts_with('/')
            && !mount.contains("//") && !mount.split('/').any(|seg| seg.starts_with('.'))
            && mount.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) && mount.len() > 5
            && header.chars().all(|c| (' '..='~').contains(&c))
            && !role.is_empty() && role.len() <= 128 && !header.is_empty() && header.len() <= 255 && !ns.is_empty() && ns.len() <= 256 && mount.len() <= 256;
        if must_accept {
            prop_assert!(accepted.is_ok(), "a value in the documented grammar was refused: {:?}", accepted);
        }
        if let Ok(b) = accepted {
            let text = render_with(&b, "https://vault.example.com:8200", None, None).expect("an accepted block renders");
            let v = parse(&text);
            let m = &v["auto_auth"]["method"]["aws"];
            prop_assert_eq!(&m["config"]["role"], &json!(role));
            prop_assert_eq!(&m["config"]["header_value"], &json!(header));
            prop_assert_eq!(&m["config"]["region"], &json!(region));
            prop_assert_eq!(&m["namespace"], &json!(ns.trim_end_matches('/')));
            prop_assert_eq!(&m["mount_path"], &json!(mount.trim_end_matches('/')));
            prop_assert!(!text.contains("$${") && !text.contains("%%{") && !text.contains('\\'), "no escapes in {text}");
        }
    }
}

fn hcl_unsafe_free(s: &str) -> bool {
    !(s.contains("${") || s.contains("%{") || s.contains('"') || s.contains('\\') || s.chars().any(char::is_control))
}

// ---- the binary ----

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_auth-service"));
    c.env_remove("AUTH_SERVICE_ALLOWED_METHODS").env_remove("AUTH_SERVICE_JWT_ALLOWED_DIRS");
    c
}

fn run(mut cmd: Command, stdin: Option<&str>) -> (i32, String, String) {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("auth-service starts");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("auth-service ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn validate_exits_0_for_a_valid_file_and_1_with_a_json_report_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"type":"aws","config":{"type":"iam","role":"r"}}"#).expect("write");
    let mut cmd = bin();
    cmd.arg("validate").arg(&good);
    let (code, _, _) = run(cmd, None);
    assert_eq!(code, 0);

    let mut cmd = bin();
    cmd.args(["validate", "-"]);
    let (code, stdout, _) = run(cmd, Some(r#"{"type":"aws","config":{"type":"iam","role":"r","secret_key":"x"}}"#));
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&stdout).expect("report is JSON");
    assert_eq!(report["valid"], json!(false));
    assert_eq!(report["errors"][0]["pointer"], json!("/config/secret_key"));
    assert!(report["errors"][0]["message"].as_str().expect("message").contains("credential chain"));
}

#[test]
fn validate_honours_allowed_methods_from_the_environment() {
    let block = r#"{"type":"jwt","config":{"path":"/var/run/identity/token","role":"app"}}"#;
    let mut cmd = bin();
    cmd.args(["validate", "-"]);
    assert_eq!(run(cmd, Some(block)).0, 1, "jwt is off by default");
    let mut cmd = bin();
    cmd.args(["validate", "-"])
        .env("AUTH_SERVICE_ALLOWED_METHODS", "aws,jwt")
        .env("AUTH_SERVICE_JWT_ALLOWED_DIRS", "/var/run/identity");
    assert_eq!(run(cmd, Some(block)).0, 0);
}

#[test]
fn validate_of_a_missing_file_is_a_usage_error() {
    let mut cmd = bin();
    cmd.args(["validate", "/nonexistent/block.json"]);
    let (code, stdout, stderr) = run(cmd, None);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("cannot read /nonexistent/block.json"), "{stderr}");
}

#[test]
fn render_prints_the_full_config_and_shows_a_nonce_only_when_given() {
    let ec2 = r#"{"type":"aws","config":{"type":"ec2","role":"dev-role"}}"#;
    let mut cmd = bin();
    cmd.args([
        "render",
        "--method",
        "-",
        "--vault-addr",
        "https://vault.example.com:8200",
        "--namespace",
        "team-a",
        "--sink-path",
        "/tmp/s/token",
    ]);
    let (code, stdout, stderr) = run(cmd, Some(ec2));
    assert_eq!(code, 0, "{stderr}");
    let v = parse(&stdout);
    assert_eq!(v["vault"]["address"], json!("https://vault.example.com:8200"));
    assert_eq!(v["auto_auth"]["method"]["aws"]["namespace"], json!("team-a"));
    assert_eq!(v["auto_auth"]["sink"]["file"]["config"]["path"], json!("/tmp/s/token"));
    assert!(v["auto_auth"]["method"]["aws"]["config"].get("nonce").is_none());
    assert!(stderr.contains("--nonce"));

    let mut cmd = bin();
    cmd.args(["render", "--method", "-", "--vault-addr", "https://vault.example.com", "--nonce", "my-nonce-1"]);
    let (code, stdout, _) = run(cmd, Some(ec2));
    assert_eq!(code, 0);
    assert_eq!(parse(&stdout)["auto_auth"]["method"]["aws"]["config"]["nonce"], json!("my-nonce-1"));
}

#[test]
fn render_reports_an_invalid_block_like_validate_and_refuses_bad_flags() {
    let mut cmd = bin();
    cmd.args(["render", "--method", "-", "--vault-addr", "https://vault.example.com"]);
    let (code, stdout, _) = run(cmd, Some(r#"{"type":"aws","config":{"type":"iam"}}"#));
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&stdout).expect("report");
    assert_eq!(report["errors"][0]["pointer"], json!("/config/role"));

    for (flag, value) in [("--vault-addr", "vault.example.com"), ("--namespace", "../x"), ("--sink-path", "/tmp/${x}")]
    {
        let mut cmd = bin();
        cmd.args(["render", "--method", "-"]);
        if flag != "--vault-addr" {
            cmd.args(["--vault-addr", "https://v.example.com"]);
        }
        cmd.args([flag, value]);
        let (code, stdout, stderr) = run(cmd, Some(r#"{"type":"aws","config":{"type":"iam","role":"r"}}"#));
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(stdout.is_empty());
    }
}

#[test]
fn an_operator_ca_bundle_goes_into_the_vault_block() {
    let b = block(json!({ "type": "aws", "config": { "type": "iam", "role": "r" } }));
    let address = VaultAddress::parse("https://vault.example.com:8200").expect("address");
    let text = render(
        &b,
        &AgentConfigInput {
            vault_address: &address,
            namespace: None,
            sink_path: Path::new("/run/x/token"),
            nonce: None,
            ca_cert: Some(Path::new("/etc/auth-service/vault-ca.pem")),
        },
    )
    .expect("renders");
    assert_eq!(parse(&text)["vault"]["ca_cert"], json!("/etc/auth-service/vault-ca.pem"));
    let bad = render(
        &b,
        &AgentConfigInput {
            vault_address: &address,
            namespace: None,
            sink_path: Path::new("/run/x/token"),
            nonce: None,
            ca_cert: Some(Path::new("/etc/${x}.pem")),
        },
    );
    assert!(matches!(bad, Err(RenderError::Unsafe { .. })));
}
