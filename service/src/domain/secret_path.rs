//! What a read may ask of Vault: the path of a secret, the query parameters of
//! the read, and the id of a lease. Each is parsed once from decoded text, and
//! what reaches Vault is built only from these types (see [`crate::vault::Op`]).
//!
//! Why: the service holds each profile's Vault token, and a connector's read key
//! must only ever reach secrets with it. A path is refused when any segment is
//! outside the plain character set ([`agent_runner::vault_path`]: no `\`, `%`,
//! whitespace, control characters, `.` or `..`), and when it leads to Vault's
//! own system, auth, identity or per-token storage (`sys/`, `auth/`,
//! `identity/`, `cubbyhole/`, in any letter case, also behind a namespace
//! prefix). Both rules are properties of the type: a value that exists passed
//! them, after all decoding, whichever route it came through.

use agent_runner::vault_path::{ApiPath, PathError};

/// Path segments Vault routes to its own system, auth, identity and per-token
/// storage. A namespace written into the path (`ns1/auth/token/lookup-self`)
/// moves them past the first segment, so every segment is checked, up to the
/// first KV v2 `data/` or `metadata/` segment (after it, names are keys).
const REFUSED_SEGMENTS: [&str; 4] = ["sys", "auth", "identity", "cubbyhole"];

/// Why a path is not a secret read. The messages are written for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretPathError {
    /// Not a well-formed Vault path (empty, too long, bad segments or characters).
    #[error("{}", secret_path_message(.0))]
    Path(PathError),
    /// A `sys/`, `auth/`, `identity/` or `cubbyhole/` path.
    #[error(
        "{0}/ paths are not secret reads (also not behind a namespace prefix); read secrets from a secrets engine like secret/data/app/db"
    )]
    NotASecret(String),
}

/// A path error worded for a secret path.
fn secret_path_message(e: &PathError) -> String {
    match e {
        PathError::Empty => "the secret path is empty; use a path like secret/data/app/db".to_string(),
        other => other.to_string().replacen("the path", "the secret path", 1),
    }
}

/// Why a query string is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Over [`MAX_QUERY_LEN`].
    #[error("the query string is longer than {MAX_QUERY_LEN} characters")]
    TooLong,
    /// A parameter name that is not plain (shown in its escaped audit form).
    #[error("the query parameter {0:?} is not a plain name (letters, digits, _ and - only)")]
    NotAPlainName(String),
    /// A value with control characters.
    #[error("the query parameter {0} has control characters in its value")]
    ControlCharacters(String),
}

/// Why a lease id is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseIdError {
    /// Empty or over [`LeaseId::MAX_LEN`].
    #[error("the lease id a secret read returned (1 to {} characters)", LeaseId::MAX_LEN)]
    Length,
    /// Spaces, quotes, backslashes or control characters.
    #[error("a lease id has no spaces, quotes, backslashes or control characters")]
    Characters,
}

/// A Vault path that is safe to read as a secret, like `secret/data/app/db`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretPath(ApiPath);

impl SecretPath {
    /// Parse decoded text; the error says what is wrong.
    pub fn parse(path: &str) -> Result<Self, SecretPathError> {
        let parsed = ApiPath::parse(path).map_err(SecretPathError::Path)?;
        for segment in parsed.segments() {
            let lower = segment.to_ascii_lowercase();
            if lower == "data" || lower == "metadata" {
                break;
            }
            if REFUSED_SEGMENTS.contains(&lower.as_str()) {
                return Err(SecretPathError::NotASecret(segment.to_string()));
            }
        }
        Ok(Self(parsed))
    }

    /// The checked path.
    pub fn api_path(&self) -> &ApiPath {
        &self.0
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for SecretPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A path as the audit trail records it: a path that parses as it is; anything
/// else escaped (control characters as `\u0000`, non-ASCII as `\u00fc`) and cut
/// to 256 characters, so a hostile path can neither break a batch of audit rows
/// (PostgreSQL refuses NUL in text) nor hide in it.
pub fn audit_form(raw: &str) -> String {
    if SecretPath::parse(raw).is_ok() {
        return raw.to_string();
    }
    let mut out = String::new();
    for c in raw.chars() {
        if out.len() >= 256 {
            out.push('…');
            break;
        }
        match c {
            ' '..='~' if c != '\\' => out.push(c),
            '\\' => out.push_str("\\\\"),
            other => {
                let mut units = [0u16; 2];
                for unit in other.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

/// The query parameters of a read, parsed from the query string and sent on
/// re-encoded by the URL library. Names are plain (`[A-Za-z0-9_-]`, at most
/// 64); values have no control characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReadQuery {
    pairs: Vec<(String, String)>,
    list: bool,
}

/// The longest query string accepted.
pub const MAX_QUERY_LEN: usize = 2048;

impl ReadQuery {
    /// Parse a raw query string (`version=2&list=true`); `list=true` marks a list.
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        if raw.len() > MAX_QUERY_LEN {
            return Err(QueryError::TooLong);
        }
        let mut out = ReadQuery::default();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            if name.is_empty()
                || name.len() > 64
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(QueryError::NotAPlainName(audit_form(&name)));
            }
            if value.chars().any(char::is_control) {
                return Err(QueryError::ControlCharacters(name.into_owned()));
            }
            if name == "list" {
                out.list = value == "true";
                continue;
            }
            out.pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(out)
    }

    /// The same read as a list (`LIST`, or `?list=true`).
    pub fn as_list(mut self) -> Self {
        self.list = true;
        self
    }

    /// Whether this is a list.
    pub fn is_list(&self) -> bool {
        self.list
    }

    /// The parameters, in order (without `list`).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// What the secret cache keys an answer by: the parameters a read's answer
    /// depends on that a cache may share (`version`, and the list flag). None
    /// when other parameters are present: such reads are not kept, so random
    /// parameters cannot multiply entries.
    pub fn cache_key(&self) -> Option<(Option<&str>, bool)> {
        let mut version = None;
        for (k, v) in self.pairs() {
            match k {
                "version" if version.is_none() => version = Some(v),
                _ => return None,
            }
        }
        Some((version, self.list))
    }
}

/// A lease id as Vault issues it (`database/creds/app/3XcT7uJ2Bq`, with a
/// `.<namespace id>` suffix inside a namespace): printable ASCII without
/// spaces or `\`, at most [`LeaseId::MAX_LEN`] bytes. It travels to Vault only
/// in a JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseId(String);

impl LeaseId {
    /// The longest lease id kept.
    pub const MAX_LEN: usize = 512;

    /// Parse; the error says what is wrong.
    pub fn parse(id: &str) -> Result<Self, LeaseIdError> {
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(LeaseIdError::Length);
        }
        if !id.bytes().all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'"') {
            return Err(LeaseIdError::Characters);
        }
        Ok(Self(id.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LeaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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
            "Auth/token/lookup-self",
            "ns1/auth/token/lookup-self",
            "team-a/ns2/sys/seal-status",
            "cubbyhole/x",
            "CubbyHole/x",
            "ns1/cubbyhole/x",
            "ns1/identity/entity",
            "secret/a b",
            "secret/%2e%2e",
            "secret/x?y",
            "sys/internal/ui/mounts/..\\..\\auth/token/lookup-self",
            "x/..\\..\\auth/token/lookup-self",
            "secret/.\t.",
            "secret/x\0",
        ] {
            assert!(SecretPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_audit_form_keeps_good_paths_and_escapes_every_control_character() {
        assert_eq!(audit_form("secret/data/app"), "secret/data/app");
        assert_eq!(audit_form("secret/x\0"), "secret/x\\u0000");
        assert_eq!(audit_form("a\\b\nü"), "a\\\\b\\u000a\\u00fc");
        assert!(audit_form(&"\u{1}".repeat(1000)).chars().count() < 300);
    }

    #[test]
    fn query_parameters_are_plain_and_only_version_and_list_are_shared_by_the_cache() {
        let q = ReadQuery::parse("version=2").expect("query");
        assert_eq!(q.cache_key(), Some((Some("2"), false)));
        let q = ReadQuery::parse("list=true").expect("query");
        assert_eq!(q.cache_key(), Some((None, true)));
        let q = ReadQuery::parse("ttl=15m").expect("query");
        assert_eq!(q.cache_key(), None, "a read with other parameters is not kept");
        assert_eq!(q.pairs().collect::<Vec<_>>(), vec![("ttl", "15m")]);
        for bad in ["a%00=1", "x=%01", "a b=1", "=1", &format!("k={}", "v".repeat(MAX_QUERY_LEN))] {
            assert!(ReadQuery::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lease_ids_are_bounded_printable_text() {
        assert!(LeaseId::parse("database/creds/app/3XcT7uJ2Bq.ns1").is_ok());
        for bad in ["", "a b", "a\\b", "a\"b", "x\0", &"a".repeat(LeaseId::MAX_LEN + 1)] {
            assert!(LeaseId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refusals_are_worded_for_the_caller() {
        let said = |e: &dyn std::fmt::Display| e.to_string();
        assert_eq!(
            said(&SecretPath::parse("").expect_err("empty")),
            "the secret path is empty; use a path like secret/data/app/db"
        );
        assert_eq!(
            said(&SecretPath::parse("a/../b").expect_err("dots")),
            "the secret path must not contain '.' or '..' segments"
        );
        assert!(
            said(&SecretPath::parse("sys/health").expect_err("sys")).starts_with("sys/ paths are not secret reads")
        );
        assert_eq!(
            said(&ReadQuery::parse("a b=1").expect_err("name")),
            "the query parameter \"a b\" is not a plain name (letters, digits, _ and - only)"
        );
        assert_eq!(
            said(&ReadQuery::parse("x=%01").expect_err("control")),
            "the query parameter x has control characters in its value"
        );
        assert_eq!(
            said(&LeaseId::parse("").expect_err("empty")),
            "the lease id a secret read returned (1 to 512 characters)"
        );
        assert_eq!(
            said(&LeaseId::parse("a b").expect_err("space")),
            "a lease id has no spaces, quotes, backslashes or control characters"
        );
    }
}
