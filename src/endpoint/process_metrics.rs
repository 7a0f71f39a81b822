//! `netpulse_build_info` and the standard `process_*` metrics every
//! Prometheus client library exports, rendered fresh on every scrape.
//! A value the platform cannot give is left out, never written as 0.

use std::fmt::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage};

use crate::bounded_read::read_at_most;

static STARTED: OnceLock<SystemTime> = OnceLock::new();

/// Remember when the agent started; the first call wins. Called when the
/// endpoint is created, which the agent does while starting.
pub fn mark_start() {
    STARTED.get_or_init(SystemTime::now);
}

/// The build-info line and the process metrics, appended to `o`.
pub fn render(o: &mut String, source: &str) {
    header(
        o,
        "netpulse_build_info",
        "gauge",
        "Always 1; the labels say which build runs and which socket source it reads.",
    );
    let _ = writeln!(
        o,
        "netpulse_build_info{{version=\"{}\",platform=\"{}\",source=\"{source}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
    );
    if let Ok(u) = getrusage(UsageWho::RUSAGE_SELF) {
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        header(
            o,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, seconds.",
        );
        let _ = writeln!(
            o,
            "process_cpu_seconds_total {}",
            secs(u.user_time()) + secs(u.system_time())
        );
    }
    if let Some(rss) = resident_bytes() {
        header(
            o,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size, bytes.",
        );
        let _ = writeln!(o, "process_resident_memory_bytes {rss}");
    }
    if let Some(n) = open_fds() {
        header(o, "process_open_fds", "gauge", "Open file descriptors.");
        let _ = writeln!(o, "process_open_fds {n}");
    }
    if let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) {
        header(
            o,
            "process_max_fds",
            "gauge",
            "Limit on open file descriptors.",
        );
        let _ = writeln!(o, "process_max_fds {soft}");
    }
    if let Some(start) = STARTED
        .get()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
    {
        header(
            o,
            "process_start_time_seconds",
            "gauge",
            "Start time of the agent, seconds since the Unix epoch.",
        );
        let _ = writeln!(o, "process_start_time_seconds {:.3}", start.as_secs_f64());
    }
}

fn header(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Linux: the second field of `/proc/self/statm`, in pages.
fn resident_bytes() -> Option<u64> {
    let text = read_at_most(Path::new("/proc/self/statm"), 4096).ok()?;
    let pages: u64 = std::str::from_utf8(&text)
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok()??;
    Some(pages * page as u64)
}

/// Linux: the entries of `/proc/self/fd` (the directory's own descriptor
/// included, as other exporters count it).
fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn build_info_and_process_metrics() {
        mark_start();
        let mut o = String::new();
        render(&mut o, "linux");
        assert!(
            o.contains(&format!(
                "netpulse_build_info{{version=\"{}\",platform=\"{}\",source=\"linux\"}} 1",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS
            )),
            "{o}"
        );
        let start = value(&o, "process_start_time_seconds").expect("start time");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "{start} vs {now}"
        );
        assert!(value(&o, "process_cpu_seconds_total").unwrap() >= 0.0);
        assert!(value(&o, "process_max_fds").unwrap() >= 1.0);
        if cfg!(target_os = "linux") {
            // This test process holds at least stdin/stdout/stderr.
            assert!(value(&o, "process_open_fds").unwrap() >= 3.0, "{o}");
            // More than a megabyte resident: a test binary is larger.
            assert!(
                value(&o, "process_resident_memory_bytes").unwrap() > 1e6,
                "{o}"
            );
        }
    }
}
