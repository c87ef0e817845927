//! The send queue: requests in snapshot order, bounded by a byte budget. When a new request
//! does not fit, the oldest go first (the newest data is what an operator looks at, and for
//! cumulative series a newer sample carries the older ones' totals), and each one pushed out
//! is returned so that its samples are counted as dropped: nothing leaves silently.

use crate::protocol::PushRequest;
use std::collections::VecDeque;

/// A queued request and the snapshot it came from.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) request: PushRequest,
    pub(crate) bytes: usize,
}

/// Requests waiting to be sent, at most `budget` bytes of them.
#[derive(Debug)]
pub struct Queue {
    items: VecDeque<Queued>,
    bytes: usize,
    budget: usize,
}

impl Queue {
    /// An empty queue holding at most `budget` bytes ([`PushRequest::queued_bytes`]).
    pub fn new(budget: usize) -> Self {
        Self {
            items: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    /// Appends `request`; returns the requests pushed out to make room (oldest first), which
    /// is `request` itself when it alone exceeds the budget.
    pub fn push(&mut self, request: PushRequest) -> Vec<PushRequest> {
        let bytes = request.queued_bytes();
        if bytes > self.budget {
            return vec![request];
        }
        let mut dropped = Vec::new();
        while self.bytes + bytes > self.budget {
            match self.pop_front() {
                Some(old) => dropped.push(old),
                None => break,
            }
        }
        self.bytes += bytes;
        self.items.push_back(Queued { request, bytes });
        dropped
    }

    /// The oldest request, still queued (it leaves when delivered or dropped).
    pub fn front(&self) -> Option<&PushRequest> {
        self.items.front().map(|q| &q.request)
    }

    /// Removes and returns the oldest request.
    pub fn pop_front(&mut self) -> Option<PushRequest> {
        let q = self.items.pop_front()?;
        self.bytes -= q.bytes;
        Some(q.request)
    }

    /// Removes every request, oldest first.
    pub fn drain(&mut self) -> Vec<PushRequest> {
        self.bytes = 0;
        self.items.drain(..).map(|q| q.request).collect()
    }

    /// Bytes queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Requests queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The byte budget.
    pub fn budget(&self) -> usize {
        self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(n: u64, size: usize) -> PushRequest {
        PushRequest::post("", vec![0; size], n)
    }

    #[test]
    fn the_oldest_make_room_and_are_returned() {
        let mut q = Queue::new(100);
        assert!(q.push(req(1, 40)).is_empty());
        assert!(q.push(req(2, 40)).is_empty());
        let dropped = q.push(req(3, 40));
        assert_eq!(dropped.iter().map(|r| r.samples).collect::<Vec<_>>(), [1]);
        assert_eq!((q.len(), q.bytes()), (2, 80));
        assert_eq!(q.front().unwrap().samples, 2);
        let dropped = q.push(req(4, 100));
        assert_eq!(
            dropped.iter().map(|r| r.samples).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(q.bytes(), 100);
    }

    #[test]
    fn a_request_over_the_budget_is_refused_alone() {
        let mut q = Queue::new(100);
        q.push(req(1, 50));
        let dropped = q.push(req(2, 101));
        assert_eq!(dropped.iter().map(|r| r.samples).collect::<Vec<_>>(), [2]);
        assert_eq!((q.len(), q.bytes()), (1, 50));
        assert_eq!(q.drain().len(), 1);
        assert_eq!((q.len(), q.bytes()), (0, 0));
    }
}
