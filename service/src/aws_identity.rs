//! Per-tenant AWS identities for `iam` logins (`per-tenant-role` mode).
//!
//! How it works: before an `iam` login, the service calls STS `AssumeRole` with
//! the profile's `aws_role_arn`, the tenant's `aws_external_id` and the session
//! name `auth-service-<tenant>`, signed with the host's credential chain (the
//! official AWS SDK). AWS's answer to the confused-deputy problem: a tenant can
//! name any role ARN, but only a role whose trust policy expects *its* external
//! id lets the call through. The temporary credentials are cached per (tenant,
//! role) until 5 minutes before they expire, and the agent receives only them
//! (see [`crate::login`]). `AUTH_SERVICE_AWS_STS_ENDPOINT` overrides the endpoint.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_sdk_sts::error::ProvideErrorMetadata;
use moka::Expiry;
use moka::future::Cache;
use secrecy::SecretString;
use tokio::sync::OnceCell;

use crate::domain::TenantId;

/// Credentials are reused until this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Temporary credentials of a tenant's role (`Debug` shows only the key id).
pub struct AwsCredentials {
    /// `AWS_ACCESS_KEY_ID` (not a secret on its own).
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: SecretString,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: SecretString,
    /// When they expire.
    pub expiration: SystemTime,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

impl AwsCredentials {
    /// The agent's whole AWS environment for an `iam` login with these
    /// credentials: them, a region, no instance-metadata fallback, and the
    /// shared credentials and config files pointed at an empty file. Nothing of
    /// the host's own AWS configuration is added.
    pub fn agent_env(&self, region: &str) -> agent_runner::EnvPolicy {
        use secrecy::ExposeSecret;
        agent_runner::EnvPolicy::isolated(vec![
            ("AWS_ACCESS_KEY_ID".into(), self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_access_key.expose_secret().to_string()),
            ("AWS_SESSION_TOKEN".into(), self.session_token.expose_secret().to_string()),
            ("AWS_REGION".into(), region.to_string()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
            ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
        ])
    }
}

/// Why AssumeRole failed, in words for an admin.
#[derive(Debug, Clone)]
pub struct AssumeFailure {
    /// What STS (or the connection) said.
    pub detail: String,
    /// What to do.
    pub hint: String,
}

struct UntilNearExpiry;

impl Expiry<(TenantId, String), Arc<AwsCredentials>> for UntilNearExpiry {
    fn expire_after_create(
        &self,
        _key: &(TenantId, String),
        value: &Arc<AwsCredentials>,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        let left = value.expiration.duration_since(SystemTime::now()).unwrap_or_default();
        Some(left.saturating_sub(REFRESH_MARGIN))
    }
}

/// STS calls and the per-(tenant, role) credential cache.
pub struct AwsIdentity {
    endpoint: Option<String>,
    client: OnceCell<(aws_sdk_sts::Client, Option<String>)>,
    caller: OnceCell<String>,
    cache: Cache<(TenantId, String), Arc<AwsCredentials>>,
}

impl AwsIdentity {
    /// An identity source with an optional STS endpoint override.
    pub fn new(endpoint: Option<String>) -> Self {
        Self {
            endpoint,
            client: OnceCell::new(),
            caller: OnceCell::new(),
            cache: Cache::builder().max_capacity(10_000).expire_after(UntilNearExpiry).build(),
        }
    }

    /// The STS client on the host's credential chain, and the host's region.
    async fn client(&self) -> &(aws_sdk_sts::Client, Option<String>) {
        self.client
            .get_or_init(|| async {
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https();
                let shared = aws_config::defaults(BehaviorVersion::latest()).http_client(http).load().await;
                let region = shared.region().map(ToString::to_string);
                let mut config = aws_sdk_sts::config::Builder::from(&shared);
                if let Some(url) = &self.endpoint {
                    config = config.endpoint_url(url);
                }
                if shared.region().is_none() {
                    config = config.region(aws_sdk_sts::config::Region::new("us-east-1"));
                }
                (aws_sdk_sts::Client::from_conf(config.build()), region)
            })
            .await
    }

    /// The host's region, if its configuration names one.
    pub async fn host_region(&self) -> Option<String> {
        self.client().await.1.clone()
    }

    /// Credentials of `role_arn` for `tenant`: cached, or from one AssumeRole
    /// call with the tenant's external id.
    pub async fn assume(
        &self,
        tenant: &TenantId,
        external_id: &str,
        role_arn: &str,
    ) -> Result<Arc<AwsCredentials>, AssumeFailure> {
        let key = (tenant.clone(), role_arn.to_string());
        self.cache
            .try_get_with(key, self.call_assume_role(tenant, external_id, role_arn))
            .await
            .map_err(|e| (*e).clone())
    }

    async fn call_assume_role(
        &self,
        tenant: &TenantId,
        external_id: &str,
        role_arn: &str,
    ) -> Result<Arc<AwsCredentials>, AssumeFailure> {
        let (client, _) = self.client().await;
        let answer = client
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(format!("auth-service-{tenant}"))
            .external_id(external_id)
            .send()
            .await;
        match answer {
            Ok(out) => {
                let creds = out.credentials().ok_or_else(|| AssumeFailure {
                    detail: "STS answered AssumeRole without credentials".into(),
                    hint: "check AUTH_SERVICE_AWS_STS_ENDPOINT points at AWS STS".into(),
                })?;
                let expiration = SystemTime::try_from(*creds.expiration())
                    .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(900));
                tracing::info!(%tenant, role_arn, access_key_id = creds.access_key_id(), "assumed the tenant's AWS role");
                Ok(Arc::new(AwsCredentials {
                    access_key_id: creds.access_key_id().to_string(),
                    secret_access_key: SecretString::from(creds.secret_access_key().to_string()),
                    session_token: SecretString::from(creds.session_token().to_string()),
                    expiration,
                }))
            }
            Err(e) => {
                let code = e.code().unwrap_or("").to_string();
                let message = e.message().map(str::to_string).unwrap_or_else(|| {
                    let mut cause: &dyn std::error::Error = &e;
                    while let Some(next) = cause.source() {
                        cause = next;
                    }
                    cause.to_string()
                });
                let detail = if code.is_empty() { message } else { format!("{code}: {message}") };
                tracing::warn!(%tenant, role_arn, %detail, "AssumeRole failed");
                Err(AssumeFailure { hint: self.hint(&code, tenant, external_id, role_arn).await, detail })
            }
        }
    }

    /// The ARN the service's own AWS identity has (`GetCallerIdentity`), cached.
    pub async fn caller_arn(&self) -> Option<String> {
        let (client, _) = self.client().await;
        self.caller
            .get_or_try_init(|| async {
                client.get_caller_identity().send().await.ok().and_then(|o| o.arn().map(str::to_string)).ok_or(())
            })
            .await
            .ok()
            .cloned()
    }

    async fn hint(&self, code: &str, tenant: &TenantId, external_id: &str, role_arn: &str) -> String {
        match code {
            "AccessDenied" | "AccessDeniedException" => {
                let principal = self.caller_arn().await.unwrap_or_else(|| "<the service's AWS principal ARN>".into());
                let policy = serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": { "AWS": principal },
                        "Action": "sts:AssumeRole",
                        "Condition": { "StringEquals": { "sts:ExternalId": external_id } }
                    }]
                });
                format!(
                    "AWS refused to let the service assume {role_arn}. The role's trust policy must allow the service's principal ({principal}) with sts:ExternalId = this tenant's aws_external_id. Paste this trust policy into the role: {policy}"
                )
            }
            "RegionDisabledException" => "STS is not activated in this region for the account: activate it, or set the host's AWS_REGION to a region where it is.".into(),
            "" => format!(
                "The service could not reach AWS STS (for tenant {tenant}): check the host's network path to STS, or AUTH_SERVICE_AWS_STS_ENDPOINT for a VPC endpoint."
            ),
            _ => "Check aws_role_arn and that the service's own AWS identity (the host's credential chain) may call sts:AssumeRole.".into(),
        }
    }
}
