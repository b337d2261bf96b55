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

use super::leases::{self, increment_seconds};
use super::resolve::load_login;
use super::secrets::{read_outcome, read_with};
use crate::auth::{Caller, Scope, authenticate_key};
use crate::domain::{ProfileName, TenantId};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::ProfileLogin;
use crate::vault;

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

/// Every request under `/vault/{tenant}/{profile}/v1/`.
pub async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (tenant, profile, vault_path) = path.into_inner();
    // Who: a read key of this very tenant; anything else is Vault's 403.
    let Some(key) = presented_key(&req) else { return permission_denied() };
    let caller = match authenticate_key(&state, &key).await {
        Ok(caller) => caller,
        Err(e @ ApiError::TooManyRequests { .. }) => return from_api(e),
        Err(_) => return permission_denied(),
    };
    let (Ok(tenant), Ok(profile)) = (TenantId::parse(&tenant), ProfileName::parse(&profile)) else {
        return permission_denied();
    };
    if caller.require(tenant.as_str(), Scope::Read).is_err() {
        return permission_denied();
    }
    if req.headers().contains_key("X-Vault-Wrap-TTL") {
        return vault_error(
            StatusCode::BAD_REQUEST,
            "response wrapping is not supported through this endpoint: the service reads the secret for you; drop -wrap-ttl / X-Vault-Wrap-TTL",
        );
    }
    let method = req.method().as_str().to_ascii_uppercase();
    let write = method == "PUT" || method == "POST";
    match (method.as_str(), vault_path.as_str()) {
        ("GET", "auth/token/lookup-self") => return lookup_self(&caller),
        ("GET" | "LIST", _) => {}
        ("PUT" | "POST", p) if p.starts_with("sys/leases/") => {}
        _ => {
            return vault_error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{method} is not supported here: this endpoint serves reads, lists and lease renew/revoke/lookup for one profile"
                ),
            );
        }
    }
    let login = match load_login(&state, &tenant, &profile).await {
        Ok(login) => login,
        Err(ApiError::NotFound(_)) => return permission_denied(),
        Err(e) => return from_api(e),
    };
    if let Some(refused) = namespace_refusal(&req, &login) {
        return refused;
    }
    if let Some(lease_path) = vault_path.strip_prefix("sys/leases/")
        && write
    {
        // Boxed, as the other rare paths: a read's future should not carry them.
        let response = Box::pin(lease_op(&state, &login, lease_path, &body)).await;
        let action = if lease_path.starts_with("revoke") { "lease.revoke" } else { "lease.renew" };
        if !lease_path.starts_with("lookup") {
            let outcome = if response.status().is_success() { "ok" } else { "refused" };
            crate::audit::record(
                &state,
                &caller,
                crate::audit::Event {
                    tenant: &tenant,
                    action,
                    profile: Some(profile.as_str()),
                    path: None,
                    outcome,
                    started: None,
                },
            );
        }
        return response;
    }
    if let Some(mount) = vault_path.strip_prefix("sys/internal/ui/mounts/") {
        return Box::pin(mounts(&state, &login, mount)).await;
    }
    let first = vault_path.split('/').next().unwrap_or_default().to_ascii_lowercase();
    if ["sys", "auth", "identity", "cubbyhole"].contains(&first.as_str()) {
        return vault_error(
            StatusCode::FORBIDDEN,
            format!(
                "{first}/ paths are not served here: this endpoint reads secrets (and renews their leases) for one profile"
            ),
        );
    }
    let mut query = req.query_string().to_string();
    if method == "LIST" {
        query = if query.is_empty() { "list=true".into() } else { format!("{query}&list=true") };
    }
    let started = std::time::Instant::now();
    let limit = state.settings.request_timeout;
    let result = crate::error::within(limit, read_with(&state, &login, &vault_path, &query)).await;
    state.metrics.secret_read(read_outcome(&result), "vault_api");
    crate::audit::record_read(&state, &caller, &tenant, profile.as_str(), &vault_path, read_outcome(&result), started);
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
                envelope["lease_duration"] = json!(served.lease_secs_left(lease));
                envelope["expires_at"] = json!(lease.expires_at);
                add_warning(
                    &mut envelope,
                    format!(
                        "auth-service: these credentials end at {} at the latest (the issuing token's maximum life caps the lease)",
                        lease.expires_at
                    ),
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

/// The API key itself, described as Vault describes a token (never the profile's Vault token).
fn lookup_self(caller: &Caller) -> HttpResponse {
    let Caller::Tenant { key_id, name, scopes, .. } = caller else { return permission_denied() };
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "request_id": "",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": {
            "accessor": "",
            "display_name": name,
            "entity_id": "",
            "expire_time": null,
            "explicit_max_ttl": 0,
            "id": "",
            "meta": { "auth_service_key_id": key_id },
            "num_uses": 0,
            "orphan": true,
            "path": "auth-service/api-key",
            "policies": scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "renewable": false,
            "ttl": 0,
            "type": "service"
        },
        "wrap_info": null,
        "warnings": null,
        "auth": null
    }))
}

/// `sys/internal/ui/mounts/<path>` with the profile's token (the CLI's `kv` commands ask it for the KV version).
async fn mounts(state: &AppState, login: &ProfileLogin, mount: &str) -> HttpResponse {
    if mount.split('/').any(|s| s == ".." || s == ".") || mount.len() > 1024 {
        return vault_error(StatusCode::BAD_REQUEST, "the mount path must not contain '.' or '..'");
    }
    let token = match state.tokens.get(login).await {
        Ok((token, _)) => token,
        Err(e) => return from_api(super::secrets::token_error(e)),
    };
    let path = format!("sys/internal/ui/mounts/{mount}");
    match vault::read(
        state.tokens.http(),
        &login.address,
        login.namespace.as_deref(),
        &token.token,
        &path,
        "",
        state.tokens.vault_timeout(),
    )
    .await
    {
        Ok(vault::ReadOutcome::Found(found)) => HttpResponse::Ok().content_type(ContentType::json()).body(found.raw),
        Ok(vault::ReadOutcome::NotFound) => HttpResponse::NotFound().json(json!({ "errors": [] })),
        Ok(vault::ReadOutcome::Forbidden(e)) => vault_error(StatusCode::FORBIDDEN, e),
        Ok(vault::ReadOutcome::Other(status, e)) => {
            vault_error(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), e)
        }
        Err(e) => vault_error(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

/// `sys/leases/{renew,revoke,lookup}[/<lease id>]`: the lease id in the path or the body.
async fn lease_op(state: &AppState, login: &ProfileLogin, lease_path: &str, body: &[u8]) -> HttpResponse {
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
    let (op, from_path) = lease_path.split_once('/').map_or((lease_path, None), |(op, id)| (op, Some(id)));
    let lease_id = from_path
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .or_else(|| parsed["lease_id"].as_str().map(str::to_string))
        .unwrap_or_default();
    if lease_id.is_empty() {
        return vault_error(StatusCode::BAD_REQUEST, "missing lease_id: send it in the body or at the end of the path");
    }
    match op {
        "renew" => {
            let increment = match increment_seconds(&parsed.get("increment").cloned()) {
                Ok(i) => i.filter(|s| *s > 0),
                Err(e) => return from_api(e),
            };
            match leases::renew(state, login, &lease_id, increment).await {
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
        "revoke" => match leases::revoke(state, login, &lease_id).await {
            Ok(()) => HttpResponse::NoContent().finish(),
            Err(e) => from_api(e),
        },
        "lookup" => match leases::lookup(state, login, &lease_id).await {
            Ok(answer) => HttpResponse::Ok().json(answer),
            Err(e) => from_api(e),
        },
        _ => vault_error(StatusCode::FORBIDDEN, "only sys/leases/renew, revoke and lookup are served here"),
    }
}
