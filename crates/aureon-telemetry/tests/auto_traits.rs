//! Which handles may cross threads: shared handles and their timers are `Send + Sync`;
//! thread-bound recorders (and timers on them) are neither, so the compiler keeps them on the
//! thread whose slot they claim. Checked at compile time: this file builds (as part of
//! `cargo test`) only if every assertion holds; it has no test functions to run.

use aureon_telemetry::{
    Counter, Gauge, Histogram, LocalCounter, LocalHistogram, Registry, SnapshotReader, Timer,
};
use static_assertions::{assert_impl_all, assert_not_impl_any};

assert_impl_all!(Histogram: Send, Sync, Clone);
assert_impl_all!(Counter: Send, Sync, Clone);
assert_impl_all!(Gauge: Send, Sync, Clone);
assert_impl_all!(Registry: Send, Sync, Clone);
assert_impl_all!(SnapshotReader: Send, Sync, Clone);
// A timer may be held across an `.await` in a `Send` future.
assert_impl_all!(Timer<'static>: Send, Sync);

assert_not_impl_any!(LocalHistogram: Send, Sync);
assert_not_impl_any!(LocalCounter: Send, Sync);
assert_not_impl_any!(Timer<'static, LocalHistogram>: Send, Sync);
