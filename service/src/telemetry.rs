//! Logging set-up: `pretty` or `json` lines on stderr, filtered by `RUST_LOG`
//! (default `info`). Handlers log tenant and profile names, never tokens, keys,
//! nonces or secret values.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber (once).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Pretty => builder.with_ansi(false).try_init(),
    };
}
