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
    let (_, api) =
        App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(crate::routes::api_routes).split_for_parts();
    api
}

/// The document as pretty JSON with a final newline (the form checked in at schemas/openapi.json).
pub fn document_json() -> String {
    let mut text = document().to_pretty_json().expect("the OpenAPI document serializes");
    text.push('\n');
    text
}
