//! Building and running the HTTP service.

use crate::config::Settings;

/// Run `auth-service serve` until stopped.
pub fn serve_main(_settings: Settings) -> anyhow::Result<()> {
    anyhow::bail!("serve is not built yet")
}
