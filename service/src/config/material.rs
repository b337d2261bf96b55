//! The key files, operator keys and CA bundles the settings read and check.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use super::SettingsError;

/// The token-sealing keys: 32 bytes each; the first seals, all unseal. Never shown.
#[derive(Clone)]
pub struct SealKeys {
    /// Where they were read from (for messages).
    pub file: PathBuf,
    /// The keys, the sealing one first.
    pub keys: Vec<[u8; 32]>,
    /// Whether the file is readable by others than its owner (a warning at start-up).
    pub loose_mode: bool,
}

impl fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealKeys({} keys from {})", self.keys.len(), self.file.display())
    }
}

/// Read a seal key file: one key a line, 64 hex characters; blank lines and `#` comments skipped.
pub(super) fn read_seal_keys(name: &str, path: &Path) -> Result<SealKeys, SettingsError> {
    use std::os::unix::fs::MetadataExt;
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError(format!("{name}: cannot read {}: {e}", path.display())))?;
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut key = [0u8; 32];
        hex::decode_to_slice(line, &mut key).map_err(|_| {
            SettingsError(format!(
                "{name}: line {i} of {} is not a key: each key is 64 hex characters (32 bytes), like the output of `openssl rand -hex 32`",
                path.display()
            ))
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(SettingsError(format!("{name}: {} holds no key", path.display())));
    }
    let loose_mode = std::fs::metadata(path).map(|m| m.mode() & 0o077 != 0).unwrap_or(false);
    Ok(SealKeys { file: path.to_path_buf(), keys, loose_mode })
}

/// An operator key setting: at least 32 characters when set.
pub(super) fn parse_operator_key(value: Option<String>, name: &str) -> Result<Option<SecretString>, SettingsError> {
    match value.map(|v| v.trim().to_string()) {
        None => Ok(None),
        Some(v) if v.len() < 32 => {
            Err(SettingsError(format!("{name}: the operator key must be at least 32 characters")))
        }
        Some(v) => Ok(Some(SecretString::from(v))),
    }
}

/// Constant-time comparison of a presented key with a configured one.
pub(super) fn matches_key(configured: Option<&SecretString>, key: &str) -> bool {
    use subtle::ConstantTimeEq;
    configured.is_some_and(|k| k.expose_secret().as_bytes().ct_eq(key.as_bytes()).into())
}

/// A CA bundle path: absolute, safe to write into the agent's HCL, and a readable PEM bundle.
pub(super) fn check_ca_bundle(name: &str, value: &str) -> Result<PathBuf, SettingsError> {
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
