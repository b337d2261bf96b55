//! The floor of a proxied read in this stack, for the benchmark: actix-web in
//! front, reqwest behind, and nothing else. One route, `GET /read`, sends
//! `GET $BARE_UPSTREAM` with `X-Vault-Token: $BARE_TOKEN` on a pooled
//! keep-alive connection and answers Vault's status and body as they came.
//! No authentication, routing table, metrics, audit, access log, token cache
//! or request id: what a warm read of `auth-service` costs beyond this is the
//! service's own work. Same workers (`$BARE_WORKERS`, default 2), same
//! keep-alive and the same HTTP client settings as the service.
//!
//! Run by the benchmark (`scripts/bench.sh`); prints `listening on http://ADDR`.

use std::io::Write;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};

struct Upstream {
    http: reqwest::Client,
    url: String,
    token: String,
}

async fn read(up: web::Data<Upstream>) -> HttpResponse {
    let sent = up.http.get(&up.url).header("X-Vault-Token", &up.token).timeout(Duration::from_secs(30)).send().await;
    let Ok(resp) = sent else { return HttpResponse::BadGateway().finish() };
    let status = actix_web::http::StatusCode::from_u16(resp.status().as_u16()).unwrap_or_default();
    match resp.bytes().await {
        Ok(body) => HttpResponse::build(status).content_type("application/json").body(body),
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

fn main() -> std::io::Result<()> {
    let var = |k: &str| std::env::var(k).map_err(|_| std::io::Error::other(format!("{k} is not set")));
    let (url, token) = (var("BARE_UPSTREAM")?, var("BARE_TOKEN")?);
    let workers = std::env::var("BARE_WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let http = agent_runner::http::vault_client_builder().build().map_err(std::io::Error::other)?;
    let upstream = web::Data::new(Upstream { http, url, token });
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    actix_web::rt::System::with_tokio_rt(|| runtime).block_on(async move {
        let server = HttpServer::new(move || App::new().app_data(upstream.clone()).route("/read", web::get().to(read)))
            .workers(workers)
            .keep_alive(Duration::from_secs(75))
            .listen(listener)?
            .run();
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
        drop(out);
        server.await
    })
}
