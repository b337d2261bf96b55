//! Building and running the HTTP service (`Application::build` → `port()` → `run_until_stopped()`).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, Service, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use utoipa_actix_web::AppExt;

use crate::config::{Settings, redact_url};
use crate::error::{json_error_handler, path_error_handler, query_error_handler};
use crate::metrics::Metrics;
use crate::routes::allow::{AllowTable, not_found};
use crate::routes::docs::ServedDocument;
use crate::routes::labels::RouteLabels;
use crate::routes::table::{self, RouteTable};
use crate::state::AppState;
use crate::store::Store;
use crate::tokens::Tokens;

/// Largest JSON body accepted (a profile is a few hundred bytes; the method block alone may be 64 KiB).
pub const MAX_BODY_BYTES: usize = 96 * 1024;

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Connect the database (running migrations), bind the listen address, build the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url)
            .await
            .with_context(|| format!("opening the database {}", redact_url(&settings.database_url)))?;
        let http = vault_http_client(&settings)?;
        let metrics = Arc::new(Metrics::default());
        let tokens = Tokens::new(&settings, store.clone(), http, metrics.clone());
        let listener = TcpListener::bind(settings.listen).with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr().context("reading the bound address")?.port();
        let limits = crate::limits::RateLimits::new(settings.rate_limit_read, settings.rate_limit_admin);
        let audit = crate::audit::AuditLog::start(store.clone(), metrics.clone());
        let state = web::Data::new(AppState {
            limits,
            policy: settings.validation_policy(),
            settings,
            store,
            tokens,
            resolutions: crate::reads::resolution::resolutions(),
            secrets: crate::secret_cache::SecretCache::default(),
            audit,
            metrics,
            last_tests: std::sync::Mutex::default(),
            agent_check: tokio::sync::Mutex::new(None),
        });
        let workers = state.settings.workers;
        // PostgreSQL: other replicas' changes reach this one's memory (see store::memo).
        drop(state.store.listen_for_changes());
        spawn_pruning(state.clone());
        spawn_limiter_shrinking(state.clone());
        let app_state = state.clone();
        let policy = state.policy.clone();
        let served_doc =
            web::Data::new(ServedDocument::new(move || crate::openapi::document_value(&policy).to_string()));
        // One registration (routes::register) makes the routes, their labels and their `Allow`.
        let routes = table::collect(crate::routes::register);
        let allow_table = web::Data::new(AllowTable::new(&routes));
        let labels = Arc::new(RouteLabels::new(&routes));
        let server = HttpServer::new(move || {
            let metrics = app_state.metrics.clone();
            let labels = labels.clone();
            let mut worker_routes = RouteTable::default();
            let (app, _) = App::new()
                .into_utoipa_app()
                .app_data(app_state.clone())
                .app_data(allow_table.clone())
                .app_data(served_doc.clone())
                .app_data(web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(json_error_handler))
                .app_data(web::PathConfig::default().error_handler(path_error_handler))
                .app_data(web::QueryConfig::default().error_handler(query_error_handler))
                .configure(table::configure(&mut worker_routes, crate::routes::register))
                .split_for_parts();
            debug_assert_eq!(worker_routes, routes, "one registration, one table");
            app.default_service(web::to(not_found)).wrap_fn(move |req, srv| observe(req, srv, &labels, &metrics))
        })
        .workers(workers)
        // Idle keep-alive connections stay open 75 s (actix's default is 5 s): longer than a
        // connector's pool usually keeps one without traffic, so a client rarely sends a
        // request on a connection the service is closing at that moment.
        .keep_alive(Duration::from_secs(75))
        .shutdown_timeout(35)
        .listen(listener)
        .context("starting the HTTP server")?
        .run();
        Ok(Self { port, server, state })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Run until SIGTERM/SIGINT; in-flight requests (and their agent runs) finish first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.state.audit.flush(Duration::from_secs(5)).await;
        self.state.store.close().await;
        result
    }
}

/// The one HTTP client for Vault: no redirects, a connect timeout (see
/// `agent_runner::http::vault_client_builder`), and the configured CA bundle.
fn vault_http_client(settings: &Settings) -> anyhow::Result<reqwest::Client> {
    let mut http = agent_runner::http::vault_client_builder().timeout(settings.vault_timeout);
    if let Some(ca) = &settings.vault_ca_cert {
        for cert in crate::config::ca_certificates(ca).with_context(|| format!("reading {}", ca.display()))? {
            http = http.tls_certs_merge([cert]);
        }
    }
    http.build().context("building the HTTP client")
}

/// Hourly: audit events older than the retention period, token records past
/// their cache life and lease rows of leases that ended over an hour ago go.
fn spawn_pruning(state: web::Data<AppState>) {
    tokio::spawn(async move {
        loop {
            let before = std::time::SystemTime::now() - state.settings.audit_retention;
            let before = humantime::format_rfc3339_seconds(before).to_string();
            match state.store.prune_audit(&before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "audit events past their retention deleted"),
                Err(e) => tracing::warn!(error = %e, "could not prune the audit trail"),
            }
            match state.store.prune_token_records().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(records = n, "token records past their cache life deleted"),
                Err(e) => tracing::warn!(error = %e, "could not prune token records"),
            }
            // Lease rows whose lease ended over an hour ago say nothing any more.
            let ended = std::time::SystemTime::now() - Duration::from_secs(3600);
            let ended = humantime::format_rfc3339_seconds(ended).to_string();
            match state.store.prune_leases(&ended).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(leases = n, "ended lease records deleted"),
                Err(e) => tracing::warn!(error = %e, "could not prune ended leases"),
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

/// Every minute: idle keys are forgotten by the rate limiters once they are back at a full burst.
fn spawn_limiter_shrinking(state: web::Data<AppState>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            state.limits.shrink();
        }
    });
}

/// Around every request: the request id (the client's when well-formed), the
/// access log (method, path without the query string, status, time) and the
/// HTTP metrics by route pattern.
fn observe<S, B>(
    req: ServiceRequest,
    srv: &S,
    labels: &RouteLabels,
    metrics: &Arc<Metrics>,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let route = labels.label(req.path()).to_string();
    let docs = path.starts_with("/docs");
    let request_id = crate::telemetry::request_id(req.headers().get("x-request-id").and_then(|v| v.to_str().ok()));
    let metrics = metrics.clone();
    let span = tracing::info_span!("request", request_id = %request_id);
    let fut = tracing::Instrument::instrument(
        crate::telemetry::REQUEST_ID.scope(request_id.clone(), srv.call(req)),
        span.clone(),
    );
    async move {
        let mut res = fut.await?;
        let status = res.status().as_u16();
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&request_id) {
            res.headers_mut().insert(actix_web::http::header::HeaderName::from_static("x-request-id"), v);
        }
        if docs {
            crate::routes::console::protect_docs(res.headers_mut());
        }
        metrics.http_request(&route, status, started.elapsed());
        let _entered = span.enter();
        tracing::info!(
            %method, %path, status,
            ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
        Ok(res)
    }
}

/// Run `auth-service serve` until stopped.
pub fn serve_main(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let system = actix_web::rt::System::with_tokio_rt(|| runtime);
    system.block_on(async move {
        let host = settings.listen.ip();
        if settings.operator_key.is_none() {
            tracing::warn!("AUTH_SERVICE_OPERATOR_KEY is not set: no tenant can be created");
        }
        tracing::info!(settings = ?settings, "starting");
        let app = Application::build(settings).await?;
        let addr = std::net::SocketAddr::new(host, app.port());
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}").context("writing to stdout")?;
            out.flush().context("flushing stdout")?;
        }
        tracing::info!(%addr, "listening");
        app.run_until_stopped().await.context("running the server")?;
        tracing::info!("stopped");
        Ok(())
    })
}
