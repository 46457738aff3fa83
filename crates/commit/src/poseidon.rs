//! circomlib Poseidon over BN254 at width 13 (12 inputs), the one permutation the
//! commitments and circuits use. Constants come from light-poseidon (which pins
//! circomlib's); the permutation is ours so it runs on fixed-size arrays, and the tests
//! check it against light-poseidon's hasher.
//!
//! [`poseidon_t13`] evaluates the same function as the textbook rounds
//! ([`poseidon_t13_reference`]) in the "optimised" form of the Poseidon paper's appendix B
//! (as in circomlib's `poseidon_opt.js` and neptune), with every constant derived here from
//! the textbook ones:
//!
//! - partial rounds add a round constant to lane 0 only: the other lanes' constants pass
//!   the lane-0 S-box unchanged, so they are pushed through the MDS matrix into the next
//!   round's constants (the residue after the last partial round joins the next full round's);
//! - partial rounds multiply by a *sparse* matrix (dense first row, first column, identity
//!   elsewhere): the MDS matrix factors as `M = S · D` with `D = diag(1, A)`, and `D`
//!   commutes with a lane-0 S-box, so each round's `D` moves into the round before; the
//!   first partial round's lands in the last full round before them;
//! - dot products accumulate the unreduced 512-bit products and reduce once (Montgomery),
//!   instead of reducing after every multiplication;
//! - partial rounds run in groups of four: lanes 1.. are brought up to date once per group
//!   (one reduction per lane instead of four multiplications), and lane 0 reads them
//!   through precomputed correction terms;
//! - the last full round computes lane 0 only.
//!
//! All of it is exact field arithmetic, so outputs are the same field elements.

#[cfg(target_arch = "x86_64")]
pub(crate) mod ifma;

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::{BigInt, Field, One, PrimeField, Zero};

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

/// circomlib `Poseidon(12)` of exactly twelve inputs (domain lane zero), computed round by
/// round as specified (dense MDS in every round). [`poseidon_t13`] is the same function,
/// faster; this one is the reference the tests and benchmarks compare it with.
pub fn poseidon_t13_reference(inputs: &[Fr; WIDTH - 1]) -> Fr {
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

/// Full rounds on each side of the partial rounds (circomlib: 8 in all).
const HALF_FULL: usize = 4;

type Matrix = [[Fr; WIDTH]; WIDTH];
/// The lower-right `(WIDTH-1)²` block of a matrix.
type Block = [[Fr; WIDTH - 1]; WIDTH - 1];

/// Constants of the optimised evaluation, all derived from [`PoseidonParams`].
struct Optimized {
    /// Round constants of the full rounds, in order (the partial rounds' residue folded
    /// into the first full round after them).
    full_ark: [[Fr; WIDTH]; 2 * HALF_FULL],
    /// The MDS matrix.
    mds: Matrix,
    /// The matrix of the last full round before the partial rounds: `D_0 · M`.
    pre_sparse: Matrix,
    /// The partial rounds, in order.
    partial: Vec<PartialRound>,
}

/// Partial rounds are evaluated in groups of `GROUP`: within a group lanes 1.. stay as they
/// were at its start, and lane 0 reads them corrected by the `cross` terms; they are brought
/// up to date once per group. Round `j` of a group sums `WIDTH + j` products, at most
/// [`Wide::MAX_TERMS`].
const GROUP: usize = 4;
const _: () = assert!(WIDTH + GROUP - 1 <= Wide::MAX_TERMS);

/// One partial round: `s_0 ← S(s_0 + ark0)`, then the sparse matrix
/// `[[row_0, row_1..], [col, I]]`.
struct PartialRound {
    /// Lane-0 round constant.
    ark0: Fr,
    /// First row of the sparse matrix.
    row: [Fr; WIDTH],
    /// First column of the sparse matrix, below the diagonal.
    col: [Fr; WIDTH - 1],
    /// For round `j` of its group and `q < j`: `row[1..] · col` of round `q` of the group,
    /// the weight of that round's S-box output in this round's lane 0.
    cross: [Fr; GROUP - 1],
}

fn block_mul(a: &Block, b: &Block) -> Block {
    core::array::from_fn(|i| {
        core::array::from_fn(|j| (0..WIDTH - 1).map(|k| a[i][k] * b[k][j]).sum())
    })
}

fn block_identity() -> Block {
    core::array::from_fn(|i| core::array::from_fn(|j| if i == j { Fr::one() } else { Fr::zero() }))
}

/// Gauss–Jordan inverse; panics on a singular block (an MDS matrix's blocks never are).
fn block_inverse(m: &Block) -> Block {
    let n = WIDTH - 1;
    let mut a = *m;
    let mut inv = block_identity();
    for col in 0..n {
        let pivot = (col..n)
            .find(|&r| !a[r][col].is_zero())
            .expect("MDS sub-block is invertible");
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let scale = a[col][col].inverse().expect("non-zero pivot");
        for j in 0..n {
            a[col][j] *= scale;
            inv[col][j] *= scale;
        }
        for r in 0..n {
            if r != col && !a[r][col].is_zero() {
                let f = a[r][col];
                for j in 0..n {
                    let (ac, ic) = (a[col][j], inv[col][j]);
                    a[r][j] -= f * ac;
                    inv[r][j] -= f * ic;
                }
            }
        }
    }
    inv
}

fn optimized() -> &'static Optimized {
    static OPT: OnceLock<Optimized> = OnceLock::new();
    OPT.get_or_init(|| {
        let p = poseidon_params();
        assert_eq!(p.full_rounds, 2 * HALF_FULL, "circomlib has 8 full rounds");
        let rp = p.partial_rounds;
        let m = &p.mds;
        let ark =
            |round: usize| -> [Fr; WIDTH] { core::array::from_fn(|i| p.ark[round * WIDTH + i]) };
        let mat_vec = |v: &[Fr; WIDTH]| -> [Fr; WIDTH] {
            core::array::from_fn(|i| (0..WIDTH).map(|j| m[i][j] * v[j]).sum())
        };

        // Constants: a partial round adds `c = c_0 e_0 + c'` before a lane-0 S-box, so
        // `M·S(s + c) = M·S(s + c_0 e_0) + M c'`; `M c'` joins the next round's constants.
        let mut full_ark: [[Fr; WIDTH]; 2 * HALF_FULL] =
            core::array::from_fn(|r| ark(if r < HALF_FULL { r } else { rp + r }));
        let mut partial_ark = Vec::with_capacity(rp);
        let mut carried = [Fr::zero(); WIDTH];
        for r in 0..rp {
            let round = ark(HALF_FULL + r);
            let mut c: [Fr; WIDTH] = core::array::from_fn(|i| round[i] + carried[i]);
            partial_ark.push(c[0]);
            c[0] = Fr::zero();
            carried = mat_vec(&c);
        }
        for (a, c) in full_ark[HALF_FULL].iter_mut().zip(carried) {
            *a += c;
        }

        // Matrices: partial round k multiplies by N_k = D_{k+1}·M (D_rp = I); factor
        // N_k = S_k·D_k with D_k = diag(1, A_k), A_k = A_{k+1}·M̂, S_k = [[m00, v_k], [w_k, I]],
        // w_k = A_{k+1}·M[1..][0], v_k = M[0][1..]·A_k⁻¹. D_0 goes into the last full round.
        let m_hat: Block = core::array::from_fn(|i| core::array::from_fn(|j| m[i + 1][j + 1]));
        let m_hat_inv = block_inverse(&m_hat);
        let mut a = block_identity(); // A_{k+1}
        let mut a_inv = block_identity(); // A_{k+1}⁻¹
        let mut sparse_row = vec![[Fr::zero(); WIDTH]; rp];
        let mut sparse_col = vec![[Fr::zero(); WIDTH - 1]; rp];
        for k in (0..rp).rev() {
            sparse_col[k] =
                core::array::from_fn(|i| (0..WIDTH - 1).map(|j| a[i][j] * m[j + 1][0]).sum());
            a = block_mul(&a, &m_hat);
            a_inv = block_mul(&m_hat_inv, &a_inv);
            sparse_row[k][0] = m[0][0];
            for j in 0..WIDTH - 1 {
                sparse_row[k][j + 1] = (0..WIDTH - 1).map(|i| m[0][i + 1] * a_inv[i][j]).sum();
            }
        }
        debug_assert_eq!(block_mul(&a, &a_inv), block_identity());
        // D_0·M: row 0 unchanged, the other rows mixed by A_0.
        let mut pre_sparse = *m;
        for i in 0..WIDTH - 1 {
            for j in 0..WIDTH {
                pre_sparse[i + 1][j] = (0..WIDTH - 1).map(|k| a[i][k] * m[k + 1][j]).sum();
            }
        }
        let partial = (0..rp)
            .map(|r| {
                let start = r - r % GROUP;
                PartialRound {
                    ark0: partial_ark[r],
                    row: sparse_row[r],
                    col: sparse_col[r],
                    cross: core::array::from_fn(|q| {
                        if start + q >= r {
                            return Fr::zero();
                        }
                        (0..WIDTH - 1)
                            .map(|i| sparse_row[r][i + 1] * sparse_col[start + q][i])
                            .sum()
                    }),
                }
            })
            .collect();
        Optimized {
            full_ark,
            mds: *m,
            pre_sparse,
            partial,
        }
    })
}

/// The BN254 scalar modulus, little-endian limbs.
const MODULUS: [u64; 4] = <Fr as PrimeField>::MODULUS.0;
/// `-MODULUS⁻¹ mod 2^64` (Montgomery reduction).
const INV: u64 = {
    let mut inv = 1u64;
    let mut i = 0;
    while i < 63 {
        inv = inv.wrapping_mul(inv);
        inv = inv.wrapping_mul(MODULUS[0]);
        i += 1;
    }
    inv.wrapping_neg()
};

/// A sum of at most [`Wide::MAX_TERMS`] products of field elements, kept unreduced: the
/// exact 512-bit sum of the products of the Montgomery forms.
///
/// Bounds: every operand is canonical, below `r < 0.19 · 2^256`, so a sum of 16 products is
/// below `16 r² < 0.58 · 2^512`; the Montgomery reduction adds less than `r · 2^256`, so
/// nothing leaves 512 bits, and its result is below `16 r² / 2^256 + r < 4.1 r < 2^256`:
/// subtracting `2r` twice and then `r`, each only if the value is at least as large,
/// reduces it fully.
#[derive(Clone, Copy, Default)]
struct Wide([u64; 8]);

impl Wide {
    /// Most products one accumulator may hold (see the bounds above).
    const MAX_TERMS: usize = 16;

    /// Adds `x · y` (schoolbook 4×4 limbs, then one carry chain).
    #[inline(always)]
    fn add_product(&mut self, x: &Fr, y: &Fr) {
        let (x, y) = (&x.0 .0, &y.0 .0);
        let mut p = [0u64; 8];
        for i in 0..4 {
            let mut carry = 0u64;
            for j in 0..4 {
                let t =
                    u128::from(x[i]) * u128::from(y[j]) + u128::from(p[i + j]) + u128::from(carry);
                p[i + j] = t as u64;
                carry = (t >> 64) as u64;
            }
            p[i + 4] = carry;
        }
        let mut c = false;
        for (a, p) in self.0.iter_mut().zip(p) {
            let (s1, o1) = a.overflowing_add(p);
            let (s2, o2) = s1.overflowing_add(u64::from(c));
            *a = s2;
            c = o1 | o2;
        }
        debug_assert!(!c, "a Wide sum never exceeds 512 bits");
    }

    /// The field element of the sum: Montgomery reduction, then full reduction.
    #[inline(always)]
    fn reduce(self) -> Fr {
        let mut t = self.0;
        // Word-by-word Montgomery reduction; `top` carries into the limb after the window.
        let mut top = 0u64;
        for i in 0..4 {
            let m = t[i].wrapping_mul(INV);
            let x = u128::from(m) * u128::from(MODULUS[0]) + u128::from(t[i]);
            let mut carry = (x >> 64) as u64;
            for j in 1..4 {
                let x = u128::from(m) * u128::from(MODULUS[j])
                    + u128::from(t[i + j])
                    + u128::from(carry);
                t[i + j] = x as u64;
                carry = (x >> 64) as u64;
            }
            let x = u128::from(t[i + 4]) + u128::from(carry) + u128::from(top);
            t[i + 4] = x as u64;
            top = (x >> 64) as u64;
        }
        debug_assert_eq!(top, 0, "a reduced Wide sum fits 256 bits");
        let r = sub_if_geq([t[4], t[5], t[6], t[7]], &TWO_MODULUS);
        Fr::new_unchecked(BigInt::new(sub_if_geq(
            sub_if_geq(r, &TWO_MODULUS),
            &MODULUS,
        )))
    }
}

/// `2r`, little-endian limbs (below `2^255`).
const TWO_MODULUS: [u64; 4] = {
    let mut out = [0u64; 4];
    let mut i = 0;
    while i < 4 {
        out[i] = (MODULUS[i] << 1) | if i > 0 { MODULUS[i - 1] >> 63 } else { 0 };
        i += 1;
    }
    out
};

/// `x - m` when `x ≥ m`, else `x` (without a data-dependent branch).
#[inline(always)]
fn sub_if_geq(x: [u64; 4], m: &[u64; 4]) -> [u64; 4] {
    let mut d = [0u64; 4];
    let mut borrow = false;
    for ((d, x), m) in d.iter_mut().zip(x).zip(m) {
        let (v, b1) = x.overflowing_sub(*m);
        let (v, b2) = v.overflowing_sub(u64::from(borrow));
        *d = v;
        borrow = b1 | b2;
    }
    let keep = 0u64.wrapping_sub(u64::from(borrow));
    core::array::from_fn(|k| (x[k] & keep) | (d[k] & !keep))
}

/// `Σ a_i · b_i` with one reduction ([`Wide`]).
#[inline(always)]
pub(crate) fn dot<const M: usize>(a: &[Fr; M], b: &[Fr; M]) -> Fr {
    const { assert!(M <= Wide::MAX_TERMS) };
    let mut acc = Wide::default();
    for (x, y) in a.iter().zip(b) {
        acc.add_product(x, y);
    }
    acc.reduce()
}

#[inline(always)]
fn full_round(state: &mut [Fr; WIDTH], ark: &[Fr; WIDTH], matrix: &Matrix) {
    for (s, c) in state.iter_mut().zip(ark) {
        *s = sbox(*s + c);
    }
    let x = *state;
    for (s, row) in state.iter_mut().zip(matrix) {
        *s = dot(row, &x);
    }
}

/// circomlib `Poseidon(12)` of exactly twelve inputs (domain lane zero): the same field
/// element as [`poseidon_t13_reference`], in about a fifth of the time (see the module
/// documentation for how).
pub fn poseidon_t13(inputs: &[Fr; WIDTH - 1]) -> Fr {
    let o = optimized();
    let mut state = [Fr::zero(); WIDTH];
    state[1..].copy_from_slice(inputs);
    for r in 0..HALF_FULL - 1 {
        full_round(&mut state, &o.full_ark[r], &o.mds);
    }
    full_round(&mut state, &o.full_ark[HALF_FULL - 1], &o.pre_sparse);
    for group in o.partial.chunks(GROUP) {
        let mut x = [Fr::zero(); GROUP];
        for (j, round) in group.iter().enumerate() {
            // The part from the group's lanes first: it does not wait for the S-box.
            let mut acc = Wide::default();
            for (w, s) in round.row[1..].iter().zip(&state[1..]) {
                acc.add_product(w, s);
            }
            x[j] = sbox(state[0] + round.ark0);
            acc.add_product(&round.row[0], &x[j]);
            for (w, xq) in round.cross[..j].iter().zip(&x) {
                acc.add_product(w, xq);
            }
            state[0] = acc.reduce();
        }
        for (i, s) in state[1..].iter_mut().enumerate() {
            let mut acc = Wide::default();
            for (round, xq) in group.iter().zip(&x) {
                acc.add_product(&round.col[i], xq);
            }
            *s += acc.reduce();
        }
    }
    for r in HALF_FULL..2 * HALF_FULL - 1 {
        full_round(&mut state, &o.full_ark[r], &o.mds);
    }
    for (s, c) in state.iter_mut().zip(&o.full_ark[2 * HALF_FULL - 1]) {
        *s = sbox(*s + c);
    }
    dot(&o.mds[0], &state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use light_poseidon::{Poseidon, PoseidonHasher};

    /// Deterministic field elements: splitmix64 limbs reduced mod r, mixed with the extremes
    /// (0, 1, r - 1, r - 2, 2^253) that stress the lazy reductions.
    fn elements(seed: u64, n: usize) -> Vec<Fr> {
        let mut x = seed;
        let mut next = move || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        (0..n)
            .map(|_| match next() % 8 {
                0 => Fr::zero(),
                1 => Fr::one(),
                2 => -Fr::one(),
                3 => -Fr::from(2u64),
                4 => Fr::from(2u64).pow([253]),
                _ => {
                    let bytes: Vec<u8> = (0..4).flat_map(|_| next().to_le_bytes()).collect();
                    Fr::from_le_bytes_mod_order(&bytes)
                }
            })
            .collect()
    }

    #[test]
    fn montgomery_constant_inverts_the_modulus() {
        assert_eq!(MODULUS[0].wrapping_mul(INV), u64::MAX);
    }

    #[test]
    fn lazy_dot_products_match_field_arithmetic() {
        let naive = |a: &[Fr], b: &[Fr]| a.iter().zip(b).map(|(x, y)| *x * y).sum::<Fr>();
        for seed in 0..200 {
            let v = elements(seed, 2 * WIDTH);
            let (a, b): ([Fr; WIDTH], [Fr; WIDTH]) = (
                core::array::from_fn(|i| v[i]),
                core::array::from_fn(|i| v[WIDTH + i]),
            );
            assert_eq!(dot(&a, &b), naive(&a, &b));
            let (a16, b16): ([Fr; 16], [Fr; 16]) = (
                core::array::from_fn(|i| v[i]),
                core::array::from_fn(|i| v[i + 10]),
            );
            assert_eq!(dot(&a16, &b16), naive(&a16, &b16));
        }
        // The largest operands: the bounds of the lazy sum and the final subtractions.
        let max = [-Fr::one(); 16];
        assert_eq!(dot(&max, &max), naive(&max, &max));
        let max13 = [-Fr::one(); WIDTH];
        assert_eq!(dot(&max13, &max13), naive(&max13, &max13));
    }

    #[test]
    fn optimized_permutation_matches_reference_and_light_poseidon() {
        let mut library = Poseidon::<Fr>::new_circom(WIDTH - 1).unwrap();
        for seed in 0..64 {
            let v = elements(1000 + seed, WIDTH - 1);
            let inputs: [Fr; WIDTH - 1] = core::array::from_fn(|i| v[i]);
            let expected = library.hash(&inputs).unwrap();
            assert_eq!(poseidon_t13_reference(&inputs), expected);
            assert_eq!(poseidon_t13(&inputs), expected);
        }
        for x in [Fr::zero(), Fr::one(), -Fr::one()] {
            let inputs = [x; WIDTH - 1];
            assert_eq!(poseidon_t13(&inputs), library.hash(&inputs).unwrap());
        }
    }

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
