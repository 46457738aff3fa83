//! Shared by the ceremony tests: a small template and Groth16 proving against bare keys.

#![allow(dead_code, unreachable_pub)]

use std::{marker::PhantomData, path::PathBuf};

use ark_bn254::{Bn254, Fr};
use ark_ff::Zero;
use ark_groth16::{Groth16, Proof, ProvingKey, VerifyingKey};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use ark_snark::SNARK;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkopml_prover::{gadgets::Cs, templates::Template};

/// Rounds of [`Cube`]: 3 constraints each.
pub const ROUNDS: usize = 60;

/// A small template: public `a` and `y`, witness `x`, and `y = f^ROUNDS(x)` with
/// `f(v) = v³ + a·v + 5` (184 constraints + instance variables: a 256-point domain).
pub struct Cube;

/// The witness of [`Cube`].
#[derive(Clone, Copy, Debug)]
pub struct CubeInstance {
    /// Public coefficient.
    pub a: Fr,
    /// Private start value.
    pub x: Fr,
}

impl CubeInstance {
    /// The public output.
    pub fn y(&self) -> Fr {
        (0..ROUNDS).fold(self.x, |v, _| v * v * v + self.a * v + Fr::from(5u64))
    }
}

impl Template for Cube {
    const NAME: &'static str = "test/cube/v1";
    type Instance = CubeInstance;

    fn public_inputs(inst: &CubeInstance) -> Vec<Fr> {
        vec![inst.a, inst.y()]
    }

    fn synthesize(cs: &Cs, inst: Option<&CubeInstance>) -> Result<(), SynthesisError> {
        let i = inst.copied().unwrap_or(CubeInstance {
            a: Fr::zero(),
            x: Fr::zero(),
        });
        let a = cs.input(i.a)?;
        let y = cs.input(i.y())?;
        let mut v = cs.witness(i.x)?;
        for _ in 0..ROUNDS {
            let v2 = cs.mul(&v, &v)?;
            let v3 = cs.mul(&v2, &v)?;
            let av = cs.mul(&a, &v)?;
            v = v3.add(&av).add_const(Fr::from(5u64));
        }
        cs.assert_eq(&v, &y)
    }
}

/// A template with a witness-free circuit larger than the committed powers (2^10): 1,100
/// constraints.
pub struct Big;

impl Template for Big {
    const NAME: &'static str = "test/big/v1";
    type Instance = ();

    fn public_inputs(_: &()) -> Vec<Fr> {
        Vec::new()
    }

    fn synthesize(cs: &Cs, _: Option<&()>) -> Result<(), SynthesisError> {
        let mut v = cs.witness(Fr::from(2u64))?;
        for _ in 0..1100 {
            v = cs.mul(&v, &v)?;
        }
        Ok(())
    }
}

struct Circuit<'a, T: Template>(&'a T::Instance, PhantomData<T>);

impl<T: Template> ConstraintSynthesizer<Fr> for Circuit<'_, T> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        T::synthesize(&Cs::new(cs), Some(self.0))
    }
}

/// A Groth16 proof of `inst` under `pk` (arkworks' prover, unchanged).
pub fn prove<T: Template>(pk: &ProvingKey<Bn254>, inst: &T::Instance) -> Proof<Bn254> {
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    Groth16::<Bn254>::prove(pk, Circuit::<T>(inst, PhantomData), &mut rng).expect("prove")
}

/// Whether `proof` verifies for `public` under `vk` (arkworks' verifier).
pub fn verifies(vk: &VerifyingKey<Bn254>, public: &[Fr], proof: &Proof<Bn254>) -> bool {
    Groth16::<Bn254>::verify(vk, public, proof).expect("well-formed inputs")
}

/// The committed snarkjs phase 1 (power 10).
pub fn testdata_ptau() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/pot10.ptau")
}

/// A deterministic RNG for tests.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}
