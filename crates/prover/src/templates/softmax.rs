//! `Softmax` (engine: `ops/softmax.rs`) as fixed templates over its intermediates, each an
//! operator output of its own (`docs/protocol.md` §10.11), for groups of `n` contiguous
//! values (the softmax axis last, or the opset-12 2-D coercion; another axis is first moved
//! last by `gather_chunk`):
//!
//! 1. `m` — the group maxima: `group_block` (kind max, [`super::reduce`]) from `i32::MIN`,
//!    narrowed by `rescale_chunk` with `S = 0`;
//! 2. `e = exp_q30(x − m_g)` — [`SoftmaxExpTemplate`] (`softmax_exp`), from `X` and `m`;
//! 3. `s` — the wide group sums of `e`: `group_block` (kind sum) from 0;
//! 4. `y = ⌊(2^(F+1)·e + s_g)/(2·s_g)⌋` — [`SoftmaxFinishTemplate`] (`softmax_finish`), from
//!    `e` and `s`.
//!
//! `m` is the group maximum because the running maxima are exact; the engine's value follows
//! bit for bit. Both elementwise templates read the value of their position's group `g =
//! ⌊i/n⌋` from a per-group table (`m`, `s`) without a broadcast tensor: the groups of output
//! chunk `j` are consecutive and lie in two chunks of the table (`c0 = ⌊⌊616·j/n⌋/616⌋` and the
//! next, or the last again past the end), and a **group lookup** checks the per-position
//! values `v_k` (witnesses, hashed with the public inputs into a challenge `ρ`): `v` is
//! constant inside a group, and `Σ_{k starts a group} ρ^{q(k)}·v_k = Σ_i ρ^i·t_i·T_i` over the
//! table's 1232 values, `t` the interval of groups the chunk touches. The tensors' lengths are
//! tied: `len(X) = n·len(T)`.
//!
//! Public inputs `[C(X), C(m), j, n, d]` (`softmax_exp`) and `[C(E), C(S), j, n, d]`
//! (`softmax_finish`), `d` the leaf digest of output chunk `j`.

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{One, Zero};
use zkopml_commit::{
    chunk_count, chunk_digest, chunked_commitment_of, tensor_header, CHUNK_VALUES,
};
use zkopml_engine::{
    fixed::FRAC_BITS,
    ops::{exp_q30, softmax_element, Softmax},
};

use super::{
    activation::{div_round_gadget, exp_q30_neg},
    chunk::{
        divmod, open_chunk_in, open_tensor, open_wide_in, output_leaf, ChunkOpening, OpenedTensor,
        Opening, WideOpening,
    },
    conv::i128_fr,
    reduce::{interval, pow_bits, GroupDispute, GroupKind, GROUP_BITS},
    GatherView, Template,
};
use crate::{
    gadgets::{fr_to_i128, Cs, CsResult, Lc},
    poseidon,
};

/// Domain tag of `softmax_exp`'s challenge hash.
const EXP_TAG: u64 = 0x736d_5f65_7870; // "sm_exp"
/// Domain tag of `softmax_finish`'s challenge hash.
const FINISH_TAG: u64 = 0x736d_5f66_6e68; // "sm_fnh"
/// Bits of `⌊616·j/n⌋` (`616·j < 2^30`).
const GROUP_INDEX_BITS: usize = 30;

/// The two table chunks output chunk `j` of a tensor in groups of `n` reads: `c0` and `c0 +
/// 1` (the table's last chunk again when that is past its end).
pub fn table_chunks(j: usize, n: usize, table_len: usize) -> (usize, usize) {
    let c0 = (CHUNK_VALUES * j / n.max(1)) / CHUNK_VALUES;
    let last = chunk_count(table_len).max(1) - 1;
    (c0, (c0 + 1).min(last))
}

/// The table value of position `k` of output chunk `j` (groups of `n`), from the two table
/// chunks.
pub(crate) fn group_value<V: Copy>(t: &[Opening<V>; 2], n: usize, j: usize, k: usize) -> Option<V> {
    let g = (CHUNK_VALUES * j + k) / n.max(1);
    let off = g.checked_sub(CHUNK_VALUES * t[0].index)?;
    if off < CHUNK_VALUES {
        t[0].values.get(off).copied()
    } else if t[1].index == t[0].index + 1 {
        t[1].values.get(off - CHUNK_VALUES).copied()
    } else {
        None
    }
}

/// The two openings of `table` for output chunk `j`.
pub(crate) fn table_openings<V: Clone>(
    shape: &[usize],
    table: &[V],
    tree: &zkopml_commit::ChunkTree,
    j: usize,
    n: usize,
) -> Option<[Opening<V>; 2]> {
    let (c0, c1) = table_chunks(j, n, table.len());
    Some([
        Opening::new(shape, table, tree, c0)?,
        Opening::new(shape, table, tree, c1)?,
    ])
}

/// The group-table geometry of output chunk `j`: `616·j = Q·n + r0`, `Q = 616·c0 + q0`, and the
/// index of the second table chunk (`c0 + 1`, or the last chunk when that is past the end).
pub(crate) struct TableAt {
    pub(crate) c0: Lc,
    pub(crate) c1: Lc,
    q0: Lc,
    pub(super) r0: Lc,
}

pub(crate) fn table_at(
    cs: &Cs,
    t: &OpenedTensor,
    j: &Lc,
    n: &Lc,
    past_w: bool,
) -> CsResult<TableAt> {
    let one = Lc::constant(Fr::one());
    cs.range(&n.add_const(-Fr::one()), GROUP_BITS)?;
    let (q, r0) = divmod(
        cs,
        &j.scale(Fr::from(CHUNK_VALUES as u64)),
        n,
        GROUP_INDEX_BITS,
        GROUP_BITS,
    )?;
    let (c0, q0) = divmod(cs, &q, &Lc::int(CHUNK_VALUES as i64), GROUP_INDEX_BITS, 10)?;
    let past = cs.witness(if past_w { Fr::one() } else { Fr::zero() })?;
    cs.enforce(&past, &one.sub(&past), &Lc::constant(Fr::zero()))?;
    let idx = c0.add_const(Fr::one());
    let last = t.chunks.add_const(-Fr::one());
    let gap = cs.select(&past, &idx.sub(&t.chunks), &last.sub(&idx))?;
    cs.range(&gap, 33)?;
    let c1 = cs.select(&past, &last, &idx)?;
    Ok(TableAt { c0, c1, q0, r0 })
}

/// The group lookup: `v_k = T[q(k)]` for the live positions `k` of the chunk, `q(k) = q0 +`
/// (groups started since position 0), `table` the two table chunks' 1232 values.
pub(crate) fn group_lookup(
    cs: &Cs,
    (tag, public): (u64, &[Lc]),
    at: &TableAt,
    n: &Lc,
    live: &[Lc],
    table: &[Lc],
    v_w: &[Fr],
) -> CsResult<Vec<Lc>> {
    let one = Lc::constant(Fr::one());
    let v: Vec<Lc> = (0..CHUNK_VALUES)
        .map(|k| cs.witness(v_w.get(k).copied().unwrap_or_default()))
        .collect::<CsResult<_>>()?;
    let rho = poseidon::chain_from(
        cs,
        Lc::constant(Fr::from(tag)),
        &[public.to_vec(), v.clone()].concat(),
    )?;
    let rho_m1 = rho.add_const(-Fr::one());
    let q0_bits = cs.bits(&at.q0, 10)?;
    let mut pw = pow_bits(cs, &rho, &q0_bits)?;
    let mut r = at.r0.clone();
    let mut q_last = at.q0.clone();
    let mut lhs = cs.mul(&cs.mul(&live[0], &pw)?, &v[0])?;
    for k in 1..CHUNK_VALUES {
        let wrap = cs.is_zero(&r.add_const(Fr::one()).sub(n))?;
        r = cs.mul(&one.sub(&wrap), &r.add_const(Fr::one()))?;
        let f = cs.mul(&wrap, &rho_m1)?;
        pw = cs.mul(&pw, &f.add_const(Fr::one()))?;
        // Inside a group the value is constant.
        cs.enforce(
            &one.sub(&wrap),
            &v[k].sub(&v[k - 1]),
            &Lc::constant(Fr::zero()),
        )?;
        let starts = cs.mul(&live[k], &wrap)?;
        q_last = q_last.add(&starts);
        lhs = lhs.add(&cs.mul(&cs.mul(&starts, &pw)?, &v[k])?);
    }
    let q_last = super::chunk::fresh(cs, &q_last)?;
    let touched = interval(cs, &at.q0, &q_last, 2 * CHUNK_VALUES)?;
    let mut rhs = Lc::constant(Fr::zero());
    let mut pi = one.clone();
    for (i, (t_i, v_i)) in touched.iter().zip(table).enumerate() {
        rhs = rhs.add(&cs.mul(&pi, &cs.mul(t_i, v_i)?)?);
        if i + 1 < 2 * CHUNK_VALUES {
            pi = cs.mul(&pi, &rho)?;
        }
    }
    cs.assert_eq(&lhs, &rhs)?;
    Ok(v)
}

fn forged(forge: Option<(usize, i32)>, k: usize, y: i32) -> i32 {
    match forge {
        Some((at, v)) if at == k => v,
        _ => y,
    }
}

/// The `softmax_exp` template: `e = exp_q30(x − m_g)` (with `m_g ≥ x`).
pub struct SoftmaxExpTemplate;

/// One `softmax_exp` instance.
#[derive(Clone, Debug)]
pub struct SoftmaxExpChunk {
    /// Chunk `j` of `X`.
    pub x: ChunkOpening,
    /// The two chunks of `m` ([`table_chunks`]).
    pub m: [ChunkOpening; 2],
    /// The group length.
    pub n: usize,
    /// A dishonest prover's claim (soundness tests): `(k, e)` puts `e` at position `k`.
    pub forge: Option<(usize, i32)>,
}

impl SoftmaxExpChunk {
    /// The leaf of chunk `x.index` from `X`'s opening and the whole `m` (shape, values, tree).
    pub fn new(
        x: ChunkOpening,
        m_shape: &[usize],
        m: &[i32],
        m_tree: &zkopml_commit::ChunkTree,
        n: usize,
    ) -> Option<Self> {
        let m = table_openings(m_shape, m, m_tree, x.index, n)?;
        Some(Self {
            x,
            m,
            n,
            forge: None,
        })
    }

    fn m_values(&self) -> Vec<i32> {
        (0..self.x.values.len())
            .map(|k| group_value(&self.m, self.n, self.x.index, k).unwrap_or(i32::MAX))
            .collect()
    }

    /// The output chunk the engine computes.
    pub fn output(&self) -> Vec<i32> {
        self.x
            .values
            .iter()
            .zip(self.m_values())
            .map(|(x, m)| exp_q30((*x as i64 - m as i64).min(0)) as i32)
            .enumerate()
            .map(|(k, e)| forged(self.forge, k, e))
            .collect()
    }
}

impl Template for SoftmaxExpTemplate {
    const NAME: &'static str = "softmax_exp/v1";
    type Instance = SoftmaxExpChunk;

    fn public_inputs(inst: &SoftmaxExpChunk) -> Vec<Fr> {
        let c = |o: &ChunkOpening| {
            chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
        };
        vec![
            c(&inst.x),
            c(&inst.m[0]),
            Fr::from(inst.x.index as u64),
            Fr::from(inst.n as u64),
            chunk_digest(inst.x.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&SoftmaxExpChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 5>(cs, inst)?;
        let [c_x, c_m, j, n, digest] = &v;
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
            // Dead positions repeat the last live value (the lookup keeps it constant).
            let fill = w.last().copied().unwrap_or_default();
            w.resize(CHUNK_VALUES, fill);
            w
        });
        let mv = group_lookup(cs, (EXP_TAG, &v), &at, n, &x.mask, &table, &v_w)?;
        let e = x
            .values
            .iter()
            .zip(&mv)
            .zip(&x.mask)
            .map(|((x_k, m_k), live)| {
                // −d = m − x ≤ 2^32 (both are i32); m − x ≥ 0 needs no check of its own: for
                // a negative argument the gadget's 33-bit split of `w = −d·log2 e` fails.
                let arg = cs.mul(live, &m_k.sub(x_k))?;
                exp_q30_neg(cs, &arg, 1 << 32)
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, j, &e, &x)?;
        cs.assert_eq(&d, digest)
    }
}

/// The `softmax_finish` template: `y = ⌊(2^(F+1)·e + s_g)/(2·s_g)⌋`.
pub struct SoftmaxFinishTemplate;

/// One `softmax_finish` instance.
#[derive(Clone, Debug)]
pub struct SoftmaxFinishChunk {
    /// Chunk `j` of `E`.
    pub e: ChunkOpening,
    /// The two chunks of the wide group sums `S` ([`table_chunks`]).
    pub s: [WideOpening; 2],
    /// The group length.
    pub n: usize,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k`.
    pub forge: Option<(usize, i32)>,
}

impl SoftmaxFinishChunk {
    /// The leaf of chunk `e.index` from `E`'s opening and the whole `S` (shape, values).
    pub fn new(e: ChunkOpening, s_shape: &[usize], s: &[Fr], n: usize) -> Option<Self> {
        let tree = zkopml_commit::wide_tree(s);
        let s = table_openings(s_shape, s, &tree, e.index, n)?;
        Some(Self {
            e,
            s,
            n,
            forge: None,
        })
    }

    fn s_values(&self) -> Vec<Fr> {
        (0..self.e.values.len())
            .map(|k| group_value(&self.s, self.n, self.e.index, k).unwrap_or_default())
            .collect()
    }

    /// The output chunk the engine computes.
    pub fn output(&self) -> Vec<i32> {
        self.e
            .values
            .iter()
            .zip(self.s_values())
            .map(|(e, s)| match fr_to_i128(s) {
                Some(s) if s > 0 => softmax_element(*e as i64, s),
                _ => 0,
            })
            .enumerate()
            .map(|(k, y)| forged(self.forge, k, y))
            .collect()
    }
}

impl Template for SoftmaxFinishTemplate {
    const NAME: &'static str = "softmax_finish/v1";
    type Instance = SoftmaxFinishChunk;

    fn public_inputs(inst: &SoftmaxFinishChunk) -> Vec<Fr> {
        let c = |shape: &[usize], root| {
            chunked_commitment_of(tensor_header(shape).unwrap_or_default(), root)
        };
        vec![
            c(&inst.e.shape, inst.e.root),
            c(&inst.s[0].shape, inst.s[0].root),
            Fr::from(inst.e.index as u64),
            Fr::from(inst.n as u64),
            chunk_digest(inst.e.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&SoftmaxFinishChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 5>(cs, inst)?;
        let [c_e, c_s, j, n, digest] = &v;
        let e_t = open_tensor(cs, c_e, inst.map(|i| (i.e.shape.as_slice(), i.e.root)))?;
        let e = open_chunk_in(cs, e_t, j, inst.map(|i| &i.e))?;
        let s_t = open_tensor(
            cs,
            c_s,
            inst.map(|i| (i.s[0].shape.as_slice(), i.s[0].root)),
        )?;
        cs.assert_eq(&cs.mul(n, &s_t.len)?, &e.len)?;
        let past = inst.is_some_and(|i| i.s[1].index == i.s[0].index);
        let at = table_at(cs, &s_t, j, n, past)?;
        let s0 = open_wide_in(cs, &s_t, &at.c0, inst.map(|i| &i.s[0]))?;
        let s1 = open_wide_in(cs, &s_t, &at.c1, inst.map(|i| &i.s[1]))?;
        let table = [s0.values, s1.values].concat();
        let v_w: Vec<Fr> = inst.map_or(Vec::new(), |i| {
            let mut w = i.s_values();
            let fill = w.last().copied().unwrap_or_default();
            w.resize(CHUNK_VALUES, fill);
            w
        });
        let sv = group_lookup(cs, (FINISH_TAG, &v), &at, n, &e.mask, &table, &v_w)?;
        let one = Lc::constant(Fr::one());
        let y = e
            .values
            .iter()
            .zip(&sv)
            .zip(&e.mask)
            .map(|((e_k, s_k), live)| {
                // y = div_round(2^F·e, s); a dead position divides 0 by 1.
                let num = cs.mul(live, e_k)?.scale(Fr::from(1u64 << FRAC_BITS));
                let den = cs.select(live, s_k, &one)?;
                div_round_gadget(cs, &num, &den, FRAC_BITS as usize + 1, 60)
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, j, &y, &e)?;
        cs.assert_eq(&d, digest)
    }
}

/// Moving a softmax axis that is not last to the end and back (`gather_chunk` views).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxisMove {
    /// `X` to `X'` (the axis last).
    pub to_last: GatherView,
    /// `Y'` back to `Y`.
    pub back: GatherView,
    /// `X'`'s shape.
    pub shape: Vec<usize>,
}

/// How a `Softmax` node lowers: groups of `n` contiguous values, after an optional move of
/// the axis to the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoftmaxPlan {
    /// The group length.
    pub n: usize,
    /// Groups `G`.
    pub groups: usize,
    /// The axis move, when the groups are strided in `X`.
    pub axis_move: Option<AxisMove>,
}

impl SoftmaxPlan {
    /// The plan of `sm` over an input of shape `x`, or why the templates do not prove it.
    pub fn new(sm: &Softmax, x: &[usize]) -> Result<Self, &'static str> {
        let len: usize = x.iter().product();
        if sm.axis >= x.len() || len == 0 {
            return Err("an empty Softmax or an axis past the rank");
        }
        let (n, inner) = if sm.coerce_2d {
            (x[sm.axis..].iter().product(), 1)
        } else {
            (x[sm.axis], x[sm.axis + 1..].iter().product::<usize>())
        };
        let d = GroupDispute::new(len, n, GroupKind::Max)
            .map_err(|_| "a Softmax group outside group_block's bounds")?;
        let axis_move = if inner == 1 {
            None
        } else {
            let perm: Vec<usize> = (0..x.len())
                .filter(|a| *a != sm.axis)
                .chain([sm.axis])
                .collect();
            let shape: Vec<usize> = perm.iter().map(|p| x[*p]).collect();
            let mut inv = vec![0; perm.len()];
            for (i, p) in perm.iter().enumerate() {
                inv[*p] = i;
            }
            let view =
                |s: &[usize], p: &[usize]| {
                    GatherView::transpose(s, p).and_then(GatherView::fits).map_err(|_| {
                    "a Softmax axis that is not last, whose move to the end reads more chunks \
                     than gather_chunk's table holds"
                })
                };
            Some(AxisMove {
                to_last: view(x, &perm)?,
                back: view(&shape, &inv)?,
                shape,
            })
        };
        Ok(Self {
            n,
            groups: d.groups,
            axis_move,
        })
    }

    /// The engine's intermediates over `X'` (groups contiguous): `m`, `e`, `s`, `y`.
    pub fn intermediates(&self, x: &[i32]) -> (Vec<i32>, Vec<i32>, Vec<i128>, Vec<i32>) {
        let n = self.n.max(1);
        let m: Vec<i32> = x
            .chunks(n)
            .map(|g| g.iter().copied().max().unwrap_or(i32::MIN))
            .collect();
        let e: Vec<i32> = x
            .iter()
            .enumerate()
            .map(|(i, v)| exp_q30(*v as i64 - m[i / n] as i64) as i32)
            .collect();
        let s: Vec<i128> = e
            .chunks(n)
            .map(|g| g.iter().map(|v| *v as i128).sum())
            .collect();
        let y = e
            .iter()
            .enumerate()
            .map(|(i, v)| softmax_element(*v as i64, s[i / n]))
            .collect();
        (m, e, s, y)
    }
}
