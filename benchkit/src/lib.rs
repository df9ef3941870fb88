//! What the component benchmarks (`cargo bench` in apiserver, controllers, scheduler) share:
//! sizes from the environment, free loopback ports, child processes stopped on drop, and the
//! CPU time and memory of a process read from `/proc`. A benchmark harness fails loudly, like
//! a test, so these panic where the machine cannot give an answer at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Child;

/// A size from the environment variable `name`, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process, killed and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user + system), in seconds, the process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime: fields 14 and 15 of /proc/pid/stat, 12 and 13 after the ')'; the
    // kernel counts them in USER_HZ, 100 on Linux.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// A `/proc/<pid>/status` size in MiB, by its field name with the colon: `VmRSS:` now,
/// `VmHWM:` the peak.
pub fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The process's resident set now, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        // Burn a little CPU so the count is not zero.
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        assert!(x > 0);
        assert!(cpu_seconds(me) > 0.0);
        assert!(rss_mib(me) > 0.0);
        assert!(status_mib(me, "VmHWM:") >= rss_mib(me) * 0.5);
        assert_eq!(status_mib(me, "NoSuchField:"), 0.0);
        assert_ne!(free_port(), 0);
        assert_eq!(env_or("BENCHKIT_SURELY_UNSET", 7), 7);
    }
}
