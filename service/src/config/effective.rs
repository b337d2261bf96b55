//! The effective settings as `auth-service check-config` prints them: every
//! key with the value in force (from the file, the environment or the default),
//! secrets masked.

use super::{AwsIdentityMode, LogFormat, Settings, redact_url, var_name};

/// A duration as the settings accept it, in its largest whole unit (`30s`, `5m`, `90d`).
fn dur(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A secret as "set" or "not set", never its value.
fn masked(secret: Option<&secrecy::SecretString>) -> String {
    match secret {
        Some(_) => "[set, masked]".into(),
        None => "[not set]".into(),
    }
}

impl Settings {
    /// `(environment variable, value)` for every setting, secrets masked.
    pub fn effective(&self) -> Vec<(String, String)> {
        let list = |items: Vec<String>| if items.is_empty() { "[none]".to_string() } else { items.join(",") };
        let opt_path =
            |p: &Option<std::path::PathBuf>| p.as_ref().map_or("[not set]".into(), |p| p.display().to_string());
        let rows: Vec<(&str, String)> = vec![
            ("listen", self.listen.to_string()),
            ("database_url", redact_url(&self.database_url)),
            ("agent_bin", self.agent_bin.display().to_string()),
            ("allowed_methods", list(self.allowed_methods.iter().map(|m| format!("{m:?}").to_lowercase()).collect())),
            ("jwt_allowed_dirs", list(self.jwt_allowed_dirs.iter().map(|d| d.display().to_string()).collect())),
            ("operator_key", masked(self.operator_key.as_ref())),
            ("operator_key_previous", masked(self.operator_key_previous.as_ref())),
            ("agent_timeout", dur(self.agent_timeout)),
            ("max_concurrent_agents", self.max_concurrent_agents.to_string()),
            ("max_agents_per_tenant", self.max_agents_per_tenant.to_string()),
            ("agent_queue_timeout", dur(self.agent_queue_timeout)),
            ("agent_temp_dir", opt_path(&self.agent_temp_dir)),
            ("vault_timeout", dur(self.vault_timeout)),
            ("vault_ca_cert", opt_path(&self.vault_ca_cert)),
            ("vault_addresses", list(self.vault_addresses.iter().map(ToString::to_string).collect())),
            ("token_max_cache_ttl", dur(self.token_max_cache_ttl)),
            ("login_backoff_initial", dur(self.login_backoff_initial)),
            ("login_backoff_max", dur(self.login_backoff_max)),
            ("ec2_metadata_endpoint", self.ec2_metadata_endpoint.clone()),
            (
                "aws_identity",
                match self.aws_identity {
                    AwsIdentityMode::PerTenantRole => "per-tenant-role".into(),
                    AwsIdentityMode::Host => "host".into(),
                },
            ),
            ("aws_sts_endpoint", self.aws_sts_endpoint.clone().unwrap_or_else(|| "[AWS default]".into())),
            ("audit_retention", dur(self.audit_retention)),
            ("test_cooldown", dur(self.test_cooldown)),
            ("request_timeout", dur(self.request_timeout)),
            ("workers", self.workers.to_string()),
            ("rate_limit_read", self.rate_limit_read.to_string()),
            ("rate_limit_admin", self.rate_limit_admin.to_string()),
            (
                "token_seal_key_file",
                self.token_seal_keys.as_ref().map_or("[not set: tokens in memory only]".into(), |k| {
                    format!("{} ({} keys, masked)", k.file.display(), k.keys.len())
                }),
            ),
            (
                "log_format",
                match self.log_format {
                    LogFormat::Pretty => "pretty".into(),
                    LogFormat::Json => "json".into(),
                },
            ),
        ];
        rows.into_iter().map(|(k, v)| (var_name(k), v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::sources::KEYS;
    use super::*;

    #[test]
    fn every_setting_is_shown_and_secrets_are_masked() {
        let env = |k: &str| match k {
            "AUTH_SERVICE_OPERATOR_KEY" => Some("op-0123456789abcdef0123456789abcdef".to_string()),
            "AUTH_SERVICE_DATABASE_URL" => Some("postgres://app:hunter2@db.example/auth".to_string()),
            _ => None,
        };
        let shown = Settings::load_with(None, &env).expect("settings").effective();
        for key in KEYS {
            assert!(shown.iter().any(|(var, _)| *var == var_name(key)), "{key} is not shown");
        }
        let text = format!("{shown:?}");
        assert!(!text.contains("0123456789abcdef") && !text.contains("hunter2"), "{text}");
        assert!(text.contains("\"90d\""), "durations in a unit the settings accept: {text}");
    }
}
