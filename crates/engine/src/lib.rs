#![doc = include_str!("../README.md")]

pub mod chunked_trace;
mod error;
pub mod exec;
pub mod fixed;
pub mod import;
pub mod io;
pub mod ops;
pub mod program;
mod tensor;

pub use error::{EngineError, Result};
pub use exec::{
    activations, evaluate, execute, execute_with_fault, input_commitment, output_commitment,
    step_is_consistent, Timings, Trace,
};
pub use program::{Node, Program, ValueId, ValueInfo, ValueKind, PROGRAM_VERSION};
pub use tensor::Tensor;
