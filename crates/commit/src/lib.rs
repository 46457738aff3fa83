#![doc = include_str!("../README.md")]

mod field;
mod merkle;
mod poseidon;
mod tensor;

pub use field::{fr_from_bytes32, fr_from_i64, fr_to_bytes32, Digest};
pub use merkle::{KeccakTree, MerkleProof};
pub use poseidon::{
    poseidon_params, poseidon_t13, poseidon_t13_reference, PoseidonParams, CHUNK, WIDTH,
};
pub use tensor::{
    pack_word, state_commitment, tensor_commitment, tensor_commitments, tensor_header, StateLayout,
    LIMBS, LIMB_OFFSET, TAG_STATE, TAG_TENSOR,
};

pub use ark_bn254::Fr;
