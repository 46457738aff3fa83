//! `Sqrt`, `Pow` with a constant integer exponent, and the square root that finishes a
//! `ReduceL2` (engine: `ops/math.rs` [`sqrt_q`], [`pow_q`], [`sqrt_round`]; `ops/reduce.rs`
//! `ReduceKind::L2`): three templates, each exactly the engine's integers.
//!
//! **`sqrt_chunk`.** Public inputs `[C(X), j, d]`: output chunk `j` of `Y = Sqrt(X)` has leaf
//! digest `d`, `y = round(sqrt(x·2^F))` for `x > 0` and `0` for `x ≤ 0` ([`sqrt_q`]). Per
//! value, with `z = [x ≤ 0]` (the sign bit of `x`'s range check and an `is_zero`),
//! `n = (1 − z)·x·2^F` and a witness `y ∈ [0, 2^22)`: `y·z = 0`,
//! `d₁ = n − y² + y − 1 + z ∈ [0, 2^23)` and `d₂ = y² + y − n ∈ [0, 2^23)`. For `n ≥ 1` the two
//! say `y² − y < n ≤ y² + y`, i.e. `|sqrt(n) − y| < 1/2` (no ties exist for integer `n`):
//! exactly one `y`. Everything is below `2^45`, so no equation wraps. ≈ 76 per value.
//!
//! **`pow_chunk`.** Public inputs `[C(X), j, e, d]`, `e ∈ 0..=MAX_POW` (one exponent for the
//! whole tensor): `y = pow_q(x, e)`, the exact power rounded once (half up) and saturated:
//! `2^F` for `e = 0`, `x` for `e = 1`, `rescale(x^e, (e − 1)·F)` otherwise. Scaled to one
//! shift, `rescale(x^e, (e − 1)·F) = rescale(x^e·2^{F(K−e)}, (K − 1)·F)` with `K = MAX_POW`
//! (numerator and divisor times the same power of two; for `e = 1` it is `x`, for `e = 0`
//! `2^F`), so per value the powers `x², …, x^K` (7 products), the one-hot exponent picks
//! `acc = Σ_e [e]·x^e·2^{F(K−e)}` (`|acc| ≤ 2^248`), and one saturating rescale by `84` bits
//! over a 251-bit decomposition. The engine's overflow rule (an `|x|^e ≥ 2^127` saturates by
//! its sign) is what the exact value does anyway. ≈ 270 per value.
//!
//! **`sqrt_wide`.** Public inputs `[C(S), j, d]` with `S` wide: output chunk `j` of
//! `y = sat(round(sqrt(s)))` has leaf digest `d` — the last step of a `ReduceL2`, whose
//! `S = Σ x²` per group is `group_block`'s sum of squares (`templates/reduce.rs`, unchanged).
//! The same two inequalities as `sqrt_chunk` with `z = [s = 0]`, `y ∈ [0, 2^46)` (a group
//! has `< 2^28` values, so `s < 2^90`), `d₁, d₂ ∈ [0, 2^47)` — which also bound `s` — and
//! `y` saturated to `i32::MAX` when its bits above 31 are not all zero. ≈ 150 per value.

use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use zkopml_commit::{chunk_digest, chunked_commitment_of, tensor_header};
use zkopml_engine::{
    fixed::{saturate, FRAC_BITS},
    ops::{pow_q, sqrt_q, sqrt_round, Reduce, MAX_POW},
};

use super::{
    chunk::{open_chunk, open_wide, output_leaf, output_leaf_with, ChunkOpening, WideOpening},
    gather::GatherView,
    public_vars,
    reduce::{code_selectors, GroupDispute, GroupKind},
    Template,
};
use crate::gadgets::{fr_to_i128, lc_from_bits, Cs, CsResult, Lc};

/// Bits of a `sqrt_chunk` output (`sqrt_q(i32::MAX) = 2_965_821 < 2^22`).
const SQRT_BITS: usize = 22;
/// Bits of a `sqrt_wide` root before saturation (`s < 2^90`).
const WIDE_ROOT_BITS: usize = 46;
/// `|acc| ≤ 2^POW_ACC_BITS` in `pow_chunk`: `|x^e·2^{F(K−e)}| ≤ 2^{FK + (31 − F)e} ≤ 2^{31K}`.
const POW_ACC_BITS: u32 = 31 * MAX_POW;

/// `y = (k, v)` replaces position `k`'s value by `v`.
fn forged(forge: Option<(usize, i32)>, k: usize, y: i32) -> i32 {
    match forge {
        Some((at, v)) if at == k => v,
        _ => y,
    }
}

/// The commitment of an opening.
fn commitment<V>(o: &super::Opening<V>) -> Fr {
    chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
}

/// The integer `y` with `y² − y < n ≤ y² + y` (`n ≥ 1`), or `0` for `n = 0` (`z = [n = 0]`,
/// which the caller constrains): a witness of `bits` bits, `y·z = 0`, and the two
/// differences range-checked in `bits + 1` bits. Returns `y` and its bits.
fn round_sqrt(cs: &Cs, n: &Lc, z: &Lc, bits: usize) -> CsResult<(Lc, Vec<Lc>)> {
    let n_v = fr_to_i128(n.val).unwrap_or(0).max(0) as u128;
    let y = cs.witness(Fr::from(sqrt_round(n_v)))?;
    let y_bits = cs.bits(&y, bits)?;
    cs.enforce(&y, z, &Lc::constant(Fr::zero()))?;
    let y2 = cs.mul(&y, &y)?;
    let d1 = n.sub(&y2).add(&y).add_const(-Fr::one()).add(z);
    let d2 = y2.add(&y).sub(n);
    cs.range(&d1, bits + 1)?;
    cs.range(&d2, bits + 1)?;
    Ok((y, y_bits))
}

/// The engine's `rescale(acc, shift)` (round half up, saturate to `i32`) for an `acc` with
/// `|acc| ≤ 2^acc_bits`: [`Cs::rescale`]'s decomposition with field powers, for
/// accumulators wider than `u128` (`shift + w ≤ 252`, `w = acc_bits − shift + 3`).
fn rescale_wide(cs: &Cs, acc: &Lc, shift: u32, acc_bits: u32) -> CsResult<Lc> {
    let two = Fr::from(2u64);
    let w = (acc_bits - shift + 3).max(33);
    let half = if shift == 0 {
        Fr::zero()
    } else {
        two.pow([(shift - 1) as u64])
    };
    let u = acc.add_const(half + two.pow([(shift + w - 1) as u64]));
    let bits = cs.bits(&u, (shift + w) as usize)?;
    let high = &bits[shift as usize..];
    // q' = q + 2^(w−1); h = ⌊q'/2^31⌋; q ∈ i32 iff h = 2^(w−32) − 1 + sign.
    let q = lc_from_bits(high).add_const(-two.pow([(w - 1) as u64]));
    let h = lc_from_bits(&high[31..]);
    let sign = &high[(w - 1) as usize];
    let e = h
        .add_const(-two.pow([(w - 32) as u64]) + Fr::one())
        .sub(sign);
    let in_range = cs.is_zero(&e)?;
    let sat = Lc::int(i32::MIN as i64).add(&sign.scale(Fr::from(u32::MAX as u64)));
    cs.select(&in_range, &q, &sat)
}

/// The `Sqrt` chunk template (module doc).
pub struct SqrtTemplate;

/// One instance of [`SqrtTemplate`]: chunk `j` of `X`.
#[derive(Clone, Debug)]
pub struct SqrtChunk {
    /// Chunk `j` of `X`.
    pub x: ChunkOpening,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k`.
    pub forge: Option<(usize, i32)>,
}

impl SqrtChunk {
    /// The output chunk the engine computes (with the forged value, if any).
    pub fn output(&self) -> Vec<i32> {
        self.x
            .values
            .iter()
            .enumerate()
            .map(|(k, q)| forged(self.forge, k, sqrt_q(*q)))
            .collect()
    }
}

impl Template for SqrtTemplate {
    const NAME: &'static str = "sqrt_chunk/v1";
    type Instance = SqrtChunk;

    /// `[C(X), j, d]`.
    fn public_inputs(inst: &SqrtChunk) -> Vec<Fr> {
        vec![
            commitment(&inst.x),
            Fr::from(inst.x.index as u64),
            chunk_digest(inst.x.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&SqrtChunk>) -> CsResult<()> {
        let [c_x, index, digest] = public_vars::<Self, 3>(cs, inst)?;
        let x = open_chunk(cs, &c_x, &index, inst.map(|i| &i.x))?;
        let one = Lc::constant(Fr::one());
        let y = x
            .values
            .iter()
            .map(|v| {
                // z = [v ≤ 0] = [v < 0] + [v = 0]; bit 31 of v + 2^31 is [v ≥ 0].
                let nonneg = cs.i32_bits(v)?[31].clone();
                let z = one.sub(&nonneg).add(&cs.is_zero(v)?);
                let n = cs.mul(&v.scale(Fr::from(1u64 << FRAC_BITS)), &one.sub(&z))?;
                Ok(round_sqrt(cs, &n, &z, SQRT_BITS)?.0)
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, &index, &y, &x)?;
        cs.assert_eq(&d, &digest)
    }
}

/// The `Pow` chunk template (module doc).
pub struct PowTemplate;

/// One instance of [`PowTemplate`]: chunk `j` of `X` and the exponent.
#[derive(Clone, Debug)]
pub struct PowChunk {
    /// Chunk `j` of `X`.
    pub x: ChunkOpening,
    /// The exponent, `≤ MAX_POW`.
    pub exponent: u32,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k`.
    pub forge: Option<(usize, i32)>,
}

impl PowChunk {
    /// The output chunk the engine computes (with the forged value, if any).
    pub fn output(&self) -> Vec<i32> {
        self.x
            .values
            .iter()
            .enumerate()
            .map(|(k, q)| forged(self.forge, k, pow_q(*q, self.exponent)))
            .collect()
    }
}

impl Template for PowTemplate {
    const NAME: &'static str = "pow_chunk/v1";
    type Instance = PowChunk;

    /// `[C(X), j, e, d]`.
    fn public_inputs(inst: &PowChunk) -> Vec<Fr> {
        vec![
            commitment(&inst.x),
            Fr::from(inst.x.index as u64),
            Fr::from(inst.exponent as u64),
            chunk_digest(inst.x.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&PowChunk>) -> CsResult<()> {
        let [c_x, index, e, digest] = public_vars::<Self, 4>(cs, inst)?;
        let codes: Vec<u64> = (0..=MAX_POW as u64).collect();
        let sel = code_selectors(cs, &e, &codes)?;
        let k = MAX_POW;
        let scale = |e: u32| Fr::from(2u64).pow([(FRAC_BITS * (k - e)) as u64]);
        let x = open_chunk(cs, &c_x, &index, inst.map(|i| &i.x))?;
        let y = x
            .values
            .iter()
            .map(|v| {
                // acc = Σ_e [e]·x^e·2^{F(K−e)}.
                let mut acc = sel[0].scale(scale(0));
                let mut power = v.clone();
                for (e, s) in sel.iter().enumerate().skip(1) {
                    if e > 1 {
                        power = cs.mul(&power, v)?;
                    }
                    acc = acc.add(&cs.mul(s, &power)?.scale(scale(e as u32)));
                }
                rescale_wide(cs, &acc, FRAC_BITS * (k - 1), POW_ACC_BITS)
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, &index, &y, &x)?;
        cs.assert_eq(&d, &digest)
    }
}

/// The wide square root template (module doc): a `ReduceL2`'s last step.
pub struct SqrtWideTemplate;

/// One instance of [`SqrtWideTemplate`]: chunk `j` of the sums of squares `S`.
#[derive(Clone, Debug)]
pub struct SqrtWideChunk {
    /// Chunk `j` of `S` (exact, non-negative, below `2^90`).
    pub s: WideOpening,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k`.
    pub forge: Option<(usize, i32)>,
}

impl SqrtWideChunk {
    /// The output chunk the engine computes (with the forged value, if any): the
    /// `ReduceL2` kernel on each sum (`0` for a value that is not a non-negative integer,
    /// which no honest trace holds).
    pub fn output(&self) -> Vec<i32> {
        self.s
            .values
            .iter()
            .map(|f| {
                let s = fr_to_i128(*f).unwrap_or(0).max(0) as u128;
                saturate(sqrt_round(s) as i128)
            })
            .enumerate()
            .map(|(k, y)| forged(self.forge, k, y))
            .collect()
    }
}

impl Template for SqrtWideTemplate {
    const NAME: &'static str = "sqrt_wide/v1";
    type Instance = SqrtWideChunk;

    /// `[C(S), j, d]`.
    fn public_inputs(inst: &SqrtWideChunk) -> Vec<Fr> {
        vec![
            commitment(&inst.s),
            Fr::from(inst.s.index as u64),
            chunk_digest(inst.s.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&SqrtWideChunk>) -> CsResult<()> {
        let [c_s, index, digest] = public_vars::<Self, 3>(cs, inst)?;
        let s = open_wide(cs, &c_s, &index, inst.map(|i| &i.s))?;
        let max = Lc::int(i32::MAX as i64);
        let y = s
            .values
            .iter()
            .map(|v| {
                let z = cs.is_zero(v)?;
                let (root, bits) = round_sqrt(cs, v, &z, WIDE_ROOT_BITS)?;
                // sat: root ≤ i32::MAX iff its bits 31.. are zero.
                let fits = cs.is_zero(&lc_from_bits(&bits[31..]))?;
                cs.select(&fits, &root, &max)
            })
            .collect::<CsResult<Vec<_>>>()?;
        let count = s
            .mask
            .iter()
            .fold(Lc::constant(Fr::zero()), |acc, m| acc.add(m));
        let d = output_leaf_with(cs, &index, &y, &s.mask, &count)?;
        cs.assert_eq(&d, &digest)
    }
}

/// How a `ReduceL2` node lowers: groups of `n` contiguous values (after an optional move of
/// the reduced axes to the end), `group_block`'s sums of squares over them, then
/// `sqrt_wide`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Plan {
    /// The reduction over contiguous groups.
    pub groups: GroupDispute,
    /// The move of the reduced axes to the end (kept axes first, in order), when the
    /// groups are strided in `X`, and the moved shape.
    pub axis_move: Option<(GatherView, Vec<usize>)>,
}

impl L2Plan {
    /// The plan of `r` (a `ReduceL2`) over an input of shape `x`, or why the templates do
    /// not prove it.
    pub fn new(r: &Reduce, x: &[usize]) -> Result<Self, &'static str> {
        let len: usize = x.iter().product();
        if r.axes.iter().any(|a| *a >= x.len()) {
            return Err("a reduced axis past the rank");
        }
        let reduced = |a: &usize| r.axes.contains(a);
        let n: usize = (0..x.len()).filter(reduced).map(|a| x[a]).product();
        let groups = GroupDispute::new(len, n, GroupKind::SumSq)
            .map_err(|_| "a ReduceL2 group outside group_block's bounds")?;
        // Contiguous when no kept axis of length > 1 follows a reduced one of length > 1.
        let last_kept = (0..x.len()).filter(|a| !reduced(a) && x[*a] > 1).max();
        let first_reduced = (0..x.len()).filter(|a| reduced(a) && x[*a] > 1).min();
        let axis_move = match (last_kept, first_reduced) {
            (Some(k), Some(f)) if k > f => {
                let perm: Vec<usize> = (0..x.len())
                    .filter(|a| !reduced(a))
                    .chain((0..x.len()).filter(reduced))
                    .collect();
                let view = GatherView::transpose(x, &perm)
                    .and_then(GatherView::fits)
                    .map_err(|_| {
                        "a ReduceL2 whose move of the reduced axes reads more chunks than \
                         gather_chunk's table holds"
                    })?;
                Some((view, perm.iter().map(|p| x[*p]).collect()))
            }
            _ => None,
        };
        Ok(Self { groups, axis_move })
    }
}
