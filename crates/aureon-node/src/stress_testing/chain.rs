//! Block headers, their BLAKE3 hash, and building a linked chain of them (with corrupt
//! headers injected on purpose).
//!
//! A header commits to its parent by the parent's hash, to its transactions by a Merkle root,
//! and to a proof of work by its nonce: its hash must start with `difficulty_bits` zero bits.
//! Corruptions are injected *by the producer*, each breaking exactly one rule of one header
//! while the chain stays linked to that header's real hash, so a validator must report exactly
//! the injected headers, each with the injected reason, and nothing else.

use std::fmt;

/// A 32-byte BLAKE3 digest.
pub type Hash = [u8; 32];

/// Transactions committed to by every generated block.
pub const TRANSACTIONS_PER_BLOCK: usize = 4;

/// Seconds between generated blocks' timestamps.
const BLOCK_SPACING_SECS: u64 = 12;
/// Timestamp of the generated genesis block (2023-11-14T22:13:20Z).
const GENESIS_TIMESTAMP: u64 = 1_700_000_000;

/// A block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Height in the chain (genesis is 0).
    pub height: u64,
    /// Hash of the parent header (all zeros for genesis).
    pub parent_hash: Hash,
    /// Merkle root of the block's transaction ids.
    pub merkle_root: Hash,
    /// Seconds since the Unix epoch; strictly greater than the parent's.
    pub timestamp: u64,
    /// Proof-of-work nonce.
    pub nonce: u64,
}

impl BlockHeader {
    /// Length of the canonical encoding that is hashed.
    pub const ENCODED_LEN: usize = 8 + 32 + 32 + 8 + 8;

    /// The canonical encoding: height, parent hash, Merkle root, timestamp, nonce (integers
    /// little-endian).
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.height.to_le_bytes());
        out[8..40].copy_from_slice(&self.parent_hash);
        out[40..72].copy_from_slice(&self.merkle_root);
        out[72..80].copy_from_slice(&self.timestamp.to_le_bytes());
        out[80..].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    /// The header's BLAKE3 hash.
    pub fn hash(&self) -> Hash {
        *blake3::hash(&self.encode()).as_bytes()
    }
}

/// A header and the transaction ids its Merkle root commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// Transaction ids.
    pub transactions: Vec<Hash>,
}

/// Whether `hash` starts with at least `bits` zero bits.
pub fn meets_difficulty(hash: &Hash, bits: u32) -> bool {
    let mut leading = 0u32;
    for byte in hash {
        if *byte == 0 {
            leading += 8;
        } else {
            leading += byte.leading_zeros();
            break;
        }
    }
    leading >= bits
}

/// The Merkle root of `leaves`: pairs hashed together level by level, an odd last node paired
/// with itself (as Bitcoin does); the root of no leaves is all zeros.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return [0; 32];
    }
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let mut h = blake3::Hasher::new();
                h.update(&pair[0]);
                h.update(pair.get(1).unwrap_or(&pair[0]));
                *h.finalize().as_bytes()
            })
            .collect();
    }
    level[0]
}

/// A rule a corrupt header breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Corruption {
    /// Height is not the parent's plus one (genesis: not 0).
    WrongHeight,
    /// Parent hash does not match the parent header (genesis: not all zeros).
    BrokenLink,
    /// Timestamp not after the parent's (needs a parent: not at height 0).
    StaleTimestamp,
    /// Merkle root does not match the transactions.
    BadMerkleRoot,
    /// Hash does not meet the difficulty (needs a difficulty of at least 1 bit).
    BadProofOfWork,
}

impl Corruption {
    /// Every kind, in the order validation checks them.
    pub const ALL: [Corruption; 5] = [
        Corruption::WrongHeight,
        Corruption::BrokenLink,
        Corruption::StaleTimestamp,
        Corruption::BadMerkleRoot,
        Corruption::BadProofOfWork,
    ];

    /// A stable snake_case name (used as a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Corruption::WrongHeight => "wrong_height",
            Corruption::BrokenLink => "broken_link",
            Corruption::StaleTimestamp => "stale_timestamp",
            Corruption::BadMerkleRoot => "bad_merkle_root",
            Corruption::BadProofOfWork => "bad_proof_of_work",
        }
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn transactions(height: u64) -> Vec<Hash> {
    (0..TRANSACTIONS_PER_BLOCK as u64)
        .map(|j| {
            let mut h = blake3::Hasher::new();
            h.update(b"aureon-stress-tx");
            h.update(&height.to_le_bytes());
            h.update(&j.to_le_bytes());
            *h.finalize().as_bytes()
        })
        .collect()
}

/// Searches nonces from 0 for one whose hash meets (`want_valid`) or misses the difficulty.
fn mine(header: &mut BlockHeader, bits: u32, want_valid: bool) {
    header.nonce = 0;
    while meets_difficulty(&header.hash(), bits) != want_valid {
        header.nonce += 1;
    }
}

/// Builds `n` blocks from genesis, each header linked to its predecessor's real hash, with
/// `corrupt(index)` saying which rule (if any) block `index` breaks. The caller has checked
/// that every requested corruption is possible (see [`Corruption`]).
pub(crate) fn build_chain(
    n: usize,
    difficulty_bits: u32,
    corrupt: impl Fn(usize) -> Option<Corruption>,
) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::with_capacity(n);
    for index in 0..n {
        let parent = blocks.last().map(|b| b.header);
        let txs = transactions(index as u64);
        let mut header = BlockHeader {
            height: parent.map_or(0, |p| p.height + 1),
            parent_hash: parent.map_or([0; 32], |p| p.hash()),
            merkle_root: merkle_root(&txs),
            timestamp: parent.map_or(GENESIS_TIMESTAMP, |p| p.timestamp + BLOCK_SPACING_SECS),
            nonce: 0,
        };
        let fault = corrupt(index);
        match fault {
            Some(Corruption::WrongHeight) => header.height += 1,
            Some(Corruption::BrokenLink) => header.parent_hash[0] ^= 0xff,
            // Equal to the parent's: "not after" is the rule, so equal must fail.
            Some(Corruption::StaleTimestamp) => header.timestamp -= BLOCK_SPACING_SECS,
            Some(Corruption::BadMerkleRoot) => header.merkle_root[31] ^= 0x01,
            Some(Corruption::BadProofOfWork) | None => {}
        }
        mine(
            &mut header,
            difficulty_bits,
            fault != Some(Corruption::BadProofOfWork),
        );
        blocks.push(Block {
            header,
            transactions: txs,
        });
    }
    blocks
}
