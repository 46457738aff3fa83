#![doc = include_str!("../README.md")]

mod chunked;
mod field;
mod merkle;
mod poseidon;
mod tensor;

pub use chunked::{
    chunk_count, chunk_digest, chunk_seed, chunk_trees, chunked_commitment, chunked_commitment_of,
    chunked_commitments, poseidon_t3, root_from_leaf, tree_depth, tree_node, wide_chunk_digest,
    wide_commitment, wide_tree, wide_trees, ChunkTree, CHUNK_VALUES, CHUNK_WORDS, MAX_TREE_DEPTH,
    PERMS_PER_CHUNK, TAG_CHUNK, TAG_WIDE_CHUNK,
};
pub use field::{fr_from_bytes32, fr_from_i64, fr_to_bytes32, Digest};
pub use merkle::{KeccakTree, MerkleProof};
pub use poseidon::{
    poseidon_params, poseidon_t13, poseidon_t13_reference, PoseidonParams, CHUNK, WIDTH,
};

/// Whether this CPU hashes eight Poseidon chains at once (AVX-512 IFMA): commitments of a
/// trace cost about a tenth of the scalar path's (a version-4 MiniLM trace: 54 s vs 555 s
/// on two cores). The values are the same either way.
pub fn hashes_eight_lanes() -> bool {
    poseidon::ifma::available()
}
pub use tensor::{
    pack_word, state_commitment, tensor_commitment, tensor_commitments, tensor_header, StateLayout,
    LIMBS, LIMB_OFFSET, TAG_STATE, TAG_TENSOR,
};

pub use ark_bn254::Fr;
