//! Vault Agent Authentication Service.
//!
//! How it works: a tenant admin stores an auth profile (Vault address, optional
//! namespace, and the agent's `auto_auth` method block as JSON). The block is
//! validated against the JSON schemas in `schemas/` ([`domain::method_block`]),
//! and [`agent_config`] assembles the full agent configuration around it. When a
//! connector asks for a secret ([`routes::secrets`]), [`tokens`] runs one
//! short-lived agent through the `agent-runner` crate ([`login`]: one per
//! profile however many requests wait), verifies and caches the token it wrote, and [`vault`]
//! reads the secret with it. EC2 logins carry a nonce persisted per host and
//! mount ([`ec2`]). Storage is SQLite or PostgreSQL behind one [`store::Store`].

pub mod admin;
pub mod agent_config;
pub mod audit;
pub mod auth;
pub mod aws_identity;
pub mod cli;
pub mod config;
pub mod domain;
pub mod ec2;
pub mod error;
pub mod leases;
pub mod limits;
pub mod login;
pub mod metrics;
pub mod offboard;
pub mod openapi;
pub mod readiness;
pub mod reads;
pub mod routes;
pub mod seal;
pub mod secret_cache;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod trust;
pub mod vault;
