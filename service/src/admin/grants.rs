//! A tenant's grants as the operator sends them (`PATCH /v1/tenants/{tenant}`):
//! every Vault origin and login type must lie within the global settings, and
//! every problem is reported at once, each with its pointer.

use crate::config::Settings;
use crate::domain::{FieldError, OriginPattern};
use crate::error::ApiError;
use crate::store::TenantGrants;
use crate::trust::{LoginKind, global_kinds};

/// The grants to store (a list left out stays as it is), or 400 listing every problem.
pub fn checked(
    settings: &Settings,
    vault_addresses: Option<&[String]>,
    methods: Option<&[String]>,
) -> Result<TenantGrants, ApiError> {
    let mut errors = Vec::new();
    let mut grants = TenantGrants::default();
    if let Some(list) = vault_addresses {
        let global = &settings.vault_addresses;
        let mut out = Vec::new();
        for (i, item) in list.iter().enumerate() {
            match OriginPattern::parse(item) {
                Ok(o) if global.iter().any(|g| g.covers(&o)) => out.push(o.to_string()),
                Ok(o) => errors.push(FieldError::new(
                    format!("/vault_addresses/{i}"),
                    format!(
                        "{o} is not within the operator's AUTH_SERVICE_VAULT_ADDRESSES ({}); a tenant's list may only narrow it",
                        global.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    ),
                )),
                Err(e) => errors.push(FieldError::new(format!("/vault_addresses/{i}"), e.to_string())),
            }
        }
        grants.vault_addresses = Some(out);
    }
    if let Some(list) = methods {
        let global = global_kinds(settings);
        let mut out: Vec<String> = Vec::new();
        for (i, item) in list.iter().enumerate() {
            match LoginKind::parse(item) {
                Some(k) if global.contains(&k) => {
                    if !out.iter().any(|m| m == k.as_str()) {
                        out.push(k.as_str().to_string());
                    }
                }
                Some(k) => errors.push(FieldError::new(
                    format!("/methods/{i}"),
                    format!(
                        "{k} is not enabled globally (AUTH_SERVICE_ALLOWED_METHODS); a tenant's list may only narrow it"
                    ),
                )),
                None => errors.push(FieldError::new(format!("/methods/{i}"), "use iam, ec2 or jwt")),
            }
        }
        grants.methods = Some(out);
    }
    if !errors.is_empty() {
        let detail = format!("{} problem(s) in the grants; see errors", errors.len());
        return Err(ApiError::Validation { detail, errors });
    }
    Ok(grants)
}
