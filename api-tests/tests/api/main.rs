//! Black-box tests: the real `auth-service` binary against a real OpenBao dev
//! server and the real `bao agent`, driven only through HTTP.

mod helpers;
mod isolation;
mod lifecycle;
mod reads;
