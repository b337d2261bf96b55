//! Extractors: who is calling. A key in `Authorization: Bearer` (or, for the
//! Vault-compatible endpoint, `X-Vault-Token`) is identified ([`crate::auth`])
//! and its request rate checked ([`crate::limits`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{Caller, identify};
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
