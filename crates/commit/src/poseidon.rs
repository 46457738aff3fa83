//! circomlib Poseidon over BN254 at width 13 (12 inputs), the one permutation the
//! commitments and circuits use. Constants come from light-poseidon (which pins
//! circomlib's); the permutation is ours so it runs on fixed-size arrays, and the tests
//! check it against light-poseidon's hasher.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::{Field, Zero};

/// State width of the permutation (circomlib `t`).
pub const WIDTH: usize = 13;
/// Values absorbed per permutation next to the running chain value.
pub const CHUNK: usize = WIDTH - 2;

/// The permutation's constants in the shape the native and circuit code both read.
#[derive(Debug)]
pub struct PoseidonParams {
    /// Round constants, `WIDTH` per round.
    pub ark: Vec<Fr>,
    /// The MDS matrix, row-major.
    pub mds: [[Fr; WIDTH]; WIDTH],
    /// Full rounds (half before, half after the partial rounds).
    pub full_rounds: usize,
    /// Partial rounds (S-box on the first lane only).
    pub partial_rounds: usize,
}

/// The width-13 circomlib parameters (cached; shared with the circuits).
pub fn poseidon_params() -> &'static PoseidonParams {
    static PARAMS: OnceLock<PoseidonParams> = OnceLock::new();
    PARAMS.get_or_init(|| {
        let p = light_poseidon::parameters::bn254_x5::get_poseidon_parameters::<Fr>(WIDTH as u8)
            .expect("width 13 is one of circomlib's parameter sets");
        assert_eq!(p.alpha, 5, "circomlib Poseidon uses x^5");
        let mds = core::array::from_fn(|i| core::array::from_fn(|j| p.mds[i][j]));
        PoseidonParams {
            ark: p.ark,
            mds,
            full_rounds: p.full_rounds,
            partial_rounds: p.partial_rounds,
        }
    })
}

fn sbox(x: Fr) -> Fr {
    let x2 = x.square();
    x2.square() * x
}

/// circomlib `Poseidon(12)` of exactly twelve inputs (domain lane zero).
pub fn poseidon_t13(inputs: &[Fr; WIDTH - 1]) -> Fr {
    let p = poseidon_params();
    let mut state = [Fr::zero(); WIDTH];
    state[1..].copy_from_slice(inputs);
    let half = p.full_rounds / 2;
    for round in 0..p.full_rounds + p.partial_rounds {
        for (i, s) in state.iter_mut().enumerate() {
            *s += p.ark[round * WIDTH + i];
        }
        if round < half || round >= half + p.partial_rounds {
            state.iter_mut().for_each(|s| *s = sbox(*s));
        } else {
            state[0] = sbox(state[0]);
        }
        let prev = state;
        for (i, s) in state.iter_mut().enumerate() {
            *s = prev
                .iter()
                .zip(&p.mds[i])
                .fold(Fr::zero(), |acc, (a, m)| acc + *a * m);
        }
    }
    state[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::PrimeField;
    use light_poseidon::{Poseidon, PoseidonHasher};

    #[test]
    fn agrees_with_light_poseidon_circom_hasher() {
        let mut reference = Poseidon::<Fr>::new_circom(12).unwrap();
        for seed in 0..4u64 {
            let inputs: [Fr; 12] =
                core::array::from_fn(|i| Fr::from(seed * 1000 + i as u64) - Fr::from(7u64));
            assert_eq!(poseidon_t13(&inputs), reference.hash(&inputs).unwrap());
        }
    }

    /// circomlib's published vector for `poseidon([1, 2])` (circomlib `test/poseidon.js`):
    /// pins that the parameter source is circomlib's.
    #[test]
    fn parameter_source_matches_circomlib_vector() {
        let mut h = Poseidon::<Fr>::new_circom(2).unwrap();
        let out = h.hash(&[Fr::from(1u64), Fr::from(2u64)]).unwrap();
        assert_eq!(
            out.into_bigint().to_string(),
            "7853200120776062878684798364095072458815029376092732009249414926327459813530"
        );
    }
}
