//! Phase timings on stderr when `IDRISK_TRACE` is set: for finding where a run spends its
//! time without a profiler. Off by default and free when off.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("IDRISK_TRACE").is_some())
}

/// Prints how long it lived and how many fresh pages the process touched meanwhile (page
/// faults: on these machines, zeroing fresh memory costs as much CPU as some phases), when
/// tracing is on. Faults are the whole process's, so phases that overlap share them.
pub struct Span {
    name: std::borrow::Cow<'static, str>,
    start: Option<(Instant, u64)>,
}

/// Starts timing a phase.
pub fn span(name: impl Into<std::borrow::Cow<'static, str>>) -> Span {
    Span {
        name: name.into(),
        start: enabled().then(|| (Instant::now(), minor_faults())),
    }
}

/// The process's minor page faults so far (Linux; 0 elsewhere).
fn minor_faults() -> u64 {
    // Field 10 of /proc/self/stat, counted after the command name, which may hold spaces.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after_name = s.rsplit_once(')')?.1;
            after_name.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Prints a measured quantity, when tracing is on.
pub fn note(name: &str, value: impl std::fmt::Display) {
    if enabled() {
        eprintln!("[trace] {name:<28} {value:>9}");
    }
}

/// Prints the resident set size now and its peak so far, when tracing is on (Linux; silent
/// elsewhere).
pub fn rss(name: &str) {
    if !enabled() {
        return;
    }
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    let kilobytes = |field: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(field))?;
        line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    if let (Some(now), Some(peak)) = (kilobytes("VmRSS:"), kilobytes("VmHWM:")) {
        note(name, format!("{} MB, peak {} MB", now / 1000, peak / 1000));
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some((start, faults)) = self.start {
            eprintln!(
                "[trace] {:<28} {:>9.1} ms {:>8} faults",
                self.name,
                start.elapsed().as_secs_f64() * 1e3,
                minor_faults().saturating_sub(faults)
            );
        }
    }
}

/// Waits for a child process and returns its exit code (`None` when a signal ended it) and
/// its own peak resident memory in KiB, as the kernel accounted it for that child alone:
/// what the benches and tests that measure memory read.
#[cfg(target_os = "linux")]
pub fn wait_with_peak_rss(child: std::process::Child) -> std::io::Result<(Option<i32>, u64)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for this one child, which it reaps
    // (std's own wait would then find it gone, so the handle is dropped unwaited).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        return Err(std::io::Error::last_os_error());
    }
    drop(child);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok((code, usage.ru_maxrss.max(0) as u64))
}
