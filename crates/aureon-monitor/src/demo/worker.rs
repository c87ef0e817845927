//! One worker thread of the demo: a simulated peer produces blocks, and the node validates
//! and applies them, recording every operation through the dashboard's handles.
//!
//! The node's side is what is measured, as a node would measure it: `header_validation` and
//! `tx_validation` (each a latency and an outcome), and `block_processing` around the whole
//! (read the parent state, validate the header, then each transaction until one fails, apply
//! the block). Producing the block (generating transactions, mining) is the peer's work and
//! is not timed. Recording goes through [`OperationHandle`]s looked up once, so the hot path
//! is the core's: no lock, no allocation, no shared cache line written.

use super::chain::{self, Block};
use super::rng::Rng;
use super::schedule::{Pacer, Schedule};
use super::stop::StopSignal;
use aureon_node::production_monitoring::{HealthDashboard, OperationHandle};
use aureon_node::stress_testing::BlockHeader;
use std::time::{Duration, Instant};

/// Operation names, as they appear in reports and metric labels.
pub const BLOCK_PROCESSING: &str = "block_processing";
/// See [`BLOCK_PROCESSING`].
pub const HEADER_VALIDATION: &str = "header_validation";
/// See [`BLOCK_PROCESSING`].
pub const TX_VALIDATION: &str = "tx_validation";
/// The error kinds of `block_processing`: which part rejected the block.
const INVALID_HEADER: &str = "invalid_header";
const INVALID_TRANSACTION: &str = "invalid_transaction";

/// Longest sleep between stop checks while pacing: a stop takes effect within this.
const MAX_NAP: Duration = Duration::from_millis(50);

/// The dashboard's handles for the three operations.
pub struct Ops<'a> {
    block: OperationHandle<'a>,
    header: OperationHandle<'a>,
    tx: OperationHandle<'a>,
}

impl<'a> Ops<'a> {
    /// Looks the operations up (registers them on first use).
    pub fn new(dashboard: &'a HealthDashboard) -> Self {
        Self {
            block: dashboard.operation(BLOCK_PROCESSING),
            header: dashboard.operation(HEADER_VALIDATION),
            tx: dashboard.operation(TX_VALIDATION),
        }
    }
}

/// What one worker is told.
#[derive(Debug, Clone)]
pub struct WorkerPlan {
    /// Seed of the peer's choices.
    pub seed: u64,
    /// Blocks per second for this worker.
    pub rate: f64,
    /// The phases over time.
    pub schedule: Schedule,
    /// When the run started (phases count from here).
    pub started: Instant,
}

/// Produces and processes blocks until `stop`.
pub fn run(dashboard: &HealthDashboard, plan: &WorkerPlan, stop: &StopSignal) {
    let ops = Ops::new(dashboard);
    let mut rng = Rng::new(plan.seed);
    let mut pacer = Pacer::new(plan.rate, plan.started.elapsed());
    let mut tip: Option<BlockHeader> = None;
    let mut state_root = [0u8; 32];
    while !stop.is_stopped() {
        let mut wait = pacer.wait_at(plan.started.elapsed());
        while !wait.is_zero() && !stop.is_stopped() {
            let nap = wait.min(MAX_NAP);
            std::thread::sleep(nap);
            wait -= nap;
        }
        if stop.is_stopped() {
            break;
        }
        let phase = plan.schedule.phase_at(plan.started.elapsed());
        let block = chain::produce(&mut rng, tip.as_ref(), phase.faults);
        if process(&ops, &block, tip.as_ref(), &mut state_root, phase.stall) {
            tip = Some(block.header);
        }
    }
}

/// The node's work on one block; returns whether it was accepted.
fn process(
    ops: &Ops<'_>,
    block: &Block,
    parent: Option<&BlockHeader>,
    state_root: &mut [u8; 32],
    stall: Duration,
) -> bool {
    let started = Instant::now();
    // Reading the parent's state from storage; a degraded disk makes this slow.
    if !stall.is_zero() {
        std::thread::sleep(stall);
    }
    let outcome = validate(ops, block, parent);
    if outcome.is_ok() {
        // Applying the block: the new state commits to the old one and the block.
        let mut h = blake3::Hasher::new();
        h.update(state_root);
        h.update(&block.header.hash());
        *state_root = *h.finalize().as_bytes();
    }
    // The block's height rides along as an exemplar: the scrape (and the dashboard) can name
    // the block that made p99 jump.
    ops.block
        .record_latency_with_exemplar(micros(started.elapsed()), block.header.height);
    match outcome {
        Ok(()) => ops.block.record_operation(),
        Err(kind) => ops.block.record_error(kind),
    }
    outcome.is_ok()
}

/// Validates the header, then each transaction until one fails, recording each.
fn validate(
    ops: &Ops<'_>,
    block: &Block,
    parent: Option<&BlockHeader>,
) -> Result<(), &'static str> {
    let started = Instant::now();
    let header = chain::validate_header(block, parent);
    ops.header.record_latency(micros(started.elapsed()));
    if let Err(rule) = header {
        ops.header.record_error(rule.as_str());
        return Err(INVALID_HEADER);
    }
    ops.header.record_operation();
    for tx in &block.transactions {
        let started = Instant::now();
        let checked = tx.validate();
        ops.tx.record_latency(micros(started.elapsed()));
        if let Err(e) = checked {
            ops.tx.record_error(e.as_str());
            return Err(INVALID_TRANSACTION);
        }
        ops.tx.record_operation();
    }
    Ok(())
}

/// Whole microseconds, the dashboard's latency unit (sub-microsecond operations record 0).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::stop::StopReason;

    #[test]
    fn every_block_is_counted_once_per_operation_and_errors_are_real() {
        let dashboard = HealthDashboard::new("test");
        let stop = StopSignal::new();
        let plan = WorkerPlan {
            seed: 3,
            rate: 2_000.0,
            schedule: Schedule::new(0.05, None, Duration::ZERO),
            started: Instant::now(),
        };
        std::thread::scope(|s| {
            s.spawn(|| run(&dashboard, &plan, &stop));
            std::thread::sleep(Duration::from_millis(300));
            stop.stop(StopReason::Quit);
        });
        let by_name = |name: &str| {
            dashboard
                .operation_summaries()
                .into_iter()
                .find(|o| o.name == name)
                .unwrap()
        };
        let (block, header, tx) = (
            by_name(BLOCK_PROCESSING),
            by_name(HEADER_VALIDATION),
            by_name(TX_VALIDATION),
        );
        assert!(block.operations > 10, "{block:?}");
        // One header validation per block, one latency per operation.
        assert_eq!(block.operations, header.operations);
        for op in [&block, &header, &tx] {
            assert_eq!(op.latency.count, op.operations, "{}", op.name);
        }
        // A block is rejected exactly when its header or one of its transactions is.
        assert_eq!(block.errors, header.errors + tx.errors);
        assert!(tx.errors > 0 && header.errors > 0);
    }
}
