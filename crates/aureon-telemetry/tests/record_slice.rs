//! `record_slice` on both recorders equals the same values recorded one by one, and a
//! reference `hdrhistogram::Histogram` fed them: counts per bin, min, max, sum, clamped
//! values (above the trackable range), from several threads at once.

use aureon_telemetry::{Histogram, HistogramConfig};

/// Latencies over five decades (1 µs .. 100 s in ns) from a fixed xorshift stream, plus a few
/// values above the trackable range.
fn values(seed: u64, n: usize, highest: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 97 == 0 {
                highest + 1 + x % 1000
            } else {
                let decade = 10u64.pow(3 + (x % 6) as u32);
                decade + (x >> 8) % (decade * 9)
            }
        })
        .collect()
}

#[test]
fn record_slice_equals_single_records_and_hdrhistogram_from_several_threads() {
    let config = HistogramConfig::default();
    let highest = config.highest_trackable;
    let sliced = Histogram::new(config).unwrap();
    let single = Histogram::new(config).unwrap();
    let mut reference = hdrhistogram::Histogram::<u64>::new_with_bounds(
        config.lowest_discernible.max(1),
        highest,
        config.significant_figures,
    )
    .unwrap();
    // Fewer under Miri, which checks the same unsafe page writes on fewer values.
    let per_thread = if cfg!(miri) { 40 } else { 5_000 };
    let batches: Vec<Vec<u64>> = (0..4).map(|t| values(t + 1, per_thread, highest)).collect();
    std::thread::scope(|s| {
        for (t, batch) in batches.iter().enumerate() {
            let (sliced, single) = (&sliced, &single);
            s.spawn(move || {
                if t % 2 == 0 {
                    for chunk in batch.chunks(37) {
                        sliced.record_slice(chunk);
                    }
                } else {
                    let local = sliced.local();
                    for chunk in batch.chunks(64) {
                        local.record_slice(chunk);
                    }
                    local.record_slice(&[]);
                }
                batch.iter().for_each(|&v| single.record(v));
            });
        }
    });
    let all: Vec<u64> = batches.concat();
    for &v in &all {
        reference.saturating_record(v.min(highest));
    }
    let (a, b) = (sliced.snapshot(), single.snapshot());
    assert_eq!(a.count(), all.len() as u64);
    assert_eq!(a.count(), b.count());
    assert_eq!(a.min(), *all.iter().min().unwrap());
    assert_eq!(a.max(), *all.iter().max().unwrap());
    assert_eq!(a.sum(), all.iter().map(|&v| u128::from(v)).sum::<u128>());
    assert_eq!(
        a.clamped(),
        all.iter().filter(|&&v| v > highest).count() as u64
    );
    assert_eq!(a.clamped(), b.clamped());
    let bins_a: Vec<_> = a.bins().map(|x| (x.low, x.count)).collect();
    let bins_b: Vec<_> = b.bins().map(|x| (x.low, x.count)).collect();
    assert_eq!(bins_a, bins_b);
    let bins_ref: Vec<_> = reference
        .iter_recorded()
        .map(|v| {
            (
                reference.lowest_equivalent(v.value_iterated_to()),
                v.count_at_value(),
            )
        })
        .collect();
    assert_eq!(bins_a, bins_ref);
}
