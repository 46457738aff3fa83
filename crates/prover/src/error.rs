//! Typed errors of the prover.

/// Result alias of this crate.
pub type Result<T, E = ProverError> = core::result::Result<T, E>;

/// What can go wrong building, proving or checking a step proof.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// The step uses an operator (or operand kind) that has no circuit yet.
    #[error("step {step}: node `{node}` ({op}): no circuit: {reason}")]
    Unsupported {
        /// Step index.
        step: usize,
        /// Node name.
        node: String,
        /// Operator.
        op: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A step index past the program's last step.
    #[error("step {step} out of range: the program has {steps} steps")]
    StepOutOfRange {
        /// Requested step.
        step: usize,
        /// Number of steps.
        steps: usize,
    },
    /// Constraint synthesis or the proving system failed.
    #[error("proving system: {0}")]
    Synthesis(#[from] ark_relations::gr1cs::SynthesisError),
    /// Key or proof (de)serialisation failed.
    #[error("serialisation: {0}")]
    Serialization(#[from] ark_serialize::SerializationError),
    /// A proof that does not verify.
    #[error("the proof does not verify against the public inputs")]
    InvalidProof,
    /// The witness does not satisfy the circuit (engine and circuit disagree, or a tampered trace).
    #[error("step {step}: witness does not satisfy the circuit (first failing constraint: {constraint})")]
    Unsatisfied {
        /// Step index.
        step: usize,
        /// The failing constraint's name, if known.
        constraint: String,
    },
    /// Key cache I/O.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
