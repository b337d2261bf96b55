//! Which of the host's environment variables reach the agent.

use std::ffi::OsString;

/// Which parent environment variables reach the agent: an explicit allowlist,
/// never `VAULT_*` or `BAO_*` (they would override the config's address,
/// namespace or token), plus variables the caller sets explicitly.
#[derive(Debug, Clone)]
pub struct EnvPolicy {
    /// Exact variable names passed on when set.
    pub pass: Vec<String>,
    /// Prefixes of variable names passed on (default: `AWS_EC2_METADATA_`).
    pub pass_prefixes: Vec<String>,
    /// Prefixes never passed on, even when listed above or in `extra`.
    pub deny_prefixes: Vec<String>,
    /// Variables the caller sets explicitly.
    pub extra: Vec<(String, String)>,
}

/// What an AWS login needs from the host: the SDK's credential chain
/// (environment, shared files and profile, web identity, ECS container
/// credentials), region, STS endpoint settings and the CA bundle.
const AWS_VARIABLES: [&str; 25] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SDK_LOAD_CONFIG",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_CA_BUNDLE",
    "AWS_METADATA_SERVICE_TIMEOUT",
    "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
];

/// What any agent needs from the host: `PATH`, `HOME` (shared AWS files), the
/// time zone, the system CA locations and the egress proxy the host uses.
const HOST_VARIABLES: [&str; 11] = [
    "PATH",
    "HOME",
    "TZ",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

impl Default for EnvPolicy {
    fn default() -> Self {
        Self {
            pass: HOST_VARIABLES.iter().chain(AWS_VARIABLES.iter()).map(|v| (*v).to_string()).collect(),
            pass_prefixes: vec!["AWS_EC2_METADATA_".into()],
            deny_prefixes: vec!["VAULT_".into(), "BAO_".into()],
            extra: Vec::new(),
        }
    }
}

impl EnvPolicy {
    /// Only the host basics (`PATH`, `HOME`, time zone, CA locations, proxy)
    /// and `extra`: nothing of the host's AWS configuration reaches the child.
    pub fn isolated(extra: Vec<(String, String)>) -> Self {
        Self {
            pass: HOST_VARIABLES.iter().map(|v| (*v).to_string()).collect(),
            pass_prefixes: Vec::new(),
            deny_prefixes: vec!["VAULT_".into(), "BAO_".into()],
            extra,
        }
    }

    /// The environment the child gets, from `parent`.
    pub fn child_env(&self, parent: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
        let denied = |k: &str| self.deny_prefixes.iter().any(|p| k.starts_with(p.as_str()));
        let mut out: Vec<(OsString, OsString)> = parent
            .into_iter()
            .filter(|(k, _)| {
                let Some(k) = k.to_str() else { return false };
                !denied(k)
                    && !self.extra.iter().any(|(e, _)| e == k)
                    && (self.pass.iter().any(|p| p == k)
                        || self.pass_prefixes.iter().any(|p| k.starts_with(p.as_str())))
            })
            .collect();
        for (k, v) in &self.extra {
            if !denied(k) {
                out.push((k.into(), v.into()));
            }
        }
        out
    }
}
