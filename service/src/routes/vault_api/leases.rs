//! `sys/leases/renew`, `revoke` and `lookup` through the Vault-compatible
//! endpoint: only leases this profile issued; renew and revoke are audited.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

use super::{add_warning, from_api, vault_error};
use crate::auth::Caller;
use crate::domain::{ProfileName, TenantId};
use crate::reads::leases::{self, increment_seconds};
use crate::state::AppState;
use crate::tokens::ProfileLogin;

/// A lease operation of `sys/leases/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LeaseOp {
    Renew,
    Revoke,
    Lookup,
}

/// A lease renew, revoke or lookup; renew and revoke are audited.
pub(super) async fn audited_lease_op(
    state: &AppState,
    caller: &Caller,
    (tenant, profile): (&TenantId, &ProfileName),
    login: &ProfileLogin,
    op: LeaseOp,
    id: Option<String>,
    body: &[u8],
) -> HttpResponse {
    let response = lease_op(state, login, op, id, body).await;
    if op != LeaseOp::Lookup {
        let action = if op == LeaseOp::Revoke { "lease.revoke" } else { "lease.renew" };
        let outcome = if response.status().is_success() { "ok" } else { "refused" };
        state.audit.record(
            caller,
            crate::audit::Event { tenant, action, profile: Some(profile.as_str()), path: None, outcome, started: None },
        );
    }
    response
}

/// A lease renew, revoke or lookup: the lease id in the path or the body.
async fn lease_op(
    state: &AppState,
    login: &ProfileLogin,
    op: LeaseOp,
    from_path: Option<String>,
    body: &[u8],
) -> HttpResponse {
    let parsed: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                return vault_error(StatusCode::BAD_REQUEST, "the body must be JSON like {\"lease_id\": \"...\"}");
            }
        }
    };
    let raw = from_path.or_else(|| parsed["lease_id"].as_str().map(str::to_string)).unwrap_or_default();
    if raw.is_empty() {
        return vault_error(StatusCode::BAD_REQUEST, "missing lease_id: send it in the body or at the end of the path");
    }
    let lease_id = match leases::lease_id(&raw) {
        Ok(id) => id,
        Err(e) => return from_api(e),
    };
    match op {
        LeaseOp::Renew => {
            let increment = match increment_seconds(&parsed.get("increment").cloned()) {
                Ok(i) => i.filter(|s| *s > 0),
                Err(e) => return from_api(e),
            };
            match leases::renew(&state.reads(), login, &lease_id, increment).await {
                Ok((renewed, mut answer)) => {
                    answer["lease_duration"] = json!(renewed.lease_duration);
                    answer["expires_at"] = json!(renewed.expires_at);
                    add_warning(
                        &mut answer,
                        format!("auth-service: this lease ends at {} at the latest", renewed.expires_at),
                    );
                    HttpResponse::Ok().json(answer)
                }
                Err(e) => from_api(e),
            }
        }
        LeaseOp::Revoke => match leases::revoke(&state.reads(), login, &lease_id).await {
            Ok(()) => HttpResponse::NoContent().finish(),
            Err(e) => from_api(e),
        },
        LeaseOp::Lookup => match leases::lookup(&state.reads(), login, &lease_id).await {
            Ok(answer) => HttpResponse::Ok().json(answer),
            Err(e) => from_api(e),
        },
    }
}
