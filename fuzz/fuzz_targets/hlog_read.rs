//! `aureon_prometheus::hlog::read` (what `aureon-monitor report|plot --from FILE` runs) on
//! arbitrary bytes.
//!
//! Oracle: no panic; no unbounded allocation (scripts/fuzz.sh runs with `-rss_limit_mb` and
//! `-malloc_limit_mb`); a log that reads is self-consistent: every interval's histogram
//! holds as many values as its counts add up to, and its wall-clock start is computable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(log) = aureon_prometheus::hlog::read(data) else {
        return;
    };
    for interval in &log.intervals {
        let h = &interval.histogram;
        let counted: u64 = h.iter_recorded().map(|v| v.count_at_value()).sum();
        assert_eq!(counted, h.len(), "counts add up to the total");
        let _ = log.absolute_start(interval);
    }
});
