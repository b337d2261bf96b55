//! Logging set-up: `pretty` or `json` lines on stderr, filtered by `RUST_LOG`
//! (default `info`). Handlers log tenant and profile names, never tokens, keys,
//! nonces or secret values.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

tokio::task_local! {
    /// The request id of the request being handled (problem bodies carry it).
    pub static REQUEST_ID: String;
}

/// The client's `X-Request-Id` when well-formed (1 to 128 of `A-Z a-z 0-9 . _ : -`), else a fresh one.
pub fn request_id(from_client: Option<&str>) -> String {
    match from_client {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)) =>
        {
            id.to_string()
        }
        _ => {
            let mut bytes = [0u8; 16];
            if getrandom::fill(&mut bytes).is_err() {
                bytes = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos().to_be_bytes())
                    .unwrap_or_default();
            }
            hex::encode(bytes)
        }
    }
}

/// The id of the request being handled, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Install the global subscriber (once).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Pretty => builder.with_ansi(false).try_init(),
    };
}
