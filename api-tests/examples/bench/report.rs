//! The report: markdown tables of every case, the targets with met or
//! missed-by-how-much, printed and written into docs/performance.md between
//! the `<!-- bench:begin -->` and `<!-- bench:end -->` markers.

use std::fmt::Write as _;

use crate::cases::{Burst, Cold, Expiry, Memory, Storm};
use crate::procs::Machine;
use crate::wrk::{Cell, Target};

/// Marker lines in the doc.
const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// Target indices in [`Results::targets`].
pub const DIRECT: usize = 0;
/// `bao proxy`.
pub const PROXY: usize = 1;
/// The REST read.
pub const REST: usize = 2;
/// The Vault-compatible endpoint.
pub const VAULT_API: usize = 3;
/// The REST read of the profile with the secret cache on.
pub const CACHED: usize = 4;
/// `GET /healthz`: the floor, one actix request through the same middleware.
pub const FLOOR: usize = 5;
/// `service/examples/bare_proxy`: actix-web and reqwest with nothing else, the stack's floor for a proxied read.
pub const BARE: usize = 6;

/// Everything one run measured.
pub struct Results {
    /// Quick mode.
    pub quick: bool,
    /// Rounds per line, seconds per round.
    pub rounds: (usize, u64),
    /// Connection counts.
    pub conns: Vec<usize>,
    /// The warm targets, in [`DIRECT`] .. [`CACHED`] order.
    pub targets: Vec<Target>,
    /// `cells[target][conns index]`.
    pub cells: Vec<Vec<Cell>>,
    /// Targets not measured, and why.
    pub skipped: Vec<String>,
    /// Clock ticks per second.
    pub clk_tck: u64,
    /// Case 2.
    pub cold: Cold,
    /// Case 3.
    pub herd: Burst,
    /// Case 4.
    pub many: Burst,
    /// The restart storm, without and with the seal key file.
    pub storm: Storm,
    /// Case 5.
    pub expiry: Expiry,
    /// Case 6: `Err` says why the secret cache was not measured.
    pub cache: Result<(), String>,
    /// Case 7.
    pub memory: Memory,
    /// Where and with what.
    pub machine: Machine,
    /// Release build time from the script, s.
    pub build_secs: Option<u64>,
    /// This run, s.
    pub run_secs: u64,
    /// Whether OpenBao wrote a raw audit log.
    pub audit: bool,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn at_most(value: f64, limit: f64, unit: &str) -> String {
    if value.is_nan() {
        "not measured".into()
    } else if value <= limit {
        "met".into()
    } else {
        format!("**missed** by {:.1}{unit}", value - limit)
    }
}

fn at_least_ratio(ratio: f64, limit: f64) -> String {
    if ratio.is_nan() {
        "not measured".into()
    } else if ratio >= limit {
        "met".into()
    } else {
        format!("**missed** by {:.2}× ({:.0} % of the target)", limit - ratio, ratio / limit * 100.0)
    }
}

impl Results {
    fn cell(&self, target: usize, conns: usize) -> Option<&Cell> {
        let ci = self.conns.iter().position(|c| *c == conns)?;
        self.cells.get(target)?.get(ci).filter(|c| !c.samples.is_empty())
    }

    fn rps(&self, target: usize, conns: usize) -> f64 {
        self.cell(target, conns).map_or(f64::NAN, Cell::rps)
    }

    fn ratio(&self, a: usize, b: usize, conns: usize) -> f64 {
        self.rps(a, conns) / self.rps(b, conns)
    }

    /// The service's CPU per request of `target` as a multiple of the floor's, at `conns`.
    fn floor_multiple(&self, target: usize, conns: usize) -> f64 {
        let floor = self.cell(FLOOR, conns).map_or(f64::NAN, |f| f.cpu_us(0, self.clk_tck));
        self.cell(target, conns).map_or(f64::NAN, |c| c.cpu_us(0, self.clk_tck)) / floor
    }

    /// The worst floor multiple of `target` over the connection counts it ran at.
    fn worst_multiple(&self, target: usize) -> f64 {
        self.conns.iter().map(|c| self.floor_multiple(target, *c)).filter(|m| m.is_finite()).fold(f64::NAN, f64::max)
    }

    fn warm_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "| target | conns | req/s | p50 ms | p99 ms | non-2xx | socket errors | CPU µs/req: service (bare proxy: its own) | × floor | OpenBao | bao proxy |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
        for &c in &self.conns {
            for (ti, t) in self.targets.iter().enumerate() {
                let Some(cell) = self.cell(ti, c) else { continue };
                let all_failed = cell.non2xx() > 0 && cell.non2xx() >= cell.requests();
                let _ = writeln!(
                    out,
                    "| {}{} | {c} | {:.0} | {:.3} | {:.3} | {} | {} | {:.1} | {:.2} | {:.1} | {:.1} |",
                    t.label,
                    if all_failed { " **(every answer non-2xx)**" } else { "" },
                    cell.rps(),
                    cell.p50_ms(),
                    cell.p99_ms(),
                    cell.non2xx(),
                    cell.socket_errors(),
                    cell.cpu_us(0, self.clk_tck),
                    self.floor_multiple(ti, c),
                    cell.cpu_us(1, self.clk_tck),
                    cell.cpu_us(2, self.clk_tck),
                );
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "| conns | REST / direct | REST / proxy | Vault API / direct | Vault API / proxy |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for &c in &self.conns {
            let _ = writeln!(
                out,
                "| {c} | {:.2} | {:.2} | {:.2} | {:.2} |",
                self.ratio(REST, DIRECT, c),
                self.ratio(REST, PROXY, c),
                self.ratio(VAULT_API, DIRECT, c),
                self.ratio(VAULT_API, PROXY, c)
            );
        }
        for s in &self.skipped {
            let _ = writeln!(out, "\nNot measured: {s}.");
        }
    }

    fn cases_table(&self, out: &mut String) {
        let (raw, svc) = (median(&self.cold.raw_ms), median(&self.cold.service_ms));
        let _ = writeln!(out, "| case | figures |");
        let _ = writeln!(out, "|---|---|");
        let _ = writeln!(
            out,
            "| cold read (median, n={}/{}) | raw `bao agent` run {raw:.1} ms; the service's first read of a new profile {svc:.1} ms; overhead {:.1} ms{} |",
            self.cold.raw_ms.len(),
            self.cold.service_ms.len(),
            svc - raw,
            if self.cold.failures.is_empty() {
                String::new()
            } else {
                format!("; failures: {}", self.cold.failures.join("; "))
            }
        );
        let storm: Vec<(String, &Burst)> = self
            .storm
            .runs
            .iter()
            .map(|(how, b)| (format!("restart storm, {how}: first reads after a restart"), b))
            .collect();
        let bursts =
            [("herd on one cold profile".to_string(), &self.herd), ("profiles cold at once".to_string(), &self.many)];
        for (name, b) in bursts.iter().map(|(n, b)| (n.clone(), *b)).chain(storm) {
            let _ = writeln!(
                out,
                "| {name}: {} reads of {} profile(s) | wall {:.0} ms; agent spawns {}; failed {}{} |",
                b.reads,
                b.profiles,
                b.wall.as_secs_f64() * 1e3,
                b.spawns,
                b.failures,
                if b.tally.is_empty() { String::new() } else { format!(" ({})", b.tally) }
            );
        }
        let e = &self.expiry;
        let expiry = match &e.run {
            Ok(s) => format!(
                "{} reads ({:.0}/s); failed {} (non-2xx {}, socket errors {}); p99 {:.1} ms; max {:.1} ms; agent spawns {}; tokens refreshed ahead {} (failed {})",
                s.requests,
                s.requests as f64 / (s.duration_us as f64 / 1e6),
                s.non2xx + s.socket_errors,
                s.non2xx,
                s.socket_errors,
                s.p99_us / 1e3,
                s.max_us / 1e3,
                e.spawns,
                e.refreshes.0,
                e.refreshes.1
            ),
            Err(why) => format!("not measured: {why}"),
        };
        // The same load without expiry, for scale: on a saturated machine the maximum is mostly queueing.
        let warm = self.cell(REST, 16).map_or(String::new(), |c| {
            format!(" (warm REST read at 16 conns, same run: p99 {:.1} ms, max {:.1} ms)", c.p99_ms(), c.max_ms())
        });
        let _ = writeln!(out, "| {} s of reads across token expiry (TTL 125 s, 16 conns) | {expiry}{warm} |", e.secs);
        let cache = match &self.cache {
            Ok(()) => format!(
                "{:.0} req/s vs direct {:.0} at 16 conns ({:.1}×); {:.0} vs {:.0} at 64 ({:.1}×)",
                self.rps(CACHED, 16),
                self.rps(DIRECT, 16),
                self.ratio(CACHED, DIRECT, 16),
                self.rps(CACHED, 64),
                self.rps(DIRECT, 64),
                self.ratio(CACHED, DIRECT, 64)
            ),
            Err(why) => format!("not measured: {why}"),
        };
        let _ = writeln!(out, "| secret cache (`secret_cache_ttl: 30s`) | {cache} |");
        let m = &self.memory;
        let _ = writeln!(
            out,
            "| memory (RSS of a fresh service) | idle {:.1} MiB; {} profiles over {} tenants {:.1} MiB; after one read each {:.1} MiB: {:.2} KiB per cached token ({:.2} KiB per profile with its token); {} spawns in {:.1} s; failed {}{} |",
            m.idle_kib as f64 / 1024.0,
            m.n,
            m.tenants,
            m.profiles_kib as f64 / 1024.0,
            m.tokens_kib as f64 / 1024.0,
            self.kib_per_token(),
            (m.tokens_kib as f64 - m.idle_kib as f64) / m.n.max(1) as f64,
            m.spawns,
            m.read_wall.as_secs_f64(),
            m.failures,
            if m.tally.is_empty() { String::new() } else { format!(" ({})", m.tally) }
        );
    }

    fn kib_per_token(&self) -> f64 {
        let m = &self.memory;
        (m.tokens_kib as f64 - m.profiles_kib as f64) / m.n.max(1) as f64
    }

    fn targets_table(&self, out: &mut String) {
        let _ = writeln!(out, "| target | measured | verdict |");
        let _ = writeln!(out, "|---|---|---|");
        let mut row = |what: &str, measured: String, verdict: String| {
            let _ = writeln!(out, "| {what} | {measured} | {verdict} |");
        };
        let cpu: Vec<f64> = [REST, VAULT_API]
            .iter()
            .flat_map(|t| self.conns.iter().map(move |c| (*t, *c)))
            .filter_map(|(t, c)| self.cell(t, c).map(|cell| cell.cpu_us(0, self.clk_tck)))
            .collect();
        let worst = cpu.iter().copied().fold(f64::NAN, f64::max);
        let per = |t: usize| {
            self.conns
                .iter()
                .map(|c| self.cell(t, *c).map_or("–".into(), |x| format!("{:.0}", x.cpu_us(0, self.clk_tck))))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let multiples = |t: usize| {
            self.conns.iter().map(|c| format!("{:.2}", self.floor_multiple(t, *c))).collect::<Vec<_>>().join(" / ")
        };
        row(
            "warm REST read ≤ 3 × the floor (service CPU, same run)",
            format!("{}× (at 1 / 16 / 64 conns)", multiples(REST)),
            at_most(self.worst_multiple(REST), 3.0, "×"),
        );
        row(
            "warm Vault-compatible read ≤ 3.5 × the floor",
            format!("{}×", multiples(VAULT_API)),
            at_most(self.worst_multiple(VAULT_API), 3.5, "×"),
        );
        row(
            "secret-cache hit ≤ 1.3 × the floor",
            format!("{}× (at 16 / 64 conns)", multiples(CACHED)),
            at_most(self.worst_multiple(CACHED), 1.3, "×"),
        );
        // Not a target: what the same stack costs for the same exchange with nothing else,
        // so the multiples above can be read against what a proxied read must cost here.
        let bare = |t: usize| {
            self.conns
                .iter()
                .map(|c| {
                    let own = |x: usize| self.cell(x, *c).map_or(f64::NAN, |cell| cell.cpu_us(0, self.clk_tck));
                    format!("{:.2}", own(t) / own(BARE))
                })
                .collect::<Vec<_>>()
                .join(" / ")
        };
        row(
            "(for scale, no target) the bare actix-web + reqwest proxy: × the floor; a warm read ÷ the bare proxy",
            format!(
                "bare {}× the floor; REST {}×, Vault API {}× the bare proxy's CPU (at 1 / 16 / 64 conns)",
                multiples(BARE),
                bare(REST),
                bare(VAULT_API)
            ),
            "–".into(),
        );
        row(
            "service CPU per warm read ≤ 100 µs",
            format!("REST {} µs, Vault API {} µs (at 1 / 16 / 64 conns)", per(REST), per(VAULT_API)),
            at_most(worst, 100.0, " µs"),
        );
        let (r16, v16) = (self.ratio(REST, DIRECT, 16), self.ratio(VAULT_API, DIRECT, 16));
        row(
            "warm throughput ≥ 0.90 × direct at 16 conns",
            format!("REST {r16:.2}×, Vault API {v16:.2}×"),
            at_least_ratio(r16.min(v16), 0.90),
        );
        let vs_proxy: Vec<String> = self
            .conns
            .iter()
            .map(|c| format!("{:.2}/{:.2}", self.ratio(REST, PROXY, *c), self.ratio(VAULT_API, PROXY, *c)))
            .collect();
        let min_proxy = self
            .conns
            .iter()
            .flat_map(|c| [self.ratio(REST, PROXY, *c), self.ratio(VAULT_API, PROXY, *c)])
            .fold(f64::NAN, f64::min);
        row(
            "warm throughput ≥ bao proxy at every concurrency",
            format!("REST/Vault API ÷ proxy: {} (at 1 / 16 / 64)", vs_proxy.join(", ")),
            at_least_ratio(min_proxy, 1.0),
        );
        let p99 = |t: usize| self.cell(t, 1).map_or(f64::NAN, Cell::p99_ms);
        let seq = p99(REST).max(p99(VAULT_API)) - p99(DIRECT);
        row(
            "sequential (1 conn) p99 ≤ direct p99 + 1 ms",
            format!("REST {:.3} ms, Vault API {:.3} ms, direct {:.3} ms", p99(REST), p99(VAULT_API), p99(DIRECT)),
            at_most(seq, 1.0, " ms"),
        );
        let (failed, max) = match &self.expiry.run {
            Ok(s) => ((s.non2xx + s.socket_errors) as f64, s.max_us / 1e3),
            Err(_) => (f64::NAN, f64::NAN),
        };
        row("across token expiry: zero failed reads", format!("{failed} failed"), at_most(failed, 0.0, " reads"));
        row("across token expiry: no read slower than 50 ms", format!("max {max:.1} ms"), at_most(max, 50.0, " ms"));
        let cache = if self.cache.is_ok() { self.ratio(CACHED, DIRECT, 16) } else { f64::NAN };
        row(
            "secret cache ≥ 10 × direct (16 conns)",
            if self.cache.is_ok() { format!("{cache:.1}×") } else { "not measured".into() },
            at_least_ratio(cache, 10.0),
        );
        let overhead = median(&self.cold.service_ms) - median(&self.cold.raw_ms);
        row("cold overhead < 10 ms", format!("{overhead:.1} ms"), at_most(overhead, 10.0, " ms"));
        row(
            "exactly one spawn per herd",
            format!("{} spawns for {} reads", self.herd.spawns, self.herd.reads),
            if self.herd.spawns == 1.0 { "met".into() } else { format!("**missed**: {} spawns", self.herd.spawns) },
        );
        let idle = self.memory.idle_kib as f64 / 1024.0;
        row("idle RSS ≤ 30 MiB", format!("{idle:.1} MiB"), at_most(idle, 30.0, " MiB"));
        let per = self.kib_per_token();
        row("≤ 5 KiB per cached token", format!("{per:.2} KiB"), at_most(per, 5.0, " KiB"));
    }

    /// The whole section, markdown.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Latest run: {}{}.",
            m.date,
            if self.quick { ", **quick mode** (short runs: figures only indicative)" } else { "" }
        );
        let _ = writeln!(
            out,
            "Machine: {} cores, {}, {:.1} GiB RAM. Versions: {}, {}, {}, commit {}.",
            m.cores, m.cpu, m.ram_gib, m.rustc, m.bao, m.wrk, m.commit
        );
        let build = self.build_secs.map_or(String::new(), |s| format!("release build {s} s, "));
        let _ = writeln!(
            out,
            "Command: `{}./scripts/bench.sh` ({build}measuring {} s). OpenBao dev server{}.{}",
            if self.quick { "BENCH_QUICK=1 " } else { "" },
            self.run_secs,
            if self.audit { " with a raw file audit device" } else { ", no audit device" },
            if std::env::var_os("AUTH_SERVICE_BIN").is_some() {
                " The service binary came from `AUTH_SERVICE_BIN`, not from this commit's build."
            } else {
                ""
            }
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "### Warm reads: wrk, {} round(s) × {} s per line, targets interleaved\n",
            self.rounds.0, self.rounds.1
        );
        self.warm_table(&mut out);
        let _ = writeln!(out, "\n### Other cases\n");
        self.cases_table(&mut out);
        let _ = writeln!(out, "\n### The issue's targets\n");
        self.targets_table(&mut out);
        out
    }
}

/// Replace the text between the markers of `doc` (append a marked section when they are missing).
pub fn write_doc(path: &std::path::Path, section: &str) -> std::io::Result<()> {
    let doc = std::fs::read_to_string(path).unwrap_or_else(|_| "# Performance\n".into());
    let body = format!("{BEGIN}\n{}\n{END}", section.trim_end());
    let new = match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{body}{}", &doc[..b], &doc[e + END.len()..]),
        _ => format!("{}\n\n{body}\n", doc.trim_end()),
    };
    std::fs::write(path, new)
}
