//! The OpenAPI document: collected from the handlers' `#[utoipa::path]`
//! attributes through utoipa-actix-web, plus this header.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

/// Document header.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vault Agent Authentication Service",
        description = "Connectors read secrets from HashiCorp Vault through short-lived Vault Agent logins; no one stores Vault credentials. Errors are application/problem+json (RFC 9457).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "tenants", description = "Operator: tenants"),
        (name = "api-keys", description = "Operator or tenant admin: API keys"),
        (name = "profiles", description = "Tenant admin: auth profiles, test connection, EC2 nonce"),
        (name = "secrets", description = "Connectors: secret reads"),
        (name = "health", description = "Liveness, readiness, metrics")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The full document, without starting a server.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut table = crate::routes::table::RouteTable::default();
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::table::configure(&mut table, crate::routes::register))
        .split_for_parts();
    truthful_errors(&mut api);
    api
}

/// Statuses any authenticated `/v1` operation can answer, whatever the handler.
const COMMON_ERRORS: [(&str, &str); 5] = [
    ("400", "The request is not valid (problem+json names each field)"),
    ("401", "Missing or unknown API key"),
    ("404", "No such resource, or a resource of another tenant"),
    ("429", "The key is over its request rate (Retry-After)"),
    ("503", "A dependency is unavailable: the database, or an agent slot (Retry-After)"),
];

/// Errors are declared as they are sent: `application/problem+json`, and every
/// `/v1` operation declares the statuses any of them can answer.
fn truthful_errors(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    const PROBLEM: &str = "application/problem+json";
    for (path, item) in api.paths.paths.iter_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in operations.into_iter().flatten() {
            for (code, response) in op.responses.responses.iter_mut() {
                if code.starts_with('2') {
                    continue;
                }
                if let RefOr::T(r) = response
                    && let Some(content) = r.content.shift_remove("application/json")
                {
                    r.content.insert(PROBLEM.to_string(), content);
                }
            }
            if !path.starts_with("/v1/") {
                continue;
            }
            for (code, description) in COMMON_ERRORS {
                op.responses.responses.entry(code.to_string()).or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                PROBLEM,
                                ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                            )
                            .build(),
                    )
                });
            }
        }
    }
}

mod finish;

/// The document as served: utoipa's, finished ([`finish::finish`]) for the
/// method types `policy` allows.
pub fn document_value(policy: &crate::domain::ValidationPolicy) -> serde_json::Value {
    let mut doc = serde_json::to_value(document()).expect("the OpenAPI document serializes");
    finish::finish(&mut doc, policy);
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(serde_json::Value::as_object_mut) {
        schemas.insert("VaultErrors".into(), finish::vault_errors_schema());
    }
    if let Some(tags) = doc.get_mut("tags").and_then(serde_json::Value::as_array_mut) {
        tags.push(
            serde_json::json!({ "name": "vault-api", "description": "Connectors: Vault's own API for one profile" }),
        );
    }
    doc
}

/// The document with every method type (the form checked in at schemas/openapi.json),
/// as pretty JSON with a final newline.
pub fn document_json() -> String {
    let all = crate::domain::ValidationPolicy {
        allowed_methods: crate::domain::MethodType::ALL.into_iter().collect(),
        jwt_allowed_dirs: Vec::new(),
    };
    let mut text = serde_json::to_string_pretty(&document_value(&all)).expect("the OpenAPI document serializes");
    text.push('\n');
    text
}
