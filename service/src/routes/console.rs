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
