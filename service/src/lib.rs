//! Vault Agent Authentication Service.
//!
//! How it works: a tenant admin stores an auth profile (Vault address, optional
//! namespace, and the agent's `auto_auth` method block as JSON). The block is
//! validated against the JSON schemas in `schemas/` ([`domain::method_block`]),
//! and [`agent_config`] assembles the full agent configuration around it. When a
//! connector asks for a secret, the service runs one short-lived agent through
//! the `agent-runner` crate, verifies and caches the token it wrote, and reads
//! Vault with it.

pub mod agent_config;
pub mod cli;
pub mod config;
pub mod domain;
pub mod startup;
pub mod store;
