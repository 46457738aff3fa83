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
use ark_ff::{One, Zero};
use zkopml_commit::{
    chunk_digest, chunked_commitment_of, fr_from_i64, tensor_header, wide_chunk_digest,
    CHUNK_VALUES,
};
use zkopml_engine::{fixed::rescale, ops::Gemm, Tensor};

use super::{
    chunk::{
        index_bits, one_hot, open_chunk, open_wide, output_leaf_with, valid_mask, wide_leaf,
        ChunkOpening, OpenedTensor, WideOpening,
    },
    Template,
};
use crate::gadgets::{Cs, CsResult, Lc};

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
