//! The offline subcommands: `validate`, `render`, `check-config` and `backup`.

use std::io::Read;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::agent_config::{self, AgentConfigInput};
use crate::domain::method_block::{self, FieldError, MAX_BLOCK_BYTES};
use crate::domain::{MethodBlock, Namespace, ValidationPolicy, VaultAddress};

/// Exit code for an invalid block.
pub const EXIT_INVALID: i32 = 1;
/// Exit code for a usage problem (unreadable file, bad flag value).
pub const EXIT_USAGE: i32 = 2;

/// What a subcommand prints and returns.
pub struct Outcome {
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr.
    pub stderr: String,
    /// Process exit code.
    pub code: i32,
}

/// The validation report: `{"valid": false, "errors": [{"pointer", "message"}]}`.
#[derive(serde::Serialize)]
pub struct Report<'a> {
    /// Always false in a report of errors.
    pub valid: bool,
    /// The refusals, ordered by pointer.
    pub errors: &'a [FieldError],
}

fn report(errors: &[FieldError]) -> String {
    serde_json::to_string_pretty(&Report { valid: false, errors }).expect("a report of strings serializes")
}

fn usage(message: String) -> Outcome {
    Outcome { stdout: String::new(), stderr: format!("error: {message}\n"), code: EXIT_USAGE }
}

/// A method-block file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
struct Unreadable {
    path: std::path::PathBuf,
    source: std::io::Error,
}

/// Read a method-block file (`-` for stdin), at most a little over the size limit.
fn read_input(file: &Path) -> Result<Vec<u8>, Unreadable> {
    let mut buf = Vec::new();
    let limit = (MAX_BLOCK_BYTES + 1) as u64;
    let result = if file == Path::new("-") {
        std::io::stdin().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    result.map_err(|source| Unreadable { path: file.to_path_buf(), source })?;
    Ok(buf)
}

fn load_block(file: &Path, policy: &ValidationPolicy) -> Result<MethodBlock, Outcome> {
    let bytes = read_input(file).map_err(|e| usage(e.to_string()))?;
    method_block::validate_bytes(&bytes, policy).map_err(|errors| Outcome {
        stdout: report(&errors) + "\n",
        stderr: String::new(),
        code: EXIT_INVALID,
    })
}

/// `auth-service validate FILE`.
pub fn validate(file: &Path, policy: &ValidationPolicy) -> Outcome {
    match load_block(file, policy) {
        Ok(_) => Outcome { stdout: "{\"valid\":true}\n".into(), stderr: String::new(), code: 0 },
        Err(outcome) => outcome,
    }
}

/// Arguments of `auth-service render`.
pub struct RenderArgs {
    /// The method-block file.
    pub method: PathBuf,
    /// The Vault address.
    pub vault_addr: String,
    /// The profile namespace.
    pub namespace: Option<String>,
    /// An ec2 nonce to include.
    pub nonce: Option<String>,
    /// The sink path.
    pub sink_path: PathBuf,
}

/// `auth-service render ...` (`ca_cert`: the operator's Vault CA bundle, if set).
pub fn render(args: RenderArgs, policy: &ValidationPolicy, ca_cert: Option<&Path>) -> Outcome {
    let block = match load_block(&args.method, policy) {
        Ok(b) => b,
        Err(outcome) => return outcome,
    };
    let address = match VaultAddress::parse(&args.vault_addr) {
        Ok(a) => a,
        Err(e) => return usage(format!("--vault-addr: {e}")),
    };
    let namespace = match args.namespace.as_deref().map(Namespace::parse).transpose() {
        Ok(ns) => ns,
        Err(e) => return usage(format!("--namespace: {e}")),
    };
    let nonce = match args.nonce {
        Some(n) if n.is_empty() || n.len() > 128 => return usage("--nonce: 1 to 128 characters".into()),
        Some(n) => Some(SecretString::from(n)),
        None => None,
    };
    let input = AgentConfigInput {
        vault_address: &address,
        namespace: namespace.as_ref().map(Namespace::as_str),
        sink_path: &args.sink_path,
        nonce: nonce.as_ref(),
        ca_cert,
    };
    match agent_config::render(&block, &input) {
        Ok(hcl) => {
            let stderr = if block.is_ec2() && nonce.is_none() {
                "note: at run time the service adds the persisted ec2 nonce to config; pass --nonce to see it in place\n"
                    .to_string()
            } else {
                String::new()
            };
            Outcome { stdout: hcl, stderr, code: 0 }
        }
        Err(e) => usage(e.to_string()),
    }
}

/// `auth-service check-config`: the settings loaded, so every setting in force
/// is printed (secrets masked) and the exit code is 0.
pub fn check_config(settings: &crate::config::Settings, file: Option<&Path>) -> Outcome {
    let mut out = String::new();
    let source =
        file.map_or("environment and defaults".to_string(), |f| format!("{} and the environment", f.display()));
    out.push_str(&format!("# settings are valid ({source}); effective values, secrets masked\n"));
    for (var, value) in settings.effective() {
        out.push_str(&format!("{var}={value}\n"));
    }
    Outcome { stdout: out, stderr: String::new(), code: 0 }
}

/// `auth-service backup --to FILE`: an online copy of the SQLite database.
pub fn backup(settings: &crate::config::Settings, to: &Path) -> Outcome {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return usage(format!("cannot start: {e}")),
    };
    match runtime.block_on(crate::store::backup::backup_sqlite(&settings.database_url, to)) {
        Ok(bytes) => Outcome {
            stdout: format!("backed up the database to {} ({bytes} bytes)\n", to.display()),
            stderr: String::new(),
            code: 0,
        },
        Err(e) => Outcome { stdout: String::new(), stderr: format!("error: {e}\n"), code: EXIT_INVALID },
    }
}
