//! Group reductions (engine: `ops/reduce.rs`; the groups of `ops/softmax.rs` and
//! `ops/norm.rs`) as one fixed template, `group_block`: the sum, maximum or sum of squares of
//! every **contiguous group** of `n` values of `X` (`G = len(X)/n` groups, group `g` is
//! `X[g·n .. (g+1)·n]`), into exact wide running results exactly as `gap_block` sums planes:
//! output chunk `j` of the reduced tensor (groups `616·j …`) depends on exactly the `n` chunks
//! `j·n + b` of `X`, so block `b` folds *one* chunk of `X` into the running results:
//!
//! - `acc_0 = 0` (sums) or `i32::MIN` (maximum), a model constant of `G` values;
//! - `acc_{b+1}[q] = acc_b[q] ⊕ (⊕_{k: ⌊(616·b + k)/n⌋ = q} z_k)` over the values `x_k` of chunk
//!   `j·n + b` of `X` (`z = x` or `x²`; `⊕ = +` or `max`); a block past `X`'s end folds
//!   nothing. `acc_B` with `B = min(n, chunks(X))` is the reduction.
//!
//! **The circuit.** Position `k` of the chunk belongs to output position `q(k)` (the same
//! remainder walk as `gap_block`); the positions of the chunk touch the output positions
//! `q(0) … q_last`, an interval. The per-position contributions `c_q` (the group's partial sum,
//! or its segment maximum) are witnesses, hashed with the public inputs into a challenge `ρ`,
//! and checked by one polynomial identity `Σ_q ρ^q·t_q·c_q = Σ_k ρ^{q(k)}·z'_k` with `t` the
//! touched interval, `z'_k = x_k` (or `x_k²`) at every live position for a sum, and for a
//! maximum the running segment maximum at the last position of each segment (one per touched
//! `q`). An untouched `c_q` is the neutral element. Then `out_q = acc_q + c_q` or
//! `max(acc_q, c_q)`.
//!
//! Public inputs `[C(acc_b), C(X), j, b, n, kind, d]`, `d` the wide leaf digest of chunk `j`
//! of `acc_{b+1}`.
//!
//! **The reductions** ([`ReducePlan`]): `ReduceSum`, `ReduceMean` and `ReduceMax` are
//! `group_block` (kind sum or max) over the contiguous groups of `X'` — `X` itself when the
//! reduced axes are already last (axes of size one aside), else `X` transposed by one
//! `gather_chunk` with the kept axes first in order (the output's row-major order) — then a
//! finish: `rescale_chunk` with `S = 0` (the exact sum saturated, the maxima narrowed) or
//! `avg_chunk` with the constant counts `n` (`div_round(Σ, n)`, the engine's round half up).
//! `ReduceMin` is `ReduceMax` between two complements `x ↦ −1 − x` (`binary_chunk` `Sub` from
//! a constant `−1`): an order-reversing bijection of the `i32` range, so `min(x) = −1 −
//! max(−1 − x)` exactly, with no saturation anywhere (`group_block` keeps its kinds).

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{One, Zero};
use zkopml_commit::{
    chunk_count, chunked_commitment_of, fr_from_i64, tensor_header, wide_chunk_digest, wide_tree,
    ChunkTree, CHUNK_VALUES,
};
use zkopml_engine::Tensor;

use super::{
    chunk::{
        divmod, fresh, one_hot, open_chunk_in, open_tensor, open_wide, wide_leaf, ChunkOpening,
        WideOpening,
    },
    conv::i128_fr,
    Template,
};
use crate::{
    gadgets::{Cs, CsResult, Lc},
    poseidon,
};

/// Bits of a group length `n` (`< 2^28`, the engine's largest tensor).
pub const GROUP_BITS: usize = 28;
/// Bits of `q(0) = ⌊616·b/n⌋ < 616`.
const Q0_BITS: usize = 10;
/// Domain tag of `group_block`'s challenge hash.
const GROUP_TAG: u64 = 0x0067_7270_5f62_6c6b; // "grp_blk"

/// What a `group_block` folds, by its public code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// `Σ x` (code 1).
    Sum,
    /// `max x` (code 2).
    Max,
    /// `Σ x²` (code 3).
    SumSq,
}

impl GroupKind {
    /// Every kind, in code order.
    pub const ALL: [GroupKind; 3] = [GroupKind::Sum, GroupKind::Max, GroupKind::SumSq];

    /// The public input naming the kind.
    pub fn code(self) -> u64 {
        match self {
            GroupKind::Sum => 1,
            GroupKind::Max => 2,
            GroupKind::SumSq => 3,
        }
    }

    /// `acc_0`'s value (the neutral element).
    pub fn neutral(self) -> i128 {
        match self {
            GroupKind::Max => i32::MIN as i128,
            _ => 0,
        }
    }

    /// `acc ⊕ x`.
    pub fn fold(self, acc: i128, x: i32) -> i128 {
        let x = x as i128;
        match self {
            GroupKind::Sum => acc + x,
            GroupKind::Max => acc.max(x),
            GroupKind::SumSq => acc + x * x,
        }
    }
}

/// Why a group reduction has no `group_block` leaves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// A group length of zero or above [`GROUP_BITS`] bits, or a tensor that is not whole
    /// groups.
    #[error("{len} values in groups of {n}: outside group_block's bounds")]
    Shape {
        /// Values of `X`.
        len: usize,
        /// The group length.
        n: usize,
    },
    /// A chunk or block past the reduction's last, or an input of the wrong length.
    #[error("chunk {chunk}, block {block} out of range")]
    OutOfRange {
        /// The output chunk.
        chunk: usize,
        /// The block.
        block: usize,
    },
}

/// A reduction over the contiguous groups of `n` values of a tensor of `groups·n` values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDispute {
    /// Groups `G`: the reduced tensor's length.
    pub groups: usize,
    /// Values per group.
    pub n: usize,
    /// What is folded.
    pub kind: GroupKind,
}

impl GroupDispute {
    /// The reduction of `len` values in groups of `n`.
    pub fn new(len: usize, n: usize, kind: GroupKind) -> Result<Self, GroupError> {
        if n == 0 || n >= 1 << GROUP_BITS || len == 0 || !len.is_multiple_of(n) {
            return Err(GroupError::Shape { len, n });
        }
        Ok(Self {
            groups: len / n,
            n,
            kind,
        })
    }

    /// Blocks `B = min(n, chunks(X))`: later blocks would read past `X` for every chunk.
    pub fn blocks(&self) -> usize {
        self.n.min(chunk_count(self.groups * self.n).max(1))
    }

    /// The chunk of `X` block `b` of output chunk `j` reads: `j·n + b`.
    pub fn x_chunk(&self, j: usize, b: usize) -> usize {
        j * self.n + b
    }

    /// `acc_b` from scratch.
    pub fn acc(&self, x: &[i32], b: usize) -> Vec<i128> {
        let mut acc = vec![self.kind.neutral(); self.groups];
        (0..b).for_each(|t| self.fold_block(x, t, &mut acc));
        acc
    }

    /// Folds block `b` of every output chunk into `acc`.
    pub fn fold_block(&self, x: &[i32], b: usize, acc: &mut [i128]) {
        for j in 0..chunk_count(self.groups).max(1) {
            let lo = self.x_chunk(j, b) * CHUNK_VALUES;
            let hi = (lo + CHUNK_VALUES).min(x.len());
            for (i, v) in x.iter().enumerate().take(hi).skip(lo) {
                if let Some(s) = acc.get_mut(i / self.n) {
                    *s = self.kind.fold(*s, *v);
                }
            }
        }
    }

    /// The leaf proving chunk `j` of `acc_{b+1}` from `acc_b` (given) and `X`.
    pub fn block_instance(
        &self,
        x: &Tensor,
        acc_b: &[i128],
        j: usize,
        b: usize,
    ) -> Result<GroupBlockChunk, GroupError> {
        let out_of_range = GroupError::OutOfRange { chunk: j, block: b };
        if j >= chunk_count(self.groups).max(1)
            || b >= self.blocks()
            || x.data.len() != self.groups * self.n
            || acc_b.len() != self.groups
        {
            return Err(out_of_range);
        }
        let last = chunk_count(x.data.len()).max(1) - 1;
        let tree = ChunkTree::of_values(&x.data);
        let x_open = ChunkOpening::new(&x.shape, &x.data, &tree, self.x_chunk(j, b).min(last))
            .ok_or(out_of_range.clone())?;
        let acc: Vec<Fr> = acc_b.iter().map(|v| i128_fr(*v)).collect();
        let acc_in =
            WideOpening::new(&[self.groups], &acc, &wide_tree(&acc), j).ok_or(out_of_range)?;
        Ok(GroupBlockChunk {
            acc_in,
            x: x_open,
            block: b,
            n: self.n,
            kind: self.kind,
            forge: None,
        })
    }
}

/// The group reduction block template: chunk `j` of `acc_{b+1}` from `acc_b`'s and chunk
/// `j·n + b` of `X`.
pub struct GroupBlockTemplate;

/// One instance of [`GroupBlockTemplate`].
#[derive(Clone, Debug)]
pub struct GroupBlockChunk {
    /// Chunk `j` of `acc_b`.
    pub acc_in: WideOpening,
    /// Chunk `j·n + b` of `X` (its last chunk when that is past the end).
    pub x: ChunkOpening,
    /// The block `b < n`.
    pub block: usize,
    /// The group length `n`.
    pub n: usize,
    /// What is folded.
    pub kind: GroupKind,
    /// A dishonest prover's claim (soundness tests): `(q, δ)` adds `δ` to output position
    /// `q`; `None` for the honest witness.
    pub forge: Option<(usize, i64)>,
}

impl GroupBlockChunk {
    /// Whether the block reads past `X`'s end (then it folds nothing).
    fn past(&self) -> bool {
        let len: usize = self.x.shape.iter().product();
        self.acc_in.index * self.n + self.block >= chunk_count(len).max(1)
    }

    /// `q(k)` for position `k` of the chunk.
    fn q(&self, k: usize) -> usize {
        (CHUNK_VALUES * self.block + k) / self.n.max(1)
    }

    /// The contributions `c_q` (the neutral element where the chunk touches no group).
    fn contributions(&self) -> Vec<i128> {
        let mut c = vec![self.kind.neutral(); CHUNK_VALUES];
        if !self.past() {
            for (k, v) in self.x.values.iter().enumerate() {
                if let Some(s) = c.get_mut(self.q(k)) {
                    *s = match self.kind {
                        // A touched group's maximum is of its values alone.
                        GroupKind::Max if k > 0 && self.q(k - 1) == self.q(k) => {
                            (*s).max(*v as i128)
                        }
                        GroupKind::Max => *v as i128,
                        kind => kind.fold(*s, *v),
                    };
                }
            }
        }
        c
    }

    /// The output chunk (`acc_{b+1}`'s chunk `j`).
    pub fn output(&self) -> Vec<Fr> {
        let c = self.contributions();
        let mut out: Vec<Fr> = self
            .acc_in
            .values
            .iter()
            .zip(&c)
            .map(|(a, c)| {
                let a = crate::gadgets::fr_to_i128(*a).unwrap_or(0);
                i128_fr(match self.kind {
                    GroupKind::Max => a.max(*c),
                    _ => a + c,
                })
            })
            .collect();
        // A forged value may sit in the zero padding past the tensor's end.
        if let Some((q, delta)) = self.forge.filter(|f| f.0 < CHUNK_VALUES) {
            if out.len() <= q {
                out.resize(q + 1, Fr::zero());
            }
            out[q] += fr_from_i64(delta);
        }
        out
    }
}

/// One-hot selectors of `codes` for the public `kind`, which must be one of them.
pub(crate) fn code_selectors(cs: &Cs, kind: &Lc, codes: &[u64]) -> CsResult<Vec<Lc>> {
    let mut sum = Lc::constant(Fr::zero());
    let mut code = Lc::constant(Fr::zero());
    let mut out = Vec::with_capacity(codes.len());
    for c in codes {
        let s = cs.witness(if kind.val == Fr::from(*c) {
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
        code = code.add(&s.scale(Fr::from(*c)));
        out.push(s);
    }
    cs.assert_eq(&sum, &Lc::constant(Fr::one()))?;
    cs.assert_eq(&code, kind)?;
    Ok(out)
}

/// `ρ^e` for `e` given by its little-endian `bits` (square and multiply).
pub(crate) fn pow_bits(cs: &Cs, rho: &Lc, bits: &[Lc]) -> CsResult<Lc> {
    let mut pw = Lc::constant(Fr::one());
    let mut sq = rho.clone();
    for (i, bit) in bits.iter().enumerate() {
        let f = cs.mul(bit, &sq.add_const(-Fr::one()))?;
        pw = cs.mul(&pw, &f.add_const(Fr::one()))?;
        if i + 1 < bits.len() {
            sq = cs.mul(&sq, &sq)?;
        }
    }
    Ok(pw)
}

/// The indicator of the interval `[lo, hi]` over `slots` positions (`lo ≤ hi < slots`): one
/// one-hot per end and a running sum.
pub(crate) fn interval(cs: &Cs, lo: &Lc, hi: &Lc, slots: usize) -> CsResult<Vec<Lc>> {
    let a = one_hot(cs, lo, slots)?;
    let z = one_hot(cs, hi, slots)?;
    let mut out: Vec<Lc> = Vec::with_capacity(slots);
    for i in 0..slots {
        // t_i = t_{i−1} + [i = lo] − [i − 1 = hi]
        let t = match out.last() {
            None => a[0].clone(),
            Some(prev) => fresh(cs, &prev.add(&a[i]).sub(&z[i - 1]))?,
        };
        out.push(t);
    }
    Ok(out)
}

impl Template for GroupBlockTemplate {
    const NAME: &'static str = "group_block/v1";
    type Instance = GroupBlockChunk;

    /// `[C(acc_b), C(X), j, b, n, kind, d]`.
    fn public_inputs(inst: &GroupBlockChunk) -> Vec<Fr> {
        let j = inst.acc_in.index;
        let c = |shape: &[usize], root| {
            chunked_commitment_of(tensor_header(shape).unwrap_or_default(), root)
        };
        vec![
            c(&inst.acc_in.shape, inst.acc_in.root),
            c(&inst.x.shape, inst.x.root),
            Fr::from(j as u64),
            Fr::from(inst.block as u64),
            Fr::from(inst.n as u64),
            Fr::from(inst.kind.code()),
            wide_chunk_digest(j, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&GroupBlockChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 7>(cs, inst)?;
        let [c_acc, c_x, j, b, n, kind, digest] = &v;
        let one = Lc::constant(Fr::one());
        let codes: Vec<u64> = GroupKind::ALL.iter().map(|k| k.code()).collect();
        let sel = code_selectors(cs, kind, &codes)?;
        let (sum, max, sumsq) = (sel[0].clone(), sel[1].clone(), sel[2].clone());
        let acc = open_wide(cs, c_acc, j, inst.map(|i| &i.acc_in))?;
        // 1 ≤ n < 2^28 and 0 ≤ b < n.
        cs.range(&n.add_const(-Fr::one()), GROUP_BITS)?;
        cs.range(b, GROUP_BITS)?;
        cs.range(&n.sub(b).add_const(-Fr::one()), GROUP_BITS)?;

        // The chunk of X: idx = j·n + b, or X's last chunk when idx is past the end (`past`:
        // idx ≥ chunks; then nothing is folded).
        let idx = cs.mul(j, n)?.add(b);
        let t = open_tensor(cs, c_x, inst.map(|i| (i.x.shape.as_slice(), i.x.root)))?;
        let past = cs.witness(if inst.is_some_and(GroupBlockChunk::past) {
            Fr::one()
        } else {
            Fr::zero()
        })?;
        cs.enforce(&past, &one.sub(&past), &Lc::constant(Fr::zero()))?;
        let last = t.chunks.add_const(-Fr::one());
        let gap = cs.select(&past, &idx.sub(&t.chunks), &last.sub(&idx))?;
        cs.range(&gap, 33)?;
        let at = cs.select(&past, &last, &idx)?;
        let x = open_chunk_in(cs, t, &at, inst.map(|i| &i.x))?;
        let live: Vec<Lc> = x
            .mask
            .iter()
            .map(|m| cs.mul(m, &one.sub(&past)))
            .collect::<CsResult<_>>()?;

        // q(0) = q0 with 616·b = q0·n + r0; then r steps by one and wraps at n.
        let (q0, mut r) = divmod(
            cs,
            &b.scale(Fr::from(CHUNK_VALUES as u64)),
            n,
            Q0_BITS,
            GROUP_BITS,
        )?;
        let q0_bits = cs.bits(&q0, Q0_BITS)?;
        cs.range(&Lc::int(CHUNK_VALUES as i64 - 1).sub(&q0), Q0_BITS)?;

        // The contributions, hashed with the public inputs into the challenge.
        let c_v = inst.map(GroupBlockChunk::contributions).unwrap_or_default();
        let c: Vec<Lc> = (0..CHUNK_VALUES)
            .map(|q| cs.witness(i128_fr(c_v.get(q).copied().unwrap_or(0))))
            .collect::<CsResult<_>>()?;
        let rho = poseidon::chain_from(
            cs,
            Lc::constant(Fr::from(GROUP_TAG)),
            &[v.to_vec(), c.clone()].concat(),
        )?;
        let rho_m1 = rho.add_const(-Fr::one());

        // Walk the chunk: new_k (position k starts a group), the running segment maximum,
        // the segment ends, ρ^{q(k)} and the right-hand side.
        let mut pw = pow_bits(cs, &rho, &q0_bits)?;
        let mut news: Vec<Lc> = Vec::with_capacity(CHUNK_VALUES);
        let mut seg_max: Vec<Lc> = Vec::with_capacity(CHUNK_VALUES);
        let mut pows: Vec<Lc> = Vec::with_capacity(CHUNK_VALUES);
        let mut q_last = q0.clone();
        for (k, x_k) in x.values.iter().enumerate() {
            if k == 0 {
                news.push(one.clone());
                seg_max.push(x_k.clone());
            } else {
                let wrap = cs.is_zero(&r.add_const(Fr::one()).sub(n))?;
                r = cs.mul(&one.sub(&wrap), &r.add_const(Fr::one()))?;
                let f = cs.mul(&wrap, &rho_m1)?;
                pw = cs.mul(&pw, &f.add_const(Fr::one()))?;
                q_last = q_last.add(&cs.mul(&live[k], &wrap)?);
                let m = cs.max(&seg_max[k - 1], x_k)?;
                seg_max.push(cs.select(&wrap, x_k, &m)?);
                news.push(wrap);
            }
            pows.push(pw.clone());
        }
        let q_last = fresh(cs, &q_last)?;
        let mut rhs = Lc::constant(Fr::zero());
        for k in 0..CHUNK_VALUES {
            // end_k: live, and the next position is dead or starts a group.
            let end = if k + 1 < CHUNK_VALUES {
                let cont = cs.mul(&live[k + 1], &one.sub(&news[k + 1]))?;
                live[k].sub(&cs.mul(&live[k], &cont)?)
            } else {
                live[k].clone()
            };
            let lx = cs.mul(&live[k], &x.values[k])?;
            let lx2 = cs.mul(&lx, &x.values[k])?;
            let em = cs.mul(&end, &seg_max[k])?;
            let z = cs
                .mul(&sum, &lx)?
                .add(&cs.mul(&sumsq, &lx2)?)
                .add(&cs.mul(&max, &em)?);
            rhs = rhs.add(&cs.mul(&pows[k], &z)?);
        }

        // The touched interval [q0, q_last] (empty when past).
        let touched = interval(cs, &q0, &q_last, CHUNK_VALUES)?;
        let neutral = max.scale(-Fr::from(1u64 << 31));
        let out_v = inst.map(GroupBlockChunk::output).unwrap_or_default();
        let mut lhs = Lc::constant(Fr::zero());
        let mut pq = one.clone();
        let mut out = Vec::with_capacity(CHUNK_VALUES);
        for q in 0..CHUNK_VALUES {
            let t_q = cs.mul(&touched[q], &one.sub(&past))?;
            // Untouched: c_q is the neutral element.
            cs.enforce(
                &one.sub(&t_q),
                &c[q].sub(&neutral),
                &Lc::constant(Fr::zero()),
            )?;
            lhs = lhs.add(&cs.mul(&pq, &cs.mul(&t_q, &c[q])?)?);
            if q + 1 < CHUNK_VALUES {
                pq = cs.mul(&pq, &rho)?;
            }
            // out_q = acc_q + c_q (sums) or max(acc_q, c_q).
            let am = cs.mul(&max, &acc.values[q])?;
            let cm = cs.mul(&max, &c[q])?;
            let mx = cs.max(&am, &cm)?;
            let summed = cs.mul(&one.sub(&max), &acc.values[q].add(&c[q]))?;
            let o = cs.witness(out_v.get(q).copied().unwrap_or_default())?;
            cs.assert_eq(&o, &summed.add(&mx))?;
            // Past the tensor's end the wide padding is zero.
            cs.enforce(&one.sub(&acc.mask[q]), &o, &Lc::constant(Fr::zero()))?;
            out.push(o);
        }
        cs.assert_eq(&lhs, &rhs)?;
        let d = wide_leaf(cs, j, &out)?;
        cs.assert_eq(&d, digest)
    }
}

// ---------------------------------------------------------------------------------------
// ArgMax (engine: `ops/reduce.rs` `ArgMax`): `argmax_mark`.
// ---------------------------------------------------------------------------------------

/// Domain tag of `argmax_mark`'s group lookup.
const ARGMAX_TAG: u64 = 0x6172_676d_6178; // "argmax"

/// The `argmax_mark` template of an `ArgMax` over contiguous groups of `n` (the axis last):
/// `E_i = ±r_i·2^F` where `x_i` equals its group's maximum `m_g` (read from the group maxima
/// by the group lookup, as `softmax_exp` reads them), `i32::MIN` elsewhere, `r_i = i mod n`
/// the position in the group; `+` when ties go to the last index, `−` when to the first.
/// The group maximum of `E` (`group_block` max, `rescale` `S = 0`) is then the engine's
/// index (`last`) or its negation (`first`: `y = 0 − M`, `binary_chunk` Sub).
pub struct ArgMaxMarkTemplate;

/// One `argmax_mark` instance.
#[derive(Clone, Debug)]
pub struct ArgMaxMarkChunk {
    /// Chunk `j` of `X`.
    pub x: ChunkOpening,
    /// The two chunks of the group maxima `m` (`softmax::table_chunks`).
    pub m: [ChunkOpening; 2],
    /// The group length.
    pub n: usize,
    /// Whether ties go to the last index.
    pub last: bool,
    /// A dishonest prover's claim (soundness tests): `(k, e)` puts `e` at position `k`.
    pub forge: Option<(usize, i32)>,
}

impl ArgMaxMarkChunk {
    /// The leaf of chunk `x.index` from `X`'s opening and the whole `m` (shape, values, tree).
    pub fn new(
        x: ChunkOpening,
        (m_shape, m, m_tree): (&[usize], &[i32], &ChunkTree),
        n: usize,
        last: bool,
    ) -> Option<Self> {
        let m = super::softmax::table_openings(m_shape, m, m_tree, x.index, n)?;
        Some(Self {
            x,
            m,
            n,
            last,
            forge: None,
        })
    }

    fn m_values(&self) -> Vec<i32> {
        (0..self.x.values.len())
            .map(|k| {
                super::softmax::group_value(&self.m, self.n, self.x.index, k).unwrap_or(i32::MAX)
            })
            .collect()
    }

    /// The output chunk: [`argmax_mark`] of each position.
    pub fn output(&self) -> Vec<i32> {
        let lo = self.x.index * CHUNK_VALUES;
        self.x
            .values
            .iter()
            .zip(self.m_values())
            .enumerate()
            .map(|(k, (x, m))| match self.forge {
                Some((at, e)) if at == k => e,
                _ => argmax_mark(*x, m, (lo + k) % self.n.max(1), self.last),
            })
            .collect()
    }
}

/// `E` of one position: `±r·2^F` where `x` is its group's maximum `m`, else `i32::MIN`.
pub fn argmax_mark(x: i32, m: i32, r: usize, last: bool) -> i32 {
    let key = (r as i64 * zkopml_engine::fixed::ONE) as i32;
    match (x == m, last) {
        (false, _) => i32::MIN,
        (true, true) => key,
        (true, false) => -key,
    }
}

impl Template for ArgMaxMarkTemplate {
    const NAME: &'static str = "argmax_mark/v1";
    type Instance = ArgMaxMarkChunk;

    fn public_inputs(inst: &ArgMaxMarkChunk) -> Vec<Fr> {
        let c = |o: &ChunkOpening| {
            chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
        };
        vec![
            c(&inst.x),
            c(&inst.m[0]),
            Fr::from(inst.x.index as u64),
            Fr::from(inst.n as u64),
            Fr::from(inst.last as u64),
            zkopml_commit::chunk_digest(inst.x.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&ArgMaxMarkChunk>) -> CsResult<()> {
        use super::softmax::{group_lookup, table_at};
        let v = public_vars::<Self, 6>(cs, inst)?;
        let [c_x, c_m, j, n, last, digest] = &v;
        let one = || Lc::constant(Fr::one());
        cs.enforce(last, &one().sub(last), &Lc::constant(Fr::zero()))?;
        // n < 2^19: r·2^F stays an i32.
        cs.range(
            &n.add_const(-Fr::one()),
            31 - zkopml_engine::fixed::FRAC_BITS as usize,
        )?;
        let x_t = open_tensor(cs, c_x, inst.map(|i| (i.x.shape.as_slice(), i.x.root)))?;
        let x = open_chunk_in(cs, x_t, j, inst.map(|i| &i.x))?;
        let m_t = open_tensor(
            cs,
            c_m,
            inst.map(|i| (i.m[0].shape.as_slice(), i.m[0].root)),
        )?;
        cs.assert_eq(&cs.mul(n, &m_t.len)?, &x.len)?;
        let past = inst.is_some_and(|i| i.m[1].index == i.m[0].index);
        let at = table_at(cs, &m_t, j, n, past)?;
        let m0 = open_chunk_in(cs, m_t.clone(), &at.c0, inst.map(|i| &i.m[0]))?;
        let m1 = open_chunk_in(cs, m_t, &at.c1, inst.map(|i| &i.m[1]))?;
        let table = [m0.values, m1.values].concat();
        let v_w: Vec<Fr> = inst.map_or(Vec::new(), |i| {
            let mut w: Vec<Fr> = i.m_values().iter().map(|m| i128_fr(*m as i128)).collect();
            let fill = w.last().copied().unwrap_or_default();
            w.resize(CHUNK_VALUES, fill);
            w
        });
        let mv = group_lookup(cs, (ARGMAX_TAG, &v), &at, n, &x.mask, &table, &v_w)?;
        // sign = +1 (last) or −1 (first); r_k counts positions in the group, wrapping at n.
        let sign = last.scale(Fr::from(2u64)).add_const(-Fr::one());
        let scale = Fr::from(zkopml_engine::fixed::ONE as u64);
        let min = Lc::int(i32::MIN as i64);
        let mut r = at.r0.clone();
        let mut e = Vec::with_capacity(CHUNK_VALUES);
        for (k, (x_k, m_k)) in x.values.iter().zip(&mv).enumerate() {
            if k > 0 {
                let wrap = cs.is_zero(&r.add_const(Fr::one()).sub(n))?;
                r = cs.mul(&one().sub(&wrap), &r.add_const(Fr::one()))?;
            }
            let eq = cs.is_zero(&x_k.sub(m_k))?;
            let key = cs.mul(&sign, &r)?.scale(scale);
            e.push(cs.select(&eq, &key, &min)?);
        }
        let d = super::chunk::output_leaf(cs, j, &e, &x)?;
        cs.assert_eq(&d, digest)
    }
}

/// The groups of an `ArgMax` of an input of shape `x`: `(n, groups)`, or why the templates
/// do not cover it (an axis that is not last; `n ≥ 2^19`, whose index overflows `r·2^F`).
pub fn argmax_groups(
    a: &zkopml_engine::ops::ArgMax,
    x: &[usize],
) -> Result<(usize, usize), &'static str> {
    let n = *x
        .get(a.axis)
        .ok_or("ArgMax of an axis past the input's rank")?;
    if x[a.axis + 1..].iter().product::<usize>() != 1 {
        return Err("ArgMax over an axis that is not last has no template yet");
    }
    if n == 0 || n >= 1 << (31 - zkopml_engine::fixed::FRAC_BITS) {
        return Err("ArgMax over groups of 2^19 values or more has no template");
    }
    Ok((n, x.iter().product::<usize>() / n))
}
/// How a `ReduceSum`, `ReduceMean`, `ReduceMax` or `ReduceMin` node lowers (`docs/protocol.md` §10.11):
/// the reduced axes moved last by one `gather_chunk` when they are not already (the kept
/// axes first, in order: the output's row-major order), `group_block` over the contiguous
/// groups of `n`, then `rescale_chunk` with `S = 0` (sum, maximum: the exact result
/// saturated or narrowed) or `avg_chunk` with the constant counts `n` (mean:
/// `div_round(Σ, n)`, the engine's rounding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReducePlan {
    /// The group length `n` (the product of the reduced dims).
    pub n: usize,
    /// Groups `G` (the output's length).
    pub groups: usize,
    /// The fold.
    pub kind: GroupKind,
    /// Whether the finish is the division by `n` (`ReduceMean`).
    pub mean: bool,
    /// Whether the maximum is taken of the complements `−1 − x` and complemented back
    /// (`ReduceMin`).
    pub complement: bool,
    /// `X` to `X'` (the reduced axes last) when they are not: the transpose's gather passes
    /// (each view with its output shape; the last one's is `X'`'s), empty when they are.
    pub to_last: Vec<(super::GatherView, Vec<usize>)>,
}

impl ReducePlan {
    /// The plan of `r` over an input of shape `x`, or why the templates do not prove it.
    pub fn new(r: &zkopml_engine::ops::Reduce, x: &[usize]) -> Result<Self, &'static str> {
        use zkopml_engine::ops::ReduceKind;
        let (kind, mean, complement) = match r.kind {
            ReduceKind::Sum => (GroupKind::Sum, false, false),
            ReduceKind::Mean => (GroupKind::Sum, true, false),
            ReduceKind::Max => (GroupKind::Max, false, false),
            ReduceKind::Min => (GroupKind::Max, false, true),
            _ => return Err("no template for this reduction yet"),
        };
        let len: usize = x.iter().product();
        if r.axes.iter().any(|a| *a >= x.len()) {
            return Err("a reduced axis past the rank");
        }
        let n: usize = r.axes.iter().map(|a| x[*a]).product();
        if mean && n >= 1 << super::COUNT_BITS {
            return Err("a ReduceMean over more than 2^24 values (avg_chunk's counts)");
        }
        let d = GroupDispute::new(len, n, kind)
            .map_err(|_| "an empty reduction or a group outside group_block's bounds")?;
        // The reduced axes are last when every kept axis of size > 1 comes before them all.
        let perm: Vec<usize> = (0..x.len())
            .filter(|a| !r.axes.contains(a))
            .chain(r.axes.iter().copied())
            .collect();
        let moved: Vec<usize> = perm.iter().copied().filter(|a| x[*a] > 1).collect();
        let sorted = moved.windows(2).all(|w| w[0] < w[1]);
        let to_last = if sorted {
            Vec::new()
        } else {
            super::transpose_passes(x, &perm).map_err(|_| {
                "reduced axes that are not last, whose move to the end reads more chunks than \
                 gather_chunk's table holds in any split into three passes"
            })?
        };
        Ok(Self {
            n,
            groups: d.groups,
            kind,
            mean,
            complement,
            to_last,
        })
    }

    /// The group reduction over `X'`.
    pub fn dispute(&self) -> GroupDispute {
        GroupDispute {
            groups: self.groups,
            n: self.n,
            kind: self.kind,
        }
    }
}
