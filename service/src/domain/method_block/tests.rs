//! The allowed-methods list, stored blocks and namespaces.

use super::*;

#[test]
fn a_stored_block_loads_as_the_written_value_and_only_a_settings_change_refuses_it() {
    let jwt_policy = ValidationPolicy {
        allowed_methods: BTreeSet::from([MethodType::Aws, MethodType::Jwt]),
        jwt_allowed_dirs: vec![PathBuf::from("/var/run/jwt")],
    };
    for (block, policy) in [
        (
            serde_json::json!({"type": "aws", "mount_path": "auth/aws-prod/", "namespace": "team-a/",
                "config": {"type": "iam", "role": "r", "region": "eu-west-1", "header_value": "vault.example.com"}}),
            ValidationPolicy::default(),
        ),
        (serde_json::json!({"type": "aws", "config": {"type": "ec2", "role": "r"}}), ValidationPolicy::default()),
        (
            serde_json::json!({"type": "jwt", "config": {"path": "/var/run/jwt/t1/token", "role": "app"}}),
            jwt_policy.clone(),
        ),
    ] {
        let written = validate_value(&block, &policy).expect("valid on write");
        assert_eq!(from_stored(&block, &policy).expect("loads"), written, "{block}");
    }
    // The settings changed since: the type is disabled, or the folder is no longer allowed.
    let jwt = serde_json::json!({"type": "jwt", "config": {"path": "/var/run/jwt/t1/token", "role": "app"}});
    let aws_only = from_stored(&jwt, &ValidationPolicy::default()).expect_err("disabled");
    assert!(aws_only[0].message.contains("not enabled"), "{aws_only:?}");
    let moved = ValidationPolicy { jwt_allowed_dirs: vec![PathBuf::from("/srv/jwt")], ..jwt_policy };
    assert_eq!(from_stored(&jwt, &moved).expect_err("outside")[0].pointer, "/config/path");
}

#[test]
fn an_allowed_methods_list_names_an_unknown_type_and_refuses_an_empty_list() {
    let unknown = ValidationPolicy::parse_allowed_methods("aws, Foo").expect_err("unknown");
    assert_eq!(unknown.to_string(), format!("unknown method type \"Foo\"; known types: {}", known_types()));
    let empty = ValidationPolicy::parse_allowed_methods(" , ").expect_err("empty");
    assert_eq!(empty.to_string(), "the list of allowed method types is empty; use at least \"aws\"");
}

#[test]
fn a_namespace_problem_reads_as_the_method_block_checks_word_it() {
    let bad = "a b";
    assert_eq!(Namespace::parse(bad).expect_err("bad").to_string(), namespace_problem(bad).expect("problem"));
}
