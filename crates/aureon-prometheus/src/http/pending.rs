//! Connections that have not yet sent a complete request head, and the budget they share.
//!
//! A connection is served (takes one of the `max_connections` slots) only once its request
//! head is complete; until then it is *pending*, which costs a small task, a socket and the
//! bytes received so far. Slow clients (slowloris: headers trickled for minutes) therefore
//! never hold a slot a well-behaved scrape needs. Pending connections are bounded too
//! ([`super::ServerConfigBuilder::max_pending_connections`]): when the budget is full, the
//! *oldest* pending connection is closed to make room, so a new connection always gets its
//! chance, and a flood of slow ones only shortens how long each of them may dawdle. Each is
//! also closed after the header timeout, as before.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::task::AbortHandle;

/// The pending connections, oldest first.
pub(super) struct Pending {
    limit: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    /// Ids in arrival order; may hold ids that are no longer pending (removed lazily).
    order: VecDeque<u64>,
    live: HashMap<u64, AbortHandle>,
    evicted: u64,
}

impl Pending {
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh id for a connection about to be spawned.
    pub(super) fn next_id(&self) -> u64 {
        let mut inner = self.lock();
        inner.next += 1;
        inner.next
    }

    /// Registers connection `id`'s task, closing the oldest pending connection first if the
    /// budget is full.
    pub(super) fn admit(&self, id: u64, task: AbortHandle) {
        let mut inner = self.lock();
        while inner.live.len() >= self.limit {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(handle) = inner.live.remove(&oldest) {
                handle.abort();
                inner.evicted += 1;
            }
        }
        inner.order.push_back(id);
        inner.live.insert(id, task);
    }

    /// Connection `id` is no longer pending (its head is complete, or it ended).
    pub(super) fn done(&self, id: u64) {
        let mut inner = self.lock();
        inner.live.remove(&id);
        // Ids of connections that finished out of order stay in `order` until they reach
        // its front; compact when they outnumber the live ones, so memory stays bounded.
        if inner.order.len() > 2 * inner.live.len() + 64 {
            let Inner { order, live, .. } = &mut *inner;
            order.retain(|id| live.contains_key(id));
        }
    }

    /// How many connections are pending now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// How many pending connections were closed to make room for newer ones.
    #[cfg(test)]
    pub(super) fn evicted(&self) -> u64 {
        self.lock().evicted
    }
}

/// Marks connection `id` done when dropped (whether its head arrived, it failed, or its task
/// was aborted).
pub(super) struct PendingGuard {
    pending: Arc<Pending>,
    id: u64,
}

impl PendingGuard {
    pub(super) fn new(pending: Arc<Pending>, id: u64) -> Self {
        Self { pending, id }
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending.done(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_full_budget_closes_the_oldest_pending_connection() {
        runtime().block_on(async {
            let pending = Pending::new(2);
            let mut tasks = Vec::new();
            for _ in 0..3 {
                let id = pending.next_id();
                let guard = PendingGuard::new(Arc::clone(&pending), id);
                let task = tokio::spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                });
                pending.admit(id, task.abort_handle());
                tasks.push(task);
            }
            let first = tasks.remove(0);
            assert!(
                first.await.unwrap_err().is_cancelled(),
                "the oldest was closed"
            );
            assert_eq!(pending.len(), 2);
            assert_eq!(pending.evicted(), 1);
            for t in &tasks {
                t.abort();
            }
            for t in tasks {
                let _ = t.await;
            }
            assert_eq!(pending.len(), 0, "aborted tasks leave the budget");
        });
    }
}
