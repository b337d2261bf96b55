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
            // 16 bytes: this process's random 8, then a counter through a keyed
            // permutation (four Feistel rounds of SipHash with this process's
            // random keys): ids stay unique without a getrandom call per
            // request, and no one can read the request rate off their ids.
            static PREFIX: std::sync::OnceLock<([u8; 8], std::hash::RandomState)> = std::sync::OnceLock::new();
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let (prefix, keys) = PREFIX.get_or_init(|| {
                let mut bytes = [0u8; 8];
                if getrandom::fill(&mut bytes).is_err() {
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or_default();
                    bytes = (nanos as u64 ^ u64::from(std::process::id())).to_be_bytes();
                }
                (bytes, std::hash::RandomState::new())
            });
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(prefix);
            bytes[8..].copy_from_slice(&permute(keys, n).to_be_bytes());
            hex::encode(bytes)
        }
    }
}

/// A keyed permutation of 64-bit numbers: a four-round Feistel network whose
/// round function is SipHash with `keys`. One-to-one, so distinct counters give
/// distinct ids.
fn permute(keys: &std::hash::RandomState, n: u64) -> u64 {
    use std::hash::BuildHasher;
    let (mut left, mut right) = ((n >> 32) as u32, n as u32);
    for round in 0u8..4 {
        let f = keys.hash_one((round, right)) as u32;
        (left, right) = (right, left ^ f);
    }
    (u64::from(left) << 32) | u64::from(right)
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
    use super::{permute, request_id};

    #[test]
    fn fresh_ids_are_unique_hex_and_do_not_count_requests() {
        let ids: Vec<String> = (0..3).map(|_| request_id(None)).collect();
        for id in &ids {
            assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            assert_eq!(id[..16], ids[0][..16], "one process, one prefix");
        }
        let tail = |id: &String| u64::from_str_radix(&id[16..], 16).expect("hex");
        assert!(ids.windows(2).all(|w| tail(&w[1]).wrapping_sub(tail(&w[0])) != 1), "ids count requests: {ids:?}");
        assert_ne!(ids[0], ids[1]);
        assert_eq!(request_id(Some("client-id.1")), "client-id.1");
        assert_eq!(request_id(Some("bad id")).len(), 32);
    }

    #[test]
    fn the_permutation_can_be_undone_with_the_keys_so_distinct_counters_give_distinct_ids() {
        use std::hash::BuildHasher;
        let keys = std::hash::RandomState::new();
        let undo = |m: u64| {
            let (mut left, mut right) = ((m >> 32) as u32, m as u32);
            for round in (0u8..4).rev() {
                let f = keys.hash_one((round, left)) as u32;
                (left, right) = (right ^ f, left);
            }
            (u64::from(left) << 32) | u64::from(right)
        };
        for n in [0, 1, 2, 41, u64::from(u32::MAX), 1 << 40, u64::MAX] {
            assert_eq!(undo(permute(&keys, n)), n);
        }
        assert!((0..100u64).filter(|&n| permute(&keys, n) == n).count() < 2, "not a counter in disguise");
    }
}
