//! A single-writer 128-bit sum that readers on other threads can read without tearing.
//!
//! The owner thread adds with plain loads and stores (no locked instruction). Almost every add
//! changes only the low word; when it carries into the high word, the writer brackets the
//! update with an odd "carry in progress" high word, seqlock style:
//!
//! ```text
//! writer (carry):  hi := 2h+1 (Relaxed)   lo := new (Release)   hi := 2h' (Release)
//! reader:          h1 := hi (Acquire)  lo := lo (Acquire)  h2 := hi (Acquire); retry if h1 odd or h1 != h2
//! ```
//!
//! A reader that sees a post-carry low word synchronises with its Release store and so sees
//! the odd (or a later) high word in `h2`; one that sees the post-carry high word in `h1` sees
//! the post-carry low word or later. Either way a torn pair is retried. A reader waits only
//! while a carry is in flight (a few instructions, once per 2^64 units summed). Loom model:
//! `wide_sum_carry_is_never_torn`.

use crate::sync::{AtomicU64, Ordering, spin_loop, thread};

pub(crate) struct WideSum {
    lo: AtomicU64,
    /// Twice the high word, plus one while a carry is being written.
    hi_seq: AtomicU64,
}

/// The largest high word: the sum saturates at `2^127 - 1`, which 2^63 records of
/// `u64::MAX` would be needed to reach.
const MAX_HI: u64 = (1 << 63) - 1;

/// How many times a reader spins on a carry in flight before it starts yielding.
const SPINS_BEFORE_YIELD: u32 = 64;

impl WideSum {
    pub(crate) fn new() -> Self {
        Self {
            lo: AtomicU64::new(0),
            hi_seq: AtomicU64::new(0),
        }
    }

    /// Adds `x`. Only the owning thread may call this.
    #[inline]
    pub(crate) fn add(&self, x: u128) {
        let lo = self.lo.load(Ordering::Relaxed);
        let (new_lo, carry) = lo.overflowing_add(x as u64);
        let hi_add = ((x >> 64) as u64).saturating_add(u64::from(carry));
        if hi_add == 0 {
            self.lo.store(new_lo, Ordering::Release);
        } else {
            self.add_carry(new_lo, hi_add);
        }
    }

    #[cold]
    fn add_carry(&self, new_lo: u64, hi_add: u64) {
        let seq = self.hi_seq.load(Ordering::Relaxed);
        let hi = seq / 2;
        if hi == MAX_HI {
            self.lo.store(u64::MAX, Ordering::Release);
            return;
        }
        let (new_hi, new_lo) = match hi.checked_add(hi_add) {
            Some(h) if h <= MAX_HI => (h, new_lo),
            _ => (MAX_HI, u64::MAX),
        };
        self.hi_seq.store(seq + 1, Ordering::Relaxed);
        self.lo.store(new_lo, Ordering::Release);
        self.hi_seq.store(new_hi * 2, Ordering::Release);
    }

    /// The current sum, never a torn mix of two states.
    ///
    /// A reader that finds a carry in flight spins a little (the writer finishes within a few
    /// instructions unless it was descheduled in between), then yields its core each round,
    /// so that a writer preempted mid-carry gets to run instead of watching a reader burn the
    /// core it needs.
    pub(crate) fn load(&self) -> u128 {
        let mut spins = 0u32;
        loop {
            let h1 = self.hi_seq.load(Ordering::Acquire);
            if h1 & 1 == 0 {
                let lo = self.lo.load(Ordering::Acquire);
                let h2 = self.hi_seq.load(Ordering::Acquire);
                if h1 == h2 {
                    return (u128::from(h1 / 2) << 64) | u128::from(lo);
                }
            }
            if spins < SPINS_BEFORE_YIELD {
                spins += 1;
                spin_loop();
            } else {
                thread::yield_now();
            }
        }
    }
}

#[cfg(all(test, not(aureon_loom)))]
mod tests {
    use super::*;

    #[test]
    fn sums_past_u64_exactly_and_saturates_at_the_top() {
        let s = WideSum::new();
        let mut expected = 0u128;
        for x in [u64::MAX as u128, 1, 5, u64::MAX as u128 * 3, 7] {
            s.add(x);
            expected += x;
            assert_eq!(s.load(), expected);
        }
        s.add(u128::MAX);
        assert_eq!(s.load(), (u128::from(MAX_HI) << 64) | u128::from(u64::MAX));
    }
}
