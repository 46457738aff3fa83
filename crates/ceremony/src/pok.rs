//! Proofs of knowledge of a contribution's secret (Bowe–Gabizon–Miers 2017, §3; the same
//! shape as snarkjs's and `phase2-bn254`'s public keys).
//!
//! A contributor with secret `x` publishes a random `s ∈ G1`, `s·x`, and `r·x` where
//! `r ∈ G2` is hashed from the ceremony's challenge and `(s, s·x)`. `e(s, r·x) = e(s·x, r)`
//! shows `r·x` was made with the same `x`, and since `r` is fixed by the challenge, only
//! someone knowing `x` could produce it — a contribution cannot be a function of another
//! participant's (the "rogue key" attack). The verifier then checks that the contribution
//! applied exactly this `x` to the previous state with the pair `(r, r·x)`.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::UniformRand;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::Rng;

use crate::curve::{hash_to_g2, mul_g1, mul_g2, same_ratio};

/// A proof of knowledge of a secret `x`, bound to a challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct Pok {
    /// A random G1 point.
    pub s: G1Affine,
    /// `s · x`.
    pub s_x: G1Affine,
    /// `r · x`, with `r` = [`Pok::base`] of the challenge and `(s, s·x)`.
    pub r_x: G2Affine,
}

impl Pok {
    /// Proves knowledge of the non-zero `x` under `challenge` (a hash of everything the
    /// contribution builds on).
    pub fn prove<R: Rng + ?Sized>(x: &Fr, challenge: &[u8], rng: &mut R) -> Self {
        let s = G1Projective::rand(rng).into_affine();
        let s_x = mul_g1(&s, x).into_affine();
        let r = Self::base(challenge, &s, &s_x);
        let r_x = mul_g2(&r, x).into_affine();
        Pok { s, s_x, r_x }
    }

    /// The G2 point `r` the proof multiplies: hashed from the challenge and `(s, s·x)`.
    pub fn base(challenge: &[u8], s: &G1Affine, s_x: &G1Affine) -> G2Affine {
        let mut data = b"zkopml/ceremony/pok/v1".to_vec();
        data.extend_from_slice(challenge);
        s.serialize_compressed(&mut data)
            .expect("writing to a Vec cannot fail");
        s_x.serialize_compressed(&mut data)
            .expect("writing to a Vec cannot fail");
        hash_to_g2(&data)
    }

    /// Whether the proof is valid under `challenge`: `e(s, r·x) = e(s·x, r)` with none of
    /// the points the identity (`x ≠ 0`).
    pub fn verify(&self, challenge: &[u8]) -> bool {
        let r = Self::base(challenge, &self.s, &self.s_x);
        !self.s.is_zero() && same_ratio((self.s, self.s_x), (r, self.r_x))
    }

    /// Whether `after = before · x` for the `x` this proof is about (checked against
    /// `(r, r·x)`; call [`Pok::verify`] first).
    pub fn applied(&self, challenge: &[u8], before: G1Affine, after: G1Affine) -> bool {
        let r = Self::base(challenge, &self.s, &self.s_x);
        same_ratio((before, after), (r, self.r_x))
    }
}

#[cfg(test)]
mod tests {

    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    #[test]
    fn a_proof_verifies_under_its_own_challenge_only() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let x = Fr::rand(&mut rng);
        let pok = Pok::prove(&x, b"challenge", &mut rng);
        assert!(pok.verify(b"challenge"));
        assert!(!pok.verify(b"another challenge"));
        let g = G1Affine::generator();
        assert!(pok.applied(b"challenge", g, mul_g1(&g, &x).into_affine()));
        assert!(!pok.applied(b"challenge", g, mul_g1(&g, &(x + x)).into_affine()));
    }

    #[test]
    fn a_proof_for_another_secret_is_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let (x, y) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let mut pok = Pok::prove(&x, b"c", &mut rng);
        pok.s_x = mul_g1(&pok.s, &y).into_affine();
        assert!(!pok.verify(b"c"));
    }
}
