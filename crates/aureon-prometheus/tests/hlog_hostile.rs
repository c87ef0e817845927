//! Hostile interval logs (`aureon-monitor report --from FILE` reads whatever it is given):
//! the regression tests of what fuzzing `hlog::read` found (fuzz/fuzz_targets/hlog_read.rs,
//! docs/fuzzing.md). Each is an error, never a panic, and costs no more memory than the
//! bytes present justify: a global allocator records the largest single allocation this
//! thread asks for.

use aureon_prometheus::hlog::{self, HlogError, MAX_DECODED_HISTOGRAM_BYTES};
use base64::Engine as _;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write as _;

struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|c| c.set(c.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the thread-local is a
// const-initialised `Cell` without destructor, so touching it never allocates or re-enters.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout, under the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded unchanged, under the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Largest = Largest;

/// Runs `f` and returns its result with the largest allocation it made.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|c| c.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;

/// A V2 header (HdrHistogram's layout) for a 1..=1000, 2-digit histogram that declares
/// `declared` bytes of counts, followed by `counts`.
fn v2(declared: u32, counts: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&V2_COOKIE.to_be_bytes());
    b.extend_from_slice(&declared.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes()); // normalizing offset
    b.extend_from_slice(&2u32.to_be_bytes()); // significant digits
    b.extend_from_slice(&1u64.to_be_bytes()); // lowest discernible
    b.extend_from_slice(&1000u64.to_be_bytes()); // highest trackable
    b.extend_from_slice(&1.0f64.to_be_bytes()); // integer to double ratio
    b.extend_from_slice(counts);
    b
}

fn deflated(inner: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(inner).unwrap();
    let z = z.finish().unwrap();
    let mut b = Vec::new();
    b.extend_from_slice(&V2_DEFLATE_COOKIE.to_be_bytes());
    b.extend_from_slice(&u32::try_from(z.len()).unwrap().to_be_bytes());
    b.extend_from_slice(&z);
    b
}

fn log_line(histogram: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(histogram);
    format!("0.000,1.000,1.000,{b64}\n").into_bytes()
}

#[test]
fn a_histogram_declaring_4_gib_of_counts_is_refused_without_allocating_them() {
    // Found by fuzzing: a 60-byte line made the decoder reserve the declared length.
    for encoded in [v2(u32::MAX, &[2]), deflated(&v2(u32::MAX, &[2]))] {
        let (read, largest) = largest_allocation(|| hlog::read(&log_line(&encoded)));
        let Err(HlogError::Deserialize {
            interval: 0,
            reason,
        }) = read
        else {
            panic!("expected a Deserialize error, got {read:?}");
        };
        assert!(reason.contains("declares 4294967295 bytes"), "{reason}");
        assert!(largest < 1 << 20, "allocated {largest} bytes at once");
    }
}

#[test]
fn the_same_histogram_with_its_true_length_reads() {
    // The control: the refusal above is about the length, not the encoding. Counts: one
    // value in bin 0 (zig-zag varint 2 = count 1).
    for encoded in [v2(1, &[2]), deflated(&v2(1, &[2]))] {
        let log = hlog::read(&log_line(&encoded)).unwrap();
        assert_eq!(log.intervals.len(), 1);
        assert_eq!(log.intervals[0].histogram.len(), 1);
        assert_eq!(log.intervals[0].histogram.sigfig(), 2);
    }
}

#[test]
fn a_deflate_bomb_is_cut_off_at_the_documented_size() {
    // Declares (and holds) more counts than any real histogram has: zeros inflate ~1000:1.
    let huge = MAX_DECODED_HISTOGRAM_BYTES + 1024;
    let declared = u32::try_from(huge).unwrap();
    let encoded = deflated(&v2(declared, &vec![0; huge]));
    assert!(encoded.len() < 1 << 20, "the bomb itself is small");
    let (read, largest) = largest_allocation(|| hlog::read(&log_line(&encoded)));
    let Err(HlogError::Deserialize { reason, .. }) = read else {
        panic!("expected a Deserialize error, got {read:?}");
    };
    assert!(reason.contains("inflates to more than"), "{reason}");
    assert!(
        largest <= 2 * MAX_DECODED_HISTOGRAM_BYTES + 4096,
        "{largest}"
    );
}

#[test]
fn times_beyond_system_time_are_errors_not_panics() {
    let line = log_line(&v2(1, &[2]));
    let huge = u64::MAX;
    for header in [
        format!("#[BaseTime: {huge}.000 (seconds since epoch)]\n"),
        format!("#[StartTime: {huge}.000 (seconds since epoch)]\n"),
    ] {
        let mut log = header.into_bytes();
        log.extend_from_slice(&line);
        let err = hlog::read(&log).unwrap_err();
        assert!(
            matches!(err, HlogError::TimeOutOfRange { interval: None }),
            "{err:?}"
        );
        assert!(err.to_string().contains("out of range"), "{err}");
    }
    // A representable BaseTime, but an interval starting too long after it.
    let base = (i64::MAX as u64) / 2;
    let far = format!(
        "#[BaseTime: {base}.000 (seconds since epoch)]\n{base}.000,{base}.000,1.000,{}\n",
        base64::engine::general_purpose::STANDARD.encode(v2(1, &[2]))
    );
    let err = hlog::read(far.as_bytes()).unwrap_err();
    assert!(
        matches!(err, HlogError::TimeOutOfRange { interval: Some(0) }),
        "{err:?}"
    );
}
