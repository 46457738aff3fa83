//! `MaxPool` (engine: `ops/pool.rs`) as fixed templates: the window of every output position
//! is gathered tap by tap exactly as a depthwise `Conv`'s ([`super::conv`]'s lookup over a
//! table of [`POOL_SLOTS`] chunks of `X`, no weights), into wide running maxima:
//!
//! - `acc_0[p] = i32::MIN` (a constant),
//! - `acc_{b+1}[p] = max(acc_b[p], X[co, oy·sh + ky − top, ox·sw + kx − left])` where the
//!   tap `b = ky·kw + kx` reads inside the plane, `acc_b[p]` in the padding — template
//!   `pool_block`,
//! - `y = acc_B` — the Gemm's `rescale_chunk` with `S = 0` (the identity on `i32` values).
//!
//! A window with no position inside the plane keeps `i32::MIN`, as the engine's.
//!
//! `AveragePool` and `GlobalAveragePool` are the engine's `div_round(Σ valid, count)` — an
//! exact division by a count that is not a power of two, so no rescale expresses it. They
//! are split into exact wide window sums, then one division ([`AvgTemplate`],
//! `avg_chunk`: `y = div_round(acc, count)` with the counts a model constant of `Y`'s
//! shape, computed from the geometry as the engine does):
//!
//! - a window pool sums by `conv_block` with weight 1 per channel (depthwise, `group = C`,
//!   no bias; 0 in the padding), unchanged;
//! - a global pool (and an `AveragePool` whose one window is the whole unpadded plane) cannot:
//!   its output chunk holds 616 planes, so a tap reads one value of each of 616 planes
//!   (`H·W` chunks, far past a table). It is split the other way ([`GapBlockTemplate`],
//!   `gap_block`): output chunk `j` depends on exactly the `H·W` chunks `j·H·W + b` of `X`
//!   (616 planes of `H·W` values each), so block `b` adds the per-plane sums of *one* chunk
//!   of `X` to the running sums: `acc_{b+1}[q] = acc_b[q] + Σ_{k: ⌊(616·b + k)/(H·W)⌋ = q}
//!   X[616·(j·H·W + b) + k]`.

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{One, Zero};
use zkopml_commit::{
    chunk_count, chunk_digest, chunked_commitment_of, fr_from_i64, tensor_header,
    wide_chunk_digest, wide_tree, ChunkTree, CHUNK_VALUES,
};
use zkopml_engine::{
    fixed::{div_round, saturate},
    ops::{Conv, Pool},
    Tensor,
};

use super::{
    chunk::{
        open_chunk, open_chunk_in, open_tensor, open_wide, output_leaf, wide_leaf, ChunkOpening,
        WideOpening,
    },
    conv::{i128_fr, leaf_instance, window, WindowInputs},
    ConvBlockChunk, ConvDispute, ConvDisputeError, ConvParams, Template,
};
use crate::{
    gadgets::{Cs, CsResult, Lc},
    poseidon,
};

/// Chunks in a `pool_block` leaf's lookup table (all of `X`).
pub const POOL_SLOTS: usize = 6;

/// A `MaxPool` node's dispute decomposition (batch 1, floor mode).
#[derive(Clone, Debug)]
pub struct PoolDispute {
    /// Shape parameters of every leaf (`cg = mg = 1`: each output plane reads its own).
    pub params: ConvParams,
    /// Output length `C·Ho·Wo`.
    pub len: usize,
    /// `acc_B`: the window maxima.
    pub acc_final: Vec<i128>,
    /// The output: the engine's.
    pub y: Vec<i32>,
}

impl PoolDispute {
    /// Decomposes `MaxPool` `p` of `x` (`[1, C, H, W]`).
    pub fn new(p: &Pool, x: &Tensor) -> Result<Self, ConvDisputeError> {
        let shape_err = || ConvDisputeError::Shape {
            x: x.shape.clone(),
            w: p.kernel.to_vec(),
        };
        if x.shape.len() != 4
            || x.shape[0] != 1
            || p.ceil_mode
            || x.data.len() != x.shape.iter().product::<usize>()
        {
            return Err(shape_err());
        }
        let out_dim = |a: usize| {
            let padded = x.shape[2 + a] + p.pads[a] + p.pads[a + 2];
            (padded >= p.kernel[a] && p.strides[a] > 0)
                .then(|| (padded - p.kernel[a]) / p.strides[a] + 1)
        };
        let (Some(ho), Some(wo)) = (out_dim(0), out_dim(1)) else {
            return Err(shape_err());
        };
        let params = ConvParams {
            input: [x.shape[2], x.shape[3]],
            output: [ho, wo],
            cg: 1,
            mg: 1,
            kernel: p.kernel,
            strides: p.strides,
            dilations: [1, 1],
            pad: [p.pads[0], p.pads[1]],
            row_chunks: 1,
        };
        for value in params.list() {
            if value >= 1 << 12 {
                return Err(ConvDisputeError::Param {
                    name: "pool shape",
                    value,
                });
            }
        }
        let mut d = Self {
            params,
            len: x.shape[1] * ho * wo,
            acc_final: Vec::new(),
            y: Vec::new(),
        };
        d.acc_final = d.acc(x, d.blocks());
        d.y = d.acc_final.iter().map(|v| *v as i32).collect();
        Ok(d)
    }

    /// Number of blocks (taps) `B = kh·kw`.
    pub fn blocks(&self) -> usize {
        self.params.taps()
    }

    /// `acc_b`: the running maxima after the first `b` taps.
    pub fn acc(&self, x: &Tensor, b: usize) -> Vec<i128> {
        let mut acc = vec![i32::MIN as i128; self.len];
        for t in 0..b {
            for (p, s) in acc.iter_mut().enumerate() {
                if let (_, Some(f)) = self.params.source(p, t) {
                    *s = (*s).max(x.data[f] as i128);
                }
            }
        }
        acc
    }

    /// The chunks of `X` that chunk `j` of tap `b` reads, ascending.
    pub fn chunks_read(&self, j: usize, b: usize) -> Vec<usize> {
        let lo = j * CHUNK_VALUES;
        let mut xs: Vec<usize> = (lo..(lo + CHUNK_VALUES).min(self.len))
            .filter_map(|p| self.params.source(p, b).1)
            .map(|f| f / CHUNK_VALUES)
            .collect();
        xs.dedup();
        xs.sort_unstable();
        xs.dedup();
        xs
    }

    /// The leaf proving chunk `j` of `acc_{b+1}` from `acc_b` (given) and `X`.
    pub fn block_instance(
        &self,
        x: &Tensor,
        acc_b: &[i128],
        j: usize,
        b: usize,
    ) -> Result<PoolBlockChunk, ConvDisputeError> {
        if j >= zkopml_commit::chunk_count(self.len).max(1) || b >= self.blocks() {
            return Err(ConvDisputeError::OutOfRange { chunk: j, tap: b });
        }
        let window = leaf_instance(
            (x, None),
            (self.chunks_read(j, b), Vec::new()),
            POOL_SLOTS,
            (acc_b, self.len),
            (j, b),
            self.params,
        )?;
        Ok(PoolBlockChunk { window })
    }
}

/// The max-pool tap template: chunk `j` of `acc_{b+1}` from `acc_b`'s and `X`.
pub struct PoolBlockTemplate;

/// One instance of [`PoolBlockTemplate`]: the gather of [`ConvBlockChunk`] without weights
/// (its slots all of `X`).
#[derive(Clone, Debug)]
pub struct PoolBlockChunk {
    /// The window gather's witness.
    pub window: ConvBlockChunk,
}

impl PoolBlockChunk {
    /// The output chunk (`acc_{b+1}`'s chunk `j`).
    pub fn output(&self) -> Vec<Fr> {
        let w = &self.window;
        let r = w.reads();
        let base = w.acc_in.index * CHUNK_VALUES;
        (0..w.acc_in.values.len())
            .map(|k| {
                let acc = w.acc_in.values[k];
                match w.params.source(base + k, w.block).1 {
                    Some(_) => {
                        let a = crate::gadgets::fr_to_i128(acc).unwrap_or(0);
                        i128_fr(a.max(r.x[k] as i128))
                    }
                    None => acc,
                }
            })
            .collect()
    }
}

impl Template for PoolBlockTemplate {
    const NAME: &'static str = "pool_block/v1";
    type Instance = PoolBlockChunk;

    /// `[C(acc_b), C(X), j, b, P, d]` (`P` the packed [`ConvParams`], `cg = mg = 1`).
    fn public_inputs(inst: &PoolBlockChunk) -> Vec<Fr> {
        let w = &inst.window;
        let j = w.acc_in.index;
        vec![
            chunked_commitment_of(
                tensor_header(&w.acc_in.shape).unwrap_or_default(),
                w.acc_in.root,
            ),
            w.commitments().0,
            Fr::from(j as u64),
            Fr::from(w.block as u64),
            w.params.packed(),
            wide_chunk_digest(j, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&PoolBlockChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 6>(cs, inst)?;
        let [c_acc, c_x, j, b, packed, digest] = &v;
        let win = window(
            cs,
            WindowInputs {
                c_acc,
                c_x,
                c_w: None,
                j,
                b,
                packed,
                transcript: &v,
            },
            POOL_SLOTS,
            inst.map(|i| &i.window),
        )?;
        // acc_{b+1} = acc_b + inside·(max(acc_b, x) − acc_b); acc_b and x in the i32 range.
        let mut out = Vec::with_capacity(CHUNK_VALUES);
        for k in 0..CHUNK_VALUES {
            let acc = &win.acc.values[k];
            let m = cs.max(acc, &win.x[k])?;
            out.push(acc.add(&cs.mul(&win.inside[k], &m.sub(acc))?));
        }
        let d = wide_leaf(cs, j, &out)?;
        cs.assert_eq(&d, digest)
    }
}

/// Bits of a plane size `H·W` (`gap_block`) and of a window count (`avg_chunk`): each is
/// below `2^24`.
pub const COUNT_BITS: usize = 24;
/// Domain tag of `gap_block`'s challenge hash.
const GAP_TAG: u64 = 0x0067_6170_5f62_6c6b; // "gap_blk"
/// Bits of `⌊616·b / (H·W)⌋ < 616`.
const Q0_BITS: usize = 10;

/// A global average pool's sums (`GlobalAveragePool`, or an `AveragePool` whose one window
/// is the whole unpadded plane): `acc_b[c]` = the sum of plane `c`'s values that lie in the
/// first `b` of the `H·W` chunks of `X` its output chunk reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapDispute {
    /// Planes `N·C`: the output's (and the partial sums') length.
    pub planes: usize,
    /// Values per plane `H·W`.
    pub plane: usize,
}

impl GapDispute {
    /// The decomposition of a global pool of an input of shape `x` (rank ≥ 3).
    pub fn new(x: &[usize]) -> Result<Self, ConvDisputeError> {
        if x.len() < 3 || x[0] * x[1] == 0 {
            return Err(ConvDisputeError::Shape {
                x: x.to_vec(),
                w: Vec::new(),
            });
        }
        let plane: usize = x[2..].iter().product();
        if plane == 0 || plane >= 1 << COUNT_BITS {
            return Err(ConvDisputeError::Param {
                name: "H·W",
                value: plane,
            });
        }
        Ok(Self {
            planes: x[0] * x[1],
            plane,
        })
    }

    /// Number of blocks `B = min(H·W, chunks of X)`: output chunk 0 reads chunks `0 … B − 1`
    /// of `X`, every later one reads fewer real chunks (its blocks past `X`'s end add
    /// nothing), so no output chunk needs more blocks.
    pub fn blocks(&self) -> usize {
        self.plane.min(chunk_count(self.planes * self.plane).max(1))
    }

    /// The chunk of `X` that block `b` of output chunk `j` reads: `j·H·W + b` (past `X`'s
    /// end for the last output chunk's late blocks, which add nothing).
    pub fn x_chunk(&self, j: usize, b: usize) -> usize {
        j * self.plane + b
    }

    /// `acc_1 … acc_B` as field elements (`acc_0 = 0`): what a trace holds for the blocks.
    pub fn running(&self, x: &Tensor) -> Vec<Vec<Fr>> {
        let mut acc = vec![0i128; self.planes];
        (0..self.blocks())
            .map(|b| {
                self.add_block(x, b, &mut acc);
                acc.iter().map(|v| i128_fr(*v)).collect()
            })
            .collect()
    }

    /// `acc_b`: the partial sums after the first `b` blocks.
    pub fn acc(&self, x: &Tensor, b: usize) -> Vec<i128> {
        let mut acc = vec![0i128; self.planes];
        (0..b).for_each(|t| self.add_block(x, t, &mut acc));
        acc
    }

    /// Adds block `b` of every output chunk: each value of chunk `j·H·W + b` of `X` to its
    /// plane's sum.
    fn add_block(&self, x: &Tensor, b: usize, acc: &mut [i128]) {
        for j in 0..chunk_count(self.planes).max(1) {
            let lo = self.x_chunk(j, b) * CHUNK_VALUES;
            let hi = (lo + CHUNK_VALUES).min(x.data.len());
            for i in lo..hi {
                if let Some(s) = acc.get_mut(i / self.plane) {
                    *s += x.data[i] as i128;
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
    ) -> Result<GapBlockChunk, ConvDisputeError> {
        let out_of_range = ConvDisputeError::OutOfRange { chunk: j, tap: b };
        if j >= chunk_count(self.planes).max(1) || b >= self.blocks() {
            return Err(out_of_range);
        }
        let last = chunk_count(x.data.len()).max(1) - 1;
        let tree = ChunkTree::of_values(&x.data);
        let x_open = ChunkOpening::new(&x.shape, &x.data, &tree, self.x_chunk(j, b).min(last))
            .ok_or(out_of_range.clone())?;
        let acc: Vec<Fr> = acc_b.iter().map(|v| i128_fr(*v)).collect();
        let acc_in =
            WideOpening::new(&[self.planes], &acc, &wide_tree(&acc), j).ok_or(out_of_range)?;
        Ok(GapBlockChunk {
            acc_in,
            x: x_open,
            block: b,
            plane: self.plane,
            forge: None,
        })
    }
}

/// The global-pool block template: chunk `j` of `acc_{b+1}` from `acc_b`'s and chunk
/// `j·H·W + b` of `X`.
pub struct GapBlockTemplate;

/// One instance of [`GapBlockTemplate`].
#[derive(Clone, Debug)]
pub struct GapBlockChunk {
    /// Chunk `j` of `acc_b`.
    pub acc_in: WideOpening,
    /// Chunk `j·H·W + b` of `X` (its last chunk when that is past the end).
    pub x: ChunkOpening,
    /// The block `b < H·W`.
    pub block: usize,
    /// `H·W`.
    pub plane: usize,
    /// A dishonest prover's claim (soundness tests): `(q, δ)` adds `δ` to output position
    /// `q`; `None` for the honest witness.
    pub forge: Option<(usize, i64)>,
}

impl GapBlockChunk {
    /// Whether the block reads past `X`'s end (then it adds nothing).
    fn past(&self) -> bool {
        let len: usize = self.x.shape.iter().product();
        self.acc_in.index * self.plane + self.block >= chunk_count(len).max(1)
    }

    /// The output chunk (`acc_{b+1}`'s chunk `j`).
    pub fn output(&self) -> Vec<Fr> {
        let mut out = self.acc_in.values.clone();
        if !self.past() {
            for (k, v) in self.x.values.iter().enumerate() {
                let q = (CHUNK_VALUES * self.block + k) / self.plane.max(1);
                if let Some(o) = out.get_mut(q) {
                    *o += fr_from_i64(*v as i64);
                }
            }
        }
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

impl Template for GapBlockTemplate {
    const NAME: &'static str = "gap_block/v1";
    type Instance = GapBlockChunk;

    /// `[C(acc_b), C(X), j, b, H·W, d]`.
    fn public_inputs(inst: &GapBlockChunk) -> Vec<Fr> {
        let j = inst.acc_in.index;
        let c = |shape: &[usize], root| {
            chunked_commitment_of(tensor_header(shape).unwrap_or_default(), root)
        };
        vec![
            c(&inst.acc_in.shape, inst.acc_in.root),
            c(&inst.x.shape, inst.x.root),
            Fr::from(j as u64),
            Fr::from(inst.block as u64),
            Fr::from(inst.plane as u64),
            wide_chunk_digest(j, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&GapBlockChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 6>(cs, inst)?;
        let [c_acc, c_x, j, b, plane, digest] = &v;
        let one = Lc::constant(Fr::one());
        let acc = open_wide(cs, c_acc, j, inst.map(|i| &i.acc_in))?;
        // 1 ≤ H·W < 2^24 and 0 ≤ b < H·W.
        cs.range(&plane.add_const(-Fr::one()), COUNT_BITS)?;
        cs.range(b, COUNT_BITS)?;
        cs.range(&plane.sub(b).add_const(-Fr::one()), COUNT_BITS)?;

        // The chunk of X: idx = j·H·W + b, or X's last chunk when idx is past the end
        // (`past`: idx ≥ chunks; then nothing is added).
        let idx = cs.mul(j, plane)?.add(b);
        let t = open_tensor(cs, c_x, inst.map(|i| (i.x.shape.as_slice(), i.x.root)))?;
        let past = cs.witness(if inst.is_some_and(GapBlockChunk::past) {
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
            .zip(&x.values)
            .map(|(m, v)| cs.mul(&cs.mul(m, &one.sub(&past))?, v))
            .collect::<CsResult<_>>()?;

        // Position k of the chunk belongs to output position q(k) = ⌊(616·b + k)/(H·W)⌋:
        // q(0) = q0 with 616·b = q0·H·W + r0, 0 ≤ r0 < H·W; then r steps by one and wraps at
        // H·W (exactly: wrap = [r + 1 = H·W]), and q steps with each wrap.
        let (q0_v, r0_v) = inst.map_or((0, 0), |i| {
            let n = CHUNK_VALUES * i.block;
            (n / i.plane.max(1), n % i.plane.max(1))
        });
        let q0 = cs.witness(Fr::from(q0_v as u64))?;
        let mut r = cs.witness(Fr::from(r0_v as u64))?;
        cs.enforce(&q0, plane, &b.scale(Fr::from(CHUNK_VALUES as u64)).sub(&r))?;
        cs.range(&r, COUNT_BITS)?;
        cs.range(&plane.sub(&r).add_const(-Fr::one()), COUNT_BITS)?;
        let q0_bits = cs.bits(&q0, Q0_BITS)?;

        // The scatter is checked as one polynomial identity at a challenge ρ derived from
        // the public inputs — which fix every value below (acc_b's and X's chunks by their
        // openings, the output by its digest d): Σ_q ρ^q·(out_q − acc_q) = Σ_k ρ^{q(k)}·x_k.
        // A wrong output is a non-zero polynomial of degree < 616 in ρ.
        let rho = poseidon::chain_from(cs, Lc::constant(Fr::from(GAP_TAG)), &v)?;
        let rho_m1 = rho.add_const(-Fr::one());
        // ρ^{q0} by square and multiply over q0's bits.
        let mut pw = one.clone();
        let mut sq = rho.clone();
        for (i, bit) in q0_bits.iter().enumerate() {
            let f = cs.mul(bit, &sq.add_const(-Fr::one()))?;
            pw = cs.mul(&pw, &f.add_const(Fr::one()))?;
            if i + 1 < Q0_BITS {
                sq = cs.mul(&sq, &sq)?;
            }
        }
        let mut rhs = cs.mul(&pw, &live[0])?;
        for x_k in &live[1..] {
            let wrap = cs.is_zero(&r.add_const(Fr::one()).sub(plane))?;
            r = cs.mul(&one.sub(&wrap), &r.add_const(Fr::one()))?;
            let f = cs.mul(&wrap, &rho_m1)?;
            pw = cs.mul(&pw, &f.add_const(Fr::one()))?;
            rhs = rhs.add(&cs.mul(&pw, x_k)?);
        }

        // The output: acc_{b+1}'s chunk, zero past the tensor's end as every wide chunk.
        let out_v = inst.map(GapBlockChunk::output).unwrap_or_default();
        let mut lhs = Lc::constant(Fr::zero());
        let mut pq = one.clone();
        let mut out = Vec::with_capacity(CHUNK_VALUES);
        for q in 0..CHUNK_VALUES {
            let o = cs.witness(out_v.get(q).copied().unwrap_or_default())?;
            cs.enforce(&one.sub(&acc.mask[q]), &o, &Lc::constant(Fr::zero()))?;
            lhs = lhs.add(&cs.mul(&pq, &o.sub(&acc.values[q]))?);
            if q + 1 < CHUNK_VALUES {
                pq = cs.mul(&pq, &rho)?;
            }
            out.push(o);
        }
        cs.assert_eq(&lhs, &rhs)?;
        let d = wide_leaf(cs, j, &out)?;
        cs.assert_eq(&d, digest)
    }
}

/// How an average pool's window sums are computed, before [`AvgTemplate`]'s division.
#[derive(Clone, Debug)]
pub enum AvgSums {
    /// Whole planes: `gap_block` over the `H·W` blocks.
    Global(GapDispute),
    /// Windows: `conv_block` with weight 1 per channel (depthwise, no bias).
    Window(Box<ConvDispute>),
}

/// An `AveragePool`'s or `GlobalAveragePool`'s dispute decomposition: exact window sums,
/// then `y = div_round(acc, count)` with `count` the constant [`AvgDispute::counts`].
#[derive(Clone, Debug)]
pub struct AvgDispute {
    /// The sums.
    pub sums: AvgSums,
    /// The divisor of every output position, shape `Y`'s: the engine's count (valid
    /// positions, or the kernel area with `count_include_pad`, or `H·W`), 1 where the
    /// engine's count is 0 (its window holds no value, so the sum is 0 and so is `y`).
    pub counts: Tensor,
}

impl AvgDispute {
    /// `GlobalAveragePool` of an input of shape `x`, output shape `y`.
    pub fn global(x: &[usize], y: &[usize]) -> Result<Self, ConvDisputeError> {
        let g = GapDispute::new(x)?;
        let len: usize = y.iter().product();
        if len != g.planes {
            return Err(ConvDisputeError::Shape {
                x: x.to_vec(),
                w: y.to_vec(),
            });
        }
        Ok(Self {
            counts: Tensor::new(y.to_vec(), vec![g.plane as i32; len]),
            sums: AvgSums::Global(g),
        })
    }

    /// `AveragePool` `p` of an input of shape `x` (`[N, C, H, W]`), output shape `y` (the
    /// engine's, ceil mode included). A pool whose one window is the whole unpadded plane is
    /// a global pool; any other sums by `conv_block` (batch 1).
    pub fn window(p: &Pool, x: &[usize], y: &[usize]) -> Result<Self, ConvDisputeError> {
        let shape_err = || ConvDisputeError::Shape {
            x: x.to_vec(),
            w: p.kernel.to_vec(),
        };
        if x.len() != 4 || y.len() != 4 {
            return Err(shape_err());
        }
        if p.kernel == [x[2], x[3]] && p.pads == [0; 4] && y[2..] == [1, 1] {
            return Self::global(x, y);
        }
        let [kh, kw] = p.kernel;
        let (h, w, ho, wo) = (x[2], x[3], y[2], y[3]);
        let area = kh * kw;
        if area == 0 || area >= 1 << COUNT_BITS || ho == 0 || wo == 0 {
            return Err(shape_err());
        }
        // The engine's output plane with floor division: bottom and right padding that end
        // the last window (ceil mode reads past the input; those positions add 0).
        let end = |o: usize, a: usize| {
            ((o - 1) * p.strides[a] + p.kernel[a]).saturating_sub(x[2 + a] + p.pads[a])
        };
        let conv = Conv {
            kernel: p.kernel,
            pads: [p.pads[0], p.pads[1], end(ho, 0), end(wo, 1)],
            strides: p.strides,
            dilations: [1, 1],
            group: x[1],
            has_bias: false,
            weight_frac_bits: 0,
            bias_frac_bits: 0,
        };
        let ones = Tensor::new(vec![x[1], 1, kh, kw], vec![1; x[1] * area]);
        let zeros = Tensor::new(x.to_vec(), vec![0; x.iter().product()]);
        let d = ConvDispute::new(&conv, &zeros, &ones, None)?;
        if d.params.output != [ho, wo] || d.len != y.iter().product::<usize>() {
            return Err(shape_err());
        }
        let per_plane: Vec<i32> = (0..ho * wo)
            .map(|i| {
                let count = if p.count_include_pad {
                    area
                } else {
                    p.window(h, w, i / wo, i % wo).len()
                };
                count.max(1) as i32
            })
            .collect();
        let counts = per_plane.repeat(y[0] * y[1]);
        Ok(Self {
            sums: AvgSums::Window(Box::new(d)),
            counts: Tensor::new(y.to_vec(), counts),
        })
    }

    /// The output from the final sums `acc_B`: the engine's.
    pub fn output(&self, acc: &[i128]) -> Vec<i32> {
        acc.iter()
            .zip(&self.counts.data)
            .map(|(s, c)| saturate(div_round(*s, (*c).max(1) as i128)))
            .collect()
    }
}

/// The average template: chunk `j` of `y = div_round(acc, count)`, `count` a constant
/// tensor of `Y`'s shape.
pub struct AvgTemplate;

/// One instance of [`AvgTemplate`].
#[derive(Clone, Debug)]
pub struct AvgChunk {
    /// Chunk `j` of the final sums.
    pub acc: WideOpening,
    /// Chunk `j` of the counts.
    pub counts: ChunkOpening,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k` of the
    /// output; `None` for the honest witness.
    pub forge: Option<(usize, i32)>,
}

impl AvgChunk {
    /// The output chunk the engine computes.
    pub fn output(&self) -> Vec<i32> {
        self.counts
            .values
            .iter()
            .zip(&self.acc.values)
            .map(|(c, a)| {
                let a = crate::gadgets::fr_to_i128(*a).unwrap_or(0);
                saturate(div_round(a, (*c).max(1) as i128))
            })
            .enumerate()
            .map(|(k, y)| match self.forge {
                Some((at, v)) if at == k => v,
                _ => y,
            })
            .collect()
    }
}

impl Template for AvgTemplate {
    const NAME: &'static str = "avg_chunk/v1";
    type Instance = AvgChunk;

    /// `[C(acc), C(counts), j, d]`.
    fn public_inputs(inst: &AvgChunk) -> Vec<Fr> {
        let c = |shape: &[usize], root| {
            chunked_commitment_of(tensor_header(shape).unwrap_or_default(), root)
        };
        vec![
            c(&inst.acc.shape, inst.acc.root),
            c(&inst.counts.shape, inst.counts.root),
            Fr::from(inst.acc.index as u64),
            chunk_digest(inst.acc.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&AvgChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 4>(cs, inst)?;
        let [c_acc, c_cnt, j, digest] = &v;
        let one = Lc::constant(Fr::one());
        let acc = open_wide(cs, c_acc, j, inst.map(|i| &i.acc))?;
        // The counts have Y's shape: their chunk gives the output's mask and length.
        let cnt = open_chunk(cs, c_cnt, j, inst.map(|i| &i.counts))?;
        let int = |l: &Lc| crate::gadgets::fr_to_i128(l.val).unwrap_or(0);
        let mut y = Vec::with_capacity(CHUNK_VALUES);
        for k in 0..CHUNK_VALUES {
            // c = count (1 past the end), 1 ≤ c < 2^24; h = ⌊c/2⌋.
            let c = cs.select(&cnt.mask[k], &cnt.values[k], &one)?;
            cs.range(&c.add_const(-Fr::one()), COUNT_BITS)?;
            let c_v = int(&c).max(1);
            let h = cs.witness_int(c_v / 2)?;
            cs.range(&h, COUNT_BITS)?;
            let odd = c.sub(&h.scale(Fr::from(2u64)));
            cs.enforce(&odd, &one.sub(&odd), &Lc::constant(Fr::zero()))?;
            // acc + h = q·c + rem, 0 ≤ rem < c, q in the i32 range: q = div_round(acc, c).
            let u = acc.values[k].add(&h);
            let u_v = int(&u);
            let q = cs.witness_int(u_v.div_euclid(c_v))?;
            let rem = cs.witness_int(u_v.rem_euclid(c_v))?;
            cs.enforce(&q, &c, &u.sub(&rem))?;
            cs.range(&rem, COUNT_BITS)?;
            cs.range(&c.sub(&rem).add_const(-Fr::one()), COUNT_BITS)?;
            cs.i32_bits(&q)?;
            y.push(q);
        }
        let d = output_leaf(cs, j, &y, &cnt)?;
        cs.assert_eq(&d, digest)
    }
}
