//! What the benchmark reads from `/proc` and the machine: CPU time and
//! resident memory of a process, finding OpenBao's process, and the versions
//! and hardware a run is recorded with.

use std::process::{Command, Stdio};

/// Clock ticks per second (`getconf CLK_TCK`; 100 when that fails).
pub fn clk_tck() -> u64 {
    command_line("getconf", &["CLK_TCK"]).and_then(|s| s.trim().parse().ok()).unwrap_or(100)
}

/// utime + stime of a process (all its threads), in clock ticks; `None` once it is gone.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size in KiB (0 when the process is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
        .unwrap_or(0)
}

/// The process whose command line holds every one of `needles` (the first found, never this process).
pub fn pid_by_cmdline(needles: &[&str]) -> Option<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc").ok()?.filter_map(Result::ok).find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let raw = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<String> = raw.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        (pid != me && needles.iter().all(|n| args.iter().any(|a| a == n))).then_some(pid)
    })
}

/// The pid of the OpenBao dev server at `addr` (`http://127.0.0.1:PORT`), found by its
/// `-dev-listen-address` argument (the test bed keeps the child to itself).
pub fn openbao_pid(addr: &str) -> Option<u32> {
    let listen = addr.trim_start_matches("http://").trim_start_matches("https://");
    pid_by_cmdline(&["server", &format!("-dev-listen-address={listen}")])
}

/// The first line of a command's stdout (or stderr, for tools that print their version there).
pub fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().ok()?;
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text).lines().next().map(|l| l.trim().to_string()).filter(|l| !l.is_empty())
}

/// The machine and the software a run was measured with.
pub struct Machine {
    /// Cores available.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// MemTotal in GiB.
    pub ram_gib: f64,
    /// `rustc -V`.
    pub rustc: String,
    /// `bao version`.
    pub bao: String,
    /// `wrk -v`.
    pub wrk: String,
    /// `git rev-parse --short HEAD`, with a note when the tree has changes.
    pub commit: String,
    /// UTC date and time.
    pub date: String,
}

impl Machine {
    /// Gather it now.
    pub fn describe(bao_bin: &std::path::Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|v| v.split_once(':')).map(|(_, v)| v.trim()))
            .unwrap_or("unknown")
            .to_string();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
            .unwrap_or(0.0);
        let root = api_tests::workspace_root();
        let root_s = root.display().to_string();
        let mut commit =
            command_line("git", &["-C", &root_s, "rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
        // --no-optional-locks: only look, never refresh the index.
        let dirty = Command::new("git")
            .args(["--no-optional-locks", "-C", &root_s, "status", "--porcelain", "--untracked-files=no"])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false);
        if dirty {
            commit.push_str(" (with uncommitted changes)");
        }
        let bao = bao_bin.display().to_string();
        Machine {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            cpu,
            ram_gib: mem_kib / 1024.0 / 1024.0,
            rustc: command_line("rustc", &["-V"]).unwrap_or_else(|| "unknown".into()),
            // "OpenBao v2.7.2 (commit), committed ...": the name and version are enough.
            bao: command_line(&bao, &["version"])
                .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| "unknown".into()),
            wrk: command_line("wrk", &["-v"])
                .map(|l| l.split(" Copyright").next().unwrap_or(&l).to_string())
                .unwrap_or_else(|| "unknown".into()),
            commit,
            date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into()),
        }
    }
}
