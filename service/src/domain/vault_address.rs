//! A Vault server address, parsed and normalized.

use std::fmt;

use agent_runner::vault_path::VaultBase;
use url::Url;

use super::method_block::hcl_unsafe;

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
    pub fn parse(input: &str) -> Result<Self, String> {
        const EXAMPLE: &str = "like \"https://vault.example.com:8200\"";
        if let Some(why) = hcl_unsafe(input) {
            return Err(format!("contains {why}; use a plain URL {EXAMPLE}"));
        }
        let url = Url::parse(input.trim()).map_err(|e| format!("not a URL ({e}); use one {EXAMPLE}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("the scheme must be https (or http for a local test server); use a URL {EXAMPLE}"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials; Vault logins come from the agent".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("must not have a query or fragment; use {EXAMPLE}"));
        }
        if !matches!(url.path(), "" | "/") {
            return Err(format!(
                "must not have a path (the service adds /v1/...); use the server's base address {EXAMPLE}"
            ));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("has no host; use {EXAMPLE}"))?;
        let mut out = format!("{}://{}", url.scheme(), host);
        if let Some(port) = url.port() {
            out.push_str(&format!(":{port}"));
        }
        let base = VaultBase::parse(&out)?;
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
}
