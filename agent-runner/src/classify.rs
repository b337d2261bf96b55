//! Reading the agent's output: scrubbing secrets out of it, and mapping it to
//! known causes that an admin can act on.

use crate::RunnerError;

/// Causes the service recognises in agent output, each with a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownCause {
    /// The role does not exist on that mount.
    RoleNotFound,
    /// The host's IAM principal is not bound to the role.
    PrincipalMismatch,
    /// `header_value` differs from the server's `iam_server_id_header_value`.
    HeaderMismatch,
    /// The ec2 nonce differs from the one Vault remembers for this instance.
    NonceMismatch,
    /// Vault's own AWS identity lacks `iam:GetRole`.
    MissingIamPermission,
    /// A policy does not allow what was asked.
    PermissionDenied,
    /// The agent found no AWS credentials on this host.
    AwsCredentialsMissing,
    /// The JWT was refused (signature, issuer, audience, expiry).
    JwtInvalid,
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
            KnownCause::PermissionDenied => {
                "A Vault policy does not allow this: grant the needed capability on that path."
            }
            KnownCause::AwsCredentialsMissing => {
                "The agent found no AWS credentials on this host: attach an instance profile or provide the host's AWS credential chain."
            }
            KnownCause::JwtInvalid => {
                "Vault refused the JWT: check the mount's jwt_validation_pubkeys / bound_issuer and the role's bound_audiences, and that the token file is fresh."
            }
        }
    }

    fn detect(text: &str) -> Option<KnownCause> {
        let t = text.to_ascii_lowercase();
        let has = |s: &str| t.contains(s);
        if has("client nonce mismatch") {
            Some(KnownCause::NonceMismatch)
        } else if (has("entry for role") && has("not found"))
            || (has("role \\\"") && has("could not be found"))
            || (has("role \"") && has("could not be found"))
            || has("role not found")
        {
            Some(KnownCause::RoleNotFound)
        } else if has("does not belong to the role") {
            Some(KnownCause::PrincipalMismatch)
        } else if has("x-vault-aws-iam-server-id") || has("missing header") {
            Some(KnownCause::HeaderMismatch)
        } else if has("unable to resolve arn") || has("error looking up full arn") {
            Some(KnownCause::MissingIamPermission)
        } else if has("error creating aws auth method") || has("nocredentialproviders") {
            Some(KnownCause::AwsCredentialsMissing)
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
        {
            Some(KnownCause::JwtInvalid)
        } else if has("permission denied") {
            Some(KnownCause::PermissionDenied)
        } else {
            None
        }
    }
}

/// Classify agent stderr into a known cause, if any.
pub fn classify(stderr: &str) -> Option<KnownCause> {
    KnownCause::detect(&summarize(stderr))
}

/// The error-level content of the agent's output: with `-log-format=json`,
/// the `@message` and `error` fields of error lines; other lines as they are.
pub fn summarize(output: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
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
    parts.join("\n")
}

/// The `* ...` lines Vault puts in its error responses, or the summary.
fn vault_reason(summary: &str) -> String {
    let starred: Vec<&str> =
        summary.lines().map(str::trim).filter_map(|l| l.strip_prefix("* ")).map(str::trim).collect();
    let mut reasons: Vec<&str> = Vec::new();
    for r in starred {
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    if reasons.is_empty() { summary.lines().last().unwrap_or("").trim().to_string() } else { reasons.join("; ") }
}

/// The typed failure for an agent that exited (`code`) without a token.
pub(crate) fn failure(code: Option<i32>, output: &str) -> RunnerError {
    let summary = summarize(output);
    let lower = summary.to_ascii_lowercase();
    // A failed connection or TLS handshake means Vault never saw the login:
    // that decides, whatever else the text mentions (unless Vault answered).
    let unreachable = [
        "connection refused",
        "no such host",
        "dial tcp",
        "i/o timeout",
        "tls: ",
        "x509:",
        "network is unreachable",
        "connection reset",
    ];
    if unreachable.iter().any(|s| lower.contains(s)) && !lower.contains("code: ") {
        return RunnerError::VaultUnreachable { detail: clip(&vault_reason(&summary)) };
    }
    let cause = KnownCause::detect(&summary);
    if cause.is_none()
        && (lower.contains("error loading configuration")
            || lower.contains("error parsing")
            || lower.contains("unknown field")
            || lower.contains("failed to parse")
            || lower.contains("no auto_auth"))
    {
        return RunnerError::ConfigRejected { detail: clip(&summary) };
    }
    if cause.is_some() || lower.contains("code: 4") || lower.contains("error authenticating") || lower.contains("* ") {
        return RunnerError::LoginRejected { reason: clip(&vault_reason(&summary)), cause };
    }
    let status = code.map_or_else(|| "killed by a signal".to_string(), |c| format!("exit code {c}"));
    RunnerError::NoToken { detail: clip(&format!("{status}; {}", summary.lines().last().unwrap_or("no output"))) }
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

const TOKEN_PREFIXES: [&str; 6] = ["hvs.", "hvb.", "hvr.", "s.", "b.", "r."];

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'
}

fn looks_secret(word: &str) -> bool {
    // JWT: three base64url parts.
    if word.starts_with("eyJ") && word.matches('.').count() == 2 && word.len() > 30 {
        return true;
    }
    // Vault/OpenBao tokens: prefix + 20 or more base62 characters (+ optional .namespace id).
    for p in TOKEN_PREFIXES {
        if let Some(rest) = word.strip_prefix(p) {
            let body = rest.split('.').next().unwrap_or("");
            if body.len() >= 20 && body.chars().all(|c| c.is_ascii_alphanumeric()) {
                return true;
            }
        }
    }
    false
}

/// Replace token-like strings (Vault tokens, JWTs, nonce values) with `[redacted]`.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut redact_next_value = false;
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(is_word).unwrap_or(rest.len());
        let (gap, after) = rest.split_at(start);
        out.push_str(gap);
        if gap.contains('\n') {
            redact_next_value = false;
        }
        if after.is_empty() {
            break;
        }
        let end = after.find(|c: char| !is_word(c)).unwrap_or(after.len());
        let (word, tail) = after.split_at(end);
        if redact_next_value && !word.eq_ignore_ascii_case("nonce") {
            out.push_str("[redacted]");
            redact_next_value = false;
        } else if looks_secret(word) {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
            let lower = word.to_ascii_lowercase();
            if lower == "nonce" || lower.ends_with("_nonce") || lower == "client_token" || lower == "token" {
                // Redact the value that follows `nonce = "..."`, `"nonce":"..."`, `nonce=...`.
                let next = tail.trim_start_matches([' ', '"', '\'', '\\']);
                redact_next_value = next.starts_with('=') || next.starts_with(':');
            }
        }
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_jwts_and_nonces_are_redacted() {
        let text = "token s.AbCdEfGhIjKlMnOpQrStUvWx and hvs.CAESIJk2z9Q0aBcDeFgHiJkLmNoPqRsTuV.abc12 \
                    jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ \
                    nonce = \"5defbf9e-a8f9-3063\" {\"nonce\":\"abc-123\"} nonce=xyz";
        let s = scrub(text);
        for secret in ["AbCdEfGhIjKlMnOpQrStUvWx", "CAESIJk2z9Q0", "eyJhbGci", "5defbf9e", "abc-123", "xyz"] {
            assert!(!s.contains(secret), "{secret} survived: {s}");
        }
        assert!(s.contains("[redacted]"));
    }

    #[test]
    fn ordinary_agent_output_is_kept() {
        let text = "agent.auth.handler: error authenticating: role \"nope\" could not be found; URL: PUT http://127.0.0.1:8200/v1/auth/jwt/login";
        assert_eq!(scrub(text), text);
    }

    #[test]
    fn json_log_lines_are_summarized_to_their_errors() {
        let out = r#"{"@level":"info","@message":"starting"}
{"@level":"error","@message":"error authenticating","@module":"agent.auth.handler","error":"Error making API request.\n\nURL: PUT http://127.0.0.1:1/v1/auth/jwt/login\nCode: 400. Errors:\n\n* role \"nope\" could not be found"}"#;
        let s = summarize(out);
        assert!(s.starts_with("error authenticating: Error making API request."), "{s}");
        assert!(!s.contains("starting"));
        assert_eq!(classify(out), Some(KnownCause::RoleNotFound));
        match failure(Some(1), out) {
            RunnerError::LoginRejected { reason, cause } => {
                assert_eq!(reason, "role \"nope\" could not be found");
                assert_eq!(cause, Some(KnownCause::RoleNotFound));
            }
            other => panic!("{other:?}"),
        }
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
            ("* error validating token: invalid audience (aud) claim", KnownCause::JwtInvalid),
            ("* no known key successfully validated the token signature", KnownCause::JwtInvalid),
        ] {
            assert_eq!(classify(text), Some(cause), "{text}");
        }
    }

    #[test]
    fn connection_failures_are_unreachable_and_config_errors_are_config() {
        let e = failure(
            Some(1),
            "error authenticating: Put \"http://127.0.0.1:1/v1/auth/jwt/login\": dial tcp 127.0.0.1:1: connect: connection refused",
        );
        assert_eq!(e.kind(), "vault_unreachable");
        let e = failure(Some(1), "Error loading configuration from /x/agent.hcl: At 3:5: illegal char");
        assert_eq!(e.kind(), "config_rejected");
        let e = failure(Some(0), "");
        assert_eq!(e.kind(), "no_token");
        // Seen with the real agent against a TLS server whose CA it does not trust.
        let e = failure(
            Some(1),
            "error authenticating: runtime error encountered: Put \"https://127.0.0.1:1/v1/auth/jwt/login\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
        );
        assert_eq!(e.kind(), "vault_unreachable", "{e:?}");
    }
}
