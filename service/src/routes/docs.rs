//! `GET /openapi.json`: the served document, made on the first request for it
//! (not at start-up: it costs memory an idle service need not hold), once, and
//! shared by the workers. (`/docs` is Swagger UI, registered in [`super::register`].)

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};

/// The served document's text, and how to make it.
pub struct ServedDocument {
    text: OnceLock<String>,
    make: Box<dyn Fn() -> String + Send + Sync>,
}

impl ServedDocument {
    /// A document `make` will write on the first request.
    pub fn new(make: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self { text: OnceLock::new(), make: Box::new(make) }
    }
}

/// `GET /openapi.json`.
pub async fn openapi_json(served: web::Data<ServedDocument>) -> HttpResponse {
    let text = served.text.get_or_init(|| (served.make)());
    HttpResponse::Ok().content_type("application/json").body(text.clone())
}
