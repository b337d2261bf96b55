//! What the Vault-compatible endpoint answers itself, in Vault's shapes:
//! `lookup-self` (the caller's own key), `sys/health`, `sys/seal-status` and
//! `sys/leader` (this service's readiness), and `sys/capabilities-self`
//! (forwarded for served paths only).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::{authenticate_key, from_api, permission_denied, presented_key, vault_error};
use crate::auth::{Caller, Scope};
use crate::domain::{ProfileName, SecretPath, TenantId};
use crate::reads::load_login;
use crate::state::AppState;
use crate::tokens::ProfileLogin;
use crate::vault;

/// The API key itself, described as Vault describes a token: `id` echoes the
/// key the caller presented (as Vault echoes the token, so Vault Agent and
/// Proxy with `token_file` take it as their token), `accessor` is the key's
/// public id. Never the profile's Vault token.
pub(super) fn lookup_self(caller: &Caller, presented: &str) -> HttpResponse {
    let Caller::Tenant { key_id, name, scopes, .. } = caller else { return permission_denied() };
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "request_id": "",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": {
            "accessor": key_id,
            "creation_time": 0,
            "creation_ttl": 0,
            "display_name": name,
            "entity_id": "",
            "expire_time": null,
            "explicit_max_ttl": 0,
            "id": presented,
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

/// A `*code` query parameter of `sys/health`, or `default`.
fn code_param(req: &HttpRequest, name: &str, default: StatusCode) -> StatusCode {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(default)
}

/// `sys/health`, `sys/seal-status` and `sys/leader`, answered by the service in
/// Vault's shapes without a token: "unsealed" means this service is ready
/// (database reachable, agent binary runnable) and, when the caller presents a
/// read key of this tenant, the profile exists. Without such a key nothing is
/// said about the profile. No Vault version or cluster id is revealed.
pub(super) async fn status(
    state: &AppState,
    req: &HttpRequest,
    tenant: &str,
    profile: &str,
    which: &str,
    method: &str,
) -> HttpResponse {
    if method != "GET" && method != "HEAD" {
        return vault_error(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not supported on sys/{which}"));
    }
    let mut serving = crate::readiness::readiness(state).await.iter().all(|c| c.ok);
    if serving
        && let Some(key) = presented_key(req)
        && let Ok(caller) = authenticate_key(state, &key).await
        && let (Ok(tenant), Ok(profile)) = (TenantId::parse(tenant), ProfileName::parse(profile))
        && caller.require(tenant.as_str(), Scope::Read).is_ok()
    {
        serving = load_login(&state.reads(), &tenant, &profile).await.is_ok();
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (code, body) = match which {
        "health" => (
            if serving {
                code_param(req, "activecode", StatusCode::OK)
            } else {
                code_param(req, "sealedcode", StatusCode::SERVICE_UNAVAILABLE)
            },
            json!({
                "initialized": true, "sealed": !serving, "standby": false, "performance_standby": false,
                "replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
                "server_time_utc": now, "version": "", "cluster_name": "auth-service", "cluster_id": ""
            }),
        ),
        "seal-status" => (
            StatusCode::OK,
            json!({
                "type": "shamir", "initialized": true, "sealed": !serving, "t": 1, "n": 1, "progress": 0,
                "nonce": "", "version": "", "build_date": "", "migration": false,
                "cluster_name": "auth-service", "cluster_id": "", "recovery_seal": false, "storage_type": ""
            }),
        ),
        _ => (
            StatusCode::OK,
            json!({
                "ha_enabled": false, "is_self": false, "active_time": "0001-01-01T00:00:00Z",
                "leader_address": "", "leader_cluster_address": "",
                "performance_standby": false, "performance_standby_last_remote_wal": 0
            }),
        ),
    };
    let mut out = HttpResponse::build(code);
    out.insert_header(("Cache-Control", "no-store"));
    if method == "HEAD" { out.finish() } else { out.json(body) }
}

/// `sys/capabilities-self` with `{"paths": [...]}` (or `"path"`): forwarded with
/// the profile's token for the paths the read endpoint serves; `["deny"]` for the others.
pub(super) async fn capabilities_self(state: &AppState, login: &ProfileLogin, body: &[u8]) -> HttpResponse {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return vault_error(StatusCode::BAD_REQUEST, "the body must be JSON like {\"paths\": [\"secret/data/app\"]}");
    };
    let asked: Vec<String> = match (parsed.get("paths"), parsed.get("path")) {
        (Some(Value::Array(list)), _) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        (Some(Value::String(one)), _) | (None, Some(Value::String(one))) => vec![one.clone()],
        _ => Vec::new(),
    };
    if asked.is_empty() || asked.len() > 64 {
        return vault_error(StatusCode::BAD_REQUEST, "send 1 to 64 paths: {\"paths\": [\"secret/data/app\"]}");
    }
    let served: Vec<SecretPath> = asked.iter().filter_map(|p| SecretPath::parse(p).ok()).collect();
    let mut answer = serde_json::Map::new();
    if !served.is_empty() {
        let token = match state.tokens.get(login).await {
            Ok((token, _)) => token,
            Err(e) => return from_api(crate::reads::token_error(e)),
        };
        match state.tokens.vault(login).call(&token.token, vault::Op::CapabilitiesSelf(&served)).await {
            Ok((status, vault_answer)) if status.is_success() => {
                let data = vault_answer.get("data").filter(|d| d.is_object()).unwrap_or(&vault_answer);
                for path in &served {
                    let caps = data.get(path.as_str()).filter(|c| c.is_array()).cloned().unwrap_or(json!(["deny"]));
                    answer.insert(path.as_str().to_string(), caps);
                }
            }
            Ok((status, vault_answer)) => {
                return vault_error(
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
                    vault::vault_errors(&vault_answer),
                );
            }
            Err(e) => return vault_error(StatusCode::BAD_GATEWAY, e.to_string()),
        }
    }
    for path in &asked {
        answer.entry(path.clone()).or_insert_with(|| json!(["deny"]));
    }
    let mut out = serde_json::Map::new();
    if let [only] = asked.as_slice()
        && let Some(caps) = answer.get(only)
    {
        out.insert("capabilities".into(), caps.clone());
    }
    out.extend(answer.clone());
    out.insert("data".into(), Value::Object(answer));
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(Value::Object(out))
}
