//! The standard `process_*` metrics of this process, read from `/proc` on each
//! scrape (Linux; elsewhere they are left out): resident and virtual memory,
//! CPU seconds, open and maximum file descriptors, start time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The collector registered with the service's registry.
#[derive(Debug)]
pub struct ProcessCollector;

/// What `/proc` says about this process.
#[derive(Debug, Default, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    resident_bytes: i64,
    virtual_bytes: i64,
    start_time_seconds: f64,
    open_fds: i64,
    max_fds: i64,
}

/// `(utime + stime) / ticks`, vsize, rss pages and start ticks from `/proc/self/stat`.
fn parse_stat(stat: &str, ticks: f64, page: i64, boot_time: f64) -> Option<(f64, i64, i64, f64)> {
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3 of the man page, so field N is f[N - 3].
    let num = |n: usize| f.get(n - 3)?.parse::<f64>().ok();
    let cpu = (num(14)? + num(15)?) / ticks;
    let start = boot_time + num(22)? / ticks;
    let vsize = num(23)? as i64;
    let rss = num(24)? as i64 * page;
    Some((cpu, vsize, rss, start))
}

fn sample() -> Option<Sample> {
    // The kernel's USER_HZ is 100 on every Linux platform Rust targets here, and pages are 4 KiB.
    let (ticks, page) = (100.0, 4096);
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    let (cpu_seconds, virtual_bytes, resident_bytes, start_time_seconds) =
        parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?, ticks, page, boot_time)?;
    let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as i64);
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines().find(|l| l.starts_with("Max open files"))?.split_whitespace().nth(3)?.parse::<i64>().ok()
        })
        .unwrap_or(0);
    Some(Sample { cpu_seconds, resident_bytes, virtual_bytes, start_time_seconds, open_fds, max_fds })
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = sample() else { return Ok(()) };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        for (name, help, value) in [
            ("process_resident_memory_bytes", "Resident memory size in bytes", s.resident_bytes as f64),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes", s.virtual_bytes as f64),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                s.start_time_seconds,
            ),
            ("process_open_fds", "Number of open file descriptors", s.open_fds as f64),
            ("process_max_fds", "Maximum number of open file descriptors", s.max_fds as f64),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_after_the_command_name_even_with_spaces_in_it() {
        let stat =
            "4242 (auth service) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 9 0 1000 123456789 2048 rest";
        let (cpu, vsize, rss, start) = parse_stat(stat, 100.0, 4096, 1_700_000_000.0).expect("parsed");
        assert_eq!(cpu, 3.0, "(250 + 50) ticks");
        assert_eq!((vsize, rss), (123_456_789, 2048 * 4096));
        assert_eq!(start, 1_700_000_010.0, "boot time + 1000 ticks");
    }

    #[test]
    fn this_process_is_sampled() {
        let s = sample().expect("/proc is there on Linux");
        assert!(s.resident_bytes > 0 && s.open_fds > 0 && s.max_fds >= s.open_fds, "{s:?}");
    }
}
