//! The last touches of the OpenAPI document, on its JSON: what utoipa's types
//! cannot say (the method block's own JSON Schema, with `if`/`then`), and rules
//! applied to every operation in one place, so a new handler cannot forget
//! them: every response described, the statuses the service really answers
//! declared (403 for a key of the wrong kind, 405 for a method a path does not
//! have, 413 for a body over the limit),
//! `security: []` on the open routes, and the Vault-compatible endpoint.

use serde_json::{Map, Value, json};

use crate::domain::ValidationPolicy;
use crate::domain::method_block;

/// The description of a status, where the handler gave none.
fn describe(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no content",
        "400" => "The request is not valid: the problem names each field and the fix",
        "401" => "Missing or unknown API key",
        "403" => {
            "The key may not do this: a scope it lacks, or the operator key where a tenant key is needed (or the reverse)"
        }
        "404" => "No such resource, or a resource of another tenant",
        "405" => "The path does not have this method (the Allow header lists the ones it has)",
        "409" => "Conflicts with the current state (the problem says which)",
        "412" => "If-Match does not match the profile's current revision (ETag)",
        "413" => "The body is larger than the service accepts (64 KiB)",
        "429" => "The key is over its request rate, or the test connection cooldown (Retry-After)",
        "502" => "Vault answered in a way the service cannot use, or could not be reached",
        "503" => {
            "A dependency is unavailable: the database, an agent slot, or logins paused after a failure (Retry-After)"
        }
        "504" => "Vault did not answer in time",
        _ => "See the problem's detail",
    }
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Finish `doc` (utoipa's document as JSON) for `policy`'s method types.
pub fn finish(doc: &mut Value, policy: &ValidationPolicy) {
    method_block_schema(doc, policy);
    bearer_format(doc);
    // Served by the service itself: relative to where the document was fetched.
    doc["servers"] = json!([{ "url": "/", "description": "this service (the document is served by it)" }]);
    if let Some(license) = doc.pointer_mut("/info/license").and_then(Value::as_object_mut) {
        license.insert("identifier".into(), json!("Apache-2.0"));
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else { continue };
                declare_statuses(path, op);
                // The handler's doc comment: its first line is the summary, the whole the description.
                if !op.contains_key("description")
                    && let Some(summary) = op.get("summary").cloned()
                {
                    op.insert("description".into(), summary);
                }
                if !path.starts_with("/v1/") {
                    op.insert("security".into(), json!([]));
                }
            }
        }
        paths.insert("/vault/{tenant}/{profile}/v1/{path}".into(), vault_api());
    }
}

/// The profile's `method` is the method block the service enforces.
fn method_block_schema(doc: &mut Value, policy: &ValidationPolicy) {
    let mut schema = method_block::combined_schema(policy);
    if let Some(o) = schema.as_object_mut() {
        o.remove("$schema");
    }
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        schemas.insert("MethodBlock".into(), schema);
    }
    if let Some(method) = doc.pointer_mut("/components/schemas/ProfileInput/properties/method") {
        *method = json!({
            "$ref": "#/components/schemas/MethodBlock",
            "description": "The agent's auto_auth method block (docs/method-block.md)"
        });
    }
}

fn bearer_format(doc: &mut Value) {
    if let Some(bearer) = doc.pointer_mut("/components/securitySchemes/bearer").and_then(Value::as_object_mut) {
        bearer.insert("bearerFormat".into(), json!("vas_<key id>_<secret> (a tenant API key), or the operator key"));
        bearer.insert(
            "description".into(),
            json!("A tenant API key (admin or read scope), or the operator key for tenant and key management"),
        );
    }
    if let Some(schemes) = doc.pointer_mut("/components/securitySchemes").and_then(Value::as_object_mut) {
        schemes.insert(
            "vaultToken".into(),
            json!({ "type": "apiKey", "in": "header", "name": "X-Vault-Token",
                    "description": "A read key of the tenant, sent as a Vault client sends its token" }),
        );
    }
}

/// Describe every response, and declare 403 (authenticated operations) and 413 (bodies).
fn declare_statuses(path: &str, op: &mut Map<String, Value>) {
    let takes_body = op.contains_key("requestBody");
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { return };
    let problem = |code: &str| {
        json!({ "description": describe(code),
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } })
    };
    if path.starts_with("/v1/") && !responses.contains_key("403") {
        responses.insert("403".into(), problem("403"));
    }
    // Any path answers 405 (with Allow) to a method it does not have.
    if !responses.contains_key("405") {
        responses.insert("405".into(), problem("405"));
    }
    if takes_body && !responses.contains_key("413") {
        responses.insert("413".into(), problem("413"));
    }
    for (code, response) in responses.iter_mut() {
        if let Some(r) = response.as_object_mut() {
            let empty = r.get("description").and_then(Value::as_str).is_none_or(str::is_empty);
            if empty {
                r.insert("description".into(), json!(describe(code)));
            }
        }
    }
}

/// The Vault-compatible endpoint as one operation family.
fn vault_api() -> Value {
    let params = json!([
        { "name": "tenant", "in": "path", "required": true, "description": "tenant id",
          "schema": { "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$" } },
        { "name": "profile", "in": "path", "required": true, "description": "profile name",
          "schema": { "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$" } },
        { "name": "path", "in": "path", "required": true,
          "description": "Vault's API path below /v1/, like secret/data/app/db or sys/leases/renew",
          "schema": { "type": "string" } }
    ]);
    let vault_json =
        |d: &str| json!({ "description": d, "content": { "application/json": { "schema": { "type": "object" } } } });
    let errors = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/VaultErrors" } } } });
    let responses = |ok: Value| {
        json!({
            "200": ok,
            "400": errors("A request the endpoint cannot serve as sent (wrapping, another namespace, a bad path or body)"),
            "403": errors("Not a read key of this tenant, or a path outside what the endpoint serves (Vault's shape)"),
            "404": errors("Vault has nothing there (an empty error list, as Vault answers)"),
            "405": errors("A write to a served path: secrets are read-only here"),
            "429": errors("The key is over its request rate (Retry-After)"),
            "502": errors("Vault answered in a way the service cannot use"),
            "503": errors("The profile's login failed or is paused (Retry-After)"),
            "504": errors("Vault did not answer in time")
        })
    };
    json!({
        "parameters": params,
        "get": {
            "tags": ["vault-api"],
            "operationId": "vault_api_read",
            "summary": "Vault's API for one profile: read or list a secret, lookup-self, health",
            "description": "Point a Vault client's VAULT_ADDR at /vault/{tenant}/{profile} and use a read key of the tenant as its token. Reads (GET, LIST) go to Vault with the profile's token; auth/token/lookup-self describes the key; sys/health, sys/seal-status and sys/leader are answered by the service without a token. See docs/vault-clients.md.",
            "security": [{ "vaultToken": [] }, { "bearer": [] }],
            "responses": responses(vault_json("Vault's answer, as Vault sent it (leases with an honest expires_at)"))
        },
        "post": {
            "tags": ["vault-api"],
            "operationId": "vault_api_update",
            "summary": "Lease renew, revoke and lookup; capabilities-self",
            "description": "sys/leases/renew, sys/leases/revoke and sys/leases/lookup for leases this profile issued (the lease id in the body or at the end of the path), and sys/capabilities-self. PUT is accepted the same way. See docs/vault-clients.md.",
            "security": [{ "vaultToken": [] }, { "bearer": [] }],
            "requestBody": { "required": false, "content": { "application/json": { "schema": { "type": "object" } } } },
            "responses": {
                "200": vault_json("Vault's answer (a renewed lease carries its honest expires_at)"),
                "204": { "description": "The lease is revoked" },
                "400": errors("A missing or malformed lease id or body"),
                "403": errors("Not a read key of this tenant, or a path outside what the endpoint serves"),
                "404": errors("No such lease issued through this profile"),
                "405": errors("This path does not take a write"),
                "413": errors("The body is larger than the service accepts"),
                "429": errors("The key is over its request rate (Retry-After)"),
                "502": errors("Vault answered in a way the service cannot use"),
                "503": errors("The profile's login failed or is paused (Retry-After)"),
                "504": errors("Vault did not answer in time")
            }
        }
    })
}

/// Vault's error shape, for the Vault-compatible endpoint's components.
pub fn vault_errors_schema() -> Value {
    json!({ "type": "object", "description": "Vault's error shape", "required": ["errors"],
            "properties": { "errors": { "type": "array", "items": { "type": "string" } } } })
}
