//! Loom models of every lock-free protocol in `aureon-telemetry`, written against the real
//! code through its public API.
//!
//! Nothing here is a copy of the algorithms: the core routes its atomics, locks and
//! thread-locals through its `sync` shim, which becomes loom's under
//! `RUSTFLAGS="--cfg aureon_loom"`, so these models drive the same `record`, `snapshot`,
//! `tick` and `shutdown` code a node runs, with loom choosing every interleaving and every
//! value a weakly ordered load may return. Under that cfg the core also shrinks its pages to
//! 4 counts, and the models use histograms of 4 to 9 bins, so each model's state space stays
//! small enough to be explored exhaustively up to the preemption bound. The `throughput`
//! module does the same for aureon-node's `ThroughputTracker`, whose own `sync` shim follows
//! the same cfg.
//!
//! Run them with `loom-tests/run.sh`. Without the cfg this crate is empty, so a normal
//! workspace `cargo test` builds nothing from it and never compiles loom.
//!
//! Which model checks which protocol, and what loom does not cover, is in the repository's
//! `docs/concurrency.md`.
//!
//! Three rules every model follows, all forced by how loom 0.7 runs a model (details in
//! `support.rs`):
//! * **The model's main thread never records.** Loom drops its lazy statics (the core's slot
//!   allocator among them) before the main thread's thread-locals, so a slot taken by the
//!   main thread could not be given back. Only spawned threads record; the main thread reads,
//!   ticks and joins.
//! * **The main thread drops the last handle, after joining.** A handle dropped last on a
//!   spawned thread would free shards from a thread that never synchronised with their other
//!   users (`std::sync::Arc`'s own fences are invisible to loom), which loom reports as a
//!   causality violation that real hardware would not have.
//! * **Writers first, then reads; `join_all`, not `join`.** A reader that reads before the
//!   writers start hides the races from loom's search (it would explore one execution), and
//!   loom's `join` returns before the thread's thread-local destructors (which give its slot
//!   back) have run.

#[cfg(all(test, aureon_loom))]
mod support;

#[cfg(all(test, aureon_loom))]
mod counter;
#[cfg(all(test, aureon_loom))]
mod exemplar;
#[cfg(all(test, aureon_loom))]
mod expiry;
#[cfg(all(test, aureon_loom))]
mod per_thread;
#[cfg(all(test, aureon_loom))]
mod registry;
#[cfg(all(test, aureon_loom))]
mod shard;
#[cfg(all(test, aureon_loom))]
mod snapshotter;
#[cfg(all(test, aureon_loom))]
mod thread_slot;
#[cfg(all(test, aureon_loom))]
mod throughput;
#[cfg(all(test, aureon_loom))]
mod wide_sum;
