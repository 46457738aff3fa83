//! Group arithmetic the ceremony needs in bulk: scalar multiplication by GLV in both groups
//! (arkworks uses GLV for BN254's G1 only), parallel rescaling, and the "same ratio" pairing
//! check every verification step reduces to.

use ark_bn254::{g2, Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{
    pairing::Pairing, scalar_mul::glv::GLVConfig, AffineRepr, CurveGroup, VariableBaseMSM,
};
use ark_ff::{UniformRand, Zero};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// `p · s` in G1 (GLV: arkworks' `mul_projective` for BN254 G1).
pub(crate) fn mul_g1(p: &G1Affine, s: &Fr) -> G1Projective {
    p.into_group() * s
}

/// `p · s` in G2 by GLV, about twice as fast as arkworks' default double-and-add there.
pub(crate) fn mul_g2(p: &G2Affine, s: &Fr) -> G2Projective {
    <g2::Config as GLVConfig>::glv_mul_projective(p.into_group(), *s)
}

/// `points[i] · scalars[i]` for every i, in parallel, as affine points.
pub(crate) fn mul_each_g1(points: &[G1Affine], scalars: &[Fr]) -> Vec<G1Affine> {
    debug_assert_eq!(points.len(), scalars.len());
    let v: Vec<G1Projective> = points
        .par_iter()
        .zip(scalars.par_iter())
        .map(|(p, s)| mul_g1(p, s))
        .collect();
    G1Projective::normalize_batch(&v)
}

/// `points[i] · scalars[i]` for every i, in parallel, as affine points.
pub(crate) fn mul_each_g2(points: &[G2Affine], scalars: &[Fr]) -> Vec<G2Affine> {
    debug_assert_eq!(points.len(), scalars.len());
    let v: Vec<G2Projective> = points
        .par_iter()
        .zip(scalars.par_iter())
        .map(|(p, s)| mul_g2(p, s))
        .collect();
    G2Projective::normalize_batch(&v)
}

/// Every point times the same scalar `s`, in parallel.
pub(crate) fn scale_g1(points: &[G1Affine], s: &Fr) -> Vec<G1Affine> {
    let v: Vec<G1Projective> = points.par_iter().map(|p| mul_g1(p, s)).collect();
    G1Projective::normalize_batch(&v)
}

/// `1, x, x², …, x^{len−1}`.
pub(crate) fn powers_of(x: Fr, len: usize) -> Vec<Fr> {
    let mut out = Vec::with_capacity(len);
    let mut acc = Fr::from(1u64);
    for _ in 0..len {
        out.push(acc);
        acc *= x;
    }
    out
}

/// A uniformly random non-zero scalar.
pub(crate) fn random_nonzero<R: Rng + ?Sized>(rng: &mut R) -> Fr {
    loop {
        let x = Fr::rand(rng);
        if !x.is_zero() {
            return x;
        }
    }
}

/// Whether `(a, b)` in G1 and `(c, d)` in G2 are related by the same secret k:
/// `b = k·a` and `d = k·c`, checked as `e(a, d) = e(b, c)`. Identity points never pass
/// (they would make the check vacuous).
pub(crate) fn same_ratio(g1: (G1Affine, G1Affine), g2: (G2Affine, G2Affine)) -> bool {
    let (a, b) = g1;
    let (c, d) = g2;
    if a.is_zero() || b.is_zero() || c.is_zero() || d.is_zero() {
        return false;
    }
    Bn254::multi_pairing([a, -b], [d, c]).is_zero()
}

/// Fresh verifier randomness: the coefficients of random linear combinations must be
/// unknown to whoever made the points being checked.
pub(crate) fn verifier_rng() -> ChaCha20Rng {
    ChaCha20Rng::from_rng(rand::rngs::OsRng).expect("the OS provides randomness")
}

/// `Σ ρ_i · points[i]` with random ρ, for the "all pairs have the same ratio" checks:
/// if `after_i = k·before_i` for every i, then `Σρ·after = k·Σρ·before`, and if some pair
/// has another ratio the combined pair passes with probability ≤ 1/r.
pub(crate) fn combine(points: &[G1Affine], rho: &[Fr]) -> G1Affine {
    G1Projective::msm_unchecked(points, &rho[..points.len()]).into_affine()
}

/// [`combine`] in G2.
pub(crate) fn combine_g2(points: &[G2Affine], rho: &[Fr]) -> G2Affine {
    G2Projective::msm_unchecked(points, &rho[..points.len()]).into_affine()
}

/// `len` random coefficients.
pub(crate) fn random_coefficients(len: usize) -> Vec<Fr> {
    let mut rng = verifier_rng();
    (0..len).map(|_| Fr::rand(&mut rng)).collect()
}

/// A G2 point derived from `data` by SHA-256 → ChaCha20 → a random curve point with the
/// cofactor cleared: nobody knows its discrete logarithm to any other point.
pub(crate) fn hash_to_g2(data: &[u8]) -> G2Affine {
    let seed: [u8; 32] = Sha256::digest(data).into();
    let mut rng = ChaCha20Rng::from_seed(seed);
    G2Projective::rand(&mut rng).into_affine()
}

#[cfg(test)]
mod tests {
    use ark_ec::PrimeGroup;

    use super::*;

    /// The GLV multiplication in G2 equals arkworks' plain double-and-add.
    #[test]
    fn glv_in_g2_is_scalar_multiplication() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for _ in 0..8 {
            let p = (G2Projective::generator() * Fr::rand(&mut rng)).into_affine();
            let s = Fr::rand(&mut rng);
            assert_eq!(mul_g2(&p, &s), p.into_group() * s);
        }
    }

    #[test]
    fn same_ratio_accepts_equal_ratios_only() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let (k, j) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let a = G1Affine::generator();
        let c = (G2Projective::generator() * j).into_affine();
        let b = mul_g1(&a, &k).into_affine();
        let d = mul_g2(&c, &k).into_affine();
        assert!(same_ratio((a, b), (c, d)));
        assert!(!same_ratio((a, b), (c, c)));
        assert!(!same_ratio((a, G1Affine::zero()), (c, G2Affine::zero())));
    }
}
