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

mod check;
mod effective;
mod material;
mod sources;
use check::dur;
pub use material::{SealKeys, ca_certificates};
use material::{check_ca_bundle, matches_key, read_seal_keys};
use sources::{Environment, KEYS, Raw, var_name};

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
        let listen = check::listen(raw.listen, name)?;
        let database_url = check::database_url(raw.database_url, name)?;
        let agent_bin = raw.agent_bin.unwrap_or_else(|| PathBuf::from("vault"));
        let allowed_methods = check::allowed_methods(raw.allowed_methods, name)?;
        let jwt_allowed_dirs = check::jwt_allowed_dirs(raw.jwt_allowed_dirs, name)?;
        let (operator_key, operator_key_previous) =
            check::operator_keys(raw.operator_key, raw.operator_key_previous, name)?;
        let (login_backoff_initial, login_backoff_max) =
            check::login_backoff(raw.login_backoff_initial, raw.login_backoff_max, name)?;
        let max_concurrent_agents = check::count(raw.max_concurrent_agents, "max_concurrent_agents", 4, name)?;
        let agent_temp_dir = check::agent_temp_dir(raw.agent_temp_dir, name)?;
        let vault_ca_cert =
            raw.vault_ca_cert.as_ref().map(|v| check_ca_bundle(&name("vault_ca_cert"), v)).transpose()?;
        let ec2_metadata_endpoint = raw
            .ec2_metadata_endpoint
            .clone()
            .or_else(|| env("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
            .unwrap_or_else(|| "http://169.254.169.254".to_string())
            .trim_end_matches('/')
            .to_string();
        let vault_addresses = check::vault_addresses(raw.vault_addresses, name)?;
        let aws_sts_endpoint = check::aws_sts_endpoint(raw.aws_sts_endpoint, name)?;
        let parallelism = std::thread::available_parallelism().map_or(2, usize::from);
        let workers = check::count(raw.workers, "workers", parallelism, name)?;
        let rate_limit_read = check::rate(raw.rate_limit_read, "rate_limit_read", 0, name)?;
        let rate_limit_admin = check::rate(raw.rate_limit_admin, "rate_limit_admin", 50, name)?;
        let max_agents_per_tenant = check::count(raw.max_agents_per_tenant, "max_agents_per_tenant", 2, name)?;
        let token_seal_keys =
            raw.token_seal_key_file.as_ref().map(|p| read_seal_keys(&name("token_seal_key_file"), p)).transpose()?;
        Ok(Settings {
            token_seal_keys,
            max_agents_per_tenant,
            agent_queue_timeout: dur(raw.agent_queue_timeout, 10),
            audit_retention: dur(raw.audit_retention, 90 * 24 * 3600),
            test_cooldown: check::test_cooldown(raw.test_cooldown.as_deref(), name)?,
            request_timeout: check::request_timeout(
                raw.request_timeout,
                raw.agent_timeout,
                raw.agent_queue_timeout,
                raw.vault_timeout,
            ),
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
