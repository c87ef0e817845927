//! The stress test: the seed's assertions, bad input, corrupt headers detected exactly as
//! injected, memory really measured, and the chain checked against BLAKE3 directly.

use super::chain::{Block, build_chain};
use super::validate::validate;
use super::*;

#[test]
fn the_seeds_assertions_hold_for_1000_headers() {
    let result = stress_test_header_chain(1000).unwrap();
    println!("Stress Test Results:");
    println!("  Operations: {}", result.operation_count);
    println!("  Duration: {}ms", result.duration_ms);
    println!("  Throughput: {:.0} ops/sec", result.ops_per_sec);
    println!("  Peak memory: {:.1}MB", result.peak_memory_mb);
    println!("  Success rate: {:.1}%", result.success_rate * 100.0);
    assert!(
        result.ops_per_sec > 10000.0,
        "Throughput too low: {}",
        result.ops_per_sec
    );
    assert!(
        result.peak_memory_mb < 5.0,
        "Memory usage too high: {}",
        result.peak_memory_mb
    );
    assert!(result.success_rate > 0.99, "Success rate too low");

    assert_eq!(result.operation_count, 1000);
    assert_eq!(result.successes, 1000);
    assert!(result.failures.is_empty());
    assert_eq!(
        result.latency_ns.count(),
        1000,
        "every validation's latency was recorded"
    );
    assert_eq!(
        result.memory_method,
        MemoryMethod::HeapScope,
        "the test binary installs the counting allocator"
    );
    assert!(result.peak_memory_bytes > 0);
    assert!(result.threads >= 2);
    let expected_rate = 1000.0 / result.duration.as_secs_f64();
    assert!((result.ops_per_sec - expected_rate).abs() < 1e-6 * expected_rate);
}

#[test]
fn zero_or_absurd_header_counts_are_errors_not_panics() {
    assert_eq!(
        stress_test_header_chain(0).unwrap_err(),
        StressTestError::NoHeaders
    );
    for n in [MAX_HEADERS + 1, usize::MAX] {
        assert_eq!(
            stress_test_header_chain(n).unwrap_err(),
            StressTestError::TooManyHeaders {
                requested: n,
                max: MAX_HEADERS
            }
        );
    }
    // The seed's `stress_test_header_chain(n)?` in a `Result<_, String>` function.
    fn seed_style(n: usize) -> Result<u64, String> {
        Ok(stress_test_header_chain(n)?.operation_count)
    }
    assert_eq!(
        seed_style(0),
        Err("a stress test needs at least one header".to_owned())
    );
    assert_eq!(
        stress_test_header_chain_with(StressTestConfig::new(10).threads(0)).unwrap_err(),
        StressTestError::InvalidThreads(0)
    );
    let mut hard = StressTestConfig::new(10);
    hard.difficulty_bits = 64;
    assert_eq!(
        stress_test_header_chain_with(hard).unwrap_err(),
        StressTestError::DifficultyTooHigh(64)
    );
}

#[test]
fn impossible_corruptions_are_refused_before_any_work() {
    let refused = |config: StressTestConfig| match stress_test_header_chain_with(config) {
        Err(StressTestError::InvalidCorruption { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(
        refused(StressTestConfig::new(10).corrupt(10, Corruption::BrokenLink))
            .contains("past the last")
    );
    assert!(
        refused(StressTestConfig::new(10).corrupt(0, Corruption::StaleTimestamp))
            .contains("genesis")
    );
    assert!(
        refused(
            StressTestConfig::new(10)
                .corrupt(3, Corruption::BrokenLink)
                .corrupt(3, Corruption::BadMerkleRoot)
        )
        .contains("twice")
    );
    let mut easy = StressTestConfig::new(10).corrupt(2, Corruption::BadProofOfWork);
    easy.difficulty_bits = 0;
    assert!(refused(easy).contains("0 bits"));
}

#[test]
fn injected_corrupt_headers_are_each_detected_once_with_their_reason() {
    let injected = [
        (0, Corruption::BrokenLink),
        (7, Corruption::WrongHeight),
        (250, Corruption::StaleTimestamp),
        (251, Corruption::BadMerkleRoot),
        (500, Corruption::BadProofOfWork),
        (998, Corruption::BrokenLink),
        (999, Corruption::WrongHeight),
    ];
    let registry = aureon_telemetry::Registry::new();
    let mut config = StressTestConfig::new(1000)
        .threads(3)
        .registry(registry.clone());
    for &(i, c) in &injected {
        config = config.corrupt(i, c);
    }
    let result = stress_test_header_chain_with(config).unwrap();
    let found: Vec<(usize, Corruption)> = result
        .failures
        .iter()
        .map(|f| (f.index, f.reason))
        .collect();
    assert_eq!(found, injected);
    assert_eq!(result.successes, 1000 - injected.len() as u64);
    assert_eq!(result.success_rate, 993.0 / 1000.0);
    let snap = registry.snapshot();
    assert_eq!(
        snap.counter_with(OUTCOME_METRIC, &[("outcome", "ok")]),
        Some(993)
    );
    assert_eq!(
        snap.counter_with(OUTCOME_METRIC, &[("outcome", "broken_link")]),
        Some(2)
    );
    assert_eq!(
        snap.counter_with(OUTCOME_METRIC, &[("outcome", "wrong_height")]),
        Some(2)
    );
    assert_eq!(
        snap.counter_with(OUTCOME_METRIC, &[("outcome", "bad_proof_of_work")]),
        Some(1)
    );
    assert_eq!(result.failures_by_reason()[&Corruption::BrokenLink], 2);
}

#[test]
fn a_shared_registry_accumulates_while_each_result_is_its_own_run() {
    let registry = aureon_telemetry::Registry::new();
    for run in 1..=2u64 {
        let r =
            stress_test_header_chain_with(StressTestConfig::new(300).registry(registry.clone()))
                .unwrap();
        assert_eq!(
            (r.operation_count, r.successes, r.latency_ns.count()),
            (300, 300, 300)
        );
        let snap = registry.snapshot();
        assert_eq!(
            snap.counter_with(OUTCOME_METRIC, &[("outcome", "ok")]),
            Some(300 * run)
        );
        assert_eq!(snap.histogram(LATENCY_METRIC).unwrap().count(), 300 * run);
    }
}

#[test]
fn more_threads_than_headers_start_one_per_header() {
    let r = stress_test_header_chain_with(StressTestConfig::new(3).threads(8)).unwrap();
    assert_eq!((r.threads, r.operation_count, r.successes), (3, 3, 3));
}

#[test]
fn peak_memory_is_measured_and_grows_with_the_chain() {
    let small = stress_test_header_chain(1_000).unwrap();
    let large = stress_test_header_chain(20_000).unwrap();
    // A lower bound computed without the code under test: the blocks themselves (the Vec of
    // blocks plus each block's transaction list) must have been held at once.
    let block_bytes = |n: usize| n * (std::mem::size_of::<Block>() + TRANSACTIONS_PER_BLOCK * 32);
    assert!(
        small.peak_memory_bytes as usize >= block_bytes(1_000),
        "{}",
        small.peak_memory_bytes
    );
    assert!(
        large.peak_memory_bytes as usize >= block_bytes(20_000),
        "{}",
        large.peak_memory_bytes
    );
    assert!(large.peak_memory_bytes > small.peak_memory_bytes * 10);
    assert_eq!(
        large.peak_memory_mb,
        large.peak_memory_bytes as f64 / (1024.0 * 1024.0)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn the_resident_high_water_mark_method_works_without_the_allocator() {
    let r = stress_test_header_chain_with(
        StressTestConfig::new(2_000).memory_method(MemoryMethod::ResidentHighWaterMark),
    );
    match r {
        Ok(r) => {
            assert_eq!(r.memory_method, MemoryMethod::ResidentHighWaterMark);
            assert!(r.peak_memory_mb.is_finite() && r.peak_memory_mb >= 0.0);
        }
        // A sandbox may forbid writing clear_refs; then the test must say so, not guess.
        Err(StressTestError::MemoryUnmeasurable(why)) => {
            assert!(why.contains("clear_refs"), "{why}")
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_chain_is_linked_by_blake3_and_validates() {
    let blocks = build_chain(50, 4, |_| None);
    for (i, b) in blocks.iter().enumerate() {
        let h = &b.header;
        assert_eq!(h.height, i as u64);
        // The hash, computed here from the fields directly.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&h.height.to_le_bytes());
        bytes.extend_from_slice(&h.parent_hash);
        bytes.extend_from_slice(&h.merkle_root);
        bytes.extend_from_slice(&h.timestamp.to_le_bytes());
        bytes.extend_from_slice(&h.nonce.to_le_bytes());
        let hash = *blake3::hash(&bytes).as_bytes();
        assert_eq!(h.hash(), hash);
        assert!(hash[0] >> 4 == 0, "difficulty 4: four leading zero bits");
        if i > 0 {
            assert_eq!(h.parent_hash, blocks[i - 1].header.hash());
            assert!(h.timestamp > blocks[i - 1].header.timestamp);
        } else {
            assert_eq!(h.parent_hash, [0; 32]);
        }
        assert_eq!(validate(&blocks, i, 4), Ok(()));
    }
}

#[test]
fn tampering_after_the_fact_is_caught_too() {
    let mut blocks = build_chain(10, 4, |_| None);
    // Change a transaction of block 4: its Merkle root no longer matches.
    blocks[4].transactions[2][0] ^= 1;
    assert_eq!(validate(&blocks, 4, 4), Err(Corruption::BadMerkleRoot));
    // Change block 6's timestamp: its own hash changes (so almost surely its proof of work
    // fails) and block 7's link breaks.
    blocks[6].header.timestamp += 1;
    assert_eq!(validate(&blocks, 7, 4), Err(Corruption::BrokenLink));
}

#[test]
fn merkle_roots_pair_leaves_and_repeat_an_odd_one() {
    let leaf = |b: u8| [b; 32];
    let pair = |a: &[u8; 32], b: &[u8; 32]| {
        let mut h = blake3::Hasher::new();
        h.update(a);
        h.update(b);
        *h.finalize().as_bytes()
    };
    assert_eq!(merkle_root(&[]), [0; 32]);
    assert_eq!(merkle_root(&[leaf(1)]), leaf(1));
    let (a, b, c) = (leaf(1), leaf(2), leaf(3));
    assert_eq!(merkle_root(&[a, b, c]), pair(&pair(&a, &b), &pair(&c, &c)));
    assert!(meets_difficulty(
        &[
            0, 0x0f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0
        ],
        12
    ));
    assert!(!meets_difficulty(
        &[
            0, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0
        ],
        12
    ));
}
