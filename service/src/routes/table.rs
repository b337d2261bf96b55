//! The one route table. Every route the service serves is registered through
//! [`Routes`], which hands it to actix and records its pattern and methods in
//! a [`RouteTable`] in the same call; the metrics labels
//! ([`super::labels::RouteLabels`]) and the 405 answers
//! ([`super::allow::AllowTable`]) are made from that table, so a route cannot
//! be served without its label or its `Allow`.

use actix_web::dev::HttpServiceFactory;
use actix_web::{FromRequest, Handler, Responder, web};
use utoipa_actix_web::OpenApiFactory;
use utoipa_actix_web::service_config::ServiceConfig;

/// The methods a route can have, in the order `Allow` names them.
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "PATCH"];

/// What a route answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Methods {
    /// Every method (its handler decides).
    Any,
    /// These methods, in [`METHODS`] order.
    Only(Vec<&'static str>),
}

/// One route of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The pattern as the OpenAPI document writes it: the metrics `route`
    /// label. A trailing `{path}` is the rest of the URL (see [`actix_pattern`]).
    pub pattern: String,
    /// The methods it answers.
    pub methods: Methods,
    /// In the OpenAPI document: a method the route lacks is answered 405 with
    /// `Allow`. A route outside it (console, docs) answers such a method 404,
    /// as an unknown route.
    pub documented: bool,
}

/// Every route, in registration order (the order actix tries them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteTable(Vec<Route>);

impl RouteTable {
    /// The routes, in registration order.
    pub fn routes(&self) -> &[Route] {
        &self.0
    }

    /// Record `methods` at `pattern`; several handlers of one path make one route.
    fn add(&mut self, pattern: &str, methods: Methods, documented: bool) {
        let Some(route) = self.0.iter_mut().find(|r| r.pattern == pattern) else {
            self.0.push(Route { pattern: pattern.to_string(), methods, documented });
            return;
        };
        route.methods = match (&route.methods, methods) {
            (Methods::Only(had), Methods::Only(more)) => {
                Methods::Only(METHODS.into_iter().filter(|m| had.contains(m) || more.contains(m)).collect())
            }
            _ => Methods::Any,
        };
        route.documented &= documented;
    }
}

/// The pattern actix matches for a table pattern: a trailing `{path}` is the
/// rest of the URL (`{path:.*}`), as the OpenAPI document writes secret paths.
pub fn actix_pattern(pattern: &str) -> String {
    match pattern.strip_suffix("{path}") {
        Some(prefix) => format!("{prefix}{{path:.*}}"),
        None => pattern.to_string(),
    }
}

/// The registration: actix's (utoipa's) service config and the table it fills.
pub struct Routes<'a, 's> {
    cfg: &'a mut ServiceConfig<'s>,
    table: &'a mut RouteTable,
}

impl Routes<'_, '_> {
    /// A documented handler (its `#[utoipa::path]` and `#[get(..)]`-like
    /// attributes): pattern and methods come from its OpenAPI paths.
    pub fn api<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, handler: F) -> &mut Self {
        for (path, item) in handler.paths().paths {
            let has = [&item.get, &item.put, &item.post, &item.delete, &item.patch].map(Option::is_some);
            let methods = METHODS.into_iter().zip(has).filter_map(|(m, has)| has.then_some(m)).collect();
            self.table.add(&path, Methods::Only(methods), true);
        }
        self.cfg.service(handler);
        self
    }

    /// `GET pattern`, outside the OpenAPI document.
    pub fn get<F, Args>(&mut self, pattern: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.table.add(pattern, Methods::Only(vec!["GET"]), false);
        self.cfg.route(&actix_pattern(pattern), web::get().to(handler));
        self
    }

    /// Every method of `pattern` to one handler, outside the OpenAPI document.
    pub fn any<F, Args>(&mut self, pattern: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.table.add(pattern, Methods::Any, false);
        self.cfg.map(|cfg| cfg.service(web::resource(actix_pattern(pattern)).route(web::route().to(handler))));
        self
    }

    /// A service that registers itself (Swagger UI, a redirect), made by
    /// `service` for the actix pattern of `pattern`, answering `methods`.
    pub fn service<F: HttpServiceFactory + 'static>(
        &mut self,
        pattern: &str,
        methods: Methods,
        service: impl FnOnce(&str) -> F,
    ) -> &mut Self {
        self.table.add(pattern, methods, false);
        let made = service(&actix_pattern(pattern));
        self.cfg.map(|cfg| cfg.service(made));
        self
    }
}

/// Configure an app with `register`, recording every route in `table`.
pub fn configure<'t>(
    table: &'t mut RouteTable,
    register: impl FnOnce(&mut Routes) + 't,
) -> impl FnOnce(&mut ServiceConfig) + 't {
    move |cfg| register(&mut Routes { cfg, table })
}

/// The table `register` makes, without starting a server.
pub fn collect(register: impl FnOnce(&mut Routes)) -> RouteTable {
    use utoipa_actix_web::AppExt;
    let mut table = RouteTable::default();
    drop(actix_web::App::new().into_utoipa_app().configure(configure(&mut table, register)).split_for_parts());
    table
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use actix_web::test as actix_test;
    use actix_web::{HttpResponse, delete, get};
    use utoipa_actix_web::AppExt;

    use super::*;
    use crate::routes::allow::AllowTable;
    use crate::routes::labels::RouteLabels;

    /// A dummy documented route (two handlers on one path).
    #[utoipa::path(responses((status = 200, description = "dummy")))]
    #[get("/v1/dummy/{id}")]
    async fn dummy_get() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[utoipa::path(responses((status = 204, description = "dummy")))]
    #[delete("/v1/dummy/{id}")]
    async fn dummy_delete() -> HttpResponse {
        HttpResponse::NoContent().finish()
    }

    fn with_dummies(routes: &mut Routes) {
        crate::routes::register(routes);
        routes.api(dummy_get).api(dummy_delete).get("/dummy-page/{file:.*}", || async { "dummy" });
    }

    #[test]
    fn a_registered_dummy_route_gets_its_label_and_its_allow() {
        let table = collect(with_dummies);
        let (labels, allow) = (RouteLabels::new(&table), AllowTable::new(&table));
        assert_eq!(labels.label("/v1/dummy/7"), "/v1/dummy/{id}");
        assert_eq!(allow.allow("/v1/dummy/7").as_deref(), Some("GET, DELETE"));
        assert_eq!(labels.label("/dummy-page/a/b.js"), "/dummy-page/{file:.*}");
        assert_eq!(allow.allow("/dummy-page/a/b.js"), None, "outside the document: 404, as before");
        let before = collect(crate::routes::register);
        assert_eq!(RouteLabels::new(&before).label("/v1/dummy/7"), "unmatched");
    }

    #[test]
    fn every_documented_path_is_one_documented_route_with_its_methods() {
        let table = collect(crate::routes::register);
        let doc = crate::openapi::document();
        let documented: Vec<&Route> = table.routes().iter().filter(|r| r.documented).collect();
        assert_eq!(documented.len(), doc.paths.paths.len());
        for (path, item) in &doc.paths.paths {
            let route = documented.iter().find(|r| &r.pattern == path).unwrap_or_else(|| panic!("{path}"));
            let has = [&item.get, &item.put, &item.post, &item.delete, &item.patch].map(Option::is_some);
            let want: Vec<&str> = METHODS.into_iter().zip(has).filter_map(|(m, has)| has.then_some(m)).collect();
            assert_eq!(route.methods, Methods::Only(want), "{path}");
        }
    }

    /// A request path for `pattern`: each placeholder `x`, a trailing rest `x/y`.
    fn sample(pattern: &str) -> String {
        let parts: Vec<&str> = pattern.split('/').collect();
        let last = parts.len() - 1;
        let filled: Vec<&str> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| match (p.starts_with('{'), i == last && (*p == "{path}" || p.ends_with(":.*}"))) {
                (_, true) => "x/y",
                (true, false) => "x",
                (false, false) => p,
            })
            .collect();
        filled.join("/")
    }

    /// Request paths, each with the pattern actix routed it to and the label it got.
    type Seen = Vec<(String, Option<String>, String)>;

    /// For each of `paths`, the pattern actix routes it to and the label it gets.
    async fn routed_and_labelled(register: fn(&mut Routes), paths: &[String]) -> Seen {
        let mut table = RouteTable::default();
        let (app, _) =
            actix_web::App::new().into_utoipa_app().configure(configure(&mut table, register)).split_for_parts();
        let labels = Arc::new(RouteLabels::new(&table));
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let record = seen.clone();
        let app = actix_test::init_service(app.wrap_fn(move |req, srv| {
            use actix_web::dev::Service;
            let routed = req.request().resource_map().match_pattern(req.path());
            let label = labels.label(req.path()).to_string();
            record.lock().expect("lock").push((req.path().to_string(), routed, label));
            srv.call(req)
        }))
        .await;
        for path in paths {
            drop(actix_test::call_service(&app, actix_test::TestRequest::get().uri(path).to_request()).await);
        }
        seen.lock().expect("lock").clone()
    }

    /// Every path the service routes (every route's sample, every path of the
    /// served document, every console file, the docs) gets as label the pattern
    /// actix routed it to. A route served without a label fails here.
    #[actix_web::test]
    async fn every_routed_path_is_labelled_with_the_pattern_actix_routed_it_to() {
        let table = collect(crate::routes::register);
        let served: serde_json::Value = serde_json::from_str(&crate::openapi::document_json()).expect("JSON");
        let mut paths: Vec<String> = table.routes().iter().map(|r| sample(&r.pattern)).collect();
        paths.extend(served["paths"].as_object().expect("paths").keys().map(|p| sample(p)));
        paths.extend(crate::routes::console::FILES.iter().map(|(name, _, _)| format!("/console/{name}")));
        paths.extend(["/docs/index.html", "/docs/swagger-initializer.js", "/openapi.json"].map(String::from));
        for (path, routed, label) in routed_and_labelled(crate::routes::register, &paths).await {
            assert_eq!(routed, Some(actix_pattern(&label)), "{path} is routed but labelled {label}");
        }
    }

    /// The check above, on a route registered past the table: it is caught.
    #[actix_web::test]
    async fn a_route_registered_past_the_table_is_caught() {
        fn sneaky(routes: &mut Routes) {
            crate::routes::register(routes);
            routes.cfg.route("/sneaky", web::get().to(|| async { "no label" }));
        }
        let seen = routed_and_labelled(sneaky, &["/sneaky".to_string()]).await;
        assert_eq!(seen, [("/sneaky".to_string(), Some("/sneaky".to_string()), "unmatched".to_string())]);
    }

    #[test]
    fn no_two_routes_of_the_same_specificity_match_one_path() {
        let table = collect(crate::routes::register);
        for a in table.routes() {
            let path = sample(&a.pattern);
            let one = RouteTable(vec![a.clone()]);
            for b in table.routes().iter().filter(|b| b.pattern != a.pattern) {
                let other = RouteTable(vec![b.clone()]);
                let both = RouteLabels::new(&one).label(&path) != "unmatched"
                    && RouteLabels::new(&other).label(&path) != "unmatched";
                assert!(
                    !both || RouteLabels::specificity(&a.pattern) != RouteLabels::specificity(&b.pattern),
                    "{} and {} both match {path}: the label would depend on registration order",
                    a.pattern,
                    b.pattern
                );
            }
        }
    }
}
