//! Settings: an optional TOML file (`--config FILE`) and `AUTH_SERVICE_*`
//! environment variables; the environment wins. Every value is typed and checked
//! at start-up, and an error names the key (or variable) to fix.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::{MethodType, ValidationPolicy};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            .field("agent_timeout", &self.agent_timeout)
            .field("max_concurrent_agents", &self.max_concurrent_agents)
            .field("vault_timeout", &self.vault_timeout)
            .field("vault_ca_cert", &self.vault_ca_cert)
            .field("log_format", &self.log_format)
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

/// The TOML file's shape: the same keys as the variables, lower-case, without the prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    agent_bin: Option<String>,
    allowed_methods: Option<String>,
    jwt_allowed_dirs: Option<String>,
    operator_key: Option<String>,
    agent_timeout: Option<String>,
    max_concurrent_agents: Option<String>,
    agent_temp_dir: Option<String>,
    vault_timeout: Option<String>,
    vault_ca_cert: Option<String>,
    token_max_cache_ttl: Option<String>,
    login_backoff_initial: Option<String>,
    login_backoff_max: Option<String>,
    ec2_metadata_endpoint: Option<String>,
    log_format: Option<String>,
}

/// A settings error, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

struct Source<'a> {
    file: FileSettings,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Source<'_> {
    /// The value of `key`: the variable `AUTH_SERVICE_<KEY>` first, then the file.
    fn get(&self, key: &str, file_value: &Option<String>) -> Option<(String, String)> {
        let var = format!("AUTH_SERVICE_{}", key.to_ascii_uppercase());
        if let Some(v) = (self.env)(&var) {
            return Some((var, v));
        }
        file_value.clone().map(|v| (format!("{key} (config file)"), v))
    }
}

fn parse_duration(name: &str, value: &str) -> Result<Duration, SettingsError> {
    let d = humantime::parse_duration(value.trim())
        .map_err(|e| SettingsError(format!("{name}: {value:?} is not a duration ({e}); use e.g. \"30s\" or \"5m\"")))?;
    if d.is_zero() {
        return Err(SettingsError(format!("{name}: must be longer than zero")));
    }
    Ok(d)
}

/// A CA bundle path: absolute, safe to write into the agent's HCL, and a readable PEM bundle.
fn check_ca_bundle(name: &str, value: &str) -> Result<PathBuf, SettingsError> {
    let path = PathBuf::from(value.trim());
    if !path.is_absolute() || crate::domain::method_block::hcl_unsafe(value).is_some() {
        return Err(SettingsError(format!(
            "{name}: must be an absolute path without quotes, backslashes, '${{' or '%{{'"
        )));
    }
    let pem =
        std::fs::read(&path).map_err(|e| SettingsError(format!("{name}: cannot read {}: {e}", path.display())))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(path),
        _ => Err(SettingsError(format!("{name}: {} holds no PEM certificate", path.display()))),
    }
}

/// The certificates of a CA bundle the settings already checked.
pub fn ca_certificates(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)?;
    Ok(reqwest::Certificate::from_pem_bundle(&pem)?)
}

impl Settings {
    /// Load from an optional file and the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_with(config_file, &|k| std::env::var(k).ok())
    }

    /// Load with an explicit environment lookup (tests).
    pub fn load_with(config_file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let file = match config_file {
            None => FileSettings::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| SettingsError(format!("config file {}: {e}", path.display())))?;
                toml::from_str(&text).map_err(|e| SettingsError(format!("config file {}: {e}", path.display())))?
            }
        };
        let src = Source { file, env };
        let f = &src.file;

        let listen = match src.get("listen", &f.listen) {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some((name, v)) => v.trim().parse().map_err(|_| {
                SettingsError(format!("{name}: {v:?} is not an address; use HOST:PORT like 127.0.0.1:8080"))
            })?,
        };
        let database_url = src
            .get("database_url", &f.database_url)
            .map(|(_, v)| v)
            .unwrap_or_else(|| "sqlite://./data/auth-service.db".to_string());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(SettingsError(format!(
                "AUTH_SERVICE_DATABASE_URL: {} is neither sqlite://... nor postgres://...",
                redact_url(&database_url)
            )));
        }
        let agent_bin =
            PathBuf::from(src.get("agent_bin", &f.agent_bin).map(|(_, v)| v).unwrap_or_else(|| "vault".into()));
        let allowed_methods = match src.get("allowed_methods", &f.allowed_methods) {
            None => BTreeSet::from([MethodType::Aws]),
            Some((name, v)) => {
                ValidationPolicy::parse_allowed_methods(&v).map_err(|e| SettingsError(format!("{name}: {e}")))?
            }
        };
        let jwt_allowed_dirs = match src.get("jwt_allowed_dirs", &f.jwt_allowed_dirs) {
            None => Vec::new(),
            Some((name, v)) => {
                let mut dirs = Vec::new();
                for d in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                    let p = PathBuf::from(d);
                    if !p.is_absolute() {
                        return Err(SettingsError(format!("{name}: {d:?} must be an absolute folder path")));
                    }
                    dirs.push(p);
                }
                dirs
            }
        };
        let operator_key = match src.get("operator_key", &f.operator_key) {
            None => None,
            Some((name, v)) => {
                let v = v.trim().to_string();
                if v.len() < 32 {
                    return Err(SettingsError(format!("{name}: the operator key must be at least 32 characters")));
                }
                Some(SecretString::from(v))
            }
        };
        let dur = |key: &str, fv: &Option<String>, default: Duration| -> Result<Duration, SettingsError> {
            match src.get(key, fv) {
                None => Ok(default),
                Some((name, v)) => parse_duration(&name, &v),
            }
        };
        let agent_timeout = dur("agent_timeout", &f.agent_timeout, Duration::from_secs(30))?;
        let vault_timeout = dur("vault_timeout", &f.vault_timeout, Duration::from_secs(10))?;
        let token_max_cache_ttl = dur("token_max_cache_ttl", &f.token_max_cache_ttl, Duration::from_secs(3600))?;
        let login_backoff_initial = dur("login_backoff_initial", &f.login_backoff_initial, Duration::from_secs(5))?;
        let login_backoff_max = dur("login_backoff_max", &f.login_backoff_max, Duration::from_secs(300))?;
        if login_backoff_max < login_backoff_initial {
            return Err(SettingsError(
                "AUTH_SERVICE_LOGIN_BACKOFF_MAX must not be shorter than AUTH_SERVICE_LOGIN_BACKOFF_INITIAL".into(),
            ));
        }
        let max_concurrent_agents = match src.get("max_concurrent_agents", &f.max_concurrent_agents) {
            None => 4,
            Some((name, v)) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=256).contains(&n) => n,
                _ => return Err(SettingsError(format!("{name}: {v:?} must be a whole number from 1 to 256"))),
            },
        };
        let agent_temp_dir = match src.get("agent_temp_dir", &f.agent_temp_dir) {
            None => None,
            Some((name, v)) => {
                // Run folders end up in the agent's HCL config: keep the path plain.
                if crate::domain::method_block::hcl_unsafe(&v).is_some() || !Path::new(&v).is_absolute() {
                    return Err(SettingsError(format!(
                        "{name}: must be an absolute path without quotes, backslashes, '${{' or '%{{'"
                    )));
                }
                Some(PathBuf::from(v))
            }
        };
        let vault_ca_cert = match src.get("vault_ca_cert", &f.vault_ca_cert) {
            None => None,
            Some((name, v)) => Some(check_ca_bundle(&name, &v)?),
        };
        let ec2_metadata_endpoint = src
            .get("ec2_metadata_endpoint", &f.ec2_metadata_endpoint)
            .map(|(_, v)| v)
            .or_else(|| env("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
            .unwrap_or_else(|| "http://169.254.169.254".to_string())
            .trim_end_matches('/')
            .to_string();
        let log_format = match src.get("log_format", &f.log_format) {
            None => LogFormat::Pretty,
            Some((name, v)) => match v.trim() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => return Err(SettingsError(format!("{name}: {other:?} is neither \"pretty\" nor \"json\""))),
            },
        };
        Ok(Settings {
            listen,
            database_url,
            agent_bin,
            allowed_methods,
            jwt_allowed_dirs,
            operator_key,
            agent_timeout,
            max_concurrent_agents,
            agent_temp_dir,
            vault_timeout,
            vault_ca_cert,
            token_max_cache_ttl,
            login_backoff_initial,
            login_backoff_max,
            ec2_metadata_endpoint,
            log_format,
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
        use subtle::ConstantTimeEq;
        match &self.operator_key {
            Some(k) => k.expose_secret().as_bytes().ct_eq(key.as_bytes()).into(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::load_with(None, &move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = load(&[]).expect("defaults load");
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://./data/auth-service.db");
        assert_eq!(s.agent_bin, PathBuf::from("vault"));
        assert_eq!(s.allowed_methods, BTreeSet::from([MethodType::Aws]));
        assert_eq!(s.agent_timeout, Duration::from_secs(30));
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert!(s.operator_key.is_none());
    }

    #[test]
    fn a_short_operator_key_is_refused_and_the_error_names_the_variable() {
        let err = load(&[("AUTH_SERVICE_OPERATOR_KEY", "short")]).expect_err("refused");
        assert!(err.0.contains("AUTH_SERVICE_OPERATOR_KEY"), "{}", err.0);
        assert!(!err.0.contains("short"), "the key itself must not be echoed");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nagent_timeout = \"5s\"\n").expect("write");
        let s = Settings::load_with(Some(&file), &|k| (k == "AUTH_SERVICE_LISTEN").then(|| "127.0.0.1:9100".into()))
            .expect("loads");
        assert_eq!(s.listen.port(), 9100);
        assert_eq!(s.agent_timeout, Duration::from_secs(5));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listn = \"127.0.0.1:9000\"\n").expect("write");
        let err = Settings::load_with(Some(&file), &|_| None).expect_err("refused");
        assert!(err.0.contains("listn"), "{}", err.0);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("AUTH_SERVICE_LISTEN", "nowhere"),
            ("AUTH_SERVICE_AGENT_TIMEOUT", "soon"),
            ("AUTH_SERVICE_ALLOWED_METHODS", "aws,kerberos"),
            ("AUTH_SERVICE_LOG_FORMAT", "xml"),
            ("AUTH_SERVICE_DATABASE_URL", "mysql://x"),
            ("AUTH_SERVICE_MAX_CONCURRENT_AGENTS", "0"),
            ("AUTH_SERVICE_JWT_ALLOWED_DIRS", "relative/dir"),
            ("AUTH_SERVICE_AGENT_TEMP_DIR", "/tmp/a\"b"),
            ("AUTH_SERVICE_AGENT_TEMP_DIR", "relative"),
            ("AUTH_SERVICE_VAULT_CA_CERT", "/nonexistent/ca.pem"),
            ("AUTH_SERVICE_VAULT_CA_CERT", "/etc/hostname"),
            ("AUTH_SERVICE_VAULT_CA_CERT", "relative.pem"),
        ] {
            let err = load(&[(var, value)]).expect_err(var);
            assert!(err.0.contains(var), "{var}: {}", err.0);
        }
    }

    #[test]
    fn debug_output_never_shows_the_operator_key() {
        let key = "k".repeat(40);
        let s = load(&[("AUTH_SERVICE_OPERATOR_KEY", &key)]).expect("loads");
        assert!(!format!("{s:?}").contains(&key));
        assert!(s.is_operator_key(&key));
        assert!(!s.is_operator_key("nope"));
    }
}
