//! Running `wrk` against one target and reading its figures, with the CPU
//! time each process involved spent around the run.
//!
//! The request header (a token or key) reaches wrk through its environment
//! and a Lua script that reads it, so it is never on a command line or in
//! any output. The script's `done` hook prints one machine-readable line.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::procs;

/// The Lua script: the header from the environment, and one result line at the end.
const SCRIPT: &str = r#"
local name = os.getenv("BENCH_HEADER_NAME")
if name ~= nil and name ~= "" then
  wrk.headers[name] = os.getenv("BENCH_HEADER_VALUE")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("bench-result %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.1f %.1f %.1f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"#;

/// One thing to measure: a URL and the header that authorises the read.
pub struct Target {
    /// Short name used in the tables.
    pub name: &'static str,
    /// What it is, for the tables.
    pub label: String,
    /// The full URL.
    pub url: String,
    /// Header name and value (a secret: never printed).
    pub header: Option<(&'static str, String)>,
}

/// The processes whose CPU time is sampled around each run.
#[derive(Clone, Copy)]
pub struct Pids {
    /// auth-service.
    pub service: u32,
    /// The OpenBao server.
    pub bao: u32,
    /// `bao proxy` (0 when not running).
    pub proxy: u32,
}

impl Pids {
    fn ticks(&self) -> [u64; 3] {
        [self.service, self.bao, self.proxy].map(|p| if p == 0 { 0 } else { procs::cpu_ticks(p).unwrap_or(0) })
    }
}

/// The figures of one wrk run.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Completed requests.
    pub requests: u64,
    /// Run time, µs.
    pub duration_us: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    /// Responses with a status of 400 or more (wrk's "Non-2xx or 3xx").
    pub non2xx: u64,
    /// Latency percentiles and maximum, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Slowest request, µs.
    pub max_us: f64,
    /// CPU ticks spent by service, OpenBao and proxy during the run.
    pub ticks: [u64; 3],
}

/// Runs wrk.
pub struct Wrk {
    script: PathBuf,
    _dir: tempfile::TempDir,
    threads: usize,
    /// Clock ticks per second.
    pub clk_tck: u64,
}

impl Wrk {
    /// Write the script into a private temp dir.
    pub fn new(threads: usize) -> Self {
        let dir = tempfile::tempdir().expect("wrk temp dir");
        let script = dir.path().join("bench.lua");
        std::fs::write(&script, SCRIPT).expect("wrk script");
        Wrk { script, _dir: dir, threads: threads.max(1), clk_tck: procs::clk_tck() }
    }

    /// Run wrk for `secs` whole seconds with `conns` connections against `t`, bounded by
    /// `secs + 30 s`; the CPU time of `pids` is read just before and just after.
    pub async fn run(&self, t: &Target, conns: usize, secs: u64, pids: Pids) -> Result<Sample, String> {
        let threads = self.threads.min(conns);
        let mut cmd = tokio::process::Command::new("wrk");
        cmd.arg(format!("-t{threads}"))
            .arg(format!("-c{conns}"))
            .arg(format!("-d{secs}s"))
            .arg("--latency")
            .arg("--timeout")
            .arg("5s")
            .arg("-s")
            .arg(&self.script)
            .arg(&t.url)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some((name, value)) = &t.header {
            cmd.env("BENCH_HEADER_NAME", name).env("BENCH_HEADER_VALUE", value);
        }
        let before = pids.ticks();
        let mut child = cmd.spawn().map_err(|e| format!("cannot run wrk: {e}"))?;
        let mut stdout = child.stdout.take().ok_or("wrk stdout")?;
        let mut stderr = child.stderr.take().ok_or("wrk stderr")?;
        let out = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s).await;
            s
        });
        let err = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        });
        let status = match tokio::time::timeout(Duration::from_secs(secs + 30), child.wait()).await {
            Ok(s) => s.map_err(|e| format!("waiting for wrk: {e}"))?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(format!("wrk did not finish within {} s; killed", secs + 30));
            }
        };
        let after = pids.ticks();
        let out = out.await.unwrap_or_default();
        let err = err.await.unwrap_or_default();
        let line = out.lines().find_map(|l| l.strip_prefix("bench-result ")).ok_or_else(|| {
            format!("wrk ({status}) printed no result; stderr: {}", err.lines().take(3).collect::<Vec<_>>().join(" | "))
        })?;
        let n: Vec<f64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if n.len() != 10 {
            return Err(format!("unexpected wrk result line: {line}"));
        }
        let count = |v: f64| v.max(0.0) as u64;
        Ok(Sample {
            requests: count(n[0]),
            duration_us: count(n[1]),
            socket_errors: count(n[2]) + count(n[3]) + count(n[4]) + count(n[6]),
            non2xx: count(n[5]),
            p50_us: n[7],
            p99_us: n[8],
            max_us: n[9],
            ticks: [0, 1, 2].map(|i| after[i].saturating_sub(before[i])),
        })
    }
}

/// Several runs of one target at one concurrency.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    /// The rounds.
    pub samples: Vec<Sample>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

impl Cell {
    /// Requests in all rounds.
    pub fn requests(&self) -> u64 {
        self.samples.iter().map(|s| s.requests).sum()
    }

    /// Requests per second over all rounds.
    pub fn rps(&self) -> f64 {
        let us: u64 = self.samples.iter().map(|s| s.duration_us).sum();
        if us == 0 { 0.0 } else { self.requests() as f64 / (us as f64 / 1e6) }
    }

    /// Median over the rounds of each round's p50, in ms.
    pub fn p50_ms(&self) -> f64 {
        median(self.samples.iter().map(|s| s.p50_us).collect()) / 1e3
    }

    /// Median over the rounds of each round's p99, in ms.
    pub fn p99_ms(&self) -> f64 {
        median(self.samples.iter().map(|s| s.p99_us).collect()) / 1e3
    }

    /// Slowest request of all rounds, in ms.
    pub fn max_ms(&self) -> f64 {
        self.samples.iter().map(|s| s.max_us).fold(0.0, f64::max) / 1e3
    }

    /// Responses of 400 or more.
    pub fn non2xx(&self) -> u64 {
        self.samples.iter().map(|s| s.non2xx).sum()
    }

    /// Connect/read/write errors and timeouts.
    pub fn socket_errors(&self) -> u64 {
        self.samples.iter().map(|s| s.socket_errors).sum()
    }

    /// CPU µs per request of process `i` (0 service, 1 OpenBao, 2 proxy).
    pub fn cpu_us(&self, i: usize, clk_tck: u64) -> f64 {
        let ticks: u64 = self.samples.iter().map(|s| s.ticks[i]).sum();
        let n = self.requests();
        if n == 0 { 0.0 } else { ticks as f64 * 1e6 / clk_tck as f64 / n as f64 }
    }
}
