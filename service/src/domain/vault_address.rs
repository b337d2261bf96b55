//! A Vault server address, parsed and normalized.

use std::fmt;

use agent_runner::vault_path::VaultBase;
use url::Url;

use super::method_block::hcl_unsafe;

/// How an address is written in the messages.
const EXAMPLE: &str = "like \"https://vault.example.com:8200\"";

/// Why a text is not a Vault address; each message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultAddressError {
    /// Characters that could break the agent's HCL config (described).
    #[error("contains {0}; use a plain URL {EXAMPLE}")]
    Unsafe(&'static str),
    /// Not a URL at all.
    #[error("not a URL ({0}); use one {EXAMPLE}")]
    NotAUrl(url::ParseError),
    /// Neither http nor https.
    #[error("the scheme must be https (or http for a local test server); use a URL {EXAMPLE}")]
    Scheme,
    /// A user name or password.
    #[error("must not contain credentials; Vault logins come from the agent")]
    Credentials,
    /// A query or a fragment.
    #[error("must not have a query or fragment; use {EXAMPLE}")]
    QueryOrFragment,
    /// A path.
    #[error("must not have a path (the service adds /v1/...); use the server's base address {EXAMPLE}")]
    Path,
    /// No host.
    #[error("has no host; use {EXAMPLE}")]
    NoHost,
    /// Refused by the runner's base-address check.
    #[error("{0}")]
    Base(agent_runner::vault_path::BaseError),
}

/// An `http(s)://host[:port]` address without credentials, path, query or
/// fragment; normalized (lower-case host, default port dropped, no trailing `/`)
/// so equal servers compare equal (the EC2 nonce key relies on it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultAddress {
    text: String,
    /// The same origin, parsed once: every request URL is built from it.
    base: VaultBase,
}

impl VaultAddress {
    /// Parse and normalize; the error says what to send instead.
    pub fn parse(input: &str) -> Result<Self, VaultAddressError> {
        if let Some(why) = hcl_unsafe(input) {
            return Err(VaultAddressError::Unsafe(why));
        }
        let url = Url::parse(input.trim()).map_err(VaultAddressError::NotAUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(VaultAddressError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(VaultAddressError::Credentials);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(VaultAddressError::QueryOrFragment);
        }
        if !matches!(url.path(), "" | "/") {
            return Err(VaultAddressError::Path);
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or(VaultAddressError::NoHost)?;
        let mut out = format!("{}://{}", url.scheme(), host);
        if let Some(port) = url.port() {
            out.push_str(&format!(":{port}"));
        }
        let base = VaultBase::parse(&out).map_err(VaultAddressError::Base)?;
        Ok(Self { text: out, base })
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The origin that request URLs are built from ([`agent_runner::vault_path::ApiPath::url`]).
    pub fn base(&self) -> &VaultBase {
        &self.base
    }
}

impl fmt::Display for VaultAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_normalized_so_equal_servers_compare_equal() {
        let a = VaultAddress::parse("HTTPS://Vault.Example.com:443/").expect("valid");
        let b = VaultAddress::parse("https://vault.example.com").expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "https://vault.example.com");
    }

    #[test]
    fn a_non_default_port_is_kept() {
        let a = VaultAddress::parse("http://127.0.0.1:8200").expect("valid");
        assert_eq!(a.as_str(), "http://127.0.0.1:8200");
        assert_eq!(a.base().as_url().as_str(), "http://127.0.0.1:8200/");
    }

    #[test]
    fn credentials_paths_queries_and_other_schemes_are_refused() {
        for bad in [
            "https://user:pw@vault.example.com",
            "https://vault.example.com/ui",
            "https://vault.example.com?x=1",
            "ftp://vault.example.com",
            "vault.example.com",
            "https://vault.example.com/${x}",
            "",
        ] {
            assert!(VaultAddress::parse(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn refusals_say_what_to_send_instead() {
        let said = |s: &str| VaultAddress::parse(s).expect_err(s).to_string();
        assert_eq!(
            said("ftp://x"),
            "the scheme must be https (or http for a local test server); use a URL like \"https://vault.example.com:8200\""
        );
        assert_eq!(said("https://u:p@x"), "must not contain credentials; Vault logins come from the agent");
        assert_eq!(
            said("https://x/v1"),
            "must not have a path (the service adds /v1/...); use the server's base address like \"https://vault.example.com:8200\""
        );
        assert!(said("nope").starts_with("not a URL ("), "{}", said("nope"));
    }
}
