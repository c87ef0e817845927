//! The clock behind timers: `quanta` (TSC-based, ~10 ns a read here against ~24 ns for
//! `std::time::Instant`), or `std` where quanta cannot run (Miri, loom models).

#[cfg(not(any(miri, aureon_loom)))]
pub use quanta::Instant;

#[cfg(any(miri, aureon_loom))]
pub use std::time::Instant;
