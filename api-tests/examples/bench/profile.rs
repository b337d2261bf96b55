//! `BENCH_PROFILE=<target>[,<target>...]`: a `perf record` of the service while
//! wrk drives one target at 16 connections, folded into stacks (one line per
//! stack, outermost frame first, then its sample count: the input of
//! flamegraph tools) and summarised by where the samples were spent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::wrk::{Pids, Target, Wrk};

/// How long each profile records.
const SECS: u64 = 10;

/// Record `target` and write `<dir>/<name>.folded`; print the summary.
pub async fn profile(wrk: &Wrk, target: &Target, pids: Pids, dir: &Path, name: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let data = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    // `BENCH_PROFILE_DWARF=1`: unwind with DWARF (the release build keeps no frame pointers), at 500 Hz.
    let dwarf = std::env::var("BENCH_PROFILE_DWARF").is_ok_and(|v| v == "1");
    let how: &[&str] = if dwarf { &["-F", "500", "--call-graph", "dwarf,16384"] } else { &["-F", "2000", "-g"] };
    let mut perf = tokio::process::Command::new("perf")
        .arg("record")
        .args(how)
        .args(["-p", &pids.service.to_string(), "-o"])
        .arg(data.path())
        .args(["--", "sleep", &SECS.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run perf: {e}"))?;
    let sample = wrk.run(target, 16, SECS, pids).await?;
    tokio::time::timeout(Duration::from_secs(SECS + 30), perf.wait())
        .await
        .map_err(|_| "perf did not finish".to_string())?
        .map_err(|e| e.to_string())?;
    let script = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new("perf")
            .args(["script", "-F", "comm,ip,sym,dso", "-i"])
            .arg(data.path())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "perf script did not finish".to_string())?
    .map_err(|e| e.to_string())?;
    let folded = fold(&String::from_utf8_lossy(&script.stdout));
    let total: u64 = folded.values().sum();
    let mut lines: Vec<(&String, &u64)> = folded.iter().collect();
    lines.sort();
    let text: String = lines.iter().map(|(stack, n)| format!("{stack} {n}\n")).collect();
    let out = dir.join(format!("{name}.folded"));
    std::fs::write(&out, text).map_err(|e| e.to_string())?;
    println!(
        "bench: profile of {} at 16 conns: {:.0} req/s, {total} samples -> {}",
        target.name,
        sample.requests as f64 * 1e6 / sample.duration_us.max(1) as f64,
        out.display()
    );
    summarise(&folded, total);
    Ok(out)
}

/// `perf script` output to folded stacks: `comm;outer;...;inner` → samples.
fn fold(script: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for block in script.split("\n\n") {
        let mut lines = block.lines().filter(|l| !l.trim().is_empty());
        let Some(head) = lines.next() else { continue };
        let comm = head.split_whitespace().next().unwrap_or("?").replace(';', ":");
        let mut frames: Vec<String> = lines.map(frame).collect();
        frames.reverse();
        let stack = std::iter::once(comm).chain(frames).collect::<Vec<_>>().join(";");
        *out.entry(stack).or_insert(0) += 1;
    }
    out
}

/// One frame line (`addr sym+off (dso)`) as `sym` (or `[dso]` when unknown).
fn frame(line: &str) -> String {
    let line = line.trim();
    let rest = line.split_once(' ').map_or("", |(_, r)| r);
    let (sym, dso) = match rest.rfind(" (") {
        Some(i) => (&rest[..i], rest[i + 2..].trim_end_matches(')')),
        None => (rest, ""),
    };
    let sym = sym.rsplit_once("+0x").map_or(sym, |(s, _)| s);
    let name = if sym.is_empty() || sym == "[unknown]" {
        format!("[{}]", dso.rsplit('/').next().unwrap_or("?"))
    } else {
        sym.to_string()
    };
    name.replace(';', ":")
}

/// Where the samples went: by the innermost frame's kind, and the top leaf functions.
fn summarise(folded: &HashMap<String, u64>, total: u64) {
    let mut leaves: HashMap<&str, u64> = HashMap::new();
    for (stack, n) in folded {
        let leaf = stack.rsplit(';').next().unwrap_or("?");
        *leaves.entry(leaf).or_insert(0) += n;
    }
    let mut top: Vec<_> = leaves.into_iter().collect();
    top.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (leaf, n) in top.iter().take(30) {
        println!("bench:   {:5.1} %  {leaf}", *n as f64 * 100.0 / total.max(1) as f64);
    }
    // Inclusive shares of some frames worth watching.
    for needle in [
        "entry_SYSCALL",
        "tracing",
        "malloc",
        "free",
        "hyper",
        "reqwest",
        "actix_router",
        "regex",
        "moka",
        "sqlx",
        "serde_json",
        "url::",
        "audit",
        "metrics",
        "prometheus",
    ] {
        let n: u64 = folded.iter().filter(|(s, _)| s.contains(needle)).map(|(_, n)| n).sum();
        println!("bench:   inclusive {needle}: {:.1} %", n as f64 * 100.0 / total.max(1) as f64);
    }
}
