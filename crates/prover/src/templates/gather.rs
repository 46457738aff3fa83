//! Data movement (engine: `ops/shape.rs` `Transpose`/`Expand`, `ops/select.rs` `Select`, the
//! operand broadcast of `ops/binary.rs`) as one fixed template, `gather_chunk`: output chunk
//! `j` of `Y[i] = X[src(i)]` for a **strided view** `src`:
//!
//! `i = Σ_d idx_d · Π_{e>d} n_e` (mixed radix over the view's dims `n_0 … n_5`, `idx_d < n_d`),
//! `src(i) = offset + Σ_d idx_d · s_d` (signed strides; `s_d = 0` broadcasts).
//!
//! A transpose, a slice with steps (negative ones too), an expand/broadcast, a tile and an
//! integer nearest-neighbour upsample are such views once the lowering splits and merges axes
//! ([`GatherView`]); a reshape stays the identity `clip_chunk`.
//!
//! **The circuit.** The view's shape parameters are two public field elements
//! ([`GatherView::packed`]): `P_0 = n_0 ‖ … ‖ n_5 ‖ offset` (28 bits each), `P_1 = s_0 + 2^29 ‖
//! … ‖ s_5 + 2^29` (30 bits each). The circuit derives `len(Y) = Π n_d`, the chunk's value
//! count and mask, decomposes `616·j` in the mixed radix (range-checked division chain), then
//! walks the 616 positions with an odometer (each digit wraps at `n_d − 1`, the carry moves
//! left) and computes every `src_k` from the digits. The values come from a table of
//! [`GATHER_SLOTS`] chunks of `X`, each opened at a witness index against `C(X)`: a
//! log-derivative lookup `Σ_k mask_k / (α − src_k − β·y_k) = Σ_{s,i} m_{s,i} / (α − (616·c_s +
//! i) − β·x_{s,i})` with the multiplicities `m` witnesses (10 bits; zero past `X`'s end),
//! and `α, β` hashed (Poseidon, in the circuit) from the public inputs (which bind `Y`'s chunk
//! through its digest and `X` through its commitment), the slots' indices and the
//! multiplicities — everything the identity depends on, fixed before the challenges. No
//! multiplexer: the cost is the slots' openings plus a few constraints per position.
//!
//! Public inputs `[C(X), j, P_0, P_1, d]`, `d` the leaf digest of chunk `j` of `Y`.

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use zkopml_commit::{
    chunk_count, chunk_digest, chunked_commitment_of, tensor_header, ChunkTree, CHUNK_VALUES,
};

use super::{
    chunk::{
        divmod, fresh, open_chunk_in, open_tensor, output_leaf, output_leaf_with, pack,
        poseidon_t3, valid_mask, ChunkOpening, OpenedTensor,
    },
    Template,
};
use crate::{
    gadgets::{lc_from_bits, Cs, CsResult, Lc},
    poseidon,
};

/// Chunks of `X` in a `gather_chunk` leaf's table.
pub const GATHER_SLOTS: usize = 8;
/// Axes of a view.
pub const VIEW_RANK: usize = 6;
/// Bits of a view's dimension and of its offset (`< 2^28`, the engine's largest tensor).
const DIM_BITS: usize = 28;
/// Bits of a packed stride (`s + 2^29`, `|s| < 2^29`).
const STRIDE_BITS: usize = 30;
/// Bits of a table entry's multiplicity (a value read by all 616 positions at most).
const MULT_BITS: usize = 10;
/// Domain tag of the lookup's challenge hash.
const CHALLENGE_TAG: u64 = 0x6761_7468; // "gath"

/// Why a data movement has no `gather_chunk` leaves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatherError {
    /// The view needs more axes than the template has after merging.
    #[error("the index map needs {rank} axes (the template has {VIEW_RANK})")]
    Rank {
        /// Axes needed.
        rank: usize,
    },
    /// A dimension, stride or offset outside the packed widths.
    #[error("view parameter {name} = {value} outside the template's bounds")]
    Param {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: i64,
    },
    /// An index map that is no strided view (per axis `a + b·⌊i/r⌋ + c·(i mod r)`).
    #[error("axis {axis}'s index map is not a strided view")]
    NotStrided {
        /// The axis.
        axis: usize,
    },
    /// Shapes that do not fit the operator.
    #[error("shape {input:?} does not fit the view to {output:?}")]
    Shape {
        /// The input's shape.
        input: Vec<usize>,
        /// The output's shape.
        output: Vec<usize>,
    },
    /// An output chunk reads more chunks of `X` than the table holds.
    #[error("output chunk {chunk} reads {needed} chunks of X (the table holds {GATHER_SLOTS})")]
    TooManyChunks {
        /// The output chunk.
        chunk: usize,
        /// Chunks it reads.
        needed: usize,
    },
    /// A chunk past the output's last one, or an input that does not match the view.
    #[error("chunk {chunk} out of range or input of the wrong length")]
    OutOfRange {
        /// The output chunk.
        chunk: usize,
    },
}

/// A strided view `Y[i] = X[offset + Σ_d idx_d(i)·strides[d]]` over dims `dims` (outermost
/// first), [`VIEW_RANK`] axes (unused leading ones `n = 1`, `s = 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatherView {
    /// The view's dims (their product is `len(Y)`).
    pub dims: [usize; VIEW_RANK],
    /// Signed strides into `X`'s flat layout.
    pub strides: [i64; VIEW_RANK],
    /// Flat index of `Y[0]` in `X`.
    pub offset: usize,
}

/// Row-major strides of `shape`.
fn row_major(shape: &[usize]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1] as i64;
    }
    s
}

impl GatherView {
    /// The view of axes `(n, s)` (outermost first) and `offset`: size-1 axes dropped,
    /// adjacent axes merged where contiguous, padded to [`VIEW_RANK`], bounds checked.
    pub fn new(axes: &[(usize, i64)], offset: usize) -> Result<Self, GatherError> {
        let mut merged: Vec<(usize, i64)> = Vec::new();
        for &(n, s) in axes.iter().filter(|(n, _)| *n != 1) {
            match merged.last_mut() {
                // (n0, s0) then (n, s) with s0 = n·s: one axis of n0·n at stride s.
                Some((n0, s0)) if *s0 == n as i64 * s => {
                    *n0 *= n;
                    *s0 = s;
                }
                _ => merged.push((n, s)),
            }
        }
        if merged.len() > VIEW_RANK {
            return Err(GatherError::Rank { rank: merged.len() });
        }
        let mut dims = [1usize; VIEW_RANK];
        let mut strides = [0i64; VIEW_RANK];
        let pad = VIEW_RANK - merged.len();
        for (d, (n, s)) in merged.into_iter().enumerate() {
            dims[pad + d] = n;
            strides[pad + d] = s;
        }
        let v = Self {
            dims,
            strides,
            offset,
        };
        v.check()?;
        Ok(v)
    }

    fn check(&self) -> Result<(), GatherError> {
        let bad = |name, value: i64| Err(GatherError::Param { name, value });
        for n in self.dims {
            if n == 0 || n >= 1 << DIM_BITS {
                return bad("dim", n as i64);
            }
        }
        if self.len() >= 1 << DIM_BITS {
            return bad("len", self.len() as i64);
        }
        for s in self.strides {
            if s.unsigned_abs() >= 1 << (STRIDE_BITS - 1) {
                return bad("stride", s);
            }
        }
        if self.offset >= 1 << DIM_BITS {
            return bad("offset", self.offset as i64);
        }
        Ok(())
    }

    /// `Transpose` of an input of shape `x` by `perm`.
    pub fn transpose(x: &[usize], perm: &[usize]) -> Result<Self, GatherError> {
        let st = row_major(x);
        if perm.len() != x.len() || perm.iter().any(|p| *p >= x.len()) {
            return Err(GatherError::Shape {
                input: x.to_vec(),
                output: perm.to_vec(),
            });
        }
        let axes: Vec<(usize, i64)> = perm.iter().map(|p| (x[*p], st[*p])).collect();
        Self::new(&axes, 0)
    }

    /// numpy broadcast of an input of shape `x` to `out` (`Expand`, a broadcast operand).
    pub fn expand(x: &[usize], out: &[usize]) -> Result<Self, GatherError> {
        let err = || GatherError::Shape {
            input: x.to_vec(),
            output: out.to_vec(),
        };
        if x.len() > out.len() {
            return Err(err());
        }
        let st = row_major(x);
        let lead = out.len() - x.len();
        let mut axes = Vec::with_capacity(out.len());
        for (d, n) in out.iter().enumerate() {
            let s = match d.checked_sub(lead) {
                Some(e) if x[e] == *n => st[e],
                Some(e) if x[e] == 1 => 0,
                None => 0,
                _ => return Err(err()),
            };
            axes.push((*n, s));
        }
        Self::new(&axes, 0)
    }

    /// Per-axis index maps (`Select`: `Slice`, `Split`, `Tile`, nearest `Resize`) over an
    /// input of shape `x`: each map must be `a + b·⌊i/r⌋ + c·(i mod r)` for some `r` dividing
    /// its length.
    pub fn select(x: &[usize], maps: &[Vec<usize>]) -> Result<Self, GatherError> {
        if maps.len() != x.len() {
            return Err(GatherError::Shape {
                input: x.to_vec(),
                output: maps.iter().map(Vec::len).collect(),
            });
        }
        let st = row_major(x);
        let mut axes = Vec::new();
        let mut offset = 0i64;
        for (axis, (map, s)) in maps.iter().zip(&st).enumerate() {
            let (a, outer, inner) = split_map(map).ok_or(GatherError::NotStrided { axis })?;
            offset += a * s;
            axes.push((outer.0, outer.1 * s));
            axes.push((inner.0, inner.1 * s));
        }
        let offset = usize::try_from(offset).map_err(|_| GatherError::Param {
            name: "offset",
            value: offset,
        })?;
        Self::new(&axes, offset)
    }

    /// `len(Y)`.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether `Y` is empty (never, for a checked view).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `src(i)` (`None` when negative).
    pub fn source(&self, i: usize) -> Option<usize> {
        let mut rest = i;
        let mut src = self.offset as i64;
        for d in (0..VIEW_RANK).rev() {
            src += (rest % self.dims[d]) as i64 * self.strides[d];
            rest /= self.dims[d];
        }
        usize::try_from(src).ok()
    }

    /// `Y` from `X`'s values (`None` when a source is past `X`).
    pub fn apply(&self, x: &[i32]) -> Option<Vec<i32>> {
        (0..self.len())
            .map(|i| self.source(i).and_then(|s| x.get(s).copied()))
            .collect()
    }

    /// The chunks of `X` output chunk `j` reads, ascending.
    pub fn chunks_read(&self, j: usize) -> Vec<usize> {
        let lo = j * CHUNK_VALUES;
        let mut cs: Vec<usize> = (lo..(lo + CHUNK_VALUES).min(self.len()))
            .filter_map(|i| self.source(i))
            .map(|s| s / CHUNK_VALUES)
            .collect();
        cs.sort_unstable();
        cs.dedup();
        cs
    }

    /// The two public parameters `[P_0, P_1]`.
    pub fn packed(&self) -> [Fr; 2] {
        let mut p0 = Fr::zero();
        let mut pow = Fr::one();
        for v in self.dims.iter().chain([&self.offset]) {
            p0 += Fr::from(*v as u64) * pow;
            pow *= Fr::from(1u64 << DIM_BITS);
        }
        let mut p1 = Fr::zero();
        let mut pow = Fr::one();
        for s in self.strides {
            p1 += Fr::from((s + (1i64 << (STRIDE_BITS - 1))) as u64) * pow;
            pow *= Fr::from(1u64 << STRIDE_BITS);
        }
        [p0, p1]
    }
}

/// `(a, (n_outer, b), (r, c))` with `map[i] = a + b·⌊i/r⌋ + c·(i mod r)`, the smallest `r`
/// that fits (one period when the map is affine).
#[allow(clippy::type_complexity)]
fn split_map(map: &[usize]) -> Option<(i64, (usize, i64), (usize, i64))> {
    let len = map.len();
    let m = |i: usize| map[i] as i64;
    if len == 0 {
        return None;
    }
    for r in (1..=len).filter(|r| len.is_multiple_of(*r)) {
        let c = if r > 1 { m(1) - m(0) } else { 0 };
        let b = if len / r > 1 { m(r) - m(0) } else { 0 };
        if (0..len).all(|i| m(i) == m(0) + b * (i / r) as i64 + c * (i % r) as i64) {
            return Some((m(0), (len / r, b), (r, c)));
        }
    }
    None
}

/// The `gather_chunk` template.
pub struct GatherTemplate;

/// One instance: output chunk `index` of the view over `X`, the table's chunks and the
/// claimed output values.
#[derive(Clone, Debug)]
pub struct GatherChunk {
    /// The index map.
    pub view: GatherView,
    /// The output chunk `j`.
    pub index: usize,
    /// [`GATHER_SLOTS`] chunks of `X` (the ones the chunk reads, then repeats).
    pub slots: Vec<ChunkOpening>,
    /// The output chunk's values (the engine's: `X[src(616·j + k)]`).
    pub y: Vec<i32>,
}

impl GatherChunk {
    /// The honest leaf for output chunk `j` of `view` over `X` (shape `shape`, values
    /// `data`, tree `tree`).
    pub fn new(
        view: GatherView,
        shape: &[usize],
        data: &[i32],
        tree: &ChunkTree,
        j: usize,
    ) -> Result<Self, GatherError> {
        let out = GatherError::OutOfRange { chunk: j };
        if j >= chunk_count(view.len()).max(1) {
            return Err(out);
        }
        let read = view.chunks_read(j);
        if read.len() > GATHER_SLOTS {
            return Err(GatherError::TooManyChunks {
                chunk: j,
                needed: read.len(),
            });
        }
        let fill = read.first().copied().unwrap_or(0);
        let slots = (0..GATHER_SLOTS)
            .map(|s| {
                let c = read.get(s).copied().unwrap_or(fill);
                ChunkOpening::new(shape, data, tree, c)
            })
            .collect::<Option<Vec<_>>>()
            .ok_or(out.clone())?;
        let lo = j * CHUNK_VALUES;
        let y = (lo..(lo + CHUNK_VALUES).min(view.len()))
            .map(|i| view.source(i).and_then(|s| data.get(s).copied()))
            .collect::<Option<Vec<_>>>()
            .ok_or(out)?;
        Ok(Self {
            view,
            index: j,
            slots,
            y,
        })
    }

    /// The output chunk (the claim: `y`).
    pub fn output(&self) -> Vec<i32> {
        self.y.clone()
    }

    /// Multiplicity of every table entry: each claimed `(src_k, y_k)` counted once, in the
    /// first slot that holds it (a claim no slot holds is not counted: no witness).
    fn multiplicities(&self) -> Vec<Vec<u64>> {
        let mut m = vec![vec![0u64; CHUNK_VALUES]; self.slots.len()];
        let lo = self.index * CHUNK_VALUES;
        for (k, y) in self.y.iter().enumerate() {
            let Some(src) = self.view.source(lo + k) else {
                continue;
            };
            let (c, i) = (src / CHUNK_VALUES, src % CHUNK_VALUES);
            if let Some(s) = self
                .slots
                .iter()
                .position(|o| o.index == c && o.values.get(i) == Some(y))
            {
                m[s][i] += 1;
            }
        }
        m
    }
}

impl Template for GatherTemplate {
    const NAME: &'static str = "gather_chunk/v1";
    type Instance = GatherChunk;

    fn public_inputs(inst: &GatherChunk) -> Vec<Fr> {
        let x = inst.slots.first();
        let c_x = x
            .map(|o| chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root))
            .unwrap_or_default();
        let [p0, p1] = inst.view.packed();
        vec![
            c_x,
            Fr::from(inst.index as u64),
            p0,
            p1,
            chunk_digest(inst.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&GatherChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 5>(cs, inst)?;
        let [c_x, j, p0, p1, digest] = &v;
        let one = || Lc::constant(Fr::one());
        let (dims, offset, strides, len) = unpack_view(cs, p0, p1)?;

        // chunks = ⌈len / 616⌉; j < chunks; the chunk's mask.
        let len_v = crate::gadgets::fr_to_i128(len.val).unwrap_or(1).max(1) as usize;
        let chunks = cs.witness(Fr::from(chunk_count(len_v).max(1) as u64))?;
        let slack = chunks.scale(Fr::from(CHUNK_VALUES as u64)).sub(&len);
        cs.range(&slack, 10)?;
        cs.range(
            &slack
                .scale(-Fr::one())
                .add_const(Fr::from(CHUNK_VALUES as u64 - 1)),
            10,
        )?;
        cs.range(&chunks.sub(j).add_const(-Fr::one()), 32)?;
        let out = OpenedTensor {
            len,
            chunks,
            depth: Vec::new(),
            root: Lc::constant(Fr::zero()),
        };
        let (mask, count) = valid_mask(cs, j, &out)?;
        let srcs = view_positions(cs, j, &dims, &offset, &strides)?;

        // The claimed output: i32 values, zero past Y's end, hashed into the digest.
        let inst_y = inst.map(|i| &i.y);
        let mut ys = Vec::with_capacity(CHUNK_VALUES);
        for (k, m) in mask.iter().enumerate() {
            let y = cs.witness_int(inst_y.and_then(|y| y.get(k)).copied().unwrap_or(0) as i128)?;
            cs.i32_bits(&y)?;
            cs.enforce(&one().sub(m), &y, &Lc::constant(Fr::zero()))?;
            ys.push(y);
        }
        let d = output_leaf_with(cs, j, &ys, &mask, &count)?;
        cs.assert_eq(&d, digest)?;

        let queries: Vec<(Lc, Lc, Lc)> = srcs
            .into_iter()
            .zip(ys)
            .zip(mask)
            .map(|((s, y), m)| (s, y, m))
            .collect();
        table_lookup(
            cs,
            c_x,
            inst.map(|i| i.slots.as_slice()),
            GATHER_SLOTS,
            inst.map(GatherChunk::multiplicities),
            v.to_vec(),
            &queries,
            CHALLENGE_TAG,
        )
    }
}

/// The view's parameters from `[P_0, P_1]`: dims `≥ 1` and the offset (28 bits each), the
/// signed strides (`s + 2^29`, 30 bits each), and `len = Π n_d < 2^28`.
#[allow(clippy::type_complexity)]
fn unpack_view(cs: &Cs, p0: &Lc, p1: &Lc) -> CsResult<(Vec<Lc>, Lc, Vec<Lc>, Lc)> {
    let bits = cs.bits(p0, (VIEW_RANK + 1) * DIM_BITS)?;
    let f: Vec<Lc> = bits.chunks(DIM_BITS).map(lc_from_bits).collect();
    let (dims, offset) = (f[..VIEW_RANK].to_vec(), f[VIEW_RANK].clone());
    for n in &dims {
        cs.range(&n.add_const(-Fr::one()), DIM_BITS)?;
    }
    let bits = cs.bits(p1, VIEW_RANK * STRIDE_BITS)?;
    let strides: Vec<Lc> = bits
        .chunks(STRIDE_BITS)
        .map(|b| lc_from_bits(b).add_const(-Fr::from(1u64 << (STRIDE_BITS - 1))))
        .collect();
    let mut len = dims[0].clone();
    for n in &dims[1..] {
        len = cs.mul(&len, n)?;
    }
    cs.range(&len.add_const(-Fr::one()), DIM_BITS)?;
    Ok((dims, offset, strides, len))
}

/// `src(616·j + k)` for the 616 positions of chunk `j` of a view (`616·j < len` is the
/// caller's): `616·j` in the mixed radix (`idx_5 … idx_1` by division, `idx_0` the quotient
/// left), then an odometer over the digits, `src_k = offset + Σ idx_d·s_d`.
fn view_positions(cs: &Cs, j: &Lc, dims: &[Lc], offset: &Lc, strides: &[Lc]) -> CsResult<Vec<Lc>> {
    let one = || Lc::constant(Fr::one());
    let mut idx: Vec<Lc> = vec![Lc::constant(Fr::zero()); VIEW_RANK];
    let mut rest = j.scale(Fr::from(CHUNK_VALUES as u64));
    for d in (1..VIEW_RANK).rev() {
        let (q, r) = divmod(cs, &rest, &dims[d], 32, DIM_BITS)?;
        idx[d] = r;
        rest = q;
    }
    idx[0] = rest;
    let mut srcs = Vec::with_capacity(CHUNK_VALUES);
    for k in 0..CHUNK_VALUES {
        if k > 0 {
            let mut carry = one();
            for d in (1..VIEW_RANK).rev() {
                let top = cs.is_zero(&idx[d].sub(&dims[d]).add_const(Fr::one()))?;
                let wrap = cs.mul(&carry, &top)?;
                idx[d] = fresh(cs, &idx[d].add(&carry).sub(&cs.mul(&wrap, &dims[d])?))?;
                carry = wrap;
            }
            idx[0] = idx[0].add(&carry);
        }
        let mut src = offset.clone();
        for (i, s) in idx.iter().zip(strides) {
            src = src.add(&cs.mul(i, s)?);
        }
        srcs.push(src.compact());
    }
    Ok(srcs)
}

/// The lookup of the queries `(key_k, value_k, weight_k)` in a table of `n_slots` chunks of
/// the tensor committed as `c_x`, each opened at a witness index: `Σ_k weight_k / (α − key_k
/// − β·value_k) = Σ_{s,i} m_{s,i} / (α − (616·c_s + i) − β·x_{s,i})`, the multiplicities `m`
/// witnesses ([`MULT_BITS`]; zero past `X`'s end), `α, β` hashed from `transcript` (the
/// public inputs), the slots' indices and the multiplicities under the domain tag `tag`.
#[allow(clippy::too_many_arguments)]
fn table_lookup(
    cs: &Cs,
    c_x: &Lc,
    slots: Option<&[ChunkOpening]>,
    n_slots: usize,
    mult_v: Option<Vec<Vec<u64>>>,
    mut transcript: Vec<Lc>,
    queries: &[(Lc, Lc, Lc)],
    tag: u64,
) -> CsResult<()> {
    let one = || Lc::constant(Fr::one());
    let mut table = Vec::with_capacity(n_slots);
    let mut mults = Vec::with_capacity(n_slots * CHUNK_VALUES);
    let first = slots.and_then(|s| s.first());
    let x = open_tensor(cs, c_x, first.map(|o| (o.shape.as_slice(), o.root)))?;
    for s in 0..n_slots {
        let o = slots.and_then(|sl| sl.get(s));
        let index = cs.witness(Fr::from(o.map_or(0, |o| o.index) as u64))?;
        let chunk = open_chunk_in(cs, x.clone(), &index, o)?;
        for (i, valid) in chunk.mask.iter().enumerate() {
            let m = cs.witness(Fr::from(mult_v.as_ref().map_or(0, |m| m[s][i])))?;
            cs.range(&m, MULT_BITS)?;
            // No entry past X's end is looked up.
            cs.enforce(&m, &one().sub(valid), &Lc::constant(Fr::zero()))?;
            mults.push(m);
        }
        transcript.push(index.clone());
        table.push((index.scale(Fr::from(CHUNK_VALUES as u64)), chunk));
    }
    transcript.extend(pack(&mults, MULT_BITS));
    let seed = poseidon::chain_from(cs, Lc::constant(Fr::from(tag)), &transcript)?;
    let alpha = poseidon_t3(cs, &seed, &one())?;
    let beta = poseidon_t3(cs, &seed, &Lc::constant(Fr::from(2u64)))?;

    let term = |key: &Lc, value: &Lc, weight: &Lc| -> CsResult<Lc> {
        let denom = alpha.sub(key).sub(&cs.mul(&beta, value)?);
        let inv = denom.val.inverse().unwrap_or_default() * weight.val;
        let u = cs.witness(inv)?;
        cs.enforce(&u, &denom, weight)?;
        Ok(u)
    };
    let mut lhs = Lc::constant(Fr::zero());
    for (key, value, weight) in queries {
        lhs = lhs.add(&term(key, value, weight)?);
    }
    let mut rhs = Lc::constant(Fr::zero());
    for (s, (base, chunk)) in table.iter().enumerate() {
        for i in 0..CHUNK_VALUES {
            let key = base.add_const(Fr::from(i as u64));
            rhs = rhs.add(&term(&key, &chunk.values[i], &mults[s * CHUNK_VALUES + i])?);
        }
    }
    cs.assert_eq(&lhs.compact(), &rhs.compact())
}

/// The view of a data-movement node (`Transpose`, `Select`, `Expand`) of `program`; `None`
/// for any other operator.
pub fn movement_view(
    program: &zkopml_engine::Program,
    node: &zkopml_engine::Node,
) -> Option<Result<GatherView, GatherError>> {
    use zkopml_engine::ops::Op;
    let x = &program.values[*node.inputs.first()?].shape;
    let y = &program.values[node.output].shape;
    let view = match &node.op {
        Op::Transpose(t) => GatherView::transpose(x, &t.perm),
        Op::Select(s) => GatherView::select(x, &s.maps),
        Op::Expand(_) => GatherView::expand(x, y),
        _ => return None,
    };
    Some(view.and_then(GatherView::fits))
}

impl GatherView {
    /// `self` when every output chunk reads at most [`GATHER_SLOTS`] chunks of `X`.
    pub fn fits(self) -> Result<Self, GatherError> {
        for j in 0..chunk_count(self.len()).max(1) {
            let needed = self.chunks_read(j).len();
            if needed > GATHER_SLOTS {
                return Err(GatherError::TooManyChunks { chunk: j, needed });
            }
        }
        Ok(self)
    }
}

/// A `Transpose` in passes: the views (each with its output shape) whose composition is the
/// transpose of an input of shape `x` by `perm`, every one fitting [`GATHER_SLOTS`].
///
/// One view when it fits. Otherwise the transpose of a too-scattered layout (a head split
/// `[S, H, D] → [H, S, D]` reads `616/D` runs of `D` values from as many chunks) goes
/// through intermediate layouts: an axis `a` of `x` is split into `(a_hi, a_lo)`, a first
/// pass moves every axis to its place but one of the two halves (which keeps its own), and a
/// second pass moves that half, now reading longer contiguous runs. Splits are searched
/// (axes, divisors, where the held-back half waits), the fewest passes first, up to
/// `MAX_TRANSPOSE_PASSES` (3); each pass is its own `gather_chunk` operator.
pub fn transpose_passes(
    x: &[usize],
    perm: &[usize],
) -> Result<Vec<(GatherView, Vec<usize>)>, GatherError> {
    let out: Vec<usize> = perm
        .iter()
        .map(|p| x.get(*p).copied().unwrap_or(0))
        .collect();
    let single = GatherView::transpose(x, perm)?;
    match single.fits() {
        Ok(v) => Ok(vec![(v, out)]),
        Err(e @ GatherError::TooManyChunks { .. }) => {
            let mut work = MAX_TRANSPOSE_TRIES;
            passes(x, perm, MAX_TRANSPOSE_PASSES, &mut work).ok_or(e)
        }
        Err(e) => Err(e),
    }
}

/// One operand of a `Concat` spread over the output's shape: `X_k'[o, i, c] = X_k[o, (i −
/// p_k) mod n_k, c]` (its values where `p_k ≤ i < p_k + n_k`, a wrapped copy elsewhere), as a
/// tile of `X_k` then, unless the tile already is it, a slice of the tile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcatPart {
    /// The operand's position among the node's inputs.
    pub input: usize,
    /// Its first index `p_k` along the axis.
    pub start: usize,
    /// Its views, each with its output shape; the last one's is the output's.
    pub passes: Vec<(GatherView, Vec<usize>)>,
}

impl GatherError {
    /// Why a `Concat` whose [`concat_parts`] failed with this error has no leaves (the
    /// manifest's plan and the lowering give the same reason).
    pub fn concat_refusal(&self) -> &'static str {
        match self {
            GatherError::TooManyChunks { .. } => {
                "a Concat operand whose spread reads more chunks than gather_chunk's table holds"
            }
            _ => "a Concat outside gather_chunk's strided views",
        }
    }
}

/// A `Concat` of operands shaped `xs` along `axis` into `out` on existing templates
/// (`docs/protocol.md` §10.11): every non-empty operand spread over the output's shape by
/// `gather_chunk` views ([`ConcatPart`]), then `Y_1 = Where(i < p_1, X_0', X_1')`, `Y_k =
/// Where(i < p_k, Y_{k−1}, X_k')` (`logic_chunk`, constant masks). Exact: data movement and
/// selection only.
pub fn concat_parts(
    xs: &[&[usize]],
    axis: usize,
    out: &[usize],
) -> Result<Vec<ConcatPart>, GatherError> {
    let shape_err = || GatherError::Shape {
        input: xs.first().map_or(Vec::new(), |x| x.to_vec()),
        output: out.to_vec(),
    };
    let n = *out.get(axis).ok_or_else(shape_err)?;
    let outer: usize = out[..axis].iter().product();
    let inner: usize = out[axis + 1..].iter().product();
    let mut parts = Vec::new();
    let mut start = 0;
    for (input, x) in xs.iter().enumerate() {
        let n_k = *x.get(axis).ok_or_else(shape_err)?;
        if n_k == 0 {
            continue;
        }
        // The tile starts s0 ≡ −p_k (mod n_k) rows before the operand's first row lands.
        let s0 = (n_k - start % n_k) % n_k;
        let q = (s0 + n).div_ceil(n_k);
        let tile_shape = vec![outer, q * n_k, inner];
        let tile = GatherView::new(
            &[
                (outer, (n_k * inner) as i64),
                (q, 0),
                (n_k, inner as i64),
                (inner, 1),
            ],
            0,
        )?
        .fits()?;
        let mut passes = vec![(tile, tile_shape)];
        if s0 != 0 || q * n_k != n {
            let slice = GatherView::new(
                &[
                    (outer, (q * n_k * inner) as i64),
                    (n, inner as i64),
                    (inner, 1),
                ],
                s0 * inner,
            )?
            .fits()?;
            passes.push((slice, out.to_vec()));
        } else {
            passes[0].1 = out.to_vec();
        }
        parts.push(ConcatPart {
            input,
            start,
            passes,
        });
        start += n_k;
    }
    if start != n {
        return Err(shape_err());
    }
    Ok(parts)
}

/// The most passes [`transpose_passes`] uses.
const MAX_TRANSPOSE_PASSES: usize = 3;
/// The most candidate views [`transpose_passes`] checks (a refusal stays cheap).
const MAX_TRANSPOSE_TRIES: usize = 400;

/// Up to `budget` fitting passes for `x` transposed by `perm`, fewest first, checking at
/// most `work` more candidate views.
fn passes(
    x: &[usize],
    perm: &[usize],
    budget: usize,
    work: &mut usize,
) -> Option<Vec<(GatherView, Vec<usize>)>> {
    if let Some(one) = fitting(x, perm, work) {
        return Some(vec![one]);
    }
    if budget < 2 {
        return None;
    }
    let r = x.len();
    // Candidates: (split shape x', first-pass perm q1, second-pass perm q2).
    let mut tries = Vec::new();
    for a in 0..r {
        for f in (2..x[a]).filter(|f| x[a].is_multiple_of(*f)) {
            // x' = x with axis a split into (a_hi = x[a]/f, a_lo = f): axes of x' are a, a+1
            // for the halves; axis e > a of x is e+1.
            let mut xs = x.to_vec();
            xs.splice(a..=a, [x[a] / f, f]);
            let lift = |e: usize| if e > a { e + 1 } else { e };
            // The target on x': perm with a replaced by (a, a+1).
            let target: Vec<usize> = perm
                .iter()
                .flat_map(|&e| {
                    if e == a {
                        vec![a, a + 1]
                    } else {
                        vec![lift(e)]
                    }
                })
                .collect();
            for held in [a, a + 1] {
                let rest: Vec<usize> = target.iter().copied().filter(|e| *e != held).collect();
                for at in 0..=rest.len() {
                    let mut q1 = rest.clone();
                    q1.insert(at, held);
                    if q1 == target {
                        continue;
                    }
                    // Pass 2 on the intermediate: q1[q2[i]] = target[i].
                    let inv = |e: usize| q1.iter().position(|v| *v == e).unwrap_or(0);
                    let q2: Vec<usize> = target.iter().map(|e| inv(*e)).collect();
                    tries.push((xs.clone(), q1, q2));
                }
            }
        }
    }
    // Two passes where both fit; then a fitting first pass and the rest in passes.
    for (xs, q1, q2) in &tries {
        if let (Some(p1), Some(p2)) = (fitting(xs, q1, work), fitting(&p_shape(xs, q1), q2, work)) {
            return Some(vec![p1, p2]);
        }
    }
    for (xs, q1, q2) in &tries {
        if let Some(p1) = fitting(xs, q1, work) {
            if let Some(rest) = passes(&p_shape(xs, q1), q2, budget - 1, work) {
                return Some(std::iter::once(p1).chain(rest).collect());
            }
        }
    }
    None
}

/// The view of `x` transposed by `p` and its shape, if it fits (one unit of `work`).
fn fitting(x: &[usize], p: &[usize], work: &mut usize) -> Option<(GatherView, Vec<usize>)> {
    *work = work.checked_sub(1)?;
    let v = GatherView::transpose(x, p)
        .and_then(GatherView::fits)
        .ok()?;
    Some((v, p_shape(x, p)))
}

/// The shape of `x` transposed by `p`.
fn p_shape(x: &[usize], p: &[usize]) -> Vec<usize> {
    p.iter().map(|a| x[*a]).collect()
}

/// `GatherND` (`batch_dims = 0`, engine `ops/gather.rs`) of an `X` of shape `x` by constant
/// `indices`, as a strided view when the flat positions it selects are affine in the
/// output's coordinates (the dynamo exporter's GatherND that reads an attention mask in
/// place, a row picked by constant tuples): `None` when they are not, or a tuple selects
/// nothing (the engine's zeros are no view of `X`).
pub fn gather_nd_view(
    x: &[usize],
    indices: &zkopml_engine::Tensor,
) -> Option<Result<GatherView, GatherError>> {
    let k = *indices.shape.last()?;
    if k == 0 || k > x.len() {
        return None;
    }
    let st = row_major(x);
    let slice: usize = x[k..].iter().product();
    let bases: Vec<usize> = indices
        .data
        .chunks(k)
        .map(|t| {
            t.iter().enumerate().try_fold(0usize, |acc, (a, q)| {
                zkopml_engine::ops::resolve_index(*q, x[a]).map(|i| acc + i * st[a] as usize)
            })
        })
        .collect::<Option<_>>()?;
    let mut out = indices.shape[..indices.shape.len() - 1].to_vec();
    out.extend_from_slice(&x[k..]);
    let src = |i: usize| bases[i / slice.max(1)] + i % slice.max(1);
    let len: usize = out.iter().product();
    if len == 0 {
        return None;
    }
    // Strides from the unit steps along each output axis, then every position checked.
    let ost = row_major(&out);
    let offset = src(0);
    let axes: Vec<(usize, i64)> = out
        .iter()
        .zip(&ost)
        .map(|(n, s)| {
            let step = if *n > 1 {
                src(*s as usize) as i64 - offset as i64
            } else {
                0
            };
            (*n, step)
        })
        .collect();
    let affine = (0..len).all(|i| {
        let mut rest = i;
        let mut at = offset as i64;
        for (n, s) in axes.iter().rev() {
            at += (rest % n) as i64 * s;
            rest /= n;
        }
        at == src(i) as i64
    });
    affine.then(|| GatherView::new(&axes, offset).and_then(GatherView::fits))
}

// ---------------------------------------------------------------------------------------
// `gather_index`: Gather / GatherElements with computed indices.
// ---------------------------------------------------------------------------------------

/// Chunks of `X` in a `gather_index` leaf's table: an output chunk of an embedding lookup
/// with rows of `D ≥ 308` values spans at most three rows, each in at most two chunks.
pub const INDEX_SLOTS: usize = 6;
/// Domain tag of `gather_index`'s challenge hash.
const INDEX_TAG: u64 = 0x6964_7867; // "idxg"

/// A data-dependent gather (engine: `ops/gather.rs` `Gather`, `GatherElements`), as the
/// `gather_index` template proves it: `Y[i] = X[base(i) + k_i·stride]` where `k_i` is the
/// position the index `J[i]` names along an axis of `dim` (the engine's `resolve_index`:
/// `round(J[i] / 2^F)` half up, negative from the end),
/// and `Y[i] = 0` when it names none. `J` has `Y`'s shape: the node's indices moved to the
/// output positions by [`IndexGather::idx`] (a `gather_chunk` view; the identity for
/// `GatherElements`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexGather {
    /// `base(i)`: the flat offset of `X` at coordinate 0 of the axis, a strided view over
    /// `Y`'s positions (its dims are `Y`'s).
    pub base: GatherView,
    /// `J = idx(I)`: the index element each output position reads.
    pub idx: GatherView,
    /// The axis's size `d` in `X`.
    pub dim: usize,
    /// The axis's stride in `X`.
    pub stride: usize,
}

impl IndexGather {
    /// `Gather` along `axis` of `data` by indices of shape `idx`.
    pub fn gather(data: &[usize], idx: &[usize], axis: usize) -> Result<Self, GatherError> {
        let shape = || GatherError::Shape {
            input: data.to_vec(),
            output: idx.to_vec(),
        };
        if axis >= data.len() {
            return Err(shape());
        }
        let outer: usize = data[..axis].iter().product();
        let inner: usize = data[axis + 1..].iter().product();
        let (d, ni) = (data[axis], idx.iter().product::<usize>());
        if ni == 0 || d == 0 {
            return Err(shape());
        }
        let span = i64::try_from(d * inner).map_err(|_| shape())?;
        let base = GatherView::new(&[(outer, span), (ni, 0), (inner, 1)], 0)?;
        let view = GatherView::new(&[(outer, 0), (ni, 1), (inner, 0)], 0)?;
        Self::checked(base, view, d, inner)
    }

    /// `GatherElements` along `axis` of `data` by indices of shape `idx` (same rank, no
    /// larger off the axis).
    pub fn elements(data: &[usize], idx: &[usize], axis: usize) -> Result<Self, GatherError> {
        let ok = data.len() == idx.len()
            && axis < data.len()
            && (0..data.len()).all(|a| a == axis || idx[a] <= data[a])
            && idx.iter().all(|n| *n > 0);
        if !ok {
            return Err(GatherError::Shape {
                input: data.to_vec(),
                output: idx.to_vec(),
            });
        }
        let st = row_major(data);
        let axes: Vec<(usize, i64)> = (0..idx.len())
            .map(|a| (idx[a], if a == axis { 0 } else { st[a] }))
            .collect();
        let base = GatherView::new(&axes, 0)?;
        let n = idx.iter().product::<usize>();
        let view = GatherView::new(&[(n, 1)], 0)?;
        Self::checked(base, view, data[axis], st[axis] as usize)
    }

    fn checked(
        base: GatherView,
        idx: GatherView,
        dim: usize,
        stride: usize,
    ) -> Result<Self, GatherError> {
        for (name, v) in [("dim", dim), ("stride", stride)] {
            if v == 0 || v >= 1 << DIM_BITS {
                return Err(GatherError::Param {
                    name,
                    value: v as i64,
                });
            }
        }
        Ok(Self {
            base,
            idx,
            dim,
            stride,
        })
    }

    /// `len(Y)`.
    pub fn len(&self) -> usize {
        self.base.len()
    }

    /// Whether `Y` is empty (never, for a checked gather).
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }

    /// Whether `J` is the node's indices themselves (no `gather_chunk` operator moves them).
    pub fn idx_is_identity(&self, idx_len: usize) -> bool {
        let v = &self.idx;
        idx_len == self.len()
            && v.offset == 0
            && v.dims
                .iter()
                .zip(&v.strides)
                .all(|(n, s)| *n == 1 || *s == 1)
            && v.dims.iter().filter(|n| **n != 1).count() <= 1
    }

    /// The flat index of `X` output position `i` reads for index value `q` (`None`: the
    /// index names no position, `Y[i] = 0`).
    pub fn source(&self, i: usize, q: i32) -> Option<usize> {
        let k = zkopml_engine::ops::resolve_index(q, self.dim)?;
        Some(self.base.source(i)? + k * self.stride)
    }

    /// `Y` from `X`'s values and `J`'s (`None` when a source is past `X` or `J` is short).
    pub fn apply(&self, x: &[i32], j: &[i32]) -> Option<Vec<i32>> {
        (0..self.len())
            .map(|i| match self.source(i, *j.get(i)?) {
                Some(s) => x.get(s).copied(),
                None => Some(0),
            })
            .collect()
    }

    /// The most chunks of an `X` of `x_len` values output chunk `c` can read, whatever the
    /// indices: positions that read the same index element at consecutive bases read one
    /// contiguous run of `L` values (at most `⌈(L−1)/616⌉ + 1` chunks); never more than
    /// `X` has.
    pub fn max_chunks(&self, x_len: usize, c: usize) -> usize {
        let lo = c * CHUNK_VALUES;
        let hi = (lo + CHUNK_VALUES).min(self.len());
        let mut total = 0;
        let mut run = 0usize;
        for i in lo..hi {
            let joined = i > lo
                && run > 0
                && self.idx.source(i) == self.idx.source(i - 1)
                && self.base.source(i) == self.base.source(i - 1).map(|b| b + 1);
            if joined {
                run += 1;
            } else {
                if run > 0 {
                    total += (run - 1).div_ceil(CHUNK_VALUES) + 1;
                }
                run = 1;
            }
        }
        if run > 0 {
            total += (run - 1).div_ceil(CHUNK_VALUES) + 1;
        }
        total.min(chunk_count(x_len).max(1))
    }

    /// `self` when every output chunk reads at most [`INDEX_SLOTS`] chunks of an `X` of
    /// `x_len` values, whatever the indices.
    pub fn fits(self, x_len: usize) -> Result<Self, GatherError> {
        for c in 0..chunk_count(self.len()).max(1) {
            let needed = self.max_chunks(x_len, c);
            if needed > INDEX_SLOTS {
                return Err(GatherError::TooManyChunks { chunk: c, needed });
            }
        }
        Ok(self)
    }

    /// The public parameters `[P_0, P_1, P_2]`: the base view's two, then `dim + 2^28·stride`.
    pub fn packed(&self) -> [Fr; 3] {
        let [p0, p1] = self.base.packed();
        let p2 =
            Fr::from(self.dim as u64) + Fr::from(self.stride as u64) * Fr::from(1u64 << DIM_BITS);
        [p0, p1, p2]
    }
}

/// The `gather_index` template.
pub struct GatherIndexTemplate;

/// One `gather_index` instance: output chunk `index` of an [`IndexGather`], chunk `index`
/// of `J`, the table's chunks of `X` and the claimed output values.
#[derive(Clone, Debug)]
pub struct GatherIndexChunk {
    /// The gather.
    pub params: IndexGather,
    /// The output chunk `j`.
    pub index: usize,
    /// Chunk `j` of `J`.
    pub idx: ChunkOpening,
    /// [`INDEX_SLOTS`] chunks of `X` (the ones the chunk reads, then repeats).
    pub slots: Vec<ChunkOpening>,
    /// The output chunk's values (the engine's).
    pub y: Vec<i32>,
}

impl GatherIndexChunk {
    /// The honest leaf for output chunk `j` from `X` (shape, values, tree) and `J` (shape,
    /// values, tree).
    pub fn new(
        params: IndexGather,
        (x_shape, x, x_tree): (&[usize], &[i32], &ChunkTree),
        (j_shape, jv, j_tree): (&[usize], &[i32], &ChunkTree),
        j: usize,
    ) -> Result<Self, GatherError> {
        let out = GatherError::OutOfRange { chunk: j };
        if j >= chunk_count(params.len()).max(1) || jv.len() != params.len() {
            return Err(out);
        }
        let lo = j * CHUNK_VALUES;
        let hi = (lo + CHUNK_VALUES).min(params.len());
        let mut read: Vec<usize> = Vec::new();
        let mut y = Vec::with_capacity(hi - lo);
        for (i, q) in jv.iter().enumerate().take(hi).skip(lo) {
            match params.source(i, *q) {
                Some(s) => {
                    y.push(*x.get(s).ok_or(out.clone())?);
                    read.push(s / CHUNK_VALUES);
                }
                None => y.push(0),
            }
        }
        read.sort_unstable();
        read.dedup();
        if read.len() > INDEX_SLOTS {
            return Err(GatherError::TooManyChunks {
                chunk: j,
                needed: read.len(),
            });
        }
        let fill = read.first().copied().unwrap_or(0);
        let slots = (0..INDEX_SLOTS)
            .map(|s| ChunkOpening::new(x_shape, x, x_tree, read.get(s).copied().unwrap_or(fill)))
            .collect::<Option<Vec<_>>>()
            .ok_or(out.clone())?;
        let idx = ChunkOpening::new(j_shape, jv, j_tree, j).ok_or(out)?;
        Ok(Self {
            params,
            index: j,
            idx,
            slots,
            y,
        })
    }

    /// The output chunk (the claim: `y`).
    pub fn output(&self) -> Vec<i32> {
        self.y.clone()
    }

    /// Multiplicity of every table entry: each claimed `(src_k, y_k)` of a position whose
    /// index names a position, counted once, in the first slot that holds it.
    fn multiplicities(&self) -> Vec<Vec<u64>> {
        let mut m = vec![vec![0u64; CHUNK_VALUES]; self.slots.len()];
        let lo = self.index * CHUNK_VALUES;
        for (k, (y, q)) in self.y.iter().zip(&self.idx.values).enumerate() {
            let Some(src) = self.params.source(lo + k, *q) else {
                continue;
            };
            let (c, i) = (src / CHUNK_VALUES, src % CHUNK_VALUES);
            if let Some(s) = self
                .slots
                .iter()
                .position(|o| o.index == c && o.values.get(i) == Some(y))
            {
                m[s][i] += 1;
            }
        }
        m
    }
}

impl Template for GatherIndexTemplate {
    const NAME: &'static str = "gather_index/v1";
    type Instance = GatherIndexChunk;

    fn public_inputs(inst: &GatherIndexChunk) -> Vec<Fr> {
        let commit = |o: &ChunkOpening| {
            chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
        };
        let [p0, p1, p2] = inst.params.packed();
        vec![
            inst.slots.first().map(commit).unwrap_or_default(),
            commit(&inst.idx),
            Fr::from(inst.index as u64),
            p0,
            p1,
            p2,
            chunk_digest(inst.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&GatherIndexChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 7>(cs, inst)?;
        let [c_x, c_j, j, p0, p1, p2, digest] = &v;
        let one = || Lc::constant(Fr::one());
        let (dims, offset, strides, len) = unpack_view(cs, p0, p1)?;
        // The axis: 1 ≤ dim < 2^28, stride < 2^28.
        let bits = cs.bits(p2, 2 * DIM_BITS)?;
        let dim = lc_from_bits(&bits[..DIM_BITS]);
        let stride = lc_from_bits(&bits[DIM_BITS..]);
        cs.range(&dim.add_const(-Fr::one()), DIM_BITS)?;

        // Chunk j of J (len(J) = len(Y): its mask is Y's, and j < chunks).
        let jt = open_tensor(cs, c_j, inst.map(|i| (i.idx.shape.as_slice(), i.idx.root)))?;
        cs.assert_eq(&jt.len, &len)?;
        let jc = open_chunk_in(cs, jt, j, inst.map(|i| &i.idx))?;
        let bases = view_positions(cs, j, &dims, &offset, &strides)?;

        // Per position: k = ⌊(q + 2^(F−1)) / 2^F⌋ from the bits of u = q + 2^(F−1) + 2^32
        // (q is an i32: u ∈ [0, 2^33)); k < 0 iff u < 2^32. k' = k + d·[k < 0]; the index
        // names a position iff 0 ≤ k' < d, i.e. iff c ≥ 0 for c = k' (k < 0) or d − 1 − k
        // (k ≥ 0), |c| < 2^28: bit 28 of c + 2^28.
        let f = zkopml_engine::fixed::FRAC_BITS as usize;
        let y_v = inst.map(|i| &i.y);
        let mut queries = Vec::with_capacity(CHUNK_VALUES);
        let mut ys = Vec::with_capacity(CHUNK_VALUES);
        for (k, base) in bases.into_iter().enumerate() {
            let q = &jc.values[k];
            let u = cs.bits(&q.add_const(Fr::from((1u64 << (f - 1)) + (1u64 << 32))), 33)?;
            let kk = lc_from_bits(&u[f..]).add_const(-Fr::from(1u64 << (32 - f)));
            let neg = one().sub(&u[32]);
            let kp = kk.add(&cs.mul(&neg, &dim)?);
            let c = cs.select(&neg, &kp, &dim.add_const(-Fr::one()).sub(&kk))?;
            let valid = cs
                .bits(&c.add_const(Fr::from(1u64 << DIM_BITS)), DIM_BITS + 1)?
                .swap_remove(DIM_BITS);
            let weight = cs.mul(&valid, &jc.mask[k])?;
            let src = base.add(&cs.mul(&kp, &stride)?);
            // The claim: a table value where the index names a position (the lookup makes
            // it one of X's i32 entries), else 0.
            let y = cs.witness_int(y_v.and_then(|y| y.get(k)).copied().unwrap_or(0) as i128)?;
            cs.enforce(&one().sub(&weight), &y, &Lc::constant(Fr::zero()))?;
            queries.push((src.compact(), y.clone(), weight));
            ys.push(y);
        }
        let d = output_leaf(cs, j, &ys, &jc)?;
        cs.assert_eq(&d, digest)?;
        table_lookup(
            cs,
            c_x,
            inst.map(|i| i.slots.as_slice()),
            INDEX_SLOTS,
            inst.map(GatherIndexChunk::multiplicities),
            v.to_vec(),
            &queries,
            INDEX_TAG,
        )
    }
}

/// The `gather_index` decomposition of a `Gather` / `GatherElements` node of `program`
/// (`None` for any other operator), or why it has none: every output chunk must read at
/// most [`INDEX_SLOTS`] chunks of the data whatever the indices, and the indices' move to
/// the output positions must fit `gather_chunk`.
pub fn index_gather(
    program: &zkopml_engine::Program,
    node: &zkopml_engine::Node,
) -> Option<Result<IndexGather, &'static str>> {
    use zkopml_engine::ops::Op;
    let x = &program.values[*node.inputs.first()?].shape;
    let i = &program.values[*node.inputs.get(1)?].shape;
    let p = match &node.op {
        Op::Gather(g) => IndexGather::gather(x, i, g.axis),
        Op::GatherElements(g) => IndexGather::elements(x, i, g.axis),
        _ => return None,
    };
    let x_len = x.iter().product::<usize>();
    Some(
        p.map_err(|_| "a gather outside gather_index's bounds")
            .and_then(|p| {
                p.fits(x_len).map_err(|_| {
                    "an output chunk of a computed-index gather may read more chunks of the \
                     data than gather_index's table holds"
                })
            })
            .and_then(|p| {
                if p.idx_is_identity(i.iter().product()) {
                    return Ok(p);
                }
                p.idx.fits().map(|_| p).map_err(|_| {
                    "the indices' move to the output positions reads more chunks than \
                     gather_chunk's table holds"
                })
            }),
    )
}
