//! `Gemm` (engine: `ops/linear.rs`) as fixed templates: `y = rescale(a·B' + c·2^L, S)` is
//! split, inside a dispute, into wide partial sums over blocks of [`KB`] rows of `B'`:
//!
//! - `acc_0 = c·2^L` (a model constant: the bias on the product's scale),
//! - `acc_{b+1} = acc_b + Σ_{t<KB} a[KB·b + t] · B'[KB·b + t, ·]` — template `gemm_block`,
//! - `y = rescale(acc_B, S)` — template `rescale_chunk`.
//!
//! Every tensor is committed as a version-4 tensor: `B'` in the *template layout*
//! `[K_pad, N_pad]` (zero rows and columns up to multiples of [`KB`] and of the chunk size,
//! so a row's column chunk `j` is one whole chunk), made once at registration; the partial
//! sums are wide tensors of `N_pad` values, computed only by the parties of a dispute.
//! Version 4 handles `M = 1` (one row of `A`, the batch-1 case of every model here).

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use zkopml_commit::{
    chunk_digest, chunked_commitment_of, fr_from_i64, tensor_header, wide_chunk_digest, ChunkTree,
    CHUNK_VALUES,
};
use zkopml_engine::{
    fixed::rescale,
    ops::{Gemm, MatMul},
    Tensor,
};

use super::{
    chunk::{
        divmod, fresh, index_bits, one_hot, open_chunk, open_wide, output_leaf_with, pack,
        poseidon_t3, valid_mask, wide_leaf, ChunkOpening, OpenedTensor, WideOpening,
    },
    Template,
};
use crate::{
    gadgets::{lc_from_bits, Cs, CsResult, Lc},
    poseidon,
};

/// Rows of `B'` per block.
pub const KB: usize = 4;
/// Blocks per chunk of `A`.
const SLOTS: usize = CHUNK_VALUES / KB;
/// Largest rescale shift (`weight_frac_bits ≤ MAX_WEIGHT_FRAC_BITS`).
pub const MAX_SHIFT: u32 = 24;
/// Magnitude bound of every partial sum the templates accept (`|acc| < 2^100`).
const ACC_BITS: u32 = 100;

fn i128_fr(v: i128) -> Fr {
    let f = Fr::from(v.unsigned_abs());
    if v < 0 {
        -f
    } else {
        f
    }
}

/// A `Gemm` node's dispute decomposition (`M = 1`).
#[derive(Clone, Debug)]
pub struct GemmDispute {
    /// Inner dimension `K` and output width `N`.
    pub k: usize,
    /// Output width.
    pub n: usize,
    /// `N` rounded up to whole chunks.
    pub n_pad: usize,
    /// `K` rounded up to whole blocks.
    pub k_pad: usize,
    /// The rescale shift `S`.
    pub shift: u32,
    /// `B'` in the template layout `[K_pad, N_pad]`.
    pub weights: Tensor,
    /// `acc_0 … acc_B` (`B = K_pad / KB`), `N_pad` values each.
    pub accs: Vec<Vec<i128>>,
    /// The output `y` (`N` values): the engine's.
    pub y: Vec<i32>,
}

impl GemmDispute {
    /// Decomposes `Gemm` `g` of `a` (`[1, K]`), constant `b` and optional bias `c`.
    pub fn new(g: &Gemm, a: &Tensor, b: &Tensor, c: Option<&Tensor>) -> Result<Self, &'static str> {
        if a.shape.len() != 2 || b.shape.len() != 2 {
            return Err("Gemm operands must be matrices");
        }
        let (m, k, n) = g.dims(&a.shape, &b.shape);
        if m != 1 || g.trans_a {
            return Err("version 4 proves Gemm with one row of A (batch 1), not transposed");
        }
        let n_pad = n.div_ceil(CHUNK_VALUES).max(1) * CHUNK_VALUES;
        let k_pad = k.div_ceil(KB).max(1) * KB;
        let b_at = |i: usize, j: usize| {
            if g.trans_b {
                b.data[j * k + i]
            } else {
                b.data[i * n + j]
            }
        };
        let mut w = vec![0i32; k_pad * n_pad];
        for i in 0..k {
            for j in 0..n {
                w[i * n_pad + j] = b_at(i, j);
            }
        }
        let scale = g.scale();
        let mut acc: Vec<i128> = (0..n_pad)
            .map(|j| match (c, j < n) {
                (Some(c), true) if g.has_bias => {
                    let v = if c.data.len() == n {
                        c.data[j]
                    } else {
                        c.data[0]
                    };
                    (v as i128) << scale.lift
                }
                _ => 0,
            })
            .collect();
        let mut accs = vec![acc.clone()];
        for blk in 0..k_pad / KB {
            for t in 0..KB {
                let i = blk * KB + t;
                let x = a.data.get(i).copied().filter(|_| i < k).unwrap_or(0) as i128;
                for (j, s) in acc.iter_mut().enumerate() {
                    *s += x * w[i * n_pad + j] as i128;
                }
            }
            accs.push(acc.clone());
        }
        let y = acc[..n].iter().map(|s| rescale(*s, scale.shift)).collect();
        Ok(Self {
            k,
            n,
            n_pad,
            k_pad,
            shift: scale.shift,
            weights: Tensor {
                shape: vec![k_pad, n_pad],
                data: w,
            },
            accs,
            y,
        })
    }

    /// Number of blocks `B`.
    pub fn blocks(&self) -> usize {
        self.k_pad / KB
    }

    /// `acc_b` as field elements.
    pub fn acc_fr(&self, b: usize) -> Vec<Fr> {
        self.accs[b].iter().map(|v| i128_fr(*v)).collect()
    }
}

/// The block template: `acc_{b+1}`'s chunk `j` from `acc_b`'s, `A` and `B'`.
pub struct GemmBlockTemplate;

/// One instance of [`GemmBlockTemplate`].
#[derive(Clone, Debug)]
pub struct GemmBlockChunk {
    /// Chunk `j` of `acc_b`.
    pub acc_in: WideOpening,
    /// The chunk of `A` holding block `b` (chunk `b / 154`).
    pub a: ChunkOpening,
    /// Chunk `j` of rows `KB·b … KB·b + KB − 1` of `B'` (chunk `(KB·b + t)·R + j`).
    pub rows: Vec<ChunkOpening>,
    /// The block `b`.
    pub block: usize,
    /// `R = N_pad / CHUNK_VALUES`: chunks per row of `B'`.
    pub row_chunks: usize,
}

impl GemmBlockChunk {
    /// The output chunk (`acc_{b+1}`'s chunk `j`), as integers.
    pub fn output(&self) -> Vec<Fr> {
        let slot = self.block % SLOTS;
        (0..self.acc_in.values.len())
            .map(|p| {
                let mut s = self.acc_in.values[p];
                for (t, row) in self.rows.iter().enumerate() {
                    let x = self.a.values.get(slot * KB + t).copied().unwrap_or(0);
                    s += fr_from_i64(x as i64) * fr_from_i64(row.values[p] as i64);
                }
                s
            })
            .collect()
    }
}

fn commitment(o: &ChunkOpening) -> Fr {
    chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
}

fn wide_c(o: &WideOpening) -> Fr {
    chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
}

impl Template for GemmBlockTemplate {
    const NAME: &'static str = "gemm_block/v1";
    type Instance = GemmBlockChunk;

    /// `[C(acc_b), C(A), C(B'), j, b, R, d]`.
    fn public_inputs(inst: &GemmBlockChunk) -> Vec<Fr> {
        let j = inst.acc_in.index;
        vec![
            wide_c(&inst.acc_in),
            commitment(&inst.a),
            inst.rows.first().map(commitment).unwrap_or_default(),
            Fr::from(j as u64),
            Fr::from(inst.block as u64),
            Fr::from(inst.row_chunks as u64),
            wide_chunk_digest(j, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&GemmBlockChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 7>(cs, inst)?;
        let [c_acc, c_a, c_b, j, b, r, digest] = &v;
        let acc = open_wide(cs, c_acc, j, inst.map(|i| &i.acc_in))?;
        // b = SLOTS·chunk + slot; the block's KB values of A, zero past A's end.
        let a_chunk = cs.witness(Fr::from(inst.map_or(0, |i| i.block / SLOTS) as u64))?;
        let slot = b.sub(&a_chunk.scale(Fr::from(SLOTS as u64)));
        let sel = one_hot(cs, &slot, SLOTS)?;
        let a = open_chunk(cs, c_a, &a_chunk, inst.map(|i| &i.a))?;
        let masked: Vec<Lc> = a
            .values
            .iter()
            .zip(&a.mask)
            .map(|(x, m)| cs.mul(m, x))
            .collect::<CsResult<_>>()?;
        let xs: Vec<Lc> = (0..KB)
            .map(|t| {
                sel.iter()
                    .enumerate()
                    .try_fold(Lc::constant(Fr::zero()), |s, (q, e)| {
                        Ok(s.add(&cs.mul(e, &masked[q * KB + t])?))
                    })
            })
            .collect::<CsResult<_>>()?;
        // Rows KB·b + t of B', column chunk j: chunk (KB·b + t)·R + j.
        let b_r = cs.mul(b, r)?;
        let mut out = acc.values.clone();
        for (t, x) in xs.iter().enumerate() {
            let idx = b_r
                .scale(Fr::from(KB as u64))
                .add(&r.scale(Fr::from(t as u64)))
                .add(j);
            let row = open_chunk(cs, c_b, &idx, inst.and_then(|i| i.rows.get(t)))?;
            for (o, w) in out.iter_mut().zip(&row.values) {
                // A position past B's row end never occurs: rows are whole chunks.
                *o = o.add(&cs.mul(x, w)?);
            }
        }
        let d = wide_leaf(cs, j, &out)?;
        cs.assert_eq(&d, digest)
    }
}

/// The rescale template: chunk `j` of `y = rescale(acc, S)` for an output of `len` values.
pub struct RescaleTemplate;

/// One instance of [`RescaleTemplate`].
#[derive(Clone, Debug)]
pub struct RescaleChunk {
    /// Chunk `j` of the final partial sums.
    pub acc: WideOpening,
    /// `S`.
    pub shift: u32,
    /// Length of the output tensor.
    pub len: usize,
}

impl RescaleChunk {
    /// The output chunk the engine computes.
    pub fn output(&self) -> Vec<i32> {
        let start = self.acc.index * CHUNK_VALUES;
        let count = self.len.saturating_sub(start).min(CHUNK_VALUES);
        self.acc.values[..count.min(self.acc.values.len())]
            .iter()
            .map(|f| rescale(fr_to_i128(*f), self.shift))
            .collect()
    }
}

fn fr_to_i128(f: Fr) -> i128 {
    crate::gadgets::fr_to_i128(f).unwrap_or(0)
}

impl Template for RescaleTemplate {
    const NAME: &'static str = "rescale_chunk/v1";
    type Instance = RescaleChunk;

    /// `[C(acc), j, S, len, d]`.
    fn public_inputs(inst: &RescaleChunk) -> Vec<Fr> {
        vec![
            wide_c(&inst.acc),
            Fr::from(inst.acc.index as u64),
            Fr::from(inst.shift as u64),
            Fr::from(inst.len as u64),
            chunk_digest(inst.acc.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&RescaleChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 5>(cs, inst)?;
        let [c_acc, j, shift, len, digest] = &v;
        let acc = open_wide(cs, c_acc, j, inst.map(|i| &i.acc))?;
        // The output's chunk count and validity mask come from its public length.
        let len_v = crate::gadgets::fr_to_i128(len.val).unwrap_or(0).max(0) as usize;
        let chunks_v = zkopml_commit::chunk_count(len_v).max(1);
        let chunks = cs.witness(Fr::from(chunks_v as u64))?;
        let slack = chunks.scale(Fr::from(CHUNK_VALUES as u64)).sub(len);
        cs.range(&slack, 10)?;
        cs.range(
            &slack
                .scale(-Fr::one())
                .add_const(Fr::from(CHUNK_VALUES as u64 - 1)),
            10,
        )?;
        cs.range(&chunks.add_const(-Fr::one()), 32)?;
        let out = OpenedTensor {
            len: len.clone(),
            chunks,
            depth: Vec::new(),
            root: Lc::constant(Fr::zero()),
        };
        index_bits(cs, j, &out)?;
        let (mask, count) = valid_mask(cs, j, &out)?;
        // 2^S and 2^(S−1) from a one-hot over S.
        let sel = one_hot(cs, shift, MAX_SHIFT as usize + 1)?;
        let mut pow = Lc::constant(Fr::zero());
        let mut half = Lc::constant(Fr::zero());
        for (s, e) in sel.iter().enumerate() {
            pow = pow.add(&e.scale(Fr::from(1u64 << s)));
            if s > 0 {
                half = half.add(&e.scale(Fr::from(1u64 << (s - 1))));
            }
        }
        let y = acc
            .values
            .iter()
            .map(|a| {
                // a + half = q·2^S + rem, 0 ≤ rem < 2^S; y = sat(q), |q| < 2^100.
                let u = a.add(&half);
                let u_v = fr_to_i128(u.val);
                let pow_v = fr_to_i128(pow.val).max(1);
                let q = cs.witness_int(u_v.div_euclid(pow_v))?;
                let rem = cs.witness_int(u_v.rem_euclid(pow_v))?;
                cs.enforce(&q, &pow, &u.sub(&rem))?;
                cs.range(&rem, MAX_SHIFT as usize)?;
                cs.range(&pow.sub(&rem).add_const(-Fr::one()), MAX_SHIFT as usize)?;
                cs.rescale(&q, 0, 1u128 << ACC_BITS)
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf_with(cs, j, &y, &mask, &count)?;
        cs.assert_eq(&d, digest)
    }
}

/// Chunks in a `matmul_block` leaf's lookup table (of `A` or of `B`, any mix).
pub const MATMUL_SLOTS: usize = 7;
/// Bits of each packed `matmul_block` dimension (`< 2^28`, the engine's largest tensor).
const MM_DIM_BITS: usize = 28;
/// Bits of a table entry's multiplicity (a value read by all 616 positions at most).
const MM_MULT_BITS: usize = 10;
/// Domain tag of the `matmul_block` lookup's challenge hash.
const MM_CHALLENGE_TAG: u64 = 0x6d61_746d; // "matm"

/// Why a matrix product has no `matmul_block` leaves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatMulError {
    /// Operand shapes that are no (batched) matrix product.
    #[error("operands {a:?} x {b:?} are no matrix product the template proves")]
    Shape {
        /// `A`'s shape.
        a: Vec<usize>,
        /// `B`'s shape.
        b: Vec<usize>,
    },
    /// Batch dimensions broadcast partially (only all-or-nothing broadcast is proved).
    #[error("batch dims {a:?} and {b:?} broadcast partially")]
    Broadcast {
        /// `A`'s batch dims.
        a: Vec<usize>,
        /// `B`'s batch dims.
        b: Vec<usize>,
    },
    /// A dimension or the output length outside the packed widths, or a rescale shift above
    /// [`MAX_SHIFT`].
    #[error("parameter {name} = {value} outside the template's bounds")]
    Param {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: usize,
    },
    /// A transposed `A` (a `Gemm` with `transA`).
    #[error("a transposed A has no template")]
    TransposedA,
    /// A leaf whose positions read more chunks of `A` and `B` than the table holds.
    #[error("chunk {chunk}, block {block} reads {needed} chunks (the table holds {MATMUL_SLOTS})")]
    TooManyChunks {
        /// The output chunk.
        chunk: usize,
        /// The block (inner index).
        block: usize,
        /// Chunks it reads.
        needed: usize,
    },
    /// A chunk or block past the last one, or operands of the wrong length.
    #[error("chunk {chunk}, block {block} out of range or operands of the wrong length")]
    OutOfRange {
        /// The output chunk.
        chunk: usize,
        /// The block.
        block: usize,
    },
}

/// The shape of a batched product `Y[β, r, c] = Σ_k A[β, r, k]·B[β, k, c]` over the output's
/// flat layout `[batch, M, N]`: `A` is `[batch, M, K]` (or one shared `[M, K]`), `B` is
/// `[batch, K, N]` (or one shared `[K, N]`), both row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMulParams {
    /// Batch elements (the product of the output's leading dims).
    pub batch: usize,
    /// Rows of `A` per batch element.
    pub m: usize,
    /// The inner dimension.
    pub k: usize,
    /// Columns of `B`.
    pub n: usize,
    /// Whether `A` has one matrix per batch element (else one shared).
    pub a_batched: bool,
    /// Whether `B` has one matrix per batch element (else one shared).
    pub b_batched: bool,
}

impl MatMulParams {
    fn check(self) -> Result<Self, MatMulError> {
        let bad = |name, value| Err(MatMulError::Param { name, value });
        for (name, v) in [
            ("batch", self.batch),
            ("M", self.m),
            ("K", self.k),
            ("N", self.n),
        ] {
            if v == 0 || v >= 1 << MM_DIM_BITS {
                return bad(name, v);
            }
        }
        if self.len() >= 1 << MM_DIM_BITS {
            return bad("len", self.len());
        }
        Ok(self)
    }

    /// `len(Y) = batch·M·N`.
    pub fn len(&self) -> usize {
        self.batch * self.m * self.n
    }

    /// Whether `Y` is empty (never, for checked parameters).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len(A)`.
    pub fn a_len(&self) -> usize {
        self.m * self.k * if self.a_batched { self.batch } else { 1 }
    }

    /// `len(B)`.
    pub fn b_len(&self) -> usize {
        self.k * self.n * if self.b_batched { self.batch } else { 1 }
    }

    /// The one public parameter: `batch + M·2^28 + K·2^56 + N·2^84 + a_batched·2^112 +
    /// b_batched·2^113`.
    pub fn packed(&self) -> Fr {
        let mut p = Fr::zero();
        let mut pow = Fr::one();
        for v in [self.batch, self.m, self.k, self.n] {
            p += Fr::from(v as u64) * pow;
            pow *= Fr::from(1u64 << MM_DIM_BITS);
        }
        p += Fr::from(self.a_batched as u64) * pow;
        p + Fr::from(self.b_batched as u64) * pow * Fr::from(2u64)
    }

    /// The flat indices into `A` and `B` that output position `p` reads at block (inner
    /// index) `t`.
    pub fn sources(&self, p: usize, t: usize) -> (usize, usize) {
        let (q, c) = (p / self.n, p % self.n);
        let (bat, r) = (q / self.m, q % self.m);
        let sa = if self.a_batched { self.m * self.k } else { 0 };
        let sb = if self.b_batched { self.k * self.n } else { 0 };
        (bat * sa + r * self.k + t, bat * sb + t * self.n + c)
    }

    /// The runs of chunk `j`: `(batch, row, first column, last column)` of each row it
    /// touches.
    fn runs(&self, j: usize) -> Vec<(usize, usize, usize, usize)> {
        let lo = j * CHUNK_VALUES;
        let hi = (lo + CHUNK_VALUES).min(self.len());
        let mut runs = Vec::new();
        let mut p = lo;
        while p < hi {
            let (q, c) = (p / self.n, p % self.n);
            let last = (self.n - 1).min(c + (hi - 1 - p));
            runs.push((q / self.m, q % self.m, c, last));
            p += last - c + 1;
        }
        runs
    }

    /// The chunks of `A` and of `B` that chunk `j` reads at block `t`, each list ascending.
    pub fn chunks_read(&self, j: usize, t: usize) -> (Vec<usize>, Vec<usize>) {
        let sa = if self.a_batched { self.m * self.k } else { 0 };
        let sb = if self.b_batched { self.k * self.n } else { 0 };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (bat, r, c0, c1) in self.runs(j) {
            a.push((bat * sa + r * self.k + t) / CHUNK_VALUES);
            let row = bat * sb + t * self.n;
            b.extend((row + c0) / CHUNK_VALUES..=(row + c1) / CHUNK_VALUES);
        }
        for v in [&mut a, &mut b] {
            v.sort_unstable();
            v.dedup();
        }
        (a, b)
    }

    /// `self` when every leaf `(j, t)` reads at most [`MATMUL_SLOTS`] chunks.
    pub fn fits(self) -> Result<Self, MatMulError> {
        for j in 0..zkopml_commit::chunk_count(self.len()).max(1) {
            for t in 0..self.k {
                let (a, b) = self.chunks_read(j, t);
                let needed = a.len() + b.len();
                if needed > MATMUL_SLOTS {
                    return Err(MatMulError::TooManyChunks {
                        chunk: j,
                        block: t,
                        needed,
                    });
                }
            }
        }
        Ok(self)
    }
}

/// A `MatMul` (or a `Gemm` of several rows) decomposed for a dispute: `acc_0` (the bias
/// `C·2^L`, or zero), `acc_{t+1}[p] = acc_t[p] + A[src_A(p, t)]·B[src_B(p, t)]` for every
/// inner index `t < K` — template `matmul_block` — and `y = rescale(acc_K, S)` —
/// `rescale_chunk`. Every `acc_t` is a wide tensor in `Y`'s flat layout.
#[derive(Clone, Debug)]
pub struct MatMulDispute {
    /// The shape.
    pub params: MatMulParams,
    /// The rescale shift `S`.
    pub shift: u32,
    /// `acc_0`.
    pub acc0: Vec<i128>,
}

impl MatMulDispute {
    /// The decomposition of `MatMul` `mm` of operands shaped `a` and `b` (numpy batching;
    /// rank-1 operands promoted as ONNX does).
    pub fn matmul(mm: &MatMul, a: &[usize], b: &[usize]) -> Result<Self, MatMulError> {
        let shape_err = || MatMulError::Shape {
            a: a.to_vec(),
            b: b.to_vec(),
        };
        let pa = if a.len() == 1 {
            vec![1, a[0]]
        } else {
            a.to_vec()
        };
        let pb = if b.len() == 1 {
            vec![b[0], 1]
        } else {
            b.to_vec()
        };
        if pa.len() < 2 || pb.len() < 2 || pa[pa.len() - 1] != pb[pb.len() - 2] {
            return Err(shape_err());
        }
        let (ba, bb) = (&pa[..pa.len() - 2], &pb[..pb.len() - 2]);
        let rank = ba.len().max(bb.len());
        let pad = |s: &[usize]| {
            let mut v = vec![1; rank - s.len()];
            v.extend_from_slice(s);
            v
        };
        let (fa, fb) = (pad(ba), pad(bb));
        let mut out = Vec::with_capacity(rank);
        for (x, y) in fa.iter().zip(&fb) {
            out.push(match (x, y) {
                (x, y) if x == y => *x,
                (1, y) => *y,
                (x, 1) => *x,
                _ => return Err(shape_err()),
            });
        }
        let batch: usize = out.iter().product();
        let all_or_none = |f: &[usize]| f == out.as_slice() || f.iter().all(|d| *d == 1);
        if !all_or_none(&fa) || !all_or_none(&fb) {
            return Err(MatMulError::Broadcast {
                a: ba.to_vec(),
                b: bb.to_vec(),
            });
        }
        let params = MatMulParams {
            batch,
            m: pa[pa.len() - 2],
            k: pa[pa.len() - 1],
            n: pb[pb.len() - 1],
            a_batched: fa == out && batch > 1,
            b_batched: fb == out && batch > 1,
        }
        .check()?;
        Self::with(params, mm.weight_frac_bits, vec![0; params.len()])
    }

    /// The decomposition of `Gemm` `g` of `A` shaped `a` and `B'` (`B`, or `Bᵀ` with
    /// `transB`: [`MatMulDispute::b_prime`]) shaped `[K, N]`, bias `c` (`[M, N]`).
    pub fn gemm(
        g: &Gemm,
        a: &[usize],
        b_prime: &[usize],
        c: Option<&Tensor>,
    ) -> Result<Self, MatMulError> {
        if g.trans_a {
            return Err(MatMulError::TransposedA);
        }
        if a.len() != 2 || b_prime.len() != 2 || a[1] != b_prime[0] {
            return Err(MatMulError::Shape {
                a: a.to_vec(),
                b: b_prime.to_vec(),
            });
        }
        let params = MatMulParams {
            batch: 1,
            m: a[0],
            k: a[1],
            n: b_prime[1],
            a_batched: false,
            b_batched: false,
        }
        .check()?;
        let scale = g.scale();
        let acc0 = match c.filter(|_| g.has_bias) {
            Some(c) if c.data.len() == params.len() => {
                c.data.iter().map(|v| (*v as i128) << scale.lift).collect()
            }
            Some(_) => {
                return Err(MatMulError::OutOfRange { chunk: 0, block: 0 });
            }
            None => vec![0; params.len()],
        };
        Self::with(params, scale.shift, acc0)
    }

    fn with(params: MatMulParams, shift: u32, acc0: Vec<i128>) -> Result<Self, MatMulError> {
        if shift > MAX_SHIFT {
            return Err(MatMulError::Param {
                name: "shift",
                value: shift as usize,
            });
        }
        Ok(Self {
            params,
            shift,
            acc0,
        })
    }

    /// A `CumSum` of an input shaped `x` as a product with a constant 0/1 matrix (`S = 0`:
    /// `y = sat(Σ x_j)` over the included `j`, the engine's exact prefix saturated), with
    /// `L[j, i] = 1` where `x_j` is in `y_i`'s sum (`j ≤ i`; `<` when exclusive; reversed).
    /// Axis innermost (the trailing dims one): `Y = X[outer, d] · L` (returns `x_is_a`);
    /// else `Y[o] = Lᵀ · X[o]` over `X[outer, d, inner]`. Returns the decomposition, the
    /// constant operand and whether `X` is `A`.
    pub fn cumsum(
        c: &zkopml_engine::ops::CumSum,
        x: &[usize],
    ) -> Result<(Self, Tensor, bool), MatMulError> {
        let d = *x.get(c.axis).ok_or(MatMulError::Shape {
            a: x.to_vec(),
            b: Vec::new(),
        })?;
        let outer: usize = x[..c.axis].iter().product();
        let inner: usize = x[c.axis + 1..].iter().product();
        let included = |j: usize, i: usize| match (c.reverse, c.exclusive) {
            (false, false) => j <= i,
            (false, true) => j < i,
            (true, false) => j >= i,
            (true, true) => j > i,
        };
        // l[j·d + i] = L[j, i]; its transpose when X is B.
        let x_is_a = inner == 1;
        let data = (0..d * d)
            .map(|p| {
                let (r, s) = (p / d, p % d);
                let (j, i) = if x_is_a { (r, s) } else { (s, r) };
                included(j, i) as i32
            })
            .collect();
        let params = if x_is_a {
            MatMulParams {
                batch: 1,
                m: outer,
                k: d,
                n: d,
                a_batched: false,
                b_batched: false,
            }
        } else {
            MatMulParams {
                batch: outer,
                m: d,
                k: d,
                n: inner,
                a_batched: false,
                b_batched: outer > 1,
            }
        }
        .check()?;
        let dispute = Self::with(params, 0, vec![0; params.len()])?;
        Ok((dispute, Tensor::new(vec![d, d], data), x_is_a))
    }

    /// `B'` of a `Gemm`: `B`, or `Bᵀ` with `transB` (`[K, N]` either way).
    pub fn b_prime(g: &Gemm, b: &Tensor) -> Tensor {
        if !g.trans_b || b.shape.len() != 2 {
            return b.clone();
        }
        let (n, k) = (b.shape[0], b.shape[1]);
        let mut data = vec![0; k * n];
        for i in 0..k {
            for j in 0..n {
                data[i * n + j] = b.data[j * k + i];
            }
        }
        Tensor::new(vec![k, n], data)
    }

    /// Number of blocks (`K`).
    pub fn blocks(&self) -> usize {
        self.params.k
    }

    /// One block of the partial sums: `acc += A[src_A(·, t)]·B[src_B(·, t)]`.
    pub fn tap(&self, a: &[i32], b: &[i32], acc: &mut [i128], t: usize) {
        let p = &self.params;
        let sa = if p.a_batched { p.m * p.k } else { 0 };
        let sb = if p.b_batched { p.k * p.n } else { 0 };
        for bat in 0..p.batch {
            let brow = &b[bat * sb + t * p.n..][..p.n];
            for r in 0..p.m {
                let x = a[bat * sa + r * p.k + t] as i128;
                let out = &mut acc[(bat * p.m + r) * p.n..][..p.n];
                for (o, w) in out.iter_mut().zip(brow) {
                    *o += x * *w as i128;
                }
            }
        }
    }

    /// `acc_t`: the partial sums after the first `t` blocks (`A`, `B` of the right lengths).
    pub fn acc(&self, a: &[i32], b: &[i32], t: usize) -> Vec<i128> {
        let mut acc = self.acc0.clone();
        for s in 0..t {
            self.tap(a, b, &mut acc, s);
        }
        acc
    }

    /// `y = rescale(acc_K, S)`: the engine's output.
    pub fn output(&self, a: &[i32], b: &[i32]) -> Vec<i32> {
        self.acc(a, b, self.blocks())
            .iter()
            .map(|s| rescale(*s, self.shift))
            .collect()
    }

    /// The leaf proving chunk `j` of `acc_{t+1}` from `acc_t` (given), `A` and `B`.
    pub fn block_instance(
        &self,
        (a, a_tree): (&Tensor, &ChunkTree),
        (b, b_tree): (&Tensor, &ChunkTree),
        acc_t: &[i128],
        j: usize,
        t: usize,
    ) -> Result<MatMulBlockChunk, MatMulError> {
        let p = &self.params;
        let out = MatMulError::OutOfRange { chunk: j, block: t };
        if j >= zkopml_commit::chunk_count(p.len()).max(1)
            || t >= p.k
            || a.data.len() != p.a_len()
            || b.data.len() != p.b_len()
            || acc_t.len() != p.len()
        {
            return Err(out);
        }
        let (xs, ws) = p.chunks_read(j, t);
        let needed = xs.len() + ws.len();
        if needed > MATMUL_SLOTS {
            return Err(MatMulError::TooManyChunks {
                chunk: j,
                block: t,
                needed,
            });
        }
        let mut slots: Vec<(bool, ChunkOpening)> = xs
            .iter()
            .map(|i| ChunkOpening::new(&a.shape, &a.data, a_tree, *i).map(|o| (false, o)))
            .chain(
                ws.iter()
                    .map(|i| ChunkOpening::new(&b.shape, &b.data, b_tree, *i).map(|o| (true, o))),
            )
            .collect::<Option<_>>()
            .ok_or(out.clone())?;
        // Unused slots repeat the first (a duplicate table entry is harmless).
        while slots.len() < MATMUL_SLOTS {
            slots.push(slots[0].clone());
        }
        let acc: Vec<Fr> = acc_t.iter().map(|v| i128_fr(*v)).collect();
        let acc_tree = zkopml_commit::wide_tree(&acc);
        Ok(MatMulBlockChunk {
            acc_in: WideOpening::new(&[p.len()], &acc, &acc_tree, j).ok_or(out)?,
            slots,
            block: t,
            params: *p,
            forge: None,
        })
    }
}

/// The matrix-product block template: chunk `j` of `acc_{t+1}` from `acc_t`'s, `A` and `B`.
pub struct MatMulBlockTemplate;

/// One instance of [`MatMulBlockTemplate`].
#[derive(Clone, Debug)]
pub struct MatMulBlockChunk {
    /// Chunk `j` of `acc_t`.
    pub acc_in: WideOpening,
    /// The lookup table: [`MATMUL_SLOTS`] chunks, each of `B` (`true`) or of `A` (`false`).
    pub slots: Vec<(bool, ChunkOpening)>,
    /// The block (inner index) `t`.
    pub block: usize,
    /// The shape.
    pub params: MatMulParams,
    /// A dishonest prover's claim (soundness tests): the value it says position `k` read
    /// from `A`, in place of the true one; `None` for the honest witness.
    pub forge: Option<(usize, i32)>,
}

/// The values each position of a `matmul_block` chunk reads (the honest witness).
struct MatMulReads {
    a: Vec<i32>,
    b: Vec<i32>,
    mult: Vec<Vec<u64>>,
}

impl MatMulBlockChunk {
    fn reads(&self) -> MatMulReads {
        let base = self.acc_in.index * CHUNK_VALUES;
        let count = self
            .params
            .len()
            .saturating_sub(base)
            .min(CHUNK_VALUES)
            .min(self.acc_in.values.len());
        let mut mult: Vec<Vec<u64>> = vec![vec![0; CHUNK_VALUES]; self.slots.len()];
        let mut lookup = |is_b: bool, key: usize| -> Option<i32> {
            let (c, i) = (key / CHUNK_VALUES, key % CHUNK_VALUES);
            let s = self
                .slots
                .iter()
                .position(|(w, o)| *w == is_b && o.index == c && i < o.values.len())?;
            mult[s][i] += 1;
            Some(self.slots[s].1.values[i])
        };
        let (mut xs, mut ws) = (vec![0; CHUNK_VALUES], vec![0; CHUNK_VALUES]);
        for k in 0..count {
            let (sa, sb) = self.params.sources(base + k, self.block);
            xs[k] = lookup(false, sa).unwrap_or(0);
            ws[k] = lookup(true, sb).unwrap_or(0);
            if let Some((_, v)) = self.forge.filter(|(at, _)| *at == k) {
                xs[k] = v;
            }
        }
        MatMulReads { a: xs, b: ws, mult }
    }

    /// The output chunk (`acc_{t+1}`'s chunk `j`).
    pub fn output(&self) -> Vec<Fr> {
        let r = self.reads();
        (0..self.acc_in.values.len())
            .map(|k| {
                self.acc_in.values[k] + fr_from_i64(r.a[k] as i64) * fr_from_i64(r.b[k] as i64)
            })
            .collect()
    }

    /// `C(A)` and `C(B)` as the slots show them (zero when no slot opens the tensor).
    fn commitments(&self) -> (Fr, Fr) {
        let c = |want: bool| {
            self.slots
                .iter()
                .find(|(w, _)| *w == want)
                .map(|(_, o)| commitment(o))
                .unwrap_or_default()
        };
        (c(false), c(true))
    }
}

impl Template for MatMulBlockTemplate {
    const NAME: &'static str = "matmul_block/v1";
    type Instance = MatMulBlockChunk;

    /// `[C(acc_t), C(A), C(B), j, t, P, d]` (`P` the packed [`MatMulParams`]).
    fn public_inputs(inst: &MatMulBlockChunk) -> Vec<Fr> {
        let j = inst.acc_in.index;
        let (c_a, c_b) = inst.commitments();
        vec![
            wide_c(&inst.acc_in),
            c_a,
            c_b,
            Fr::from(j as u64),
            Fr::from(inst.block as u64),
            inst.params.packed(),
            wide_chunk_digest(j, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&MatMulBlockChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 7>(cs, inst)?;
        let [c_acc, c_a, c_b, j, t, packed, digest] = &v;
        let one = || Lc::constant(Fr::one());
        let zero = || Lc::constant(Fr::zero());
        let reads = inst.map(MatMulBlockChunk::reads);

        // The shape: four dims ≥ 1 of 28 bits, two batch flags; t < K; len(Y) < 2^28.
        let bits = cs.bits(packed, 4 * MM_DIM_BITS + 2)?;
        let f: Vec<Lc> = bits[..4 * MM_DIM_BITS]
            .chunks(MM_DIM_BITS)
            .map(lc_from_bits)
            .collect();
        let (nb, m, k, n) = (&f[0], &f[1], &f[2], &f[3]);
        let (fa, fb) = (&bits[4 * MM_DIM_BITS], &bits[4 * MM_DIM_BITS + 1]);
        for d in [nb, m, k, n] {
            cs.range(&d.add_const(-Fr::one()), MM_DIM_BITS)?;
        }
        cs.range(&k.sub(t).add_const(-Fr::one()), MM_DIM_BITS)?;
        let mn = cs.mul(m, n)?;
        let len = cs.mul(nb, &mn)?;
        cs.range(&len.add_const(-Fr::one()), MM_DIM_BITS)?;

        // acc_t's chunk j, of a tensor of len(Y) values (j < its chunk count, the mask).
        let acc = open_wide(cs, c_acc, j, inst.map(|i| &i.acc_in))?;
        cs.assert_eq(&acc.len, &len)?;

        // Batch strides and the operands' lengths.
        let (mk, kn) = (cs.mul(m, k)?, cs.mul(k, n)?);
        let (s_a, s_b) = (cs.mul(fa, &mk)?, cs.mul(fb, &kn)?);
        let nb1 = nb.add_const(-Fr::one());
        let len_a = mk.add(&cs.mul(&s_a, &nb1)?);
        let len_b = kn.add(&cs.mul(&s_b, &nb1)?);

        // The chunk's first position 616·j = (β·M + r)·N + c, then counters.
        let first = j.scale(Fr::from(CHUNK_VALUES as u64));
        let (q0, c0) = divmod(cs, &first, n, 32, MM_DIM_BITS)?;
        let (bat0, r0) = divmod(cs, &q0, m, 32, MM_DIM_BITS)?;
        let b_row = cs.mul(t, n)?;
        let (mut bat, mut r, mut c) = (bat0, r0, c0);
        let (mut a_keys, mut b_keys) = (Vec::new(), Vec::new());
        for p in 0..CHUNK_VALUES {
            if p > 0 {
                let row_end = cs.is_zero(&c.sub(n).add_const(Fr::one()))?;
                let mat_end = cs.mul(&row_end, &cs.is_zero(&r.sub(m).add_const(Fr::one()))?)?;
                c = fresh(cs, &c.add_const(Fr::one()).sub(&cs.mul(&row_end, n)?))?;
                r = fresh(cs, &r.add(&row_end).sub(&cs.mul(&mat_end, m)?))?;
                bat = fresh(cs, &bat.add(&mat_end))?;
            }
            a_keys.push(cs.mul(&bat, &s_a)?.add(&cs.mul(&r, k)?).add(t));
            b_keys.push(cs.mul(&bat, &s_b)?.add(&b_row).add(&c));
        }

        // The table: MATMUL_SLOTS chunks, each of A or of B, of the lengths above.
        let mut table = Vec::with_capacity(MATMUL_SLOTS);
        let mut slot_words = Vec::with_capacity(2 * MATMUL_SLOTS);
        for s in 0..MATMUL_SLOTS {
            let o = inst.map(|i| &i.slots[s]);
            let is_b = cs.witness(if o.is_some_and(|o| o.0) {
                Fr::one()
            } else {
                Fr::zero()
            })?;
            cs.enforce(&is_b, &one().sub(&is_b), &zero())?;
            let c = c_a.add(&cs.mul(&is_b, &c_b.sub(c_a))?);
            let index = cs.witness(Fr::from(o.map_or(0, |o| o.1.index) as u64))?;
            let chunk = open_chunk(cs, &c, &index, o.map(|o| &o.1))?;
            let want = len_a.add(&cs.mul(&is_b, &len_b.sub(&len_a))?);
            cs.assert_eq(&chunk.len, &want)?;
            slot_words.push(is_b.clone());
            slot_words.push(index.clone());
            table.push((index.scale(Fr::from(CHUNK_VALUES as u64)), is_b, chunk));
        }

        // Read values and multiplicities: witnesses, range-checked, hashed.
        let (mut xs, mut ws, mut limbs) = (Vec::new(), Vec::new(), Vec::new());
        for p in 0..CHUNK_VALUES {
            for (col, dst) in [(0, &mut xs), (1, &mut ws)] {
                let val = reads
                    .as_ref()
                    .map_or(0, |r| if col == 0 { r.a[p] } else { r.b[p] });
                let x = cs.witness_int(val as i128)?;
                cs.i32_bits(&x)?;
                limbs.push(x.add_const(Fr::from(1u64 << 31)));
                dst.push(x);
            }
        }
        let mut mults = Vec::with_capacity(MATMUL_SLOTS * CHUNK_VALUES);
        for (s, (_, _, chunk)) in table.iter().enumerate() {
            for (i, valid) in chunk.mask.iter().enumerate() {
                let m = cs.witness(Fr::from(reads.as_ref().map_or(0, |r| r.mult[s][i])))?;
                cs.range(&m, MM_MULT_BITS)?;
                // No entry past the tensor's end is looked up.
                cs.enforce(&m, &one().sub(valid), &zero())?;
                mults.push(m);
            }
        }
        let mut transcript: Vec<Lc> = v.to_vec();
        transcript.extend(slot_words);
        transcript.extend(pack(&limbs, 32));
        transcript.extend(pack(&mults, MM_MULT_BITS));
        let seed = poseidon::chain_from(cs, Lc::constant(Fr::from(MM_CHALLENGE_TAG)), &transcript)?;
        let alpha = poseidon_t3(cs, &seed, &one())?;
        let beta = poseidon_t3(cs, &seed, &Lc::constant(Fr::from(2u64)))?;
        let gamma = poseidon_t3(cs, &seed, &Lc::constant(Fr::from(3u64)))?;

        // Σ_queries valid/(α − key − β·value − γ·tag) = Σ_entries m/(α − key − β·value −
        // γ·tag), tag 1 for B, 0 for A: A and B entries never alias.
        let term = |key: &Lc, value: &Lc, tag: &Lc, weight: &Lc| -> CsResult<Lc> {
            let denom = alpha.sub(key).sub(&cs.mul(&beta, value)?).sub(tag);
            let inv = denom.val.inverse().unwrap_or_default() * weight.val;
            let u = cs.witness(inv)?;
            cs.enforce(&u, &denom, weight)?;
            Ok(u)
        };
        let mut lhs = Lc::constant(Fr::zero());
        let mut out = Vec::with_capacity(CHUNK_VALUES);
        for p in 0..CHUNK_VALUES {
            let mask = &acc.mask[p];
            lhs = lhs.add(&term(&a_keys[p], &xs[p], &zero(), mask)?);
            lhs = lhs.add(&term(&b_keys[p], &ws[p], &gamma, mask)?);
            // acc_{t+1} = acc_t + a·b at the output's positions (0 past its end).
            let prod = cs.mul(&xs[p], &ws[p])?;
            out.push(acc.values[p].add(&cs.mul(mask, &prod)?));
        }
        let mut rhs = Lc::constant(Fr::zero());
        for (s, (base, is_b, chunk)) in table.iter().enumerate() {
            let tag = cs.mul(is_b, &gamma)?;
            for i in 0..CHUNK_VALUES {
                let key = base.add_const(Fr::from(i as u64));
                rhs = rhs.add(&term(
                    &key,
                    &chunk.values[i],
                    &tag,
                    &mults[s * CHUNK_VALUES + i],
                )?);
            }
        }
        cs.assert_eq(&lhs.compact(), &rhs.compact())?;
        let d = wide_leaf(cs, j, &out)?;
        cs.assert_eq(&d, digest)
    }
}
