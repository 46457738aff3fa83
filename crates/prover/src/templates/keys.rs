//! Keys, proofs and verification of templates. Keys depend on the template alone: one
//! setup per template for the whole protocol.

use std::{marker::PhantomData, time::Instant};

use alloy_primitives::keccak256;
use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, SynthesisError, SynthesisMode,
};
use ark_snark::SNARK;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tracing::info_span;

use super::Template;
use crate::{gadgets::Cs, ProverError, Result};

struct Circuit<'a, T: Template> {
    inst: Option<&'a T::Instance>,
    _t: PhantomData<T>,
}

impl<T: Template> ConstraintSynthesizer<Fr> for Circuit<'_, T> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        T::synthesize(&Cs::new(cs), self.inst)
    }
}

/// A template's Groth16 keys.
pub struct TemplateKeys<T: Template> {
    /// Proving key.
    pub pk: ProvingKey<Bn254>,
    /// Prepared verifying key.
    pub pvk: PreparedVerifyingKey<Bn254>,
    /// True for keys from [`template_setup`] (public seed: anyone can forge proofs).
    pub test_keys: bool,
    _t: PhantomData<T>,
}

impl<T: Template> TemplateKeys<T> {
    /// Keys from a ceremony (`zkopml ceremony export`): not test keys.
    pub fn from_ceremony(pk: ProvingKey<Bn254>) -> Result<Self> {
        let pvk = Groth16::<Bn254>::process_vk(&pk.vk)?;
        Ok(Self {
            pk,
            pvk,
            test_keys: false,
            _t: PhantomData,
        })
    }

    /// The verifying key (what a verifier contract is generated from).
    pub fn vk(&self) -> &VerifyingKey<Bn254> {
        &self.pvk.vk
    }
}

/// A template proof with its public inputs.
#[derive(Clone, Debug)]
pub struct TemplateProof {
    /// The Groth16 proof.
    pub proof: Proof<Bn254>,
    /// Public inputs, as the circuit allocates them.
    pub public: Vec<Fr>,
}

/// Setup of template `T` with deterministic **test** randomness derived from its name
/// (`keccak256("zkopml/template-test-keys/v1" ‖ NAME)`): every party can regenerate the same
/// keys, so anyone can forge proofs under them. A deployment uses ceremony keys.
pub fn template_setup<T: Template>() -> Result<TemplateKeys<T>> {
    let _s = info_span!("template_setup", template = T::NAME).entered();
    let mut seed = b"zkopml/template-test-keys/v1".to_vec();
    seed.extend_from_slice(T::NAME.as_bytes());
    let mut rng = ChaCha20Rng::from_seed(keccak256(seed).0);
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(
        Circuit::<T> {
            inst: None,
            _t: PhantomData,
        },
        &mut rng,
    )?;
    Ok(TemplateKeys {
        pk,
        pvk: Groth16::<Bn254>::process_vk(&vk)?,
        test_keys: true,
        _t: PhantomData,
    })
}

/// Number of constraints of template `T` (synthesised without a witness, no keys).
pub fn template_stats<T: Template>() -> Result<usize> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: false,
        generate_lc_assignments: false,
    });
    let h = Cs::new(cs);
    T::synthesize(&h, None)?;
    Ok(h.constraints())
}

/// Whether `inst` satisfies template `T` (no keys; names the failing constraint's index).
pub fn template_satisfied<T: Template>(inst: &T::Instance) -> Result<bool> {
    let h = Cs::checking();
    T::synthesize(&h, Some(inst))?;
    Ok(h.first_unsatisfied().is_none())
}

/// Proves `inst` under `keys`; a witness that does not satisfy the template is an
/// [`ProverError::Unsatisfied`] error, never a proof (every proof is verified before it is
/// returned; a failure is then told apart from mismatched keys by a satisfiability check).
pub fn template_prove<T: Template>(
    keys: &TemplateKeys<T>,
    inst: &T::Instance,
) -> Result<TemplateProof> {
    // arkworks' prover `debug_assert!`s satisfiability: with debug assertions on, a false
    // statement must be caught before it gets there (release builds skip this synthesis).
    if cfg!(debug_assertions) && !template_satisfied::<T>(inst)? {
        return Err(ProverError::Unsatisfied {
            step: 0,
            constraint: format!("template {}: the instance is not a true statement", T::NAME),
        });
    }
    let _s = info_span!("template_prove", template = T::NAME).entered();
    let started = Instant::now();
    let mut rng = ChaCha20Rng::from_rng(rand::rngs::OsRng).expect("OS randomness");
    let proof = Groth16::<Bn254>::prove(
        &keys.pk,
        Circuit::<T> {
            inst: Some(inst),
            _t: PhantomData,
        },
        &mut rng,
    )?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "proved");
    let public = T::public_inputs(inst);
    if template_verify(keys, &public, &proof).is_err() {
        let constraint = if template_satisfied::<T>(inst)? {
            format!("template {}: none (keys do not match the circuit)", T::NAME)
        } else {
            format!("template {}: the instance is not a true statement", T::NAME)
        };
        return Err(ProverError::Unsatisfied {
            step: 0,
            constraint,
        });
    }
    Ok(TemplateProof { proof, public })
}

/// Verifies a template proof against public inputs the verifier built itself.
pub fn template_verify<T: Template>(
    keys: &TemplateKeys<T>,
    public: &[Fr],
    proof: &Proof<Bn254>,
) -> Result<()> {
    match Groth16::<Bn254>::verify_with_processed_vk(&keys.pvk, public, proof)? {
        true => Ok(()),
        false => Err(ProverError::InvalidProof),
    }
}

/// On-disk cache of template **test** keys (`test-template-<name>.pk`, the name's `/` as `_`):
/// [`template_setup`] is deterministic, so a cached key is the key every party derives.
/// Ceremony keys are never stored here.
#[derive(Clone, Debug)]
pub struct TemplateKeyCache {
    dir: std::path::PathBuf,
}

impl TemplateKeyCache {
    /// A cache rooted at `dir` (created on first write).
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where template `name`'s test proving key is stored.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir
            .join(format!("test-template-{}.pk", name.replace('/', "_")))
    }

    /// Template `T`'s test keys, from the cache or from [`template_setup`] (then stored).
    pub fn get<T: Template>(&self) -> Result<TemplateKeys<T>> {
        use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
        let path = self.path(T::NAME);
        if let Ok(bytes) = std::fs::read(&path) {
            match ProvingKey::<Bn254>::deserialize_with_mode(&bytes[..], Compress::No, Validate::No)
            {
                Ok(pk) => {
                    return Ok(TemplateKeys {
                        pvk: Groth16::<Bn254>::process_vk(&pk.vk)?,
                        pk,
                        test_keys: true,
                        _t: PhantomData,
                    })
                }
                Err(_) => {
                    tracing::warn!(path = %path.display(), "corrupt cached template key, regenerating")
                }
            }
        }
        let keys = template_setup::<T>()?;
        let io = |source| ProverError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let mut bytes = Vec::new();
        keys.pk.serialize_with_mode(&mut bytes, Compress::No)?;
        let tmp = path.with_extension(crate::groth16::unique_tmp());
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(keys)
    }
}
