//! Validating one block of a chain against its parent: the unit of work of the stress test.
//!
//! Each validation recomputes what it checks (the parent's hash, the Merkle root, the
//! header's own hash), so it depends only on the two blocks, and any number of threads can
//! validate disjoint parts of one chain at once.

use super::chain::{Block, BlockHeader, Corruption, Hash, meets_difficulty, merkle_root};

/// Validates `blocks[index]` against `blocks[index - 1]` (genesis against the genesis rules)
/// and returns the first rule it breaks, checked in [`Corruption::ALL`] order.
pub(crate) fn validate(
    blocks: &[Block],
    index: usize,
    difficulty_bits: u32,
) -> Result<(), Corruption> {
    let block = &blocks[index];
    let parent = index.checked_sub(1).map(|i| &blocks[i].header);
    validate_header(&block.header, parent, &block.transactions, difficulty_bits)
}

/// Validates `header` against its `parent` (`None`: the genesis rules) and the ids of the
/// block's transactions: height, parent link, timestamp, Merkle root, proof of work at
/// `difficulty_bits`. Returns the first rule broken, in [`Corruption::ALL`] order. Every
/// check is recomputed from the inputs, so any number of threads can validate at once.
pub fn validate_header(
    header: &BlockHeader,
    parent: Option<&BlockHeader>,
    transaction_ids: &[Hash],
    difficulty_bits: u32,
) -> Result<(), Corruption> {
    let height_ok = match parent {
        Some(p) => p.height.checked_add(1) == Some(header.height),
        None => header.height == 0,
    };
    if !height_ok {
        return Err(Corruption::WrongHeight);
    }
    let link_ok = match parent {
        Some(p) => header.parent_hash == p.hash(),
        None => header.parent_hash == [0; 32],
    };
    if !link_ok {
        return Err(Corruption::BrokenLink);
    }
    if parent.is_some_and(|p| header.timestamp <= p.timestamp) {
        return Err(Corruption::StaleTimestamp);
    }
    if header.merkle_root != merkle_root(transaction_ids) {
        return Err(Corruption::BadMerkleRoot);
    }
    if !meets_difficulty(&header.hash(), difficulty_bits) {
        return Err(Corruption::BadProofOfWork);
    }
    Ok(())
}
