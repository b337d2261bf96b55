//! Vault API paths made of checked segments, and the one way a request URL is
//! built from them.
//!
//! Why this type exists: a path that reaches Vault decides what the request
//! does with the caller's token. A path glued into a URL string is re-read by
//! the URL parser, which treats `\` as `/` and resolves `.` and `..` segments,
//! so `a/..\..\auth/token/lookup-self` would become `auth/token/lookup-self`.
//! Here every segment is checked once, on the decoded text (letters, digits and
//! `_ - . @ + = : , ~` only; never `.` or `..`, never empty), and the URL is
//! assembled by the URL library segment by segment ([`ApiPath::url`]), which
//! percent-encodes whatever it is given. Nothing else in the workspace builds a
//! Vault URL.

use reqwest::Url;

/// The longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 1024;

/// Why a path was refused. The messages are written for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Nothing to read.
    #[error("the path is empty; use a path like secret/data/app/db")]
    Empty,
    /// Over [`MAX_PATH_LEN`].
    #[error("the path is longer than {MAX_PATH_LEN} characters")]
    TooLong,
    /// A leading, trailing or doubled `/`.
    #[error("the path must not start or end with '/' or contain empty segments")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("the path must not contain '.' or '..' segments")]
    DotSegment,
    /// A character outside the allowed set (shown escaped).
    #[error(
        "the path contains {0}; a path may contain letters, digits and _ - . @ + = : , ~ between '/' only (no '\\', '%', spaces or control characters)"
    )]
    Character(String),
}

/// Whether a byte may appear in a segment.
fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-.@+=:,~".contains(&b)
}

/// A Vault API path below `/v1/`: segments separated by `/`, each checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiPath(String);

impl ApiPath {
    /// Parse decoded text (what arrives after every layer of percent-decoding).
    pub fn parse(path: &str) -> Result<Self, PathError> {
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        if path.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        for segment in path.split('/') {
            check_segment(segment)?;
        }
        Ok(Self(path.to_string()))
    }

    /// A path of fixed segments written in the code (checked all the same).
    pub fn fixed(segments: &[&str]) -> Result<Self, PathError> {
        Self::parse(&segments.join("/"))
    }

    /// This path followed by `rest`.
    pub fn join(&self, rest: &ApiPath) -> ApiPath {
        ApiPath(format!("{}/{}", self.0, rest.0))
    }

    /// The segments.
    pub fn segments(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }

    /// The path as text (`secret/data/app/db`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<base>/v1/<segments>`: the URL library pushes each segment (encoding
    /// anything it must), so no segment can change the path's shape.
    pub fn url(&self, base: &VaultBase) -> Url {
        let mut url = base.0.clone();
        url.path_segments_mut()
            .expect("a VaultBase is an http(s) URL with a host, which always has path segments")
            .clear()
            .push("v1")
            .extend(self.segments());
        url
    }
}

/// Why a Vault address is not an origin the service can call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseError {
    /// It does not parse as a URL.
    #[error("not a URL ({0})")]
    NotUrl(String),
    /// Another scheme, or no host.
    #[error("not an http(s) URL with a host")]
    NotHttp,
}

/// A Vault server's origin (`http(s)://host[:port]`), parsed once; request URLs
/// are made from it by [`ApiPath::url`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultBase(Url);

impl VaultBase {
    /// Parse an `http`/`https` address with a host; its path, query and fragment are dropped.
    pub fn parse(address: &str) -> Result<Self, BaseError> {
        let mut url = Url::parse(address).map_err(|e| BaseError::NotUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(BaseError::NotHttp);
        }
        url.set_path("");
        url.set_query(None);
        url.set_fragment(None);
        Ok(Self(url))
    }

    /// The origin as a URL.
    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl std::fmt::Display for ApiPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(PathError::DotSegment);
    }
    if let Some(c) = segment.chars().find(|c| !u8::try_from(*c).is_ok_and(allowed)) {
        return Err(PathError::Character(format!("{:?}", c.to_string())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> VaultBase {
        VaultBase::parse("https://vault.example.com:8200").expect("url")
    }

    #[test]
    fn a_path_becomes_a_url_below_v1_segment_by_segment() {
        let p = ApiPath::parse("secret/data/app/db").expect("path");
        assert_eq!(p.url(&base()).as_str(), "https://vault.example.com:8200/v1/secret/data/app/db");
        let fixed = ApiPath::fixed(&["auth", "token", "lookup-self"]).expect("path");
        assert_eq!(fixed.url(&base()).path(), "/v1/auth/token/lookup-self");
    }

    #[test]
    fn escapes_and_odd_characters_are_refused_on_the_decoded_text() {
        for bad in [
            "a/..\\..\\auth/token/lookup-self",
            "a/%2e%2e/auth",
            "a/%252e%252e",
            "a/.\t./x",
            "a/. ./x",
            "a/x\0",
            "a/x\n",
            "a/ü",
            "a/x?y",
            "a/x#y",
        ] {
            assert!(matches!(ApiPath::parse(bad), Err(PathError::Character(_))), "{bad:?}");
        }
        for (bad, why) in [
            ("", PathError::Empty),
            ("a/../auth", PathError::DotSegment),
            ("./a", PathError::DotSegment),
            ("a/.", PathError::DotSegment),
            ("/a", PathError::EmptySegment),
            ("a/", PathError::EmptySegment),
            ("a//b", PathError::EmptySegment),
        ] {
            assert_eq!(ApiPath::parse(bad), Err(why), "{bad:?}");
        }
        assert_eq!(ApiPath::parse(&"a".repeat(MAX_PATH_LEN + 1)), Err(PathError::TooLong));
    }

    #[test]
    fn a_control_character_is_named_escaped_in_the_message() {
        let e = ApiPath::parse("a/x\0").expect_err("refused").to_string();
        assert!(e.contains("\"\\0\""), "{e}");
    }

    #[test]
    fn the_base_urls_own_path_query_and_fragment_never_survive() {
        let odd = VaultBase::parse("https://v.example/ui/?x=1#f").expect("url");
        assert!(VaultBase::parse("mailto:x@example.com").is_err());
        assert!(VaultBase::parse("file:///etc/passwd").is_err());
        let p = ApiPath::parse("kv/a").expect("path");
        assert_eq!(p.url(&odd).as_str(), "https://v.example/v1/kv/a");
    }
}
