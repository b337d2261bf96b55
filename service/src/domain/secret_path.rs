//! The Vault path of a secret read, checked before it goes anywhere.

/// First segments that are not secret reads.
/// Path segments Vault routes to its own system, auth, identity and per-token
/// storage. A namespace written into the path (`ns1/auth/token/lookup-self`)
/// moves them past the first segment, so every segment is checked, up to the
/// first KV v2 `data/` or `metadata/` segment (after it, names are keys).
const REFUSED_SEGMENTS: [&str; 4] = ["sys", "auth", "identity", "cubbyhole"];

/// A Vault path that is safe to read as a secret, like `secret/data/app/db`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretPath(String);

impl SecretPath {
    /// Parse; the error says what is wrong.
    pub fn parse(path: &str) -> Result<Self, String> {
        check(path)?;
        Ok(Self(path.to_string()))
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SecretPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn check(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the secret path is empty; use a path like secret/data/app/db".into());
    }
    if path.len() > 1024 {
        return Err("the secret path is longer than 1024 characters".into());
    }
    if path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return Err("the secret path must not start or end with '/' or contain empty segments".into());
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err("the secret path must not contain '.' or '..' segments".into());
    }
    if !path.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.@+=:,~/".contains(&b)) {
        return Err("the secret path may contain letters, digits and _ - . @ + = : , ~ only".into());
    }
    for segment in path.split('/') {
        let lower = segment.to_ascii_lowercase();
        if lower == "data" || lower == "metadata" {
            break;
        }
        if REFUSED_SEGMENTS.contains(&lower.as_str()) {
            return Err(format!(
                "{segment}/ paths are not secret reads (also not behind a namespace prefix); read secrets from a secrets engine like secret/data/app/db"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_secret_paths_pass() {
        for ok in [
            "secret/data/app/db",
            "secret/data/auth/db",
            "ns1/secret/metadata/sys",
            "kv/app",
            "aws/sts/deploy-role",
            "aws/creds/my-role",
            "database/creds/ro",
        ] {
            assert!(SecretPath::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn traversal_empty_segments_and_non_secret_prefixes_are_refused() {
        for bad in [
            "",
            "/secret/x",
            "secret/",
            "secret//x",
            "secret/../sys/seal",
            "./x",
            "sys/seal-status",
            "auth/token/lookup-self",
            "identity/entity",
            "SYS/health",
            "ns1/auth/token/lookup-self",
            "team-a/ns2/sys/seal-status",
            "cubbyhole/x",
            "ns1/cubbyhole/x",
            "ns1/identity/entity",
            "secret/a b",
            "secret/%2e%2e",
            "secret/x?y",
        ] {
            assert!(SecretPath::parse(bad).is_err(), "{bad}");
        }
    }
}
