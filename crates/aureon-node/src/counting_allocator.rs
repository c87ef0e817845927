//! [`CountingAllocator`]: a global allocator a binary may install so that the stress test can
//! measure the heap memory it really used.
//!
//! Installing it is the binary's choice (`#[global_allocator]`); the library never does. It
//! forwards every call to [`System`] and, for threads inside a measurement
//! ([`measure_heap`]), adds the bytes they allocate and subtracts the bytes they free, keeping
//! the peak of that running sum. Threads outside a measurement pay one thread-local read per
//! allocation; only measured threads touch the shared counters. The thread-local is a `const`
//! `Cell<bool>` with no destructor, so reading it inside the allocator never allocates.
//!
//! Limits, said plainly: the figure is heap bytes requested by the measured threads (not
//! allocator overhead, thread stacks or memory mapped by other means); memory allocated before
//! a measurement and freed inside it lowers the running sum, so the peak may read low by at
//! most that much; memory allocated inside and freed after is counted (it was used). One
//! measurement runs at a time (others wait), because the counters are process-wide.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// A global allocator that forwards to [`System`] and counts the measured threads' bytes.
///
/// ```no_run
/// use aureon_node::counting_allocator::CountingAllocator;
/// #[global_allocator]
/// static ALLOCATOR: CountingAllocator = CountingAllocator;
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator;

/// Whether any allocation went through a [`CountingAllocator`] (i.e. it is installed).
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed by measured threads since the measurement began.
static CURRENT: AtomicI64 = AtomicI64::new(0);
/// The largest value `CURRENT` reached during the measurement.
static PEAK: AtomicI64 = AtomicI64::new(0);
/// Serialises measurements (the counters above are process-wide).
static MEASUREMENT: Mutex<()> = Mutex::new(());

std::thread_local! {
    static MEASURED: Cell<bool> = const { Cell::new(false) };
}

fn measured() -> bool {
    // `try_with`: allocations during thread teardown, after the thread-local is gone, are
    // simply not counted.
    MEASURED.try_with(Cell::get).unwrap_or(false)
}

fn note_installed() {
    // Read first: after the first allocation this never writes the shared flag again.
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
}

fn grow(bytes: usize) {
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    let now = CURRENT
        .fetch_add(bytes, Ordering::Relaxed)
        .saturating_add(bytes);
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(bytes: usize) {
    CURRENT.fetch_sub(i64::try_from(bytes).unwrap_or(i64::MAX), Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so this
// allocator upholds exactly `System`'s guarantees; the bookkeeping around the calls only
// touches atomics and a `const` thread-local, which neither allocate nor unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        note_installed();
        if !p.is_null() && measured() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        note_installed();
        if !p.is_null() && measured() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation of this
        // allocator is `System`'s), as the caller guarantees for this allocator.
        unsafe { System.dealloc(ptr, layout) };
        if measured() {
            shrink(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, `ptr`/`layout` come from `System`; `new_size` meets the
        // caller's contract for `realloc`, passed on unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && measured() {
            if new_size >= layout.size() {
                grow(new_size - layout.size());
            } else {
                shrink(layout.size() - new_size);
            }
        }
        p
    }
}

/// Whether a [`CountingAllocator`] is the global allocator of this process (it has seen an
/// allocation).
pub fn is_installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// A running measurement, lent to the closure of [`measure_heap`]; threads it spawns call
/// [`HeapMeasurement::enter`] to be counted too.
#[derive(Debug)]
pub struct HeapMeasurement {
    _private: (),
}

/// While alive, the current thread's allocations are counted in the running measurement.
#[derive(Debug)]
#[must_use = "the thread is counted only while the guard is alive"]
pub struct MeasuredThread {
    was: bool,
}

impl HeapMeasurement {
    /// Counts the calling thread's allocations until the guard is dropped. Call it first
    /// thing in threads spawned (and joined) inside the measurement.
    pub fn enter(&self) -> MeasuredThread {
        MeasuredThread {
            was: MEASURED.with(|m| m.replace(true)),
        }
    }
}

impl Drop for MeasuredThread {
    fn drop(&mut self) {
        let was = self.was;
        let _ = MEASURED.try_with(|m| m.set(was));
    }
}

/// Runs `f` with the calling thread measured and returns its result with the peak heap bytes
/// the measured threads held at once (see the module docs for what counts). The byte figure
/// is `None` when no [`CountingAllocator`] is installed.
pub fn measure_heap<R>(f: impl FnOnce(&HeapMeasurement) -> R) -> (R, Option<u64>) {
    let _one_at_a_time = MEASUREMENT.lock().unwrap_or_else(|e| e.into_inner());
    CURRENT.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    let measurement = HeapMeasurement { _private: () };
    let result = {
        let _me = measurement.enter();
        f(&measurement)
    };
    // Threads entered inside `f` were joined inside it (their guards dropped there), and the
    // join ordered their counter updates before this load.
    let peak = PEAK.load(Ordering::Relaxed);
    (
        result,
        is_installed().then(|| u64::try_from(peak).unwrap_or(0)),
    )
}
