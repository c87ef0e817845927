//! Held facade handles record without allocating, which also proves they never look the
//! metric up in the registry: a lookup builds a `MetricKey`, and that allocates. A positive
//! control checks that the counting allocator does see a registration; a macro run again for
//! a known key allocates nothing either (the recorder's handle cache).
//!
//! Its own test binary because it installs a counting global allocator; counts are per
//! thread, so the test harness's other threads cannot disturb them.

use aureon_metrics::AureonRecorder;
use aureon_telemetry::Registry;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the only addition is a
// const-initialised thread-local counter, which itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn held_handles_allocate_nothing_after_first_touch() {
    let registry = Registry::new();
    let recorder = AureonRecorder::new(registry.clone());
    let (c, g, h) = metrics::with_local_recorder(&recorder, || {
        (
            metrics::counter!("c", "k" => "v"),
            metrics::gauge!("g"),
            metrics::histogram!("h"),
        )
    });
    // First touch: this thread's counter cell and histogram shard/page are created.
    c.increment(1);
    h.record(0.001);
    let hot = allocations_during(|| {
        for i in 0..10_000u32 {
            c.increment(1);
            g.set(f64::from(i));
            g.increment(1.0);
            h.record(0.001 + f64::from(i % 100) * 1e-9); // stays in the page touched above
        }
    });
    assert_eq!(hot, 0, "recording through held handles allocated");

    let control = allocations_during(|| {
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("new", "k" => "v").increment(1)
        });
    });
    assert!(
        control > 0,
        "the allocation counter does not see a registration"
    );

    // A macro run again for a known key finds its handle in the recorder's cache: no
    // allocation, so no registry lookup either.
    let again = allocations_during(|| {
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..100 {
                metrics::counter!("c", "k" => "v").increment(1);
                metrics::histogram!("h").record(0.001);
            }
        });
    });
    assert_eq!(again, 0, "a repeated registration allocated");
    assert_eq!(
        registry.snapshot().counter_with("c", &[("k", "v")]),
        Some(10_101)
    );
}
