//! EVM encodings for `contracts/src/verifiers/Groth16Verifier.sol`: the verifying key as
//! constructor arguments and the proof as 256 calldata bytes. G2 coordinates go imaginary
//! part first (EIP-197).

use alloy_primitives::U256;
use ark_bn254::{Bn254, Fq, Fq2, G1Affine, G2Affine};
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::{Proof, VerifyingKey};

fn fq(x: &Fq) -> U256 {
    U256::from_be_slice(&x.into_bigint().to_bytes_be())
}

fn g1(p: &G1Affine) -> [U256; 2] {
    [fq(&p.x), fq(&p.y)]
}

fn fq2(x: &Fq2) -> [U256; 2] {
    [fq(&x.c1), fq(&x.c0)]
}

fn g2(p: &G2Affine) -> [[U256; 2]; 2] {
    [fq2(&p.x), fq2(&p.y)]
}

/// Constructor arguments of `Groth16Verifier`: `(alpha1, beta2, gamma2, delta2, ic)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierArgs {
    /// `alpha` in G1.
    pub alpha1: [U256; 2],
    /// `beta` in G2.
    pub beta2: [[U256; 2]; 2],
    /// `gamma` in G2.
    pub gamma2: [[U256; 2]; 2],
    /// `delta` in G2.
    pub delta2: [[U256; 2]; 2],
    /// `IC_0..IC_3` in G1 (three public inputs).
    pub ic: [[U256; 2]; 4],
}

/// The verifying key as `Groth16Verifier` constructor arguments. Panics only if the key is
/// not for three public inputs, which every step circuit has.
pub fn verifier_args(vk: &VerifyingKey<Bn254>) -> VerifierArgs {
    assert_eq!(
        vk.gamma_abc_g1.len(),
        4,
        "step circuits have three public inputs"
    );
    VerifierArgs {
        alpha1: g1(&vk.alpha_g1),
        beta2: g2(&vk.beta_g2),
        gamma2: g2(&vk.gamma_g2),
        delta2: g2(&vk.delta_g2),
        ic: core::array::from_fn(|i| g1(&vk.gamma_abc_g1[i])),
    }
}

/// `abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c)`: 256 bytes.
pub fn proof_calldata(proof: &Proof<Bn254>) -> Vec<u8> {
    let words: Vec<U256> = g1(&proof.a)
        .into_iter()
        .chain(g2(&proof.b).into_iter().flatten())
        .chain(g1(&proof.c))
        .collect();
    words.iter().flat_map(|w| w.to_be_bytes::<32>()).collect()
}

/// Decodes [`proof_calldata`] (rejecting points off the curve).
pub fn proof_from_calldata(bytes: &[u8]) -> Option<Proof<Bn254>> {
    if bytes.len() != 256 {
        return None;
    }
    let w: Vec<Fq> = bytes.chunks(32).map(Fq::from_be_bytes_mod_order).collect();
    let a = G1Affine::new_unchecked(w[0], w[1]);
    let b = G2Affine::new_unchecked(Fq2::new(w[3], w[2]), Fq2::new(w[5], w[4]));
    let c = G1Affine::new_unchecked(w[6], w[7]);
    let ok = [a, c]
        .iter()
        .all(|p| p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve())
        && b.is_on_curve()
        && b.is_in_correct_subgroup_assuming_on_curve();
    ok.then_some(Proof { a, b, c })
}

/// Constructor arguments of `Groth16TemplateVerifier` (any number of public inputs):
/// `(alpha1, beta2, gamma2, delta2, ic)`, `ic` the constant term then one point per input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateVerifierArgs {
    /// `alpha` in G1.
    pub alpha1: [U256; 2],
    /// `beta` in G2.
    pub beta2: [[U256; 2]; 2],
    /// `gamma` in G2.
    pub gamma2: [[U256; 2]; 2],
    /// `delta` in G2.
    pub delta2: [[U256; 2]; 2],
    /// `IC_0..IC_n` in G1.
    pub ic: Vec<[U256; 2]>,
}

/// A template's verifying key as `Groth16TemplateVerifier` constructor arguments.
pub fn template_verifier_args(vk: &VerifyingKey<Bn254>) -> TemplateVerifierArgs {
    TemplateVerifierArgs {
        alpha1: g1(&vk.alpha_g1),
        beta2: g2(&vk.beta_g2),
        gamma2: g2(&vk.gamma_g2),
        delta2: g2(&vk.delta_g2),
        ic: vk.gamma_abc_g1.iter().map(g1).collect(),
    }
}

/// A field element as the `uint256` the contracts take.
pub fn fr_to_u256(x: &ark_bn254::Fr) -> U256 {
    U256::from_be_slice(&x.into_bigint().to_bytes_be())
}
