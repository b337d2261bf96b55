//! Where settings come from: the TOML file and `AUTH_SERVICE_*` variables as
//! figment layers, and the serde shape they are read into (every key optional,
//! unknown keys refused, typed values).

use std::path::PathBuf;
use std::time::Duration;

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};
use serde::{Deserialize, Deserializer};

use super::{AwsIdentityMode, LogFormat};

/// The keys, lower-case; each is also read from `AUTH_SERVICE_<KEY>`.
pub(super) const KEYS: [&str; 29] = [
    "listen",
    "database_url",
    "agent_bin",
    "allowed_methods",
    "jwt_allowed_dirs",
    "operator_key",
    "operator_key_previous",
    "agent_timeout",
    "max_concurrent_agents",
    "agent_temp_dir",
    "vault_timeout",
    "vault_ca_cert",
    "token_max_cache_ttl",
    "login_backoff_initial",
    "login_backoff_max",
    "ec2_metadata_endpoint",
    "log_format",
    "vault_addresses",
    "aws_identity",
    "aws_sts_endpoint",
    "workers",
    "rate_limit_read",
    "rate_limit_admin",
    "max_agents_per_tenant",
    "agent_queue_timeout",
    "audit_retention",
    "test_cooldown",
    "request_timeout",
    "token_seal_key_file",
];

/// Keys whose environment value is read as a number rather than text.
const NUMERIC_KEYS: [&str; 5] =
    ["max_concurrent_agents", "workers", "rate_limit_read", "rate_limit_admin", "max_agents_per_tenant"];

/// The layered settings before the checks: every key optional, unknown keys refused.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) listen: Option<String>,
    pub(super) database_url: Option<String>,
    pub(super) agent_bin: Option<PathBuf>,
    pub(super) allowed_methods: Option<List>,
    pub(super) jwt_allowed_dirs: Option<List>,
    pub(super) operator_key: Option<String>,
    pub(super) operator_key_previous: Option<String>,
    pub(super) agent_timeout: Option<Dur>,
    pub(super) max_concurrent_agents: Option<u64>,
    pub(super) agent_temp_dir: Option<String>,
    pub(super) vault_timeout: Option<Dur>,
    pub(super) vault_ca_cert: Option<String>,
    pub(super) token_max_cache_ttl: Option<Dur>,
    pub(super) login_backoff_initial: Option<Dur>,
    pub(super) login_backoff_max: Option<Dur>,
    pub(super) ec2_metadata_endpoint: Option<String>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) vault_addresses: Option<List>,
    pub(super) aws_identity: Option<AwsIdentityMode>,
    pub(super) aws_sts_endpoint: Option<String>,
    pub(super) workers: Option<u64>,
    pub(super) rate_limit_read: Option<u64>,
    pub(super) rate_limit_admin: Option<u64>,
    pub(super) max_agents_per_tenant: Option<u64>,
    pub(super) agent_queue_timeout: Option<Dur>,
    pub(super) audit_retention: Option<Dur>,
    pub(super) test_cooldown: Option<String>,
    pub(super) request_timeout: Option<Dur>,
    pub(super) token_seal_key_file: Option<PathBuf>,
}

/// A duration written as a string like `"30s"` or `"5m"`; zero is refused.
#[derive(Clone, Copy)]
pub(super) struct Dur(pub(super) Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)
            .map_err(|_| serde::de::Error::custom("a duration is a string like \"30s\" or \"5m\""))?;
        let value = humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!("{text:?} is not a duration ({e}); use e.g. \"30s\" or \"5m\""))
        })?;
        if value.is_zero() {
            return Err(serde::de::Error::custom("must be longer than zero"));
        }
        Ok(Dur(value))
    }
}

/// A list: a TOML array, or one string of comma-separated items.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum List {
    Many(Vec<String>),
    One(String),
}

impl List {
    pub(super) fn items(&self) -> Vec<String> {
        let split = |s: &str| s.split(',').map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect::<Vec<_>>();
        match self {
            List::Many(v) => v.iter().flat_map(|s| split(s)).collect(),
            List::One(s) => split(s),
        }
    }
}

/// The `AUTH_SERVICE_*` variables as a figment layer (read through a lookup, so
/// tests need not touch the process environment).
pub(super) struct Environment(pub(super) Dict);

impl Environment {
    pub(super) fn read(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut dict = Dict::new();
        for key in KEYS {
            if let Some(v) = env(&var_name(key)) {
                let value = if NUMERIC_KEYS.contains(&key) {
                    v.trim().parse::<u64>().map_or_else(|_| Value::from(v.clone()), Value::from)
                } else {
                    Value::from(v)
                };
                dict.insert(key.to_string(), value);
            }
        }
        Self(dict)
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        Metadata::named("AUTH_SERVICE_* environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

pub(super) fn var_name(key: &str) -> String {
    format!("AUTH_SERVICE_{}", key.to_ascii_uppercase())
}
