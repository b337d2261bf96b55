//! Extractors: who is calling. A key in `Authorization: Bearer` (or, for the
//! Vault-compatible endpoint, `X-Vault-Token`) is identified ([`crate::auth`])
//! and its request rate checked ([`crate::limits`]); [`TenantAdmin`] adds the
//! path's tenant and the `admin` scope.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{Caller, Scope, identify};
use crate::domain::TenantId;
use crate::error::ApiError;
use crate::state::AppState;

/// Identify a presented key and check its rate.
pub async fn authenticate_key(state: &AppState, presented: &str) -> Result<Caller, ApiError> {
    let caller = identify(&state.settings, &state.store, presented).await?;
    state.limits.check(&caller)?;
    Ok(caller)
}

async fn authenticate(state: &AppState, header: Option<&str>) -> Result<Caller, ApiError> {
    let presented = header
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    authenticate_key(state, presented).await
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .map(|s| SecretString::from(s.to_string()));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            authenticate(&state, header.as_ref().map(|h| h.expose_secret())).await
        })
    }
}

/// A tenant admin acting under `/v1/tenants/{tenant}`: the key is identified
/// (401), the path's tenant parsed (a malformed one: 404), and the key must be
/// an `admin` key of that tenant (another tenant's key: 404; too few scopes or
/// the operator: 403), in that order.
pub struct TenantAdmin {
    /// Who is calling.
    pub caller: Caller,
    /// The tenant of the path, which is the caller's own.
    pub tenant: TenantId,
}

impl TenantAdmin {
    /// The checks on an identified caller. A handler whose JSON body must be
    /// read (and refused with 400) before the tenant is checked calls this
    /// itself rather than extracting a `TenantAdmin`.
    pub fn check(caller: Caller, raw_tenant: &str) -> Result<Self, ApiError> {
        let tenant = super::tenant_id(raw_tenant)?;
        caller.require(tenant.as_str(), Scope::Admin)?;
        Ok(Self { caller, tenant })
    }
}

impl FromRequest for TenantAdmin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let tenant = req.match_info().get("tenant").unwrap_or_default().to_string();
        Box::pin(async move { Self::check(caller.await?, &tenant) })
    }
}

#[cfg(test)]
mod tests {
    use super::TenantAdmin;
    use crate::auth::{Caller, Scope};
    use crate::domain::TenantId;
    use crate::error::ApiError;

    fn key(tenant: &str, scopes: &[Scope]) -> Caller {
        let tenant = TenantId::parse(tenant).expect("tenant");
        Caller::Tenant { tenant, key_id: "k1".into(), name: "ci".into(), scopes: scopes.to_vec() }
    }

    #[test]
    fn a_malformed_tenant_is_not_found_before_the_key_is_looked_at() {
        assert!(matches!(TenantAdmin::check(Caller::Operator, "Bad Tenant"), Err(ApiError::NotFound(_))));
    }

    #[test]
    fn another_tenants_key_is_not_found_and_a_read_key_or_the_operator_forbidden() {
        assert!(matches!(TenantAdmin::check(key("acme", &[Scope::Admin]), "other"), Err(ApiError::NotFound(_))));
        assert!(matches!(TenantAdmin::check(key("acme", &[Scope::Read]), "acme"), Err(ApiError::Forbidden(_))));
        assert!(matches!(TenantAdmin::check(Caller::Operator, "acme"), Err(ApiError::Forbidden(_))));
    }

    #[test]
    fn an_admin_key_of_the_tenant_passes_with_the_parsed_tenant() {
        let admin = TenantAdmin::check(key("acme", &[Scope::Admin]), "acme").expect("admin");
        assert_eq!(admin.tenant.as_str(), "acme");
    }
}
