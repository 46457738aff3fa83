#![doc = include_str!("../README.md")]

mod circuit;
mod error;
pub mod evm;
pub mod gadgets;
mod groth16;
mod ops;
pub mod poseidon;
pub mod templates;
pub mod v4;

pub use circuit::StepCircuit;
pub use error::{ProverError, Result};
pub use groth16::{
    circuit_stats, is_satisfied, prove, setup, verify, CircuitStats, Groth16Prover, KeyCache,
    StepKeys, StepProof, StepProver,
};
