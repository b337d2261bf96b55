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

/// A Vault path that is safe to read as a secret, like `secret/data/app/db`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretPath(ApiPath);

impl SecretPath {
    /// Parse decoded text; the error says what is wrong.
    pub fn parse(path: &str) -> Result<Self, String> {
        let parsed = ApiPath::parse(path).map_err(|e| match e {
            PathError::Empty => "the secret path is empty; use a path like secret/data/app/db".to_string(),
            other => other.to_string().replacen("the path", "the secret path", 1),
        })?;
        for segment in parsed.segments() {
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
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > MAX_QUERY_LEN {
            return Err(format!("the query string is longer than {MAX_QUERY_LEN} characters"));
        }
        let mut out = ReadQuery::default();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            if name.is_empty()
                || name.len() > 64
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "the query parameter {:?} is not a plain name (letters, digits, _ and - only)",
                    audit_form(&name)
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("the query parameter {name} has control characters in its value"));
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
    pub fn parse(id: &str) -> Result<Self, String> {
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(format!("the lease id a secret read returned (1 to {} characters)", Self::MAX_LEN));
        }
        if !id.bytes().all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'"') {
            return Err("a lease id has no spaces, quotes, backslashes or control characters".into());
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
}
