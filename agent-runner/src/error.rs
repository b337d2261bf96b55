//! Why a run did not produce a token, with a stable kind and a hint for admins.

use std::time::Duration;

use crate::KnownCause;

/// Why a run did not produce a token.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The binary does not exist.
    #[error("the agent binary {binary} was not found")]
    BinaryMissing {
        /// The binary.
        binary: String,
    },
    /// The binary exists but cannot be executed.
    #[error("the agent binary {binary} is not executable: {detail}")]
    NotExecutable {
        /// The binary.
        binary: String,
        /// Why.
        detail: String,
    },
    /// The agent refused its configuration.
    #[error("the agent refused its configuration: {detail}")]
    ConfigRejected {
        /// Agent output.
        detail: String,
    },
    /// The login failed: Vault refused it, or the agent could not make it (JWT file, AWS credentials).
    #[error("the agent's login failed: {reason}")]
    LoginRejected {
        /// What Vault (or the agent) said, with the request Vault answered.
        reason: String,
        /// The recognised cause, if any.
        cause: Option<KnownCause>,
    },
    /// Vault could not be reached.
    #[error("Vault could not be reached: {detail}")]
    VaultUnreachable {
        /// What failed.
        detail: String,
    },
    /// The agent did not exit in time.
    #[error("the agent did not finish within {after:?} and was stopped; {detail}")]
    TimedOut {
        /// The deadline.
        after: Duration,
        /// What the agent last complained about.
        detail: String,
    },
    /// The agent exited without writing a token.
    #[error("the agent exited without a token: {detail}")]
    NoToken {
        /// Exit status and output.
        detail: String,
    },
    /// No agent slot came free within the wait bound.
    #[error("no agent slot came free within {waited:?}: too many logins are running at once")]
    Busy {
        /// How long the run waited.
        waited: Duration,
    },
    /// The caller could not assemble the agent's configuration (no agent was started).
    #[error("the agent configuration could not be assembled: {0}")]
    Render(String),
    /// A local I/O failure.
    #[error("local I/O failure: {0}")]
    Io(String),
}

impl RunnerError {
    /// A short stable label (metrics, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            RunnerError::BinaryMissing { .. } => "binary_missing",
            RunnerError::NotExecutable { .. } => "not_executable",
            RunnerError::ConfigRejected { .. } => "config_rejected",
            RunnerError::LoginRejected { .. } => "login_rejected",
            RunnerError::VaultUnreachable { .. } => "vault_unreachable",
            RunnerError::TimedOut { .. } => "timed_out",
            RunnerError::NoToken { .. } => "no_token",
            RunnerError::Busy { .. } => "busy",
            RunnerError::Render(_) => "render_failed",
            RunnerError::Io(_) => "io",
        }
    }

    /// What an admin or operator should do.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            RunnerError::BinaryMissing { .. } | RunnerError::NotExecutable { .. } => {
                Some("the operator must install the agent binary (vault or bao) and point AUTH_SERVICE_AGENT_BIN at it")
            }
            RunnerError::ConfigRejected { .. } => Some(
                "the agent refused the configuration the service assembled; check the method block with `auth-service render`",
            ),
            RunnerError::LoginRejected { cause: Some(c), .. } => Some(c.hint()),
            RunnerError::LoginRejected { cause: None, .. } => Some(
                "Vault refused the login: check the role, the mount path and the role's bindings to this host's identity",
            ),
            RunnerError::VaultUnreachable { .. } => Some(
                "check vault_address (scheme, host, port), DNS and firewalls between this host and Vault; for a Vault certificate from a private CA, the operator names the CA bundle in AUTH_SERVICE_VAULT_CA_CERT",
            ),
            RunnerError::TimedOut { .. } => Some(
                "the agent kept retrying: check that Vault is reachable from this host, that the role exists on that mount, and the role's identity bindings",
            ),
            RunnerError::NoToken { .. } => Some(
                "the agent exited without writing its sink: check that the binary is a Vault or OpenBao agent, and the agent's output",
            ),
            RunnerError::Busy { .. } => Some(
                "too many agent logins are running at once; retry in a moment (the answer's Retry-After says when)",
            ),
            RunnerError::Render(_) => Some(
                "the service could not assemble this profile's agent configuration; check the method block with `auth-service render`",
            ),
            RunnerError::Io(_) => None,
        }
    }
}
