//! Parsed domain types: what passes these parsers is safe to store, render and use.

pub mod method_block;
pub mod names;
pub mod origin;
pub mod profile_key;
pub mod secret_path;
pub mod vault_address;

pub use method_block::{FieldError, Method, MethodBlock, MethodType, Namespace, ValidationPolicy};
pub use names::{NameError, ProfileName, TenantId};
pub use origin::{OriginError, OriginPattern};
pub use profile_key::{ProfileKey, SecretCachePolicy};
pub use secret_path::SecretPath;
pub use vault_address::{VaultAddress, VaultAddressError};
