//! The process's resident memory, read from Linux's `/proc/self/status`.
//!
//! Used by the dashboard's memory rule (`VmRSS`) and, when no counting allocator is
//! installed, by the stress test (`VmHWM`, the resident high-water mark, which writing `5` to
//! `/proc/self/clear_refs` resets to the current resident size; Linux ≥ 4.0). Elsewhere, or
//! when `/proc` cannot be read, every function says so (`None` / an error) rather than
//! guessing: a rule without data is skipped, never fed an invented figure.

use std::io;

/// The process's resident set size in bytes (`VmRSS`), or `None` where `/proc/self/status`
/// cannot be read (not Linux, or `/proc` not mounted).
pub fn resident_bytes() -> Option<u64> {
    status_field("VmRSS:")
}

/// The process's peak resident set size in bytes (`VmHWM`) since it started or since the
/// last [`reset_peak_resident`], or `None` where it cannot be read.
pub fn peak_resident_bytes() -> Option<u64> {
    status_field("VmHWM:")
}

/// Resets the peak resident set size (`VmHWM`) to the current resident size by writing `5`
/// to `/proc/self/clear_refs`. This is process-wide: anything else reading `VmHWM` sees the
/// reset too.
///
/// # Errors
/// The I/O error of opening or writing the file (not Linux, a kernel before 4.0, or a
/// sandbox that forbids it).
pub fn reset_peak_resident() -> io::Result<()> {
    std::fs::write("/proc/self/clear_refs", b"5")
}

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_kib_field(&status, name)
}

/// Finds `name` (e.g. `VmRSS:`) in `/proc/self/status` text and returns its value, given in
/// kB (KiB, as the kernel means it), in bytes.
fn parse_kib_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let mut parts = line[name.len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;

    #[test]
    fn parses_kib_fields_and_rejects_malformed_ones() {
        let text = "Name:\ttest\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nVmBad:\t12\n";
        assert_eq!(parse_kib_field(text, "VmRSS:"), Some(1024 * 1024));
        assert_eq!(parse_kib_field(text, "VmHWM:"), Some(2048 * 1024));
        assert_eq!(parse_kib_field(text, "VmBad:"), None);
        assert_eq!(parse_kib_field(text, "VmSwap:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn resident_memory_is_read_and_grows_with_touched_memory() {
        let before = resident_bytes().expect("/proc/self/status is readable on Linux");
        // 64 MiB, written so the pages are really resident.
        let block = vec![1u8; 64 << 20];
        let after = resident_bytes().unwrap();
        assert!(
            std::hint::black_box(&block)
                .iter()
                .step_by(4096)
                .all(|&b| b == 1)
        );
        // Other tests run concurrently and may free memory, but not 48 MiB of resident pages
        // in the same instant.
        assert!(
            after >= before + (48 << 20),
            "before {before}, after {after}"
        );
        // Only that it reads: another test may reset the high-water mark at any moment.
        assert!(peak_resident_bytes().is_some());
    }
}
