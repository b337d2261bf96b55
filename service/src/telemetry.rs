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
        // A version-4 UUID from a thread-local generator seeded by the operating
        // system (uuid's `fast-rng`): unguessable, no system call per request,
        // and nothing in it counts requests. Written as 32 lowercase hex digits.
        _ => uuid::Uuid::new_v4().simple().to_string(),
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

#[cfg(test)]
mod tests {
    use super::request_id;

    #[test]
    fn fresh_ids_are_unique_hex_and_do_not_count_requests() {
        let ids: Vec<String> = (0..3).map(|_| request_id(None)).collect();
        for id in &ids {
            assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        let tail = |id: &String| u64::from_str_radix(&id[16..], 16).expect("hex");
        assert!(ids.windows(2).all(|w| tail(&w[1]).wrapping_sub(tail(&w[0])) != 1), "ids count requests: {ids:?}");
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[0][..16], ids[1][..16], "no shared prefix to read a process or a rate off");
    }

    #[test]
    fn a_well_formed_client_id_is_kept_and_a_bad_one_replaced() {
        assert_eq!(request_id(Some("client-id.1")), "client-id.1");
        assert_eq!(request_id(Some("bad id")).len(), 32);
        assert_eq!(request_id(Some("")).len(), 32);
        assert_eq!(request_id(Some(&"a".repeat(129))).len(), 32);
    }
}
