//! Program version 4: a compiled program *lowered* onto the fixed template library, and the
//! commitments and leaf proofs of a run of it (`docs/protocol.md` §10).
//!
//! Lowering turns every engine node into one or more *template operators*, each proved
//! chunk by chunk by one template of [`crate::templates`]:
//!
//! | engine node | template operators |
//! |---|---|
//! | `Relu`, `Clip` | one `clip_chunk` |
//! | `Reshape` (`Flatten`, `Squeeze`, `Unsqueeze`) | one `clip_chunk` with the full `i32` range (the identity) |
//! | `Add`, `Sub`, `Mul` of equal-length operands | one `binary_chunk` |
//! | `Gemm` (one row of `A`, constant `B`) | `B` × `gemm_block` over wide partial sums, then one `rescale_chunk` |
//! | `MatMul` (any rows, batch dims, computed `B`), `Gemm` of several rows or a computed `B` | `K` × `matmul_block` (one per inner index) over wide partial sums in `Y`'s layout, then one `rescale_chunk` |
//! | `Conv` (batch 1, constant weights) | one `conv_block` per tap of the window, then one `rescale_chunk` |
//! | `MaxPool` (batch 1, floor mode) | one `pool_block` per tap, then one `rescale_chunk` with `S = 0` |
//! | `GlobalAveragePool` | `min(H·W, chunks(X))` × `gap_block` (exact plane sums), then one `avg_chunk` (`div_round` by the counts, a model constant) |
//! | `AveragePool` (batch 1; any kernel, stride, padding, `ceil_mode`, `count_include_pad`) | one `conv_block` per tap with weight 1 per channel (depthwise), then one `avg_chunk`; a window that is the whole unpadded plane lowers as `GlobalAveragePool` |
//! | `Div` (`Reciprocal` = `Div(1, x)`), broadcast as for `Add` | one `div_chunk` |
//! | `Sqrt`; `Pow` with one integer exponent `0..=8` | one `sqrt_chunk`; one `pow_chunk` |
//! | `ReduceL2` | (a `gather_chunk` moving the reduced axes to the end, if needed) `min(n, chunks(X))` × `group_block` (sums of squares), then one `sqrt_wide` |
//!
//! The template operators are what the game bisects over: steps are groups of
//! `ops_per_step` of them, the partial sums of a reduction are operator outputs like any other
//! (computed only by the parties of a dispute, like the whole version-4 trace), so a leaf is
//! always one chunk of one template operator and the contracts need no level beyond §10.2's
//! three. Model constants (weights, in the template layout) are never in a state: each is
//! committed inline in the operator leaf that reads it ([`Source::Const`]), so the model
//! root commits the weights.
//!
//! - [`Lowered`]: the lowered program, its operator leaves, static layout, model root and
//!   layout root (what `register` publishes; no keys).
//! - [`V4Trace`]: every tensor of one run with its chunk tree, the states `S_b`, the step
//!   outputs `P_i`, the trace leaves `L_b` and their root, with every opening a move needs.
//! - [`LeafInstance`]: the witness of the leaf (operator `o`, chunk `j`) of a trace, proved
//!   with [`LeafProver`].

mod leaf;
mod lower;
mod trace;

pub use leaf::{LeafInstance, LeafProver};
pub use lower::{
    fr_u256, layout_leaf, Data, LOp, LOpKind, LValue, LValueId, Lowered, OperatorLeaf, Origin,
    Source, CONST_FLAG, SOURCE_EMPTY, SOURCE_OUTPUT, SOURCE_STATE,
};
pub use trace::{input_state, output_state, trace_leaf, V4Trace};

/// What can go wrong lowering a program or building a leaf.
#[derive(Debug, thiserror::Error)]
pub enum V4Error {
    /// An engine node no template proves yet.
    #[error("node `{node}` ({op}): no template proves it yet: {reason}")]
    Unsupported {
        /// Node name.
        node: String,
        /// Operator.
        op: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A tensor whose version-4 commitment does not exist (rank above nine, or a tree
    /// deeper than a template opens).
    #[error("tensor `{0}` cannot be committed under version 4 (rank or size)")]
    Uncommittable(String),
    /// The engine failed to run the program.
    #[error(transparent)]
    Engine(#[from] zkopml_engine::EngineError),
    /// An operator index past the program's operators.
    #[error("operator {index} out of range: the program has {count}")]
    OperatorOutOfRange {
        /// Requested operator.
        index: usize,
        /// Number of template operators.
        count: usize,
    },
    /// A value index past the lowered program's values.
    #[error("value {index} out of range: the program has {count}")]
    ValueOutOfRange {
        /// Requested value.
        index: usize,
        /// Number of values.
        count: usize,
    },
    /// A chunk index past the operator output's last chunk (its leaf is the empty value).
    #[error("chunk {index} out of range: the output has {chunks} chunks")]
    ChunkOutOfRange {
        /// Requested chunk.
        index: usize,
        /// Chunks of the output.
        chunks: usize,
    },
    /// Proving failed.
    #[error(transparent)]
    Prover(#[from] crate::ProverError),
    /// A program input or output given to [`input_state`] or [`output_state`] that is
    /// missing or does not have the lowered value's size.
    #[error("{what} `{name}`: {reason}")]
    BoundaryTensor {
        /// "input" or "output".
        what: &'static str,
        /// The lowered value's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}
