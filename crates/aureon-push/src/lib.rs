//! # aureon-push
//!
//! The one sending machinery behind every push road out of the process: Prometheus remote
//! write and the Pushgateway (in `aureon-prometheus`) and OTLP/HTTP (in `aureon-otlp`). A
//! protocol only says how a snapshot becomes HTTP requests ([`Protocol::encode`]) and what a
//! response means ([`Protocol::classify`]); everything else lives here, once:
//!
//! * a **queue bounded in bytes** ([`PushConfig::queue_bytes`]): when full, the oldest
//!   requests go first and every dropped sample is counted by reason;
//! * **retries** as the protocol classifies them, with capped exponential **backoff and
//!   jitter** ([`Backoff`]) or the receiver's `Retry-After`;
//! * a **request timeout**, so a receiver that accepts and never answers costs a retry, not
//!   memory: the queue budget still bounds what is held;
//! * a **flush on shutdown** with a deadline ([`Pusher::shutdown`]), reporting what was
//!   delivered and what was not ([`PushReport`]);
//! * the sender's own health as **metrics in the same registry** ([`SelfMetrics`]).
//!
//! The sender reads *published* snapshots (a [`SnapshotSource`], usually the snapshotter's
//! [`SnapshotReader`](aureon_telemetry::SnapshotReader)) on its own thread: it never merges a
//! registry per send and never touches a recording thread.
//!
//! ```no_run
//! use aureon_push::{EncodeError, Outcome, Protocol, PushConfig, PushRequest, Pusher, Response};
//! use aureon_telemetry::{Registry, Snapshot, Snapshotter, SnapshotterConfig};
//!
//! /// Sends each snapshot's counter total as text (a toy protocol).
//! struct Toy;
//! impl Protocol for Toy {
//!     fn name(&self) -> &'static str { "toy" }
//!     fn encode(&mut self, s: &Snapshot) -> Result<Vec<PushRequest>, EncodeError> {
//!         let n = s.counter("jobs").unwrap_or(0);
//!         Ok(vec![PushRequest::post("http://127.0.0.1:9999/", n.to_string().into_bytes(), 1)])
//!     }
//!     fn classify(&mut self, r: &Response) -> Outcome { aureon_push::classify_remote_write(r) }
//! }
//!
//! let registry = Registry::new();
//! let snapshotter = Snapshotter::spawn(&registry, SnapshotterConfig::default())?;
//! let pusher = Pusher::spawn(Toy, snapshotter.reader(), PushConfig::default(), Some(&registry))?;
//! registry.counter("jobs").increment(1);
//! let report = pusher.shutdown_with(Some(snapshotter.tick()));
//! println!("{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod backoff;
mod config;
mod metrics;
mod protocol;
mod pusher;
mod queue;
mod source;
mod transport;
mod url;

pub use backoff::Backoff;
pub use config::{ConfigError, PushConfig};
pub use metrics::SelfMetrics;
pub use protocol::{
    DropReason, EncodeError, MAX_RETRY_AFTER, Method, Outcome, Protocol, PushRequest, Response,
    classify_remote_write, parse_retry_after,
};
pub use pusher::{PushReport, Pusher, SpawnError};
pub use queue::Queue;
pub use source::{FromFn, NoSource, SnapshotSource, from_fn};
pub use transport::{HttpTransport, Transport, TransportError};
pub use url::validate_url;
