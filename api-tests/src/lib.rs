//! The test bed: a real OpenBao dev server (`bao server -dev`, installed by
//! `scripts/install-tools.sh`), JWT minting with the `openssl` CLI, and small
//! helpers to prove nothing is left behind. Used by the agent-runner tests, the
//! service's real-agent tests and the black-box API tests.
//!
//! Every wait is bounded; servers bind free loopback ports and are killed
//! (whole process group) and reaped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

mod openbao;
mod postgres;
pub use openbao::OpenBao;
pub use postgres::Postgres;

/// Path of the OpenBao binary: `$BAO_BIN`, else `<workspace>/tools/bin/bao`, else `bao` on PATH.
pub fn bao_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BAO_BIN") {
        return PathBuf::from(p);
    }
    let local = workspace_root().join("tools/bin/bao");
    if local.exists() { local } else { PathBuf::from("bao") }
}

/// A reqwest client builder for the tests, with rustls' `ring` provider
/// installed (the workspace builds reqwest without a default provider).
pub fn http_client_builder() -> reqwest::ClientBuilder {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A free loopback port whose successor is free too (bao binds PORT+1 as well).
fn free_port_pair() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let a = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = a.local_addr()?.port();
        if port < 65000 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free pair of loopback ports")
}

/// An RSA key pair (made with `openssl`) that mints RS256 JWTs.
pub struct JwtIssuer {
    dir: tempfile::TempDir,
}

/// Base64url without padding.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running openssl")?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

impl JwtIssuer {
    /// A fresh 2048-bit key pair.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("jwt.key");
        let key_s = key.display().to_string();
        openssl(&["genrsa", "-out", &key_s, "2048"], None)?;
        let pubkey = dir.path().join("jwt.pub").display().to_string();
        openssl(&["rsa", "-in", &key_s, "-pubout", "-out", &pubkey], None)?;
        Ok(Self { dir })
    }

    /// The public key, PEM.
    pub fn public_pem(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.dir.path().join("jwt.pub"))?)
    }

    /// A JWT for `sub`: issuer `https://issuer.test`, audience `bao-test`, valid 10 minutes.
    pub fn mint(&self, sub: &str) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let header = base64url(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = base64url(
            json!({"iss": "https://issuer.test", "sub": sub, "aud": "bao-test", "iat": now, "nbf": now - 5, "exp": now + 600})
                .to_string()
                .as_bytes(),
        );
        let signing_input = format!("{header}.{claims}");
        let key = self.dir.path().join("jwt.key").display().to_string();
        let sig = openssl(&["dgst", "-sha256", "-sign", &key], Some(signing_input.as_bytes()))?;
        Ok(format!("{signing_input}.{}", base64url(&sig)))
    }

    /// Write a fresh JWT for `sub` to a new file (0600, unique name) in `dir` and return its path.
    /// The agent deletes the file after reading it unless `remove_jwt_after_reading = false`.
    pub fn write_jwt_file(&self, dir: &Path, sub: &str) -> anyhow::Result<PathBuf> {
        use std::io::Write;
        let safe: String = sub.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let mut file = tempfile::Builder::new().prefix(&format!("jwt-{safe}-")).tempfile_in(dir)?;
        file.write_all(self.mint(sub)?.as_bytes())?;
        let (_, path) = file.keep()?;
        Ok(path)
    }
}

/// Count live processes whose command line contains `needle` (zombies included, as they are leaks too).
pub fn count_processes_matching(needle: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let me = std::process::id().to_string();
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()) && n != me))
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let zombie_named = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default().contains(needle);
            text.contains(needle) || (text.is_empty() && zombie_named)
        })
        .count()
}

/// Kill a child started in its own process group, with everything it started, and reap it.
pub fn kill_process_group(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// One whole HTTP/1.1 request from `sock` (head and a `Content-Length` body,
/// as raw bytes), each read bounded by 5 s; None when the peer closes first.
/// For the test beds' stand-in servers and proxies.
pub async fn read_http_request(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
