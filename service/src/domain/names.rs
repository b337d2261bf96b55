//! Tenant ids and profile names: `^[a-z0-9][a-z0-9-]{0,62}$`, as two types
//! so that one cannot be passed where the other is meant.

use std::fmt;

/// Whether `input` matches `^[a-z0-9][a-z0-9-]{0,62}$`.
fn well_formed(input: &str) -> bool {
    !input.is_empty()
        && input.len() <= 63
        && input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && input.as_bytes()[0] != b'-'
}

/// A name that does not match `^[a-z0-9][a-z0-9-]{0,62}$`; it says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} is 1 to 63 characters of lower-case letters, digits and '-', starting with a letter or digit, like \"team-a\" (pattern ^[a-z0-9][a-z0-9-]{{0,62}}$)"
)]
pub struct NameError {
    /// What was being named: "a tenant id" or "a profile name".
    pub what: &'static str,
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parse; the error says what is expected.
            pub fn parse(input: &str) -> Result<Self, NameError> {
                if well_formed(input) { Ok(Self(input.to_string())) } else { Err(NameError { what: $what }) }
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A tenant id.
    TenantId,
    "a tenant id"
);
name_type!(
    /// An auth profile's name, unique in its tenant.
    ProfileName,
    "a profile name"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_tenant_id_pattern() {
        for good in ["a", "team-a", "0", "x".repeat(63).as_str(), "a-"] {
            assert!(TenantId::parse(good).is_ok(), "{good}");
            assert!(ProfileName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "Team", "a_b", "a.b", "x".repeat(64).as_str(), "é", "a/b"] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
            assert!(ProfileName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_say_which_kind_of_name_was_expected() {
        assert!(TenantId::parse("A").is_err_and(|e| e.to_string().starts_with("a tenant id")));
        assert!(ProfileName::parse("A").is_err_and(|e| e.to_string().starts_with("a profile name")));
    }
}
