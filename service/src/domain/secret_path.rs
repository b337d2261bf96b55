//! The Vault path of a secret read, checked before it goes anywhere.

/// First segments that are not secret reads.
const REFUSED_PREFIXES: [&str; 3] = ["sys", "auth", "identity"];

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
    let first = path.split('/').next().unwrap_or_default();
    if REFUSED_PREFIXES.contains(&first.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{first}/ paths are not secret reads; read secrets from a secrets engine like secret/data/app/db"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_secret_paths_pass() {
        for ok in ["secret/data/app/db", "kv/app", "aws/sts/deploy-role", "aws/creds/my-role", "database/creds/ro"] {
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
            "secret/a b",
            "secret/%2e%2e",
            "secret/x?y",
        ] {
            assert!(SecretPath::parse(bad).is_err(), "{bad}");
        }
    }
}
