use super::*;
use std::collections::HashMap;

fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::load_with(None, &move |k| map.get(k).cloned())
}

#[test]
fn defaults_follow_the_contract() {
    let s = load(&[]).expect("defaults load");
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database_url, "sqlite://./data/auth-service.db");
    assert_eq!(s.agent_bin, PathBuf::from("vault"));
    assert_eq!(s.allowed_methods, BTreeSet::from([MethodType::Aws]));
    assert_eq!(s.agent_timeout, Duration::from_secs(30));
    assert_eq!(s.log_format, LogFormat::Pretty);
    assert!(s.operator_key.is_none());
    assert!(s.vault_addresses.is_empty(), "no profile can be saved until the operator lists origins");
    assert_eq!(s.aws_identity, AwsIdentityMode::PerTenantRole);
}

#[test]
fn a_short_operator_key_is_refused_and_the_error_names_the_variable() {
    let err = load(&[("AUTH_SERVICE_OPERATOR_KEY", "short")]).expect_err("refused");
    assert!(err.0.contains("AUTH_SERVICE_OPERATOR_KEY"), "{}", err.0);
    assert!(!err.0.contains("short"), "the key itself must not be echoed");
}

#[test]
fn the_environment_wins_over_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nagent_timeout = \"5s\"\n").expect("write");
    let s = Settings::load_with(Some(&file), &|k| (k == "AUTH_SERVICE_LISTEN").then(|| "127.0.0.1:9100".into()))
        .expect("loads");
    assert_eq!(s.listen.port(), 9100);
    assert_eq!(s.agent_timeout, Duration::from_secs(5));
}

#[test]
fn unknown_file_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "listn = \"127.0.0.1:9000\"\n").expect("write");
    let err = Settings::load_with(Some(&file), &|_| None).expect_err("refused");
    assert!(err.0.contains("listn"), "{}", err.0);
}

#[test]
fn bad_values_name_their_variable() {
    for (var, value) in [
        ("AUTH_SERVICE_LISTEN", "nowhere"),
        ("AUTH_SERVICE_AGENT_TIMEOUT", "soon"),
        ("AUTH_SERVICE_ALLOWED_METHODS", "aws,kerberos"),
        ("AUTH_SERVICE_LOG_FORMAT", "xml"),
        ("AUTH_SERVICE_DATABASE_URL", "mysql://x"),
        ("AUTH_SERVICE_MAX_CONCURRENT_AGENTS", "0"),
        ("AUTH_SERVICE_MAX_CONCURRENT_AGENTS", "lots"),
        ("AUTH_SERVICE_LOGIN_BACKOFF_INITIAL", "0s"),
        ("AUTH_SERVICE_JWT_ALLOWED_DIRS", "relative/dir"),
        ("AUTH_SERVICE_AGENT_TEMP_DIR", "/tmp/a\"b"),
        ("AUTH_SERVICE_AGENT_TEMP_DIR", "relative"),
        ("AUTH_SERVICE_VAULT_CA_CERT", "/nonexistent/ca.pem"),
        ("AUTH_SERVICE_VAULT_CA_CERT", "/etc/hostname"),
        ("AUTH_SERVICE_VAULT_CA_CERT", "relative.pem"),
        ("AUTH_SERVICE_VAULT_ADDRESSES", "vault.example.com"),
        ("AUTH_SERVICE_AWS_IDENTITY", "instance"),
        ("AUTH_SERVICE_AWS_STS_ENDPOINT", "sts.amazonaws.com"),
        ("AUTH_SERVICE_WORKERS", "0"),
        ("AUTH_SERVICE_RATE_LIMIT_ADMIN", "-3"),
    ] {
        let err = load(&[(var, value)]).expect_err(var);
        assert!(err.0.contains(var), "{var}: {}", err.0);
    }
}

#[test]
fn integers_in_the_file_are_integers_and_durations_are_strings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "max_concurrent_agents = 4\nagent_timeout = \"45s\"\nallowed_methods = [\"aws\", \"jwt\"]\njwt_allowed_dirs = [\"/srv/jwt\"]\n",
    )
    .expect("write");
    let s = Settings::load_with(Some(&file), &|_| None).expect("loads");
    assert_eq!(s.max_concurrent_agents, 4);
    assert_eq!(s.agent_timeout, Duration::from_secs(45));
    assert_eq!(s.allowed_methods, BTreeSet::from([MethodType::Aws, MethodType::Jwt]));
    assert_eq!(s.jwt_allowed_dirs, vec![PathBuf::from("/srv/jwt")]);
}

#[test]
fn a_duration_written_as_a_number_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "agent_timeout = 30\n").expect("write");
    let err = Settings::load_with(Some(&file), &|_| None).expect_err("refused");
    assert!(err.0.contains("agent_timeout (config file)") && err.0.contains("30s"), "{}", err.0);
}

#[test]
fn a_wrong_type_in_the_file_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "max_concurrent_agents = \"many\"\n").expect("write");
    let err = Settings::load_with(Some(&file), &|_| None).expect_err("refused");
    assert!(err.0.contains("max_concurrent_agents (config file)"), "{}", err.0);
}

#[test]
fn unrelated_auth_service_variables_are_ignored() {
    let s = load(&[("AUTH_SERVICE_TEST_REQUIRE_POSTGRES", "1")]).expect("loads");
    assert_eq!(s.max_concurrent_agents, 4);
}

#[test]
fn debug_output_never_shows_the_operator_key() {
    let key = "k".repeat(40);
    let s = load(&[("AUTH_SERVICE_OPERATOR_KEY", &key)]).expect("loads");
    assert!(!format!("{s:?}").contains(&key));
    assert!(s.is_operator_key(&key));
    assert!(!s.is_operator_key("nope"));
}
