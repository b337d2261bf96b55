//! Settings: an optional TOML file (`--config FILE`) and `AUTH_SERVICE_*`
//! environment variables, layered by `figment` into one typed serde struct; the
//! environment wins. Integers are integers (`max_concurrent_agents = 4`),
//! durations are strings like `"30s"`, lists are TOML arrays or comma lists.
//! Unknown file keys are refused. Every value is checked at start-up, and an
//! error names the key (or variable) to fix.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::{MethodType, OriginPattern, ValidationPolicy};

mod effective;
mod material;
mod sources;
pub use material::{SealKeys, ca_certificates};
use material::{check_ca_bundle, matches_key, parse_operator_key, read_seal_keys};
use sources::{Dur, Environment, KEYS, Raw, var_name};

/// Whose AWS identity an `iam` login uses (`AUTH_SERVICE_AWS_IDENTITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AwsIdentityMode {
    /// Each tenant's own role, assumed with the tenant's external id (the default).
    PerTenantRole,
    /// The host's credential chain, for single-tenant installs.
    Host,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Validated settings of the service.
#[derive(Clone)]
pub struct Settings {
    /// Address to bind (`AUTH_SERVICE_LISTEN`).
    pub listen: SocketAddr,
    /// `sqlite://...` or `postgres://...` (`AUTH_SERVICE_DATABASE_URL`).
    pub database_url: String,
    /// Agent binary (`AUTH_SERVICE_AGENT_BIN`).
    pub agent_bin: PathBuf,
    /// Enabled method types (`AUTH_SERVICE_ALLOWED_METHODS`).
    pub allowed_methods: BTreeSet<MethodType>,
    /// Folders jwt profiles may read token files from (`AUTH_SERVICE_JWT_ALLOWED_DIRS`).
    pub jwt_allowed_dirs: Vec<PathBuf>,
    /// The operator's bearer key (`AUTH_SERVICE_OPERATOR_KEY`).
    pub operator_key: Option<SecretString>,
    /// The previous operator key, still accepted during a rotation (`AUTH_SERVICE_OPERATOR_KEY_PREVIOUS`).
    pub operator_key_previous: Option<SecretString>,
    /// Hard limit for one agent run (`AUTH_SERVICE_AGENT_TIMEOUT`).
    pub agent_timeout: Duration,
    /// Agent runs at once (`AUTH_SERVICE_MAX_CONCURRENT_AGENTS`).
    pub max_concurrent_agents: usize,
    /// Parent folder of the private per-run folders (`AUTH_SERVICE_AGENT_TEMP_DIR`).
    pub agent_temp_dir: Option<PathBuf>,
    /// PEM bundle of CAs that sign Vault's TLS certificates, for the agent and the service (`AUTH_SERVICE_VAULT_CA_CERT`).
    pub vault_ca_cert: Option<PathBuf>,
    /// Timeout of each call to Vault (`AUTH_SERVICE_VAULT_TIMEOUT`).
    pub vault_timeout: Duration,
    /// Cache lifetime for tokens that never expire (`AUTH_SERVICE_TOKEN_MAX_CACHE_TTL`).
    pub token_max_cache_ttl: Duration,
    /// First delay after a failed login (`AUTH_SERVICE_LOGIN_BACKOFF_INITIAL`).
    pub login_backoff_initial: Duration,
    /// Longest delay after repeated failed logins (`AUTH_SERVICE_LOGIN_BACKOFF_MAX`).
    pub login_backoff_max: Duration,
    /// EC2 instance metadata endpoint (`AUTH_SERVICE_EC2_METADATA_ENDPOINT`, else `AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    pub ec2_metadata_endpoint: String,
    /// Log format (`AUTH_SERVICE_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Vault origins profiles may name (`AUTH_SERVICE_VAULT_ADDRESSES`); none: no profile can be saved.
    pub vault_addresses: Vec<OriginPattern>,
    /// Whose AWS identity `iam` logins use (`AUTH_SERVICE_AWS_IDENTITY`).
    pub aws_identity: AwsIdentityMode,
    /// STS endpoint override (`AUTH_SERVICE_AWS_STS_ENDPOINT`).
    pub aws_sts_endpoint: Option<String>,
    /// Agent runs at once per tenant, under the global limit (`AUTH_SERVICE_MAX_AGENTS_PER_TENANT`).
    pub max_agents_per_tenant: usize,
    /// How long a login waits for an agent slot before 503 (`AUTH_SERVICE_AGENT_QUEUE_TIMEOUT`).
    pub agent_queue_timeout: Duration,
    /// How long audit events are kept (`AUTH_SERVICE_AUDIT_RETENTION`).
    pub audit_retention: Duration,
    /// The least time between two test connections of one profile (`AUTH_SERVICE_TEST_COOLDOWN`; `0s` = none).
    pub test_cooldown: Duration,
    /// The longest a request may take before it is answered 503 (`AUTH_SERVICE_REQUEST_TIMEOUT`).
    pub request_timeout: Duration,
    /// HTTP worker threads (`AUTH_SERVICE_WORKERS`; default: the available cores).
    pub workers: usize,
    /// Requests per second per read key, burst the same (`AUTH_SERVICE_RATE_LIMIT_READ`; 0 = no limit).
    pub rate_limit_read: u32,
    /// Requests per second per admin or operator key, burst the same (`AUTH_SERVICE_RATE_LIMIT_ADMIN`; 0 = no limit).
    pub rate_limit_admin: u32,
    /// The keys that seal tokens into the shared store (`AUTH_SERVICE_TOKEN_SEAL_KEY_FILE`); None: memory only.
    pub token_seal_keys: Option<SealKeys>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("agent_bin", &self.agent_bin)
            .field("allowed_methods", &self.allowed_methods)
            .field("jwt_allowed_dirs", &self.jwt_allowed_dirs)
            .field("operator_key", &self.operator_key.as_ref().map(|_| "[redacted]"))
            .field("operator_key_previous", &self.operator_key_previous.as_ref().map(|_| "[redacted]"))
            .field("agent_timeout", &self.agent_timeout)
            .field("max_concurrent_agents", &self.max_concurrent_agents)
            .field("vault_timeout", &self.vault_timeout)
            .field("vault_ca_cert", &self.vault_ca_cert)
            .field("log_format", &self.log_format)
            .field("vault_addresses", &self.vault_addresses.iter().map(ToString::to_string).collect::<Vec<_>>())
            .field("aws_identity", &self.aws_identity)
            .field("aws_sts_endpoint", &self.aws_sts_endpoint)
            .field("workers", &self.workers)
            .field("rate_limit_read", &self.rate_limit_read)
            .field("rate_limit_admin", &self.rate_limit_admin)
            .field("token_seal_keys", &self.token_seal_keys)
            .finish_non_exhaustive()
    }
}

/// A URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A settings error, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl Settings {
    /// Load from an optional file and the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_with(config_file, &|k| std::env::var(k).ok())
    }

    /// Load with an explicit environment lookup (tests).
    pub fn load_with(config_file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let environment = Environment::read(env);
        // Where a key's value came from, for messages.
        let name = |key: &str| {
            if environment.0.contains_key(key) { var_name(key) } else { format!("{key} (config file)") }
        };
        let mut layers = Figment::new();
        if let Some(path) = config_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SettingsError(format!("config file {}: {e}", path.display())))?;
            layers = layers.merge(Toml::string(&text));
        }
        let raw: Raw = layers.merge(&environment).extract().map_err(|errors| {
            let file = config_file.map(|p| p.display().to_string()).unwrap_or_default();
            SettingsError(
                errors
                    .into_iter()
                    .map(|e| match e.path.last() {
                        Some(key) if KEYS.contains(&key.as_str()) => format!("{}: {}", name(key), e.kind),
                        _ => format!("config file {file}: {}", e.kind),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        Self::check(raw, &name, env)
    }

    fn check(
        raw: Raw,
        name: &dyn Fn(&str) -> String,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let listen = match raw.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v.trim().parse().map_err(|_| {
                SettingsError(format!("{}: {v:?} is not an address; use HOST:PORT like 127.0.0.1:8080", name("listen")))
            })?,
        };
        let database_url = raw.database_url.unwrap_or_else(|| "sqlite://./data/auth-service.db".to_string());
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
        let agent_bin = raw.agent_bin.unwrap_or_else(|| PathBuf::from("vault"));
        let allowed_methods = match raw.allowed_methods {
            None => BTreeSet::from([MethodType::Aws]),
            Some(list) => ValidationPolicy::parse_allowed_methods(&list.items().join(","))
                .map_err(|e| SettingsError(format!("{}: {e}", name("allowed_methods"))))?,
        };
        let mut jwt_allowed_dirs = Vec::new();
        for d in raw.jwt_allowed_dirs.map(|l| l.items()).unwrap_or_default() {
            let p = PathBuf::from(&d);
            if !p.is_absolute() {
                return Err(SettingsError(format!(
                    "{}: {d:?} must be an absolute folder path",
                    name("jwt_allowed_dirs")
                )));
            }
            jwt_allowed_dirs.push(p);
        }
        let operator_key = parse_operator_key(raw.operator_key, &name("operator_key"))?;
        let operator_key_previous = parse_operator_key(raw.operator_key_previous, &name("operator_key_previous"))?;
        if operator_key_previous.is_some() && operator_key.is_none() {
            return Err(SettingsError(format!(
                "{} is set without {}: during a rotation both are set (the new key, and the old one until every script uses the new)",
                name("operator_key_previous"),
                name("operator_key")
            )));
        }
        let dur = |d: Option<Dur>, default: u64| d.map_or(Duration::from_secs(default), |d| d.0);
        let login_backoff_initial = dur(raw.login_backoff_initial, 5);
        let login_backoff_max = dur(raw.login_backoff_max, 300);
        if login_backoff_max < login_backoff_initial {
            return Err(SettingsError(format!(
                "{} must not be shorter than {}",
                name("login_backoff_max"),
                name("login_backoff_initial")
            )));
        }
        let max_concurrent_agents = match raw.max_concurrent_agents {
            None => 4,
            Some(n) if (1..=256).contains(&n) => usize::try_from(n).unwrap_or(4),
            Some(n) => {
                return Err(SettingsError(format!(
                    "{}: {n} must be a whole number from 1 to 256",
                    name("max_concurrent_agents")
                )));
            }
        };
        let agent_temp_dir = match raw.agent_temp_dir {
            None => None,
            // Run folders end up in the agent's HCL config: keep the path plain.
            Some(v) if crate::domain::method_block::hcl_unsafe(&v).is_some() || !Path::new(&v).is_absolute() => {
                return Err(SettingsError(format!(
                    "{}: must be an absolute path without quotes, backslashes, '${{' or '%{{'",
                    name("agent_temp_dir")
                )));
            }
            Some(v) => Some(PathBuf::from(v)),
        };
        let vault_ca_cert = raw.vault_ca_cert.map(|v| check_ca_bundle(&name("vault_ca_cert"), &v)).transpose()?;
        let ec2_metadata_endpoint = raw
            .ec2_metadata_endpoint
            .or_else(|| env("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
            .unwrap_or_else(|| "http://169.254.169.254".to_string())
            .trim_end_matches('/')
            .to_string();
        let mut vault_addresses = Vec::new();
        for item in raw.vault_addresses.map(|l| l.items()).unwrap_or_default() {
            vault_addresses.push(
                OriginPattern::parse(&item).map_err(|e| SettingsError(format!("{}: {e}", name("vault_addresses"))))?,
            );
        }
        let aws_sts_endpoint = match raw.aws_sts_endpoint.map(|v| v.trim().trim_end_matches('/').to_string()) {
            Some(v) if !(v.starts_with("https://") || v.starts_with("http://")) => {
                return Err(SettingsError(format!(
                    "{}: {v:?} must be an http(s) URL like https://sts.eu-west-1.amazonaws.com",
                    name("aws_sts_endpoint")
                )));
            }
            other => other.filter(|v| !v.is_empty()),
        };
        let workers = match raw.workers {
            None => std::thread::available_parallelism().map_or(2, usize::from),
            Some(n) if (1..=256).contains(&n) => usize::try_from(n).unwrap_or(2),
            Some(n) => {
                return Err(SettingsError(format!("{}: {n} must be a whole number from 1 to 256", name("workers"))));
            }
        };
        let rate = |v: Option<u64>, key: &str, default: u32| -> Result<u32, SettingsError> {
            match v {
                None => Ok(default),
                Some(n) => u32::try_from(n).ok().filter(|n| *n <= 1_000_000).ok_or_else(|| {
                    SettingsError(format!(
                        "{}: {n} must be 0 (no limit) or up to 1000000 requests per second",
                        name(key)
                    ))
                }),
            }
        };
        let rate_limit_read = rate(raw.rate_limit_read, "rate_limit_read", 0)?;
        let rate_limit_admin = rate(raw.rate_limit_admin, "rate_limit_admin", 50)?;
        let max_agents_per_tenant = match raw.max_agents_per_tenant {
            None => 2,
            Some(n) if (1..=256).contains(&n) => usize::try_from(n).unwrap_or(2),
            Some(n) => {
                return Err(SettingsError(format!(
                    "{}: {n} must be a whole number from 1 to 256",
                    name("max_agents_per_tenant")
                )));
            }
        };
        let token_seal_keys =
            raw.token_seal_key_file.map(|p| read_seal_keys(&name("token_seal_key_file"), &p)).transpose()?;
        Ok(Settings {
            token_seal_keys,
            max_agents_per_tenant,
            agent_queue_timeout: dur(raw.agent_queue_timeout, 10),
            audit_retention: dur(raw.audit_retention, 90 * 24 * 3600),
            test_cooldown: match raw.test_cooldown.as_deref().map(str::trim) {
                None => Duration::from_secs(2),
                Some(v) => humantime::parse_duration(v).map_err(|e| {
                    SettingsError(format!(
                        "{}: {v:?} is not a duration ({e}); use e.g. \"2s\", or \"0s\" for none",
                        name("test_cooldown")
                    ))
                })?,
            },
            request_timeout: match raw.request_timeout {
                Some(d) => d.0,
                // Room for a queued agent run and the Vault calls around it.
                None => {
                    dur(raw.agent_timeout, 30)
                        + dur(raw.agent_queue_timeout, 10)
                        + dur(raw.vault_timeout, 10) * 3
                        + Duration::from_secs(5)
                }
            },
            workers,
            rate_limit_read,
            rate_limit_admin,
            vault_addresses,
            aws_identity: raw.aws_identity.unwrap_or(AwsIdentityMode::PerTenantRole),
            aws_sts_endpoint,
            listen,
            database_url,
            agent_bin,
            allowed_methods,
            jwt_allowed_dirs,
            operator_key,
            operator_key_previous,
            agent_timeout: dur(raw.agent_timeout, 30),
            max_concurrent_agents,
            agent_temp_dir,
            vault_timeout: dur(raw.vault_timeout, 10),
            vault_ca_cert,
            token_max_cache_ttl: dur(raw.token_max_cache_ttl, 3600),
            login_backoff_initial,
            login_backoff_max,
            ec2_metadata_endpoint,
            log_format: raw.log_format.unwrap_or(LogFormat::Pretty),
        })
    }

    /// The validation rules these settings imply.
    pub fn validation_policy(&self) -> ValidationPolicy {
        ValidationPolicy {
            allowed_methods: self.allowed_methods.clone(),
            jwt_allowed_dirs: self.jwt_allowed_dirs.clone(),
        }
    }

    /// Whether `key` is the operator key (constant-time comparison).
    pub fn is_operator_key(&self, key: &str) -> bool {
        matches_key(self.operator_key.as_ref(), key)
    }

    /// Whether `key` is the previous operator key, accepted during a rotation.
    pub fn is_previous_operator_key(&self, key: &str) -> bool {
        matches_key(self.operator_key_previous.as_ref(), key)
    }
}

#[cfg(test)]
mod tests;
