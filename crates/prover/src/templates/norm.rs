//! `LayerNormalization` (engine: `ops/norm.rs`, `LayerNorm::group`) as fixed templates over
//! its intermediates, each an operator output of its own (`docs/protocol.md` §10.11), for
//! groups of `n ≤ 2^20` contiguous values (the normalised axes are always the trailing ones):
//!
//! 1. `S1 = Σ q`, `S2 = Σ q²` — the wide group sums: `group_block` kinds sum and sum of
//!    squares ([`super::reduce`]), each from 0;
//! 2. `T` — per group, the statistics packed in one wide value,
//!    `T = P + 2^6·(S1 + 2^52) + 2^59·s` with `P`, `s` the engine's shift and integer square
//!    root: [`LayerNormStatsTemplate`] (`layernorm_stats`), from `S1` and `S2`, chunk `j` of
//!    `T` from chunk `j` of each;
//! 3. `y = rescale(z·γ + β·2^F, F)` with `z = div_round((n·q − S1)·2^(24+P), s)` (0 when
//!    `s = 0`) — [`LayerNormFinishTemplate`] (`layernorm_finish`), from `X`, `T` (by the
//!    softmax group lookup, one table) and the model constants `Γ`, `Β` committed broadcast to
//!    `X`'s shape (`Β` = 0 without a bias).
//!
//! **`layernorm_stats`**, per group: `D = n·S2 − S1²`, `V = D·2^24 + E·n²` (`E = round(ε·2^48)`,
//! public, `< 2^63`); witnesses `P < 64` (six bits) and `s < 2^64` (64 bits), `W = V·4^P`, and:
//!
//! - `s² ≤ W ≤ s² + 2s` (two 65-bit ranges): `s = ⌊√W⌋` (and `W` a small integer);
//! - `V ≠ 0 ⇒ W ≥ 2^124` and `P ≠ 0 ⇒ W < 2^126`, read off `s`'s top bits (`W ≥ 2^124 ⇔ s ≥
//!   2^62`, `W < 2^126 ⇔ s < 2^63`, because `s = ⌊√W⌋`): `bits(V) + 2P ∈ {125, 126}`, i.e. `P =
//!   ⌊(126 − bits(V))/2⌋`, or `P = 0` with `bits(V) ≥ 125` — the engine's `P`;
//! - `V = 0 ⇒ P = 63` (the engine's value; then `s = 0`).
//!
//! A negative or oversized `V` (inputs no engine run produces) has no witness. Past the
//! tensor's end `T` is the zero padding.
//!
//! **`layernorm_finish`**, per position: the group's `T_k` by the group lookup; `P` by six bits,
//! `S1' = S1 + 2^52` by 53, and `s = (T − P − 2^6·S1')/2^59` — unique, because a wrong split
//! makes `s` a field element no 65-bit range of the division accepts. Then `num = (n·x −
//! S1)·2^24·2^P` (`|num| < 2^86`), `z` a signed 25-bit witness with `0 ≤ 2·num + s − 2·z·s <
//! 2s` (two 65-bit ranges; `num = 0`, `s = 1` where `s = 0` or the position is dead), and
//! `y = rescale(z·γ + β·2^12, 12)` (the engine's rounding and saturation). `|z| ≤ √n·2^12 +
//! 1 ≤ 2^22 + 1`: the normalised value of a group with `n` elements is at most `√(n − 1)`.
//!
//! Public inputs `[C(S1), C(S2), j, n, E, d]` (`layernorm_stats`, `d` the wide leaf digest of
//! chunk `j` of `T`) and `[C(X), C(T), C(Γ), C(Β), j, n, d]` (`layernorm_finish`). The tensors'
//! lengths are tied: `len(S2) = len(S1)`, `len(X) = n·len(T) = len(Γ) = len(Β)`.

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use zkopml_commit::{
    chunk_digest, chunked_commitment_of, fr_from_i64, tensor_header, wide_chunk_digest,
    CHUNK_VALUES,
};
use zkopml_engine::{
    fixed::{div_round, rescale, FRAC_BITS},
    ops::{isqrt, LayerNorm, MAX_GROUP},
};

use super::{
    chunk::{
        open_chunk_in, open_tensor, open_wide_in, output_leaf, wide_leaf, ChunkOpening, WideOpening,
    },
    conv::i128_fr,
    reduce::{GroupDispute, GroupKind},
    softmax::{group_lookup, group_value, table_at, table_openings},
    Template,
};
use crate::gadgets::{fr_to_i128, Cs, CsResult, Lc};

/// Bits of a LayerNorm group length less one (`n ≤ 2^20`, the engine's [`MAX_GROUP`]).
pub const LN_GROUP_BITS: usize = 20;
/// `S1 + 2^52 ∈ [0, 2^53)` for every group of at most `2^20` values of the `i32` range.
const S1_OFFSET_BITS: usize = 52;
/// Domain tag of `layernorm_finish`'s lookup challenge.
const FINISH_TAG: u64 = 0x6c6e_5f66_6e68; // "ln_fnh"
/// Bits of `z + 2^24` (`|z| ≤ 2^22 + 1`).
const Z_BITS: usize = 25;

/// The engine's shift `P` and square root `s` of one group from its sums (steps 2–3 of
/// `LayerNorm::group`).
pub fn layernorm_root(n: usize, eps_q48: u64, s1: i128, s2: i128) -> (u32, u128) {
    let n = n as i128;
    let d = (n * s2 - s1 * s1) as u128;
    let v = (d << 24).saturating_add((eps_q48 as u128) * (n * n) as u128);
    let bits = 128 - v.leading_zeros();
    let p = 126u32.saturating_sub(bits) / 2;
    (p, isqrt(v << (2 * p)))
}

/// `T = P + 2^6·(S1 + 2^52) + 2^59·s` of one group.
pub fn layernorm_pack(n: usize, eps_q48: u64, s1: i128, s2: i128) -> Fr {
    let (p, s) = layernorm_root(n, eps_q48, s1, s2);
    let low = p as i128 + ((s1 + (1i128 << S1_OFFSET_BITS)) << 6);
    i128_fr(low) + Fr::from(s) * Fr::from(2u64).pow([59u64])
}

/// `(P, S1, s)` of a packed `T` (`None` for a value no group packs to).
fn unpack(t: Fr) -> Option<(u32, i128, u128)> {
    let t = fr_to_i128(t).filter(|t| *t >= 0)?;
    let low = t % (1i128 << 59);
    Some((
        (low % 64) as u32,
        (low >> 6) - (1i128 << S1_OFFSET_BITS),
        (t >> 59) as u128,
    ))
}

/// One output value of `layernorm_finish`: the engine's `y` of `x` in a group of `n` whose
/// packed statistics are `t`.
pub fn layernorm_element(n: usize, x: i32, t: Fr, gamma: i32, beta: i32) -> i32 {
    let Some((p, s1, s)) = unpack(t) else {
        return 0;
    };
    let s = s as i128;
    let z = if s == 0 {
        0
    } else {
        div_round((n as i128 * x as i128 - s1) << (24 + p), s)
    };
    rescale(z * gamma as i128 + ((beta as i128) << FRAC_BITS), FRAC_BITS)
}

/// How a `LayerNormalization` node lowers: its groups and the two sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerNormPlan {
    /// The group length `n`.
    pub n: usize,
    /// Groups `G`.
    pub groups: usize,
    /// `round(ε·2^48)`.
    pub eps_q48: u64,
}

impl LayerNormPlan {
    /// The plan of `ln` over an input of shape `x`, or why the templates do not prove it.
    pub fn new(ln: &LayerNorm, x: &[usize]) -> Result<Self, &'static str> {
        let len: usize = x.iter().product();
        let n: usize = x.get(ln.axis..).map_or(0, |t| t.iter().product());
        if len == 0 || n == 0 || n > MAX_GROUP {
            return Err("an empty LayerNormalization or a group above 2^20 values");
        }
        if ln.eps_q48 >= 1 << 63 {
            return Err("a LayerNormalization epsilon of 2^15 or more");
        }
        let d = GroupDispute::new(len, n, GroupKind::Sum)
            .map_err(|_| "a LayerNormalization group outside group_block's bounds")?;
        Ok(Self {
            n,
            groups: d.groups,
            eps_q48: ln.eps_q48,
        })
    }

    /// The two group reductions (`S1`, `S2`).
    pub fn sums(&self) -> [GroupDispute; 2] {
        [GroupKind::Sum, GroupKind::SumSq].map(|kind| GroupDispute {
            groups: self.groups,
            n: self.n,
            kind,
        })
    }

    /// The packed statistics `T` of `x` (groups contiguous).
    pub fn stats(&self, x: &[i32]) -> Vec<Fr> {
        x.chunks(self.n.max(1))
            .map(|g| {
                let s1: i128 = g.iter().map(|v| *v as i128).sum();
                let s2: i128 = g.iter().map(|v| *v as i128 * *v as i128).sum();
                layernorm_pack(self.n, self.eps_q48, s1, s2)
            })
            .collect()
    }
}

/// The `layernorm_stats` template: chunk `j` of `T` from chunk `j` of `S1` and of `S2`.
pub struct LayerNormStatsTemplate;

/// One `layernorm_stats` instance.
#[derive(Clone, Debug)]
pub struct LayerNormStatsChunk {
    /// Chunk `j` of `S1`.
    pub s1: WideOpening,
    /// Chunk `j` of `S2`.
    pub s2: WideOpening,
    /// The group length.
    pub n: usize,
    /// `E = round(ε·2^48)`.
    pub eps_q48: u64,
    /// A dishonest prover's claim (soundness tests): `(q, δ)` adds `δ` to output position
    /// `q`; `None` for the honest witness.
    pub forge: Option<(usize, i64)>,
}

impl LayerNormStatsChunk {
    /// The output chunk (chunk `j` of `T`).
    pub fn output(&self) -> Vec<Fr> {
        let mut out: Vec<Fr> = self
            .s1
            .values
            .iter()
            .zip(&self.s2.values)
            .map(|(a, b)| {
                let (a, b) = (fr_to_i128(*a).unwrap_or(0), fr_to_i128(*b).unwrap_or(0));
                layernorm_pack(self.n, self.eps_q48, a, b)
            })
            .collect();
        if let Some((q, delta)) = self.forge.filter(|f| f.0 < CHUNK_VALUES) {
            if out.len() <= q {
                out.resize(q + 1, Fr::zero());
            }
            out[q] += fr_from_i64(delta);
        }
        out
    }
}

impl Template for LayerNormStatsTemplate {
    const NAME: &'static str = "layernorm_stats/v1";
    type Instance = LayerNormStatsChunk;

    /// `[C(S1), C(S2), j, n, E, d]`.
    fn public_inputs(inst: &LayerNormStatsChunk) -> Vec<Fr> {
        let c = |o: &WideOpening| {
            chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
        };
        vec![
            c(&inst.s1),
            c(&inst.s2),
            Fr::from(inst.s1.index as u64),
            Fr::from(inst.n as u64),
            Fr::from(inst.eps_q48),
            wide_chunk_digest(inst.s1.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&LayerNormStatsChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 6>(cs, inst)?;
        let [c_s1, c_s2, j, n, e, digest] = &v;
        let one = Lc::constant(Fr::one());
        let zero = Lc::constant(Fr::zero());
        let two = Fr::from(2u64);
        // 1 ≤ n ≤ 2^20, E < 2^63.
        cs.range(&n.add_const(-Fr::one()), LN_GROUP_BITS)?;
        cs.range(e, 63)?;
        let t1 = open_tensor(cs, c_s1, inst.map(|i| (i.s1.shape.as_slice(), i.s1.root)))?;
        let s1 = open_wide_in(cs, &t1, j, inst.map(|i| &i.s1))?;
        let t2 = open_tensor(cs, c_s2, inst.map(|i| (i.s2.shape.as_slice(), i.s2.root)))?;
        cs.assert_eq(&t2.len, &t1.len)?;
        let s2 = open_wide_in(cs, &t2, j, inst.map(|i| &i.s2))?;
        let en2 = cs.mul(&cs.mul(n, n)?, e)?;
        let out_v = inst.map(LayerNormStatsChunk::output).unwrap_or_default();
        let mut out = Vec::with_capacity(CHUNK_VALUES);
        for k in 0..CHUNK_VALUES {
            // V = (n·S2 − S1²)·2^24 + E·n².
            let d = cs
                .mul(n, &s2.values[k])?
                .sub(&cs.mul(&s1.values[k], &s1.values[k])?);
            let vv = d.scale(two.pow([24u64])).add(&en2);
            let (p_w, s_w) = match (fr_to_i128(s1.values[k].val), fr_to_i128(s2.values[k].val)) {
                (Some(a), Some(b)) if inst.is_some() => {
                    let n = fr_to_i128(n.val).unwrap_or(1) as usize;
                    let e = inst.map_or(0, |i| i.eps_q48);
                    layernorm_root(n, e, a, b)
                }
                _ => (0, 0),
            };
            let p = cs.witness(Fr::from(p_w as u64))?;
            let pb = cs.bits(&p, 6)?;
            // 4^P = Π (1 + b_i·(4^(2^i) − 1)).
            let mut pow = one.add(&pb[0].scale(Fr::from(3u64)));
            for (i, b) in pb.iter().enumerate().skip(1) {
                let f = Fr::from(4u64).pow([1u64 << i]) - Fr::one();
                pow = cs.mul(&pow, &one.add(&b.scale(f)))?;
            }
            let w = cs.mul(&vv, &pow)?;
            // s = ⌊√W⌋: s < 2^64, s² ≤ W ≤ s² + 2s (so W is an integer below 2^128 + 2^65).
            let s = cs.witness(Fr::from(s_w))?;
            let sb = cs.bits(&s, 64)?;
            let sq = cs.mul(&s, &s)?;
            cs.range(&w.sub(&sq), 65)?;
            cs.range(&sq.add(&s.scale(two)).sub(&w), 65)?;
            // The bit length of W from s: W ≥ 2^124 ⇔ s ≥ 2^62, W < 2^126 ⇔ s < 2^63.
            let v0 = cs.is_zero(&vv)?;
            let p0 = cs.is_zero(&p)?;
            // P ≠ 0 ⇒ W < 2^126.
            cs.enforce(&one.sub(&p0), &sb[63], &zero)?;
            // V ≠ 0 ⇒ W ≥ 2^124.
            let lo = cs.mul(&one.sub(&sb[62]), &one.sub(&sb[63]))?;
            cs.enforce(&one.sub(&v0), &lo, &zero)?;
            // V = 0 ⇒ P = 63.
            cs.enforce(&v0, &p.add_const(-Fr::from(63u64)), &zero)?;
            // T = P + 2^6·(S1 + 2^52) + 2^59·s; the zero padding past the end.
            let t = p
                .add(
                    &s1.values[k]
                        .add_const(two.pow([S1_OFFSET_BITS as u64]))
                        .scale(Fr::from(64u64)),
                )
                .add(&s.scale(two.pow([59u64])));
            let o = cs.witness(out_v.get(k).copied().unwrap_or_default())?;
            cs.enforce(&s1.mask[k], &t, &o)?;
            out.push(o);
        }
        let d = wide_leaf(cs, j, &out)?;
        cs.assert_eq(&d, digest)
    }
}

/// The `layernorm_finish` template: `y = rescale(z·γ + β·2^F, F)`.
pub struct LayerNormFinishTemplate;

/// One `layernorm_finish` instance.
#[derive(Clone, Debug)]
pub struct LayerNormFinishChunk {
    /// Chunk `j` of `X`.
    pub x: ChunkOpening,
    /// The two chunks of `T` ([`super::table_chunks`]).
    pub t: [WideOpening; 2],
    /// Chunk `j` of `Γ` (the scale broadcast to `X`'s shape).
    pub gamma: ChunkOpening,
    /// Chunk `j` of `Β` (the bias broadcast to `X`'s shape; zeros without one).
    pub beta: ChunkOpening,
    /// The group length.
    pub n: usize,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k`.
    pub forge: Option<(usize, i32)>,
}

impl LayerNormFinishChunk {
    /// The leaf of chunk `x.index` from the openings of `X`, `Γ`, `Β` and the whole `T`.
    pub fn new(
        x: ChunkOpening,
        t_shape: &[usize],
        t: &[Fr],
        gamma: ChunkOpening,
        beta: ChunkOpening,
        n: usize,
    ) -> Option<Self> {
        let tree = zkopml_commit::wide_tree(t);
        let t = table_openings(t_shape, t, &tree, x.index, n)?;
        Some(Self {
            x,
            t,
            gamma,
            beta,
            n,
            forge: None,
        })
    }

    fn t_values(&self) -> Vec<Fr> {
        (0..self.x.values.len())
            .map(|k| group_value(&self.t, self.n, self.x.index, k).unwrap_or_default())
            .collect()
    }

    /// The output chunk the engine computes.
    pub fn output(&self) -> Vec<i32> {
        let at = |v: &[i32], k: usize| v.get(k).copied().unwrap_or(0);
        self.x
            .values
            .iter()
            .zip(self.t_values())
            .enumerate()
            .map(|(k, (x, t))| {
                let y = layernorm_element(
                    self.n,
                    *x,
                    t,
                    at(&self.gamma.values, k),
                    at(&self.beta.values, k),
                );
                match self.forge {
                    Some((f, v)) if f == k => v,
                    _ => y,
                }
            })
            .collect()
    }
}

impl Template for LayerNormFinishTemplate {
    const NAME: &'static str = "layernorm_finish/v1";
    type Instance = LayerNormFinishChunk;

    /// `[C(X), C(T), C(Γ), C(Β), j, n, d]`.
    fn public_inputs(inst: &LayerNormFinishChunk) -> Vec<Fr> {
        let c = |shape: &[usize], root| {
            chunked_commitment_of(tensor_header(shape).unwrap_or_default(), root)
        };
        vec![
            c(&inst.x.shape, inst.x.root),
            c(&inst.t[0].shape, inst.t[0].root),
            c(&inst.gamma.shape, inst.gamma.root),
            c(&inst.beta.shape, inst.beta.root),
            Fr::from(inst.x.index as u64),
            Fr::from(inst.n as u64),
            chunk_digest(inst.x.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&LayerNormFinishChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 7>(cs, inst)?;
        let [c_x, c_t, c_g, c_b, j, n, digest] = &v;
        let one = Lc::constant(Fr::one());
        let two = Fr::from(2u64);
        cs.range(&n.add_const(-Fr::one()), LN_GROUP_BITS)?;
        let x_t = open_tensor(cs, c_x, inst.map(|i| (i.x.shape.as_slice(), i.x.root)))?;
        let x_len = x_t.len.clone();
        let x = open_chunk_in(cs, x_t, j, inst.map(|i| &i.x))?;
        let g_t = open_tensor(
            cs,
            c_g,
            inst.map(|i| (i.gamma.shape.as_slice(), i.gamma.root)),
        )?;
        cs.assert_eq(&g_t.len, &x_len)?;
        let gamma = open_chunk_in(cs, g_t, j, inst.map(|i| &i.gamma))?;
        let b_t = open_tensor(
            cs,
            c_b,
            inst.map(|i| (i.beta.shape.as_slice(), i.beta.root)),
        )?;
        cs.assert_eq(&b_t.len, &x_len)?;
        let beta = open_chunk_in(cs, b_t, j, inst.map(|i| &i.beta))?;
        let t_t = open_tensor(
            cs,
            c_t,
            inst.map(|i| (i.t[0].shape.as_slice(), i.t[0].root)),
        )?;
        cs.assert_eq(&cs.mul(n, &t_t.len)?, &x_len)?;
        let past = inst.is_some_and(|i| i.t[1].index == i.t[0].index);
        let at = table_at(cs, &t_t, j, n, past)?;
        let t0 = open_wide_in(cs, &t_t, &at.c0, inst.map(|i| &i.t[0]))?;
        let t1 = open_wide_in(cs, &t_t, &at.c1, inst.map(|i| &i.t[1]))?;
        let table = [t0.values, t1.values].concat();
        let t_w: Vec<Fr> = inst.map_or(Vec::new(), |i| {
            let mut w = i.t_values();
            let fill = w.last().copied().unwrap_or_default();
            w.resize(CHUNK_VALUES, fill);
            w
        });
        let tv = group_lookup(cs, (FINISH_TAG, &v), &at, n, &x.mask, &table, &t_w)?;
        let inv59 = two.pow([59u64]).inverse().unwrap_or_default();
        let mut y = Vec::with_capacity(CHUNK_VALUES);
        for (k, t_k) in tv.iter().enumerate() {
            let (p_w, s1_w, _) = unpack(t_k.val).unwrap_or((0, 0, 0));
            // T = P + 2^6·S1' + 2^59·s: P by six bits, S1' by 53, s the rest.
            let p = cs.witness(Fr::from(p_w as u64))?;
            let pb = cs.bits(&p, 6)?;
            let s1o = cs.witness_int(s1_w + (1i128 << S1_OFFSET_BITS))?;
            cs.range(&s1o, S1_OFFSET_BITS + 1)?;
            let s = t_k.sub(&p).sub(&s1o.scale(Fr::from(64u64))).scale(inv59);
            let s1 = s1o.add_const(-two.pow([S1_OFFSET_BITS as u64]));
            // 2^P = Π (1 + b_i·(2^(2^i) − 1)).
            let mut pow = one.add(&pb[0]);
            for (i, b) in pb.iter().enumerate().skip(1) {
                let f = two.pow([1u64 << i]) - Fr::one();
                pow = cs.mul(&pow, &one.add(&b.scale(f)))?;
            }
            // on: a live position of a group with s ≠ 0.
            let sz = cs.is_zero(&s)?;
            let on = cs.mul(&x.mask[k], &one.sub(&sz))?;
            let dev = cs.mul(n, &x.values[k])?.sub(&s1);
            let num = cs.mul(&dev, &pow)?.scale(two.pow([24u64]));
            let num = cs.mul(&on, &num)?;
            let den = cs.select(&on, &s, &one)?;
            // z = div_round(num, den): 0 ≤ 2·num + den − 2·z·den < 2·den.
            let z_w = match (fr_to_i128(num.val), fr_to_i128(den.val)) {
                (Some(a), Some(b)) if b > 0 => div_round(a, b),
                _ => 0,
            };
            let z = cs.witness_int(z_w)?;
            cs.range(&z.add_const(two.pow([(Z_BITS - 1) as u64])), Z_BITS)?;
            let two_den = den.scale(two);
            let r = num.scale(two).add(&den).sub(&cs.mul(&z, &two_den)?);
            cs.range(&r, 65)?;
            cs.range(&two_den.add_const(-Fr::one()).sub(&r), 65)?;
            // y = rescale(z·γ + β·2^F, F), |z·γ + β·2^F| < 2^56.
            let acc = cs
                .mul(&z, &gamma.values[k])?
                .add(&beta.values[k].scale(Fr::from(1u64 << FRAC_BITS)));
            y.push(cs.rescale(&acc, FRAC_BITS, 1u128 << 56)?);
        }
        let d = output_leaf(cs, j, &y, &x)?;
        cs.assert_eq(&d, digest)
    }
}
