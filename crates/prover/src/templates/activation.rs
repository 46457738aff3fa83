//! `Relu` and `Clip` (engine: `ops/activation.rs`): one template, `clip_chunk`. The smooth
//! nonlinearities `Tanh`, `Sigmoid`, `Erf` and `Gelu` (engine: `ops/activation.rs`,
//! `ops/math.rs`): `unary_chunk`, and for `Erf`/`Gelu` a second leaf, `erf_chunk` (below).
//!
//! Public inputs `[C(X), j, lo, hi, d]`: output chunk `j` of `Y = min(max(X, lo), hi)` has
//! leaf digest `d`, where `X` is the tensor committed as `C(X)` (version 4) and `Y` has
//! `X`'s length. `Relu` is `lo = 0, hi = i32::MAX`; an absent `Clip` bound is `i32::MIN` /
//! `i32::MAX`, exactly the engine's `Clip`.

use ark_bn254::Fr;
use ark_ff::{One, Zero};
use zkopml_commit::{
    chunk_digest, chunked_commitment_of, fr_from_i64, tensor_header, CHUNK_VALUES,
};
use zkopml_engine::{
    fixed::{div_round, rescale, FRAC_BITS, ONE},
    ops::{
        erf_q, exp_q30, gelu_q, gelu_tanh_arg, gelu_tanh_finish, hard_swish_q, sigmoid_q, tanh_q,
        Activation, Clip, Op, UnaryKind, ALPHA_BITS, D_MIN, ERF_A_Q30, ERF_P_Q30, EXP2_POLY,
        FRAC_1_SQRT2_Q30, GELU_CUBIC_Q30, LOG2E_Q16, SQRT_2_OVER_PI_Q30,
    },
};

use super::{
    chunk::{open_chunk, output_leaf, ChunkOpening},
    public_vars, Template,
};
use crate::gadgets::{fr_to_i128, lc_from_bits, Cs, CsResult, Lc};

/// The `Relu`/`Clip` chunk template.
pub struct ClipTemplate;

/// One instance: the opened input chunk and the bounds.
#[derive(Clone, Debug)]
pub struct ClipChunk {
    /// Chunk `index` of the input tensor.
    pub input: ChunkOpening,
    /// The operator's bounds.
    pub clip: Clip,
}

impl ClipChunk {
    /// The output chunk the engine computes.
    pub fn output(&self) -> Vec<i32> {
        self.input
            .values
            .iter()
            .map(|v| (*v).max(self.clip.lo).min(self.clip.hi))
            .collect()
    }
}

impl Template for ClipTemplate {
    const NAME: &'static str = "clip_chunk/v1";
    type Instance = ClipChunk;

    fn public_inputs(inst: &ClipChunk) -> Vec<Fr> {
        let header = tensor_header(&inst.input.shape).unwrap_or_default();
        vec![
            chunked_commitment_of(header, inst.input.root),
            Fr::from(inst.input.index as u64),
            fr_from_i64(inst.clip.lo as i64),
            fr_from_i64(inst.clip.hi as i64),
            chunk_digest(inst.input.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&ClipChunk>) -> CsResult<()> {
        let public = inst
            .map(Self::public_inputs)
            .unwrap_or(vec![Fr::from(0u64); 5]);
        let [c_x, index, lo, hi, digest] = [0, 1, 2, 3, 4].map(|i| cs.input(public[i]));
        let (c_x, index, lo, hi, digest) = (c_x?, index?, lo?, hi?, digest?);
        // The bounds are i32 (the max gadget's domain).
        cs.i32_bits(&lo)?;
        cs.i32_bits(&hi)?;
        let x = open_chunk(cs, &c_x, &index, inst.map(|i| &i.input))?;
        debug_assert_eq!(x.values.len(), CHUNK_VALUES);
        let y = x
            .values
            .iter()
            .map(|v| {
                let m = cs.max(v, &lo)?;
                // min(m, hi) = m + hi − max(m, hi)
                let top = cs.max(&m, &hi)?;
                Ok(m.add(&hi).sub(&top))
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, &index, &y, &x)?;
        cs.assert_eq(&d, &digest)
    }
}

// ---------------------------------------------------------------------------------------------
// The smooth nonlinearities of transformer exports: `Tanh`, `Sigmoid`, `Erf`, `Gelu`.
// ---------------------------------------------------------------------------------------------

/// `round(0.3275911·2^30)`, `p` of Abramowitz–Stegun 7.1.26 (the engine's `ERF_P_Q30`).
const ERF_P: i128 = ERF_P_Q30 as i128;
/// `6·2^F`: the engine's clamp of `|x|` before `erf` (`erfc(6) < 10^-16`).
const ERF_CLAMP: i128 = 6 << FRAC_BITS;
/// `2^30`.
const Q30: i128 = 1 << 30;

/// An elementwise nonlinearity proved by `unary_chunk` (with `erf_chunk` for `Erf` and
/// `Gelu`), by its public code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryFn {
    /// `Tanh` (engine `tanh_q`).
    Tanh,
    /// `Sigmoid` (engine `sigmoid_q`).
    Sigmoid,
    /// `Erf` (engine `erf_q`), in two leaves.
    Erf,
    /// `Gelu` with `approximate = none` (engine `gelu_q`), in two leaves.
    Gelu,
}

impl UnaryFn {
    /// Every function, in code order.
    pub const ALL: [UnaryFn; 4] = [UnaryFn::Tanh, UnaryFn::Sigmoid, UnaryFn::Erf, UnaryFn::Gelu];

    /// The public input naming the function (`kind`): 1, 2, 3, 4.
    pub fn code(self) -> u64 {
        match self {
            UnaryFn::Tanh => 1,
            UnaryFn::Sigmoid => 2,
            UnaryFn::Erf => 3,
            UnaryFn::Gelu => 4,
        }
    }

    /// The function an engine operator computes, if it has a template.
    pub fn of(op: &Op) -> Option<UnaryFn> {
        match op {
            Op::Unary(UnaryKind::Tanh) => Some(UnaryFn::Tanh),
            Op::Unary(UnaryKind::Erf) => Some(UnaryFn::Erf),
            Op::Activation(Activation::Sigmoid) => Some(UnaryFn::Sigmoid),
            Op::Activation(Activation::Gelu) => Some(UnaryFn::Gelu),
            _ => None,
        }
    }

    /// Whether the function takes two leaves per chunk (`unary_chunk` computes the
    /// exponential factor `U`, `erf_chunk` the output from `X` and `U`).
    pub fn two_stage(self) -> bool {
        matches!(self, UnaryFn::Erf | UnaryFn::Gelu)
    }

    /// The engine's value on `q` (the node's output).
    pub fn apply(self, q: i32) -> i32 {
        match self {
            UnaryFn::Tanh => tanh_q(q),
            UnaryFn::Sigmoid => sigmoid_q(q),
            UnaryFn::Erf => erf_q(q),
            UnaryFn::Gelu => gelu_q(q),
        }
    }

    /// What `unary_chunk` outputs for `q`: the function itself, or for `Erf`/`Gelu` the
    /// intermediate `U` ([`erf_exp`] of the erf argument).
    pub fn first_stage(self, q: i32) -> i32 {
        match self {
            UnaryFn::Tanh | UnaryFn::Sigmoid => self.apply(q),
            UnaryFn::Erf | UnaryFn::Gelu => erf_exp(erf_arg(self, q)),
        }
    }
}

/// The argument of `erf`: `q` for `Erf`, `z = rescale(q·round(2^30/√2), 30)` for `Gelu`.
fn erf_arg(f: UnaryFn, q: i32) -> i32 {
    match f {
        UnaryFn::Gelu => rescale(q as i128 * FRAC_1_SQRT2_Q30 as i128, 30),
        _ => q,
    }
}

/// The first half of the engine's `erf_q(w)`: `exp(−a²)` at `2^-30` for `a = min(|w|, 6·2^F)`,
/// `e0 = exp_q30(−⌊a²/2^F⌋)` refined by `r = a² mod 2^F`: `e0 − ⌊e0·r/2^24⌋` (in `[0, 2^30]`).
pub fn erf_exp(w: i32) -> i32 {
    let a = (w as i64).abs().min(ERF_CLAMP as i64);
    let sq = a * a;
    let e0 = exp_q30(-(sq >> FRAC_BITS));
    (e0 - ((e0 * (sq & ((1 << FRAC_BITS) - 1))) >> 24)) as i32
}

/// The second half: `erf(w)` at `2^-F` from the agreed `u` (= [`erf_exp`]`(w)` when honest):
/// `t = div_round(2^72, 2^42 + p·a)`, `P` by Horner, `y = rescale(2^30 − ⌊P·u/2^30⌋, 18)`,
/// odd. Total over every `u` (the template's statement).
pub fn erf_finish(w: i32, u: i32) -> i32 {
    let a = (w as i128).abs().min(ERF_CLAMP);
    let t = div_round(1 << 72, (1 << 42) + ERF_P * a);
    let mut acc = ERF_A_Q30[4] as i128;
    for c in ERF_A_Q30[..4].iter().rev() {
        acc = *c as i128 + ((acc * t) >> 30);
    }
    let p = (acc * t) >> 30;
    let erfc = (p * u as i128) >> 30;
    let y = rescale(Q30 - erfc, 30 - FRAC_BITS);
    if w < 0 {
        -y
    } else {
        y
    }
}

/// `erf_chunk`'s output on `(q, u)`: `Erf`: [`erf_finish`]; `Gelu`:
/// `rescale(q·(2^F + erf_finish(z, u)), F + 1)`.
pub fn second_stage(f: UnaryFn, q: i32, u: i32) -> i32 {
    let y = erf_finish(erf_arg(f, q), u);
    match f {
        UnaryFn::Gelu => rescale(q as i128 * (ONE as i128 + y as i128), FRAC_BITS + 1),
        _ => y,
    }
}

/// `y` at position `k`, or the forged value there.
fn forged(forge: Option<(usize, i32)>, k: usize, y: i32) -> i32 {
    match forge {
        Some((at, v)) if at == k => v,
        _ => y,
    }
}

/// A signed integer as a field element.
fn fri(v: i128) -> Fr {
    let f = Fr::from(v.unsigned_abs());
    if v < 0 {
        -f
    } else {
        f
    }
}

/// Bits of a value `< 2^bits` (`bits(0) = 0`).
fn width(v: i128) -> usize {
    debug_assert!(v >= 0);
    (128 - v.leading_zeros()) as usize
}

/// An integer linear combination with bounds known at synthesis: `lo ≤ v ≤ hi`.
#[derive(Clone)]
struct Bounded {
    v: Lc,
    lo: i128,
    hi: i128,
}

/// `⌊x / 2^s⌋` for an integer `x ∈ [x.lo, x.hi]`: one decomposition of `x − L` (`L` the
/// multiple of `2^s` at or below `x.lo`) into as many bits as its range needs, the low `s`
/// of which are the remainder. Unsatisfiable when `x` leaves its range.
fn floor_pow2(cs: &Cs, x: &Bounded, s: u32) -> CsResult<Bounded> {
    let l = x.lo.div_euclid(1 << s) << s;
    let n = width(x.hi - l).max(s as usize);
    let bits = cs.bits(&x.v.add_const(fri(-l)), n)?;
    Ok(Bounded {
        v: lc_from_bits(&bits[s as usize..]).add_const(fri(l >> s)),
        lo: x.lo >> s,
        hi: x.hi >> s,
    })
}

/// `a · b` with its bounds (a linear combination when `a` is a constant).
fn mul_b(cs: &Cs, a: &Bounded, b: &Bounded) -> CsResult<Bounded> {
    let corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi];
    let v = if a.lo == a.hi {
        b.v.scale(fri(a.lo))
    } else {
        cs.mul(&a.v, &b.v)?
    };
    Ok(Bounded {
        v,
        lo: *corners.iter().min().expect("four corners"),
        hi: *corners.iter().max().expect("four corners"),
    })
}

/// Horner with floor shifts, the engine's: `acc = c_n`, then `acc = c_i + ⌊acc·x/2^s⌋` for
/// `i = n−1 … 0` (`coeffs` constant term first).
fn horner(cs: &Cs, coeffs: &[i128], x: &Bounded, s: u32) -> CsResult<Bounded> {
    let last = coeffs[coeffs.len() - 1];
    let mut acc = Bounded {
        v: Lc::constant(fri(last)),
        lo: last,
        hi: last,
    };
    for c in coeffs[..coeffs.len() - 1].iter().rev() {
        let q = floor_pow2(cs, &mul_b(cs, &acc, x)?, s)?;
        acc = Bounded {
            v: q.v.add_const(fri(*c)),
            lo: q.lo + c,
            hi: q.hi + c,
        };
    }
    Ok(acc)
}

/// The engine's `exp_q30(−n)` for an integer `n ∈ [0, n_hi]`: clamp at `−D_MIN`, `w = n·log2e`
/// split into `k` (5 bits) and `f` (28 bits), `2^-f` by Horner, then `⌊p / 2^k⌋`.
pub(crate) fn exp_q30_neg(cs: &Cs, n: &Lc, n_hi: i128) -> CsResult<Lc> {
    let clamp = -(D_MIN as i128);
    let m = if n_hi <= clamp {
        n.clone()
    } else {
        // bit B of n − clamp + 2^B is set iff n ≥ clamp.
        let b = width(n_hi);
        let bits = cs.bits(&n.add_const(fri((1i128 << b) - clamp)), b + 1)?;
        cs.select(&bits[b], &Lc::constant(fri(clamp)), n)?
    };
    let w = m.scale(fri(LOG2E_Q16 as i128));
    let bits = cs.bits(&w, 33)?;
    let f = Bounded {
        v: lc_from_bits(&bits[..28]),
        lo: 0,
        hi: (1 << 28) - 1,
    };
    let poly: Vec<i128> = EXP2_POLY.iter().map(|c| *c as i128).collect();
    let p = horner(cs, &poly, &f, 28)?;
    // p = 2^-f at 2^-30 ∈ (2^29, 2^30] (its interval bounds above are looser).
    // e = ⌊p / 2^k⌋: p = e·2^k + r, 0 ≤ r < 2^k, with 2^k from k's five bits.
    let mut pow = Lc::int(1);
    for (i, b) in bits[28..33].iter().enumerate() {
        let factor = b.scale(fri((1i128 << (1 << i)) - 1)).add_const(Fr::one());
        pow = if i == 0 {
            factor
        } else {
            cs.mul(&pow, &factor)?
        };
    }
    let k = bits[28..33]
        .iter()
        .enumerate()
        .map(|(i, b)| (b.val == Fr::one()) as u32 * (1 << i))
        .sum::<u32>();
    let p_val = fr_to_i128(p.v.val).unwrap_or(0);
    let e = cs.witness_int(p_val.checked_shr(k).unwrap_or(0))?;
    let r = p.v.sub(&cs.mul(&e, &pow)?);
    cs.range(&e, 31)?;
    cs.range(&r, 31)?;
    cs.range(&pow.add_const(-Fr::one()).sub(&r), 31)?;
    Ok(e)
}

/// `div_round(num, den) = ⌊(2·num + den) / (2·den)⌋` for `num ≥ 0`, `den > 0`, a quotient
/// below `2^q_bits` and `2·den ≤ 2^r_bits`: `2·num + den = y·2den + r`, `0 ≤ r < 2den`.
pub(crate) fn div_round_gadget(
    cs: &Cs,
    num: &Lc,
    den: &Lc,
    q_bits: usize,
    r_bits: usize,
) -> CsResult<Lc> {
    let (n, d) = (
        fr_to_i128(num.val).unwrap_or(0),
        fr_to_i128(den.val).unwrap_or(1).max(1),
    );
    let y = cs.witness_int(div_round(n, d))?;
    cs.range(&y, q_bits)?;
    let two_den = den.scale(Fr::from(2u64));
    let r = num
        .scale(Fr::from(2u64))
        .add(den)
        .sub(&cs.mul(&y, &two_den)?);
    cs.range(&r, r_bits)?;
    cs.range(&two_den.add_const(-Fr::one()).sub(&r), r_bits)?;
    Ok(y)
}

/// The kind's one-hot selectors (in [`UnaryFn::ALL`] order) from the public `kind`, which
/// must be one of `allowed`.
fn kind_selectors(cs: &Cs, kind: &Lc, allowed: &[UnaryFn]) -> CsResult<Vec<(UnaryFn, Lc)>> {
    let mut sum = Lc::constant(Fr::zero());
    let mut code = Lc::constant(Fr::zero());
    let mut out = Vec::with_capacity(allowed.len());
    for f in allowed {
        let s = cs.witness(if kind.val == Fr::from(f.code()) {
            Fr::one()
        } else {
            Fr::zero()
        })?;
        cs.enforce(
            &s,
            &Lc::constant(Fr::one()).sub(&s),
            &Lc::constant(Fr::zero()),
        )?;
        sum = sum.add(&s);
        code = code.add(&s.scale(Fr::from(f.code())));
        out.push((*f, s));
    }
    cs.assert_eq(&sum, &Lc::constant(Fr::one()))?;
    cs.assert_eq(&code, kind)?;
    Ok(out)
}

/// Per value: `|x|` and the sign bit (`1` iff `x ≥ 0`, bit 31 of the opening's decomposition),
/// `z = rescale(x·round(2^30/√2), 30)` (Gelu's erf argument, same sign as `x`) and
/// `a = min(|w|, 6·2^F)` for `w = z` under `gelu`, else `x`.
struct ErfArg {
    nonneg: Lc,
    abs_x: Lc,
    a: Lc,
}

fn erf_arg_gadget(cs: &Cs, x: &Lc, gelu: &Lc) -> CsResult<ErfArg> {
    let nonneg = cs.i32_bits(x)?[31].clone();
    let neg_x = x.scale(-Fr::one());
    let abs_x = cs.select(&nonneg, x, &neg_x)?;
    let z = floor_pow2(
        cs,
        &Bounded {
            v: x.scale(fri(FRAC_1_SQRT2_Q30 as i128))
                .add_const(fri(1 << 29)),
            lo: i32::MIN as i128 * FRAC_1_SQRT2_Q30 as i128 + (1 << 29),
            hi: i32::MAX as i128 * FRAC_1_SQRT2_Q30 as i128 + (1 << 29),
        },
        30,
    )?;
    // z < 0 exactly when x < 0 (|x| ≥ 1 moves x·c below −2^29).
    let abs_z = cs.select(&nonneg, &z.v, &z.v.scale(-Fr::one()))?;
    let w = abs_x.add(&cs.mul(gelu, &abs_z.sub(&abs_x))?);
    // a = min(w, 6·2^F), w ∈ [0, 2^31]: bit 31 of w − 6·2^F + 2^31 is set iff w ≥ 6·2^F.
    let bits = cs.bits(&w.add_const(fri((1i128 << 31) - ERF_CLAMP)), 32)?;
    let a = cs.select(&bits[31], &Lc::constant(fri(ERF_CLAMP)), &w)?;
    Ok(ErfArg { nonneg, abs_x, a })
}

/// The `unary_chunk` template: `Tanh`, `Sigmoid`, and the first leaf of `Erf`/`Gelu`.
///
/// Public inputs `[C(X), j, kind, d]`: output chunk `j` of `Y = F_kind(X)` (elementwise, `Y`
/// of `X`'s length) has leaf digest `d`, where `F` is [`UnaryFn::first_stage`]: `tanh_q`,
/// `sigmoid_q`, or for `Erf`/`Gelu` the exponential factor `U = exp(−a²)` ([`erf_exp`]) that
/// [`ErfTemplate`] finishes. One `exp_q30` per value serves every kind.
pub struct UnaryTemplate;

/// One `unary_chunk` instance.
#[derive(Clone, Debug)]
pub struct UnaryChunk {
    /// Chunk `index` of `X`.
    pub input: ChunkOpening,
    /// The function.
    pub kind: UnaryFn,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k` of the
    /// output; `None` for the honest witness.
    pub forge: Option<(usize, i32)>,
}

impl UnaryChunk {
    /// The output chunk the engine computes (for `Erf`/`Gelu`: `U`).
    pub fn output(&self) -> Vec<i32> {
        self.input
            .values
            .iter()
            .map(|q| self.kind.first_stage(*q))
            .enumerate()
            .map(|(k, y)| forged(self.forge, k, y))
            .collect()
    }
}

impl Template for UnaryTemplate {
    const NAME: &'static str = "unary_chunk/v1";
    type Instance = UnaryChunk;

    fn public_inputs(inst: &UnaryChunk) -> Vec<Fr> {
        let header = tensor_header(&inst.input.shape).unwrap_or_default();
        vec![
            chunked_commitment_of(header, inst.input.root),
            Fr::from(inst.input.index as u64),
            Fr::from(inst.kind.code()),
            chunk_digest(inst.input.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&UnaryChunk>) -> CsResult<()> {
        let [c_x, index, kind, digest] = public_vars::<Self, 4>(cs, inst)?;
        let sel = kind_selectors(cs, &kind, &UnaryFn::ALL)?;
        let [tanh, sigmoid, erf, gelu] = [0, 1, 2, 3].map(|i| sel[i].1.clone());
        let erf_like = erf.add(&gelu);
        // Per value: n = −d, the exponential's argument: 2|x| (Tanh), |x| (Sigmoid),
        // ⌊a²/2^F⌋ (Erf, Gelu).
        let abs_coeff = tanh.scale(Fr::from(2u64)).add(&sigmoid);
        let x = open_chunk(cs, &c_x, &index, inst.map(|i| &i.input))?;
        let y = x
            .values
            .iter()
            .map(|v| {
                let arg = erf_arg_gadget(cs, v, &gelu)?;
                let sq = cs.mul(&arg.a, &arg.a)?;
                let sq_bits = cs.bits(&sq, 30)?;
                let (lo, hi) = (
                    lc_from_bits(&sq_bits[..FRAC_BITS as usize]),
                    lc_from_bits(&sq_bits[FRAC_BITS as usize..]),
                );
                let n = cs
                    .mul(&arg.abs_x, &abs_coeff)?
                    .add(&cs.mul(&hi, &erf_like)?);
                let e = exp_q30_neg(cs, &n, 1 << 32)?;
                // Erf, Gelu: U = e − ⌊e·r/2^24⌋.
                let er = floor_pow2(
                    cs,
                    &Bounded {
                        v: cs.mul(&e, &lo)?,
                        lo: 0,
                        hi: Q30 * ((1 << FRAC_BITS) - 1),
                    },
                    24,
                )?;
                let u = e.sub(&er.v);
                // Tanh, Sigmoid: s = div_round(N·2^F, 2^30 + e), N = 2^30 − e or e.
                let one = Lc::constant(fri(Q30));
                let num = one
                    .sub(&e)
                    .add(&cs.mul(&sigmoid, &e.scale(Fr::from(2u64)).sub(&one))?);
                let s = div_round_gadget(
                    cs,
                    &num.scale(fri(ONE as i128)),
                    &one.add(&e),
                    FRAC_BITS as usize + 1,
                    33,
                )?;
                let y_tanh = cs.select(&arg.nonneg, &s, &s.scale(-Fr::one()))?;
                let y_sig = cs.select(&arg.nonneg, &Lc::constant(fri(ONE as i128)).sub(&s), &s)?;
                Ok(cs
                    .mul(&tanh, &y_tanh)?
                    .add(&cs.mul(&sigmoid, &y_sig)?)
                    .add(&cs.mul(&erf_like, &u)?))
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, &index, &y, &x)?;
        cs.assert_eq(&d, &digest)
    }
}

/// The `erf_chunk` template: the second leaf of `Erf` and `Gelu`.
///
/// Public inputs `[C(X), C(U), j, kind, d]`: output chunk `j` of `Y` has leaf digest `d`,
/// `Y = erf_finish(X, U)` (Erf) or `rescale(X·(2^F + erf_finish(Z, U)), F + 1)` (Gelu, `Z`
/// the rounded `X/√2`), [`second_stage`]; with `U` the `unary_chunk` output of the same kind
/// this is the engine's `erf_q` / `gelu_q` bit for bit. `U` has `X`'s length.
pub struct ErfTemplate;

/// One `erf_chunk` instance.
#[derive(Clone, Debug)]
pub struct ErfChunk {
    /// Chunk `index` of `X`.
    pub x: ChunkOpening,
    /// Chunk `index` of `U`.
    pub u: ChunkOpening,
    /// `Erf` or `Gelu`.
    pub kind: UnaryFn,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k` of the
    /// output; `None` for the honest witness.
    pub forge: Option<(usize, i32)>,
}

impl ErfChunk {
    /// The output chunk.
    pub fn output(&self) -> Vec<i32> {
        self.x
            .values
            .iter()
            .zip(&self.u.values)
            .map(|(q, u)| second_stage(self.kind, *q, *u))
            .enumerate()
            .map(|(k, y)| forged(self.forge, k, y))
            .collect()
    }
}

impl Template for ErfTemplate {
    const NAME: &'static str = "erf_chunk/v1";
    type Instance = ErfChunk;

    fn public_inputs(inst: &ErfChunk) -> Vec<Fr> {
        let c = |o: &ChunkOpening| {
            chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
        };
        vec![
            c(&inst.x),
            c(&inst.u),
            Fr::from(inst.x.index as u64),
            Fr::from(inst.kind.code()),
            chunk_digest(inst.x.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&ErfChunk>) -> CsResult<()> {
        let [c_x, c_u, index, kind, digest] = public_vars::<Self, 5>(cs, inst)?;
        let sel = kind_selectors(cs, &kind, &[UnaryFn::Erf, UnaryFn::Gelu])?;
        let (erf, gelu) = (sel[0].1.clone(), sel[1].1.clone());
        let x = open_chunk(cs, &c_x, &index, inst.map(|i| &i.x))?;
        let u = open_chunk(cs, &c_u, &index, inst.map(|i| &i.u))?;
        // Same length: the chunks' masks agree.
        cs.assert_eq(&x.len, &u.len)?;
        let t_lo = div_round(1 << 72, (1 << 42) + ERF_P * ERF_CLAMP);
        let coeffs: Vec<i128> = std::iter::once(0)
            .chain(ERF_A_Q30.iter().map(|c| *c as i128))
            .collect();
        let y = x
            .values
            .iter()
            .zip(&u.values)
            .map(|(v, u)| {
                let arg = erf_arg_gadget(cs, v, &gelu)?;
                // t = div_round(2^72, 2^42 + p·a) ∈ [t_lo, 2^30]; 2·(2^42 + p·a) < 2^45.
                let den = arg.a.scale(fri(ERF_P)).add_const(fri(1 << 42));
                let t = div_round_gadget(cs, &Lc::constant(fri(1 << 72)), &den, 31, 45)?;
                let t = Bounded {
                    v: t,
                    lo: t_lo,
                    hi: Q30,
                };
                let p = horner(cs, &coeffs, &t, 30)?;
                let u = Bounded {
                    v: u.clone(),
                    lo: i32::MIN as i128,
                    hi: i32::MAX as i128,
                };
                let erfc = floor_pow2(cs, &mul_b(cs, &p, &u)?, 30)?;
                let y = floor_pow2(
                    cs,
                    &Bounded {
                        v: erfc.v.scale(-Fr::one()).add_const(fri(Q30 + (1 << 17))),
                        lo: Q30 + (1 << 17) - erfc.hi,
                        hi: Q30 + (1 << 17) - erfc.lo,
                    },
                    30 - FRAC_BITS,
                )?;
                let y = cs.select(&arg.nonneg, &y.v, &y.v.scale(-Fr::one()))?;
                // Gelu: rescale(x·(2^F + y), F + 1); |y| < 2^15.
                let prod = cs.mul(v, &y.add_const(fri(ONE as i128)))?;
                let g = cs.rescale(&prod, FRAC_BITS + 1, 1 << 47)?;
                Ok(cs.mul(&erf, &y)?.add(&cs.mul(&gelu, &g)?))
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, &index, &y, &x)?;
        cs.assert_eq(&d, &digest)
    }
}

// ---------------------------------------------------------------------------------------------
// The piecewise gates of vision exports: `HardSigmoid`, `HardSwish`, and GELU's tanh form.
// ---------------------------------------------------------------------------------------------

/// `3·2^F`: where `HardSwish` stops being quadratic.
const THREE: i128 = 3 * ONE as i128;
/// `16·2^(F+30)`: the engine's clamp of GELU-tanh's inner argument.
const GELU_TANH_BOUND: i128 = 16 << (FRAC_BITS + 30);

/// A piecewise gate proved by `gate_chunk`, by its public code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GateFn {
    /// `HardSigmoid`: `clamp(rescale(alpha·x + beta·2^24, 24), 0, 2^F)` (engine
    /// `Activation::HardSigmoid`; `alpha` at `2^-ALPHA_BITS`, `beta` at `2^-F`).
    HardSigmoid {
        /// `round(alpha · 2^ALPHA_BITS)`.
        alpha: i32,
        /// `round(beta · 2^F)`.
        beta: i32,
    },
    /// `HardSwish` (engine `hard_swish_q`).
    HardSwish,
    /// The first leaf of `Gelu` with `approximate = tanh`: the argument `v` of `tanh`
    /// (engine `gelu_tanh_arg`).
    GeluTanhArg,
    /// The last leaf of `Gelu` with `approximate = tanh`: `rescale(x·(2^F + t), F + 1)` from
    /// `x` and `t = tanh_q(v)` (engine `gelu_tanh_finish`).
    GeluTanhFinish,
}

impl GateFn {
    /// Every code, in order.
    pub const CODES: [u64; 4] = [1, 2, 3, 4];

    /// The public input naming the gate (`kind`).
    pub fn code(self) -> u64 {
        match self {
            GateFn::HardSigmoid { .. } => 1,
            GateFn::HardSwish => 2,
            GateFn::GeluTanhArg => 3,
            GateFn::GeluTanhFinish => 4,
        }
    }

    /// The public `alpha` and `beta` (zero but for `HardSigmoid`).
    pub fn slope(self) -> (i32, i32) {
        match self {
            GateFn::HardSigmoid { alpha, beta } => (alpha, beta),
            _ => (0, 0),
        }
    }

    /// The value on `x` (and `t`, the second operand: `tanh_q(v)` for the finish; ignored by
    /// the other gates).
    pub fn apply(self, x: i32, t: i32) -> i32 {
        match self {
            GateFn::HardSigmoid { alpha, beta } => Activation::HardSigmoid { alpha, beta }.apply(x),
            GateFn::HardSwish => hard_swish_q(x),
            GateFn::GeluTanhArg => gelu_tanh_arg(x),
            GateFn::GeluTanhFinish => gelu_tanh_finish(x, t),
        }
    }
}

/// `⌊(x·2^(2F+30) + x³·GELU_CUBIC_Q30) / 2^(2F)⌋`: GELU-tanh's inner argument before its
/// clamp, non-decreasing in `x`.
fn gelu_tanh_inner(x: i64) -> i128 {
    let x = x as i128;
    ((x << (2 * FRAC_BITS + 30)) + x * x * x * GELU_CUBIC_Q30 as i128) >> (2 * FRAC_BITS)
}

/// `(x_lo, x_hi)`: the inner argument is inside the clamp `±16·2^(F+30)` exactly for
/// `x_lo ≤ x ≤ x_hi` (it is monotone, so the clamp is two comparisons of `x`).
pub fn gelu_tanh_window() -> (i64, i64) {
    // The largest x with inner(x) ≤ B, the smallest with inner(x) ≥ −B (binary searches).
    let (mut lo, mut hi) = (0i64, i32::MAX as i64);
    while lo < hi {
        let mid = (lo + hi + 1) / 2;
        if gelu_tanh_inner(mid) <= GELU_TANH_BOUND {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let x_hi = lo;
    let (mut lo, mut hi) = (i32::MIN as i64, 0i64);
    while lo < hi {
        let mid = (lo + hi).div_euclid(2);
        if gelu_tanh_inner(mid) >= -GELU_TANH_BOUND {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (lo, x_hi)
}

/// The `gate_chunk` template: `HardSigmoid`, `HardSwish`, and the first and last leaves of
/// `Gelu` with `approximate = tanh` (its middle leaf is `unary_chunk`'s `Tanh`).
///
/// Public inputs `[C(X), C(T), j, kind, alpha, beta, d]`: output chunk `j` of `Y` has leaf
/// digest `d`, `Y[i] = G_kind(X[i], T[i])` ([`GateFn::apply`]), `T` of `X`'s length (a gate
/// of one operand names `X` again). `alpha`, `beta` are `i32`, and zero unless the kind is
/// `HardSigmoid`.
pub struct GateTemplate;

/// One `gate_chunk` instance.
#[derive(Clone, Debug)]
pub struct GateChunk {
    /// Chunk `index` of `X`.
    pub x: ChunkOpening,
    /// Chunk `index` of `T` (`X` again but for the finish).
    pub t: ChunkOpening,
    /// The gate.
    pub kind: GateFn,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k` of the
    /// output; `None` for the honest witness.
    pub forge: Option<(usize, i32)>,
}

impl GateChunk {
    /// The output chunk.
    pub fn output(&self) -> Vec<i32> {
        self.x
            .values
            .iter()
            .zip(&self.t.values)
            .map(|(x, t)| self.kind.apply(*x, *t))
            .enumerate()
            .map(|(k, y)| forged(self.forge, k, y))
            .collect()
    }
}

impl Template for GateTemplate {
    const NAME: &'static str = "gate_chunk/v1";
    type Instance = GateChunk;

    fn public_inputs(inst: &GateChunk) -> Vec<Fr> {
        let c = |o: &ChunkOpening| {
            chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
        };
        let (alpha, beta) = inst.kind.slope();
        vec![
            c(&inst.x),
            c(&inst.t),
            Fr::from(inst.x.index as u64),
            Fr::from(inst.kind.code()),
            fr_from_i64(alpha as i64),
            fr_from_i64(beta as i64),
            chunk_digest(inst.x.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&GateChunk>) -> CsResult<()> {
        let [c_x, c_t, index, kind, alpha, beta, digest] = public_vars::<Self, 7>(cs, inst)?;
        let sel = super::reduce::code_selectors(cs, &kind, &GateFn::CODES)?;
        let [hsig, hswish, g_arg, g_fin] = [0, 1, 2, 3].map(|i| sel[i].clone());
        let one = Lc::constant(Fr::one());
        let zero = Lc::constant(Fr::zero());
        // INVARIANT: alpha, beta are i32, and zero for every kind but HardSigmoid.
        cs.i32_bits(&alpha)?;
        cs.i32_bits(&beta)?;
        cs.enforce(&one.sub(&hsig), &alpha, &zero)?;
        cs.enforce(&one.sub(&hsig), &beta, &zero)?;
        let x = open_chunk(cs, &c_x, &index, inst.map(|i| &i.x))?;
        let t = open_chunk(cs, &c_t, &index, inst.map(|i| &i.t))?;
        // Same length: the chunks' masks agree.
        cs.assert_eq(&x.len, &t.len)?;
        let (x_lo, x_hi) = gelu_tanh_window();
        let beta_lift = beta.scale(fri(1 << ALPHA_BITS));
        let y = x
            .values
            .iter()
            .zip(&t.values)
            .map(|(v, t)| {
                // HardSigmoid: clamp(rescale(alpha·x + beta·2^24, 24), 0, 2^F); |acc| < 2^63.
                let acc = cs.mul(&alpha, v)?.add(&beta_lift);
                let r = cs.rescale(&acc, ALPHA_BITS, 1 << 63)?;
                let m = cs.max(&r, &zero)?;
                let y_hsig = m
                    .add_const(fri(ONE as i128))
                    .sub(&cs.max(&m, &Lc::int(ONE))?);

                // HardSwish: 0 for x ≤ −3·2^F, x for x ≥ 3·2^F, else
                // div_round(x·(x + 3·2^F), 6·2^F) = ⌊(p + 3·2^F) / 6·2^F⌋.
                let below = cs.lt(v, &Lc::constant(fri(1 - THREE)))?;
                let above = one.sub(&cs.lt(v, &Lc::constant(fri(THREE)))?);
                let mid = one.sub(&below).sub(&above);
                let xm = cs.mul(&mid, v)?;
                let p = cs.mul(&xm, &xm.add_const(fri(THREE)))?;
                // In the middle p ∈ (−2^26, 2^29): quotient in (−2^12, 2^15).
                let q_val = fr_to_i128(p.val).map_or(0, |p| (p + THREE).div_euclid(2 * THREE));
                let q = cs.witness_int(q_val)?;
                cs.range(&q.add_const(fri(1 << 15)), 17)?;
                let rem = p.add_const(fri(THREE)).sub(&q.scale(fri(2 * THREE)));
                cs.range(&rem, 15)?;
                cs.range(&rem.scale(-Fr::one()).add_const(fri(2 * THREE - 1)), 15)?;
                let y_hswish = cs.mul(&above, v)?.add(&cs.mul(&mid, &q)?);

                // GELU-tanh's argument: the inner value clamped (two comparisons of x, the
                // inner value monotone), then rescale(u·√(2/π)·2^30, 60).
                let g_below = cs.lt(v, &Lc::constant(fri(x_lo as i128)))?;
                let g_above = cs.lt(&Lc::constant(fri(x_hi as i128)), v)?;
                let g_mid = one.sub(&g_below).sub(&g_above);
                let xg = cs.mul(&g_mid, v)?;
                // |xg| ≤ 2^15: |xg·2^54 + xg³·c| < 2^72.
                let x2 = cs.mul(&xg, &xg)?;
                let x3 = cs.mul(&x2, &xg)?;
                let inner = xg
                    .scale(fri(1 << (2 * FRAC_BITS + 30)))
                    .add(&x3.scale(fri(GELU_CUBIC_Q30 as i128)));
                let inner = cs.floor_shift(&inner, 2 * FRAC_BITS, 72)?;
                let u = inner
                    .add(&g_above.sub(&g_below).scale(fri(GELU_TANH_BOUND)))
                    .compact();
                let y_arg = cs.rescale(&u.scale(fri(SQRT_2_OVER_PI_Q30 as i128)), 60, 1 << 77)?;

                // GELU-tanh's finish: rescale(x·(2^F + t), F + 1); |x·(2^F + t)| < 2^63.
                let prod = cs.mul(v, &t.add_const(fri(ONE as i128)))?;
                let y_fin = cs.rescale(&prod, FRAC_BITS + 1, 1 << 63)?;

                Ok(cs
                    .mul(&hsig, &y_hsig)?
                    .add(&cs.mul(&hswish, &y_hswish)?)
                    .add(&cs.mul(&g_arg, &y_arg)?)
                    .add(&cs.mul(&g_fin, &y_fin)?))
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, &index, &y, &x)?;
        cs.assert_eq(&d, &digest)
    }
}

#[cfg(test)]
mod tests {
    use ark_relations::gr1cs::ConstraintSystem;

    use super::*;

    fn cs() -> Cs {
        Cs::new(ConstraintSystem::<Fr>::new_ref())
    }

    /// The exponential gadget is the engine's `exp_q30` across its clamp, and a wrong `e` has
    /// no witness; prints what it costs.
    #[test]
    fn exp_gadget_equals_engine_and_costs() {
        for n in [
            0i64,
            1,
            4095,
            4096,
            86_015,
            86_016,
            86_017,
            1 << 31,
            1 << 32,
        ] {
            let c = cs();
            let x = c.witness_int(n as i128).unwrap();
            let before = c.constraints();
            let e = exp_q30_neg(&c, &x, 1 << 32).unwrap();
            if n == 0 {
                eprintln!("exp_q30: {} constraints", c.constraints() - before);
            }
            assert_eq!(e.as_i128(), Some(exp_q30(-n) as i128), "n {n}");
            assert!(c.cs.is_satisfied().unwrap(), "n {n}");
            c.assert_eq(&e, &Lc::int(exp_q30(-n) + 1)).unwrap();
            assert!(!c.cs.is_satisfied().unwrap(), "n {n}: e + 1");
        }
    }

    /// The pieces of `erf_chunk` on one value, by cost.
    #[test]
    fn erf_pieces_cost() {
        let c = cs();
        let x = c.witness_int(-5000).unwrap();
        c.i32_bits(&x).unwrap();
        let gelu = c.witness(Fr::one()).unwrap();
        let at = c.constraints();
        let arg = erf_arg_gadget(&c, &x, &gelu).unwrap();
        let arg_cost = c.constraints() - at;
        let at = c.constraints();
        let den = arg.a.scale(fri(ERF_P)).add_const(fri(1 << 42));
        let t = div_round_gadget(&c, &Lc::constant(fri(1 << 72)), &den, 31, 45).unwrap();
        let t_cost = c.constraints() - at;
        let at = c.constraints();
        let coeffs: Vec<i128> = std::iter::once(0)
            .chain(ERF_A_Q30.iter().map(|c| *c as i128))
            .collect();
        let t_lo = div_round(1 << 72, (1 << 42) + ERF_P * ERF_CLAMP);
        let p = horner(
            &c,
            &coeffs,
            &Bounded {
                v: t,
                lo: t_lo,
                hi: Q30,
            },
            30,
        )
        .unwrap();
        eprintln!(
            "erf argument (z, |w|, clamp) {arg_cost}, t {t_cost}, Horner {}",
            c.constraints() - at
        );
        assert!(p.hi >= p.lo && c.cs.is_satisfied().unwrap());
    }
}
