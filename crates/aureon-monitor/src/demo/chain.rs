//! The demo's workload data: transactions and block headers with real BLAKE3 commitments,
//! produced by a simulated peer (sometimes corrupted on purpose) and validated by the node.
//!
//! Headers are `aureon_node`'s [`BlockHeader`] (the stress test's chain format: height,
//! parent hash, Merkle root, timestamp, proof-of-work nonce). Transactions are the demo's own:
//! an id (BLAKE3 of the contents) and an authenticator (BLAKE3 keyed with the sender's
//! account key), standing in for a signature so that checking one costs real hashing.
//!
//! Every error the demo records is a real validation failure: the peer corrupts an input
//! ([`TxFault`], [`Corruption`]) and the validator finds it by recomputing what it checks,
//! never by looking at what was injected.

use super::rng::Rng;
use aureon_node::stress_testing::{BlockHeader, Corruption, Hash, meets_difficulty, merkle_root};

/// Transactions in every block.
pub const TXS_PER_BLOCK: usize = 32;
/// Proof-of-work difficulty of the demo's headers, in leading zero bits (about 64 hashes to
/// produce a header: cheap, but a real check).
pub const DIFFICULTY_BITS: u32 = 6;
/// Seconds between block timestamps.
const BLOCK_SPACING_SECS: u64 = 12;
/// Payload sizes, bytes (a transfer's memo, a contract call's data).
const PAYLOAD_BYTES: std::ops::RangeInclusive<u64> = 128..=2048;
/// Context string of the account keys (BLAKE3 `derive_key`).
const KEY_CONTEXT: &str = "aureon-monitor demo 2024 account key";

/// A transaction: who sends how much, with what data, and the commitments to it.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// Sending account.
    pub sender: u32,
    /// The sender's sequence number.
    pub nonce: u64,
    /// Amount transferred.
    pub amount: u64,
    /// Call data.
    pub payload: Vec<u8>,
    /// BLAKE3 of the fields above.
    pub id: Hash,
    /// BLAKE3 of `id` keyed with the sender's account key.
    pub auth: Hash,
}

/// How the peer corrupts a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxFault {
    /// Payload changed after the id was computed: the id no longer matches.
    TamperedPayload,
    /// Amount changed and the id recomputed, but not the authenticator.
    ForgedAmount,
}

/// Why a transaction is invalid (the error kinds of `tx_validation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxError {
    /// The id does not match the contents.
    IdMismatch,
    /// The authenticator does not match the sender's key.
    BadSignature,
}

impl TxError {
    /// The error kind as recorded (a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            TxError::IdMismatch => "tx_id_mismatch",
            TxError::BadSignature => "bad_signature",
        }
    }
}

fn account_key(sender: u32) -> [u8; 32] {
    blake3::derive_key(KEY_CONTEXT, &sender.to_le_bytes())
}

fn tx_id(sender: u32, nonce: u64, amount: u64, payload: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&sender.to_le_bytes());
    h.update(&nonce.to_le_bytes());
    h.update(&amount.to_le_bytes());
    h.update(payload);
    *h.finalize().as_bytes()
}

impl Transaction {
    /// A valid transaction with random contents, or one corrupted by `fault`.
    pub fn generate(rng: &mut Rng, nonce: u64, fault: Option<TxFault>) -> Self {
        let sender = rng.below(10_000) as u32;
        let amount = rng.below(1_000_000_000);
        let len =
            PAYLOAD_BYTES.start() + rng.below(PAYLOAD_BYTES.end() - PAYLOAD_BYTES.start() + 1);
        let mut payload = vec![0u8; len as usize];
        for chunk in payload.chunks_mut(8) {
            let bytes = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let id = tx_id(sender, nonce, amount, &payload);
        let auth = *blake3::keyed_hash(&account_key(sender), &id).as_bytes();
        let mut tx = Self {
            sender,
            nonce,
            amount,
            payload,
            id,
            auth,
        };
        match fault {
            Some(TxFault::TamperedPayload) => tx.payload[0] ^= 0x01,
            Some(TxFault::ForgedAmount) => {
                tx.amount = tx.amount.wrapping_add(1_000);
                tx.id = tx_id(tx.sender, tx.nonce, tx.amount, &tx.payload);
            }
            None => {}
        }
        tx
    }

    /// Recomputes the id and the authenticator.
    pub fn validate(&self) -> Result<(), TxError> {
        if tx_id(self.sender, self.nonce, self.amount, &self.payload) != self.id {
            return Err(TxError::IdMismatch);
        }
        if *blake3::keyed_hash(&account_key(self.sender), &self.id).as_bytes() != self.auth {
            return Err(TxError::BadSignature);
        }
        Ok(())
    }
}

/// A block as the peer sends it.
#[derive(Debug, Clone)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions its Merkle root commits to.
    pub transactions: Vec<Transaction>,
}

/// What the peer is asked to get wrong in one block.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Probability that each transaction is corrupted.
    pub tx: f64,
    /// Probability that the header breaks one of its rules.
    pub header: f64,
}

/// Produces the block on top of `parent` (`None`: genesis), corrupting inputs as `faults`
/// says, and mines its proof of work.
pub fn produce(rng: &mut Rng, parent: Option<&BlockHeader>, faults: Faults) -> Block {
    let height = parent.map_or(0, |p| p.height + 1);
    let transactions: Vec<Transaction> = (0..TXS_PER_BLOCK as u64)
        .map(|i| {
            let fault = rng.chance(faults.tx).then(|| {
                if rng.below(2) == 0 {
                    TxFault::TamperedPayload
                } else {
                    TxFault::ForgedAmount
                }
            });
            Transaction::generate(rng, height * TXS_PER_BLOCK as u64 + i, fault)
        })
        .collect();
    let ids: Vec<Hash> = transactions.iter().map(|t| t.id).collect();
    let mut header = BlockHeader {
        height,
        parent_hash: parent.map_or([0; 32], BlockHeader::hash),
        merkle_root: merkle_root(&ids),
        timestamp: parent.map_or(1_700_000_000, |p| p.timestamp + BLOCK_SPACING_SECS),
        nonce: 0,
    };
    let fault = rng.chance(faults.header).then(|| {
        // Genesis has no parent timestamp to be stale against.
        let kinds = if parent.is_some() {
            &Corruption::ALL[..]
        } else {
            &[
                Corruption::WrongHeight,
                Corruption::BrokenLink,
                Corruption::BadMerkleRoot,
                Corruption::BadProofOfWork,
            ][..]
        };
        kinds[rng.below(kinds.len() as u64) as usize]
    });
    match fault {
        Some(Corruption::WrongHeight) => header.height += 1,
        Some(Corruption::BrokenLink) => header.parent_hash[0] ^= 0xff,
        Some(Corruption::StaleTimestamp) => header.timestamp -= BLOCK_SPACING_SECS,
        Some(Corruption::BadMerkleRoot) => header.merkle_root[31] ^= 0x01,
        Some(Corruption::BadProofOfWork) | None => {}
    }
    let want_valid_pow = fault != Some(Corruption::BadProofOfWork);
    while meets_difficulty(&header.hash(), DIFFICULTY_BITS) != want_valid_pow {
        header.nonce += 1;
    }
    Block {
        header,
        transactions,
    }
}

/// Validates `block`'s header against `parent` (genesis against the genesis rules) with
/// `aureon_node`'s stress-test rules: height, parent link, timestamp, Merkle root of the
/// transaction ids, proof of work; the first rule broken, in [`Corruption::ALL`] order.
pub fn validate_header(block: &Block, parent: Option<&BlockHeader>) -> Result<(), Corruption> {
    let ids: Vec<Hash> = block.transactions.iter().map(|t| t.id).collect();
    aureon_node::stress_testing::validate_header(&block.header, parent, &ids, DIFFICULTY_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_blocks_validate_and_chain() {
        let mut rng = Rng::new(1);
        let genesis = produce(&mut rng, None, Faults::default());
        assert_eq!(validate_header(&genesis, None), Ok(()));
        let next = produce(&mut rng, Some(&genesis.header), Faults::default());
        assert_eq!(validate_header(&next, Some(&genesis.header)), Ok(()));
        assert_eq!(next.transactions.len(), TXS_PER_BLOCK);
        assert!(next.transactions.iter().all(|t| t.validate().is_ok()));
        // Out of order is caught.
        assert!(validate_header(&next, None).is_err());
    }

    #[test]
    fn every_injected_fault_is_found_by_recomputing() {
        let mut rng = Rng::new(2);
        let t = Transaction::generate(&mut rng, 1, Some(TxFault::TamperedPayload));
        assert_eq!(t.validate(), Err(TxError::IdMismatch));
        let t = Transaction::generate(&mut rng, 2, Some(TxFault::ForgedAmount));
        assert_eq!(t.validate(), Err(TxError::BadSignature));

        let genesis = produce(&mut rng, None, Faults::default());
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let b = produce(
                &mut rng,
                Some(&genesis.header),
                Faults {
                    tx: 0.0,
                    header: 1.0,
                },
            );
            let e = validate_header(&b, Some(&genesis.header)).unwrap_err();
            seen.insert(e);
        }
        assert_eq!(
            seen.len(),
            Corruption::ALL.len(),
            "every kind shows up: {seen:?}"
        );
    }
}
