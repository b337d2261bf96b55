//! `/console`: the admin console, static files embedded in the binary (nothing
//! is loaded from the internet), served with a strict Content-Security-Policy
//! (no inline script), `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`.
//! The console is a set of ES modules (`js/*.js`) and style sheets (`css/*.css`),
//! one job each, no build step; every file is listed once in [`FILES`], and
//! anything else under `/console/` is 404.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// The policy every console response carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

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

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the console: its path under `/console/`, content type and text.
pub(crate) const FILES: &[(&str, &str, &str)] = &[
    ("index.html", HTML, include_str!("../../console/index.html")),
    ("css/base.css", CSS, include_str!("../../console/css/base.css")),
    ("css/forms.css", CSS, include_str!("../../console/css/forms.css")),
    ("css/lists.css", CSS, include_str!("../../console/css/lists.css")),
    ("css/panels.css", CSS, include_str!("../../console/css/panels.css")),
    ("js/main.js", JS, include_str!("../../console/js/main.js")),
    ("js/api.js", JS, include_str!("../../console/js/api.js")),
    ("js/dom.js", JS, include_str!("../../console/js/dom.js")),
    ("js/wording.js", JS, include_str!("../../console/js/wording.js")),
    ("js/dialogs.js", JS, include_str!("../../console/js/dialogs.js")),
    ("js/signin.js", JS, include_str!("../../console/js/signin.js")),
    ("js/profile-list.js", JS, include_str!("../../console/js/profile-list.js")),
    ("js/profile-form.js", JS, include_str!("../../console/js/profile-form.js")),
    ("js/validation.js", JS, include_str!("../../console/js/validation.js")),
    ("js/profile-editor.js", JS, include_str!("../../console/js/profile-editor.js")),
    ("js/test-report.js", JS, include_str!("../../console/js/test-report.js")),
    ("js/nonce.js", JS, include_str!("../../console/js/nonce.js")),
    ("js/leases.js", JS, include_str!("../../console/js/leases.js")),
    ("js/keys.js", JS, include_str!("../../console/js/keys.js")),
    ("js/audit.js", JS, include_str!("../../console/js/audit.js")),
    ("js/connect.js", JS, include_str!("../../console/js/connect.js")),
];

fn secured(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    response
}

/// The console file at `path` (`""` is the page itself), or 404.
fn asset(path: &str) -> HttpResponse {
    let path = if path.is_empty() { "index.html" } else { path };
    match FILES.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, body)) => {
            secured(HttpResponse::Ok()).insert_header((header::CONTENT_TYPE, *content_type)).body(*body)
        }
        None => secured(HttpResponse::NotFound())
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("no such console file"),
    }
}

/// Register `/console` and its files.
pub fn routes(routes: &mut super::table::Routes) {
    routes
        .get("/console", || async { asset("") })
        .get("/console/", || async { asset("") })
        .get("/console/{file:.*}", |path: web::Path<String>| async move { asset(&path) });
}

#[cfg(test)]
mod tests {
    use super::FILES;

    #[test]
    fn every_module_and_style_sheet_the_console_loads_is_served() {
        let served: Vec<&str> = FILES.iter().map(|(name, _, _)| *name).collect();
        for (name, _, text) in FILES {
            for line in text.lines() {
                let Some(from) = line.split(" from \"./").nth(1) else { continue };
                let module = format!("js/{}", from.split('"').next().unwrap_or_default());
                assert!(served.contains(&module.as_str()), "{name} imports {module}, which is not served");
            }
        }
        let index = FILES[0].2;
        assert!(index.contains("type=\"module\" src=\"/console/js/main.js\""), "index.html loads main.js as a module");
        let sheets: Vec<&str> = index
            .split("rel=\"stylesheet\" href=\"/console/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert_eq!(sheets.len(), 4, "index.html links the four style sheets: {sheets:?}");
        for sheet in sheets {
            assert!(served.contains(&sheet), "index.html links {sheet}, which is not served");
        }
    }
}
