//! Black-box tests: the real `auth-service` binary against a real OpenBao dev
//! server and the real `bao agent`, driven only through HTTP.

mod dry_runs;
mod faults;
mod hardening;
#[allow(dead_code, reason = "shared with the ec2 test binary, which uses helpers this one does not")]
mod helpers;
mod isolation;
mod lifecycle;
mod reads;
mod refresh;
mod replicas;
mod secret_cache;
