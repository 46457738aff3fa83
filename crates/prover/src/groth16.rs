//! Groth16 over BN254 behind the [`StepProver`] trait: setup, key cache, prove, verify.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use alloy_primitives::keccak256;
use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey};
use ark_relations::gr1cs::{ConstraintSystem, SynthesisMode};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use ark_snark::SNARK;
use rand_chacha::{rand_core::SeedableRng, ChaCha20Rng};
use tracing::info_span;
use zkopml_commit::fr_to_bytes32;
use zkopml_engine::{Program, Trace};

use crate::{circuit::StepCircuit, gadgets::Cs, ProverError, Result};

/// A proof of one step with the public inputs it was made for.
#[derive(Clone, Debug, PartialEq)]
pub struct StepProof {
    /// The Groth16 proof.
    pub proof: Proof<Bn254>,
    /// `[S_i, S_{i+1}, step digest]`.
    pub public: [Fr; 3],
}

/// Size and timing of a circuit, for benchmarks and the key cache log.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CircuitStats {
    /// R1CS constraints.
    pub constraints: usize,
    /// Witness variables.
    pub witnesses: usize,
}

/// A backend that proves steps (Groth16 today; a zkVM or KZG system could implement it).
pub trait StepProver {
    /// Proves `step` of `program` from an honest `trace`.
    fn prove(&self, program: &Program, step: usize, trace: &Trace) -> Result<StepProof>;
    /// Checks a proof of `step` natively.
    fn verify(&self, program: &Program, step: usize, proof: &StepProof) -> Result<()>;
}

/// The proving and verifying key of one step.
pub struct StepKeys {
    /// Proving key.
    pub pk: ProvingKey<Bn254>,
    /// Prepared verifying key.
    pub pvk: PreparedVerifyingKey<Bn254>,
    /// Whether these keys come from local randomness (every key made by [`setup`]).
    pub test_keys: bool,
}

impl StepKeys {
    /// The verifying key.
    pub fn vk(&self) -> &VerifyingKey<Bn254> {
        &self.pk.vk
    }
}

/// Counts constraints and witnesses of a step without proving: synthesis in arkworks'
/// prove mode without matrices (only witness values are stored), so steps far too large to
/// set up here — mobilenet_v2's convolutions — can still be measured.
pub fn circuit_stats(program: &Program, step: usize) -> Result<CircuitStats> {
    StepCircuit::check_supported(program, step)?;
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: false,
        generate_lc_assignments: false,
    });
    let counted = Cs::new(cs.clone());
    StepCircuit {
        program,
        step,
        trace: None,
    }
    .synthesize(&counted)?;
    Ok(CircuitStats {
        constraints: counted.constraints(),
        witnesses: cs.num_witness_variables(),
    })
}

/// [`circuit_stats`] the way key generation sees it: setup mode, matrices built.
#[cfg(test)]
fn circuit_stats_setup(program: &Program, step: usize) -> Result<CircuitStats> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(ark_relations::gr1cs::OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    StepCircuit {
        program,
        step,
        trace: None,
    }
    .synthesize(&Cs::new(cs.clone()))?;
    Ok(CircuitStats {
        constraints: cs.num_constraints(),
        witnesses: cs.num_witness_variables(),
    })
}

/// Checks that the trace satisfies the step's circuit (debugging and agreement tests).
pub fn is_satisfied(program: &Program, step: usize, trace: &Trace) -> Result<bool> {
    StepCircuit::check_supported(program, step)?;
    let cs = Cs::checking();
    StepCircuit {
        program,
        step,
        trace: Some(trace),
    }
    .synthesize(&cs)?;
    Ok(cs.first_unsatisfied().is_none())
}

/// The seed of a step's **test** keys: keccak256("zkopml/test-keys/v1" ‖ step digest).
/// Anyone can recompute it, so anyone can forge proofs under these keys: they exist so a
/// devnet needs no ceremony, and are labelled as test keys everywhere.
fn test_key_seed(program: &Program, step: usize) -> [u8; 32] {
    let mut buf = b"zkopml/test-keys/v1".to_vec();
    buf.extend_from_slice(&fr_to_bytes32(&program.step_digest(step)));
    keccak256(buf).0
}

/// Circuit-specific setup of one step with deterministic **test** randomness.
pub fn setup(program: &Program, step: usize) -> Result<StepKeys> {
    StepCircuit::check_supported(program, step)?;
    let _s = info_span!("groth16_setup", step).entered();
    let mut rng = ChaCha20Rng::from_seed(test_key_seed(program, step));
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(
        StepCircuit {
            program,
            step,
            trace: None,
        },
        &mut rng,
    )?;
    Ok(StepKeys {
        pk,
        pvk: Groth16::<Bn254>::process_vk(&vk)?,
        test_keys: true,
    })
}

/// A directory of proving keys addressed by step digest; files are named `test-*.pk` so a
/// test key is never mistaken for a ceremony key.
#[derive(Clone, Debug)]
pub struct KeyCache {
    dir: PathBuf,
}

impl KeyCache {
    /// A cache rooted at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, program: &Program, step: usize) -> PathBuf {
        self.dir.join(format!(
            "test-{}.pk",
            hex::encode(fr_to_bytes32(&program.step_digest(step)))
        ))
    }

    /// Loads the step's keys, running [`setup`] and storing them on a miss.
    pub fn get(&self, program: &Program, step: usize) -> Result<StepKeys> {
        let path = self.path(program, step);
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(pk) =
                ProvingKey::<Bn254>::deserialize_with_mode(&bytes[..], Compress::No, Validate::No)
            {
                let pvk = Groth16::<Bn254>::process_vk(&pk.vk)?;
                return Ok(StepKeys {
                    pk,
                    pvk,
                    test_keys: true,
                });
            }
            tracing::warn!(path = %path.display(), "corrupt cached key, regenerating");
        }
        let keys = setup(program, step)?;
        let io = |source| ProverError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let mut bytes = Vec::new();
        keys.pk.serialize_with_mode(&mut bytes, Compress::No)?;
        let tmp = path.with_extension(unique_tmp());
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(keys)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Proves `step` with `keys`; fails with [`ProverError::Unsatisfied`] if the trace does not
/// satisfy the circuit (checked first: a prover never emits a proof of a false statement).
pub fn prove(keys: &StepKeys, program: &Program, step: usize, trace: &Trace) -> Result<StepProof> {
    StepCircuit::check_supported(program, step)?;
    if !zkopml_engine::step_is_consistent(program, step, trace) {
        return Err(ProverError::Unsatisfied {
            step,
            constraint: "the trace's own transition at this step is false".into(),
        });
    }
    let _s = info_span!("groth16_prove", step).entered();
    let started = Instant::now();
    let circuit = StepCircuit {
        program,
        step,
        trace: Some(trace),
    };
    let public = StepCircuit::public_inputs(program, step, trace);
    let mut rng = ChaCha20Rng::from_rng(rand::rngs::OsRng).expect("OS randomness");
    let proof = Groth16::<Bn254>::prove(&keys.pk, circuit, &mut rng)?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "proved");
    let out = StepProof { proof, public };
    if verify(&keys.pvk, &out).is_err() {
        let constraint = if is_satisfied(program, step, trace)? {
            "none (keys do not match the circuit)".into()
        } else {
            "see is_satisfied".into()
        };
        return Err(ProverError::Unsatisfied { step, constraint });
    }
    Ok(out)
}

/// Verifies a step proof natively.
pub fn verify(pvk: &PreparedVerifyingKey<Bn254>, proof: &StepProof) -> Result<()> {
    match Groth16::<Bn254>::verify_with_processed_vk(pvk, &proof.public, &proof.proof)? {
        true => Ok(()),
        false => Err(ProverError::InvalidProof),
    }
}

/// A temp-file extension unique to this process and call, so concurrent writers of the same
/// key never rename each other's file.
pub(crate) fn unique_tmp() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "tmp{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// [`StepProver`] with a key cache.
pub struct Groth16Prover {
    /// Where keys live.
    pub cache: KeyCache,
}

impl StepProver for Groth16Prover {
    fn prove(&self, program: &Program, step: usize, trace: &Trace) -> Result<StepProof> {
        prove(&self.cache.get(program, step)?, program, step, trace)
    }

    fn verify(&self, program: &Program, step: usize, proof: &StepProof) -> Result<()> {
        verify(&self.cache.get(program, step)?.pvk, proof)
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, path::PathBuf};

    use super::*;

    /// The count-only synthesis counts exactly what setup builds, on every step of lenet5
    /// (all CNN op kinds) and xgboost (the selection ops).
    #[test]
    fn count_only_stats_equal_setup_stats() {
        for model in ["lenet5", "xgboost"] {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../testdata")
                .join(model)
                .join("model.onnx");
            let graph = zkopml_engine::import::load_file(&path).unwrap();
            let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
            for step in 0..program.num_steps() {
                let (a, b) = (
                    circuit_stats(&program, step).unwrap(),
                    circuit_stats_setup(&program, step).unwrap(),
                );
                assert_eq!(
                    (a.constraints, a.witnesses),
                    (b.constraints, b.witnesses),
                    "{model} step {step}"
                );
            }
        }
    }
}
