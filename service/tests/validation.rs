//! The method-block rules, one refusal per case, each asserting the pointer and the message.

use std::collections::BTreeSet;
use std::path::PathBuf;

use auth_service::domain::method_block::{MAX_BLOCK_BYTES, validate_bytes, validate_value};
use auth_service::domain::{Method, MethodType, ValidationPolicy};
use serde_json::{Value, json};

fn aws_only() -> ValidationPolicy {
    ValidationPolicy::default()
}

fn with_jwt() -> ValidationPolicy {
    ValidationPolicy {
        allowed_methods: BTreeSet::from([MethodType::Aws, MethodType::Jwt]),
        jwt_allowed_dirs: vec![PathBuf::from("/var/run/identity")],
    }
}

fn iam(config: Value) -> Value {
    json!({ "type": "aws", "mount_path": "auth/aws", "config": config })
}

/// Validate `block` and assert that one of the errors is at `pointer` and mentions `needle`.
#[track_caller]
fn refused(policy: &ValidationPolicy, block: Value, pointer: &str, needle: &str) {
    let errors = validate_value(&block, policy).expect_err(&format!("must be refused: {block}"));
    let hit = errors.iter().find(|e| e.pointer == pointer);
    let Some(hit) = hit else { panic!("no error at {pointer:?} for {block}; got {errors:#?}") };
    assert!(hit.message.contains(needle), "message at {pointer} {:?} lacks {needle:?}", hit.message);
}

#[test]
fn the_contract_examples_are_accepted() {
    let iam_block = json!({ "type": "aws", "mount_path": "auth/aws",
        "config": { "type": "iam", "role": "alation-agent-role", "header_value": "vault.example.com" } });
    let b = validate_value(&iam_block, &aws_only()).expect("iam example is valid");
    assert_eq!(b.mount_path, "auth/aws");
    assert!(matches!(b.method, Method::AwsIam { ref role, .. } if role == "alation-agent-role"));

    let ec2 = json!({ "type": "aws", "config": { "type": "ec2", "role": "alation-agent-role" } });
    let b = validate_value(&ec2, &aws_only()).expect("ec2 example is valid");
    assert_eq!(b.mount_path, "auth/aws", "mount_path defaults to auth/aws");
    assert!(b.is_ec2());
}

#[test]
fn every_optional_key_is_accepted_and_kept() {
    let block = json!({ "type": "aws", "mount_path": "auth/aws-prod/", "namespace": "team-a/prod",
        "min_backoff": "1s", "max_backoff": "5m",
        "config": { "type": "iam", "role": "r.1-x_y", "region": "eu-central-1",
                    "header_value": "vault.example.com", "credential_poll_interval": 60 } });
    let b = validate_value(&block, &aws_only()).expect("valid");
    assert_eq!(b.mount_path, "auth/aws-prod", "a trailing / is trimmed as the agent does");
    assert_eq!(b.namespace.as_deref(), Some("team-a/prod"));
    assert_eq!(b.min_backoff.as_deref(), Some("1s"));
    match b.method {
        Method::AwsIam { role, region, header_value, credential_poll_interval } => {
            assert_eq!(role, "r.1-x_y");
            assert_eq!(region.as_deref(), Some("eu-central-1"));
            assert_eq!(header_value.as_deref(), Some("vault.example.com"));
            assert_eq!(credential_poll_interval, Some(60));
        }
        other => panic!("expected iam, got {other:?}"),
    }
}

#[test]
fn a_jwt_block_is_accepted_when_enabled_and_inside_an_allowed_folder() {
    let block = json!({ "type": "jwt", "config": { "path": "/var/run/identity/token", "role": "app" } });
    let b = validate_value(&block, &with_jwt()).expect("valid");
    assert_eq!(b.mount_path, "auth/jwt");
    assert_eq!(b.method_type(), MethodType::Jwt);
}

// Keys the service owns.
#[test]
fn service_owned_keys_are_refused_with_remove_it() {
    for key in ["vault", "sink", "sinks", "exit_after_auth", "exit_on_err", "nonce", "wrap_ttl"] {
        let mut block = iam(json!({ "type": "iam", "role": "r" }));
        block[key] = json!(true);
        let needle = if key == "wrap_ttl" { "not a usable token" } else { "the service sets this itself" };
        refused(&aws_only(), block, &format!("/{key}"), needle);
    }
}

#[test]
fn a_nonce_inside_config_is_refused_because_the_service_persists_it() {
    refused(&aws_only(), iam(json!({ "type": "ec2", "role": "r", "nonce": "abc" })), "/config/nonce", "persisted");
}

#[test]
fn static_aws_credentials_are_refused() {
    for key in ["access_key", "secret_key", "session_token"] {
        let mut config = json!({ "type": "iam", "role": "r" });
        config[key] = json!("AKIAEXAMPLE");
        refused(&aws_only(), iam(config), &format!("/config/{key}"), "credential chain");
    }
}

#[test]
fn a_whole_agent_config_is_refused_with_paste_only_the_method_block() {
    refused(
        &aws_only(),
        json!({ "type": "aws", "auto_auth": {}, "config": { "type": "iam", "role": "r" } }),
        "/auto_auth",
        "paste only the method block",
    );
    refused(
        &aws_only(),
        json!({ "type": "aws", "listener": {}, "config": { "type": "iam", "role": "r" } }),
        "/listener",
        "paste only the method block",
    );
}

#[test]
fn near_miss_keys_get_a_did_you_mean() {
    refused(
        &aws_only(),
        iam(json!({ "type": "iam", "role": "r", "header-value": "x" })),
        "/config/header-value",
        "did you mean \"header_value\"",
    );
    refused(
        &aws_only(),
        json!({ "type": "aws", "mountPath": "auth/aws", "config": { "type": "iam", "role": "r" } }),
        "/mountPath",
        "did you mean \"mount_path\"",
    );
    refused(&aws_only(), iam(json!({ "type": "iam", "Role": "r" })), "/config/Role", "did you mean \"role\"");
    refused(
        &aws_only(),
        iam(json!({ "type": "iam", "role": "r", "regoin": "us-east-1" })),
        "/config/regoin",
        "did you mean \"region\"",
    );
    refused(
        &aws_only(),
        iam(json!({ "type": "iam", "role": "r", "credential-poll-interval": 5 })),
        "/config/credential-poll-interval",
        "did you mean \"credential_poll_interval\"",
    );
}

#[test]
fn unknown_keys_without_a_near_miss_list_the_accepted_keys() {
    refused(
        &aws_only(),
        iam(json!({ "type": "iam", "role": "r", "flavour": "x" })),
        "/config/flavour",
        "accepted keys here",
    );
    refused(
        &aws_only(),
        json!({ "type": "aws", "colour": 1, "config": { "type": "iam", "role": "r" } }),
        "/colour",
        "accepted keys here",
    );
}

#[test]
fn iam_only_keys_are_refused_for_ec2() {
    for (key, value) in
        [("region", json!("us-east-1")), ("header_value", json!("x")), ("credential_poll_interval", json!(5))]
    {
        let mut config = json!({ "type": "ec2", "role": "r" });
        config[key] = value;
        refused(&aws_only(), iam(config), &format!("/config/{key}"), "only used by iam logins");
    }
}

#[test]
fn credential_poll_interval_must_be_a_positive_integer() {
    refused(
        &aws_only(),
        iam(json!({ "type": "iam", "role": "r", "credential_poll_interval": "60" })),
        "/config/credential_poll_interval",
        "not the string",
    );
    refused(
        &aws_only(),
        iam(json!({ "type": "iam", "role": "r", "credential_poll_interval": 0 })),
        "/config/credential_poll_interval",
        "too small",
    );
    refused(
        &aws_only(),
        iam(json!({ "type": "iam", "role": "r", "credential_poll_interval": -5 })),
        "/config/credential_poll_interval",
        "too small",
    );
    refused(
        &aws_only(),
        iam(json!({ "type": "iam", "role": "r", "credential_poll_interval": 1.5 })),
        "/config/credential_poll_interval",
        "wrong type",
    );
}

#[test]
fn method_types_must_be_known_and_enabled() {
    refused(
        &aws_only(),
        json!({ "type": "jwt", "config": { "path": "/x", "role": "r" } }),
        "/type",
        "not enabled on this service",
    );
    refused(&aws_only(), json!({ "type": "kubernetes", "config": {} }), "/type", "unsupported method type");
    refused(&aws_only(), json!({ "type": 7, "config": {} }), "/type", "must be a string");
    refused(&aws_only(), json!({ "config": { "type": "iam", "role": "r" } }), "/type", "required");
    refused(
        &aws_only(),
        json!({ "type": "AWS", "config": { "type": "iam", "role": "r" } }),
        "/type",
        "unsupported method type",
    );
}

#[test]
fn config_type_and_role_are_required_and_checked() {
    refused(&aws_only(), json!({ "type": "aws" }), "/config", "required");
    refused(&aws_only(), iam(json!({ "type": "iam" })), "/config/role", "required");
    refused(&aws_only(), iam(json!({ "role": "r" })), "/config/type", "required");
    refused(&aws_only(), iam(json!({ "type": "sts", "role": "r" })), "/config/type", "must be one of");
    refused(&aws_only(), json!({ "type": "aws", "config": "iam" }), "/config", "wrong type");
}

#[test]
fn role_names_follow_vaults_grammar() {
    for bad in ["", "-lead", "trail-", "a b", "a/b", "rôle", "a\"b", "a\\b", "a${x}", "x".repeat(129).as_str()] {
        let block = iam(json!({ "type": "iam", "role": bad }));
        let errors = validate_value(&block, &aws_only()).expect_err(bad);
        assert!(errors.iter().any(|e| e.pointer == "/config/role"), "{bad:?}: {errors:?}");
    }
    for good in ["a", "my-role", "r.1", "A_b-c.d", "9"] {
        validate_value(&iam(json!({ "type": "iam", "role": good })), &aws_only()).expect(good);
    }
}

#[test]
fn regions_must_look_like_aws_regions() {
    for bad in ["US-EAST-1", "us-east", "useast1", "us_east_1", "mars"] {
        refused(&aws_only(), iam(json!({ "type": "iam", "role": "r", "region": bad })), "/config/region", "AWS region");
    }
    for good in ["us-east-1", "us-gov-west-1", "ap-southeast-2", "cn-northwest-1"] {
        validate_value(&iam(json!({ "type": "iam", "role": "r", "region": good })), &aws_only()).expect(good);
    }
}

#[test]
fn mount_paths_are_plain_segments_under_auth() {
    for bad in ["/auth/aws", "aws", "auth/../sys", "auth/./x", "auth//aws", "auth/a b", "auth/", "auth/${x}"] {
        refused(
            &aws_only(),
            json!({ "type": "aws", "mount_path": bad, "config": { "type": "iam", "role": "r" } }),
            "/mount_path",
            "under auth/",
        );
    }
}

#[test]
fn namespaces_are_plain_segments() {
    for bad in ["/team-a", "team-a/../root", "..", "team a", "team\"a", "a//b"] {
        refused(
            &aws_only(),
            json!({ "type": "aws", "namespace": bad, "config": { "type": "iam", "role": "r" } }),
            "/namespace",
            "namespace path",
        );
    }
}

#[test]
fn header_values_refuse_quotes_backslashes_interpolation_and_control_characters() {
    for bad in ["a\"b", "a\\b", "a${b}", "a%{b}", "a\nb", "a\tb", "é", ""] {
        let errors = validate_value(&iam(json!({ "type": "iam", "role": "r", "header_value": bad })), &aws_only())
            .expect_err(bad);
        let e = errors.iter().find(|e| e.pointer == "/config/header_value").expect("pointer");
        assert!(
            e.message.contains("header") || e.message.contains("HCL") || e.message.contains("empty"),
            "{bad:?}: {}",
            e.message
        );
    }
    validate_value(
        &iam(json!({ "type": "iam", "role": "r", "header_value": "vault.example.com:8200 $x %y {z}" })),
        &aws_only(),
    )
    .expect("printable text with lone $ % { is fine");
}

#[test]
fn backoffs_are_durations_and_min_is_not_above_max() {
    refused(
        &aws_only(),
        json!({ "type": "aws", "min_backoff": "soon", "config": { "type": "iam", "role": "r" } }),
        "/min_backoff",
        "duration",
    );
    refused(
        &aws_only(),
        json!({ "type": "aws", "max_backoff": 5, "config": { "type": "iam", "role": "r" } }),
        "/max_backoff",
        "wrong type",
    );
    refused(
        &aws_only(),
        json!({ "type": "aws", "min_backoff": "10m", "max_backoff": "1m", "config": { "type": "iam", "role": "r" } }),
        "/min_backoff",
        "longer than max_backoff",
    );
}

#[test]
fn malformed_input_gets_a_clear_error_not_a_panic() {
    for (bytes, needle) in [
        (&b"{\"type\": \"aws\""[..], "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\"aws\"", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (
            b"{\"type\":\"aws\",\"type\":\"aws\",\"config\":{\"type\":\"iam\",\"role\":\"r\"}} trailing",
            "not valid JSON",
        ),
    ] {
        let errors = validate_bytes(bytes, &aws_only()).expect_err("refused");
        assert_eq!(errors[0].pointer, "");
        assert!(errors[0].message.contains(needle), "{:?}", errors[0].message);
    }
}

#[test]
fn a_body_over_64_kib_is_refused_before_parsing() {
    let big = format!("{{\"type\":\"aws\",\"pad\":\"{}\"}}", "x".repeat(MAX_BLOCK_BYTES));
    let errors = validate_bytes(big.as_bytes(), &aws_only()).expect_err("too big");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("at most 65536 bytes"), "{}", errors[0].message);
}

#[test]
fn deeply_nested_json_is_refused_without_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let errors = validate_bytes(deep.as_bytes(), &aws_only()).expect_err("refused");
    assert_eq!(errors[0].pointer, "");
}

#[test]
fn jwt_paths_must_be_absolute_clean_and_inside_an_allowed_folder() {
    let jwt = |path: &str| json!({ "type": "jwt", "config": { "path": path, "role": "app" } });
    refused(&with_jwt(), jwt("relative/token"), "/config/path", "absolute path");
    refused(&with_jwt(), jwt("/var/run/identity/../../etc/shadow"), "/config/path", "absolute path");
    refused(&with_jwt(), jwt("/etc/shadow"), "/config/path", "may only be read from /var/run/identity");
    refused(&with_jwt(), jwt("/var/run/identity"), "/config/path", "may only be read from");
    let no_dirs = ValidationPolicy { jwt_allowed_dirs: vec![], ..with_jwt() };
    refused(&no_dirs, jwt("/var/run/identity/token"), "/config/path", "AUTH_SERVICE_JWT_ALLOWED_DIRS");
    refused(
        &with_jwt(),
        json!({ "type": "jwt", "config": { "path": "/var/run/identity/t" } }),
        "/config/role",
        "required",
    );
    refused(
        &with_jwt(),
        json!({ "type": "jwt", "config": { "path": "/var/run/identity/t", "role": "r", "jwt": "eyJ..." } }),
        "/config/jwt",
        "stored credential",
    );
    refused(
        &with_jwt(),
        json!({ "type": "jwt", "config": { "path": "/var/run/identity/t", "role": "r", "remove_jwt_after_reading": "yes" } }),
        "/config/remove_jwt_after_reading",
        "leave it out",
    );
    // What saving refuses, validation refuses too (the same words).
    refused(
        &with_jwt(),
        json!({ "type": "jwt", "config": { "path": "/var/run/identity/t", "role": "r", "remove_jwt_after_reading": true } }),
        "/config/remove_jwt_after_reading",
        "true is refused",
    );
    refused(
        &with_jwt(),
        json!({ "type": "jwt", "config": { "path": "/var/run/identity/t", "role": "r", "remove_jwt_follows_symlinks": true } }),
        "/config/remove_jwt_follows_symlinks",
        "leave it out",
    );
}

#[test]
fn every_error_of_a_bad_block_is_reported_at_once_and_ordered_by_pointer() {
    let block = json!({ "type": "aws", "exit_on_err": true, "mountPath": "x",
        "config": { "type": "iam", "role": "", "secret_key": "x", "header-value": "v" } });
    let errors = validate_value(&block, &aws_only()).expect_err("refused");
    let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(pointers, ["/config/header-value", "/config/role", "/config/secret_key", "/exit_on_err", "/mountPath"]);
}
