//! Running a child process while sampling its peak resident memory and CPU time from `/proc`.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// What a finished child used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// User and system CPU seconds (`/proc/PID/stat`, last sample before exit).
    pub cpu_s: f64,
    /// Peak resident set size in MiB (`VmHWM` of `/proc/PID/status`, last sample before exit).
    pub peak_rss_mib: f64,
}

/// How often `/proc` is read: growth in the last interval before exit is missed.
const INTERVAL: Duration = Duration::from_millis(100);

/// Clock ticks per second of `/proc/PID/stat` (Linux's `USER_HZ`).
const USER_HZ: f64 = 100.0;

/// Runs `command` to the end; an exit status other than success is an error naming `what`.
pub fn run(command: &mut Command, what: &str) -> Result<Usage> {
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let proc = format!("/proc/{}", child.id());
    let mut usage = Usage::default();
    let status = loop {
        if let Some(rss) = std::fs::read_to_string(format!("{proc}/status"))
            .ok()
            .and_then(|s| peak_kib(&s))
        {
            usage.peak_rss_mib = usage.peak_rss_mib.max(rss / 1024.0);
        }
        if let Some(cpu) = std::fs::read_to_string(format!("{proc}/stat"))
            .ok()
            .and_then(|s| cpu_ticks(&s))
        {
            usage.cpu_s = usage.cpu_s.max(cpu / USER_HZ);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(INTERVAL);
    };
    usage.wall_s = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(usage)
}

/// `VmHWM` in KiB from the text of `/proc/PID/status`.
fn peak_kib(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `utime + stime` in clock ticks from the text of `/proc/PID/stat` (fields 14 and 15; the
/// command name in parentheses may hold spaces, so fields are counted after its `)`).
fn cpu_ticks(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let (user, system): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some(user + system)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields_are_read() {
        assert_eq!(
            peak_kib("Name:\tpelt\nVmPeak:\t 9 kB\nVmHWM:\t 5308160 kB\n"),
            Some(5308160.0)
        );
        let stat = "123 (pelt (x) y) S 1 2 3 4 5 6 7 8 9 10 1500 250 0 0";
        assert_eq!(cpu_ticks(stat), Some(1750.0));
    }

    #[test]
    fn a_child_is_measured_and_a_failure_named() {
        let usage = run(Command::new("sh").args(["-c", "sleep 0.3"]), "sleep").unwrap();
        assert!(usage.wall_s >= 0.3 && usage.peak_rss_mib > 0.0, "{usage:?}");
        let err = run(Command::new("false").arg(""), "false").unwrap_err();
        assert!(err.to_string().contains("false failed"), "{err}");
    }
}
