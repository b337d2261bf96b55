//! 405 answers: a method a documented path does not have is answered with
//! `Allow` naming the methods it has; anything else unrouted is 404.

use actix_web::dev::ResourceDef;
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::table::{Methods, RouteTable, actix_pattern};
use crate::error::ApiError;

/// For each documented route of the table, the methods it has.
pub struct AllowTable(Vec<(ResourceDef, String)>);

impl AllowTable {
    /// From the route table's documented routes (routes outside the OpenAPI
    /// document answer a method they lack 404, as an unknown route).
    pub fn new(table: &RouteTable) -> Self {
        let documented = table.routes().iter().filter(|route| route.documented);
        Self(
            documented
                .filter_map(|route| match &route.methods {
                    Methods::Only(methods) => {
                        Some((ResourceDef::new(actix_pattern(&route.pattern)), methods.join(", ")))
                    }
                    Methods::Any => None,
                })
                .collect(),
        )
    }

    /// The `Allow` of `path`, if a documented route has it.
    pub fn allow(&self, path: &str) -> Option<String> {
        // The most specific patterns win, as in routing: `/profiles/render` is not `/profiles/{name}`.
        let matching: Vec<&(ResourceDef, String)> = self.0.iter().filter(|(def, _)| def.is_match(path)).collect();
        let fewest = matching.iter().map(|(def, _)| def.pattern().unwrap_or("").matches('{').count()).min()?;
        let methods: Vec<&str> = matching
            .iter()
            .filter(|(def, _)| def.pattern().unwrap_or("").matches('{').count() == fewest)
            .flat_map(|(_, m)| m.split(", "))
            .collect();
        let mut unique: Vec<&str> = Vec::new();
        for m in methods {
            if !unique.contains(&m) {
                unique.push(m);
            }
        }
        (!unique.is_empty()).then(|| unique.join(", "))
    }
}

/// The default service: 405 with `Allow` on a documented path, else 404.
pub async fn not_found(req: HttpRequest, table: web::Data<AllowTable>) -> Result<HttpResponse, ApiError> {
    if let Some(allow) = table.allow(req.path()) {
        let e = ApiError::MethodNotAllowed(format!("{} is not supported on this path; it has {allow}", req.method()));
        let mut resp = e.error_response();
        if let Ok(v) = HeaderValue::from_str(&allow) {
            resp.headers_mut().insert(ALLOW, v);
        }
        return Ok(resp);
    }
    Err(ApiError::NotFound("no such route; see /openapi.json or /docs".into()))
}
