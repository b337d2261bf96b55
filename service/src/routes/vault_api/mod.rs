//! `/vault/{tenant}/{profile}/v1/...`: Vault's own API for one profile, so any
//! Vault client (the `vault`/`bao` CLI, hvac, Go's `api`) reads through the
//! service with only its address and token changed.
//!
//! The client's "Vault token" is a tenant API key with `read` scope, in
//! `X-Vault-Token` or `Authorization: Bearer`. Reads (`GET`, `LIST`) go through
//! the same path checks, token cache and lease tracking as the REST read, and
//! Vault's envelope comes back as Vault sent it (an honest `expires_at` is added
//! as a field and a warning). Lease renew/revoke/lookup act only on leases this
//! profile issued. `auth/token/lookup-self` describes the API key, never the
//! profile's Vault token. Everything else is refused in Vault's error shape:
//! writes 405, `sys/`, `auth/`, `identity/` 403.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

mod answers;
mod leases;

use super::extract::authenticate_key;
use crate::auth::{Caller, Scope};
use crate::domain::secret_path::ReadQuery;
use crate::domain::{ProfileName, SecretPath, TenantId};
use crate::error::ApiError;
use crate::reads::load_login;
use crate::reads::{Served, read_outcome, read_with};
use crate::state::AppState;
use crate::tokens::ProfileLogin;
use crate::vault;
use answers::{capabilities_self, lookup_self, status};
use leases::{LeaseOp, audited_lease_op};

/// An answer in Vault's error shape.
fn vault_error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).insert_header(("Cache-Control", "no-store")).json(json!({ "errors": [message.into()] }))
}

/// Vault's answer to a missing or foreign token, whatever the profile: never a hint of existence.
fn permission_denied() -> HttpResponse {
    vault_error(
        StatusCode::FORBIDDEN,
        "permission denied: send a read API key of this tenant as the Vault token (VAULT_TOKEN / X-Vault-Token)",
    )
}

/// The service's errors in Vault's shape: the message says what to fix.
fn from_api(e: ApiError) -> HttpResponse {
    use actix_web::ResponseError;
    let status = match &e {
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::Unauthorized => StatusCode::FORBIDDEN,
        other => other.status_code(),
    };
    let message = match e {
        ApiError::Unauthorized => "permission denied".to_string(),
        other => {
            let (detail, fields, hint) = other.parts();
            let mut message = detail;
            if let Some(fields) = fields {
                let fields: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.pointer, f.message)).collect();
                message = format!("{message}: {}", fields.join("; "));
            }
            match hint {
                Some(h) => format!("{message}. {h}"),
                None => message,
            }
        }
    };
    vault_error(status, message)
}

fn presented_key(req: &HttpRequest) -> Option<String> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    header("X-Vault-Token")
        .filter(|t| !t.is_empty())
        .or_else(|| header("Authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::trim))
        .map(str::to_string)
}

/// What a request under `/v1/` asks for, parsed once from the decoded path.
/// Only these ever reach Vault, each as a typed [`vault::Op`].
#[derive(Debug)]
enum Target {
    /// `auth/token/lookup-self`: describes the caller's own key.
    LookupSelf,
    /// `sys/health`, `sys/seal-status` or `sys/leader`: answered by the service.
    Status(&'static str),
    /// `sys/capabilities-self`.
    CapabilitiesSelf,
    /// A lease renew, revoke or lookup, with the lease id when the path carries it.
    Lease(LeaseOp, Option<String>),
    /// The mount lookup of a path.
    Mounts(SecretPath),
    /// A secret path.
    Secret(SecretPath),
    /// Anything else: refused with what the endpoint serves.
    Refused(String),
}

/// What the endpoint serves, for refusals.
const SERVED: &str = "this endpoint reads and lists secrets, renews, revokes and looks up their leases, and answers lookup-self, capabilities-self and health for one profile";

fn target(path: &str) -> Target {
    match path {
        "auth/token/lookup-self" => return Target::LookupSelf,
        "sys/health" => return Target::Status("health"),
        "sys/seal-status" => return Target::Status("seal-status"),
        "sys/leader" => return Target::Status("leader"),
        "sys/capabilities-self" => return Target::CapabilitiesSelf,
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("sys/leases/") {
        let (op, id) = rest.split_once('/').map_or((rest, None), |(op, id)| (op, Some(id.to_string())));
        let op = match op {
            "renew" => LeaseOp::Renew,
            "revoke" => LeaseOp::Revoke,
            "lookup" => LeaseOp::Lookup,
            _ => return Target::Refused(format!("only sys/leases/renew, revoke and lookup are served here; {SERVED}")),
        };
        return Target::Lease(op, id.filter(|id| !id.is_empty()));
    }
    if let Some(mount) = path.strip_prefix("sys/internal/ui/mounts/") {
        return match SecretPath::parse(mount) {
            Ok(mount) => Target::Mounts(mount),
            Err(e) => Target::Refused(format!("{e}; {SERVED}")),
        };
    }
    match SecretPath::parse(path) {
        Ok(secret) => Target::Secret(secret),
        Err(e) => Target::Refused(format!("{e}; {SERVED}")),
    }
}

/// Whether `method` is one the target answers (else 405).
fn method_allowed(target: &Target, method: &str) -> bool {
    match target {
        Target::LookupSelf | Target::Mounts(_) => method == "GET",
        Target::Status(_) => method == "GET" || method == "HEAD",
        Target::CapabilitiesSelf | Target::Lease(..) => method == "PUT" || method == "POST",
        Target::Secret(_) => method == "GET" || method == "LIST",
        Target::Refused(_) => false,
    }
}

/// Every request under `/vault/{tenant}/{profile}/v1/`.
pub async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (tenant, profile, vault_path) = path.into_inner();
    let method = req.method().as_str().to_ascii_uppercase();
    let target = target(&vault_path);
    // Health and status need no token, as in Vault.
    if let Target::Status(which) = target {
        return Box::pin(status(&state, &req, &tenant, &profile, which, &method)).await;
    }
    let (key, caller, tenant, profile) = match admit(&state, &req, &tenant, &profile).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    if let Some(refused) = refusal(&state, &req, &caller, (&tenant, &profile), &target, &vault_path, &method) {
        return refused;
    }
    if let Target::LookupSelf = target {
        return lookup_self(&caller, &key);
    }
    let login = match load_login(&state.reads(), &tenant, &profile).await {
        Ok(login) => login,
        Err(ApiError::NotFound(_)) => return permission_denied(),
        Err(e) => return from_api(e),
    };
    if let Some(refused) = namespace_refusal(&req, &login) {
        return refused;
    }
    let secret = match target {
        // Boxed, as the other rare paths: a read's future should not carry them.
        Target::Lease(op, id) => {
            return Box::pin(audited_lease_op(&state, &caller, (&tenant, &profile), &login, op, id, &body)).await;
        }
        Target::Mounts(mount) => return Box::pin(mounts(&state, &login, &mount)).await,
        Target::CapabilitiesSelf => return Box::pin(capabilities_self(&state, &login, &body)).await,
        Target::Secret(secret) => secret,
        Target::LookupSelf | Target::Status(_) | Target::Refused(_) => return permission_denied(),
    };
    let started = std::time::Instant::now();
    let limit = state.settings.request_timeout;
    let result = match ReadQuery::parse(req.query_string()) {
        Ok(query) => {
            let query = if method == "LIST" { query.as_list() } else { query };
            crate::error::within(limit, read_with(&state.reads(), &login, &secret, &query)).await
        }
        Err(e) => Err(ApiError::BadRequest(e.to_string())),
    };
    state.metrics.secret_read(read_outcome(&result), "vault_api");
    state.audit.record_read(&caller, &tenant, profile.as_str(), secret.as_str(), read_outcome(&result), started);
    read_answer(result)
}

/// Who: a read key of this very tenant (the presented key, the caller, and the
/// parsed tenant and profile); anything else is Vault's 403 (429 when rate-limited).
async fn admit(
    state: &AppState,
    req: &HttpRequest,
    tenant: &str,
    profile: &str,
) -> Result<(String, Caller, TenantId, ProfileName), HttpResponse> {
    let Some(key) = presented_key(req) else { return Err(permission_denied()) };
    let caller = match authenticate_key(state, &key).await {
        Ok(caller) => caller,
        Err(e @ ApiError::TooManyRequests { .. }) => return Err(from_api(e)),
        Err(_) => return Err(permission_denied()),
    };
    let (Ok(tenant), Ok(profile)) = (TenantId::parse(tenant), ProfileName::parse(profile)) else {
        return Err(permission_denied());
    };
    if caller.require(tenant.as_str(), Scope::Read).is_err() {
        return Err(permission_denied());
    }
    Ok((key, caller, tenant, profile))
}

/// What an admitted caller is refused before the profile is looked at:
/// response wrapping (400), then outside the served set 403 whatever the
/// method (audited), then a method the target does not answer (405).
fn refusal(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    (tenant, profile): (&TenantId, &ProfileName),
    target: &Target,
    vault_path: &str,
    method: &str,
) -> Option<HttpResponse> {
    if req.headers().contains_key("X-Vault-Wrap-TTL") {
        return Some(vault_error(
            StatusCode::BAD_REQUEST,
            "response wrapping is not supported through this endpoint: the service reads the secret for you; drop -wrap-ttl / X-Vault-Wrap-TTL",
        ));
    }
    if let Target::Refused(why) = target {
        // Recorded in an escaped form: the trail shows what was tried, and no byte of it can break a batch.
        let tried = crate::domain::secret_path::audit_form(vault_path);
        let started = std::time::Instant::now();
        state.audit.record_read(caller, tenant, profile.as_str(), &tried, "refused", started);
        return Some(vault_error(StatusCode::FORBIDDEN, why.clone()));
    }
    if !method_allowed(target, method) {
        return Some(vault_error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not supported on this path: {SERVED} (secrets are read-only here)"),
        ));
    }
    None
}

/// A read's answer in Vault's shape.
fn read_answer(result: Result<Served, ApiError>) -> HttpResponse {
    match result {
        Ok(served) => match &served.read.lease {
            // No lease: Vault's answer passes through as it sent it.
            None => served.response().content_type(ContentType::json()).body(served.read.found.raw.clone()),
            // A lease: Vault's envelope with an honest `lease_duration` and `expires_at`.
            Some(lease) => {
                // `Found::parse` accepted only a JSON object; anything else is Vault's fault, not a panic.
                let Ok(mut envelope @ Value::Object(_)) = serde_json::from_slice::<Value>(&served.read.found.raw)
                else {
                    return from_api(ApiError::BadGateway("Vault's answer to the read is not a JSON object".into()));
                };
                let left = served.lease_secs_left(lease);
                let why = if lease.duration_secs < served.read.found.lease_duration {
                    "the issuing token's maximum life caps the lease"
                } else {
                    "the lease's own duration"
                };
                envelope["lease_duration"] = json!(left);
                envelope["expires_at"] = json!(lease.expires_at);
                add_warning(
                    &mut envelope,
                    format!("auth-service: these credentials end at {} at the latest ({why})", lease.expires_at),
                );
                served.response().json(envelope)
            }
        },
        // Vault answers a missing secret with 404 and an empty error list; clients rely on it.
        Err(ApiError::NotFound(_)) => HttpResponse::NotFound().json(json!({ "errors": [] })),
        Err(e) => from_api(e),
    }
}

fn add_warning(envelope: &mut Value, text: String) {
    match envelope.get_mut("warnings").and_then(Value::as_array_mut) {
        Some(list) => list.push(json!(text)),
        None => envelope["warnings"] = json!([text]),
    }
}

/// `X-Vault-Namespace` must be absent or the profile's own: the profile decides.
fn namespace_refusal(req: &HttpRequest, login: &ProfileLogin) -> Option<HttpResponse> {
    let asked = req.headers().get("X-Vault-Namespace").and_then(|v| v.to_str().ok())?.trim().trim_matches('/');
    let own = login.namespace.as_deref().unwrap_or("").trim_matches('/');
    (!asked.is_empty() && asked != own).then(|| {
        vault_error(
            StatusCode::BAD_REQUEST,
            format!(
                "this profile reads in namespace {:?}; drop X-Vault-Namespace (VAULT_NAMESPACE) or use a profile for {asked:?}",
                own
            ),
        )
    })
}

/// The mount lookup of a path with the profile's token (the CLI's `kv` commands ask it for the KV version).
async fn mounts(state: &AppState, login: &ProfileLogin, mount: &SecretPath) -> HttpResponse {
    let token = match state.tokens.get(login).await {
        Ok((token, _)) => token,
        Err(e) => return from_api(crate::reads::token_error(e)),
    };
    match state.tokens.vault(login).read(&token.token, vault::Op::Mounts(mount)).await {
        Ok(vault::ReadOutcome::Found(found)) => HttpResponse::Ok().content_type(ContentType::json()).body(found.raw),
        Ok(vault::ReadOutcome::NotFound) => HttpResponse::NotFound().json(json!({ "errors": [] })),
        Ok(vault::ReadOutcome::Forbidden(e)) => vault_error(StatusCode::FORBIDDEN, e),
        Ok(vault::ReadOutcome::Other(status, e)) => {
            vault_error(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), e)
        }
        Err(e) => vault_error(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}
