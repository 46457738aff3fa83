//! Eight circomlib Poseidon (t = 13) permutations at once with AVX-512 IFMA, for hashing
//! eight independent chains in lock-step (the tensor commitments of one trace).
//!
//! The same function as [`poseidon_t13`](super::poseidon_t13), evaluated in the same
//! optimised order (see the parent module) on a different representation: a field element
//! is five 52-bit limbs, one `__m512i` per limb holding that limb of eight elements, in
//! Montgomery form with `R = 2^260`. `vpmadd52{lo,hi}uq` multiply the low 52 bits of two
//! limbs and add the low or high half of the 104-bit product to a 64-bit accumulator, so a
//! product of two elements is 25 + 25 such instructions into ten column accumulators, and a
//! sum of products stays unreduced in the columns until one Montgomery reduction.
//!
//! Bounds (why nothing overflows and every operand of a product is a canonical 52-bit limb):
//! - every element entering a product is below `3p` and its limbs are normalised (< 2^52);
//!   constants are below `p`;
//! - a column receives at most 10 half-products (< 2^52 each) per product, so a sum of
//!   `K ≤ 16` products leaves every column below `160 · 2^52 < 2^60`, and the reduction adds
//!   at most `10 · 2^52` more;
//! - a reduction of a sum `T < p · 2^260` returns `(T + m·p) / 2^260 < 2p`; the sums here
//!   are at most 16 products of an element below `2p` with a constant below `p`
//!   (`32 p² < p · 2^260`), five such (`10 p²`), or one product of two elements below `3p`
//!   (`9 p²`) — all below `p · 2^260` because `p < 2^254`;
//! - adding a constant (< p) to an element (< 2p) gives less than `3p`, and is normalised
//!   before it is multiplied.
//!
//! Results leave the representation through [`from_lanes`], which reduces below `p` and
//! divides out `R` with ark's field arithmetic: the same field elements as the scalar code,
//! which the tests check lane by lane.

use core::arch::x86_64::*;
use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::{BigInt, Field, One, PrimeField};

use super::{optimized, CHUNK, GROUP, HALF_FULL, MODULUS, WIDTH};

/// Lanes per vector.
pub(crate) const LANES: usize = 8;
const MASK: u64 = (1 << 52) - 1;

/// A field element in this module's form: five 52-bit limbs of `x · 2^260 mod p` (or that
/// plus `p`), least significant first.
pub(crate) type Limbs = [u64; 5];

/// Eight elements, limb-major.
#[derive(Clone, Copy)]
struct F8([__m512i; 5]);

/// Unreduced sum of products: ten 64-bit columns of weight `2^(52k)`.
type Acc = [__m512i; 10];

/// The permutation's constants, every one in this module's form.
struct Consts {
    full_ark: [[Limbs; WIDTH]; 2 * HALF_FULL],
    mds: [[Limbs; WIDTH]; WIDTH],
    pre_sparse: [[Limbs; WIDTH]; WIDTH],
    partial: Vec<Partial>,
    /// One (`2^260 mod p`).
    one: Limbs,
    /// `2^520 mod p`: a Montgomery product with it puts an integer into this form.
    r2: Limbs,
    /// `p` in 52-bit limbs.
    p: Limbs,
    /// `-p⁻¹ mod 2^52`.
    p_inv: u64,
}

struct Partial {
    ark0: Limbs,
    row: [Limbs; WIDTH],
    col: [Limbs; WIDTH - 1],
    cross: [Limbs; GROUP - 1],
}

/// `2^260 mod p` as a field element (derived once: every tensor a lane starts converts its
/// header with it).
fn r_mod_p() -> Fr {
    static R: OnceLock<Fr> = OnceLock::new();
    *R.get_or_init(|| Fr::from(2u64).pow([260]))
}

/// The 52-bit limbs of an integer below `2^256`.
fn split52(x: [u64; 4]) -> Limbs {
    let bit = |k: usize| -> u64 {
        let (word, shift) = (k / 64, k % 64);
        let lo = x[word] >> shift;
        let hi = if shift > 12 && word + 1 < 4 {
            x[word + 1] << (64 - shift)
        } else {
            0
        };
        (lo | hi) & MASK
    };
    core::array::from_fn(|k| bit(52 * k))
}

/// The integer of five 52-bit limbs (below `2^256`).
fn join52(l: Limbs) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (k, limb) in l.iter().enumerate() {
        let bit = 52 * k;
        let (word, shift) = (bit / 64, bit % 64);
        out[word] |= limb << shift;
        if shift > 12 && word + 1 < 4 {
            out[word + 1] |= limb >> (64 - shift);
        }
    }
    out
}

/// `x` in this module's form.
pub(crate) fn to_limbs(x: &Fr) -> Limbs {
    split52((*x * r_mod_p()).into_bigint().0)
}

/// The field element of a lane value (below `2p`).
pub(crate) fn from_limbs(l: Limbs) -> Fr {
    let mut v = join52(l);
    if !lt(&v, &MODULUS) {
        v = sub(&v, &MODULUS);
    }
    Fr::from_bigint(BigInt::new(v)).expect("a lane value below 2p reduces below p") * r_inv()
}

fn r_inv() -> Fr {
    static R_INV: OnceLock<Fr> = OnceLock::new();
    *R_INV.get_or_init(|| r_mod_p().inverse().expect("2^260 is invertible mod p"))
}

fn lt(a: &[u64; 4], b: &[u64; 4]) -> bool {
    for k in (0..4).rev() {
        if a[k] != b[k] {
            return a[k] < b[k];
        }
    }
    false
}

fn sub(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut borrow = false;
    for k in 0..4 {
        let (v, b1) = a[k].overflowing_sub(b[k]);
        let (v, b2) = v.overflowing_sub(u64::from(borrow));
        out[k] = v;
        borrow = b1 | b2;
    }
    out
}

fn consts() -> &'static Consts {
    static C: OnceLock<Consts> = OnceLock::new();
    C.get_or_init(|| {
        let o = optimized();
        let conv_row =
            |row: &[Fr; WIDTH]| -> [Limbs; WIDTH] { core::array::from_fn(|j| to_limbs(&row[j])) };
        let r = r_mod_p();
        Consts {
            full_ark: core::array::from_fn(|r| conv_row(&o.full_ark[r])),
            mds: core::array::from_fn(|i| conv_row(&o.mds[i])),
            pre_sparse: core::array::from_fn(|i| conv_row(&o.pre_sparse[i])),
            partial: o
                .partial
                .iter()
                .map(|p| Partial {
                    ark0: to_limbs(&p.ark0),
                    row: conv_row(&p.row),
                    col: core::array::from_fn(|i| to_limbs(&p.col[i])),
                    cross: core::array::from_fn(|q| to_limbs(&p.cross[q])),
                })
                .collect(),
            one: to_limbs(&Fr::one()),
            // The integer R² mod p (`to_limbs(x)` is the integer x · R mod p).
            r2: to_limbs(&r),
            p: split52(MODULUS),
            p_inv: {
                // -p⁻¹ mod 2^64 by Newton's iteration, then its low 52 bits.
                let mut inv = 1u64;
                for _ in 0..6 {
                    inv = inv.wrapping_mul(2u64.wrapping_sub(MODULUS[0].wrapping_mul(inv)));
                }
                inv.wrapping_neg() & MASK
            },
        }
    })
}

/// Whether this CPU can run the eight-lane permutation.
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512ifma")
    })
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn splat(c: &Limbs) -> F8 {
    F8(core::array::from_fn(|k| _mm512_set1_epi64(c[k] as i64)))
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn zero_acc() -> Acc {
    [_mm512_setzero_si512(); 10]
}

/// `acc += a · b` (unreduced).
#[target_feature(enable = "avx512f,avx512ifma")]
fn mac(acc: &mut Acc, a: &F8, b: &F8) {
    for i in 0..5 {
        for j in 0..5 {
            acc[i + j] = _mm512_madd52lo_epu64(acc[i + j], a.0[i], b.0[j]);
            acc[i + j + 1] = _mm512_madd52hi_epu64(acc[i + j + 1], a.0[i], b.0[j]);
        }
    }
}

/// Montgomery reduction of a sum below `p · 2^260`: the element below `2p`, normalised.
#[target_feature(enable = "avx512f,avx512ifma")]
fn reduce(mut t: Acc, c: &Consts) -> F8 {
    let p_inv = _mm512_set1_epi64(c.p_inv as i64);
    let p = splat(&c.p);
    for i in 0..5 {
        // m = t_i · (-p⁻¹) mod 2^52 (IFMA reads the low 52 bits of t_i).
        let m = _mm512_madd52lo_epu64(_mm512_setzero_si512(), t[i], p_inv);
        for j in 0..5 {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], m, p.0[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], m, p.0[j]);
        }
        // t_i is now a multiple of 2^52: carry it on.
        t[i + 1] = _mm512_add_epi64(t[i + 1], _mm512_srli_epi64::<52>(t[i]));
    }
    normalise([t[5], t[6], t[7], t[8], t[9]])
}

/// Carries every limb above bit 52 into the next one.
#[target_feature(enable = "avx512f,avx512ifma")]
fn normalise(mut r: [__m512i; 5]) -> F8 {
    let mask = _mm512_set1_epi64(MASK as i64);
    for k in 0..4 {
        r[k + 1] = _mm512_add_epi64(r[k + 1], _mm512_srli_epi64::<52>(r[k]));
        r[k] = _mm512_and_si512(r[k], mask);
    }
    F8(r)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn mul(a: &F8, b: &F8, c: &Consts) -> F8 {
    let mut acc = zero_acc();
    mac(&mut acc, a, b);
    reduce(acc, c)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn add_const(a: &F8, k: &Limbs) -> F8 {
    normalise(core::array::from_fn(|i| {
        _mm512_add_epi64(a.0[i], _mm512_set1_epi64(k[i] as i64))
    }))
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn sbox(x: &F8, c: &Consts) -> F8 {
    let x2 = mul(x, x, c);
    let x4 = mul(&x2, &x2, c);
    mul(&x4, x, c)
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn full_round(s: &mut [F8; WIDTH], ark: &[Limbs; WIDTH], m: &[[Limbs; WIDTH]; WIDTH], c: &Consts) {
    for (x, k) in s.iter_mut().zip(ark) {
        *x = sbox(&add_const(x, k), c);
    }
    let x = *s;
    for (out, row) in s.iter_mut().zip(m) {
        let mut acc = zero_acc();
        for (w, xj) in row.iter().zip(&x) {
            mac(&mut acc, &splat(w), xj);
        }
        *out = reduce(acc, c);
    }
}

/// The permutation of eight states `[0, h, words...]` (this module's form): eight outputs.
#[target_feature(enable = "avx512f,avx512ifma")]
fn permute(h: &F8, words: &[F8; CHUNK], c: &Consts) -> F8 {
    let zero = F8([_mm512_setzero_si512(); 5]);
    let mut s = [zero; WIDTH];
    s[1] = *h;
    s[2..].copy_from_slice(words);
    for r in 0..HALF_FULL - 1 {
        full_round(&mut s, &c.full_ark[r], &c.mds, c);
    }
    full_round(&mut s, &c.full_ark[HALF_FULL - 1], &c.pre_sparse, c);
    for group in c.partial.chunks(GROUP) {
        let mut x = [zero; GROUP];
        for (j, round) in group.iter().enumerate() {
            let mut acc = zero_acc();
            for (w, si) in round.row[1..].iter().zip(&s[1..]) {
                mac(&mut acc, &splat(w), si);
            }
            x[j] = sbox(&add_const(&s[0], &round.ark0), c);
            mac(&mut acc, &splat(&round.row[0]), &x[j]);
            for (w, xq) in round.cross[..j].iter().zip(&x) {
                mac(&mut acc, &splat(w), xq);
            }
            s[0] = reduce(acc, c);
        }
        // Lanes 1..: s_i · 1 + Σ col_i · x_q, one reduction (keeps s_i below 2p).
        let one = splat(&c.one);
        for (i, si) in s[1..].iter_mut().enumerate() {
            let mut acc = zero_acc();
            mac(&mut acc, &one, si);
            for (round, xq) in group.iter().zip(&x) {
                mac(&mut acc, &splat(&round.col[i]), xq);
            }
            *si = reduce(acc, c);
        }
    }
    for r in HALF_FULL..2 * HALF_FULL - 1 {
        full_round(&mut s, &c.full_ark[r], &c.mds, c);
    }
    for (x, k) in s.iter_mut().zip(&c.full_ark[2 * HALF_FULL - 1]) {
        *x = sbox(&add_const(x, k), c);
    }
    let mut acc = zero_acc();
    for (w, xj) in c.mds[0].iter().zip(&s) {
        mac(&mut acc, &splat(w), xj);
    }
    reduce(acc, c)
}

/// circomlib Poseidon t = 3 (the chunk trees' node hash) in this module's form: the
/// unoptimised round order of [`crate::chunked::poseidon_t3`] (every round a full MDS).
struct Consts3 {
    ark: Vec<[Limbs; 3]>,
    mds: [[Limbs; 3]; 3],
    half_full: usize,
    partial: usize,
}

fn consts3() -> &'static Consts3 {
    static C: OnceLock<Consts3> = OnceLock::new();
    C.get_or_init(|| {
        let (ark, mds, half_full, partial) = crate::chunked::t3_params();
        let row = |r: &[Fr; 3]| -> [Limbs; 3] { core::array::from_fn(|j| to_limbs(&r[j])) };
        Consts3 {
            ark: ark.iter().map(row).collect(),
            mds: core::array::from_fn(|i| row(&mds[i])),
            half_full,
            partial,
        }
    })
}

/// Eight circomlib `Poseidon(2)` hashes at once: lane `l` is `poseidon_t3(a[l], b[l])`.
/// Panics if called on a CPU without IFMA: callers check [`available`].
pub(crate) fn poseidon_t3_x8(a: &[Fr; LANES], b: &[Fr; LANES]) -> [Fr; LANES] {
    assert!(available(), "AVX-512 IFMA is not available on this CPU");
    // SAFETY: the CPU supports avx512f and avx512ifma (checked above).
    unsafe { poseidon_t3_ifma(a, b) }
}

/// Bounds as the module's: lanes enter a round below `2p`, leave `add_const` below `3p`
/// (normalised), and every MDS row is a sum of three products with constants below `p`.
#[target_feature(enable = "avx512f,avx512ifma")]
fn poseidon_t3_ifma(a: &[Fr; LANES], b: &[Fr; LANES]) -> [Fr; LANES] {
    let c = consts();
    let k = consts3();
    let zero = F8([_mm512_setzero_si512(); 5]);
    let mut s = [
        zero,
        load(&a.map(|x| to_limbs(&x))),
        load(&b.map(|x| to_limbs(&x))),
    ];
    for (round, ark) in k.ark.iter().enumerate() {
        let full = round < k.half_full || round >= k.half_full + k.partial;
        for (i, (x, r)) in s.iter_mut().zip(ark).enumerate() {
            let y = add_const(x, r);
            *x = if full || i == 0 { sbox(&y, c) } else { y };
        }
        let x = s;
        for (out, row) in s.iter_mut().zip(&k.mds) {
            let mut acc = zero_acc();
            for (w, xj) in row.iter().zip(&x) {
                mac(&mut acc, &splat(w), xj);
            }
            *out = reduce(acc, c);
        }
    }
    store(&s[0]).map(from_limbs)
}

/// Lane-major limbs → vector.
#[target_feature(enable = "avx512f,avx512ifma")]
fn load(lanes: &[Limbs; LANES]) -> F8 {
    F8(core::array::from_fn(|k| {
        let v: [u64; LANES] = core::array::from_fn(|l| lanes[l][k]);
        // SAFETY: `v` is 64 readable bytes; the load is unaligned.
        unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
    }))
}

/// Vector → lane-major limbs.
#[target_feature(enable = "avx512f,avx512ifma")]
fn store(x: &F8) -> [Limbs; LANES] {
    let mut limbs = [[0u64; LANES]; 5];
    for (k, out) in limbs.iter_mut().enumerate() {
        // SAFETY: `out` is 64 writable bytes; the store is unaligned.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), x.0[k]) };
    }
    core::array::from_fn(|l| core::array::from_fn(|k| limbs[k][l]))
}

/// One chain step on eight lanes: `h_l ← Poseidon(h_l, words_l)` where `h` is in this
/// module's form and `words` are plain integers below `2^256` (packed tensor words; the
/// zero word for padding). Panics (debug) if called on a CPU without IFMA: callers check
/// [`available`].
pub(crate) fn chain_step(h: &mut [Limbs; LANES], words: &[[[u64; 4]; LANES]; CHUNK]) {
    assert!(available(), "AVX-512 IFMA is not available on this CPU");
    // SAFETY: the CPU supports avx512f and avx512ifma (checked above).
    unsafe { chain_step_ifma(h, words) }
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn chain_step_ifma(h: &mut [Limbs; LANES], words: &[[[u64; 4]; LANES]; CHUNK]) {
    let c = consts();
    let r2 = splat(&c.r2);
    let w: [F8; CHUNK] = core::array::from_fn(|j| {
        let plain = load(&core::array::from_fn(|l| split52(words[j][l])));
        // w · R² / R = w · R: the word in this form.
        mul(&plain, &r2, c)
    });
    *h = store(&permute(&load(h), &w, c));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poseidon::poseidon_t13;
    use ark_ff::Zero;

    #[test]
    fn limbs_round_trip() {
        for x in [
            Fr::zero(),
            Fr::one(),
            -Fr::one(),
            Fr::from(2u64).pow([253]),
            Fr::from(12345u64),
        ] {
            assert_eq!(from_limbs(to_limbs(&x)), x);
            assert_eq!(join52(split52(x.into_bigint().0)), x.into_bigint().0);
        }
    }

    #[test]
    fn eight_t3_lanes_equal_eight_scalar_hashes() {
        if !available() {
            return;
        }
        let mut x = Fr::from(0x5eed_u64);
        let mut next = || {
            x = x * x + Fr::from(7u64);
            x
        };
        for _ in 0..4 {
            let a: [Fr; LANES] = core::array::from_fn(|_| next());
            let mut b: [Fr; LANES] = core::array::from_fn(|_| next());
            b[3] = Fr::zero();
            b[5] = -Fr::one();
            let lanes = poseidon_t3_x8(&a, &b);
            for l in 0..LANES {
                assert_eq!(
                    lanes[l],
                    crate::chunked::poseidon_t3(a[l], b[l]),
                    "lane {l}"
                );
            }
        }
    }

    #[test]
    fn eight_lanes_equal_eight_scalar_permutations() {
        if !available() {
            eprintln!("skipped: no AVX-512 IFMA on this CPU");
            return;
        }
        let extremes = [
            Fr::zero(),
            Fr::one(),
            -Fr::one(),
            -Fr::from(2u64),
            Fr::from(2u64).pow([253]),
        ];
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..16 {
            let h_fr: [Fr; LANES] = core::array::from_fn(|l| {
                if round % 2 == 0 {
                    extremes[(l + round) % extremes.len()]
                } else {
                    Fr::from_le_bytes_mod_order(
                        &(0..4)
                            .flat_map(|_| next().to_le_bytes())
                            .collect::<Vec<_>>(),
                    )
                }
            });
            let words: [[[u64; 4]; LANES]; CHUNK] = core::array::from_fn(|_| {
                core::array::from_fn(|_| match next() % 4 {
                    0 => [0; 4],
                    1 => [u64::MAX, u64::MAX, u64::MAX, u32::MAX as u64], // 2^224 - 1
                    _ => [next(), next(), next(), next() & 0xffff_ffff],
                })
            });
            let mut h: [Limbs; LANES] = core::array::from_fn(|l| to_limbs(&h_fr[l]));
            chain_step(&mut h, &words);
            for l in 0..LANES {
                let mut inputs = [Fr::zero(); WIDTH - 1];
                inputs[0] = h_fr[l];
                for j in 0..CHUNK {
                    inputs[1 + j] = Fr::from(BigInt::new(words[j][l]));
                }
                assert_eq!(
                    from_limbs(h[l]),
                    poseidon_t13(&inputs),
                    "round {round} lane {l}"
                );
            }
        }
    }
}
