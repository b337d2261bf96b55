//! `/console`: the admin console, static files embedded in the binary (nothing
//! is loaded from the internet), served with a strict Content-Security-Policy
//! (no inline script), `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// The policy every console response carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const INDEX: &str = include_str!("../../console/index.html");
const APP_JS: &str = include_str!("../../console/app.js");
const VALIDATE_JS: &str = include_str!("../../console/validate.js");
const STYLE_CSS: &str = include_str!("../../console/style.css");

/// The policy of the `/docs` pages (Swagger UI sets inline styles, so styles
/// may be inline there; scripts come only from the service).
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The console's framing and referrer rules, and a CSP, on a `/docs` response.
pub fn protect_docs(headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::HeaderValue;
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// Register `/console` and its assets.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/console/", web::get().to(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/console/app.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/console/validate.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", VALIDATE_JS) }))
        .route("/console/style.css", web::get().to(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }));
}
