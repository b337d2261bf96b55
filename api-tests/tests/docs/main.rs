//! The documentation kept true. The README's quickstart and every `sh` block
//! of docs/api.md run exactly as a newcomer runs them: `./scripts/run.sh --dev`
//! from the repository (with `AUTH_SERVICE_BINARY` naming the built binary, so
//! nothing is compiled here) starts a real OpenBao dev server and the real
//! service, prints the variables and the calls to paste, and the blocks run in
//! order, in one `bash` with `set -euo pipefail`, with those variables.
//!
//! A block fails the test when it exits non-zero, and also when its output
//! contradicts the answer the doc shows beside it: the status a
//! `-w '%{http_code}'` call prints, the `x-cache`, `etag` and status lines of a
//! `-D -` call, and the plain facts of the JSON shown (`"ok"`, `"status"`,
//! `"pointer"`, `"revision"`, `"action"`, the secret's values, ...). The
//! failure names the document, the block and its line, and prints the block,
//! its output and the end of the service log.
//!
//! Every wait is bounded; `run.sh` and each script run in their own process
//! group, which is killed (and the leader reaped) whatever happens; everything
//! they write lives in a private temporary folder, removed on drop.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared helpers; this binary uses only service_bin")]
mod helpers;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_tests::workspace_root;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;

/// From the command to the "More:" line of `run.sh --dev` (the service is built already).
const START_LIMIT: Duration = Duration::from_secs(45);
/// One document's blocks, all together.
const SCRIPT_LIMIT: Duration = Duration::from_secs(45);
/// Ctrl-C to `run.sh --dev` having stopped both servers and removed its folder.
const STOP_LIMIT: Duration = Duration::from_secs(20);
/// Printed between blocks so the output can be split by block.
const MARK: &str = "@@docs-test block";

/// Start-ups one at a time: `run.sh` runs `install-tools.sh`, which may install
/// the OpenBao binary into tools/ on a fresh clone; two at once would race there.
static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Facts the docs show that the current binary contradicts, reported but not
/// failing the test until the doc or the service is fixed: (document, fact).
/// Empty: every fact the docs show holds.
const KNOWN_WRONG: &[(&str, &str)] = &[];

/// A fenced block of a Markdown file.
#[derive(Debug, Clone)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string (`sh`, `json`, or empty).
    lang: String,
    code: String,
}

/// Every fenced block, in order.
fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_end();
        match open.take() {
            None => {
                if let Some(lang) = fence.strip_prefix("```") {
                    open = Some(Block { line: i + 1, lang: lang.trim().to_string(), code: String::new() });
                }
            }
            Some(block) if fence == "```" => out.push(block),
            Some(mut block) => {
                block.code.push_str(line);
                block.code.push('\n');
                open = Some(block);
            }
        }
    }
    assert!(open.is_none(), "an unclosed fenced block");
    out
}

/// The lines (1-based, end exclusive) of the `## ` section whose heading starts with `heading`.
fn section(markdown: &str, heading: &str) -> (usize, usize) {
    let lines: Vec<&str> = markdown.lines().collect();
    let start = lines.iter().position(|l| l.starts_with(heading)).unwrap_or_else(|| panic!("no section {heading:?}"));
    let end = lines[start + 1..].iter().position(|l| l.starts_with("## ")).map_or(lines.len(), |p| start + 1 + p);
    (start + 1, end + 1)
}

/// The names in backticks in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The environment a newcomer's shell has: this one, without settings of the
/// service, of a dev setup or of a Vault client, and with `TMPDIR` in `tmp`.
fn newcomer_env(tmp: &Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| !["AUTH_SERVICE_", "DEV_VAULT", "VAULT_", "BAO_"].iter().any(|p| k.starts_with(p)))
        .filter(|(k, _)| k != "TMPDIR")
        .collect();
    env.push(("TMPDIR".into(), tmp.display().to_string()));
    env
}

/// Whether any process of group `pgid` is alive.
fn group_alive(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None).is_ok()
}

/// `./scripts/run.sh --dev` (or what the doc says) running in its own process group.
struct DevSetup {
    child: Child,
    pgid: i32,
    stdout: Arc<Mutex<String>>,
    stderr: PathBuf,
    /// Its `TMPDIR`: the dev setup's folder and everything else it writes.
    tmp: tempfile::TempDir,
}

impl DevSetup {
    /// Run `command` from the repository and wait (bounded) for the next steps it prints.
    async fn start(command: &str) -> DevSetup {
        let _one_at_a_time = STARTING.lock().await;
        let tmp = tempfile::tempdir().expect("tempdir");
        let stderr = tmp.path().join("run.stderr");
        let mut child = Command::new("bash")
            .args(["-c", command])
            .current_dir(workspace_root())
            .env_clear()
            .envs(newcomer_env(tmp.path()))
            .env("AUTH_SERVICE_BINARY", helpers::service_bin())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .process_group(0)
            .spawn()
            .expect("bash runs");
        let pgid = i32::try_from(child.id()).expect("pid");
        let pipe = child.stdout.take().expect("stdout");
        let stdout = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().expect("stdout buffer");
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut dev = DevSetup { child, pgid, stdout, stderr, tmp };
        let deadline = Instant::now() + START_LIMIT;
        while !dev.stdout().lines().any(|l| l.starts_with("More:")) {
            if let Ok(Some(status)) = dev.child.try_wait() {
                panic!("`{command}` ended ({status}) before printing its next steps\n{}", dev.describe());
            }
            assert!(
                Instant::now() < deadline,
                "`{command}` printed no next steps within {START_LIMIT:?}\n{}",
                dev.describe()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        dev
    }

    fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout buffer").clone()
    }

    /// The variables it prints (`export NAME=VALUE`).
    fn exports(&self) -> Vec<(String, String)> {
        self.stdout()
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The calls it prints to paste, in order.
    fn paste(&self) -> String {
        let out = self.stdout();
        let after = out.split_once("then paste, in order:\n").map(|(_, rest)| rest).unwrap_or_default();
        after.lines().take_while(|l| !l.starts_with("More:")).map(|l| format!("{l}\n")).collect()
    }

    /// The private folder of the dev setup (`auth-service-dev.*` in its TMPDIR).
    fn work_dir(&self) -> Option<PathBuf> {
        std::fs::read_dir(self.tmp.path())
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("auth-service-dev.")))
    }

    /// Its output, its errors and the end of the service log, for a failure message.
    fn describe(&self) -> String {
        let log = self
            .work_dir()
            .and_then(|d| std::fs::read_to_string(d.join("service.log")).ok())
            .map(|l| l.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default();
        // Its stdout up to the variables (the calls it prints are long, and known).
        let stdout = self.stdout();
        let head = stdout.split_once("\nthen paste").map_or(stdout.as_str(), |(head, _)| head);
        format!(
            "--- run.sh stdout ---\n{head}\n--- run.sh stderr ---\n{}--- service log (last 20 lines) ---\n{log}",
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Ctrl-C in its terminal (SIGINT to the foreground process group); its exit status, bounded.
    async fn ctrl_c(&mut self) -> Option<ExitStatus> {
        let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGINT);
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

impl Drop for DevSetup {
    fn drop(&mut self) {
        // Whatever is left of the group goes (the leader is reaped below, so the
        // group id is still ours while any of it lives); then the folder.
        if group_alive(self.pgid) {
            let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The outcome of one script.
struct ScriptRun {
    /// `None`: killed at the time limit.
    status: Option<ExitStatus>,
    /// stdout and stderr, interleaved as written.
    output: String,
    took: Duration,
}

/// Run `script` with `bash` in `dir`, with exactly `env`, in its own process
/// group, at most `SCRIPT_LIMIT`; whatever it leaves running is killed.
async fn run_script(dir: &Path, name: &str, script: &str, env: &[(String, String)]) -> ScriptRun {
    let path = dir.join(format!("{name}.sh"));
    std::fs::write(&path, script).expect("script file");
    let out_path = dir.join(format!("{name}.out"));
    let out = std::fs::File::create(&out_path).expect("output file");
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(&path)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("output file"))
        .stderr(out)
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let pgid = i32::try_from(child.id()).expect("pid");
    let deadline = started + SCRIPT_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            _ if Instant::now() > deadline => break None,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    if status.is_none() || group_alive(pgid) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    let _ = child.wait();
    ScriptRun { status, output: std::fs::read_to_string(&out_path).unwrap_or_default(), took: started.elapsed() }
}

/// What the doc shows a block prints.
#[derive(Default, Debug)]
struct Expected {
    /// In order: the status each `-w '%{http_code}'` call prints (the next `# NNN` comment).
    statuses: Vec<u16>,
    /// Lines of `-D -` output: `x-cache: HIT`, `etag: "1"`, `HTTP/1.1 200`.
    headers: Vec<String>,
    /// `"key":value` pieces of the JSON shown.
    facts: Vec<String>,
    /// The JSON shown has `"ok":true` and never `"ok":false`.
    all_ok: bool,
}

/// The JSON keys whose values the docs show as they are (ids, times and
/// durations vary from run to run, and some answers are shown though a `jq`
/// keeps them from the terminal).
const FACT_KEYS: [&str; 14] = [
    "ok",
    "status",
    "pointer",
    "step",
    "revision",
    "secret_cache_ttl",
    "action",
    "password",
    "username",
    "methods",
    "policies",
    "tenant",
    "renewable",
    "lease_duration",
];

/// A `# NNN` comment (a status, alone or followed by a non-word character).
fn status_comment(line: &str) -> Option<u16> {
    let rest = line.trim().strip_prefix('#')?.trim_start();
    let digits = rest.get(..3)?;
    let after = rest[3..].chars().next();
    (digits.bytes().all(|b| b.is_ascii_digit()) && !after.is_some_and(char::is_alphanumeric))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The `"key":value` pieces of `line` for the keys in `FACT_KEYS`, elided values left out.
fn facts_in(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for key in FACT_KEYS {
        let needle = format!("\"{key}\":");
        let mut from = 0;
        while let Some(at) = line[from..].find(&needle) {
            let start = from + at;
            let value_at = start + needle.len();
            let rest = &line[value_at..];
            let len = match rest.chars().next() {
                Some('"') => rest[1..].find('"').map(|e| e + 2),
                Some('[') => rest.find(']').map(|e| e + 1),
                _ => Some(rest.find([',', '}', ' ']).unwrap_or(rest.len())),
            };
            if let Some(len) = len {
                let value = &rest[..len];
                if !value.is_empty() && !value.contains("...") && !value.contains('…') {
                    out.push(format!("{needle}{value}"));
                }
            }
            from = value_at;
        }
    }
    out
}

fn expected_of(code: &str) -> Expected {
    let lines: Vec<&str> = code.lines().collect();
    let mut e = Expected::default();
    let mut shows_ok = (false, false);
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.trim();
            let lower = comment.to_ascii_lowercase();
            if lower.starts_with("x-cache:") || lower.starts_with("etag:") {
                e.headers.push(lower.split_whitespace().collect::<Vec<_>>().join(" "));
            } else if comment.starts_with("HTTP/") {
                let status_line: Vec<&str> = comment.split_whitespace().take(2).collect();
                e.headers.push(status_line.join(" "));
            }
            for fact in facts_in(comment) {
                shows_ok.0 |= fact == r#""ok":true"#;
                shows_ok.1 |= fact == r#""ok":false"#;
                if !e.facts.contains(&fact) {
                    e.facts.push(fact);
                }
            }
        } else if trimmed.contains("%{http_code}") {
            let status = lines[i + 1..].iter().find_map(|l| status_comment(l));
            e.statuses.push(status.unwrap_or_else(|| panic!("no `# NNN` comment shows what `{trimmed}` prints")));
        }
    }
    e.all_ok = shows_ok.0 && !shows_ok.1;
    e
}

/// Where the output of a block contradicts the doc (empty: it does not).
fn contradictions(doc: &str, expected: &Expected, output: &str, known: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let statuses: Vec<u16> = output
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 3 && l.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|l| l.parse().ok())
        .collect();
    if statuses != expected.statuses {
        out.push(format!("the doc shows the statuses {:?}; printed: {statuses:?}", expected.statuses));
    }
    let lines: Vec<String> = output
        .lines()
        .map(|l| l.trim().to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for header in &expected.headers {
        let want = header.to_ascii_lowercase();
        if !lines.iter().any(|l| if want.starts_with("http/") { l.starts_with(&want) } else { *l == want }) {
            out.push(format!("the doc shows `{header}`; no such line was printed"));
        }
    }
    for fact in &expected.facts {
        if !output.contains(fact.as_str()) {
            if KNOWN_WRONG.contains(&(doc, fact.as_str())) {
                known.push(format!("{doc}: the doc shows {fact}; the answer does not have it"));
            } else {
                out.push(format!("the doc shows {fact}; the answer does not have it"));
            }
        }
    }
    if expected.all_ok && output.contains(r#""ok":false"#) {
        out.push(r#"the doc shows "ok":true; the answer has "ok":false"#.to_string());
    }
    out
}

/// Run `blocks` of `doc` in order in one shell (`set -euo pipefail`) with `env`;
/// panic naming every block that failed or contradicts the doc, with its output.
async fn run_blocks(dev: &DevSetup, doc: &str, blocks: &[Block], env: &[(String, String)]) -> Duration {
    let mut script = String::from("set -euo pipefail\n");
    for (i, block) in blocks.iter().enumerate() {
        script.push_str(&format!("printf '\\n{MARK} {i}\\n'\n"));
        script.push_str(&block.code);
    }
    script.push_str(&format!("printf '\\n{MARK} done\\n'\n"));
    let name = doc.replace(['/', '.'], "_");
    let run = run_script(dev.tmp.path(), &name, &script, env).await;
    // The output of each block, by the marks.
    let mut outputs = vec![String::new(); blocks.len()];
    let (mut current, mut done) = (None, false);
    for line in run.output.lines() {
        if let Some(mark) = line.strip_prefix(MARK).map(str::trim) {
            if mark == "done" {
                done = true;
            } else {
                current = mark.parse::<usize>().ok();
            }
        } else if let Some(i) = current {
            outputs[i].push_str(line);
            outputs[i].push('\n');
        }
    }
    let mut failures = Vec::new();
    let mut known = Vec::new();
    let n = blocks.len();
    for (i, (block, output)) in blocks.iter().zip(&outputs).enumerate() {
        let mut reasons = Vec::new();
        if current == Some(i) && !done {
            reasons.push(match run.status {
                Some(status) => format!("the block stopped the script ({status})"),
                None => format!("the script was still running after {SCRIPT_LIMIT:?} and was killed"),
            });
        }
        // Only blocks that ran to their end have output to compare.
        if current.is_some_and(|c| i < c) || done {
            reasons.extend(contradictions(doc, &expected_of(&block.code), output, &mut known));
        }
        if !reasons.is_empty() {
            failures.push(format!(
                "{doc}, block {} of {n} (line {}): {}\n--- the block ---\n{}--- its output ---\n{output}",
                i + 1,
                block.line,
                reasons.join("; "),
                block.code
            ));
        }
    }
    if !done && current.is_none() {
        failures.push(format!("{doc}: the script ended before its first block ({:?}):\n{}", run.status, run.output));
    }
    for k in &known {
        eprintln!("known, reported, not failing: {k}");
    }
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n"), dev.describe());
    assert!(run.status.is_some_and(|s| s.success()), "{doc}: {:?}\n{}", run.status, run.output);
    eprintln!("{doc}: {n} blocks ran in {:?}", run.took);
    run.took
}

/// `expected` (JSON from a doc, `"@@any@@"` for an elided `{...}`) describes `actual`:
/// the same keys, the same values, anything where the doc elides.
fn describes(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(s), _) if s == "@@any@@" => true,
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len() && e.iter().all(|(k, v)| a.get(k).is_some_and(|x| describes(v, x)))
        }
        (Value::Array(e), Value::Array(a)) => e.len() == a.len() && e.iter().zip(a).all(|(v, x)| describes(v, x)),
        _ => expected == actual,
    }
}

#[tokio::test]
async fn the_readme_quickstart_runs_as_written_and_ctrl_c_removes_everything() {
    let started = Instant::now();
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let (from, to) = section(&readme, "## Quickstart");
    let blocks: Vec<Block> = fenced_blocks(&readme).into_iter().filter(|b| b.line > from && b.line < to).collect();
    let commands: Vec<&Block> = blocks.iter().filter(|b| b.lang == "sh").collect();
    assert_eq!(commands.len(), 1, "the quickstart has one command, the dev setup: {commands:?}");
    let answer = blocks.iter().find(|b| b.lang.is_empty()).expect("the quickstart shows the secret read's answer");
    let text: Vec<&str> = readme.lines().collect();
    let section_text = text[from - 1..to - 1].join("\n");

    let mut dev = DevSetup::start(commands[0].code.trim()).await;
    // The variables the README lists are the ones printed.
    let listed = section_text
        .split_once("the variables:")
        .and_then(|(_, rest)| rest.split_once("2."))
        .map(|(vars, _)| backticked(vars))
        .expect("the README lists the variables");
    let exports = dev.exports();
    let printed: Vec<String> = exports.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(printed, listed, "README lists {listed:?}; run.sh --dev prints {printed:?}\n{}", dev.describe());
    let paste = dev.paste();
    for set in ["KEY=$(", "READ=$("] {
        assert!(paste.contains(set), "the README says the calls set {set}...; they do not:\n{paste}");
    }

    // The printed calls, pasted in order into a second shell with the variables.
    let mut env = newcomer_env(dev.tmp.path());
    env.extend(exports.iter().cloned());
    let run = run_script(dev.tmp.path(), "quickstart", &format!("set -euo pipefail\n{paste}"), &env).await;
    assert!(
        run.status.is_some_and(|s| s.success()),
        "the quickstart's calls failed ({:?}):\n--- the calls ---\n{paste}--- their output ---\n{}\n{}",
        run.status,
        run.output,
        dev.describe()
    );
    // The last thing printed is the secret read, as the README shows it.
    let last = run.output.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let actual: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"));
    let shown = answer.code.trim().replace("{...}", "\"@@any@@\"");
    let expected: Value = serde_json::from_str(&shown).unwrap_or_else(|e| panic!("README line {}: {e}", answer.line));
    assert!(describes(&expected, &actual), "README line {} shows {shown}; the read answered {last}", answer.line);

    // "the admin console is at $AS/console"
    let base = exports.iter().find(|(k, _)| k == "AS").map(|(_, v)| v.clone()).expect("AS");
    let http = api_tests::http_client_builder().timeout(Duration::from_secs(10)).build().expect("client");
    let console = http.get(format!("{base}/console")).send().await.expect("console");
    assert_eq!(console.status().as_u16(), 200, "$AS/console");

    // "Ctrl-C in the first terminal stops both servers and removes everything they wrote."
    let work = dev.work_dir().expect("run.sh --dev made its folder");
    assert!(work.join("service.log").exists(), "{}", work.display());
    let status = dev.ctrl_c().await;
    assert!(status.is_some(), "run.sh --dev still runs {STOP_LIMIT:?} after Ctrl-C\n{}", dev.describe());
    assert!(!group_alive(dev.pgid), "a process of the dev setup outlived Ctrl-C");
    assert!(!work.exists(), "Ctrl-C left {} behind", work.display());
    eprintln!("README quickstart: calls {:?}, whole test {:?}", run.took, started.elapsed());
}

#[tokio::test]
async fn every_sh_block_of_api_md_runs_in_order_against_run_sh_dev_and_answers_as_shown() {
    let started = Instant::now();
    let doc = "docs/api.md";
    let text = std::fs::read_to_string(workspace_root().join(doc)).expect("api.md");
    let blocks: Vec<Block> = fenced_blocks(&text).into_iter().filter(|b| b.lang == "sh").collect();
    assert!(blocks.len() >= 5, "{doc} has {} sh blocks; the walk-through has more", blocks.len());
    let setup = "./scripts/run.sh --dev";
    assert!(text.contains(&format!("`{setup}`")), "{doc} no longer names `{setup}`");
    // The variables its table lists (`| `AS` | ... |`).
    let listed: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("| variable |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| backticked(l).into_iter().next())
        .collect();
    assert!(!listed.is_empty(), "{doc}: no variables table");

    let mut dev = DevSetup::start(setup).await;
    let exports = dev.exports();
    for name in &listed {
        assert!(exports.iter().any(|(k, _)| k == name), "{doc} uses ${name}; {setup} does not print it");
    }
    let mut env = newcomer_env(dev.tmp.path());
    env.extend(exports);
    run_blocks(&dev, doc, &blocks, &env).await;
    assert!(dev.ctrl_c().await.is_some(), "run.sh --dev still runs {STOP_LIMIT:?} after Ctrl-C\n{}", dev.describe());
    eprintln!("{doc}: whole test {:?}", started.elapsed());
}

#[test]
fn the_doc_reader_finds_blocks_statuses_headers_and_facts() {
    let md = "text\n```sh\necho a\n# 200\n```\n\n```json\n{}\n```\n```\nplain\n```\n";
    let blocks = fenced_blocks(md);
    assert_eq!(
        blocks.iter().map(|b| (b.line, b.lang.as_str())).collect::<Vec<_>>(),
        [(2, "sh"), (7, "json"), (10, "")]
    );
    assert_eq!(blocks[0].code, "echo a\n# 200\n");
    let e = expected_of(
        "curl -o /dev/null -w '%{http_code}\\n' \\\n  x\n# 204; later 401\n# 412\n\
         curl -D - x | grep -i '^x-cache'\n# x-cache: HIT\n# HTTP/1.1 200 OK\n\
         # {\"ok\":true,\"steps\":[{\"step\":\"agent_login\",\"ok\":true}],\"revision\":2,\"id\":\"...\",\"x\":\"...\"}\n",
    );
    assert_eq!(e.statuses, [204]);
    assert_eq!(e.headers, ["x-cache: hit", "HTTP/1.1 200"]);
    assert_eq!(e.facts, [r#""ok":true"#, r#""step":"agent_login""#, r#""revision":2"#]);
    assert!(e.all_ok);
    assert_eq!(status_comment("# 401: its keys went with it"), Some(401));
    assert_eq!(status_comment("# 2000"), None);
    assert_eq!(status_comment("# {\"a\":1}"), None);
    let mut known = Vec::new();
    let bad = contradictions("x.md", &e, "200\nx-cache: MISS\n{\"ok\":false}\n", &mut known);
    assert_eq!(bad.len(), 7, "{bad:?}");
    let good = "204\nHTTP/1.1 200 OK\nX-Cache: HIT\n{\"ok\":true,\"steps\":[{\"step\":\"agent_login\",\"ok\":true}],\"revision\":2}\n";
    assert!(contradictions("x.md", &e, good, &mut known).is_empty());
    let shown: Value = serde_json::from_str(r#"{"a":{"b":1},"c":"@@any@@"}"#).expect("json");
    assert!(describes(&shown, &serde_json::json!({"a":{"b":1},"c":{"d":[1]}})));
    assert!(!describes(&shown, &serde_json::json!({"a":{"b":2},"c":1})));
    assert!(!describes(&shown, &serde_json::json!({"a":{"b":1},"c":1,"e":0})));
}
