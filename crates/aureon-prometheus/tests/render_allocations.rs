//! Rendering allocates sparingly: with a warm [`Renderer`] and a reused output buffer,
//! rendering a 1000-metric snapshot in any format allocates nothing at all. Counted with a
//! global allocator that counts this thread's allocations only (the test harness' other
//! threads do not disturb it).

use aureon_prometheus::{ExportOptions, Format, HistogramMode, Renderer};
use aureon_telemetry::Registry;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the thread-local
// counter is a const-initialised `Cell` without destructor, so touching it never allocates
// or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout, under the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged, under the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn a_warm_render_of_1000_metrics_allocates_nothing() {
    let r = Registry::new();
    for i in 0..300u64 {
        let op = format!("op{}", i % 30);
        let h = r.histogram_with(&format!("latency_{}", i / 30), &[("op", &op)]);
        for v in 0..50 {
            h.record(100 + v * 37 * (i + 1));
        }
        h.record_with_exemplar(90_000 + i, i);
    }
    for i in 0..400u64 {
        r.counter_with("events_total", &[("kind", &format!("k{i}"))])
            .increment(i);
    }
    for i in 0..300u64 {
        r.gauge(&format!("gauge_{i}")).set(i as f64 / 3.0);
    }
    let snapshot = r.snapshot();
    assert_eq!(snapshot.len(), 1000);
    let options = ExportOptions::builder()
        .histogram_mode(HistogramMode::Both)
        .const_label("node", "a")
        .build()
        .unwrap();
    for format in [
        Format::PrometheusText,
        Format::OpenMetrics,
        Format::Protobuf,
    ] {
        let mut renderer = Renderer::new();
        let mut out = Vec::new();
        let cold = allocations();
        renderer.render_into(&snapshot, format, &options, &mut out);
        assert!(
            allocations() > cold,
            "the counter sees the cold render's allocations"
        );
        let first = out.clone();
        out.clear();
        let before = allocations();
        renderer.render_into(&snapshot, format, &options, &mut out);
        let during = allocations() - before;
        assert_eq!(out, first);
        assert_eq!(
            during, 0,
            "{format:?}: a warm render allocated {during} times"
        );
    }
}
