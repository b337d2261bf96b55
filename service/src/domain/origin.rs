//! Allowed Vault origins (`AUTH_SERVICE_VAULT_ADDRESSES`, and a tenant's
//! narrowed list): `scheme://host[:port]`, where the host may start with `*.`
//! (one or more labels) and the port may be `*` (any port). An origin without a
//! port means the scheme's default port.

use std::fmt;

use super::VaultAddress;

/// A port rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Port {
    Any,
    Is(u16),
}

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    /// The exact host, or (with `wildcard`) the suffix after `*.`.
    host: String,
    wildcard: bool,
    port: Port,
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// How origins are written in the messages.
const ORIGIN_EXAMPLE: &str = "like https://vault.example.com:8200, https://*.vault.example.com or http://127.0.0.1:*";

/// Why a text is not an origin pattern; each message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// No `scheme://`.
    #[error("{0:?} is not an origin; write one {ORIGIN_EXAMPLE}")]
    NotAnOrigin(String),
    /// Neither http nor https.
    #[error("{0:?}: the scheme must be https or http")]
    Scheme(String),
    /// A port that is neither a number nor `*`.
    #[error("{0:?}: the port must be a number or *")]
    Port(String),
    /// A host that is not a name or address (or a misplaced `*.`).
    #[error("{0:?}: not a host name or address (a '*.' may only start the host); {ORIGIN_EXAMPLE}")]
    Host(String),
}

impl OriginPattern {
    /// Parse `scheme://host[:port]`; the error says what is expected.
    pub fn parse(input: &str) -> Result<Self, OriginError> {
        let text = input.trim().to_ascii_lowercase();
        let (scheme, rest) = text.split_once("://").ok_or_else(|| OriginError::NotAnOrigin(input.to_string()))?;
        if scheme != "http" && scheme != "https" {
            return Err(OriginError::Scheme(input.to_string()));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || p.is_empty() => (h, Some(p)),
            _ => (rest, None),
        };
        let port = match port {
            None => Port::Is(default_port(scheme)),
            Some("*") => Port::Any,
            Some(p) => Port::Is(p.parse().map_err(|_| OriginError::Port(input.to_string()))?),
        };
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(suffix) => (true, suffix),
            None => (false, host),
        };
        let valid_host = !host.is_empty()
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
            && !host.starts_with('.')
            && !host.ends_with('.');
        if !valid_host || host.contains('*') {
            return Err(OriginError::Host(input.to_string()));
        }
        Ok(Self { scheme: scheme.to_string(), host: host.to_string(), wildcard, port })
    }

    /// Whether `address` is allowed by this origin.
    pub fn allows(&self, address: &VaultAddress) -> bool {
        let Ok(url) = url::Url::parse(address.as_str()) else { return false };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port().unwrap_or_else(|| default_port(url.scheme()));
        url.scheme() == self.scheme && self.host_allows(&host) && self.port_allows(port)
    }

    fn host_allows(&self, host: &str) -> bool {
        if self.wildcard {
            host.strip_suffix(self.host.as_str()).is_some_and(|label| label.len() > 1 && label.ends_with('.'))
        } else {
            host == self.host
        }
    }

    fn port_allows(&self, port: u16) -> bool {
        match self.port {
            Port::Any => true,
            Port::Is(p) => p == port,
        }
    }

    /// Whether every address `other` allows is also allowed by this origin
    /// (a tenant's list must narrow the operator's).
    pub fn covers(&self, other: &OriginPattern) -> bool {
        let ports = match (&self.port, &other.port) {
            (Port::Any, _) => true,
            (Port::Is(a), Port::Is(b)) => a == b,
            (Port::Is(_), Port::Any) => false,
        };
        let hosts = match (self.wildcard, other.wildcard) {
            (false, false) => self.host == other.host,
            (false, true) => false,
            (true, false) => self.host_allows(&other.host),
            (true, true) => other.host == self.host || self.host_allows(&other.host),
        };
        self.scheme == other.scheme && ports && hosts
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = if self.wildcard { "*." } else { "" };
        match self.port {
            Port::Any => write!(f, "{}://{star}{}:*", self.scheme, self.host),
            Port::Is(p) if p == default_port(&self.scheme) => write!(f, "{}://{star}{}", self.scheme, self.host),
            Port::Is(p) => write!(f, "{}://{star}{}:{p}", self.scheme, self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, address: &str) -> bool {
        OriginPattern::parse(pattern).expect("pattern").allows(&VaultAddress::parse(address).expect("address"))
    }

    #[test]
    fn an_origin_without_a_port_means_the_default_port() {
        assert!(allows("https://vault.example.com", "https://vault.example.com"));
        assert!(allows("https://vault.example.com", "https://vault.example.com:443"));
        assert!(!allows("https://vault.example.com", "https://vault.example.com:8200"));
        assert!(allows("https://vault.example.com:8200", "https://vault.example.com:8200"));
    }

    #[test]
    fn a_wildcard_host_matches_one_or_more_labels_but_not_the_bare_suffix() {
        assert!(allows("https://*.example.com", "https://vault.example.com"));
        assert!(allows("https://*.example.com", "https://a.b.example.com"));
        assert!(!allows("https://*.example.com", "https://example.com"));
        assert!(!allows("https://*.example.com", "https://evil-example.com"));
        assert!(!allows("https://*.example.com", "https://example.com.evil.net"));
    }

    #[test]
    fn http_is_allowed_only_where_listed_with_http() {
        assert!(!allows("https://vault.example.com", "http://vault.example.com:443"));
        assert!(allows("http://127.0.0.1:*", "http://127.0.0.1:8200"));
        assert!(!allows("http://127.0.0.1:*", "https://127.0.0.1:8200"));
        assert!(!allows("http://127.0.0.1:*", "http://127.0.0.2:8200"));
    }

    #[test]
    fn a_narrowed_list_must_be_covered_by_the_global_one() {
        let p = |s: &str| OriginPattern::parse(s).expect("pattern");
        assert!(p("https://*.example.com:*").covers(&p("https://vault.example.com:8200")));
        assert!(p("https://*.example.com").covers(&p("https://*.team.example.com")));
        assert!(!p("https://vault.example.com").covers(&p("https://*.example.com")));
        assert!(!p("https://vault.example.com:8200").covers(&p("https://vault.example.com:*")));
        assert!(!p("https://*.example.com").covers(&p("http://vault.example.com")));
    }

    #[test]
    fn malformed_origins_are_refused_with_an_example() {
        for bad in ["vault.example.com", "ftp://x", "https://", "https://a.*.com", "https://x:port", "https://*."] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            OriginPattern::parse("HTTPS://Vault.Example.com:443").expect("ok").to_string(),
            "https://vault.example.com"
        );
    }

    #[test]
    fn refusals_quote_the_input() {
        let said = |s: &str| OriginPattern::parse(s).expect_err(s).to_string();
        assert_eq!(said("ftp://x"), "\"ftp://x\": the scheme must be https or http");
        assert_eq!(said("https://x:port"), "\"https://x:port\": the port must be a number or *");
        assert!(
            said("vault.example.com").starts_with("\"vault.example.com\" is not an origin; write one like https://")
        );
    }
}
