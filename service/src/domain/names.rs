//! Tenant ids and profile names: `^[a-z0-9][a-z0-9-]{0,62}$`.

use std::fmt;

/// What a [`Name`] names, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A tenant id.
    Tenant,
    /// An auth profile name.
    Profile,
}

/// A tenant id or profile name that matches `^[a-z0-9][a-z0-9-]{0,62}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// Parse; the error says what is expected.
    pub fn parse(input: &str, kind: NameKind) -> Result<Self, String> {
        let ok = !input.is_empty()
            && input.len() <= 63
            && input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && input.as_bytes()[0] != b'-';
        if ok {
            Ok(Self(input.to_string()))
        } else {
            let what = match kind {
                NameKind::Tenant => "a tenant id",
                NameKind::Profile => "a profile name",
            };
            Err(format!(
                "{what} is 1 to 63 characters of lower-case letters, digits and '-', starting with a letter or digit, like \"team-a\" (pattern ^[a-z0-9][a-z0-9-]{{0,62}}$)"
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_tenant_id_pattern() {
        for good in ["a", "team-a", "0", "x".repeat(63).as_str(), "a-"] {
            assert!(Name::parse(good, NameKind::Tenant).is_ok(), "{good}");
        }
        for bad in ["", "-a", "Team", "a_b", "a.b", "x".repeat(64).as_str(), "é", "a/b"] {
            assert!(Name::parse(bad, NameKind::Profile).is_err(), "{bad}");
        }
    }
}
