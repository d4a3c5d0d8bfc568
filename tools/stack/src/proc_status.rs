//! Memory figures of a running process from Linux's `/proc/<pid>/status`.

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, …), or `None` where `/proc` does not
/// tell (the process is gone, or this is not Linux).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_size_and_a_peak_at_least_as_large() {
        let pid = std::process::id();
        let rss = status_kib(pid, "VmRSS").expect("VmRSS on Linux");
        let peak = status_kib(pid, "VmHWM").expect("VmHWM on Linux");
        assert!(rss > 0 && peak >= rss, "{rss} {peak}");
        assert_eq!(status_kib(pid, "NoSuchField"), None);
    }
}
