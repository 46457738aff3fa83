//! Keccak Merkle trees with the exact layout `contracts/src/lib/LibMerkle.sol` checks.
//!
//! Width is the next power of two at or above the leaf count; a present leaf's node is
//! `keccak256(value)` (its 32-byte ABI encoding), a padding leaf's node is zero, an inner
//! node is `keccak256(left || right)`. Proofs list `depth` siblings from the bottom up.

use alloy_primitives::{keccak256, B256};
use serde::{Deserialize, Serialize};

/// An inclusion proof: the leaf index and its siblings from the bottom up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    /// Position of the leaf.
    pub index: usize,
    /// Sibling nodes, bottom first.
    pub siblings: Vec<B256>,
}

/// A complete keccak tree, all levels kept so any leaf can be opened.
#[derive(Clone, Debug)]
pub struct KeccakTree {
    levels: Vec<Vec<B256>>,
    count: usize,
}

impl KeccakTree {
    /// Builds the tree over leaf *nodes* (already hashed with [`KeccakTree::leaf_node`] or an
    /// ABI encoding of the caller's choosing).
    pub fn from_leaf_nodes(nodes: Vec<B256>) -> Self {
        let count = nodes.len();
        let width = count.max(1).next_power_of_two();
        let mut level = nodes;
        level.resize(width, B256::ZERO);
        let mut levels = vec![level];
        while levels.last().map_or(0, Vec::len) > 1 {
            let prev = levels.last().expect("non-empty");
            let next = prev.chunks(2).map(|p| Self::node(p[0], p[1])).collect();
            levels.push(next);
        }
        Self { levels, count }
    }

    /// Builds the tree over 32-byte values (trace states): each leaf node is `keccak256(value)`.
    pub fn from_values(values: &[B256]) -> Self {
        Self::from_leaf_nodes(values.iter().map(|v| Self::leaf_node(*v)).collect())
    }

    /// The node of a present 32-byte leaf value.
    pub fn leaf_node(value: B256) -> B256 {
        keccak256(value)
    }

    /// An inner node.
    pub fn node(left: B256, right: B256) -> B256 {
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(left.as_slice());
        buf[32..].copy_from_slice(right.as_slice());
        keccak256(buf)
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.levels.last().expect("at least one level")[0]
    }

    /// Number of levels above the leaves.
    pub fn depth(&self) -> usize {
        self.levels.len() - 1
    }

    /// Number of present leaves.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the tree has no present leaves.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Opens leaf `index`; `None` past the present leaves.
    pub fn prove(&self, index: usize) -> Option<MerkleProof> {
        if index >= self.count {
            return None;
        }
        let siblings = self.levels[..self.depth()]
            .iter()
            .enumerate()
            .map(|(lvl, nodes)| nodes[(index >> lvl) ^ 1])
            .collect();
        Some(MerkleProof { index, siblings })
    }

    /// Checks that `leaf_node` sits at `proof.index` under `root`.
    pub fn verify(root: B256, leaf_node: B256, proof: &MerkleProof) -> bool {
        let mut acc = leaf_node;
        for (lvl, sib) in proof.siblings.iter().enumerate() {
            acc = if (proof.index >> lvl) & 1 == 1 {
                Self::node(*sib, acc)
            } else {
                Self::node(acc, *sib)
            };
        }
        acc == root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: u8) -> Vec<B256> {
        (0..n).map(|i| B256::repeat_byte(i + 1)).collect()
    }

    #[test]
    fn every_leaf_opens_and_wrong_leaves_do_not() {
        for n in 1..=9u8 {
            let vals = values(n);
            let tree = KeccakTree::from_values(&vals);
            for (i, v) in vals.iter().enumerate() {
                let proof = tree.prove(i).unwrap();
                assert!(KeccakTree::verify(
                    tree.root(),
                    KeccakTree::leaf_node(*v),
                    &proof
                ));
                assert!(!KeccakTree::verify(
                    tree.root(),
                    KeccakTree::leaf_node(B256::ZERO),
                    &proof
                ));
            }
            assert!(tree.prove(n as usize).is_none());
        }
    }

    #[test]
    fn single_leaf_root_is_its_node() {
        let v = B256::repeat_byte(7);
        let tree = KeccakTree::from_values(&[v]);
        assert_eq!(tree.depth(), 0);
        assert_eq!(tree.root(), KeccakTree::leaf_node(v));
    }

    #[test]
    fn padding_is_zero_nodes() {
        let vals = values(3);
        let tree = KeccakTree::from_values(&vals);
        let l = KeccakTree::node(
            KeccakTree::leaf_node(vals[0]),
            KeccakTree::leaf_node(vals[1]),
        );
        let r = KeccakTree::node(KeccakTree::leaf_node(vals[2]), B256::ZERO);
        assert_eq!(tree.root(), KeccakTree::node(l, r));
    }
}
