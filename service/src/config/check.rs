//! The per-key checks of [`super::Settings::check`]: each takes one raw value
//! (and `name`, which words a key as the file key or the variable the value came
//! from) and gives the typed value or an error that names the key.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use super::SettingsError;
use super::material::parse_operator_key;
use super::redact_url;
use super::sources::{Dur, List};
use crate::domain::{MethodType, OriginPattern, ValidationPolicy};

/// How a key is named in an error (the file key or the environment variable).
pub(super) type Name<'a> = &'a dyn Fn(&str) -> String;

/// A duration, or `default` seconds.
pub(super) fn dur(d: Option<Dur>, default: u64) -> Duration {
    d.map_or(Duration::from_secs(default), |d| d.0)
}

pub(super) fn listen(raw: Option<String>, name: Name) -> Result<SocketAddr, SettingsError> {
    match raw {
        None => Ok(SocketAddr::from(([127, 0, 0, 1], 8080))),
        Some(v) => v.trim().parse().map_err(|_| {
            SettingsError(format!("{}: {v:?} is not an address; use HOST:PORT like 127.0.0.1:8080", name("listen")))
        }),
    }
}

pub(super) fn database_url(raw: Option<String>, name: Name) -> Result<String, SettingsError> {
    let database_url = raw.unwrap_or_else(|| "sqlite://./data/auth-service.db".to_string());
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        return Err(SettingsError(format!(
            "{}: {} is neither sqlite://... nor postgres://...",
            name("database_url"),
            redact_url(&database_url)
        )));
    }
    Ok(database_url)
}

pub(super) fn allowed_methods(raw: Option<List>, name: Name) -> Result<BTreeSet<MethodType>, SettingsError> {
    match raw {
        None => Ok(BTreeSet::from([MethodType::Aws])),
        Some(list) => ValidationPolicy::parse_allowed_methods(&list.items().join(","))
            .map_err(|e| SettingsError(format!("{}: {e}", name("allowed_methods")))),
    }
}

pub(super) fn jwt_allowed_dirs(raw: Option<List>, name: Name) -> Result<Vec<PathBuf>, SettingsError> {
    let mut dirs = Vec::new();
    for d in raw.map(|l| l.items()).unwrap_or_default() {
        let p = PathBuf::from(&d);
        if !p.is_absolute() {
            return Err(SettingsError(format!("{}: {d:?} must be an absolute folder path", name("jwt_allowed_dirs"))));
        }
        dirs.push(p);
    }
    Ok(dirs)
}

/// The operator key and, during a rotation, the previous one (never the previous alone).
pub(super) fn operator_keys(
    key: Option<String>,
    previous: Option<String>,
    name: Name,
) -> Result<(Option<SecretString>, Option<SecretString>), SettingsError> {
    let operator_key = parse_operator_key(key, &name("operator_key"))?;
    let operator_key_previous = parse_operator_key(previous, &name("operator_key_previous"))?;
    if operator_key_previous.is_some() && operator_key.is_none() {
        return Err(SettingsError(format!(
            "{} is set without {}: during a rotation both are set (the new key, and the old one until every script uses the new)",
            name("operator_key_previous"),
            name("operator_key")
        )));
    }
    Ok((operator_key, operator_key_previous))
}

/// The login back-off's first and longest pause.
pub(super) fn login_backoff(
    initial: Option<Dur>,
    max: Option<Dur>,
    name: Name,
) -> Result<(Duration, Duration), SettingsError> {
    let initial = dur(initial, 5);
    let max = dur(max, 300);
    if max < initial {
        return Err(SettingsError(format!(
            "{} must not be shorter than {}",
            name("login_backoff_max"),
            name("login_backoff_initial")
        )));
    }
    Ok((initial, max))
}

/// A count from 1 to 256 (agents at once, workers, agents per tenant).
pub(super) fn count(raw: Option<u64>, key: &str, default: usize, name: Name) -> Result<usize, SettingsError> {
    match raw {
        None => Ok(default),
        Some(n) if (1..=256).contains(&n) => Ok(usize::try_from(n).unwrap_or(default)),
        Some(n) => Err(SettingsError(format!("{}: {n} must be a whole number from 1 to 256", name(key)))),
    }
}

pub(super) fn agent_temp_dir(raw: Option<String>, name: Name) -> Result<Option<PathBuf>, SettingsError> {
    match raw {
        None => Ok(None),
        // Run folders end up in the agent's HCL config: keep the path plain.
        Some(v) if crate::domain::method_block::hcl_unsafe(&v).is_some() || !Path::new(&v).is_absolute() => {
            Err(SettingsError(format!(
                "{}: must be an absolute path without quotes, backslashes, '${{' or '%{{'",
                name("agent_temp_dir")
            )))
        }
        Some(v) => Ok(Some(PathBuf::from(v))),
    }
}

pub(super) fn vault_addresses(raw: Option<List>, name: Name) -> Result<Vec<OriginPattern>, SettingsError> {
    let mut addresses = Vec::new();
    for item in raw.map(|l| l.items()).unwrap_or_default() {
        addresses
            .push(OriginPattern::parse(&item).map_err(|e| SettingsError(format!("{}: {e}", name("vault_addresses"))))?);
    }
    Ok(addresses)
}

pub(super) fn aws_sts_endpoint(raw: Option<String>, name: Name) -> Result<Option<String>, SettingsError> {
    match raw.map(|v| v.trim().trim_end_matches('/').to_string()) {
        Some(v) if !(v.starts_with("https://") || v.starts_with("http://")) => Err(SettingsError(format!(
            "{}: {v:?} must be an http(s) URL like https://sts.eu-west-1.amazonaws.com",
            name("aws_sts_endpoint")
        ))),
        other => Ok(other.filter(|v| !v.is_empty())),
    }
}

/// Requests per second, 0 for no limit.
pub(super) fn rate(raw: Option<u64>, key: &str, default: u32, name: Name) -> Result<u32, SettingsError> {
    match raw {
        None => Ok(default),
        Some(n) => u32::try_from(n).ok().filter(|n| *n <= 1_000_000).ok_or_else(|| {
            SettingsError(format!("{}: {n} must be 0 (no limit) or up to 1000000 requests per second", name(key)))
        }),
    }
}

pub(super) fn test_cooldown(raw: Option<&str>, name: Name) -> Result<Duration, SettingsError> {
    match raw.map(str::trim) {
        None => Ok(Duration::from_secs(2)),
        Some(v) => humantime::parse_duration(v).map_err(|e| {
            SettingsError(format!(
                "{}: {v:?} is not a duration ({e}); use e.g. \"2s\", or \"0s\" for none",
                name("test_cooldown")
            ))
        }),
    }
}

/// The whole request's deadline: room for a queued agent run and the Vault calls around it.
pub(super) fn request_timeout(
    request: Option<Dur>,
    agent: Option<Dur>,
    queue: Option<Dur>,
    vault: Option<Dur>,
) -> Duration {
    match request {
        Some(d) => d.0,
        None => dur(agent, 30) + dur(queue, 10) + dur(vault, 10) * 3 + Duration::from_secs(5),
    }
}
