//! The tenant trust boundary: what the operator lets each tenant reach.
//!
//! A profile may name only a Vault origin the operator allows
//! (`AUTH_SERVICE_VAULT_ADDRESSES`, narrowed per tenant), only a login type
//! granted to its tenant (`iam`, `ec2`, `jwt`; in `per-tenant-role` mode `ec2`
//! is granted explicitly, because it lends the instance's own identity), an
//! `iam` login must name the tenant's own role (assumed with the tenant's
//! external id), and a `jwt` token file must lie in the tenant's own folder
//! `<allowed dir>/<tenant id>/`, checked on real paths (no `..`, no symlink
//! out). The same rules run on create and replace (400) and again before every
//! login and read (403), so a narrowed grant takes effect on stored profiles.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::config::{AwsIdentityMode, Settings};
use crate::domain::{FieldError, Method, MethodBlock, MethodType, OriginError, OriginPattern, TenantId, VaultAddress};
use crate::store::TenantRow;

/// A login type as the operator grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoginKind {
    /// AWS IAM.
    Iam,
    /// AWS EC2 instance identity.
    Ec2,
    /// JWT from a token file.
    Jwt,
}

impl LoginKind {
    /// Every kind.
    pub const ALL: [LoginKind; 3] = [LoginKind::Iam, LoginKind::Ec2, LoginKind::Jwt];

    /// The kind of a block.
    pub fn of(block: &MethodBlock) -> Self {
        match block.method {
            Method::AwsIam { .. } => LoginKind::Iam,
            Method::AwsEc2 { .. } => LoginKind::Ec2,
            Method::Jwt { .. } => LoginKind::Jwt,
        }
    }

    /// `iam`, `ec2` or `jwt`.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginKind::Iam => "iam",
            LoginKind::Ec2 => "ec2",
            LoginKind::Jwt => "jwt",
        }
    }

    /// Parse `iam`, `ec2` or `jwt`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Where in a profile body the type is chosen.
    fn pointer(self) -> &'static str {
        match self {
            LoginKind::Jwt => "/method/type",
            _ => "/method/config/type",
        }
    }
}

impl fmt::Display for LoginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds the operator enables globally (`AUTH_SERVICE_ALLOWED_METHODS`).
pub fn global_kinds(settings: &Settings) -> BTreeSet<LoginKind> {
    let mut out = BTreeSet::new();
    for t in &settings.allowed_methods {
        match t {
            MethodType::Aws => out.extend([LoginKind::Iam, LoginKind::Ec2]),
            MethodType::Jwt => {
                out.insert(LoginKind::Jwt);
            }
        }
    }
    out
}

/// What one tenant may use, from the settings and its grants.
pub struct TenantPolicy<'a> {
    settings: &'a Settings,
    tenant: TenantId,
    origins: Option<Vec<OriginPattern>>,
    kinds: BTreeSet<LoginKind>,
}

impl<'a> TenantPolicy<'a> {
    /// The policy of `tenant`. Grants stored before a global list was narrowed
    /// can never widen it: both lists must allow an address.
    pub fn new(settings: &'a Settings, tenant: &TenantRow) -> Result<Self, StoredTenantError> {
        let origins = match &tenant.vault_addresses {
            None => None,
            Some(list) => Some(list.iter().map(|o| OriginPattern::parse(o)).collect::<Result<Vec<_>, _>>()?),
        };
        let global = global_kinds(settings);
        let granted: BTreeSet<LoginKind> = match &tenant.methods {
            Some(list) => list.iter().filter_map(|m| LoginKind::parse(m)).collect(),
            None if settings.aws_identity == AwsIdentityMode::PerTenantRole => {
                global.iter().copied().filter(|k| *k != LoginKind::Ec2).collect()
            }
            None => global.clone(),
        };
        Ok(Self {
            settings,
            tenant: tenant.id.clone(),
            origins,
            kinds: granted.intersection(&global).copied().collect(),
        })
    }

    /// The login types this tenant may use.
    pub fn kinds(&self) -> &BTreeSet<LoginKind> {
        &self.kinds
    }

    /// Why `address` is not allowed for this tenant, if it is not.
    pub fn address_problem(&self, address: &VaultAddress) -> Option<String> {
        let global = &self.settings.vault_addresses;
        if global.is_empty() {
            return Some(
                "no Vault address is allowed yet: the operator must list the allowed Vault origins in AUTH_SERVICE_VAULT_ADDRESSES (for example https://vault.example.com:8200)".into(),
            );
        }
        if !global.iter().any(|o| o.allows(address)) {
            return Some(format!(
                "{address} is not among the Vault addresses the operator allows (AUTH_SERVICE_VAULT_ADDRESSES: {}); use one of those, or ask the operator to add it",
                join(global)
            ));
        }
        match &self.origins {
            Some(list) if !list.iter().any(|o| o.allows(address)) => Some(format!(
                "{address} is not among the Vault addresses the operator granted this tenant ({}); use one of those, or ask the operator",
                if list.is_empty() { "none".to_string() } else { join(list) }
            )),
            _ => None,
        }
    }

    /// Every problem of a profile under this policy, each with its pointer.
    /// (`address` is None when it did not parse: that was reported already.)
    pub fn profile_problems(
        &self,
        address: Option<&VaultAddress>,
        block: &MethodBlock,
        aws_role_arn: Option<&str>,
    ) -> Vec<FieldError> {
        let mut out = Vec::new();
        if let Some(p) = address.and_then(|a| self.address_problem(a)) {
            out.push(FieldError::new("/vault_address", p));
        }
        let kind = LoginKind::of(block);
        if !self.kinds.contains(&kind) {
            out.push(FieldError::new(
                kind.pointer(),
                format!(
                    "{kind} logins are not granted to this tenant (granted: {}); {}",
                    self.kinds_text(),
                    if kind == LoginKind::Ec2 {
                        "ec2 logins use this host's own instance identity, which only the operator can grant (PATCH /v1/tenants/{tenant} with \"methods\")"
                    } else {
                        "ask the operator to grant it (PATCH /v1/tenants/{tenant} with \"methods\")"
                    }
                ),
            ));
        }
        match (kind, aws_role_arn) {
            (LoginKind::Iam, None) if self.settings.aws_identity == AwsIdentityMode::PerTenantRole => {
                out.push(FieldError::new(
                    "/aws_role_arn",
                    "required for iam logins: the ARN of this tenant's own AWS role (like arn:aws:iam::123456789012:role/vault-login), which the service assumes with the tenant's aws_external_id before the login",
                ));
            }
            (LoginKind::Iam, Some(arn)) => {
                if let Err(e) = check_role_arn(arn) {
                    out.push(FieldError::new("/aws_role_arn", e.to_string()));
                }
            }
            (_, Some(_)) => out.push(FieldError::new(
                "/aws_role_arn",
                "only iam logins assume an AWS role; remove aws_role_arn for this login type",
            )),
            _ => {}
        }
        if let Method::Jwt { path, remove_jwt_after_reading, remove_jwt_follows_symlinks, .. } = &block.method {
            if *remove_jwt_after_reading == Some(true) {
                out.push(FieldError::new(
                    "/method/config/remove_jwt_after_reading",
                    "refused: the service runs a new agent for every login, and deleting the token file would break this and other logins that read it; leave it out (the service renders false)",
                ));
            }
            if remove_jwt_follows_symlinks.is_some() {
                out.push(FieldError::new(
                    "/method/config/remove_jwt_follows_symlinks",
                    "refused: the service never lets the agent remove token files, so this setting has no place; leave it out",
                ));
            }
            if let Err(e) = self.jwt_path(Path::new(path)) {
                out.push(FieldError::new("/method/config/path", e.to_string()));
            }
        }
        out
    }

    /// The real path of a token file if it lies in this tenant's own folder
    /// under an allowed folder: `..` is refused outright, and symlinks are
    /// resolved (the file, or the nearest existing folder above it) before the check.
    pub fn jwt_path(&self, path: &Path) -> Result<PathBuf, OutsideTenantFolder> {
        resolve_jwt_path(&self.settings.jwt_allowed_dirs, &self.tenant, path)
    }

    fn kinds_text(&self) -> String {
        if self.kinds.is_empty() {
            "none".into()
        } else {
            self.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        }
    }
}

/// A stored tenant row the trust boundary cannot use (written by something
/// other than this service, or under other rules).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoredTenantError {
    /// A granted Vault origin does not parse.
    #[error("{0}")]
    Origin(#[from] OriginError),
    /// The tenant id does not parse.
    #[error("{0}")]
    Id(crate::domain::NameError),
}

/// A `jwt` token file outside the tenant's own folder (or behind a `..` or a
/// symlink that leads elsewhere); the message names the folders it may lie in.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the token file must lie in this tenant's own folder: {}; put the file there (a '..' or a symlink that leads elsewhere is refused)",
    if folders.is_empty() { "none is configured (AUTH_SERVICE_JWT_ALLOWED_DIRS)" } else { folders.as_str() }
)]
pub struct OutsideTenantFolder {
    /// The tenant's folders, `DIR/TENANT/` each, comma-separated (empty: none configured).
    folders: String,
}

/// Not an IAM role ARN.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not an IAM role ARN; write one like arn:aws:iam::123456789012:role/vault-login")]
pub struct BadRoleArn;

/// The real path of a `jwt` token file if it lies in `tenant`'s own folder
/// under one of `dirs`: `..` is refused outright, and symlinks are resolved
/// (the file, or the nearest existing folder above it) before the check. Run
/// on every save and before every login, so a symlink swapped in after saving
/// is caught, and the agent is given the resolved path.
pub fn resolve_jwt_path(dirs: &[PathBuf], tenant: &TenantId, path: &Path) -> Result<PathBuf, OutsideTenantFolder> {
    let outside = || OutsideTenantFolder {
        folders: dirs.iter().map(|d| format!("{}/", d.join(tenant.as_str()).display())).collect::<Vec<_>>().join(", "),
    };
    if !path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir)) {
        return Err(outside());
    }
    let real = real_path(path).ok_or_else(outside)?;
    for dir in dirs {
        let root = real_path(&dir.join(tenant.as_str())).unwrap_or_else(|| dir.join(tenant.as_str()));
        if real.starts_with(&root) && real != root {
            return Ok(real);
        }
    }
    Err(outside())
}

fn join(list: &[OriginPattern]) -> String {
    list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The path with every symlink resolved: the file itself when it exists, else
/// the nearest existing folder above it plus the rest.
fn real_path(path: &Path) -> Option<PathBuf> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Some(real);
    }
    let mut rest = Vec::new();
    let mut cur = path;
    loop {
        rest.push(cur.file_name()?.to_os_string());
        cur = cur.parent()?;
        if let Ok(real) = std::fs::canonicalize(cur) {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return Some(out);
        }
    }
}

/// Check an IAM role ARN like `arn:aws:iam::123456789012:role/path/name`.
pub fn check_role_arn(arn: &str) -> Result<(), BadRoleArn> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[1].bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].strip_prefix("role/").is_some_and(|name| {
            !name.is_empty()
                && name.len() <= 512
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
        });
    if ok { Ok(()) } else { Err(BadRoleArn) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_checked() {
        assert!(check_role_arn("arn:aws:iam::123456789012:role/vault-login").is_ok());
        assert!(check_role_arn("arn:aws-us-gov:iam::123456789012:role/team/a").is_ok());
        for bad in [
            "",
            "arn:aws:iam::12:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(check_role_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn login_kinds_round_trip() {
        for k in LoginKind::ALL {
            assert_eq!(LoginKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(LoginKind::parse("aws"), None);
    }

    #[test]
    fn a_token_file_outside_the_tenants_folder_names_the_folders_or_says_none_is_configured() {
        let tenant = TenantId::parse("acme").expect("tenant");
        let err =
            resolve_jwt_path(&[PathBuf::from("/srv/jwt")], &tenant, Path::new("/etc/passwd")).expect_err("outside");
        assert_eq!(
            err.to_string(),
            "the token file must lie in this tenant's own folder: /srv/jwt/acme/; put the file there (a '..' or a symlink that leads elsewhere is refused)"
        );
        let err = resolve_jwt_path(&[], &tenant, Path::new("/srv/../x")).expect_err("none");
        assert!(err.to_string().contains(": none is configured (AUTH_SERVICE_JWT_ALLOWED_DIRS);"), "{err}");
        assert_eq!(
            check_role_arn("arn:x").expect_err("bad").to_string(),
            "not an IAM role ARN; write one like arn:aws:iam::123456789012:role/vault-login"
        );
    }
}
