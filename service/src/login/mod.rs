//! Logging in: one agent run for a parsed profile (rendering the config into
//! the runner's private directory, with the persisted nonce for ec2), then
//! `lookup-self` on the token it wrote. Failures come back in words for an
//! admin ([`LoginFailure`], with hints naming the mount, role and instance).
//! Caching tokens and backing off are [`crate::tokens`]' job.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_runner::verify::{self, TokenInfo};
use agent_runner::{KnownCause, RunSpec, Runner, RunnerError};
use secrecy::SecretString;

use crate::agent_config::{self, AgentConfigInput};
use crate::aws_identity::AwsIdentity;
use crate::config::{AwsIdentityMode, Settings};
use crate::domain::{Method, MethodBlock, ProfileName, TenantId, ValidationPolicy, VaultAddress, method_block};
use crate::ec2::{self, InstanceIdentity};
use crate::metrics::Metrics;
use crate::store::{ProfileRow, Store};

mod profile;
pub use profile::{ProfileKey, ProfileLogin, StoredProfileError};

/// A verified token.
pub struct FreshToken {
    /// The token.
    pub token: SecretString,
    /// What `lookup-self` said.
    pub info: TokenInfo,
    /// Agent run time.
    pub login_elapsed: Duration,
    /// `lookup-self` time.
    pub verify_elapsed: Duration,
    /// The AssumeRole step, for `iam` logins in `per-tenant-role` mode.
    pub assumed: Option<Assumed>,
}

/// A successful AssumeRole before a login.
#[derive(Debug, Clone)]
pub struct Assumed {
    /// Time it took (0 when the credentials came from the cache).
    pub elapsed: Duration,
    /// What was assumed, for the test report (no credentials).
    pub detail: String,
}

/// Which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// STS AssumeRole with the tenant's external id.
    AssumeRole,
    /// Running the agent.
    AgentLogin,
    /// `lookup-self`.
    VerifyToken,
}

/// A failed login, in words for an admin.
#[derive(Debug, Clone)]
pub struct LoginFailure {
    /// The failing step.
    pub step: Step,
    /// What happened (agent output scrubbed of anything token-like).
    pub detail: String,
    /// What to do.
    pub hint: Option<String>,
    /// Time spent in the failing step.
    pub elapsed: Duration,
    /// Time the agent took, when the failing step came after it.
    pub login_elapsed: Option<Duration>,
    /// The AssumeRole step that succeeded before the failing one, if any.
    pub assumed: Option<Assumed>,
    /// No agent slot came free in time: not the profile's fault (no back-off).
    pub busy: bool,
}

/// Runs logins: one agent run, then `lookup-self` on the token it wrote.
pub struct Login {
    runner: Runner,
    spec: RunSpec,
    http: reqwest::Client,
    store: Store,
    ca_cert: Option<std::path::PathBuf>,
    identity: InstanceIdentity,
    metrics: Arc<Metrics>,
    aws: AwsIdentity,
    aws_mode: AwsIdentityMode,
    /// Agent slots per tenant (under the runner's global limit), so one tenant's
    /// hanging logins cannot hold every slot.
    tenant_slots: std::sync::Mutex<std::collections::HashMap<TenantId, Arc<tokio::sync::Semaphore>>>,
    per_tenant: usize,
    queue_timeout: Duration,
    /// `AUTH_SERVICE_JWT_ALLOWED_DIRS`: a `jwt` token file is checked against them before every login.
    jwt_dirs: Vec<std::path::PathBuf>,
}

impl Login {
    /// Build from the settings.
    pub fn new(settings: &Settings, store: Store, http: reqwest::Client, metrics: Arc<Metrics>) -> Self {
        let mut spec =
            RunSpec { binary: settings.agent_bin.clone(), timeout: settings.agent_timeout, ..RunSpec::default() };
        spec.temp_root = settings.agent_temp_dir.clone();
        let observer = metrics.clone();
        Self {
            runner: Runner::new(settings.max_concurrent_agents)
                .with_queue_observer(Arc::new(move |waited| observer.agent_queue_wait(waited))),
            spec,
            http,
            store,
            ca_cert: settings.vault_ca_cert.clone(),
            identity: InstanceIdentity::new(settings.ec2_metadata_endpoint.clone()),
            metrics,
            aws: AwsIdentity::new(settings.aws_sts_endpoint.clone()),
            aws_mode: settings.aws_identity,
            tenant_slots: std::sync::Mutex::new(std::collections::HashMap::new()),
            per_tenant: settings.max_agents_per_tenant,
            queue_timeout: settings.agent_queue_timeout,
            jwt_dirs: settings.jwt_allowed_dirs.clone(),
        }
    }

    /// The HTTP client for Vault calls.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The host's EC2 identity reader.
    pub fn identity(&self) -> &InstanceIdentity {
        &self.identity
    }

    /// The run spec of a login: for `iam` in `per-tenant-role` mode, the agent's
    /// environment holds only the tenant role's temporary credentials; a `jwt`
    /// login gets nothing of the host's AWS configuration; otherwise the
    /// host's (the `host` mode, and `ec2`, which uses the instance's identity).
    async fn run_spec(&self, p: &ProfileLogin) -> Result<(RunSpec, Option<Assumed>), LoginFailure> {
        let mut spec = self.spec.clone();
        match (&p.block.method, self.aws_mode) {
            (Method::AwsIam { region, .. }, AwsIdentityMode::PerTenantRole) => {
                let started = Instant::now();
                let fail = |detail: String, hint: String| LoginFailure {
                    step: Step::AssumeRole,
                    detail,
                    hint: Some(hint),
                    elapsed: started.elapsed(),
                    login_elapsed: None,
                    assumed: None,
                    busy: false,
                };
                let role = p.aws_role_arn.as_deref().ok_or_else(|| {
                    fail(
                        "the profile names no aws_role_arn".into(),
                        "set aws_role_arn to this tenant's own AWS role".into(),
                    )
                })?;
                let tenant = match self.store.get_tenant(p.tenant()).await {
                    Ok(Some(t)) => t,
                    Ok(None) => return Err(fail("the tenant no longer exists".into(), String::new())),
                    Err(e) => {
                        tracing::error!(error = %e, "could not read the tenant's external id");
                        return Err(fail(
                            "the service could not read the tenant from its database".into(),
                            "retry later".into(),
                        ));
                    }
                };
                let creds = self
                    .aws
                    .assume(p.tenant(), &tenant.aws_external_id, role)
                    .await
                    .map_err(|f| fail(f.detail, f.hint))?;
                let region = match region {
                    Some(r) => r.clone(),
                    None => self.aws.host_region().await.unwrap_or_else(|| "us-east-1".into()),
                };
                spec.env = creds.agent_env(&region);
                let assumed = Assumed {
                    elapsed: started.elapsed(),
                    detail: format!(
                        "assumed {role} as auth-service-{} with this tenant's external id (key {}, region {region})",
                        p.tenant(),
                        creds.access_key_id
                    ),
                };
                Ok((spec, Some(assumed)))
            }
            (Method::Jwt { .. }, _) => {
                spec.env = agent_runner::EnvPolicy::isolated(Vec::new());
                Ok((spec, None))
            }
            _ => Ok((spec, None)),
        }
    }

    /// Run one agent for `p` and verify its token. Ignores cache and back-off.
    #[tracing::instrument(skip_all, fields(tenant = %p.tenant(), profile = %p.name()))]
    pub async fn login(&self, p: &ProfileLogin) -> Result<FreshToken, LoginFailure> {
        let (spec, assumed) = self.run_spec(p).await?;
        let started = Instant::now();
        let fail_login = |detail: String, hint: Option<String>| LoginFailure {
            step: Step::AgentLogin,
            detail,
            hint,
            elapsed: started.elapsed(),
            login_elapsed: None,
            assumed: assumed.clone(),
            busy: false,
        };
        let (nonce, instance) = self.ec2_nonce(p).await.map_err(|(detail, hint)| fail_login(detail, hint))?;
        let block = self.jwt_checked(p).map_err(|(detail, hint)| fail_login(detail, hint))?;
        let render = |sink: &std::path::Path| {
            let input = AgentConfigInput {
                vault_address: &p.address,
                namespace: p.namespace.as_deref(),
                sink_path: sink,
                nonce: nonce.as_ref(),
                ca_cert: self.ca_cert.as_deref(),
            };
            agent_config::render(&block, &input)
        };
        // Admission: a slot of this tenant, then one of the runner's, within one bounded wait.
        let queued = Instant::now();
        let Some(_tenant_slot) = self.tenant_slot(p).await else {
            let e = RunnerError::Busy { waited: self.queue_timeout };
            self.metrics.agent_spawn(e.kind(), queued.elapsed());
            return Err(LoginFailure { busy: true, ..fail_login(e.to_string(), e.hint().map(str::to_string)) });
        };
        let mut spec = spec;
        spec.queue_timeout = Some(self.queue_timeout.saturating_sub(queued.elapsed()));
        let run = self.runner.try_run(&spec, render).await;
        let login_elapsed = started.elapsed();
        let run = match run {
            Ok(run) => {
                self.metrics.agent_spawn("success", login_elapsed);
                run
            }
            Err(e) => {
                self.metrics.agent_spawn(e.kind(), login_elapsed);
                tracing::warn!(outcome = e.kind(), error = %e, "agent login failed");
                let busy = matches!(e, RunnerError::Busy { .. });
                return Err(LoginFailure {
                    busy,
                    ..fail_login(e.to_string(), runner_hint(&e, &p.block, instance.as_deref()))
                });
            }
        };
        self.verify(p, run.token, login_elapsed, assumed).await
    }

    /// For an ec2 login: this host's nonce for the profile's Vault and mount
    /// (created on first use) and the instance id; nothing for other methods.
    /// The error is a failed login's detail and hint.
    async fn ec2_nonce(
        &self,
        p: &ProfileLogin,
    ) -> Result<(Option<SecretString>, Option<String>), (String, Option<String>)> {
        if !p.block.is_ec2() {
            return Ok((None, None));
        }
        let instance = self.identity.instance_id().await.map_err(|e| {
            (
                e.to_string(),
                Some("ec2 logins only work on an EC2 instance; on other hosts use config.type \"iam\"".into()),
            )
        })?;
        let key = ec2::nonce_key(&p.address, p.namespace.as_deref(), &p.block.mount_path, &instance);
        let row = ec2::nonce_for(&self.store, &key).await.map_err(|e| {
            tracing::error!(error = %e, "could not read or create the ec2 nonce");
            ("the service could not load its ec2 nonce from the database".to_string(), None)
        })?;
        Ok((Some(row.value), Some(instance)))
    }

    /// The method block the agent runs. A jwt token file is checked again now (a
    /// symlink may have been swapped in since the profile was saved), and the
    /// agent reads the resolved real path. The error is a failed login's detail and hint.
    fn jwt_checked<'a>(
        &self,
        p: &'a ProfileLogin,
    ) -> Result<std::borrow::Cow<'a, MethodBlock>, (String, Option<String>)> {
        match &p.block.method {
            Method::Jwt { path, .. } => {
                let real = crate::trust::resolve_jwt_path(&self.jwt_dirs, p.tenant(), std::path::Path::new(path))
                    .map_err(|e| {
                        tracing::warn!("a jwt token file no longer lies in the tenant's folder; no agent was run");
                        (e.to_string(), Some("put the token file back in this tenant's own folder, or replace the profile with a path there".into()))
                    })?;
                Ok(std::borrow::Cow::Owned(p.block.with_jwt_path(&real)))
            }
            _ => Ok(std::borrow::Cow::Borrowed(&p.block)),
        }
    }

    /// A slot of the profile's tenant, within the queue timeout (`None`: none came free).
    async fn tenant_slot(&self, p: &ProfileLogin) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let tenant_slots = {
            let mut map = self.tenant_slots.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(p.tenant().clone())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.per_tenant)))
                .clone()
        };
        tokio::time::timeout(self.queue_timeout, tenant_slots.acquire_owned()).await.ok()?.ok()
    }

    /// Verify the agent's token with `lookup-self` (use-limited tokens are refused).
    async fn verify(
        &self,
        p: &ProfileLogin,
        token: SecretString,
        login_elapsed: Duration,
        assumed: Option<Assumed>,
    ) -> Result<FreshToken, LoginFailure> {
        let verify_started = Instant::now();
        match verify::lookup_self(&self.http, p.address.base(), p.namespace.as_deref(), &token).await {
            Ok(info) => {
                Ok(FreshToken { token, info, login_elapsed, verify_elapsed: verify_started.elapsed(), assumed })
            }
            Err(e) => {
                tracing::warn!(error = %e, "token verification failed");
                Err(LoginFailure {
                    step: Step::VerifyToken,
                    detail: e.to_string(),
                    hint: Some("the agent got a token that Vault does not accept for lookup-self; check the namespace and that the role issues normal (not use-limited) tokens".into()),
                    elapsed: verify_started.elapsed(),
                    login_elapsed: Some(login_elapsed),
                    assumed,
                    busy: false,
                })
            }
        }
    }
}

/// The admin-facing hint for an agent failure, made concrete with the
/// profile's mount, role and (for ec2) this host's instance id.
pub fn runner_hint(e: &RunnerError, block: &MethodBlock, instance_id: Option<&str>) -> Option<String> {
    let mount = &block.mount_path;
    match e {
        RunnerError::LoginRejected { cause: Some(KnownCause::RoleNotFound), .. } => Some(format!(
            "The role \"{}\" does not exist on {mount}. Create it, or fix config.role / mount_path.",
            block.role()
        )),
        RunnerError::LoginRejected { cause: Some(KnownCause::NonceMismatch), .. } => Some(format!(
            "Vault remembers another nonce for this instance on {mount}. Ask the Vault admin to run: vault delete {mount}/identity-accesslist/{}; then POST .../ec2-nonce/reset on this profile.",
            instance_id.unwrap_or("<instance_id>")
        )),
        other => other.hint().map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::method_block::validate_value;

    fn block(v: serde_json::Value) -> MethodBlock {
        validate_value(&v, &ValidationPolicy::default()).expect("valid")
    }

    #[test]
    fn hints_name_the_mount_the_role_and_the_instance() {
        let ec2 = block(
            serde_json::json!({"type": "aws", "mount_path": "auth/aws-prod", "config": {"type": "ec2", "role": "dev"}}),
        );
        let mismatch = RunnerError::LoginRejected {
            reason: "client nonce mismatch".into(),
            cause: Some(KnownCause::NonceMismatch),
        };
        let hint = runner_hint(&mismatch, &ec2, Some("i-0abc")).expect("hint");
        assert!(hint.contains("vault delete auth/aws-prod/identity-accesslist/i-0abc"), "{hint}");
        let missing = RunnerError::LoginRejected { reason: "x".into(), cause: Some(KnownCause::RoleNotFound) };
        let hint = runner_hint(&missing, &ec2, None).expect("hint");
        assert!(hint.contains("\"dev\" does not exist on auth/aws-prod"), "{hint}");
        let timeout = RunnerError::TimedOut { after: Duration::from_secs(30), detail: String::new() };
        assert!(runner_hint(&timeout, &ec2, None).is_some_and(|h| h.contains("reachable")));
    }
}
