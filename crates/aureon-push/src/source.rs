//! Where the sender takes snapshots from: something that already publishes them.

use aureon_telemetry::{Snapshot, SnapshotReader};
use std::sync::Arc;

/// A source of published snapshots. The pusher asks for the latest one each interval and
/// sends it only when its [`Snapshot::sequence`] is new, so reading is cheap and nothing is
/// merged for the sender's sake.
pub trait SnapshotSource: Send + 'static {
    /// The most recently published snapshot.
    fn latest(&self) -> Arc<Snapshot>;
}

impl SnapshotSource for SnapshotReader {
    fn latest(&self) -> Arc<Snapshot> {
        SnapshotReader::latest(self)
    }
}

/// A [`SnapshotSource`] made of a closure (see [`from_fn`]).
#[derive(Debug, Clone)]
pub struct FromFn<F>(F);

/// A source that calls `f` for the latest snapshot, e.g. one that hands out what the
/// application's own loop published.
pub fn from_fn<F>(f: F) -> FromFn<F>
where
    F: Fn() -> Arc<Snapshot> + Send + 'static,
{
    FromFn(f)
}

impl<F> SnapshotSource for FromFn<F>
where
    F: Fn() -> Arc<Snapshot> + Send + 'static,
{
    fn latest(&self) -> Arc<Snapshot> {
        (self.0)()
    }
}

/// The source type to name for [`Pusher::spawn_with_transport`](crate::Pusher::spawn_with_transport)
/// without a source (`None::<NoSource>`): only explicit pushes are sent.
pub type NoSource = FromFn<fn() -> Arc<Snapshot>>;
