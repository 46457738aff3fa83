//! Typed errors of the ceremony.

use ark_relations::gr1cs::SynthesisError;
use ark_serialize::SerializationError;

/// Result alias of this crate.
pub type Result<T, E = CeremonyError> = core::result::Result<T, E>;

/// What can go wrong importing powers of tau, deriving keys, contributing or verifying.
///
/// Variants from [`CeremonyError::Phase1Contribution`] on are *verification failures*: the
/// material is well formed but is not what an honest ceremony produces
/// ([`CeremonyError::is_verification_failure`]); the others are bad input or I/O.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key, transcript or powers file that does not decode (including points off the
    /// curve or outside the prime-order subgroup).
    #[error("serialisation: {0}")]
    Serialization(#[from] SerializationError),
    /// Constraint synthesis of a template failed.
    #[error("constraint synthesis: {0}")]
    Synthesis(#[from] SynthesisError),
    /// A template whose constraint system is not plain R1CS (Groth16 needs exactly the
    /// R1CS predicate).
    #[error("template {template}: not an R1CS constraint system")]
    NotR1cs {
        /// The template.
        template: String,
    },
    /// A `.ptau` file that does not follow the snarkjs layout.
    #[error("ptau format: {reason}")]
    PtauFormat {
        /// What is wrong.
        reason: String,
    },
    /// A `.ptau` point with a non-canonical coordinate, off the curve or outside the
    /// prime-order subgroup.
    #[error("ptau section {section}: point {index} is not a valid group element")]
    InvalidPoint {
        /// The section's name (`tauG1`, …).
        section: &'static str,
        /// The point's index in the section.
        index: usize,
    },
    /// The powers are too few for the template's evaluation domain.
    #[error("template {template} needs powers of tau of size 2^{need} (a domain of {domain}), these have 2^{have}")]
    PowersTooSmall {
        /// The template.
        template: String,
        /// The domain size the template needs.
        domain: usize,
        /// log2 of that size.
        need: u32,
        /// log2 of the size of the powers.
        have: u32,
    },
    /// A power outside `1..=28` (BN254's scalar field has 2-adicity 28).
    #[error("power {power} outside 1..=28")]
    BadPower {
        /// The requested power.
        power: u32,
    },
    /// Keys or a transcript of another template than the one expected.
    #[error("expected template {expected}, got {got}")]
    TemplateMismatch {
        /// Expected name.
        expected: String,
        /// Name found.
        got: String,
    },
    /// A contribution made on top of other keys (or powers) than the transcript's latest.
    #[error("not the transcript's latest keys or powers")]
    NotLatest,
    /// A phase-1 contribution that does not verify.
    #[error("phase-1 contribution {index}: {check}")]
    Phase1Contribution {
        /// Index in the transcript.
        index: usize,
        /// The failed check.
        check: &'static str,
    },
    /// Powers of tau that are not consistent powers of one τ (and α, β).
    #[error("powers of tau inconsistent: {check}")]
    InconsistentPowers {
        /// The failed check.
        check: &'static str,
    },
    /// A transcript with no contribution: its secrets are public (τ = α = β = 1, or δ = 1).
    #[error("no contribution: the {phase} secrets are known to everyone")]
    NoContributions {
        /// `"phase-1"` or `"phase-2"`.
        phase: &'static str,
    },
    /// A phase-2 contribution that does not verify.
    #[error("phase-2 contribution {index}: {check}")]
    Phase2Contribution {
        /// Index in the transcript.
        index: usize,
        /// The failed check.
        check: &'static str,
    },
    /// Phase 2 changed a part of the keys it must leave as phase 1 derived it.
    #[error("phase 2 changed {what}, which only phase 1 determines")]
    KeysChanged {
        /// The part that differs.
        what: &'static str,
    },
    /// Final keys whose δ or L/H queries are not those the transcript proves.
    #[error("final keys do not match the transcript: {check}")]
    FinalKeys {
        /// The failed check.
        check: &'static str,
    },
    /// Keys whose digest differs from the one the transcript records.
    #[error("{which} keys do not match the transcript's digest")]
    DigestMismatch {
        /// `"initial"` or `"final"`.
        which: &'static str,
    },
}

impl CeremonyError {
    /// Whether this error means "the ceremony material is wrong" (a failed pairing check,
    /// a changed query, a digest mismatch) rather than unreadable input or I/O: a CLI maps
    /// it to its own exit code, and a coordinator rejects the contribution.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            Self::Phase1Contribution { .. }
                | Self::InconsistentPowers { .. }
                | Self::NoContributions { .. }
                | Self::Phase2Contribution { .. }
                | Self::KeysChanged { .. }
                | Self::FinalKeys { .. }
                | Self::DigestMismatch { .. }
                | Self::NotLatest
        )
    }
}
