//! Reading the agent's output for diagnostics: mapping it to known causes
//! that an admin can act on. (Removing secrets from it is [`crate::scrub`]'s job.)
//!
//! The texts matched here were captured from the real agent (OpenBao 2.7.2
//! with `-log-format=json`; see the unit tests) or come from the contract's
//! table of errors users meet (HashiCorp's AWS method, which OpenBao lacks).
//! Start-up errors (config, sink, auth method creation) are printed as plain
//! text on **stdout**, login errors as JSON lines on stderr: the runner hands
//! both streams to [`classify`] (and to [`crate::scrub`] before keeping them).

use crate::RunnerError;

/// Causes the service recognises in agent output, each with a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownCause {
    /// The role does not exist on that mount (`entry for role ... not found`;
    /// OpenBao's jwt method says `role "x" could not be found`).
    RoleNotFound,
    /// The host's IAM principal is not bound to the role.
    PrincipalMismatch,
    /// `header_value` differs from the server's `iam_server_id_header_value`.
    HeaderMismatch,
    /// The ec2 nonce differs from the one Vault remembers for this instance.
    NonceMismatch,
    /// Vault's own AWS identity lacks `iam:GetRole`.
    MissingIamPermission,
    /// Vault's own AWS identity lacks what the `ec2` method needs on the server
    /// side (`ec2:DescribeInstances`, `iam:GetInstanceProfile`).
    Ec2ServerPermission,
    /// AccessDenied on `iam:GetRole` for a role bound with a wildcard
    /// `bound_iam_principal_arn` (Vault resolves the caller's role to match it).
    WildcardPrincipalGetRole,
    /// A policy does not allow what was asked.
    PermissionDenied,
    /// The agent found no AWS credentials on this host.
    AwsCredentialsMissing,
    /// The JWT was refused (signature, issuer, audience, expiry).
    JwtInvalid,
    /// The agent found no JWT in the file named by `config.path`.
    JwtFileUnreadable,
    /// The namespace does not exist on that Vault.
    NamespaceNotFound,
    /// Vault answered `permission denied` to the login request itself: no auth
    /// method is enabled at that mount path (in that namespace).
    MountNotFound,
}

impl KnownCause {
    /// What to do about it.
    pub fn hint(self) -> &'static str {
        match self {
            KnownCause::RoleNotFound => {
                "The role does not exist on that auth mount. Create it in Vault, or fix config.role / mount_path."
            }
            KnownCause::PrincipalMismatch => {
                "This host's IAM role is not bound to the Vault role: add the host's role ARN to bound_iam_principal_arn."
            }
            KnownCause::HeaderMismatch => {
                "Set config.header_value to the server's iam_server_id_header_value (or remove it on both sides)."
            }
            KnownCause::NonceMismatch => {
                "Vault remembers another nonce for this instance (identity-accesslist). Delete that entry in Vault, then reset the EC2 nonce here."
            }
            KnownCause::MissingIamPermission => {
                "Vault's own AWS identity cannot resolve the role ARN: grant it iam:GetRole (and iam:GetUser)."
            }
            KnownCause::Ec2ServerPermission => {
                "Vault's own AWS identity (the server side of the aws auth method) lacks ec2:DescribeInstances or iam:GetInstanceProfile: grant both to the credentials configured in auth/aws/config/client (or Vault's instance role)."
            }
            KnownCause::WildcardPrincipalGetRole => {
                "The Vault role binds bound_iam_principal_arn with a wildcard, so Vault must look the caller's role up with iam:GetRole, which its AWS identity may not do: grant iam:GetRole on those roles to the credentials in auth/aws/config/client, or bind the exact role ARN."
            }
            KnownCause::PermissionDenied => {
                "A Vault policy does not allow this: grant the needed capability on that path."
            }
            KnownCause::AwsCredentialsMissing => {
                "The agent found no AWS credentials on this host: attach an instance profile or provide the host's AWS credential chain."
            }
            KnownCause::JwtInvalid => {
                "Vault refused the JWT: check the mount's jwt_validation_pubkeys / bound_issuer and the role's bound_audiences, and that the token file is fresh."
            }
            KnownCause::JwtFileUnreadable => {
                "The agent found no JWT at config.path: the file must exist, be non-empty and readable by the service's user; whatever writes it (a workload identity provider, a projected service-account token) must keep it there, and the service never lets the agent delete it."
            }
            KnownCause::NamespaceNotFound => {
                "That namespace does not exist on this Vault: fix the profile's namespace, or create the namespace."
            }
            KnownCause::MountNotFound => {
                "Vault refused the login path itself: no auth method is enabled at mount_path (in that namespace). Fix mount_path or the namespace."
            }
        }
    }

    fn detect(text: &str) -> Option<KnownCause> {
        let t = text.to_ascii_lowercase();
        let has = |s: &str| t.contains(s);
        if has("client nonce mismatch") {
            Some(KnownCause::NonceMismatch)
        } else if (has("entry for role") && has("not found"))
            || (has("role \"") && has("could not be found"))
            || has("role not found")
        {
            Some(KnownCause::RoleNotFound)
        } else if has("does not belong to the role") {
            Some(KnownCause::PrincipalMismatch)
        } else if has("x-vault-aws-iam-server-id") || has("missing header") {
            Some(KnownCause::HeaderMismatch)
        } else if has("ec2:describeinstances") || has("iam:getinstanceprofile") {
            Some(KnownCause::Ec2ServerPermission)
        } else if has("iam:getrole") && (has("accessdenied") || has("not authorized")) {
            Some(KnownCause::WildcardPrincipalGetRole)
        } else if has("unable to resolve arn") || has("error looking up full arn") {
            Some(KnownCause::MissingIamPermission)
        } else if !has("unknown auth method")
            && (has("error creating aws auth method")
                || has("nocredentialproviders")
                || has("no valid providers in chain"))
        {
            Some(KnownCause::AwsCredentialsMissing)
        } else if has("latest known jwt is empty") || has("error reading jwt") {
            Some(KnownCause::JwtFileUnreadable)
        } else if has("error validating token")
            || has("no known key successfully validated")
            || has("aud claim")
            || has("invalid audience")
            || has("token is expired")
            || has("failed to verify id token")
            || has("error parsing token")
            || has("invalid jwt")
            || has("invalid issuer")
            || has("iss claim")
            || has("error validating claims")
        {
            Some(KnownCause::JwtInvalid)
        } else if has("namespace not found") {
            Some(KnownCause::NamespaceNotFound)
        } else if has("permission denied") && has("/login") {
            Some(KnownCause::MountNotFound)
        } else if has("permission denied") {
            Some(KnownCause::PermissionDenied)
        } else {
            None
        }
    }
}

/// Classify agent output (stderr JSON lines and/or stdout text) into a known cause, if any.
pub fn classify(output: &str) -> Option<KnownCause> {
    KnownCause::detect(&summarize(output))
}

/// The error-level content of the agent's output: with `-log-format=json`,
/// the `@message` and `error` fields of error and warning lines; other
/// (non-JSON) lines as they are, without the start-up banner.
pub fn summarize(output: &str) -> String {
    summary_parts(output).join("\n")
}

/// One entry per error line (an entry may span lines: Vault's API errors do).
fn summary_parts(output: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for line in output.lines().filter(|l| !is_banner(l)) {
        let line = line.trim();
        // stdout's pointer to the JSON log lines that hold the real error.
        if line.starts_with("Error encountered during run") {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => {
                let level = v.get("@level").and_then(|l| l.as_str()).unwrap_or("");
                if level == "error" || level == "warn" || v.get("error").is_some() {
                    let msg = v.get("@message").and_then(|m| m.as_str()).unwrap_or("");
                    let err = v.get("error").and_then(|e| e.as_str()).unwrap_or("");
                    parts.push(format!("{msg}: {err}").trim_matches([' ', ':']).to_string());
                }
            }
            _ => parts.push(line.to_string()),
        }
    }
    parts.dedup();
    parts
}

/// Lines of the agent's start-up banner on stdout (`==> ...` and indented `key: value`), and blank lines.
pub(crate) fn is_banner(line: &str) -> bool {
    line.trim().is_empty() || line.starts_with("==> ") || line.starts_with(' ') || line.starts_with('\t')
}

/// The `* ...` lines Vault puts in its error responses, with the request they
/// answered; else the last line of the summary.
fn vault_reason(summary: &str) -> String {
    let mut reasons: Vec<&str> = Vec::new();
    let (mut url, mut code, mut namespace) = (None, None, None);
    for line in summary.lines().map(str::trim) {
        if let Some(r) = line.strip_prefix("* ").map(str::trim)
            && !reasons.contains(&r)
        {
            reasons.push(r);
        } else if let Some(u) = line.strip_prefix("URL: ") {
            url = Some(u.trim());
        } else if let Some(c) = line.strip_prefix("Code: ") {
            code = c.split('.').next().map(str::trim);
        } else if let Some(n) = line.strip_prefix("Namespace: ") {
            namespace = Some(n.trim());
        }
    }
    if reasons.is_empty() {
        let last = summary.lines().last().unwrap_or("").trim();
        // The agent's wrapper messages say nothing the error after them does not.
        let last = ["runtime error encountered: ", "error authenticating: "]
            .iter()
            .fold(last, |text, prefix| text.strip_prefix(prefix).unwrap_or(text));
        return last.to_string();
    }
    let mut out = reasons.join("; ");
    let context: Vec<String> = [
        code.map(|c| format!("HTTP {c}")),
        url.map(|u| format!("from {u}")),
        namespace.map(|n| format!("namespace {n}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !context.is_empty() {
        out = format!("{out} ({})", context.join(", "));
    }
    out
}

/// Texts of a connection that never reached Vault (refused, DNS, TLS, wrong scheme).
const UNREACHABLE: [&str; 14] = [
    "connection refused",
    "no such host",
    "dial tcp",
    "i/o timeout",
    "tls: ",
    "x509:",
    "network is unreachable",
    "no route to host",
    "connection reset",
    "connection timed out",
    "context deadline exceeded",
    "http response to https client",
    "malformed http response",
    "\": eof",
];

/// Texts of a configuration the agent refused before trying to log in.
const CONFIG: [&str; 9] = [
    "error loading configuration",
    "error validating configuration",
    "error parsing",
    "failed to parse",
    "could not parse",
    "unknown field",
    "no auto_auth",
    "unknown auth method",
    "error creating file sink",
];

/// The typed failure for an agent that exited (`code`) without a token.
pub(crate) fn failure(code: Option<i32>, output: &str) -> RunnerError {
    let summary = summarize(output);
    let lower = summary.to_ascii_lowercase();
    // A failed connection or TLS handshake means Vault never saw the login:
    // that decides, whatever else the text mentions (unless Vault answered).
    if UNREACHABLE.iter().any(|s| lower.contains(s)) && !lower.contains("code: ") {
        return RunnerError::VaultUnreachable { detail: clip(&vault_reason(&summary)) };
    }
    let cause = KnownCause::detect(&summary);
    if cause.is_none() && CONFIG.iter().any(|s| lower.contains(s)) {
        return RunnerError::ConfigRejected { detail: clip(&summary) };
    }
    if cause.is_some() || lower.contains("code: 4") || lower.contains("error authenticating") || lower.contains("* ") {
        return RunnerError::LoginRejected { reason: clip(&vault_reason(&summary)), cause };
    }
    let status = code.map_or_else(|| "killed by a signal".to_string(), |c| format!("exit code {c}"));
    RunnerError::NoToken { detail: clip(&format!("{status}; {}", summary.lines().last().unwrap_or("no output"))) }
}

/// What a timed-out agent last complained about.
pub(crate) fn last_complaint(output: &str) -> String {
    // The last error only: a retrying agent repeats itself.
    match summary_parts(output).last() {
        Some(last) => clip(&format!("last agent error: {}", vault_reason(last))),
        None => "the agent printed no error".into(),
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 800;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Real stderr of `bao agent -log-format=json` (OpenBao 2.7.2), role missing; info lines trimmed.
    pub(crate) const REAL_WRONG_ROLE: &str = r#"{"@level":"info","@message":"authenticating","@module":"agent.auth.handler","@timestamp":"2026-11-22T18:01:48.863947Z"}
{"@level":"error","@message":"error authenticating","@module":"agent.auth.handler","@timestamp":"2026-11-22T18:01:48.865113Z","backoff":{},"error":"Error making API request.\n\nURL: PUT http://127.0.0.1:40547/v1/auth/jwt/login\nCode: 400. Errors:\n\n* role \"no-such-role\" could not be found"}
{"@level":"info","@message":"sinks finished, exiting","@module":"agent","@timestamp":"2026-11-22T18:01:48.865205Z"}
{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:48.865229Z","error":"Error making API request.\n\nURL: PUT http://127.0.0.1:40547/v1/auth/jwt/login\nCode: 400. Errors:\n\n* role \"no-such-role\" could not be found","exitCode":1}"#;

    /// Real stderr, nothing listening on the address.
    const REAL_UNREACHABLE: &str = r#"{"@level":"info","@message":"authenticating","@module":"agent.auth.handler","@timestamp":"2026-11-22T18:01:49.018995Z"}
{"@level":"error","@message":"error authenticating","@module":"agent.auth.handler","@timestamp":"2026-11-22T18:01:49.019291Z","backoff":{},"error":"Put \"http://127.0.0.1:1/v1/auth/jwt/login\": dial tcp 127.0.0.1:1: connect: connection refused"}
{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:49.019441Z","error":"Put \"http://127.0.0.1:1/v1/auth/jwt/login\": dial tcp 127.0.0.1:1: connect: connection refused","exitCode":1}"#;

    /// Real stderr, a JWT signed by a key the mount does not trust.
    pub(crate) const REAL_BAD_SIGNATURE: &str = r#"{"@level":"error","@message":"error authenticating","@module":"agent.auth.handler","@timestamp":"2026-11-22T18:01:49.168056Z","backoff":{},"error":"Error making API request.\n\nURL: PUT http://127.0.0.1:40547/v1/auth/jwt/login\nCode: 400. Errors:\n\n* error validating token: error verifying token signature: no known key successfully validated the token signature"}
{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:49.168178Z","error":"Error making API request.\n\nURL: PUT http://127.0.0.1:40547/v1/auth/jwt/login\nCode: 400. Errors:\n\n* error validating token: error verifying token signature: no known key successfully validated the token signature","exitCode":1}"#;

    /// Real stderr lines (error level only) for the other JWT refusals, a missing JWT
    /// file, a missing namespace and a mount path where nothing is enabled.
    const REAL_BAD_AUDIENCE: &str = r#"{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:49.333721Z","error":"Error making API request.\n\nURL: PUT http://127.0.0.1:40547/v1/auth/jwt/login\nCode: 400. Errors:\n\n* error validating token: invalid audience (aud) claim: audience claim does not match any expected audience","exitCode":1}"#;
    const REAL_BAD_ISSUER: &str = r#"{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:49.499037Z","error":"Error making API request.\n\nURL: PUT http://127.0.0.1:40547/v1/auth/jwt/login\nCode: 400. Errors:\n\n* error validating token: invalid issuer (iss) claim","exitCode":1}"#;
    const REAL_EXPIRED: &str = r#"{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:49.663527Z","error":"Error making API request.\n\nURL: PUT http://127.0.0.1:40547/v1/auth/jwt/login\nCode: 400. Errors:\n\n* error validating token: invalid expiration time (exp) claim: token is expired","exitCode":1}"#;
    pub(crate) const REAL_NO_JWT_FILE: &str = r#"{"@level":"error","@message":"error getting path or data from method","@module":"agent.auth.handler","@timestamp":"2026-11-22T18:01:59.189876Z","backoff":{},"error":"latest known jwt is empty, cannot authenticate"}
{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:59.190089Z","error":"latest known jwt is empty, cannot authenticate","exitCode":1}"#;
    const REAL_NO_NAMESPACE: &str = r#"{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:59.461097Z","error":"Error making API request.\n\nNamespace: no-such-ns/\nURL: PUT http://127.0.0.1:40547/v1/auth/jwt/login\nCode: 404. Errors:\n\n* namespace not found","exitCode":1}"#;
    const REAL_NO_MOUNT: &str = r#"{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:59.334165Z","error":"Error making API request.\n\nURL: PUT http://127.0.0.1:40547/v1/auth/nope/login\nCode: 403. Errors:\n\n* permission denied","exitCode":1}"#;
    const REAL_DNS: &str = r#"{"@level":"error","@message":"runtime error encountered","@module":"agent","@timestamp":"2026-11-22T18:01:59.989363Z","error":"Put \"http://vault.invalid:8200/v1/auth/jwt/login\": dial tcp: lookup vault.invalid on 10.255.255.53:53: no such host","exitCode":1}"#;

    /// Real start-up failures: plain text on stdout (stderr holds only info lines).
    const REAL_HCL_SYNTAX: &str =
        "error loading configuration from /tmp/cap/syntax/agent.hcl: At 3:2: object expected closing RBRACE got: EOF";
    const REAL_SINK_MODE_STRING: &str = r#"{"@level":"info","@message":"creating file sink","@module":"agent.sink.file","@timestamp":"2026-11-22T18:01:59.040088Z"}
error creating file sink: could not parse 'mode' as integer"#;
    const REAL_NO_AUTO_AUTH: &str =
        "error validating configuration: no auto_auth, cache, or listener block found in config";
    const REAL_AWS_ON_OPENBAO: &str = "Error creating aws auth method: unknown auth method \"aws\"";

    /// Banner the agent prints on stdout.
    const REAL_BANNER: &str = "==> OpenBao Agent started!\n\n==> OpenBao Agent configuration:\n\n                     Cgo: disabled\n               Log Level: \n";

    #[test]
    fn the_real_wrong_role_output_is_a_rejected_login_naming_the_role() {
        assert_eq!(classify(REAL_WRONG_ROLE), Some(KnownCause::RoleNotFound));
        match failure(Some(1), REAL_WRONG_ROLE) {
            RunnerError::LoginRejected { reason, cause } => {
                assert_eq!(
                    reason,
                    "role \"no-such-role\" could not be found (HTTP 400, from PUT http://127.0.0.1:40547/v1/auth/jwt/login)"
                );
                assert_eq!(cause, Some(KnownCause::RoleNotFound));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_real_connection_refused_output_is_unreachable() {
        // With the pointer line the agent prints on stdout.
        let e = failure(
            Some(1),
            &format!("{REAL_UNREACHABLE}\nError encountered during run, refer to logs for more details."),
        );
        assert_eq!(e.kind(), "vault_unreachable", "{e:?}");
        assert!(e.to_string().ends_with("connect: connection refused"), "{e}");
        assert_eq!(failure(Some(1), REAL_DNS).kind(), "vault_unreachable");
    }

    #[test]
    fn the_real_jwt_refusals_are_jwt_invalid() {
        for text in [REAL_BAD_SIGNATURE, REAL_BAD_AUDIENCE, REAL_BAD_ISSUER, REAL_EXPIRED] {
            assert_eq!(classify(text), Some(KnownCause::JwtInvalid), "{text}");
            assert_eq!(failure(Some(1), text).kind(), "login_rejected");
        }
    }

    #[test]
    fn a_missing_jwt_file_a_missing_namespace_and_a_missing_mount_have_their_own_causes() {
        assert_eq!(classify(REAL_NO_JWT_FILE), Some(KnownCause::JwtFileUnreadable));
        assert_eq!(classify(REAL_NO_NAMESPACE), Some(KnownCause::NamespaceNotFound));
        assert_eq!(classify(REAL_NO_MOUNT), Some(KnownCause::MountNotFound));
        let e = failure(Some(1), REAL_NO_NAMESPACE);
        assert!(e.to_string().contains("namespace no-such-ns/"), "{e}");
    }

    #[test]
    fn the_real_start_up_failures_on_stdout_are_config_rejections() {
        for text in [REAL_HCL_SYNTAX, REAL_SINK_MODE_STRING, REAL_NO_AUTO_AUTH, REAL_AWS_ON_OPENBAO] {
            let out = format!("{REAL_BANNER}{text}\n");
            let e = failure(Some(1), &out);
            assert_eq!(e.kind(), "config_rejected", "{text}: {e:?}");
            assert!(!e.to_string().contains("Cgo"), "the banner is not a reason: {e}");
        }
    }

    #[test]
    fn json_log_lines_are_summarized_to_their_errors() {
        let s = summarize(REAL_WRONG_ROLE);
        assert!(s.starts_with("error authenticating: Error making API request."), "{s}");
        assert!(!s.contains("sinks finished"));
    }

    #[test]
    fn the_contract_error_texts_map_to_their_causes() {
        for (text, cause) in [
            ("* entry for role \"x\" not found", KnownCause::RoleNotFound),
            (
                "* IAM Principal \"arn:aws:iam::1:role/a\" does not belong to the role \"x\"",
                KnownCause::PrincipalMismatch,
            ),
            ("* error validating X-Vault-AWS-IAM-Server-ID header: missing header", KnownCause::HeaderMismatch),
            ("* client nonce mismatch", KnownCause::NonceMismatch),
            ("* unable to resolve ARN \"x\" to internal ID", KnownCause::MissingIamPermission),
            ("* error looking up full ARN of entity", KnownCause::MissingIamPermission),
            ("* permission denied", KnownCause::PermissionDenied),
            ("Error creating aws auth method: NoCredentialProviders", KnownCause::AwsCredentialsMissing),
        ] {
            assert_eq!(classify(text), Some(cause), "{text}");
        }
    }

    #[test]
    fn aws_server_side_permission_errors_have_their_own_hints() {
        let ec2 = "* error fetching description for instance ID \"i-0abc\": UnauthorizedOperation: You are not authorized to perform: ec2:DescribeInstances";
        assert_eq!(classify(ec2), Some(KnownCause::Ec2ServerPermission));
        let profile =
            "* AccessDenied: User: arn:aws:iam::123:user/vault is not authorized to perform: iam:GetInstanceProfile";
        assert_eq!(classify(profile), Some(KnownCause::Ec2ServerPermission));
        let get_role = "* AccessDenied: User: arn:aws:iam::123:user/vault is not authorized to perform: iam:GetRole on resource: role app";
        assert_eq!(classify(get_role), Some(KnownCause::WildcardPrincipalGetRole));
        for cause in [KnownCause::Ec2ServerPermission, KnownCause::WildcardPrincipalGetRole] {
            assert!(cause.hint().contains("auth/aws/config/client"), "{cause:?}");
        }
    }

    #[test]
    fn missing_aws_credentials_are_a_login_failure_with_a_hint_not_a_config_error() {
        let e = failure(Some(1), "Error creating aws auth method: NoCredentialProviders: no valid providers in chain");
        assert!(
            matches!(e, RunnerError::LoginRejected { cause: Some(KnownCause::AwsCredentialsMissing), .. }),
            "{e:?}"
        );
    }

    #[test]
    fn tls_failures_are_unreachable_and_silence_is_no_token() {
        // Seen with the real agent against a TLS server whose CA it does not trust.
        let e = failure(
            Some(1),
            "error authenticating: runtime error encountered: Put \"https://127.0.0.1:1/v1/auth/jwt/login\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
        );
        assert_eq!(e.kind(), "vault_unreachable", "{e:?}");
        assert_eq!(failure(Some(0), "").kind(), "no_token");
        assert!(failure(None, "").to_string().contains("killed by a signal"));
    }

    #[test]
    fn a_timed_out_agent_reports_its_last_error_once() {
        let retries = format!("{REAL_UNREACHABLE}\n{REAL_WRONG_ROLE}");
        let c = last_complaint(&retries);
        assert!(c.starts_with("last agent error: role \"no-such-role\" could not be found"), "{c}");
        assert_eq!(last_complaint(""), "the agent printed no error");
    }
}
