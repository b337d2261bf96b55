//! The OpenAPI document: checked in at schemas/openapi.json; this fails when it drifts.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p auth-service --test openapi`.

use std::path::Path;

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let actual = auth_service::openapi::document_json();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &actual).expect("write schemas/openapi.json");
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "schemas/openapi.json is out of date; run UPDATE_OPENAPI=1 cargo test -p auth-service --test openapi"
    );
}

#[test]
fn every_contract_route_is_documented() {
    let doc: serde_json::Value = serde_json::from_str(&auth_service::openapi::document_json()).expect("json");
    for (path, method) in [
        ("/v1/tenants", "post"),
        ("/v1/tenants", "get"),
        ("/v1/tenants/{tenant}/api-keys", "post"),
        ("/v1/tenants/{tenant}/api-keys", "get"),
        ("/v1/tenants/{tenant}/api-keys/{id}", "delete"),
        ("/v1/tenants/{tenant}/profiles", "post"),
        ("/v1/tenants/{tenant}/profiles", "get"),
        ("/v1/tenants/{tenant}/profiles/{name}", "get"),
        ("/v1/tenants/{tenant}/profiles/{name}", "put"),
        ("/v1/tenants/{tenant}/profiles/{name}", "delete"),
        ("/v1/tenants/{tenant}/profiles/{name}/test", "post"),
        ("/v1/tenants/{tenant}/profiles/{name}/secrets/{path}", "get"),
        ("/v1/tenants/{tenant}/profiles/{name}/ec2-nonce/reset", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
    for schema in ["Problem", "ProfileInput", "Profile", "TestReport", "FieldError", "CreatedKey"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "schema {schema} missing");
    }
    assert_eq!(doc["info"]["title"], serde_json::json!("Vault Agent Authentication Service"));
}
